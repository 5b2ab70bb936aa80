/* core/history.c: reads of the model as it was at a past revision (see history.h).
 *
 * The current state and the state at a revision are answered by sibling statements that differ
 * only in where rows come from (current tables, or the version valid at the revision), so both
 * paths apply the same rules: direct assignments only, deleted tags never count, archived
 * resources count only on request. The native API's as-of reads (core_asof_*) rebuild model
 * structs from the versions' JSON (the change log's representation), so the dialect renders
 * them as it renders the present; tag queries as of a revision are evaluated here, on the
 * workspace of then loaded once, because the engine holds only the present. */
#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/core_int.h"
#include "core/history.h"
#include "core/query.h"
#include "engine/engine.h"
#include "engine/query.h"
#include "util/json.h"
#include "util/name.h"
#include "util/timeu.h"

/* Binds the parameters of the tag-use statements (see sql_history.h). */
static void bind_use(struct core_ctx *ctx, struct store_stmt *st, const struct tag_use_filter *f)
{
    st_int(st, 1, ctx->ws_id);
    for (size_t i = 0; i < HIST_MAX_KINDS; i++) {
        if (i < f->nkinds)
            st_text(st, 2 + (int)i, f->kinds[i]);
        else
            st_null(st, 2 + (int)i);
    }
    st_int(st, 10, f->nkinds == 0 ? 1 : 0);
    st_int(st, 11, f->archived ? 1 : 0);
    st_text(st, 12, f->prefix && *f->prefix ? f->prefix : NULL);
    if (f->as_of)
        st_int(st, 13, f->rev);
}

int core_tag_names_in_use(struct core_ctx *ctx, const struct tag_use_filter *f,
                          const char ***out, size_t *n, int64_t *total, struct tg_err *err)
{
    struct store_stmt *st;
    struct vec v;
    int64_t i = 0, end;
    int rc;

    *out = NULL;
    *n = 0;
    *total = 0;
    if (f->nkinds > HIST_MAX_KINDS)
        return tg_err_set(err, TG_EINVAL, "kind", "at most %d kinds", HIST_MAX_KINDS);
    if (f->offset < 0 || f->limit < 0)
        return tg_err_set(err, TG_EINVAL, "offset", "offset and limit must not be negative");
    end = f->limit ? f->offset + f->limit : INT64_MAX;
    if (!f->as_of && core_snap(ctx)) {
        const char **all;
        size_t k;
        eng_tag_names_in_use(ctx->snap, ctx->ws_id, f->kinds, f->nkinds, f->archived,
                             f->prefix && *f->prefix ? f->prefix : NULL, ctx->a, &all, &k);
        *total = (int64_t)k;
        if (f->offset < (int64_t)k) {
            *out = all + f->offset;
            *n = (size_t)((end < (int64_t)k ? end : (int64_t)k) - f->offset);
        }
        return 0;
    }
    st = st_get(ctx->conn, f->as_of ? SQL_HIST_USE_NAMES_ASOF : SQL_HIST_USE_NAMES_NOW, err);
    if (st == NULL)
        return TG_EINTERNAL;
    bind_use(ctx, st, f);
    vec_init(&v, sizeof(const char *));
    for (;; i++) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        if (i >= f->offset && i < end)
            *(const char **)vec_push(ctx, &v) = col_dup(ctx, st, 0);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *out = v.items;
    *n = v.n;
    *total = i;
    return 0;
}

/* ---- the native API's as-of reads ---- */

/* Revisions are numbered from 1 and epoch milliseconds of any time since 2001 are at least
 * 10^12: digits below it name a revision, at or above it a time. */
#define ASOF_MS_FLOOR 1000000000000LL

static int64_t rev_time(struct core_ctx *ctx, int64_t rev)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASOF_REV_TIME, NULL);
    int64_t at = -1;

    if (st == NULL)
        return -1;
    st_int(st, 1, rev);
    if (st_step(st, NULL) == 1)
        at = col_int(st, 0);
    st_reset(st);
    return at;
}

int core_asof_resolve(struct core_ctx *ctx, const char *spec, int64_t *rev, int64_t *at,
                      struct tg_err *err)
{
    int64_t newest = core_current_rev(ctx), v = 0, ms;
    size_t len = spec ? strlen(spec) : 0, i;
    struct org org;
    int rc;

    for (i = 0; i < len && spec[i] >= '0' && spec[i] <= '9'; i++)
        ;
    if (len > 0 && i == len && len <= 12) {
        for (i = 0; i < len; i++)
            v = v * 10 + (spec[i] - '0');
    }
    if (len > 0 && i == len && len <= 12 && v < ASOF_MS_FLOOR) {
        if (v > newest)
            return tg_err_set(err, TG_EINVAL, "as_of",
                              "revision %lld is in the future: the newest is %lld", (long long)v,
                              (long long)newest);
        *rev = v;
    } else {
        if (len == 0 || len > 64 || !time_parse(spec, &ms) || ms < 0)
            return tg_err_set(err, TG_EINVAL, "as_of",
                              "as_of must be a revision number, an RFC 3339 time or epoch "
                              "milliseconds");
        if (ms > ctx->now && ms > time_now_ms())
            return tg_err_set(err, TG_EINVAL, "as_of", "as_of %s is in the future", spec);
        *rev = core_rev_at_time(ctx, ms);
    }
    if (*rev <= 0)
        return tg_err_set(err, TG_ENOTFOUND, "as_of", "nothing existed before revision 1");
    *at = rev_time(ctx, *rev);
    if (*at < 0)
        return tg_err_set(err, TG_EINTERNAL, "as_of", "revision %lld has no time",
                          (long long)*rev);
    rc = core_org_get(ctx, ctx->org_id, &org, err);
    if (rc)
        return rc;
    /* An organization is created inside a revision of its own, which has its time: a moment
     * before that is before the organization existed. */
    if (*at < org.created_at)
        return tg_err_set(err, TG_ENOTFOUND, "as_of",
                          "the organization did not exist at revision %lld", (long long)*rev);
    return 0;
}

