/* util/sbuf.c: growable buffer, see sbuf.h for the invariants. */
#include "util/sbuf.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"
#include "util/mem.h"

void sbuf_init(struct sbuf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void sbuf_release(struct sbuf *b)
{
    xfree(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    b->overflow = 0;
    if (b->buf)
        b->buf[0] = '\0';
}

static int grow(struct sbuf *b, size_t need)
{
    size_t cap;

    if (b->overflow)
        return TG_ELIMIT;
    if (b->max && b->len + need > b->max) {
        sbuf_release(b);
        b->overflow = 1;
        return TG_ELIMIT;
    }
    if (b->len + need + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + need + 1)
        cap *= 2;
    b->buf = xrealloc(b->buf, cap);
    b->cap = cap;
    return 0;
}

int sbuf_add_slow(struct sbuf *b, const void *p, size_t n)
{
    int rc = grow(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

void sbuf_reserve(struct sbuf *b, size_t n)
{
    size_t want = b->len + n + 1;

    if (b->overflow)
        return;
    if (b->max && want > b->max + 1)
        want = b->max + 1;
    if (want <= b->cap)
        return;
    b->buf = xrealloc(b->buf, want);
    if (b->cap == 0)
        b->buf[0] = '\0';
    b->cap = want;
}

int sbuf_adds(struct sbuf *b, const char *s)
{
    return sbuf_add(b, s, strlen(s));
}

int sbuf_repeat(struct sbuf *b, size_t off, size_t n)
{
    char tmp[256];
    char *p;
    int rc;

    if (b->overflow || off > b->len || n > b->len - off)
        return TG_ELIMIT;
    if (b->len + n < b->cap && (b->max == 0 || b->len + n <= b->max)) {
        /* Source and target do not overlap: the source ends at or before len. */
        memcpy(b->buf + b->len, b->buf + off, n);
        b->len += n;
        b->buf[b->len] = '\0';
        return 0;
    }
    /* Growing moves the buffer (or, past the ceiling, frees it): copy the piece out first. */
    p = n <= sizeof(tmp) ? tmp : xmalloc(n);
    memcpy(p, b->buf + off, n);
    rc = sbuf_add_slow(b, p, n);
    if (p != tmp)
        xfree(p);
    return rc;
}


int sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;
    int rc;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return TG_EINTERNAL;
    rc = grow(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = sbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *sbuf_str(const struct sbuf *b)
{
    return b->buf ? b->buf : "";
}

char *sbuf_detach(struct sbuf *b, size_t *len)
{
    char *p = b->buf ? b->buf : xstrdup("");
    if (len)
        *len = b->len;
    b->buf = NULL;
    b->len = b->cap = 0;
    return p;
}

/* Every list renders ids, positions and versions (a page of 100 ids took 16% of a query's
 * instructions): two digits per step, written backwards from the end the digit count gives. */
size_t sbuf_fmt_int(char *p, int64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                   "31323334353637383940414243444546474849505152535455565758596061"
                                   "62636465666768697071727374757677787980818283848586878889909192"
                                   "93949596979899";
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v, t = u;
    size_t d = 1, neg = v < 0;
    char *e;

    while (t >= 10000) {
        t /= 10000;
        d += 4;
    }
    d += t >= 1000 ? 3 : t >= 100 ? 2 : t >= 10 ? 1 : 0;
    if (neg)
        *p = '-';
    e = p + neg + d;
    while (u >= 100) {
        e -= 2;
        memcpy(e, pairs + (u % 100) * 2, 2);
        u /= 100;
    }
    if (u >= 10)
        memcpy(e - 2, pairs + u * 2, 2);
    else
        e[-1] = (char)('0' + u);
    return neg + d;
}
