/* tests/unit/test_notify.c: the service manager's notification datagrams (util/notify.c),
 * received by an AF_UNIX datagram socket standing in for systemd's, under a file system path
 * and under an abstract ('@') name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/notify.h"

/* Binds a datagram socket at `name` ('@' abstract, else a path); returns its fd. */
static int listener(const char *name)
{
    struct sockaddr_un sa;
    size_t n = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, name, n);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    assert_int_equal(bind(fd, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                                      (name[0] == '/'))), 0);
    return fd;
}

/* The next datagram, or "" when none is waiting. */
static const char *next(int fd)
{
    static char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    if (n < 0) {
        assert_int_equal(errno, EAGAIN);
        n = 0;
    }
    buf[n] = '\0';
    return buf;
}

static void test_path_socket(void **state)
{
    char path[64];
    int fd;
    (void)state;
    snprintf(path, sizeof(path), "/tmp/tagd-notify-%ld.sock", (long)getpid());
    unlink(path);
    fd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(notify_send("STATUS=loading"), 0);
    assert_int_equal(notify_send("READY=1\nSTATUS=ready"), 0);
    assert_string_equal(next(fd), "STATUS=loading");
    assert_string_equal(next(fd), "READY=1\nSTATUS=ready");
    assert_string_equal(next(fd), "");
    close(fd);
    unlink(path);
    /* Nobody listens any more: an error to the caller, never a crash or a signal. */
    assert_int_equal(notify_send("STOPPING=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
    char name[64];
    int fd;
    (void)state;
    snprintf(name, sizeof(name), "@tagd-notify-test-%ld", (long)getpid());
    fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(notify_send("STOPPING=1"), 0);
    assert_string_equal(next(fd), "STOPPING=1");
    /* The name is exactly its bytes: the same name with a trailing NUL is another socket. */
    assert_int_equal(notify_send_to(name, "X=1"), 0);
    assert_string_equal(next(fd), "X=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_no_manager(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(notify_send("READY=1"), 0); /* not under systemd: nothing to do */
    assert_int_equal(notify_send_to("relative.sock", "READY=1"), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(notify_send_to("@", "READY=1"), -1);
}

static void test_watchdog(void **state)
{
    char name[64], pid[32];
    int fd;
    (void)state;
    snprintf(name, sizeof(name), "@tagd-notify-wd-%ld", (long)getpid());
    fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(notify_watchdog_usec(), 0);
    setenv("WATCHDOG_USEC", "40000", 1);
    setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
    assert_int_equal(notify_watchdog_usec(), 0);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(notify_watchdog_usec(), 40000);
    setenv("WATCHDOG_USEC", "junk", 1);
    assert_int_equal(notify_watchdog_usec(), 0);
    setenv("WATCHDOG_USEC", "40000", 1);

    notify_watchdog_tick(); /* the first tick pings */
    assert_string_equal(next(fd), "WATCHDOG=1");
    notify_watchdog_tick(); /* within half the interval: quiet */
    assert_string_equal(next(fd), "");
    usleep(25000);
    notify_watchdog_tick();
    assert_string_equal(next(fd), "WATCHDOG=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_no_manager),
        cmocka_unit_test(test_watchdog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