static const char *jstr(struct core_ctx *ctx, json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? arena_strdup(ctx->a, json_string_value(v)) : NULL;
}

static int64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static const char *jraw(struct core_ctx *ctx, json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    if (v == NULL || json_is_null(v))
        return NULL;
    return json_to_arena(ctx->a, v);
}

/* A version's JSON (core_tag_json) back into a tag. */
static int tag_from_hist(struct core_ctx *ctx, struct store_stmt *st, struct tag *t,
                         struct tg_err *err)
{
    json_t *o = json_loads(col_text(st, 1), 0, NULL);

    memset(t, 0, sizeof(*t));
    if (!json_is_object(o)) {
        json_decref(o);
        return tg_err_set(err, TG_EINTERNAL, "", "tag history row is not JSON");
    }
    t->id = col_int(st, 0);
    t->ws_id = ctx->ws_id;
    t->name = jstr(ctx, o, "name");
    t->name_key = t->name ? name_fold(ctx->a, t->name) : NULL;
    t->parent_id = jint(o, "parent_id");
    t->display_name = jstr(ctx, o, "display_name");
    t->l10n = jraw(ctx, o, "l10n");
    t->color = jstr(ctx, o, "color");
    t->description = jstr(ctx, o, "description");
    t->source = jstr(ctx, o, "source");
    t->system_created = json_is_true(json_object_get(o, "system_created"));
    t->protected_ = json_is_true(json_object_get(o, "protected"));
    t->archived = json_is_true(json_object_get(o, "archived"));
    t->deleted = json_is_true(json_object_get(o, "deleted"));
    /* Versions written before states existed have none: archived was the only one. */
    t->state = t->archived ? TAG_ARCHIVED : TAG_ACTIVE;
    if (json_is_string(json_object_get(o, "state")))
        t->state = tag_state_parse(json_string_value(json_object_get(o, "state")));
    t->replaced_by = jint(o, "replaced_by");
    t->assign_restricted = json_is_true(json_object_get(o, "assign_restricted"));
    t->group_id = jint(o, "group_id");
    t->position = jint(o, "position");
    t->extra = jraw(ctx, o, "extra");
    t->version = jint(o, "version");
    t->created_by = col_dup(ctx, st, 2);
    t->updated_at = col_int(st, 3);
    t->created_at = col_int(st, 4);
    json_decref(o);
    if (t->name == NULL)
        return tg_err_set(err, TG_EINTERNAL, "", "tag history row has no name");
    return 0;
}

static int tag_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tag *)a)->name, ((const struct tag *)b)->name);
}

/* Every version of the workspace's tags valid at `rev`, deleted ones included, by name. */
static int tags_at(struct core_ctx *ctx, int64_t rev, struct tag **out, size_t *n,
                   struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASOF_TAGS, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct tag));
    st_int(st, 1, ctx->ws_id);
    st_int(st, 2, rev);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        if (v.n >= ASOF_MAX_ROWS) {
            rc = tg_err_set(err, TG_ELIMIT, "as_of",
                            "more than %d tags in the workspace then", ASOF_MAX_ROWS);
            break;
        }
        rc = tag_from_hist(ctx, st, vec_push(ctx, &v), err);
        if (rc)
            break;
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (v.n > 1)
        qsort(v.items, v.n, sizeof(struct tag), tag_cmp);
    *out = v.items;
    *n = v.n;
    return 0;
}

static bool has_prefix_key(const char *key, const char *prefix)
{
    return strncmp(key, prefix, strlen(prefix)) == 0;
}

int core_asof_tag_list(struct core_ctx *ctx, int64_t rev, const struct tag_filter *f,
                       struct tag **out, size_t *n, const char **next, int64_t *total,
                       struct tg_err *err)
{
    const char *prefix = NULL, *q = NULL, *after = NULL;
    struct tag *all;
    struct vec v;
    size_t k;
    int rc;

    *out = NULL;
    *n = 0;
    *next = NULL;
    *total = 0;
    if (f->source || f->excluded_source || f->group_id || f->kind || f->parent_id)
        return tg_err_set(err, TG_EINVAL, "as_of",
                          "as_of lists tags by prefix, q, archived and deleted only");
    if (f->cursor) {
        if (core_cursor_decode(ctx, f->cursor, &after, NULL) != 0 || after == NULL ||
            strncmp(after, "n:", 2) != 0)
            return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
        after += 2;
    }
    if (f->prefix && *f->prefix)
        prefix = name_fold(ctx->a, f->prefix);
    if (f->q && *f->q)
        q = name_fold(ctx->a, f->q);
    rc = tags_at(ctx, rev, &all, &k, err);
    if (rc)
        return rc;
    vec_init(&v, sizeof(struct tag));
    for (size_t i = 0; i < k; i++) {
        const struct tag *t = &all[i];
        if ((f->deleted == 0 && t->deleted) || (f->deleted == 2 && !t->deleted))
            continue;
        if ((f->archived == 0 && t->archived) || (f->archived == 2 && !t->archived))
            continue;
        if ((f->state && f->state != 1 + (int)t->state) ||
            !core_tag_visible(ctx, t))
            continue;
        if ((prefix && !has_prefix_key(t->name_key, prefix)) ||
            (q && strstr(t->name_key, q) == NULL))
            continue;
        (*total)++;
        if (after && strcmp(t->name, after) <= 0)
            continue;
        if (f->limit > 0 && v.n == (size_t)f->limit) {
            const struct tag *last = (const struct tag *)v.items + v.n - 1;
            *next = core_cursor_encode(ctx, arena_printf(ctx->a, "n:%s", last->name));
            continue; /* counting the rest for *total */
        }
        *(struct tag *)vec_push(ctx, &v) = *t;
    }
    *out = v.items;
    *n = v.n;
    return 0;
}

