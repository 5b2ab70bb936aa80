/* core/changes.c: the change log and the versioned rows written with it.
 *
 * Every write of a request appends change records under one revision (allocated by its first
 * change, shared by the rest, numbered by seq). Tags, groups and resources are versioned rows:
 * core_versioned_put writes the current row, closes and opens its history row at the revision
 * and appends the change, so that the three stay in step for every entity. */
#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "core/core_int.h"
#include "util/name.h"

int core_rev(struct core_ctx *ctx, struct tg_err *err)
{
    struct store_stmt *st;
    int rc;

    if (ctx->rev)
        return 0;
    st = st_get(ctx->conn, SQL_REV_NEXT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    rc = st_step(st, err);
    if (rc != 1)
        return rc < 0 ? rc : tg_err_set(err, TG_EINTERNAL, "", "no revision");
    ctx->rev = col_int(st, 0);
    st_reset(st);
    assert(ctx->rev > 0 && ctx->seq == 0);
    st = st_get(ctx->conn, SQL_REV_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->rev);
    st_int(st, 2, ctx->now);
    rc = st_exec(st, err);
    if (rc)
        ctx->rev = 0;
    return rc;
}


int core_change(struct core_ctx *ctx, const char *entity, int64_t entity_id, const char *op,
                const char *before, const char *after, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = core_rev(ctx, err);

    if (rc)
        return rc;
    assert(ctx->rev > 0);
    st = st_get(ctx->conn, SQL_CHANGE_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->rev);
    st_int(st, 2, ++ctx->seq);
    st_int(st, 3, ctx->now);
    if (ctx->org_id)
        st_int(st, 4, ctx->org_id);
    if (ctx->ws_id)
        st_int(st, 5, ctx->ws_id);
    st_text(st, 6, core_actor(ctx));
    st_text(st, 7, entity);
    st_int(st, 8, entity_id);
    st_text(st, 9, op);
    st_text(st, 10, before);
    st_text(st, 11, after);
    st_text(st, 12, ctx->api ? ctx->api : "system");
    /* Noted before it runs: a failed insert is a change that did not happen, which only
     * makes the engine's answer wait for a later revision. */
    core__fresh_note(ctx->engine, entity, entity_id, ctx->rev);
    return st_exec(st, err);
}

static int changes_read(struct core_ctx *ctx, struct store_stmt *st, struct vec *v,
                        struct tg_err *err)
{
    int rc;

    for (;;) {
        struct change *c;
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        c = vec_push(ctx, v);
        c->rev = col_int(st, 0);
        c->seq = col_int(st, 1);
        c->at = col_int(st, 2);
        c->principal = col_dup(ctx, st, 3);
        c->entity = col_dup(ctx, st, 4);
        c->entity_id = col_int(st, 5);
        c->op = col_dup(ctx, st, 6);
        c->before = col_dup(ctx, st, 7);
        c->after = col_dup(ctx, st, 8);
        c->api = col_dup(ctx, st, 9);
        c->ws_id = col_int(st, 10);
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core_changes_list(struct core_ctx *ctx, int64_t since, int limit, struct change **out,
                      size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_CHANGES_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct change));
    st_int(st, 1, since);
    st_int(st, 2, limit);
    st_int(st, 3, ctx->org_id);
    rc = changes_read(ctx, st, &v, err);
    if (rc == 0 && v.n > 0 && v.n == (size_t)limit) {
        /* Callers continue from the last revision; a page cut inside a revision would lose
         * the rest of it, so the page is completed to the revision's end. */
        const struct change *last = (const struct change *)v.items + v.n - 1;
        st = st_get(ctx->conn, SQL_CHANGES_REST_OF_REV, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, last->rev);
        st_int(st, 2, last->seq);
        st_int(st, 3, ctx->org_id);
        rc = changes_read(ctx, st, &v, err);
    }
    *out = v.items;
    *n = v.n;
    return rc;
}

static int64_t scalar(struct core_ctx *ctx, enum store_sql id, int64_t arg, bool has_arg)
{
    struct store_stmt *st = st_get(ctx->conn, id, NULL);
    int64_t v = 0;
    if (st == NULL)
        return 0;
    if (has_arg)
        st_int(st, 1, arg);
    if (st_step(st, NULL) == 1)
        v = col_int(st, 0);
    st_reset(st);
    return v;
}

int64_t core_current_rev(struct core_ctx *ctx)
{
    return scalar(ctx, SQL_REV_CURRENT, 0, false);
}

int64_t core_rev_at_time(struct core_ctx *ctx, int64_t ms)
{
    return scalar(ctx, SQL_REV_AT_TIME, ms, true);
}

/* ---- versioned rows ---- */

static int64_t *field(void *row, size_t at)
{
    return (int64_t *)((char *)row + at);
}

static int64_t field_get(const void *row, size_t at)
{
    return *(const int64_t *)((const char *)row + at);
}

static const char *name_get(const struct versioned *k, const void *row)
{
    return *(const char *const *)((const char *)row + k->name_at);
}

static int exists_error(const struct versioned *k, const void *row, int rc, struct tg_err *err)
{
    if (rc == TG_EEXISTS && k->what)
        return tg_err_set(err, TG_EEXISTS, "name", "%s '%s' already exists", k->what,
                          name_get(k, row));
    return rc;
}

/* Ends the row's open history entry at the request's revision. */
static int hist_close(struct core_ctx *ctx, const struct versioned *k, int64_t id,
                      struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, k->hist_close, err);

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->rev);
    return st_exec(st, err);
}

