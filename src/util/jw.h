/* util/jw.h: an append-only JSON writer into an sbuf.
 *
 * Rendering responses this way was measured about six times faster than building jansson
 * trees (docs/development.md, "Dependencies"). The writer tracks where a comma is needed; callers only say what comes
 * next. Strings are escaped for JSON; invalid UTF-8 never reaches it because every stored
 * string was validated on the way in. */
#ifndef TAGD_UTIL_JW_H
#define TAGD_UTIL_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/sbuf.h"

#define JW_MAX_DEPTH 64

struct jw {
    struct sbuf *b;
    int depth;
    bool first[JW_MAX_DEPTH];
    bool after_key;
};

void jw_init(struct jw *w, struct sbuf *b);
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_keyn(struct jw *w, const char *k, size_t n);
void jw_str(struct jw *w, const char *s); /* NULL renders null */
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, int64_t v);
/** The n values as successive array elements, as n calls of jw_int would write them. */
void jw_ints(struct jw *w, const int64_t *v, size_t n);
/** A time (ms since the epoch) as an ISO-8601 UTC string, e.g. "2026-11-23T11:54:56.123Z". */
void jw_time(struct jw *w, int64_t ms);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/** Appends already-serialized JSON text (trusted, e.g. a stored JSON column) as one value. */
void jw_raw(struct jw *w, const char *json);

/* Keys, and key-value shorthands. Macros, so that a key must be a string literal (`"" k`
 * does not compile otherwise) and is written without the escaping check: every renderer
 * writes one per value, and checking their bytes was a fifth of a rendered list's
 * instructions. A key that comes from data goes through jw_keys, which escapes it. */
/** What goes before every value or key: a ',' unless it is the first of its container or
 * the value of the key just written (jw_sep_due says whether it is due, for a renderer that
 * writes it together with the value). Inline for the keys below. */
static inline bool jw_sep_due(struct jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return false;
    }
    if (!w->first[w->depth])
        return true;
    w->first[w->depth] = false;
    return false;
}
static inline void jw_sep(struct jw *w)
{
    if (jw_sep_due(w))
        sbuf_addc(w->b, ',');
}
static inline void jw_keyq(struct jw *w, const char *quoted, size_t n)
{
    jw_sep(w);
    w->after_key = true;
    sbuf_add(w->b, quoted, n);
}
#define jw_key(w, k) jw_keyq((w), "\"" k "\":", sizeof("\"" k "\":") - 1)
static inline void jw_keys(struct jw *w, const char *k) { jw_keyn(w, k, strlen(k)); }
#define jw_kstr(w, k, s) (jw_key(w, k), jw_str((w), (s)))
#define jw_kint(w, k, v) (jw_key(w, k), jw_int((w), (v)))
#define jw_kbool(w, k, v) (jw_key(w, k), jw_bool((w), (v)))
#define jw_knull(w, k) (jw_key(w, k), jw_null(w))

/** Appends `s` JSON-escaped without quotes (used by the XML and text writers too). */
void jw_escape(struct sbuf *b, const char *s, size_t n);

#endif /* TAGD_UTIL_JW_H */