int core_asof_tag_get(struct core_ctx *ctx, int64_t rev, const char *ref, struct tag *out,
                      struct tg_err *err)
{
    struct store_stmt *st;
    struct tag *all;
    const char *key;
    int64_t id;
    size_t k;
    int rc;

    if (core_parse_id(ref, "", &id) || core_parse_id(ref, "tag_", &id)) {
        st = st_get(ctx->conn, SQL_ASOF_TAG, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, ctx->ws_id);
        st_int(st, 2, rev);
        st_int(st, 3, id);
        rc = st_step(st, err);
        if (rc == 1)
            rc = tag_from_hist(ctx, st, out, err);
        else if (rc == 0)
            rc = TG_ENOTFOUND;
        st_reset(st);
        if (rc == 0 && out->deleted)
            rc = TG_ENOTFOUND;
        if (rc == TG_ENOTFOUND)
            return tg_err_set(err, TG_ENOTFOUND, "id", "tag '%s' did not exist at revision %lld",
                              ref, (long long)rev);
        return rc;
    }
    /* Names were unique per workspace among live tags then too: the live one of that key. */
    key = name_fold(ctx->a, ref);
    rc = tags_at(ctx, rev, &all, &k, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < k; i++) {
        if (!all[i].deleted && strcmp(all[i].name_key, key) == 0) {
            *out = all[i];
            return 0;
        }
    }
    /* An old name then: the tag its alias named at that revision (core/aliases.c). */
    rc = core__alias_at(ctx, key, rev, &id, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < k && id; i++) {
        if (!all[i].deleted && all[i].id == id) {
            *out = all[i];
            return 0;
        }
    }
    return tg_err_set(err, TG_ENOTFOUND, "name", "tag '%s' did not exist at revision %lld", ref,
                      (long long)rev);
}

/* A version's JSON (group_json) back into a group. */
static int group_from_hist(struct core_ctx *ctx, struct store_stmt *st, struct group *g,
                           struct tg_err *err)
{
    json_t *o = json_loads(col_text(st, 1), 0, NULL);

    memset(g, 0, sizeof(*g));
    if (!json_is_object(o)) {
        json_decref(o);
        return tg_err_set(err, TG_EINTERNAL, "", "group history row is not JSON");
    }
    g->id = col_int(st, 0);
    g->ws_id = ctx->ws_id;
    g->name = jstr(ctx, o, "name");
    g->l10n = jraw(ctx, o, "l10n");
    g->position = jint(o, "position");
    g->exclusive = json_is_true(json_object_get(o, "exclusive"));
    /* Versions written before the policy existed have none: union, as tagd behaved then. */
    group_conflict_parse(json_string_value(json_object_get(o, "conflict")), &g->conflict);
    g->extra = jraw(ctx, o, "extra");
    g->version = jint(o, "version");
    g->updated_at = col_int(st, 2);
    g->created_at = col_int(st, 3);
    json_decref(o);
    return 0;
}

int core_asof_group_list(struct core_ctx *ctx, int64_t rev, struct group **out, size_t *n,
                         struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASOF_GROUPS, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct group));
    st_int(st, 1, ctx->ws_id);
    st_int(st, 2, rev);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        if (v.n >= ASOF_MAX_ROWS) {
            rc = tg_err_set(err, TG_ELIMIT, "as_of", "more than %d groups then", ASOF_MAX_ROWS);
            break;
        }
        rc = group_from_hist(ctx, st, vec_push(ctx, &v), err);
        if (rc)
            break;
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *out = v.items;
    *n = v.n;
    return 0;
}

int core_asof_group_get(struct core_ctx *ctx, int64_t rev, int64_t id, struct group *out,
                        struct tg_err *err)
{
    struct group *all;
    size_t n;
    int rc = core_asof_group_list(ctx, rev, &all, &n, err);

    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (all[i].id == id) {
            *out = all[i];
            return 0;
        }
    }
    return tg_err_set(err, TG_ENOTFOUND, "id", "group %lld did not exist at revision %lld",
                      (long long)id, (long long)rev);
}

/* A row of HIST_RES_COLS into a resource (its parent's kind and key not yet set). */
static int res_from_hist(struct core_ctx *ctx, struct store_stmt *st, struct resource *r,
                         struct tg_err *err)
{
    json_t *o = json_loads(col_text(st, 5), 0, NULL);

    memset(r, 0, sizeof(*r));
    if (!json_is_object(o)) {
        json_decref(o);
        return tg_err_set(err, TG_EINTERNAL, "", "resource history row is not JSON");
    }
    r->id = col_int(st, 0);
    r->ws_id = ctx->ws_id;
    r->kind = col_dup(ctx, st, 1);
    r->key = col_dup(ctx, st, 2);
    r->parent_id = col_int(st, 3);
    r->archived = col_int(st, 4) != 0;
    r->name = jstr(ctx, o, "name");
    r->extra = jraw(ctx, o, "extra");
    r->version = jint(o, "version");
    r->updated_at = col_int(st, 6);
    r->created_at = col_int(st, 7);
    json_decref(o);
    return 0;
}

