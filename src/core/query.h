/* core/query.h: tag queries over resources (docs/query.md), answered by the engine.
 *
 * The rules a query obeys are applied here, not in a dialect: the principal needs tags:read,
 * and a token scoped to a resource (principal.resource_id) sees only that resource and its
 * descendants. The engine answers ids from a snapshot at least as new as ctx->min_rev; the
 * caller reads the page's resources by id (core_resource_get_id), which keeps the index small,
 * and skips one deleted since the snapshot. */
#ifndef TAGD_CORE_QUERY_H
#define TAGD_CORE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct core_query {
    const char *text;   /* the query; NULL is TG_EINVAL ("'query' is required") */
    const char *kind;   /* NULL: resources of any kind */
    const char *cursor; /* NULL, or next_cursor of the previous page */
    bool effective;     /* match inherited tags too */
    bool archived;      /* include archived resources */
    int limit;          /* ids wanted (0: only count) */
};

struct core_query_result {
    uint64_t total;          /* every match, regardless of the cursor */
    const int64_t *ids;      /* up to limit ids, ascending (arena) */
    size_t n;
    const char *next_cursor; /* NULL on the last page (arena) */
    int64_t rev;             /* the revision of the snapshot that answered */
    bool behind;             /* the engine has not applied ctx->min_rev yet: nothing else set */
};

/* Where a TG_EINVAL of core_query_resources points into the query text. */
enum core_query_fault {
    CORE_QUERY_INPUT,  /* not the query text: `err` names the field */
    CORE_QUERY_SYNTAX, /* the text does not parse */
    CORE_QUERY_EVAL,   /* it parses but names what cannot be evaluated (an unknown tag …) */
};
struct core_query_err {
    enum core_query_fault fault;
    int col; /* 1-based character column (SYNTAX, EVAL) */
    char msg[200];
};

/**
 * Runs query `q` in ctx's workspace. 0 with *out set (out->behind: the caller answers "not
 * yet"); TG_EINVAL with `qe` telling where; TG_EBUSY when the engine is not loaded;
 * TG_EAUTH / TG_EFORBIDDEN without tags:read. Read-only; `q` borrows.
 */
int core_query_resources(struct core_ctx *ctx, const struct core_query *q,
                         struct core_query_result *out, struct core_query_err *qe,
                         struct tg_err *err);

#endif /* TAGD_CORE_QUERY_H */
