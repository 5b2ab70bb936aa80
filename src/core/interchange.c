/* core/interchange.c: an import's records made true one at a time (core/interchange.h).
 * Each compares with what the workspace holds and writes only the difference: a record that
 * already holds writes nothing (no revision, no change record), which is what makes a resumed
 * or repeated import idempotent. */
#include "core/interchange.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

#include "core/core_int.h"
#include "util/name.h"

static bool same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int core_import_group(struct core_ctx *ctx, const struct group_input *in, struct tg_err *err)
{
    struct group *gs, out;
    struct group_input up;
    size_t n;
    char *nfc;
    int rc;

    if (in->name == NULL)
        return tg_err_set(err, TG_EINVAL, "name", "a group needs a name");
    rc = name_normalize(ctx->a, in->name, strlen(in->name), false, "name", &nfc, NULL, err);
    if (rc)
        return rc;
    rc = core_group_list(ctx, &gs, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(gs[i].name, nfc) != 0)
            continue;
        up = *in;
        up.name = NULL;
        if (up.has_l10n && same_str(up.l10n, gs[i].l10n))
            up.has_l10n = false;
        if (up.has_exclusive && up.exclusive == gs[i].exclusive)
            up.has_exclusive = false;
        if (up.has_position && up.position == gs[i].position)
            up.has_position = false;
        if (up.has_extra && same_str(up.extra, gs[i].extra))
            up.has_extra = false;
        if (!up.has_l10n && !up.has_exclusive && !up.has_position && !up.has_extra)
            return 0;
        return core_group_update(ctx, gs[i].id, &up, 0, &out, err);
    }
    return core_group_create(ctx, in, &out, err);
}

static int group_id(struct core_ctx *ctx, const char *name, int64_t *id, struct tg_err *err)
{
    struct group *gs;
    size_t n;
    int rc = core_group_list(ctx, &gs, &n, err);

    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strcmp(gs[i].name, name) == 0) {
            *id = gs[i].id;
            return 0;
        }
    return tg_err_set(err, TG_ENOTFOUND, "group", "no group named '%s'", name);
}

int core_import_tag(struct core_ctx *ctx, const struct tag_input *in, const char *group,
                    bool has_group, struct tg_err *err)
{
    struct tag_input up = *in;
    struct tag t, out;
    int rc;

    if (in->name == NULL)
        return tg_err_set(err, TG_EINVAL, "name", "a tag needs a name");
    if (has_group) {
        up.has_group = true;
        up.group_id = 0;
        if (group) {
            rc = group_id(ctx, group, &up.group_id, err);
            if (rc)
                return rc;
        }
    }
    rc = core_tag_find(ctx, in->name, &t, err);
    if (rc == TG_ENOTFOUND || (rc == 0 && t.deleted)) {
        tg_err_clear(err);
        up.revive = true;
        return core_tag_create(ctx, &up, &out, err);
    }
    if (rc)
        return rc;
    /* Only what differs: the rest stays untouched (and a protected tag that matches is no
     * write at all). The name keeps the stored spelling. */
    up.name = NULL;
    if (up.has_display_name && same_str(up.display_name, t.display_name))
        up.has_display_name = false;
    if (up.has_l10n && same_str(up.l10n, t.l10n))
        up.has_l10n = false;
    if (up.has_color && up.color && t.color && strcasecmp(up.color, t.color) == 0)
        up.has_color = false;
    if (up.has_color && same_str(up.color, t.color))
        up.has_color = false;
    if (up.has_description && same_str(up.description, t.description))
        up.has_description = false;
    if (up.has_source && same_str(up.source, t.source))
        up.has_source = false;
    if (up.has_protected && up.protected_ == t.protected_)
        up.has_protected = false;
    if (up.has_archived && up.archived == t.archived)
        up.has_archived = false;
    if (up.has_group && up.group_id == t.group_id)
        up.has_group = false;
    if (up.has_position && up.position == t.position)
        up.has_position = false;
    if (up.has_extra && same_str(up.extra, t.extra))
        up.has_extra = false;
    if (!up.has_display_name && !up.has_l10n && !up.has_color && !up.has_description &&
        !up.has_source && !up.has_protected && !up.has_archived && !up.has_group &&
        !up.has_position && !up.has_extra)
        return 0;
    return core_tag_update(ctx, t.id, &up, 0, &out, err);
}

int core_import_resource(struct core_ctx *ctx, const char *kind, const char *key,
                         const struct resource_input *in, struct tg_err *err)
{
    struct resource res;
    bool created;

    return core_resource_put(ctx, kind, key, in, &res, &created, err);
}

#define CACHE_BUCKETS 1024

struct cached_tag {
    const char *name; /* as the record spelled it */
    int64_t id;
    struct cached_tag *next;
};

struct core_import_cache {
    struct cached_tag *b[CACHE_BUCKETS];
};

struct core_import_cache *core_import_cache_new(struct core_ctx *ctx)
{
    return arena_zalloc(ctx->a, sizeof(struct core_import_cache));
}

