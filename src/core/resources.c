/* core/resources.c: the things tags are put on, their hierarchy, and assignments.
 *
 * A resource is (workspace, kind, key); its optional parent makes the tree along which tags are
 * inherited (folder -> file, datasource -> column, project -> flag). Assignments are temporal
 * rows: removing one closes it (valid_to = revision) so that any past state can be read. */
#include <assert.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "core/policies.h"
#include "engine/engine.h"
#include "util/jw.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/name.h"

#define MAX_DEPTH 64

int core_resource_ref_check(const char *kind, const char *key, struct tg_err *err)
{
    size_t n = kind ? strlen(kind) : 0;

    if (n == 0 || n > 32)
        return tg_err_set(err, TG_EINVAL, "kind", "kind must be 1-32 characters");
    for (size_t i = 0; i < n; i++) {
        char c = kind[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '_' || c == '-'))
            return tg_err_set(err, TG_EINVAL, "kind", "kind may hold only a-z, 0-9, '_' and '-'");
    }
    n = key ? strlen(key) : 0;
    if (n == 0 || n > 512)
        return tg_err_set(err, TG_EINVAL, "key", "key must be 1-512 bytes");
    if (!name_is_clean_utf8(key, n))
        return tg_err_set(err, TG_EINVAL, "key", "key must be utf-8 without control characters");
    return 0;
}

/* A resource re-parented (or deleted): who it leaves and joins, for its record's
 * "inherited" (moved). */
struct move {
    int64_t from, to;
    bool self_only; /* deleted: its children are detached by records of their own */
};

static void moved(struct core_ctx *ctx, int64_t resource_id, const struct move *m, struct jw *w);

static const char *res_json_moved(struct core_ctx *ctx, const struct resource *r,
                                  const struct move *m)
{
    struct sbuf b;
    struct jw w;
    const char *out;

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kint(&w, "id", r->id);
    jw_kstr(&w, "kind", r->kind);
    jw_kstr(&w, "key", r->key);
    jw_kstr(&w, "name", r->name);
    if (r->parent_id)
        jw_kint(&w, "parent_id", r->parent_id);
    jw_kbool(&w, "archived", r->archived);
    if (r->extra) {
        jw_key(&w, "extra");
        jw_raw(&w, r->extra);
    }
    jw_kint(&w, "version", r->version);
    if (m)
        moved(ctx, r->id, m, &w);
    jw_obj_end(&w);
    out = arena_strndup(ctx->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return out;
}

static const char *res_json(struct core_ctx *ctx, const struct resource *r)
{
    return res_json_moved(ctx, r, NULL);
}

/* Parameters ?4... of SQL_RES_INSERT and SQL_RES_UPDATE (core_int.h, struct versioned): kind
 * and key never change, so only an insert sets them. */
static void res_bind(struct store_stmt *st, const void *row, bool insert)
{
    const struct resource *r = row;

    st_text(st, 4, r->name);
    if (r->parent_id)
        st_int(st, 5, r->parent_id);
    st_bool(st, 6, r->archived);
    st_text(st, 7, r->extra);
    if (insert) {
        st_text(st, 8, r->kind);
        st_text(st, 9, r->key);
    }
}

static void res_bind_hist(struct store_stmt *st, const void *row)
{
    const struct resource *r = row;

    st_int(st, 4, r->ws_id);
    st_text(st, 5, r->kind);
    st_text(st, 6, r->key);
    if (r->parent_id)
        st_int(st, 7, r->parent_id);
    st_bool(st, 8, r->archived);
}

static const char *res_json_v(struct core_ctx *ctx, const void *row)
{
    return res_json(ctx, row);
}

/* The change record of a resource that moves carries what that changes in effective tags
 * (its "inherited", docs/events.md): an update to another parent, and a delete (whose
 * children were detached before, each by an update of its own). */
static const char *res_change_json(struct core_ctx *ctx, const void *before, const void *row,
                                   const char *op)
{
    const struct resource *b = before, *r = row;
    struct move m = {0};

    (void)op;
    if (r == NULL) {
        m.from = b->parent_id;
        m.self_only = true;
        return res_json_moved(ctx, b, &m);
    }
    if (b->parent_id == r->parent_id)
        return res_json(ctx, r);
    m.from = b->parent_id;
    m.to = r->parent_id;
    return res_json_moved(ctx, r, &m);
}

static const struct versioned res_rows = {
    .entity = "resource",
    VERSIONED_FIELDS(struct resource, ),
    .insert = SQL_RES_INSERT,
    .update = SQL_RES_UPDATE,
    .hist_close = SQL_RES_HIST_CLOSE,
    .hist_open = SQL_RES_HIST_OPEN,
    .remove = SQL_RES_DELETE_ROW,
    .bind = res_bind,
    .bind_hist = res_bind_hist,
    .json = res_json_v,
    .change_json = res_change_json,
};

static int res_save(struct core_ctx *ctx, const struct resource *before, struct resource *r,
                    const char *op, struct tg_err *err)
{
    /* A move brings the subtree under new ancestors: a reject group may refuse it. A new
     * resource holds nothing and has no descendants yet. */
    if (before && r->parent_id && r->parent_id != before->parent_id) {
        int rc = core__conflict_check_move(ctx, before->id, r->parent_id, err);
        if (rc)
            return rc;
    }
    return core_versioned_put(ctx, &res_rows, before, r, op, err);
}

/* Steps statement `id` (?1 workspace, ?2 kind, ?3 key) once, after checking the reference:
 * 1 with a row to read, 0 without, or a tg_code. */
static int step_by_key(struct core_ctx *ctx, enum store_sql id, const char *kind,
                       const char *key, struct store_stmt **st, struct tg_err *err)
{
    int rc = core_resource_ref_check(kind, key, err);

    if (rc)
        return rc;
    *st = st_get(ctx->conn, id, err);
    if (*st == NULL)
        return TG_EINTERNAL;
    st_int(*st, 1, ctx->ws_id);
    st_text(*st, 2, kind);
    st_text(*st, 3, key);
    return st_step(*st, err);
}

int core_resource_get(struct core_ctx *ctx, const char *kind, const char *key,
                      struct resource *out, struct tg_err *err)
{
    struct store_stmt *st = NULL;
    int rc = step_by_key(ctx, SQL_RES_BY_KEY, kind, key, &st, err);

    if (st == NULL)
        return rc;
    if (rc == 1)
        row_resource(ctx, st, 0, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "resource", "resource %s/%s not found", kind, key);
    return rc < 0 ? rc : 0;
}

int core_resource_id(struct core_ctx *ctx, const char *kind, const char *key, int64_t *id,
                     struct tg_err *err)
{
    const struct eng_snap *s = core_snap(ctx);
    struct store_stmt *st = NULL;
    int rc;

    /* Not in the engine may mean not applied yet (or not valid): the store has the last word. */
    if (s && (*id = eng_resource_by_key(s, ctx->ws_id, kind, key)) != 0)
        return 0;
    *id = 0;
    rc = step_by_key(ctx, SQL_RES_ID_BY_KEY, kind, key, &st, err);
    if (st == NULL)
        return rc;
    if (rc == 1)
        *id = col_int(st, 0);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "resource", "resource %s/%s not found", kind, key);
    return rc < 0 ? rc : 0;
}

int core_resource_get_id(struct core_ctx *ctx, int64_t id, struct resource *out,
                         struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_RES_BY_ID, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->ws_id);
    rc = st_step(st, err);
    if (rc == 1)
        row_resource(ctx, st, 0, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "resource", "resource not found");
    return rc < 0 ? rc : 0;
}

static int64_t parent_of(struct core_ctx *ctx, int64_t id)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_RES_PARENT, NULL);
    int64_t p = 0;
    if (st == NULL)
        return 0;
    st_int(st, 1, id);
    if (st_step(st, NULL) == 1)
        p = col_int(st, 0);
    st_reset(st);
    return p;
}

