/* api/dialects.c: the registry of dialects, and which one answers a path no route matches.
 *
 * To add a dialect: define name_dialect (with its paths and error function) and name_routes in
 * api/<name>.c, declare both in api.h and add X(name) here. Routes are matched in this order;
 * the native API, which claims no paths, answers every path no other dialect claims. */
#include "api/api.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#define API_DIALECTS(X)                                                                        \
    X(native) X(easydb) X(immuta) X(launchdarkly) X(aitronos) X(oracle) X(console)

#define DIALECT(name) &name##_dialect,
const struct dialect *const api_dialects[] = {API_DIALECTS(DIALECT) NULL};
#undef DIALECT

#define TABLE(name) name##_routes,
const struct route *const api_route_tables[] = {API_DIALECTS(TABLE) NULL};
#undef TABLE

static bool claims(const struct dialect *d, const char *path)
{
    if (d->paths == NULL)
        return false;
    for (const char *const *p = d->paths; *p; p++) {
        size_t n = strlen(*p);
        if (strncmp(path, *p, n) != 0)
            continue;
        if ((*p)[n - 1] == '/' || path[n] == '\0' || path[n] == '/')
            return d->infix == NULL || strstr(path, d->infix) != NULL;
    }
    return false;
}

const struct dialect *api_dialect_for_path(const char *path)
{
    for (const struct dialect *const *d = api_dialects; *d; d++) {
        /* The router walks api_route_tables: each entry is its dialect's own table. */
        assert((*d)->routes == api_route_tables[d - api_dialects]);
        if (claims(*d, path))
            return *d;
    }
    return &native_dialect;
}
