/* http/router.c: a linear match over segment patterns; about a hundred routes, each compared
 * segment by segment without allocation until a route matches. */
#include "http/router.h"

#include <string.h>

#include "util/mem.h"

static const struct route **routes;
static size_t *literal; /* length of each pattern's part before its first parameter */
static int nroutes;

void router_init(void)
{
    int n = 0, i = 0;
    for (const struct route *const *t = api_route_tables; *t; t++)
        for (const struct route *r = *t; r->method; r++)
            n++;
    routes = xcalloc((size_t)n + 1, sizeof(*routes));
    literal = xcalloc((size_t)n + 1, sizeof(*literal));
    for (const struct route *const *t = api_route_tables; *t; t++)
        for (const struct route *r = *t; r->method; r++) {
            literal[i] = strcspn(r->pattern, "{");
            routes[i++] = r;
        }
    nroutes = n;
}

int router_count(void)
{
    return nroutes;
}

const struct route *router_at(int i)
{
    return i >= 0 && i < nroutes ? routes[i] : NULL;
}

/* Next segment of a '/'-separated string: sets *seg and *len, returns the rest or NULL. */
static const char *next_seg(const char *p, const char **seg, size_t *len)
{
    const char *e;
    if (*p == '/')
        p++;
    e = strchr(p, '/');
    *seg = p;
    *len = e ? (size_t)(e - p) : strlen(p);
    return e;
}

/* Matches one route; fills params (raw slices) when it does. */
static bool match(const char *pattern, const char *path, const char **raw, size_t *rawlen,
                  int *np)
{
    const char *pp = pattern, *xp = path;
    int n = 0;

    for (;;) {
        const char *ps, *xs;
        size_t pl, xl;
        bool pend, xend;
        pp = next_seg(pp, &ps, &pl);
        xp = next_seg(xp, &xs, &xl);
        /* A trailing slash on the request is the same resource. */
        if (xp == NULL && xl == 0 && pp == NULL && pl == 0)
            break;
        if (ps[0] == '{') {
            const char *close = memchr(ps, '}', pl);
            size_t suffix = close ? pl - (size_t)(close - ps) - 1 : 0;
            if (close == NULL || xl <= suffix)
                return false;
            if (suffix && memcmp(xs + xl - suffix, close + 1, suffix) != 0)
                return false;
            if (n >= API_MAX_PARAMS)
                return false;
            raw[n] = xs;
            rawlen[n] = xl - suffix;
            n++;
        } else if (pl != xl || memcmp(ps, xs, pl) != 0) {
            return false;
        }
        pend = pp == NULL;
        xend = xp == NULL;
        if (pend && xend)
            break;
        if (pend) {
            /* Allow exactly one trailing slash. */
            if (xp && strcmp(xp, "/") == 0)
                break;
            return false;
        }
        if (xend)
            return false;
    }
    *np = n;
    return true;
}

enum router_result router_match(struct hreq *r, int *index)
{
    const char *raw[API_MAX_PARAMS];
    size_t rawlen[API_MAX_PARAMS];
    bool path_seen = false;
    int np, i;

    if (r->path[0] != '/')
        return ROUTER_BAD_PATH;
    for (i = 0; i < nroutes; i++) {
        const struct route *rt = routes[i];
        bool method_ok;
        /* A path that does not start with the pattern's literal part cannot match: most
         * routes end here, before the segment walk. */
        if (strncmp(r->path, rt->pattern, literal[i]) != 0)
            continue;
        method_ok = strcmp(rt->method, r->method) == 0 ||
                    (strcmp(rt->method, "GET") == 0 && strcmp(r->method, "HEAD") == 0);
        if (!match(rt->pattern, r->path, raw, rawlen, &np))
            continue;
        if (!method_ok) {
            path_seen = true;
            continue;
        }
        for (int k = 0; k < np; k++) {
            r->params[k] = api_url_decode(&r->a, raw[k], rawlen[k], false);
            if (r->params[k] == NULL)
                return ROUTER_BAD_PATH;
        }
        r->nparams = np;
        r->route = rt;
        *index = i;
        return ROUTER_OK;
    }
    return path_seen ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}
