/* util/name.c: name validation and normalization with libunistring. */
#include "util/name.h"

#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "util/mem.h"

struct name_rules name_rules_default = {64, 10, 255};

static bool is_control(ucs4_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029;
}

bool name_is_clean_utf8(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n;
    ucs4_t c;

    if (u8_check(p, n) != NULL)
        return false;
    while (p < end) {
        int l = u8_mbtouc(&c, p, (size_t)(end - p));
        if (l <= 0 || c == 0 || is_control(c))
            return false;
        p += l;
    }
    return true;
}

static int check_segments(const char *nfc, size_t len, bool hier, const char *field,
                          struct tg_err *err)
{
    const struct name_rules *r = &name_rules_default;
    const uint8_t *p = (const uint8_t *)nfc, *end = p + len, *seg = p;
    int levels = 1;
    size_t chars = 0;
    ucs4_t c;

    if ((int)len > r->max_bytes)
        return tg_err_set(err, TG_EINVAL, field, "name is longer than %d bytes", r->max_bytes);
    while (p <= end) {
        int l = 0;
        bool boundary = (p == end);
        if (!boundary) {
            l = u8_mbtouc(&c, p, (size_t)(end - p));
            if (l <= 0)
                return tg_err_set(err, TG_EINVAL, field, "name is not valid utf-8");
            if (hier && c == '.')
                boundary = true;
        }
        if (boundary) {
            if (chars == 0)
                return tg_err_set(err, TG_EINVAL, field,
                                  p == end && p == seg && levels == 1 ? "name is empty"
                                                                      : "name has an empty segment");
            if ((int)chars > r->max_segment_chars)
                return tg_err_set(err, TG_EINVAL, field, "name segment is longer than %d characters",
                                  r->max_segment_chars);
            if (seg[0] == ' ' || p[-1] == ' ')
                return tg_err_set(err, TG_EINVAL, field,
                                  "name segment has leading or trailing space");
            if (p == end)
                break;
            levels++;
            if (levels > r->max_levels)
                return tg_err_set(err, TG_EINVAL, field, "name has more than %d levels",
                                  r->max_levels);
            chars = 0;
            p += l;
            seg = p;
            continue;
        }
        if (c == 0 || is_control(c))
            return tg_err_set(err, TG_EINVAL, field, "name contains a control character");
        if (c == ',')
            return tg_err_set(err, TG_EINVAL, field, "name contains ','");
        chars++;
        p += l;
    }
    return 0;
}

int name_normalize(struct arena *a, const char *in, size_t n, bool hier, const char *field,
                   char **nfc, char **key, struct tg_err *err)
{
    uint8_t *norm, *fold;
    size_t nlen = 0, flen = 0;
    int rc;

    if (n == 0)
        return tg_err_set(err, TG_EINVAL, field, "name is empty");
    if (n > 4096)
        return tg_err_set(err, TG_EINVAL, field, "name is too long");
    if (u8_check((const uint8_t *)in, n) != NULL)
        return tg_err_set(err, TG_EINVAL, field, "name is not valid utf-8");
    if (memchr(in, '\0', n))
        return tg_err_set(err, TG_EINVAL, field, "name contains a control character");
    {
        /* ASCII is its own NFC, and its case folding is tolower: a query names every tag it
         * uses, and libunistring's normalization and folding took 14,000 instructions a name,
         * a quarter of a nested query (bench/README.md). */
        size_t i = 0;
        while (i < n && (unsigned char)in[i] < 0x80)
            i++;
        if (i == n) {
            rc = check_segments(in, n, hier, field, err);
            if (rc)
                return rc;
            *nfc = arena_strndup(a, in, n);
            if (key) {
                *key = arena_strndup(a, in, n);
                for (i = 0; i < n; i++)
                    if ((*key)[i] >= 'A' && (*key)[i] <= 'Z')
                        (*key)[i] = (char)((*key)[i] - 'A' + 'a');
            }
            return 0;
        }
    }
    norm = u8_normalize(UNINORM_NFC, (const uint8_t *)in, n, NULL, &nlen);
    if (norm == NULL)
        return tg_err_set(err, TG_EINTERNAL, field, "name normalization failed");
    rc = check_segments((const char *)norm, nlen, hier, field, err);
    if (rc) {
        free(norm); /* libunistring allocates with malloc */
        return rc;
    }
    *nfc = arena_strndup(a, (const char *)norm, nlen);
    if (key) {
        fold = u8_casefold(norm, nlen, NULL, UNINORM_NFC, NULL, &flen);
        if (fold == NULL) {
            free(norm);
            return tg_err_set(err, TG_EINTERNAL, field, "case folding failed");
        }
        *key = arena_strndup(a, (const char *)fold, flen);
        free(fold);
    }
    free(norm);
    return 0;
}