/* The parent of `id` at the end of revision `rev` (of a resource deleted by then, the last one
 * it had); the current one when its history holds nothing that old. */
static int64_t parent_at(struct core_ctx *ctx, int64_t id, int64_t rev)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_RES_PARENT_AT, NULL);
    int64_t p = 0;
    int rc;

    if (st == NULL)
        return 0;
    st_int(st, 1, id);
    st_int(st, 2, rev);
    rc = st_step(st, NULL);
    if (rc == 1)
        p = col_int(st, 0);
    st_reset(st);
    return rc == 0 ? parent_of(ctx, id) : p;
}

bool core_resource_within_at(struct core_ctx *ctx, int64_t id, int64_t ancestor, int64_t rev)
{
    for (int depth = 0; id && depth < MAX_DEPTH; depth++) {
        if (id == ancestor)
            return true;
        id = parent_at(ctx, id, rev);
    }
    return false;
}

bool core_resource_within(struct core_ctx *ctx, int64_t id, int64_t ancestor)
{
    for (int depth = 0; id && depth < MAX_DEPTH; depth++) {
        if (id == ancestor)
            return true;
        id = parent_of(ctx, id);
    }
    return false;
}

int core_resource_find_id(struct core_ctx *ctx, const char *kind, const char *key, int64_t *id,
                          struct tg_err *err)
{
    struct store_stmt *st = NULL;
    int rc = step_by_key(ctx, SQL_RES_ID_BY_KEY, kind, key, &st, err);

    *id = 0;
    if (st == NULL)
        return rc;
    if (rc == 1)
        *id = col_int(st, 0);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "resource", "resource %s/%s not found", kind, key);
    return rc < 0 ? rc : 0;
}

int core_resource_ensure(struct core_ctx *ctx, const char *kind, const char *key,
                         struct resource *out, struct tg_err *err)
{
    int rc = core_resource_get(ctx, kind, key, out, err);
    if (rc != TG_ENOTFOUND)
        return rc;
    memset(out, 0, sizeof(*out));
    out->kind = core_strdup(ctx, kind);
    out->key = core_strdup(ctx, key);
    return res_save(ctx, NULL, out, "create", err);
}

int core_resource_ensure_id(struct core_ctx *ctx, const char *kind, const char *key,
                            int64_t *id, struct tg_err *err)
{
    struct store_stmt *st = NULL;
    struct resource r;
    int rc;

    /* The writer's resources, mostly known: from the engine when nothing changed the one it
     * names since its snapshot (core_writer_fresh); a key it does not know may be newer. */
    if (ctx->writing && ctx->engine) {
        const struct eng_snap *s = engine_acquire(ctx->engine);
        int64_t found = eng_resource_by_key(s, ctx->ws_id, kind, key);
        bool ok = found && core_writer_fresh(s, found);
        engine_release(ctx->engine, s);
        if (ok) {
            *id = found;
            return 0;
        }
    }
    rc = step_by_key(ctx, SQL_RES_ID_BY_KEY, kind, key, &st, err);
    if (st == NULL)
        return rc;
    if (rc == 1)
        *id = col_int(st, 0);
    st_reset(st);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    rc = core_resource_ensure(ctx, kind, key, &r, err);
    if (rc == 0)
        *id = r.id;
    return rc;
}

int core_resource_put(struct core_ctx *ctx, const char *kind, const char *key,
                      const struct resource_input *in, struct resource *out, bool *created,
                      struct tg_err *err)
{
    struct resource old, r, parent;
    bool exists;
    int rc = core_resource_get(ctx, kind, key, &old, err);

    if (rc && rc != TG_ENOTFOUND)
        return rc;
    exists = rc == 0;
    if (exists) {
        r = old;
    } else {
        memset(&r, 0, sizeof(r));
        r.kind = core_strdup(ctx, kind);
        r.key = core_strdup(ctx, key);
    }
    if (in->has_name) {
        if (in->name && (strlen(in->name) > 1024 || !name_is_clean_utf8(in->name, strlen(in->name))))
            return tg_err_set(err, TG_EINVAL, "name", "name must be up to 1024 bytes of text");
        r.name = core_strdup(ctx, in->name);
    }
    if (in->has_archived)
        r.archived = in->archived;
    if (in->has_extra) {
        rc = core_document_check(kind, in->extra, err);
        if (rc)
            return rc;
        r.extra = core_strdup(ctx, in->extra);
    }
    if (in->has_parent) {
        if (in->parent_kind == NULL) {
            r.parent_id = 0;
            r.parent_kind = r.parent_key = NULL;
        } else {
            rc = core_resource_ref_check(in->parent_kind, in->parent_key, err);
            if (rc)
                return tg_err_set(err, TG_EINVAL, "parent", "parent: %s", err ? err->msg : "");
            if (strcmp(in->parent_kind, kind) == 0 && strcmp(in->parent_key, key) == 0)
                return tg_err_set(err, TG_ERULE, "parent", "a resource cannot be its own parent");
            rc = core_resource_ensure(ctx, in->parent_kind, in->parent_key, &parent, err);
            if (rc)
                return rc;
            if (exists && core_resource_within(ctx, parent.id, old.id))
                return tg_err_set(err, TG_ERULE, "parent",
                                  "parent %s/%s lies below %s/%s: that would be a cycle",
                                  parent.kind, parent.key, kind, key);
            r.parent_id = parent.id;
            r.parent_kind = parent.kind;
            r.parent_key = parent.key;
        }
    }
    if (exists && in->has_parent == false && !in->has_name && !in->has_archived && !in->has_extra) {
        *out = old;
        if (created)
            *created = false;
        return 0;
    }
    rc = res_save(ctx, exists ? &old : NULL, &r, exists ? "update" : "create", err);
    if (rc)
        return rc;
    *out = r;
    if (created)
        *created = !exists;
    return 0;
}

/* For core_resource_bulk_stats. */
static _Atomic uint64_t bulk_resources;

uint64_t core_resource_bulk_stats(void)
{
    return atomic_load(&bulk_resources);
}

/* The statement that writes a chunk's change records of one entity and op in one go, its
 * common columns bound (the records themselves are parameter 7, a JSON array). */
static struct store_stmt *bulk_changes(struct core_ctx *ctx, const char *entity, const char *op,
                                       struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_XCHG_CHANGE_INSERT_BULK, err);
    if (st == NULL)
        return NULL;
    st_int(st, 1, ctx->rev);
    st_int(st, 2, ctx->now);
    if (ctx->org_id)
        st_int(st, 3, ctx->org_id);
    else
        st_null(st, 3);
    if (ctx->ws_id)
        st_int(st, 4, ctx->ws_id);
    else
        st_null(st, 4);
    st_text(st, 5, core_actor(ctx));
    st_text(st, 6, ctx->api ? ctx->api : "system");
    st_text(st, 8, entity);
    st_text(st, 9, op);
    return st;
}

int core_resource_create_bulk(struct core_ctx *ctx, struct resource *v, size_t n,
                              struct tg_err *err)
{
    struct store_stmt *st;
    const char **json;
    struct sbuf js;
    struct jw w;
    size_t got = 0;
    int rc;

