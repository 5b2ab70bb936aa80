/* util/progress.h: progress of a long job (loading, copying) for whoever waits on it: a line
 * every second or every tenth of the way with what is done, the rate and the time left; on a
 * terminal a bar redrawn in place instead. */
#ifndef TAGD_UTIL_PROGRESS_H
#define TAGD_UTIL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum progress_mode {
    PROGRESS_LOG,   /* log_info lines (text or JSON, as the log is) */
    PROGRESS_LINES, /* plain lines on `out` */
    PROGRESS_BAR,   /* a bar on `out`, a terminal, redrawn with '\r' */
};

/** Called with each line shown (borrowed), e.g. to pass it on as systemd's STATUS=. */
typedef void progress_line_fn(const char *line);

/* Invariant: 0 <= last_tenth <= 10; total 0 means not known (no share, no time left). */
struct progress {
    const char *what;  /* borrowed: "loading", "copying" */
    const char *units; /* borrowed: "rows" */
    int64_t total;
    int64_t t0_us, last_us;
    int last_tenth;
    enum progress_mode mode;
    FILE *out;                /* borrowed; PROGRESS_LINES and PROGRESS_BAR */
    progress_line_fn *on_line; /* may be NULL */
    bool shown;
};

/** Sets up `p` (caller's storage; nothing to release). `what`, `units` and `out` are borrowed. */
void progress_init(struct progress *p, const char *what, const char *units, int64_t total,
                   enum progress_mode mode, FILE *out);

/** PROGRESS_BAR when `f` is a terminal, else PROGRESS_LINES. */
enum progress_mode progress_mode_for(FILE *f);

/** `done` of the total so far, with `detail` (may be NULL; borrowed) after the figures: shown
 * when a second passed since the last line or a tenth of the total was crossed. Cheap
 * otherwise (one clock read), so callers may call it every few thousand items. */
void progress_update(struct progress *p, int64_t done, const char *detail);

/** The last line: everything done, with the time it took. */
void progress_end(struct progress *p, int64_t done, const char *detail);

/** The line progress_update would show, in `buf` (pure, for tests and callers' own use).
 * `elapsed_us` is the time since the start. */
void progress_format(const struct progress *p, int64_t done, int64_t elapsed_us,
                     const char *detail, char *buf, size_t n);

#endif /* TAGD_UTIL_PROGRESS_H */