/* An emoji as a ZWJ sequence joins them (UTS #51 ED-16): the character before the joiner,
 * past a modifier or a variation selector, and the one after. */
static bool emoji_base(ucs4_t c)
{
    return uc_is_property_extended_pictographic(c);
}

static bool skipped_before_zwj(ucs4_t c)
{
    return c == 0xFE0E || c == 0xFE0F || uc_is_property_emoji_modifier(c);
}

static bool virama(ucs4_t c)
{
    return uc_combining_class(c) == UC_CCC_VR;
}

/* The code points of s (n bytes, valid UTF-8), decoded once. */
static ucs4_t *decode(const char *s, size_t n, size_t *count)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n;
    ucs4_t *cps = xcalloc(n + 1, sizeof(*cps));
    size_t k = 0;

    while (p < end) {
        int l = u8_mbtouc(&cps[k], p, (size_t)(end - p));
        if (l <= 0)
            break;
        p += l;
        k++;
    }
    *count = k;
    return cps;
}

static bool zwj_ok(const ucs4_t *c, size_t i, size_t n)
{
    size_t j = i;

    if (i > 0 && virama(c[i - 1]))
        return true;
    while (j > 0 && skipped_before_zwj(c[j - 1]))
        j--;
    return j > 0 && i + 1 < n && emoji_base(c[j - 1]) && emoji_base(c[i + 1]);
}

/* UAX #31 A1 (after a virama) and B (/$LJ $T* ZWNJ $T* $RJ/). */
static bool zwnj_ok(const ucs4_t *c, size_t i, size_t n)
{
    size_t j = i, k = i + 1;
    int t;

    if (i > 0 && virama(c[i - 1]))
        return true;
    while (j > 0 && uc_joining_type(c[j - 1]) == UC_JOINING_TYPE_T)
        j--;
    while (k < n && uc_joining_type(c[k]) == UC_JOINING_TYPE_T)
        k++;
    if (j == 0 || k >= n)
        return false;
    t = uc_joining_type(c[j - 1]);
    if (t != UC_JOINING_TYPE_L && t != UC_JOINING_TYPE_D)
        return false;
    t = uc_joining_type(c[k]);
    return t == UC_JOINING_TYPE_R || t == UC_JOINING_TYPE_D;
}

int name_check_visible(const char *s, size_t n, const char *field, struct tg_err *err)
{
    size_t count, i;
    ucs4_t *c = decode(s, n, &count);
    int rc = 0;

    for (i = 0; i < count && rc == 0; i++) {
        if (!uc_is_general_category(c[i], UC_CATEGORY_Cf))
            continue;
        if (c[i] == 0x200D && zwj_ok(c, i, count))
            continue;
        if (c[i] == 0x200C && zwnj_ok(c, i, count))
            continue;
        rc = tg_err_set(err, TG_EINVAL, field,
                        uc_is_property_bidi_control(c[i])
                            ? "name contains the bidirectional control character U+%04X"
                            : "name contains the invisible format character U+%04X",
                        (unsigned)c[i]);
    }
    xfree(c);
    return rc;
}

char *name_fold(struct arena *a, const char *s)
{
    size_t flen = 0, n = strlen(s);
    uint8_t *fold;
    char *out;

    if (u8_check((const uint8_t *)s, n) != NULL)
        return arena_strdup(a, s);
    fold = u8_casefold((const uint8_t *)s, n, NULL, UNINORM_NFC, NULL, &flen);
    if (fold == NULL)
        return arena_strdup(a, s);
    out = arena_strndup(a, (const char *)fold, flen);
    free(fold);
    return out;
}

int name_levels(const char *nfc)
{
    int n = 1;
    for (; *nfc; nfc++)
        if (*nfc == '.')
            n++;
    return n;
}