    if (n == 0)
        return 0;
    assert(n <= XCHG_BULK_ROWS);
    rc = core_rev(ctx, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_XCHG_RES_INSERT_BULK, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_int(st, 2, ctx->now);
    sbuf_init(&js, 0);
    jw_init(&w, &js);
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        /* What core_versioned_put sets of a new row; the caller gave the rest. */
        assert(v[i].extra == NULL && v[i].kind && v[i].key);
        v[i].id = 0;
        v[i].ws_id = ctx->ws_id;
        v[i].created_at = v[i].updated_at = ctx->now;
        v[i].version = 1;
        jw_arr(&w);
        jw_str(&w, v[i].kind);
        jw_str(&w, v[i].key);
        jw_str(&w, v[i].name);
        if (v[i].parent_id)
            jw_int(&w, v[i].parent_id);
        else
            jw_null(&w);
        jw_int(&w, v[i].archived);
        jw_arr_end(&w);
    }
    jw_arr_end(&w);
    st_textn(st, 3, sbuf_str(&js), js.len);
    sbuf_release(&js);
    while ((rc = st_step(st, err)) == 1) {
        const char *kind = col_text(st, 1), *key = col_text(st, 2);
        /* Mostly in order: the row at the count first. */
        size_t k = got < n ? got : 0;
        if (strcmp(v[k].kind, kind) != 0 || strcmp(v[k].key, key) != 0)
            for (k = 0; k < n; k++)
                if (strcmp(v[k].kind, kind) == 0 && strcmp(v[k].key, key) == 0)
                    break;
        if (k == n || v[k].id) {
            st_reset(st);
            return tg_err_set(err, TG_EINTERNAL, "key", "a bulk insert returned a row not asked for");
        }
        v[k].id = col_int(st, 0);
        got++;
    }
    st_reset(st);
    if (rc < 0)
        return rc == TG_EEXISTS ? tg_err_set(err, TG_EEXISTS, "key", "a resource exists already")
                                : rc;
    if (got != n)
        return tg_err_set(err, TG_EINTERNAL, "key", "a bulk insert returned %zu rows of %zu", got,
                          n);
    /* The history rows and change records core_versioned_put writes, in the same order. */
    json = arena_alloc(ctx->a, n * sizeof(*json));
    st = st_get(ctx->conn, SQL_XCHG_RES_HIST_BULK, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->rev);
    st_int(st, 2, ctx->ws_id);
    sbuf_init(&js, 0);
    jw_init(&w, &js);
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        json[i] = res_json(ctx, &v[i]);
        jw_arr(&w);
        jw_int(&w, v[i].id);
        jw_str(&w, json[i]);
        jw_str(&w, v[i].kind);
        jw_str(&w, v[i].key);
        if (v[i].parent_id)
            jw_int(&w, v[i].parent_id);
        else
            jw_null(&w);
        jw_int(&w, v[i].archived);
        jw_arr_end(&w);
    }
    jw_arr_end(&w);
    st_textn(st, 3, sbuf_str(&js), js.len);
    sbuf_release(&js);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    st = bulk_changes(ctx, "resource", "create", err);
    if (st == NULL)
        return TG_EINTERNAL;
    sbuf_init(&js, 0);
    jw_init(&w, &js);
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        jw_arr(&w);
        jw_int(&w, ++ctx->seq);
        jw_int(&w, v[i].id);
        jw_str(&w, json[i]);
        jw_arr_end(&w);
        core__fresh_note(ctx->engine, "resource", v[i].id, ctx->rev);
    }
    jw_arr_end(&w);
    st_textn(st, 7, sbuf_str(&js), js.len);
    sbuf_release(&js);
    rc = st_exec(st, err);
    if (rc == 0)
        atomic_fetch_add(&bulk_resources, n);
    return rc;
}

int core_resource_delete(struct core_ctx *ctx, const char *kind, const char *key,
                         struct tg_err *err)
{
    struct resource r;
    struct store_stmt *st;
    struct vec kids;
    size_t i;
    int rc = core_resource_get(ctx, kind, key, &r, err);

    if (rc)
        return rc;
    rc = core_rev(ctx, err);
    if (rc)
        return rc;
    /* Record each removed assignment, then close them all. */
    {
        struct assignment *as;
        size_t n;
        rc = core_assign_list(ctx, r.id, false, &as, &n, err);
        if (rc)
            return rc;
        for (i = 0; i < n; i++) {
            rc = core_change(ctx, "assignment", r.id, "remove",
                             arena_printf(ctx->a, "{\"resource_id\":%lld,\"tag_id\":%lld}",
                                          (long long)r.id, (long long)as[i].tag.id),
                             NULL, err);
            if (rc)
                return rc;
        }
    }
    st = st_get(ctx->conn, SQL_ASG_CLOSE_RES, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, r.id);
    st_int(st, 2, ctx->rev);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    vec_init(&kids, sizeof(int64_t));
    st = st_get(ctx->conn, SQL_RES_CHILDREN, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, r.id);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        *(int64_t *)vec_push(ctx, &kids) = col_int(st, 0);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    for (i = 0; i < kids.n; i++) {
        struct resource child, after;
        rc = core_resource_get_id(ctx, ((int64_t *)kids.items)[i], &child, err);
        if (rc)
            return rc;
        after = child;
        after.parent_id = 0;
        rc = res_save(ctx, &child, &after, "update", err);
        if (rc)
            return rc;
    }
    return core_versioned_remove(ctx, &res_rows, &r, "delete", err);
}

static void bind_res_filter(struct core_ctx *ctx, struct store_stmt *st,
                            const struct resource_filter *f)
{
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, f->kind);
    if (f->parent_id)
        st_int(st, 3, f->parent_id);
    if (f->tag_id)
        st_int(st, 4, f->tag_id);
    st_int(st, 5, f->archived);
}

static int collect_resources(struct core_ctx *ctx, struct store_stmt *st, int limit,
                             struct resource **out, size_t *n, bool *more, struct tg_err *err)
{
    struct vec v;
    int rc;

    vec_init(&v, sizeof(struct resource));
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_resource(ctx, st, 0, vec_push(ctx, &v));
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *more = v.n > (size_t)limit;
    if (*more)
        v.n = (size_t)limit;
    *out = v.items;
    *n = v.n;
    return 0;
}

