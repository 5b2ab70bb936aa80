/* util/log.h: leveled logging to stderr, text or JSON lines. */
#ifndef TAGD_UTIL_LOG_H
#define TAGD_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_setup(const char *level, const char *format);
int log_parse_level(const char *s);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Like log_msg, whatever the level: for what must reach the operator once (a first start's
 * admin token). In JSON, `key` (may be NULL) with `value` is a field of its own as well. */
void log_always(int level, const char *key, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** One access-log line: method, path, status, bytes, microseconds, request id, client address
 * and principal (either NULL or "" for none: "-" in text, absent in JSON). */
/** Whether log_access writes anything: a caller skips preparing what it would not log. */
bool log_access_on(void);
void log_access(const char *method, const char *path, int status, size_t bytes, long long us,
                const char *request_id, const char *client, const char *principal);

#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* TAGD_UTIL_LOG_H */
