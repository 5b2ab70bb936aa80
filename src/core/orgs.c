/* core/orgs.c: organizations and their workspaces. Every organization has a default
 * workspace, created with it; tokens act in their organization's default workspace. */
#include <string.h>

#include "core/core_int.h"
#include "util/jw.h"
#include "util/name.h"

static int check_name(struct core_ctx *ctx, const char *name, struct tg_err *err)
{
    char *nfc;
    int rc;

    if (name == NULL || *name == '\0')
        return tg_err_set(err, TG_EINVAL, "name", "name is required");
    rc = name_normalize(ctx->a, name, strlen(name), false, "name", &nfc, NULL, err);
    return rc ? rc : name_check_visible(nfc, strlen(nfc), "name", err);
}

int core_org_create(struct core_ctx *ctx, const char *name, struct org *out, struct tg_err *err)
{
    struct store_stmt *st;
    struct workspace ws;
    int rc = check_name(ctx, name, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_ORG_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, name);
    st_int(st, 2, ctx->now);
    rc = st_step(st, err);
    if (rc != 1)
        return rc < 0 ? rc : TG_EINTERNAL;
    out->id = col_int(st, 0);
    st_reset(st);
    out->name = core_strdup(ctx, name);
    out->created_at = ctx->now;
    st = st_get(ctx->conn, SQL_WS_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, out->id);
    st_text(st, 2, "default");
    st_int(st, 3, 1);
    st_int(st, 4, ctx->now);
    rc = st_step(st, err);
    if (rc != 1)
        return rc < 0 ? rc : TG_EINTERNAL;
    ws.id = col_int(st, 0);
    st_reset(st);
    out->default_ws_id = ws.id;
    return core_change(ctx, "org", out->id, "create", NULL, NULL, err);
}

static void row_org(struct core_ctx *ctx, struct store_stmt *st, struct org *o)
{
    o->id = col_int(st, 0);
    o->name = col_dup(ctx, st, 1);
    o->created_at = col_int(st, 2);
    o->default_ws_id = col_int(st, 3);
}

int core_org_get(struct core_ctx *ctx, int64_t id, struct org *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ORG_GET, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    rc = st_step(st, err);
    if (rc == 1)
        row_org(ctx, st, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "organization_id", "organization not found");
    return rc < 0 ? rc : 0;
}

int core_org_list(struct core_ctx *ctx, struct org **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ORG_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct org));
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_org(ctx, st, vec_push(ctx, &v));
    }
    *out = v.items;
    *n = v.n;
    return rc;
}

static void row_ws(struct core_ctx *ctx, struct store_stmt *st, struct workspace *w)
{
    w->id = col_int(st, 0);
    w->org_id = col_int(st, 1);
    w->name = col_dup(ctx, st, 2);
    w->is_default = col_int(st, 3) != 0;
    w->created_at = col_int(st, 4);
}

int core_ws_create(struct core_ctx *ctx, int64_t org_id, const char *name, struct workspace *out,
                   struct tg_err *err)
{
    struct store_stmt *st;
    struct org o;
    int rc = check_name(ctx, name, err);

    if (rc)
        return rc;
    rc = core_org_get(ctx, org_id, &o, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_WS_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, org_id);
    st_text(st, 2, name);
    st_int(st, 3, 0);
    st_int(st, 4, ctx->now);
    rc = st_step(st, err);
    if (rc != 1)
        return rc < 0 ? rc : TG_EINTERNAL;
    out->id = col_int(st, 0);
    st_reset(st);
    out->org_id = org_id;
    out->name = core_strdup(ctx, name);
    out->is_default = false;
    out->created_at = ctx->now;
    return core_change(ctx, "workspace", out->id, "create", NULL, NULL, err);
}

int core_ws_get(struct core_ctx *ctx, int64_t id, struct workspace *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_WS_GET, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    rc = st_step(st, err);
    if (rc == 1)
        row_ws(ctx, st, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "workspace_id", "workspace not found");
    return rc < 0 ? rc : 0;
}

int core_ws_list(struct core_ctx *ctx, int64_t org_id, struct workspace **out, size_t *n,
                 struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_WS_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct workspace));
    st_int(st, 1, org_id);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_ws(ctx, st, vec_push(ctx, &v));
    }
    *out = v.items;
    *n = v.n;
    return rc;
}

int core__ctx_set_org(struct core_ctx *ctx, int64_t org_id, struct tg_err *err)
{
    struct org o;
    int rc = core_org_get(ctx, org_id, &o, err);
    if (rc)
        return rc;
    ctx->org_id = o.id;
    ctx->ws_id = o.default_ws_id;
    return 0;
}

int core_ws_resolve(struct core_ctx *ctx, const char *ref, const char *field, int64_t *id,
                    struct tg_err *err)
{
    struct workspace ws;
    int rc;

    if (!core_parse_id(ref, "ws_", id))
        return tg_err_set(err, TG_EINVAL, field, "a workspace is ws_N or N");
    rc = core_ws_get(ctx, *id, &ws, err);
    /* Another organization's workspace is not found, not forbidden: it does not exist for
     * this caller (the same answer as for its other objects). */
    if (rc == 0 && ws.org_id != ctx->org_id)
        rc = TG_ENOTFOUND;
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, field, "workspace '%s' not found", ref);
    return rc;
}

int core_ws_select(struct core_ctx *ctx, const char *ref, struct tg_err *err)
{
    int64_t id;
    int rc = core_ws_resolve(ctx, ref, "X-Tagd-Workspace", &id, err);

    if (rc == 0)
        ctx->ws_id = id;
    return rc;
}