static unsigned name_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % CACHE_BUCKETS;
}

static int tag_id_by_name(struct core_ctx *ctx, struct core_import_cache *cache,
                          const char *name, int64_t *id, struct tg_err *err)
{
    struct cached_tag *c;
    struct tag t;
    int rc;

    if (cache)
        for (c = cache->b[name_hash(name)]; c; c = c->next)
            if (strcmp(c->name, name) == 0) {
                *id = c->id;
                return 0;
            }
    rc = core_tag_find(ctx, name, &t, err);
    if (rc == 0 && t.deleted)
        rc = tg_err_set(err, TG_ENOTFOUND, "tag", "tag '%s' is deleted", name);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "tag", "no tag named '%s'", name);
    if (rc)
        return rc;
    *id = t.id;
    if (cache) {
        unsigned h = name_hash(name);
        c = arena_alloc(ctx->a, sizeof(*c));
        c->name = core_strdup(ctx, name);
        c->id = t.id;
        c->next = cache->b[h];
        cache->b[h] = c;
    }
    return 0;
}

int core_import_assign(struct core_ctx *ctx, struct core_import_cache *cache, const char *kind,
                       const char *key, const char *const *tags, size_t n, const char *context,
                       bool exact, struct tg_err *err)
{
    int64_t rid, *ids;
    int rc;

    if (n == 0 && !exact)
        return 0;
    ids = arena_alloc(ctx->a, (n ? n : 1) * sizeof(*ids));
    for (size_t i = 0; i < n; i++) {
        rc = tag_id_by_name(ctx, cache, tags[i], &ids[i], err);
        if (rc)
            return rc;
    }
    rc = core_resource_ensure_id(ctx, kind, key, &rid, err);
    if (rc)
        return rc;
    ctx->restoring = true;
    rc = exact ? core_assign_replace(ctx, rid, ids, n, context, NULL, NULL, err)
               : core_assign_add(ctx, rid, ids, n, context, NULL, NULL, err);
    ctx->restoring = false;
    return rc;
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int core_import_assign_bulk(struct core_ctx *ctx, struct core_import_cache *cache,
                            const struct core_import_asg *v, size_t n, int *line,
                            struct tg_err *err)
{
    struct core_bulk_add *items;
    int64_t *ids;
    size_t *first, ni = 0, failed = 0;
    int rc = 0;

    if (n == 0)
        return 0;
    items = arena_alloc(ctx->a, n * sizeof(*items));
    first = arena_alloc(ctx->a, n * sizeof(*first));
    ids = arena_alloc(ctx->a, n * sizeof(*ids));
    /* Names to ids first, record by record (so that an unknown tag names its line); a run of
     * records of one resource and context is one item. */
    for (size_t i = 0; i < n; i++) {
        *line = v[i].line;
        rc = tag_id_by_name(ctx, cache, v[i].tag, &ids[i], err);
        if (rc)
            return rc;
        if (ni && strcmp(v[first[ni - 1]].kind, v[i].kind) == 0 &&
            strcmp(v[first[ni - 1]].key, v[i].key) == 0 &&
            same_text(v[first[ni - 1]].context, v[i].context) &&
            items[ni - 1].n < (size_t)core_limits.max_batch) {
            items[ni - 1].n++;
            continue;
        }
        rc = core_resource_ensure_id(ctx, v[i].kind, v[i].key, &items[ni].resource_id, err);
        if (rc)
            return rc;
        items[ni].tag_ids = &ids[i];
        items[ni].n = 1;
        items[ni].context = v[i].context;
        first[ni++] = i;
    }
    ctx->restoring = true;
    rc = core_assign_add_bulk(ctx, items, ni, &failed, err);
    ctx->restoring = false;
    if (rc) {
        assert(failed < ni);
        *line = v[first[failed]].line;
    }
    return rc;
}

int core_export_assignments(struct core_ctx *ctx, int64_t rev, int64_t lo, int64_t hi,
                            struct xchg_assign **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_XCHG_ASSIGN_RANGE, err);
    int64_t last_res = 0, last_tag = 0;
    struct vec v;
    int rc;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct xchg_assign));
    st_int(st, 1, rev);
    st_int(st, 2, lo);
    st_int(st, 3, hi);
    for (;;) {
        struct xchg_assign *a;
        int64_t res, tag;

        rc = st_step(st, err);
        if (rc <= 0)
            break;
        res = col_int(st, 0);
        tag = col_int(st, 1);
        /* A pair closed and opened again in the revision itself shows twice: once. */
        if (res == last_res && tag == last_tag)
            continue;
        last_res = res;
        last_tag = tag;
        a = vec_push(ctx, &v);
        a->resource_id = res;
        a->context = col_dup(ctx, st, 2);
        a->tag = col_dup(ctx, st, 3);
    }
    if (rc < 0)
        return rc;
    *out = v.items;
    *n = v.n;
    return 0;
}
