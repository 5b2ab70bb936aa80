/* core/refs.c: how clients refer to rows: numeric ids with an optional prefix ("tag_42") and
 * opaque page cursors (base64url of a string core reads back; never trusted as more than a
 * clean UTF-8 string). */
#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/name.h"

bool core_parse_id(const char *s, const char *prefix, int64_t *out)
{
    size_t pl = prefix ? strlen(prefix) : 0;
    char *end;
    long long v;

    if (pl && strncmp(s, prefix, pl) == 0)
        s += pl;
    if (!isdigit((unsigned char)*s))
        return false;
    v = strtoll(s, &end, 10);
    if (*end != '\0' || v <= 0)
        return false;
    *out = v;
    return true;
}

const char *core_cursor_encode(struct core_ctx *ctx, const char *s)
{
    size_t n = strlen(s), cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = arena_alloc(ctx->a, cap);
    sodium_bin2base64(out, cap, (const unsigned char *)s, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

int core_cursor_decode(struct core_ctx *ctx, const char *c, const char **out, struct tg_err *err)
{
    size_t n = strlen(c), len = 0;
    unsigned char *buf;

    if (n > 2048)
        return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
    buf = arena_alloc(ctx->a, n + 1);
    if (sodium_base642bin(buf, n, c, n, NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        !name_is_clean_utf8((const char *)buf, len))
        return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
    buf[len] = '\0';
    *out = (const char *)buf;
    return 0;
}
