/* util/notify.h: the service manager's notification protocol (sd_notify(3)) without
 * libsystemd: one datagram of "NAME=value" lines to the AF_UNIX socket $NOTIFY_SOCKET names.
 * Not under a service manager (no $NOTIFY_SOCKET) every call is a no-op that succeeds. */
#ifndef TAGD_UTIL_NOTIFY_H
#define TAGD_UTIL_NOTIFY_H

#include <stdint.h>

/** Sends `msg` (e.g. "READY=1\nSTATUS=ready") as one datagram to `path`: a file system path
 * ("/run/...") or an abstract socket name written with a leading '@'. 0 or -1 (errno set). */
int notify_send_to(const char *path, const char *msg);
/** notify_send_to($NOTIFY_SOCKET); 0 without $NOTIFY_SOCKET. */
int notify_send(const char *msg);
/** The watchdog interval the service manager asks for ($WATCHDOG_USEC, when $WATCHDOG_PID is
 * unset or this process), in microseconds; 0: no watchdog. */
int64_t notify_watchdog_usec(void);
/** Sends WATCHDOG=1 when half the interval passed since the last ping (the first call pings).
 * Call it from a thread whose liveness the ping vouches for, often (every 100 ms or so); one
 * thread only. Costs a clock read when the watchdog is on, nothing more when it is off. */
void notify_watchdog_tick(void);

#endif /* TAGD_UTIL_NOTIFY_H */
