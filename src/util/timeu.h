/* util/timeu.h: wall-clock milliseconds and ISO-8601. */
#ifndef TAGD_UTIL_TIMEU_H
#define TAGD_UTIL_TIMEU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t time_now_ms(void);
/** Microseconds from a monotonic clock, for durations. */
int64_t time_mono_us(void);
/** Writes "2026-11-23T11:17:56.123Z" (24 bytes + NUL) into `out` (at least 32 bytes). */
void time_iso(int64_t ms, char out[32]);
/** Parses ISO-8601 (date, or date-time with optional fraction and Z/±hh:mm) or epoch
 * milliseconds given as digits; returns true on success. */
bool time_parse(const char *s, int64_t *ms);

#endif /* TAGD_UTIL_TIMEU_H */