int core_resource_list(struct core_ctx *ctx, const struct resource_filter *f,
                       struct resource **out, size_t *n, bool *more, int64_t *total,
                       struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_RES_LIST, err);
    int limit = f->limit > 0 ? f->limit : 100;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    bind_res_filter(ctx, st, f);
    st_int(st, 6, f->after_id);
    st_int(st, 7, limit + 1);
    rc = collect_resources(ctx, st, limit, out, n, more, err);
    if (rc || total == NULL)
        return rc;
    st = st_get(ctx->conn, SQL_RES_COUNT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    bind_res_filter(ctx, st, f);
    rc = st_step(st, err);
    if (rc == 1)
        *total = col_int(st, 0);
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core_tag_usage(struct core_ctx *ctx, const struct tag *t, bool descendants, int64_t after_id,
                   int limit, struct resource **out, size_t *n, bool *more, struct tg_err *err)
{
    const struct eng_snap *s = core_snap(ctx);
    struct store_stmt *st;
    int64_t *ids;
    size_t k;

    if (limit <= 0)
        limit = 100;
    ids = arena_alloc(ctx->a, ((size_t)limit + 1) * sizeof(*ids));
    if (s && eng_tag_usage(s, t->id, ctx->ws_id, descendants, after_id, (size_t)limit + 1, ids,
                           &k, NULL)) {
        /* Which resources: the engine's bitmaps. Their rows: the store, RES_BY_IDS ids per
         * statement (ascending chunks of ascending ids keep the page in id order); an id
         * deleted after the snapshot simply returns no row. */
        struct vec v;
        int rc = 0;
        vec_init(&v, sizeof(struct resource));
        *more = k > (size_t)limit;
        if (*more)
            k = (size_t)limit;
        for (size_t i = 0; i < k && rc == 0; i += RES_BY_IDS) {
            st = st_get(ctx->conn, SQL_RES_BY_IDS, err);
            if (st == NULL)
                return TG_EINTERNAL;
            st_int(st, 1, ctx->ws_id);
            for (size_t j = 0; j < RES_BY_IDS; j++) {
                if (i + j < k)
                    st_int(st, 2 + (int)j, ids[i + j]);
                else
                    st_null(st, 2 + (int)j);
            }
            while ((rc = st_step(st, err)) == 1)
                row_resource(ctx, st, 0, vec_push(ctx, &v));
            st_reset(st);
        }
        if (rc < 0)
            return rc;
        *out = v.items;
        *n = v.n;
        return 0;
    }
    st = st_get(ctx->conn, SQL_TAG_USAGE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, t->id);
    st_int(st, 2, descendants ? 1 : 0);
    st_text(st, 3, t->name_key);
    st_int(st, 4, after_id);
    st_int(st, 5, ctx->ws_id);
    st_int(st, 6, limit + 1);
    return collect_resources(ctx, st, limit, out, n, more, err);
}

int core_tag_usage_total(struct core_ctx *ctx, const struct tag *t, bool descendants,
                         int64_t *total, struct tg_err *err)
{
    const struct eng_snap *s = core_snap(ctx);
    struct store_stmt *st;
    size_t k;
    int rc;

    /* The same source as core_tag_usage's ids, so the total agrees with the pages. */
    if (s && eng_tag_usage(s, t->id, ctx->ws_id, descendants, -1, 0, NULL, &k, total))
        return 0;
    st = st_get(ctx->conn, SQL_TAG_USAGE_COUNT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, t->id);
    st_int(st, 2, descendants ? 1 : 0);
    st_text(st, 3, t->name_key);
    st_int(st, 4, ctx->ws_id);
    rc = st_step(st, err);
    *total = rc == 1 ? col_int(st, 0) : 0;
    st_reset(st);
    return rc < 0 ? rc : 0;
}

/* ---- assignments ---- */

static int list_direct(struct core_ctx *ctx, int64_t resource_id, struct vec *v,
                       int64_t from_id, const char *from_kind, const char *from_key,
                       struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASG_LIST, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, resource_id);
    for (;;) {
        struct assignment *a;
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        a = vec_push(ctx, v);
        a->id = a->seq = col_int(st, 0);
        a->resource_id = col_int(st, 1);
        a->context = col_dup(ctx, st, 2);
        a->added_by = col_dup(ctx, st, 3);
        a->added_at = col_int(st, 4);
        row_tag(ctx, st, 5, &a->tag);
        a->inherited_from = from_id;
        a->from_kind = from_kind;
        a->from_key = from_key;
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core_assign_list(struct core_ctx *ctx, int64_t resource_id, bool effective,
                     struct assignment **out, size_t *n, struct tg_err *err)
{
    const struct eng_snap *s = core_snap(ctx);
    struct eng_asg *ea;
    size_t k;
    struct vec v;
    int rc;

    /* MAX_DEPTH ancestors above the resource itself, as the SQL walk below. */
    if (s && eng_assignments(s, ctx->a, ctx->ws_id, resource_id, effective, MAX_DEPTH + 1, &ea,
                              &k)) {
        struct assignment *as = arena_alloc(ctx->a, (k ? k : 1) * sizeof(*as));
        for (size_t i = 0; i < k; i++) {
            memset(&as[i], 0, sizeof(as[i]));
            as[i].seq = ea[i].seq; /* id stays 0: the engine keeps ranks, not ids */
            as[i].resource_id = ea[i].resource_id;
            as[i].added_at = ea[i].added_at;
            as[i].tag = *ea[i].tag;
            as[i].context = ea[i].context;
            as[i].added_by = ea[i].added_by;
            as[i].inherited_from = ea[i].from_id;
            as[i].from_kind = ea[i].from_kind;
            as[i].from_key = ea[i].from_key;
        }
        *out = as;
        *n = k;
        return 0;
    }
    vec_init(&v, sizeof(struct assignment));
    rc = list_direct(ctx, resource_id, &v, 0, NULL, NULL, err);
    if (rc)
        return rc;
    if (effective) {
        struct conflict_pols pols;
        size_t kept;
        int64_t id = parent_of(ctx, resource_id);
        for (int depth = 0; id && depth < MAX_DEPTH; depth++) {
            struct resource anc;
            rc = core_resource_get_id(ctx, id, &anc, err);
            if (rc)
                return rc;
            rc = list_direct(ctx, anc.id, &v, anc.id, anc.kind, anc.key, err);
            if (rc)
                return rc;
            id = anc.parent_id;
        }
        /* Every level's tags were listed: the groups' policies decide which stay, then a tag
         * keeps its nearest entry. */
        rc = core__conflict_pols(ctx, &pols, err);
        if (rc)
            return rc;
        kept = v.n;
        core__conflict_resolve(ctx, &pols, v.items, &kept);
        v.n = kept;
    }
    *out = v.items;
    *n = v.n;
    return 0;
}

/* Byte order of name_key, as ORDER BY name_key on both stores (PostgreSQL: COLLATE "C"). */
static int cmp_name_key(const void *x, const void *y)
{
    const struct assignment *a = x, *b = y;
    int c = strcmp(a->tag.name_key, b->tag.name_key);
    return c ? c : (a->tag.id > b->tag.id) - (a->tag.id < b->tag.id);
}

static void list_out(struct vec *cur, struct assignment **out, size_t *nout)
{
    if (out == NULL)
        return;
    if (cur->n > 1)
        qsort(cur->items, cur->n, sizeof(struct assignment), cmp_name_key);
    *out = cur->items;
    *nout = cur->n;
}

/* The resource's current tags, unsorted. */
static int list_brief(struct core_ctx *ctx, int64_t resource_id, struct vec *out,
                      struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASG_LIST_BRIEF, err);
    struct vec v;
    int rc;

    vec_init(out, sizeof(struct assignment));
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct assignment));
    st_int(st, 1, resource_id);
    while ((rc = st_step(st, err)) == 1) {
        struct assignment *a = vec_push(ctx, &v);
        memset(a, 0, sizeof(*a));
        a->id = a->seq = col_int(st, 0);
        a->resource_id = col_int(st, 1);
        a->context = col_dup(ctx, st, 2);
        a->added_by = col_dup(ctx, st, 3);
        a->added_at = col_int(st, 4);
        a->tag.id = col_int(st, 5);
        a->tag.name = col_dup(ctx, st, 6);
        a->tag.display_name = col_dup(ctx, st, 7);
        a->tag.color = col_dup(ctx, st, 8);
        a->tag.name_key = col_dup(ctx, st, 9);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *out = v;
    return 0;
}

/* The resource's current tags for a write (unsorted): from the engine when it is current for
 * the resource (core_writer_snap), else from the store. The engine keeps ranks, not ids:
 * `seq` orders the tags as they were assigned and `id` stays 0, as on every engine read. The
 * strings are copied: the answer is written after the snapshot is released. */
static int list_current(struct core_ctx *ctx, int64_t resource_id, struct vec *out,
                        struct tg_err *err)
{
    const struct eng_snap *s = ctx->writing ? core_writer_snap(ctx, resource_id) : NULL;
    struct eng_asg *ea;
    size_t k;

    if (s == NULL)
        return list_brief(ctx, resource_id, out, err);
    if (!eng_assignments(s, ctx->a, ctx->ws_id, resource_id, false, 1, &ea, &k)) {
        engine_release(ctx->engine, s);
        return list_brief(ctx, resource_id, out, err);
    }
    vec_init(out, sizeof(struct assignment));
    for (size_t i = 0; i < k; i++) {
        struct assignment *a = vec_push(ctx, out);
        memset(a, 0, sizeof(*a));
        a->seq = ea[i].seq;
        a->resource_id = resource_id;
        a->context = arena_strdup(ctx->a, ea[i].context);
        a->added_by = arena_strdup(ctx->a, ea[i].added_by);
        a->added_at = ea[i].added_at;
        a->tag.id = ea[i].tag->id;
        a->tag.name = arena_strdup(ctx->a, ea[i].tag->name);
        a->tag.display_name = arena_strdup(ctx->a, ea[i].tag->display_name);
        a->tag.color = arena_strdup(ctx->a, ea[i].tag->color);
        a->tag.name_key = arena_strdup(ctx->a, ea[i].tag->name_key);
    }
    engine_release(ctx->engine, s);
    return 0;
}

