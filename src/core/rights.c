/* core/rights.c: rights (tags:read, tags:write, tags:assign, admin) as a bit set, as text, and
 * the checks a request's principal must pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"

static const struct {
    const char *name;
    unsigned bit;
} right_names[] = {
    {"tags:read", RIGHT_READ}, {"tags:write", RIGHT_WRITE}, {"tags:assign", RIGHT_ASSIGN},
    {"admin", RIGHT_ADMIN},    {"read", RIGHT_READ},        {"write", RIGHT_WRITE},
    {"assign", RIGHT_ASSIGN},  {"*", RIGHT_ALL},
};

int core_rights_parse(const char *s, unsigned *out, struct tg_err *err)
{
    unsigned r = 0;
    const char *p = s;

    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p), i;
        bool found = false;
        while (n && *p == ' ') {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        for (i = 0; i < sizeof(right_names) / sizeof(right_names[0]); i++) {
            if (strlen(right_names[i].name) == n && strncmp(p, right_names[i].name, n) == 0) {
                r |= right_names[i].bit;
                found = true;
            }
        }
        if (!found && n)
            return tg_err_set(err, TG_EINVAL, "rights", "unknown right '%.*s'", (int)(n > 40 ? 40 : n), p);
        if (!e)
            break;
        p = e + 1;
    }
    if (r & RIGHT_ADMIN)
        r = RIGHT_ALL;
    *out = r;
    return 0;
}

const char *core_right_name(int i)
{
    static const char *const names[] = {"tags:read", "tags:write", "tags:assign", "admin"};
    return i >= 0 && i < (int)(sizeof(names) / sizeof(names[0])) ? names[i] : NULL;
}

const char *core_rights_str(struct arena *a, unsigned rights)
{
    char buf[64];
    size_t pos = 0;

    buf[0] = '\0';
    for (int i = 0; core_right_name(i); i++) {
        if (rights & (1u << i))
            pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos, "%s%s", pos ? "," : "",
                                    core_right_name(i));
    }
    return arena_strdup(a, buf);
}

int core_require(struct core_ctx *ctx, unsigned need, struct tg_err *err)
{
    if (!ctx->authed)
        return tg_err_set(err, TG_EAUTH, "", "authentication required");
    if ((ctx->who.rights & need) != need)
        return tg_err_set(err, TG_EFORBIDDEN, "", "missing right %s",
                          core_rights_str(ctx->a, need & ~ctx->who.rights));
    return 0;
}

bool core_install_admin(struct core_ctx *ctx)
{
    char buf[32];
    if (!ctx->authed || !(ctx->who.rights & RIGHT_ADMIN))
        return false;
    if (core__meta_get(ctx->conn, "default_org", buf, sizeof(buf)) != 1)
        return false;
    return strtoll(buf, NULL, 10) == ctx->org_id;
}
