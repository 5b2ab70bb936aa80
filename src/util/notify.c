/* util/notify.c: sd_notify's datagram, written out (see notify.h). */
#include "util/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/timeu.h"

int notify_send_to(const char *path, const char *msg)
{
    struct sockaddr_un sa;
    size_t n = strlen(path);
    socklen_t len;
    ssize_t sent;
    int fd, saved;

    /* Only absolute paths and abstract names: a relative path would depend on our cwd. */
    if ((path[0] != '/' && path[0] != '@') || n < 2 || n > sizeof(sa.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    /* An abstract name's length is the address length; a path's includes its NUL when it fits. */
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/' && n < sizeof(sa.sun_path)));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sent = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&sa, len);
    saved = errno;
    close(fd);
    errno = saved;
    return sent == (ssize_t)strlen(msg) ? 0 : -1;
}

int notify_send(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");

    return path && *path ? notify_send_to(path, msg) : 0;
}

int64_t notify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    long long n;

    if (usec == NULL || (pid && *pid && strtoll(pid, NULL, 10) != (long long)getpid()))
        return 0;
    errno = 0;
    n = strtoll(usec, &end, 10);
    return errno || end == usec || *end || n <= 0 ? 0 : (int64_t)n;
}

void notify_watchdog_tick(void)
{
    /* -1: not read yet. Only the one calling thread touches these. */
    static int64_t interval_us = -1, last_us;
    int64_t now;

    if (interval_us < 0)
        interval_us = notify_watchdog_usec();
    if (interval_us == 0)
        return;
    now = time_mono_us();
    if (last_us != 0 && now - last_us < interval_us / 2)
        return;
    last_us = now;
    notify_send("WATCHDOG=1");
}
