/* util/log.c: stderr logging; one write(2) per line so threads do not interleave. */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/jw.h"
#include "util/timeu.h"

/* Atomic: SIGHUP sets them again (log_setup) while every thread logs. */
static atomic_int min_level = LOG_INFO;
static atomic_int json_format;

int log_parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_setup(const char *level, const char *format)
{
    int l = level ? log_parse_level(level) : -1;
    if (l >= 0)
        min_level = l;
    json_format = format && strcmp(format, "json") == 0;
}

static void emit(struct sbuf *b)
{
    sbuf_addc(b, '\n');
    if (write(2, sbuf_str(b), b->len) < 0) {
        /* Nothing sensible to do when stderr is gone. */
    }
    sbuf_release(b);
}

static void vlog(int level, const char *key, const char *value, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vlog(level, NULL, NULL, fmt, ap);
    va_end(ap);
}

void log_always(int level, const char *key, const char *value, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(level, key, value, fmt, ap);
    va_end(ap);
}

static void vlog(int level, const char *key, const char *value, const char *fmt, va_list ap)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char ts[32], msg[1024];
    struct sbuf b;
    struct jw w;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    time_iso(time_now_ms(), ts);
    sbuf_init(&b, 0);
    if (json_format) {
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kstr(&w, "time", ts);
        jw_kstr(&w, "level", names[level]);
        jw_kstr(&w, "msg", msg);
        if (key) {
            jw_keys(&w, key);
            jw_str(&w, value);
        }
        jw_obj_end(&w);
    } else {
        sbuf_printf(&b, "%s %s %s", ts, names[level], msg);
    }
    emit(&b);
}

bool log_access_on(void)
{
    return min_level <= LOG_INFO;
}

void log_access(const char *method, const char *path, int status, size_t bytes, long long us,
                const char *request_id, const char *client, const char *principal)
{
    char ts[32];
    struct sbuf b;
    struct jw w;

    if (min_level > LOG_INFO)
        return;
    time_iso(time_now_ms(), ts);
    sbuf_init(&b, 0);
    if (json_format) {
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kstr(&w, "time", ts);
        jw_kstr(&w, "type", "access");
        jw_kstr(&w, "method", method);
        jw_kstr(&w, "path", path);
        jw_kint(&w, "status", status);
        jw_kint(&w, "bytes", (int64_t)bytes);
        jw_kint(&w, "us", us);
        jw_kstr(&w, "request_id", request_id);
        if (client && *client)
            jw_kstr(&w, "client", client);
        if (principal && *principal)
            jw_kstr(&w, "principal", principal);
        jw_obj_end(&w);
    } else {
        /* The principal is a name a token's creator chose: its blanks would shift the
         * fields, so they become '_'. */
        sbuf_printf(&b, "%s access %s %s %d %zu %lldus %s %s ", ts, method, path, status, bytes,
                    us, request_id, client && *client ? client : "-");
        if (principal && *principal) {
            for (const char *p = principal; *p; p++)
                sbuf_addc(&b, (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') ? '_' : *p);
        } else {
            sbuf_addc(&b, '-');
        }
    }
    emit(&b);
}
