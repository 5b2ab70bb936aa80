/* util/name.c: name validation and normalization with libunistring. */
#include "util/name.h"

#include <string.h>
#include <unicase.h>
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