int core_versioned_put(struct core_ctx *ctx, const struct versioned *k, const void *before,
                       void *row, const char *op, struct tg_err *err)
{
    struct store_stmt *st;
    const char *json;
    int64_t id;
    int rc;

    assert(k->json != NULL && k->bind != NULL);
    assert(before == NULL || field_get(before, k->id_at) == field_get(row, k->id_at));
    /* Every new name, made or renamed through any dialect, passes here. Names already stored
     * are not rewritten (docs/security.md). */
    if (k->has_name &&
        (before == NULL || strcmp(name_get(k, before), name_get(k, row)) != 0)) {
        const char *name = name_get(k, row);
        rc = name_check_visible(name, strlen(name), "name", err);
        if (rc)
            return rc;
    }
    rc = core_rev(ctx, err);
    if (rc)
        return rc;
    assert(ctx->rev > 0);
    *field(row, k->updated_at_at) = ctx->now;
    if (before == NULL) {
        *field(row, k->ws_id_at) = ctx->ws_id;
        *field(row, k->created_at_at) = ctx->now;
        *field(row, k->version_at) = 1;
    } else {
        *field(row, k->version_at) = field_get(before, k->version_at) + 1;
    }
    st = st_get(ctx->conn, before == NULL ? k->insert : k->update, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, before == NULL ? ctx->ws_id : field_get(row, k->id_at));
    st_int(st, 2, ctx->now);
    st_int(st, 3, field_get(row, k->version_at));
    k->bind(st, row, before == NULL);
    if (before == NULL) {
        rc = st_step(st, err);
        if (rc != 1)
            return rc < 0 ? exists_error(k, row, rc, err) : TG_EINTERNAL;
        *field(row, k->id_at) = col_int(st, 0);
        st_reset(st);
    } else {
        rc = st_exec(st, err);
        if (rc)
            return exists_error(k, row, rc, err);
        rc = hist_close(ctx, k, field_get(row, k->id_at), err);
        if (rc)
            return rc;
    }
    id = field_get(row, k->id_at);
    assert(id > 0);
    json = k->json(ctx, row);
    st = st_get(ctx->conn, k->hist_open, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->rev);
    st_text(st, 3, json);
    if (k->bind_hist)
        k->bind_hist(st, row);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    return core_change(ctx, k->entity, id, op, before ? k->json(ctx, before) : NULL,
                       before && k->change_json ? k->change_json(ctx, before, row, op) : json, err);
}

int core_versioned_remove(struct core_ctx *ctx, const struct versioned *k, const void *row,
                          const char *op, struct tg_err *err)
{
    struct store_stmt *st;
    int64_t id = field_get(row, k->id_at);
    int rc;

    assert(id > 0);
    rc = core_rev(ctx, err);
    if (rc)
        return rc;
    rc = hist_close(ctx, k, id, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, k->remove, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    return core_change(ctx, k->entity, id, op,
                       k->change_json ? k->change_json(ctx, row, NULL, op) : k->json(ctx, row), NULL,
                       err);
}