int core_assign_list_brief(struct core_ctx *ctx, int64_t resource_id, struct assignment **out,
                           size_t *n, struct tg_err *err)
{
    struct vec v;
    int rc = list_brief(ctx, resource_id, &v, err);

    if (rc == 0)
        list_out(&v, out, n);
    return rc;
}

static int assigned(struct core_ctx *ctx, int64_t resource_id, int64_t tag_id, bool *yes,
                    struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASG_EXISTS, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, resource_id);
    st_int(st, 2, tag_id);
    rc = st_step(st, err);
    st_reset(st);
    *yes = rc == 1;
    return rc < 0 ? rc : 0;
}

/* Acquires the engine's snapshot for counting what a change of resource_id (and of `also`,
 * 0 for none) does to effective tags: once it holds every commit that touched their trees. */
static const struct eng_snap *counting_snap(struct core_ctx *ctx, int64_t resource_id,
                                            int64_t also)
{
    const struct eng_snap *s = engine_acquire(ctx->engine);
    int64_t wait;

    if (!core__fresh_tree(s, resource_id, &wait) || (also && !core__fresh_tree(s, also, &wait))) {
        /* The publisher has yet to apply a commit that touched this tree (txn/txn.c): wait
         * for it rather than count from an older tree. */
        engine_release(ctx->engine, s);
        if (!engine_wait(ctx->engine, wait, 2000))
            log_warn("inherited changes of resource %lld counted without revision %lld",
                     (long long)resource_id, (long long)wait);
        s = engine_acquire(ctx->engine);
    }
    return s;
}

/* Writes the member "inherited" of the record of resource `resource_id` moved from under
 * m->from to under m->to (0: none), or deleted (m->self_only): the tags its ancestors gained
 * or lost, each with whether the resource's own effective tags change and which of its
 * descendants' do (docs/events.md, "Moves and deletes"). Counted from the engine's index of
 * the commits before this transaction, as an assignment's (inherited). Not written when the
 * engine does not know the resource (made by the same write: it has no descendants there). */