/* Resource `id` at `rev` without its parent's names: 0, TG_ENOTFOUND or a store error. */
static int res_by_id(struct core_ctx *ctx, int64_t rev, int64_t id, struct resource *out,
                     struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASOF_RES_ID, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_int(st, 2, rev);
    st_int(st, 3, id);
    rc = st_step(st, err);
    if (rc == 1)
        rc = res_from_hist(ctx, st, out, err);
    else if (rc == 0)
        rc = TG_ENOTFOUND;
    st_reset(st);
    return rc;
}

static void res_parent_names(struct core_ctx *ctx, int64_t rev, struct resource *r)
{
    struct resource p;
    struct tg_err ignored;

    if (r->parent_id && res_by_id(ctx, rev, r->parent_id, &p, &ignored) == 0) {
        r->parent_kind = p.kind;
        r->parent_key = p.key;
    }
}

int core_asof_resource_get(struct core_ctx *ctx, int64_t rev, const char *kind, const char *key,
                           struct resource *out, struct tg_err *err)
{
    struct store_stmt *st;
    int64_t id;
    int rc;

    rc = core_resource_ref_check(kind, key, err);
    if (rc)
        return rc;
    /* The resource of that kind and key now is usually the one of then: an index lookup. */
    rc = core_resource_id(ctx, kind, key, &id, err);
    if (rc == 0)
        rc = res_by_id(ctx, rev, id, out, err);
    if (rc == TG_ENOTFOUND) {
        st = st_get(ctx->conn, SQL_ASOF_RES_KEY, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, ctx->ws_id);
        st_int(st, 2, rev);
        st_text(st, 3, kind);
        st_text(st, 4, key);
        rc = st_step(st, err);
        if (rc == 1)
            rc = res_from_hist(ctx, st, out, err);
        else if (rc == 0)
            rc = TG_ENOTFOUND;
        st_reset(st);
    }
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "key", "resource %s/%s did not exist at revision %lld",
                          kind, key, (long long)rev);
    if (rc)
        return rc;
    res_parent_names(ctx, rev, out);
    return 0;
}

int core_asof_resource_list(struct core_ctx *ctx, int64_t rev, const struct resource_filter *f,
                            struct resource **out, size_t *n, bool *more, struct tg_err *err)
{
    struct store_stmt *st;
    struct resource *items;
    struct vec v;
    int rc;

    *out = NULL;
    *n = 0;
    *more = false;
    if (f->tag_id)
        return tg_err_set(err, TG_EINVAL, "as_of",
                          "as_of lists resources by kind, parent and archived only; use a query");
    st = st_get(ctx->conn, SQL_ASOF_RES_LIST, err);
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct resource));
    st_int(st, 1, ctx->ws_id);
    st_int(st, 2, rev);
    st_int(st, 3, f->after_id);
    st_text(st, 4, f->kind);
    if (f->parent_id)
        st_int(st, 5, f->parent_id);
    else
        st_null(st, 5);
    st_int(st, 6, f->archived);
    st_int(st, 7, (int64_t)f->limit + 1);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        rc = res_from_hist(ctx, st, vec_push(ctx, &v), err);
        if (rc)
            break;
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (v.n > (size_t)f->limit) {
        v.n = (size_t)f->limit;
        *more = true;
    }
    items = v.items;
    for (size_t i = 0; i < v.n; i++)
        res_parent_names(ctx, rev, &items[i]);
    *out = items;
    *n = v.n;
    return 0;
}

/* The direct assignments of resource `res` at `rev` appended to `v`, marked as inherited from
 * `res` unless `own` (core_asof_assign_list resolves tags listed on several levels). */
