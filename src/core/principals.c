/* core/principals.c: who acts: the name a request's principal records as created_by / added_by
 * and in the change log, and the numbers that stand for those names (core_principal_id). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"

const char *core_actor(struct core_ctx *ctx)
{
    return ctx->authed && ctx->who.name ? ctx->who.name : "system";
}

/* The first id a statement of (organization, name) answers; 0 when none or on a store error. */
static int64_t principal_row(struct core_ctx *ctx, enum store_sql sql, const char *who)
{
    struct store_stmt *st = st_get(ctx->conn, sql, NULL);
    int64_t id = 0;

    if (st == NULL)
        return 0;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, who);
    if (st_step(st, NULL) == 1)
        id = col_int(st, 0);
    st_reset(st);
    return id;
}

int64_t core_principal_id(struct core_ctx *ctx, const char *who)
{
    struct store_stmt *st;
    const char *colon;
    int64_t id;
    bool token = false;

    if (who == NULL || strcmp(who, "system") == 0)
        return 0;
    id = principal_row(ctx, SQL_PRINCIPAL_USER, who);
    if (id == 0) {
        /* Links record themselves as "<kind>:<token id>" (links.c). */
        colon = strchr(who, ':');
        if (colon && (strncmp(who, "applink:", 8) == 0 || strncmp(who, "publiclink:", 11) == 0)) {
            char kind[16];
            char *end;
            long long v = strtoll(colon + 1, &end, 10);
            snprintf(kind, sizeof(kind), "%.*s", (int)(colon - who), who);
            st = *end == '\0' && v > 0 ? st_get(ctx->conn, SQL_PRINCIPAL_LINK, NULL) : NULL;
            if (st) {
                st_int(st, 1, v);
                st_int(st, 2, ctx->org_id);
                st_text(st, 3, kind);
                if (st_step(st, NULL) == 1)
                    id = col_int(st, 0);
                st_reset(st);
            }
        }
        if (id == 0)
            id = principal_row(ctx, SQL_PRINCIPAL_TOKEN, who);
        token = id > 0;
    }
    /* Row ids never come near the base: the ranges stay apart. */
    if (id <= 0 || id >= CORE_PRINCIPAL_TOKEN_BASE)
        return 0;
    return token ? CORE_PRINCIPAL_TOKEN_BASE + id : id;
}