static void moved(struct core_ctx *ctx, int64_t resource_id, const struct move *m, struct jw *w)
{
    const struct eng_snap *s;
    struct eng_moved mv;
    int64_t cap = core_limits.events_effective_max;

    if (ctx->engine == NULL)
        return;
    s = counting_snap(ctx, resource_id, m->to);
    if (!eng_moved(s, resource_id, m->from, m->to, (size_t)cap, m->self_only, &mv)) {
        engine_release(ctx->engine, s);
        return;
    }
    jw_key(w, "inherited");
    jw_obj(w);
    jw_kint(w, "root", resource_id);
    jw_key(w, "from");
    if (m->from)
        jw_int(w, m->from);
    else
        jw_null(w);
    jw_key(w, "to");
    if (m->to)
        jw_int(w, m->to);
    else
        jw_null(w);
    jw_kbool(w, "self", mv.self);
    jw_kint(w, "descendants", mv.descendants);
    jw_key(w, "tags");
    jw_arr(w);
    for (size_t k = 0; k < mv.ntags; k++) {
        const struct eng_moved_tag *x = &mv.tags[k];
        const struct tag *t = eng_tag_record(s, x->tag_id);
        jw_obj(w);
        jw_kint(w, "tag_id", x->tag_id);
        jw_kstr(w, "tag", t ? t->name_key : NULL);
        jw_kstr(w, "op", x->add ? "add" : "remove");
        jw_kbool(w, "self", x->self);
        jw_kint(w, "descendants", x->descendants);
        if (mv.listed) {
            jw_key(w, "resources");
            jw_arr(w);
            for (int64_t i = 0; i < x->descendants; i++)
                jw_int(w, x->ids[i]);
            jw_arr_end(w);
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    engine_release(ctx->engine, s);
    eng_moved_release(&mv);
}

/* Writes the member "inherited" of an assignment record of tag `tag_id` on `resource_id`: what
 * the change does to effective tags below the resource (docs/events.md, "Inherited changes"),
 * from the engine's index of the commits before this transaction (so not counting this
 * transaction's own earlier changes: a batch is counted change by change as if alone). Written
 * only when the resource has descendants or already inherited the tag (a record without it:
 * the resource's own effective tags changed, no one else's), and not at all when the engine
 * does not know the pair. The ids are listed up to core_limits.events_effective_max, and
 * left out beyond it, so that a record stays small. */
static void inherited(struct core_ctx *ctx, int64_t resource_id, int64_t tag_id, struct jw *w)
{
    const struct eng_snap *s;
    struct eng_inherited in;
    int64_t cap = core_limits.events_effective_max, *ids = NULL;
    bool ok;

    if (ctx->engine == NULL)
        return;
    s = counting_snap(ctx, resource_id, 0);
    ok = eng_inherited(s, resource_id, tag_id, &in, NULL, 0);
    if (ok && in.descendants > 0 && in.descendants <= cap) {
        /* Again with room for the ids: a folder's subtree is walked twice, a file's never. */
        ids = xmalloc((size_t)in.descendants * sizeof(*ids));
        ok = eng_inherited(s, resource_id, tag_id, &in, ids, (size_t)in.descendants);
    }
    engine_release(ctx->engine, s);
    if (ok && (in.has_children || !in.self)) {
        assert(in.self || in.descendants == 0);
        jw_key(w, "inherited");
        jw_obj(w);
        jw_kint(w, "root", resource_id);
        jw_kbool(w, "self", in.self);
        jw_kint(w, "descendants", in.descendants);
        if (in.descendants <= cap) {
            jw_key(w, "resources");
            jw_arr(w);
            for (size_t i = 0; i < in.nids; i++)
                jw_int(w, ids[i]);
            jw_arr_end(w);
        }
        jw_obj_end(w);
    }
    xfree(ids);
}

static int add_one(struct core_ctx *ctx, int64_t resource_id, const struct tag *t,
                   const char *context, int64_t expires_at, int64_t *id, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = core_rev(ctx, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_ASG_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, resource_id);
    st_int(st, 2, t->id);
    st_text(st, 3, context ? context : "manual");
    st_text(st, 4, core_actor(ctx));
    st_int(st, 5, ctx->now);
    st_int(st, 6, ctx->rev);
    if (expires_at) {
        st_int(st, 7, expires_at);
        /* The write pipeline learns of it before the commit, so that reads never miss the
         * moment it is due (txn.c, "expiry"). */
        if (ctx->expiry_added == 0 || expires_at < ctx->expiry_added)
            ctx->expiry_added = expires_at;
    }
    rc = st_step(st, err);
    if (rc == 1)
        *id = col_int(st, 0);
    st_reset(st);
    if (rc < 0)
        return rc;
    {
        /* The writer escapes the name: a tag name may hold quotes and backslashes. */
        struct sbuf b;
        struct jw w;
        const char *after;
        sbuf_init(&b, 0);
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kint(&w, "resource_id", resource_id);
        jw_kint(&w, "tag_id", t->id);
        jw_kstr(&w, "tag", t->name_key);
        /* With the change's principal and time, the whole row: the engine applies the add
         * from this record without reading the resource's assignments again. */
        jw_kint(&w, "id", *id);
        jw_kstr(&w, "context", context ? context : "manual");
        if (expires_at)
            jw_kint(&w, "expires_at", expires_at);
        inherited(ctx, resource_id, t->id, &w);
        jw_obj_end(&w);
        after = arena_strndup(ctx->a, sbuf_str(&b), b.len);
        sbuf_release(&b);
        return core_change(ctx, "assignment", resource_id, "add", NULL, after, err);
    }
}

/* Checks exclusive groups for `t` against what the resource holds now. */
static int check_exclusive(struct core_ctx *ctx, int64_t resource_id, const struct tag *t,
                           struct tg_err *err)
{
    struct group g;
    struct store_stmt *st;
    int rc;

    if (!t->group_id)
        return 0;
    rc = core_group_get(ctx, t->group_id, &g, err);
    if (rc)
        return rc == TG_ENOTFOUND ? 0 : rc;
    if (!g.exclusive)
        return 0;
    if (core__group_policy(&g) == CONFLICT_REJECT) {
        rc = core__conflict_check_add(ctx, resource_id, t, &g, err);
        if (rc)
            return rc;
    }
    st = st_get(ctx->conn, SQL_ASG_GROUP_OTHER, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, resource_id);
    st_int(st, 2, g.id);
    st_int(st, 3, t->id);
    rc = st_step(st, err);
    if (rc == 1) {
        const char *other = col_dup(ctx, st, 0);
        st_reset(st);
        return tg_err_set(err, TG_ECONFLICT, "tags",
                          "group '%s' is exclusive: the resource already has '%s', so '%s' cannot be added",
                          g.name, other, t->name);
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

/* Adds to a resource whose current tags are `cur` (core_assign_list_brief, unsorted), and keeps
 * `cur` current: a write answers with the resource's tags without reading its rows back, and
 * `cur` answers "already there?" and the count for the limit without a query each. */
static int add_tracked(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids,
                       size_t n, const char *context, int64_t expires_at, struct vec *cur,
                       struct tg_err *err)
{
    size_t i, k, added = 0;
    int rc;

    if (n > (size_t)core_limits.max_batch)
        return tg_err_set(err, TG_ELIMIT, "tags", "more than %d tags in one request",
                          core_limits.max_batch);
    context = context ? context : "manual";
    for (i = 0; i < n; i++) {
        struct assignment *a = cur->items;
        struct tag t;
        int64_t id = 0;
        bool yes = false;
        rc = core_tag_get(ctx, tag_ids[i], &t, err);
        if (rc)
            return rc;
        if (t.deleted)
            return tg_err_set(err, TG_ENOTFOUND, "tags", "tag '%s' is deleted", t.name);
        /* `cur` holds the tags that are not deleted: for a live tag, being in it is being on
         * the resource. */
        for (k = 0; k < cur->n && !yes; k++)
            yes = a[k].tag.id == t.id;
        if (yes)
            continue;
        /* Who may assign what (assign_rights.c): every dialect's adds come through here. */
        rc = core_assign_tag_allowed(ctx, &t, true, err);
        if (rc)
            return rc;
        rc = core_tag_assignable(ctx, &t, err);
        if (rc)
            return rc;
        rc = check_exclusive(ctx, resource_id, &t, err);
        if (rc)
            return rc;
        rc = add_one(ctx, resource_id, &t, context, expires_at, &id, err);
        if (rc)
            return rc;
        added++;
        /* As core_assign_list_brief would read it back. The answer is written after the
         * commit, from the request's arena: nothing may point into the request body. */
        a = vec_push(ctx, cur);
        memset(a, 0, sizeof(*a));
        a->id = a->seq = id;
        a->resource_id = resource_id;
        a->context = arena_strdup(ctx->a, context);
        a->added_by = arena_strdup(ctx->a, core_actor(ctx));
        a->added_at = ctx->now;
        a->tag.id = t.id;
        a->tag.name = t.name;
        a->tag.display_name = t.display_name;
        a->tag.color = t.color;
        a->tag.name_key = t.name_key;
    }
    /* Only an add can push the resource over the limit. */
    if (added && cur->n > (size_t)core_limits.max_tags_per_resource)
        return tg_err_set(err, TG_ERULE, "tags", "a resource may carry at most %d tags",
                          core_limits.max_tags_per_resource);
    return 0;
}

int core_assign_add(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids, size_t n,
                    const char *context, struct assignment **out, size_t *nout,
                    struct tg_err *err)
{
    return core_assign_add_until(ctx, resource_id, tag_ids, n, context, 0, out, nout, err);
}

int core_assign_add_until(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids,
                          size_t n, const char *context, int64_t expires_at,
                          struct assignment **out, size_t *nout, struct tg_err *err)
{
    struct vec cur;
    bool policies = false;
    size_t before;
    int rc = core_assign_scope(ctx, resource_id, err);

    if (rc == 0)
        rc = list_current(ctx, resource_id, &cur, err);
    if (rc == 0)
        rc = core__policy_enforced(ctx, &policies, err);
    if (rc)
        return rc;
    before = cur.n;
    rc = add_tracked(ctx, resource_id, tag_ids, n, context, expires_at, &cur, err);
    /* An add only appends to `cur`: its first `before` entries are the tags before it. */
    if (rc == 0 && policies && cur.n > before)
        rc = core__policy_check(ctx, resource_id, cur.items, before, cur.items, cur.n, err);
    if (rc == 0)
        list_out(&cur, out, nout);
    return rc;
}

/* Closes an assignment the caller knows is current. */
int core__assign_close(struct core_ctx *ctx, int64_t resource_id, int64_t tag_id,
                       struct tg_err *err)
{
    struct store_stmt *st;
    int rc = core_rev(ctx, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_ASG_CLOSE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, resource_id);
    st_int(st, 2, tag_id);
    st_int(st, 3, ctx->rev);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    {
        struct sbuf b;
        struct jw w;
        const char *before;
        sbuf_init(&b, 0);
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kint(&w, "resource_id", resource_id);
        jw_kint(&w, "tag_id", tag_id);
        inherited(ctx, resource_id, tag_id, &w);
        jw_obj_end(&w);
        before = arena_strndup(ctx->a, sbuf_str(&b), b.len);
        sbuf_release(&b);
        return core_change(ctx, "assignment", resource_id, "remove", before, NULL, err);
    }
}

int core__asg_add_one(struct core_ctx *ctx, int64_t resource_id, const struct tag *t,
                      const char *context, int64_t expires_at, struct tg_err *err)
{
    int64_t id;
    struct group g;
    int rc;

    /* A merge moves assignments onto `t`: a reject group refuses the ones that would
     * conflict, as it refuses an assignment. */
    if (t->group_id) {
        rc = core_group_get(ctx, t->group_id, &g, err);
        if (rc && rc != TG_ENOTFOUND)
            return rc;
        if (rc == 0 && core__group_policy(&g) == CONFLICT_REJECT) {
            rc = core__conflict_check_add(ctx, resource_id, t, &g, err);
            if (rc)
                return rc;
        }
    }
    return add_one(ctx, resource_id, t, context, expires_at, &id, err);
}

int core__asg_remove_one(struct core_ctx *ctx, int64_t resource_id, int64_t tag_id,
                         struct tg_err *err)
{
    return core__assign_close(ctx, resource_id, tag_id, err);
}

int core_assign_remove(struct core_ctx *ctx, int64_t resource_id, int64_t tag_id,
                       struct tg_err *err)
{
    struct tag t;
    bool yes, policies;
    int rc = core_assign_scope(ctx, resource_id, err);

    if (rc == 0)
        rc = assigned(ctx, resource_id, tag_id, &yes, err);
    if (rc)
        return rc;
    if (!yes)
        return tg_err_set(err, TG_ENOTFOUND, "tag", "tag is not on this resource");
    if (ctx->authed && !ctx->assign_unchecked) {
        rc = core_tag_get(ctx, tag_id, &t, err);
        if (rc == 0)
            rc = core_assign_tag_allowed(ctx, &t, false, err);
        if (rc)
            return rc;
    }
    rc = core__policy_enforced(ctx, &policies, err);
    if (rc)
        return rc;
    if (policies) {
        struct vec cur, after;
        rc = list_current(ctx, resource_id, &cur, err);
        if (rc)
            return rc;
        vec_init(&after, sizeof(struct assignment));
        for (size_t i = 0; i < cur.n; i++)
            if (((struct assignment *)cur.items)[i].tag.id != tag_id)
                *(struct assignment *)vec_push(ctx, &after) = ((struct assignment *)cur.items)[i];
        rc = core__policy_check(ctx, resource_id, cur.items, cur.n, after.items, after.n, err);
        if (rc)
            return rc;
    }
    return core__assign_close(ctx, resource_id, tag_id, err);
}

int core_assign_replace(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids,
                        size_t n, const char *context, struct assignment **out, size_t *nout,
                        struct tg_err *err)
{
    return core_assign_replace_until(ctx, resource_id, tag_ids, n, context, 0, out, nout, err);
}

int core_assign_replace_until(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids,
                              size_t n, const char *context, int64_t expires_at,
                              struct assignment **out, size_t *nout, struct tg_err *err)
{
    struct vec cur;
    struct assignment *before = NULL;
    size_t i, j, kept = 0, nbefore = 0;
    bool policies;
    int rc = core_assign_scope(ctx, resource_id, err);

    if (rc == 0)
        rc = list_current(ctx, resource_id, &cur, err);
    if (rc)
        return rc;
    rc = core__policy_enforced(ctx, &policies, err);
    if (rc)
        return rc;
    if (policies) {
        /* The removals below overwrite `cur` in place: the check needs it as it was. */
        nbefore = cur.n;
        before = arena_alloc(ctx->a, (nbefore ? nbefore : 1) * sizeof(*before));
        if (nbefore)
            memcpy(before, cur.items, nbefore * sizeof(*before));
    }
    /* Removals first, so that an exclusive group can switch to another of its tags. */
    for (i = 0; i < cur.n; i++) {
        struct assignment *a = (struct assignment *)cur.items + i;
        bool keep = false;
        for (j = 0; j < n && !keep; j++)
            keep = tag_ids[j] == a->tag.id;
        if (keep) {
            ((struct assignment *)cur.items)[kept++] = *a;
            continue;
        }
        /* A replace that drops a tag removes it: the same rights as a removal. */
        rc = core_assign_tag_allowed(ctx, &a->tag, false, err);
        if (rc)
            return rc;
        /* It is in `cur`: current, no need to ask the store again. */
        rc = core__assign_close(ctx, resource_id, a->tag.id, err);
        if (rc)
            return rc;
    }
    cur.n = kept;
    rc = add_tracked(ctx, resource_id, tag_ids, n, context, expires_at, &cur, err);
    if (rc == 0 && policies)
        rc = core__policy_check(ctx, resource_id, before, nbefore, cur.items, cur.n, err);
    if (rc == 0)
        list_out(&cur, out, nout);
    return rc;
}

int core_counts(struct core_ctx *ctx, int64_t *tags, int64_t *resources, int64_t *assignments)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_COUNT_ALL, NULL);
    if (st == NULL)
        return TG_EINTERNAL;
    if (st_step(st, NULL) == 1) {
        *tags = col_int(st, 0);
        *resources = col_int(st, 1);
        *assignments = col_int(st, 2);
    }
    st_reset(st);
    return 0;
}

/* ---- bulk adds (an import's chunk) ---- */

/* For core_assign_bulk_stats. */
static _Atomic uint64_t bulk_rows_many, bulk_rows_single;

void core_assign_bulk_stats(uint64_t *bulk, uint64_t *single)
{
    *bulk = atomic_load(&bulk_rows_many);
    *single = atomic_load(&bulk_rows_single);
}

/* An add of core_assign_add_bulk waiting for its statement. */
struct bulk_row {
    int64_t rid, tag_id, id;
    size_t slot; /* its resource's in bulk.rids */
    const struct tag *t;
    const char *context;
};

/* The tags of one bulk call by id, each read and checked once (arena). */
#define BULK_TAG_BUCKETS 256
struct bulk_tag {
    struct tag t;
    bool checked; /* assignable, and no exclusive group: may go in a multi-row insert */
    int rc;       /* the refusal of core_tag_assignable, when checked is false */
    struct tg_err err;
    struct bulk_tag *next;
};

/* A power of two above twice XCHG_BULK_ROWS: probes stay short. */
#define BULK_RID_SLOTS 32768
_Static_assert(BULK_RID_SLOTS >= 2 * XCHG_BULK_ROWS &&
                   (BULK_RID_SLOTS & (BULK_RID_SLOTS - 1)) == 0,
               "the resource set must stay at most half full");
struct bulk {
    struct core_ctx *ctx;
    /* The workspace has enforced tag policies: every item takes the one-at-a-time path,
     * which checks them against the resource's tags before and after (core/policies.c). */
    bool policies;
    struct bulk_tag *tags[BULK_TAG_BUCKETS];
    struct bulk_row rows[XCHG_BULK_ROWS];
    size_t n;
    /* The resources of rows[0..n), open addressing (0: a free slot). An item whose resource
     * has rows waiting flushes them first, so that the rows it reads (list_current) are all
     * the resource has: a tag already added is not added again, and the limit of tags per
     * resource counts every one. Emptied at each flush. */
    int64_t rids[BULK_RID_SLOTS];
};

static int bulk_tag(struct bulk *b, int64_t id, struct bulk_tag **out, struct tg_err *err)
{
    struct bulk_tag *x;
    struct group g;
    int rc;

    for (x = b->tags[(uint64_t)id % BULK_TAG_BUCKETS]; x; x = x->next)
        if (x->t.id == id) {
            *out = x;
            return 0;
        }
    x = arena_zalloc(b->ctx->a, sizeof(*x));
    rc = core_tag_get(b->ctx, id, &x->t, err);
    if (rc)
        return rc;
    if (x->t.deleted)
        return tg_err_set(err, TG_ENOTFOUND, "tags", "tag '%s' is deleted", x->t.name);
    tg_err_clear(&x->err);
    x->rc = core_tag_assignable(b->ctx, &x->t, &x->err);
    x->checked = x->rc == 0;
    if (x->checked && x->t.group_id) {
        /* An exclusive group is checked against the rows as they are: the one-at-a-time
         * path, after what waits is written. */
        rc = core_group_get(b->ctx, x->t.group_id, &g, err);
        if (rc && rc != TG_ENOTFOUND)
            return rc;
        tg_err_clear(err);
        x->checked = rc == TG_ENOTFOUND || !g.exclusive;
    }
    if (x->checked) {
        /* A tag the principal may not add (its assign list, a restricted subtree): the
         * one-at-a-time path refuses it, naming why. */
        struct tg_err no;
        tg_err_clear(&no);
        x->checked = core_assign_tag_allowed(b->ctx, &x->t, true, &no) == 0;
    }
    x->next = b->tags[(uint64_t)id % BULK_TAG_BUCKETS];
    b->tags[(uint64_t)id % BULK_TAG_BUCKETS] = x;
    *out = x;
    return 0;
}

static size_t rid_slot(const struct bulk *b, int64_t rid)
{
    size_t i = (size_t)(((uint64_t)rid * 0x9e3779b97f4a7c15ULL) >> 40) & (BULK_RID_SLOTS - 1);

    while (b->rids[i] && b->rids[i] != rid)
        i = (i + 1) & (BULK_RID_SLOTS - 1);
    return i;
}

/* Fewer waiting adds than this go one at a time: a one-row insert has no statement journal
 * (store/sql_interchange.h). */
#define BULK_MIN_ROWS 8

/* Writes the waiting adds: one statement for all of them (fewer than BULK_MIN_ROWS one at a
 * time), then their change records as add_one writes them, in the same order. */
static int bulk_flush(struct bulk *b, struct tg_err *err)
{
    struct core_ctx *ctx = b->ctx;
    struct store_stmt *st;
    struct sbuf js;
    struct jw w;
    int64_t got = 0;
    int rc;

    if (b->n == 0)
        return 0;
    /* Every resource in the set is a waiting row's: the set is empty after this. */
    for (size_t i = 0; i < b->n; i++)
        b->rids[b->rows[i].slot] = 0;
    if (b->n < BULK_MIN_ROWS) {
        for (size_t i = 0; i < b->n; i++) {
            rc = add_one(ctx, b->rows[i].rid, b->rows[i].t, b->rows[i].context, 0,
                         &b->rows[i].id, err);
            if (rc)
                return rc;
        }
        atomic_fetch_add(&bulk_rows_single, b->n);
        b->n = 0;
        return 0;
    }
    /* The revision is taken by the first write only: a chunk that changes nothing has none. */
    rc = core_rev(ctx, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_XCHG_ASG_INSERT_BULK, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, core_actor(ctx));
    st_int(st, 2, ctx->now);
    st_int(st, 3, ctx->rev);
    sbuf_init(&js, 0);
    jw_init(&w, &js);
    jw_arr(&w);
    for (size_t i = 0; i < b->n; i++) {
        jw_arr(&w);
        jw_int(&w, b->rows[i].rid);
        jw_int(&w, b->rows[i].tag_id);
        jw_str(&w, b->rows[i].context);
        jw_arr_end(&w);
        b->rows[i].id = 0;
    }
    jw_arr_end(&w);
    st_textn(st, 4, sbuf_str(&js), js.len);
    sbuf_release(&js);
    while ((rc = st_step(st, err)) == 1) {
        int64_t id = col_int(st, 0), rid = col_int(st, 1), tid = col_int(st, 2);
        /* Mostly in order: the row at the count first. */
        size_t k = (size_t)got < b->n ? (size_t)got : 0;
        if (b->rows[k].rid != rid || b->rows[k].tag_id != tid)
            for (k = 0; k < b->n; k++)
                if (b->rows[k].rid == rid && b->rows[k].tag_id == tid)
                    break;
        if (k == b->n || b->rows[k].id) {
            st_reset(st);
            return tg_err_set(err, TG_EINTERNAL, "tags", "a bulk insert returned a row not asked for");
        }
        b->rows[k].id = id;
        got++;
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (got != (int64_t)b->n)
        return tg_err_set(err, TG_EINTERNAL, "tags", "a bulk insert returned %lld rows of %zu",
                          (long long)got, b->n);
    st = bulk_changes(ctx, "assignment", "add", err);
    if (st == NULL)
        return TG_EINTERNAL;
    sbuf_init(&js, 0);
    jw_init(&w, &js);
    jw_arr(&w);
    for (size_t i = 0; i < b->n; i++) {
        const struct bulk_row *x = &b->rows[i];
        struct sbuf sb;
        struct jw rw;
        /* The record add_one writes, member for member. */
        sbuf_init(&sb, 0);
        jw_init(&rw, &sb);
        jw_obj(&rw);
        jw_kint(&rw, "resource_id", x->rid);
        jw_kint(&rw, "tag_id", x->tag_id);
        jw_kstr(&rw, "tag", x->t->name_key);
        jw_kint(&rw, "id", x->id);
        jw_kstr(&rw, "context", x->context);
        inherited(ctx, x->rid, x->tag_id, &rw);
        jw_obj_end(&rw);
        jw_arr(&w);
        jw_int(&w, ++ctx->seq);
        jw_int(&w, x->rid);
        jw_strn(&w, sbuf_str(&sb), sb.len);
        jw_arr_end(&w);
        sbuf_release(&sb);
        core__fresh_note(ctx->engine, "assignment", x->rid, ctx->rev);
    }
    jw_arr_end(&w);
    st_textn(st, 7, sbuf_str(&js), js.len);
    sbuf_release(&js);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    atomic_fetch_add(&bulk_rows_many, b->n);
    b->n = 0;
    return 0;
}

int core_assign_add_bulk(struct core_ctx *ctx, const struct core_bulk_add *v, size_t nv,
                         size_t *failed, struct tg_err *err)
{
    struct bulk *b = arena_zalloc(ctx->a, sizeof(*b));
    size_t i = 0, at = 0;
    int rc;

    b->ctx = ctx;
    rc = core__policy_enforced(ctx, &b->policies, err);
    for (i = 0; i < nv && rc == 0; i++) {
        const struct core_bulk_add *x = &v[i];
        at = i;
        const char *context = x->context ? x->context : "manual";
        struct vec cur;
        int64_t *mine; /* the tags this item adds, added of them */
        size_t added = 0;
        bool simple = true;

        if (x->n > (size_t)core_limits.max_batch) {
            rc = tg_err_set(err, TG_ELIMIT, "tags", "more than %d tags in one request",
                            core_limits.max_batch);
            break;
        }
        rc = core_assign_scope(ctx, x->resource_id, err);
        if (rc)
            break;
        simple = !b->policies;
        for (size_t k = 0; k < x->n && rc == 0 && simple; k++) {
            struct bulk_tag *t;
            rc = bulk_tag(b, x->tag_ids[k], &t, err);
            if (rc == 0 && !t->checked)
                simple = false;
        }
        if (rc)
            break;
        if (!simple) {
            /* A rule to check against the rows (an exclusive group), or a refusal to give
             * for the tag already there or not: as a single add would. */
            rc = bulk_flush(b, err);
            if (rc == 0)
                rc = core_assign_add(ctx, x->resource_id, x->tag_ids, x->n, context, NULL,
                                     NULL, err);
            continue;
        }
        if (b->rids[rid_slot(b, x->resource_id)]) {
            rc = bulk_flush(b, err);
            if (rc)
                break;
        }
        rc = list_current(ctx, x->resource_id, &cur, err);
        if (rc)
            break;
        mine = arena_alloc(ctx->a, (x->n ? x->n : 1) * sizeof(*mine));
        for (size_t k = 0; k < x->n; k++) {
            const struct assignment *a = cur.items;
            struct bulk_tag *t;
            bool yes = false;
            size_t slot;
            (void)bulk_tag(b, x->tag_ids[k], &t, err); /* found above */
            for (size_t j = 0; j < cur.n && !yes; j++)
                yes = a[j].tag.id == t->t.id;
            /* A tag twice in one item counts once (a flush in between wrote the first). */
            for (size_t j = 0; j < added && !yes; j++)
                yes = mine[j] == t->t.id;
            if (yes)
                continue;
            if (b->n == XCHG_BULK_ROWS) {
                rc = bulk_flush(b, err);
                if (rc)
                    break;
            }
            assert(x->resource_id > 0); /* 0 marks a free slot */
            slot = rid_slot(b, x->resource_id);
            b->rids[slot] = x->resource_id;
            b->rows[b->n].slot = slot;
            b->rows[b->n].rid = x->resource_id;
            b->rows[b->n].tag_id = t->t.id;
            b->rows[b->n].t = &t->t;
            b->rows[b->n].context = context;
            b->n++;
            mine[added++] = t->t.id;
        }
        if (rc == 0 && added && cur.n + added > (size_t)core_limits.max_tags_per_resource)
            rc = tg_err_set(err, TG_ERULE, "tags", "a resource may carry at most %d tags",
                            core_limits.max_tags_per_resource);
    }
    /* A failed flush names the last item: the writes of any item waiting may have failed. */
    if (rc == 0)
        rc = bulk_flush(b, err);
    if (rc && failed)
        *failed = at;
    return rc;
}