static int assign_at(struct core_ctx *ctx, int64_t rev, const struct resource *res, bool own,
                     struct vec *v, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASOF_ASSIGN, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, res->id);
    st_int(st, 2, rev);
    for (;;) {
        struct assignment *a;
        int64_t tag_id;
        json_t *o;

        rc = st_step(st, err);
        if (rc <= 0)
            break;
        tag_id = col_int(st, 1);
        if (v->n >= ASOF_MAX_ROWS) {
            rc = tg_err_set(err, TG_ELIMIT, "as_of", "more than %d tags then", ASOF_MAX_ROWS);
            break;
        }
        a = vec_push(ctx, v);
        a->id = col_int(st, 0);
        a->seq = a->id;
        a->resource_id = res->id;
        a->context = col_dup(ctx, st, 2);
        a->added_by = col_dup(ctx, st, 3);
        a->added_at = col_int(st, 4);
        o = json_loads(col_text(st, 5), 0, NULL);
        a->tag.id = tag_id;
        a->tag.name = json_is_object(o) ? jstr(ctx, o, "name") : NULL;
        a->tag.display_name = json_is_object(o) ? jstr(ctx, o, "display_name") : NULL;
        a->tag.color = json_is_object(o) ? jstr(ctx, o, "color") : NULL;
        a->tag.group_id = json_is_object(o) ? jint(o, "group_id") : 0;
        json_decref(o);
        if (a->tag.name == NULL) {
            rc = tg_err_set(err, TG_EINTERNAL, "", "tag history row has no name");
            break;
        }
        if (!own) {
            a->inherited_from = res->id;
            a->from_kind = res->kind;
            a->from_key = res->key;
        }
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

/* The deepest chain of parents followed, as the present reads do (core/resources.c). */
#define ASOF_MAX_DEPTH 64

int core_asof_assign_list(struct core_ctx *ctx, int64_t rev, const struct resource *res,
                          bool effective, struct assignment **out, size_t *n,
                          struct tg_err *err)
{
    struct resource cur = *res;
    struct vec v;
    int rc;

    vec_init(&v, sizeof(struct assignment));
    rc = assign_at(ctx, rev, &cur, true, &v, err);
    for (int depth = 0; rc == 0 && effective && cur.parent_id && depth < ASOF_MAX_DEPTH;
         depth++) {
        struct resource parent;
        rc = res_by_id(ctx, rev, cur.parent_id, &parent, err);
        if (rc == TG_ENOTFOUND) {
            rc = 0; /* a parent gone then ends the chain as it does now */
            break;
        }
        if (rc == 0)
            rc = assign_at(ctx, rev, &parent, false, &v, err);
        cur = parent;
    }
    if (rc)
        return rc;
    if (effective) {
        /* The groups' policies of then, as core_assign_list applies today's. */
        struct conflict_pols pols;
        size_t k = v.n;
        rc = core__conflict_pols_at(ctx, rev, &pols, err);
        if (rc)
            return rc;
        core__conflict_resolve(ctx, &pols, v.items, &k);
        v.n = k;
    }
    *out = v.items;
    *n = v.n;
    return 0;
}

/* ---- tag queries as of a revision ----
 *
 * The workspace at the revision is loaded once (its resource tree and its live assignments,
 * each bounded by ASOF_MAX_ROWS) and the query tree is evaluated per resource: a leaf holds
 * the sorted ids of the tags it names then; effective leaves also look at the ancestors. */

struct asof_world {
    int64_t *ids, *parent; /* resources by ascending id */
    const char **kind;
    bool *archived;
    size_t n;
    int64_t *pair_res, *pair_tag; /* assignments sorted by (resource, tag) */
    size_t npairs;
};

struct asof_leaf {
    const struct qnode *node;
    int64_t *tags; /* sorted */
    size_t n;
};

/* The tags of child-wins and parent-wins groups then, for effective leaves (core/conflicts.c):
 * tag[] sorted, gi[] each one's group index, gpol[] the groups' policies, best[] scratch (the
 * level whose tags of the group win, per group). */
struct asof_pol {
    int64_t *tag;
    size_t *gi;
    enum group_conflict *gpol;
    int *best;
    size_t ntags, ngroups;
};

struct asof_eval {
    const struct asof_world *w;
    struct asof_leaf *leaves;
    size_t nleaves;
    bool effective;
    const struct asof_pol *pol; /* NULL: every group is union then */
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct pair {
    int64_t res, tag;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->res != y->res)
        return x->res < y->res ? -1 : 1;
    return x->tag < y->tag ? -1 : x->tag > y->tag;
}

static ssize_t res_index(const struct asof_world *w, int64_t id)
{
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->n && w->ids[lo] == id ? (ssize_t)lo : -1;
}

static int world_load(struct core_ctx *ctx, int64_t rev, struct asof_world *w, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASOF_RES_TREE, err);
    struct vec ids, parent, kind, arch, pairs;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&ids, sizeof(int64_t));
    vec_init(&parent, sizeof(int64_t));
    vec_init(&kind, sizeof(const char *));
    vec_init(&arch, sizeof(bool));
    st_int(st, 1, ctx->ws_id);
    st_int(st, 2, rev);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        if (ids.n >= ASOF_MAX_ROWS) {
            rc = tg_err_set(err, TG_ELIMIT, "as_of",
                            "more than %d resources then: an as-of query reads them all",
                            ASOF_MAX_ROWS);
            break;
        }
        *(int64_t *)vec_push(ctx, &ids) = col_int(st, 0);
        *(int64_t *)vec_push(ctx, &parent) = col_int(st, 1);
        *(const char **)vec_push(ctx, &kind) = col_dup(ctx, st, 2);
        *(bool *)vec_push(ctx, &arch) = col_int(st, 3) != 0;
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    w->ids = ids.items;
    w->parent = parent.items;
    w->kind = kind.items;
    w->archived = arch.items;
    w->n = ids.n;
    st = st_get(ctx->conn, SQL_ASOF_PAIRS, err);
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&pairs, sizeof(struct pair));
    st_int(st, 1, ctx->ws_id);
    st_int(st, 2, rev);
    for (;;) {
        struct pair *p;
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        if (pairs.n >= ASOF_MAX_ROWS) {
            rc = tg_err_set(err, TG_ELIMIT, "as_of",
                            "more than %d assignments then: an as-of query reads them all",
                            ASOF_MAX_ROWS);
            break;
        }
        p = vec_push(ctx, &pairs);
        p->res = col_int(st, 0);
        p->tag = col_int(st, 1);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (pairs.n > 1)
        qsort(pairs.items, pairs.n, sizeof(struct pair), cmp_pair);
    w->pair_res = arena_alloc(ctx->a, (pairs.n + 1) * sizeof(int64_t));
    w->pair_tag = arena_alloc(ctx->a, (pairs.n + 1) * sizeof(int64_t));
    for (size_t i = 0; i < pairs.n; i++) {
        w->pair_res[i] = ((struct pair *)pairs.items)[i].res;
        w->pair_tag[i] = ((struct pair *)pairs.items)[i].tag;
    }
    w->npairs = pairs.n;
    return 0;
}

