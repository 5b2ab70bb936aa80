/* util/jw.c: append-only JSON writer, see jw.h. */
#include "util/jw.h"

#include "util/timeu.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void jw_init(struct jw *w, struct sbuf *b)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
    w->first[0] = true;
}

static void open(struct jw *w, char c)
{
    jw_sep(w);
    sbuf_addc(w->b, c);
    if (w->depth < JW_MAX_DEPTH - 1)
        w->depth++;
    w->first[w->depth] = true;
}

static void close_(struct jw *w, char c)
{
    sbuf_addc(w->b, c);
    if (w->depth > 0)
        w->depth--;
}

void jw_obj(struct jw *w) { open(w, '{'); }
void jw_obj_end(struct jw *w) { close_(w, '}'); }
void jw_arr(struct jw *w) { open(w, '['); }
void jw_arr_end(struct jw *w) { close_(w, ']'); }

/* 1 for the bytes JSON strings must escape: controls, '"' and '\\'. */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
};

void jw_escape(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, start = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char u[7];
        /* Most bytes need nothing: skip runs of them with one table load per byte. */
        while (!needs_escape[c]) {
            if (++i == n)
                goto done;
            c = (unsigned char)s[i];
        }
        if (c == '"')
            rep = "\\\"";
        else if (c == '\\')
            rep = "\\\\";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '\r')
            rep = "\\r";
        else if (c == '\t')
            rep = "\\t";
        else if (c < 0x20) {
            u[0] = '\\';
            u[1] = 'u';
            u[2] = '0';
            u[3] = '0';
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            u[6] = '\0';
            rep = u;
        }
        if (rep) {
            sbuf_add(b, s + start, i - start);
            sbuf_adds(b, rep);
            start = i + 1;
        }
    }
done:
    sbuf_add(b, s + start, n - start);
}

/* True if no byte of the 8 in x is a control, '"' or '\\' (the bytes JSON escapes). */
static inline bool word_plain(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
#define HAS_ZERO(v) (((v) - ones) & ~(v) & highs)
    /* Bytes under 0x20: x - 0x20 borrows into the high bit only for them (or for bytes of
     * 0x80 and up, which ~x clears). */
    uint64_t low = (x - 0x20 * ones) & ~x & highs;
    return !(low | HAS_ZERO(x ^ (0x22 * ones)) | HAS_ZERO(x ^ (0x5c * ones)));
#undef HAS_ZERO
}

/* Copies s (n bytes) into out between quotes; false if a byte needs escaping. Most keys and
 * values are short and plain: one append of the quoted text instead of three, and the check
 * eight bytes at a time. */
static bool quote_plain(char *out, const char *s, size_t n)
{
    size_t i = 0;

    out[0] = '"';
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (!word_plain(x))
            return false;
        memcpy(out + 1 + i, &x, 8);
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (needs_escape[c])
            return false;
        out[1 + i] = (char)c;
    }
    out[n + 1] = '"';
    return true;
}

void jw_keyn(struct jw *w, const char *k, size_t n)
{
    char buf[64 + 3];

    jw_sep(w);
    w->after_key = true;
    if (n <= 64 && quote_plain(buf, k, n)) {
        buf[n + 2] = ':';
        sbuf_add(w->b, buf, n + 3);
        return;
    }
    sbuf_addc(w->b, '"');
    jw_escape(w->b, k, n);
    sbuf_add(w->b, "\":", 2);
}

void jw_time(struct jw *w, int64_t ms)
{
    char buf[40];

    /* time_iso writes digits, '-', ':', '.', 'T' and 'Z' only: nothing to escape. */
    buf[0] = '"';
    time_iso(ms, buf + 1);
    {
        size_t n = strlen(buf);
        buf[n] = '"';
        jw_sep(w);
        sbuf_add(w->b, buf, n + 1);
    }
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
    char buf[128 + 2];

    jw_sep(w);
    if (n <= 128 && quote_plain(buf, s, n)) {
        sbuf_add(w->b, buf, n + 2);
        return;
    }
    sbuf_addc(w->b, '"');
    jw_escape(w->b, s, n);
    sbuf_addc(w->b, '"');
}

void jw_str(struct jw *w, const char *s)
{
    if (s == NULL)
        jw_null(w);
    else
        jw_strn(w, s, strlen(s));
}

void jw_int(struct jw *w, int64_t v)
{
    char buf[24];
    size_t n = 0;

    if (jw_sep_due(w))
        buf[n++] = ',';
    n += sbuf_fmt_int(buf + n, v);
    sbuf_add(w->b, buf, n);
}

/* Adds d to the decimal digits s[0..n); false when the sum needs another digit (s is then
 * not the sum). */
static bool dec_add(char *s, size_t n, uint64_t d)
{
    if (n && d < 10 && s[n - 1] + d <= '9') { /* most steps: no carry */
        s[n - 1] = (char)(s[n - 1] + d);
        return true;
    }
    for (size_t i = n; d && i-- > 0;) {
        uint64_t x = (uint64_t)(s[i] - '0') + d;
        s[i] = (char)('0' + x % 10);
        d = x / 10;
    }
    return d == 0;
}

void jw_ints(struct jw *w, const int64_t *v, size_t n)
{
    /* A page of ids is ascending, most a few apart: the next one's digits are the last one's
     * plus the difference, added digit by digit from the end (one or two steps where formatting
     * anew took about 45 instructions). One append per kilobyte, not per value. The writer's
     * state is asked once: after the first value a comma is always due, and asking it per
     * value through memory that every byte written might alias cost a third of the loop. */
    char buf[1024], cur[24];
    size_t at = 0, len = 0;
    int64_t prev = 0;

    if (n == 0)
        return;
    if (jw_sep_due(w))
        buf[at++] = ',';
    for (size_t i = 0; i < n; i++) {
        const int64_t x = v[i];
        if (at > sizeof(buf) - 48) {
            sbuf_add(w->b, buf, at);
            at = 0;
        }
        if (i > 0)
            buf[at++] = ',';
        if (!(i > 0 && prev >= 0 && x > prev && x - prev < 1000 &&
              dec_add(cur, len, (uint64_t)(x - prev))))
            len = sbuf_fmt_int(cur, x);
        memcpy(buf + at, cur, sizeof(cur)); /* a fixed size: two moves, not a call */
        at += len;
        prev = x;
    }
    sbuf_add(w->b, buf, at);
}

void jw_double(struct jw *w, double v)
{
    jw_sep(w);
    if (!isfinite(v))
        sbuf_adds(w->b, "null");
    else
        sbuf_printf(w->b, "%.17g", v);
}

void jw_bool(struct jw *w, bool v)
{
    jw_sep(w);
    sbuf_adds(w->b, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
    jw_sep(w);
    sbuf_add(w->b, "null", 4);
}

void jw_raw(struct jw *w, const char *json)
{
    jw_sep(w);
    sbuf_adds(w->b, json && *json ? json : "null");
}


