/* util/sbuf.h: a growable byte buffer with a ceiling.
 *
 * Invariants: `buf` is NULL or holds `len` bytes followed by a NUL; `len < cap`; `len` never
 * exceeds `max`. Growing past `max` returns TG_ELIMIT, frees the buffer and leaves it empty and
 * reusable. A zero `max` means no ceiling (only for buffers that do not grow from
 * client input). */
#ifndef TAGD_UTIL_SBUF_H
#define TAGD_UTIL_SBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sbuf {
    char *buf;
    size_t len;
    size_t cap;
    size_t max;
    int overflow; /* set once the ceiling was hit; later appends are ignored */
};

void sbuf_init(struct sbuf *b, size_t max);
void sbuf_release(struct sbuf *b);
/** The general path of sbuf_add (growing, the ceiling). */
int sbuf_add_slow(struct sbuf *b, const void *p, size_t n);

/** Appends `n` bytes; returns 0 or TG_ELIMIT. Inline for the case that fits: every rendered
 * answer is built from thousands of small appends. */
static inline int sbuf_add(struct sbuf *b, const void *p, size_t n)
{
    if (b->len + n < b->cap && (b->max == 0 || b->len + n <= b->max) && !b->overflow) {
        memcpy(b->buf + b->len, p, n);
        b->len += n;
        b->buf[b->len] = '\0';
        return 0;
    }
    return sbuf_add_slow(b, p, n);
}

static inline int sbuf_addc(struct sbuf *b, char c)
{
    return sbuf_add(b, &c, 1);
}

int sbuf_adds(struct sbuf *b, const char *s);
/** Writes v in decimal at p (room for 20 bytes, no NUL); returns the bytes written: for numbers
 * rendered on every request, where printf's %lld cost ten times as much. */
size_t sbuf_fmt_int(char *p, int64_t v);
/** Appends again the `n` bytes the buffer holds at `off` (off + n <= len): a renderer repeats a
 * piece it already wrote instead of writing it anew. Safe when the buffer has to grow. */
int sbuf_repeat(struct sbuf *b, size_t off, size_t n);
/** Makes room for `n` more bytes (fewer under the ceiling) without appending. */
void sbuf_reserve(struct sbuf *b, size_t n);
int sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/** Returns the NUL-terminated content (never NULL; "" when empty). Borrowed. */
const char *sbuf_str(const struct sbuf *b);
/** Takes the buffer out: returns owned memory (free with xfree) and leaves `b` empty. */
char *sbuf_detach(struct sbuf *b, size_t *len);
void sbuf_reset(struct sbuf *b);

#endif /* TAGD_UTIL_SBUF_H */