/* Whether resource `id` carries directly one of the leaf's tags. */
static bool carries(const struct asof_world *w, int64_t id, const struct asof_leaf *l)
{
    size_t lo = 0, hi = w->npairs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->pair_res[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < w->npairs && w->pair_res[lo] == id; lo++) {
        if (bsearch(&w->pair_tag[lo], l->tags, l->n, sizeof(int64_t), cmp_i64))
            return true;
    }
    return false;
}

/* The first index of resource `id`'s pairs, and one past its last. */
static size_t pairs_of(const struct asof_world *w, int64_t id, size_t *end)
{
    size_t lo = 0, hi = w->npairs, at;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->pair_res[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (at = lo; at < w->npairs && w->pair_res[at] == id; at++)
        ;
    *end = at;
    return lo;
}

/* Whether resource `id` holds one of the leaf's tags effectively under the groups' policies:
 * a tag of a child-wins (parent-wins) group counts only on the nearest (farthest) level of
 * the chain that holds a tag of its group, as core__conflict_resolve lists them. */
static bool held_with_policy(const struct asof_eval *e, int64_t id, const struct asof_leaf *l)
{
    const struct asof_world *w = e->w;
    const struct asof_pol *p = e->pol;
    int64_t chain[ASOF_MAX_DEPTH + 1];
    int n = 0;

    for (int depth = 0; depth <= ASOF_MAX_DEPTH; depth++) {
        ssize_t at;
        chain[n++] = id;
        at = res_index(w, id);
        if (at < 0 || w->parent[at] == 0)
            break;
        id = w->parent[at];
    }
    for (size_t g = 0; g < p->ngroups; g++)
        p->best[g] = -1;
    for (int lv = 0; lv < n; lv++) {
        size_t end, k = pairs_of(w, chain[lv], &end);
        for (; k < end; k++) {
            const int64_t *t = bsearch(&w->pair_tag[k], p->tag, p->ntags, sizeof(int64_t),
                                       cmp_i64);
            size_t g;
            if (t == NULL)
                continue;
            g = p->gi[t - p->tag];
            if (p->best[g] < 0 || p->gpol[g] == CONFLICT_PARENT_WINS)
                p->best[g] = lv;
        }
    }
    for (int lv = 0; lv < n; lv++) {
        size_t end, k = pairs_of(w, chain[lv], &end);
        for (; k < end; k++) {
            const int64_t *t;
            if (!bsearch(&w->pair_tag[k], l->tags, l->n, sizeof(int64_t), cmp_i64))
                continue;
            t = bsearch(&w->pair_tag[k], p->tag, p->ntags, sizeof(int64_t), cmp_i64);
            if (t == NULL || p->best[p->gi[t - p->tag]] == lv)
                return true;
        }
    }
    return false;
}

static bool asof_eval(const struct asof_eval *e, const struct qnode *q, size_t i)
{
    const struct asof_world *w = e->w;
    const struct asof_leaf *l = NULL;
    int64_t id;

    switch (q->kind) {
    case QN_AND:
        return asof_eval(e, q->a, i) && asof_eval(e, q->b, i);
    case QN_OR:
        return asof_eval(e, q->a, i) || asof_eval(e, q->b, i);
    case QN_NOT:
        return !asof_eval(e, q->a, i);
    case QN_KIND:
        return strcmp(w->kind[i], q->name) == 0;
    case QN_TAG:
    case QN_SUBTREE:
    case QN_HAS:
        break;
    }
    for (size_t k = 0; k < e->nleaves && l == NULL; k++)
        if (e->leaves[k].node == q)
            l = &e->leaves[k];
    assert(l != NULL); /* every leaf was resolved before evaluation */
    id = w->ids[i];
    if (e->effective && e->pol)
        return held_with_policy(e, id, l);
    for (int depth = 0; depth <= ASOF_MAX_DEPTH; depth++) {
        ssize_t at;
        if (carries(w, id, l))
            return true;
        if (!e->effective)
            return false;
        at = res_index(w, id);
        if (at < 0 || w->parent[at] == 0)
            return false;
        id = w->parent[at];
    }
    return false;
}

/* Resolves every tag leaf of `q` against the tags of then; an unknown name is TG_EINVAL at
 * the leaf's column, as the engine answers it now. */
static int leaves_resolve(struct core_ctx *ctx, int64_t rev, const struct qnode *q,
                          const struct tag *tags, size_t ntags, struct vec *out,
                          struct core_query_err *qe, struct tg_err *err)
{
    struct asof_leaf *l;
    struct vec ids;
    char *nfc, *key;
    size_t klen;
    int rc;

    if (q == NULL)
        return 0;
    if (q->kind == QN_AND || q->kind == QN_OR || q->kind == QN_NOT) {
        rc = leaves_resolve(ctx, rev, q->a, tags, ntags, out, qe, err);
        if (rc == 0 && q->kind != QN_NOT)
            rc = leaves_resolve(ctx, rev, q->b, tags, ntags, out, qe, err);
        return rc;
    }
    if (q->kind == QN_KIND)
        return 0;
    qe->fault = CORE_QUERY_EVAL;
    qe->col = q->col;
    if (name_normalize(ctx->a, q->name, strlen(q->name), true, "query", &nfc, &key, err) != 0) {
        snprintf(qe->msg, sizeof(qe->msg), "'%.40s' is not a valid tag name: %.100s", q->name,
                 err->msg);
        return tg_err_set(err, TG_EINVAL, "query", "%s", qe->msg);
    }
    vec_init(&ids, sizeof(int64_t));
    for (int pass = 0; pass < 2 && ids.n == 0; pass++) {
        if (pass == 1) {
            /* An old name then: the tag its alias named at that revision, by its name of
             * then (core/aliases.c). */
            int64_t id;
            const char *now = NULL;
            rc = core__alias_at(ctx, key, rev, &id, err);
            if (rc)
                return rc;
            for (size_t i = 0; i < ntags && id && !now; i++)
                if (!tags[i].deleted && tags[i].id == id)
                    now = tags[i].name_key;
            if (now == NULL)
                break;
            key = (char *)now;
        }
        klen = strlen(key);
        for (size_t i = 0; i < ntags; i++) {
            const char *k = tags[i].name_key;
            if (tags[i].deleted)
                continue;
            if (strcmp(k, key) == 0 ||
                (q->kind != QN_TAG && strncmp(k, key, klen) == 0 && k[klen] == '.'))
                *(int64_t *)vec_push(ctx, &ids) = tags[i].id;
        }
    }
    if (ids.n == 0) {
        snprintf(qe->msg, sizeof(qe->msg), "unknown tag '%.120s'", q->name);
        return tg_err_set(err, TG_EINVAL, "query", "%s", qe->msg);
    }
    qsort(ids.items, ids.n, sizeof(int64_t), cmp_i64);
    l = vec_push(ctx, out);
    l->node = q;
    l->tags = ids.items;
    l->n = ids.n;
    memset(qe, 0, sizeof(*qe));
    return 0;
}

/* Whether resource index `i` lies in the subtree of `root` (0: everywhere). */
static bool within_at(const struct asof_world *w, size_t i, int64_t root)
{
    int64_t id = w->ids[i];

    if (root == 0)
        return true;
    for (int depth = 0; depth <= ASOF_MAX_DEPTH; depth++) {
        ssize_t at;
        if (id == root)
            return true;
        at = res_index(w, id);
        if (at < 0 || w->parent[at] == 0)
            return false;
        id = w->parent[at];
    }
    return false;
}

/* The policies of then for an effective query (struct asof_pol); ntags 0 when no tag of a
 * child-wins or parent-wins group lived then. */
static int asof_pol_load(struct core_ctx *ctx, int64_t rev, const struct tag *tags, size_t ntags,
                         struct asof_pol *out, struct tg_err *err)
{
    struct conflict_pols pols;
    struct pair *pp; /* (tag, group index): cmp_pair sorts by tag */
    struct vec v;
    int rc = core__conflict_pols_at(ctx, rev, &pols, err);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    vec_init(&v, sizeof(struct pair));
    for (size_t i = 0; i < ntags; i++) {
        enum group_conflict c = core__conflict_of(&pols, tags[i].group_id);
        const int64_t *g;
        if (tags[i].deleted || (c != CONFLICT_CHILD_WINS && c != CONFLICT_PARENT_WINS))
            continue;
        g = bsearch(&tags[i].group_id, pols.group, pols.n, sizeof(int64_t), cmp_i64);
        assert(g != NULL); /* core__conflict_of found it */
        pp = vec_push(ctx, &v);
        pp->res = tags[i].id;
        pp->tag = g - pols.group;
    }
    if (v.n == 0)
        return 0;
    pp = v.items;
    qsort(pp, v.n, sizeof(*pp), cmp_pair);
    out->ntags = v.n;
    out->ngroups = pols.n;
    out->gpol = pols.policy;
    out->tag = arena_alloc(ctx->a, v.n * sizeof(*out->tag));
    out->gi = arena_alloc(ctx->a, v.n * sizeof(*out->gi));
    out->best = arena_alloc(ctx->a, pols.n * sizeof(*out->best));
    for (size_t k = 0; k < v.n; k++) {
        out->tag[k] = pp[k].res;
        out->gi[k] = (size_t)pp[k].tag;
    }
    return 0;
}

int core_asof_query(struct core_ctx *ctx, int64_t rev, const struct core_query *q,
                    struct core_query_result *out, struct core_query_err *qe,
                    struct tg_err *err)
{
    struct asof_world w;
    struct asof_eval e;
    struct asof_pol pol;
    struct qnode *tree;
    struct qerr pe;
    struct tag *tags;
    struct vec leaves, ids;
    int64_t after = 0;
    size_t ntags;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(qe, 0, sizeof(*qe));
    rc = core_require(ctx, RIGHT_READ, err);
    if (rc)
        return rc;
    if (q->text == NULL)
        return tg_err_set(err, TG_EINVAL, "query", "'query' is required");
    if (q->kind && core_resource_ref_check(q->kind, "x", err) != 0)
        return TG_EINVAL;
    if (q->cursor) {
        const char *dec;
        if (core_cursor_decode(ctx, q->cursor, &dec, NULL) != 0 ||
            !core_parse_id(dec, "r", &after))
            return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
    }
    if (query_parse(ctx->a, q->text, strlen(q->text), &tree, &pe) != 0) {
        qe->fault = CORE_QUERY_SYNTAX;
        qe->col = pe.col;
        snprintf(qe->msg, sizeof(qe->msg), "%s", pe.msg);
        return tg_err_set(err, TG_EINVAL, "query", "%s", pe.msg);
    }
    rc = tags_at(ctx, rev, &tags, &ntags, err);
    if (rc)
        return rc;
    vec_init(&leaves, sizeof(struct asof_leaf));
    rc = leaves_resolve(ctx, rev, tree, tags, ntags, &leaves, qe, err);
    if (rc)
        return rc;
    memset(&w, 0, sizeof(w));
    rc = world_load(ctx, rev, &w, err);
    if (rc)
        return rc;
    e.w = &w;
    e.leaves = leaves.items;
    e.nleaves = leaves.n;
    e.effective = q->effective;
    e.pol = NULL;
    if (q->effective) {
        rc = asof_pol_load(ctx, rev, tags, ntags, &pol, err);
        if (rc)
            return rc;
        e.pol = pol.ntags ? &pol : NULL;
    }
    vec_init(&ids, sizeof(int64_t));
    for (size_t i = 0; i < w.n; i++) {
        if ((q->kind && strcmp(w.kind[i], q->kind) != 0) || (!q->archived && w.archived[i]) ||
            !within_at(&w, i, ctx->who.resource_id) || !asof_eval(&e, tree, i))
            continue;
        out->total++;
        if (w.ids[i] <= after)
            continue;
        if (ids.n < (size_t)(q->limit > 0 ? q->limit : 0))
            *(int64_t *)vec_push(ctx, &ids) = w.ids[i];
        else if (q->limit > 0 && out->next_cursor == NULL && ids.n > 0)
            out->next_cursor = core_cursor_encode(
                ctx, arena_printf(ctx->a, "r%lld", (long long)((int64_t *)ids.items)[ids.n - 1]));
    }
    out->ids = ids.items;
    out->n = ids.n;
    out->rev = rev;
    return 0;
}

/* ---- one entity's history ---- */

static int64_t first_rev(struct core_ctx *ctx, enum store_sql id, int64_t entity_id)
{
    struct store_stmt *st = st_get(ctx->conn, id, NULL);
    int64_t v = 0;

    if (st == NULL)
        return 0;
    st_int(st, 1, entity_id);
    if (st_step(st, NULL) == 1)
        v = col_int(st, 0);
    st_reset(st);
    return v;
}

int core_history(struct core_ctx *ctx, const char *entity, int64_t id,
                 const struct history_filter *f, struct change **out, size_t *n,
                 const char **next, struct tg_err *err)
{
    struct store_stmt *st;
    const char *also = entity;
    int64_t rev = 0, seq = 0, first;
    struct vec v;
    int rc;

    *out = NULL;
    *n = 0;
    *next = NULL;
    if (strcmp(entity, "tag") == 0) {
        first = first_rev(ctx, SQL_ASOF_TAG_FIRST, id);
    } else if (strcmp(entity, "group") == 0) {
        first = first_rev(ctx, SQL_ASOF_GROUP_FIRST, id);
    } else {
        assert(strcmp(entity, "resource") == 0);
        first = first_rev(ctx, SQL_ASOF_RES_FIRST, id);
        also = "assignment"; /* a resource's assignments are logged under its id */
    }
    if (f->cursor) {
        const char *dec;
        long long r1, s1;
        char tail;
        if (core_cursor_decode(ctx, f->cursor, &dec, NULL) != 0 || dec == NULL ||
            sscanf(dec, "h%lld.%lld%c", &r1, &s1, &tail) != 2 || r1 < 0 || s1 < 0)
            return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
        rev = r1;
        seq = s1;
    }
    if (first > 0 && rev < first - 1) {
        rev = first - 1; /* nothing of the entity before its first version */
        seq = INT32_MAX;
    }
    st = st_get(ctx->conn, SQL_ASOF_ENTITY_CHANGES, err);
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct change));
    st_int(st, 1, ctx->org_id);
    st_int(st, 2, id);
    st_text(st, 3, entity);
    st_text(st, 4, also);
    st_int(st, 5, rev);
    st_int(st, 6, seq);
    st_text(st, 7, f->principal);
    st_int(st, 8, f->from_ms);
    st_int(st, 9, f->to_ms > 0 ? f->to_ms : INT64_MAX);
    st_int(st, 10, (int64_t)f->limit + 1);
    for (;;) {
        struct change *c;
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        c = vec_push(ctx, &v);
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
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (v.n > (size_t)f->limit) {
        const struct change *last;
        v.n = (size_t)f->limit;
        last = (const struct change *)v.items + v.n - 1;
        *next = core_cursor_encode(
            ctx, arena_printf(ctx->a, "h%lld.%lld", (long long)last->rev, (long long)last->seq));
    }
    *out = v.items;
    *n = v.n;
    return 0;
}

static int pos_cmp(const void *a, const void *b)
{
    const struct tag *x = a, *y = b;
    if (x->position != y->position)
        return x->position < y->position ? -1 : 1;
    return strcmp(x->name, y->name);
}

int core_asof_group_tags(struct core_ctx *ctx, int64_t rev, int64_t id, struct tag **out,
                         size_t *n, struct tg_err *err)
{
    struct tag *all;
    struct vec v;
    size_t k;
    int rc = tags_at(ctx, rev, &all, &k, err);

    if (rc)
        return rc;
    vec_init(&v, sizeof(struct tag));
    for (size_t i = 0; i < k; i++)
        if (!all[i].deleted && all[i].group_id == id)
            *(struct tag *)vec_push(ctx, &v) = all[i];
    if (v.n > 1)
        qsort(v.items, v.n, sizeof(struct tag), pos_cmp);
    *out = v.items;
    *n = v.n;
    return 0;
}

int core_asof_resource_get_id(struct core_ctx *ctx, int64_t rev, int64_t id,
                              struct resource *out, struct tg_err *err)
{
    int rc = res_by_id(ctx, rev, id, out, err);

    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "id", "resource %lld did not exist at revision %lld",
                          (long long)id, (long long)rev);
    if (rc == 0)
        res_parent_names(ctx, rev, out);
    return rc;
}
