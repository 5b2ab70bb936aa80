/* core/interchange.c: an import's records made true one at a time (core/interchange.h).
 * Each compares with what the workspace holds and writes only the difference: a record that
 * already holds writes nothing (no revision, no change record), which is what makes a resumed
 * or repeated import idempotent. */
#include "core/interchange.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/core_int.h"
#include "engine/engine.h"
#include "util/name.h"
#include "util/timeu.h"

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
        if (up.has_conflict && same_str(up.conflict, group_conflict_name(gs[i].conflict)))
            up.has_conflict = false;
        if (!up.has_l10n && !up.has_exclusive && !up.has_position && !up.has_extra &&
            !up.has_conflict)
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
    if (up.has_assign_restricted && up.assign_restricted == t.assign_restricted)
        up.has_assign_restricted = false;
    if (up.has_group && up.group_id == t.group_id)
        up.has_group = false;
    if (up.has_position && up.position == t.position)
        up.has_position = false;
    if (up.has_extra && same_str(up.extra, t.extra))
        up.has_extra = false;
    if (!up.has_display_name && !up.has_l10n && !up.has_color && !up.has_description &&
        !up.has_source && !up.has_protected && !up.has_archived && !up.has_group &&
        !up.has_position && !up.has_extra && !up.has_assign_restricted)
        return 0;
    return core_tag_update(ctx, t.id, &up, 0, &out, err);
}

/* As core_import_resource; *id is the resource's. */
static int import_resource(struct core_ctx *ctx, const char *kind, const char *key,
                           const struct resource_input *in, int64_t *id, struct tg_err *err)
{
    struct resource_input up = *in;
    struct resource old, res;
    bool created;
    int rc = core_resource_get(ctx, kind, key, &old, err);

    if (rc && rc != TG_ENOTFOUND)
        return rc;
    if (rc == 0) {
        /* Only what differs, as for a tag: an export imported again writes nothing. */
        if (up.has_name && same_str(up.name, old.name))
            up.has_name = false;
        if (up.has_archived && up.archived == old.archived)
            up.has_archived = false;
        if (up.has_extra && same_str(up.extra, old.extra))
            up.has_extra = false;
        if (up.has_parent &&
            (up.parent_kind == NULL
                 ? old.parent_id == 0
                 : old.parent_id && same_str(up.parent_kind, old.parent_kind) &&
                       same_str(up.parent_key, old.parent_key)))
            up.has_parent = false;
        if (!up.has_name && !up.has_archived && !up.has_extra && !up.has_parent) {
            *id = old.id;
            return 0;
        }
    }
    tg_err_clear(err);
    rc = core_resource_put(ctx, kind, key, &up, &res, &created, err);
    if (rc == 0)
        *id = res.id;
    return rc;
}

int core_import_resource(struct core_ctx *ctx, const char *kind, const char *key,
                         const struct resource_input *in, struct tg_err *err)
{
    int64_t id;

    return import_resource(ctx, kind, key, in, &id, err);
}

#define CACHE_BUCKETS 1024

struct cached_tag {
    const char *name; /* as the record spelled it */
    int64_t id;
    struct cached_tag *next;
};

/* A resource this request created (id), or that waits for core_resource_create_bulk (0). */
#define RES_BUCKETS 16384
struct cached_res {
    const char *kind, *key;
    int64_t id;
    struct cached_res *next;
};

struct core_import_cache {
    struct cached_tag *b[CACHE_BUCKETS];
    /* Resources by key: within one request no import record deletes one, so an id found
     * here stays right, and the chunk's assignments need no lookup of their resource. */
    struct cached_res *r[RES_BUCKETS];
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

static unsigned res_hash(const char *kind, const char *key)
{
    unsigned h = 2166136261u;
    for (const char *s = kind; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *s = key; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % RES_BUCKETS;
}

static struct cached_res *res_cached(struct core_import_cache *cache, const char *kind,
                                     const char *key)
{
    if (cache == NULL || kind == NULL || key == NULL)
        return NULL;
    for (struct cached_res *c = cache->r[res_hash(kind, key)]; c; c = c->next)
        if (strcmp(c->key, key) == 0 && strcmp(c->kind, kind) == 0)
            return c;
    return NULL;
}

static struct cached_res *res_remember(struct core_ctx *ctx, struct core_import_cache *cache,
                                       const char *kind, const char *key, int64_t id)
{
    struct cached_res *c = res_cached(cache, kind, key);
    unsigned h;

    if (c) {
        c->id = id;
        return c;
    }
    h = res_hash(kind, key);
    c = arena_alloc(ctx->a, sizeof(*c));
    c->kind = core_strdup(ctx, kind);
    c->key = core_strdup(ctx, key);
    c->id = id;
    c->next = cache->r[h];
    cache->r[h] = c;
    return c;
}

/* core_resource_ensure_id, first from the resources this request created. */
static int res_id(struct core_ctx *ctx, struct core_import_cache *cache, const char *kind,
                  const char *key, int64_t *id, struct tg_err *err)
{
    struct cached_res *c = res_cached(cache, kind, key);

    if (c && c->id > 0) {
        *id = c->id;
        return 0;
    }
    return core_resource_ensure_id(ctx, kind, key, id, err);
}

/* New resources waiting for core_resource_create_bulk, and their cache entries. */
struct res_wait {
    struct resource *v;
    struct cached_res **c;
    size_t n;
};

static int res_flush(struct core_ctx *ctx, struct res_wait *w, struct tg_err *err)
{
    int rc = core_resource_create_bulk(ctx, w->v, w->n, err);

    for (size_t i = 0; i < w->n && rc == 0; i++)
        w->c[i]->id = w->v[i].id;
    w->n = 0;
    return rc;
}

/* Whether record `in` of resource (kind, key) may wait to be created in bulk; *parent is then
 * its parent's id (0: none). 0 for no, 1 for yes, or a tg_code. A record that is anything but
 * a new resource with nothing to check that core_resource_put would not check alike (a
 * document, a bad name or reference, a missing parent that it would create) goes the one at a
 * time way, which gives the same rows or the same refusal. A parent that waits itself is
 * created first. */
static int res_simple(struct core_ctx *ctx, struct core_import_cache *cache, struct res_wait *w,
                      const char *kind, const char *key, const struct resource_input *in,
                      int64_t *parent, struct tg_err *err)
{
    struct tg_err no;
    struct cached_res *c;
    int64_t id;
    int rc;

    *parent = 0;
    tg_err_clear(&no);
    if (in->has_extra || core_resource_ref_check(kind, key, &no) != 0)
        return 0;
    if (in->has_name && in->name &&
        (strlen(in->name) > 1024 || !name_is_clean_utf8(in->name, strlen(in->name))))
        return 0;
    if (res_cached(cache, kind, key))
        return 0;
    rc = core_resource_find_id(ctx, kind, key, &id, err);
    if (rc == 0)
        return 0;
    if (rc != TG_ENOTFOUND)
        return rc;
    tg_err_clear(err);
    if (!in->has_parent || in->parent_kind == NULL)
        return 1;
    if (core_resource_ref_check(in->parent_kind, in->parent_key, &no) != 0 ||
        (strcmp(in->parent_kind, kind) == 0 && strcmp(in->parent_key, key) == 0))
        return 0;
    c = res_cached(cache, in->parent_kind, in->parent_key);
    if (c && c->id == 0 && (rc = res_flush(ctx, w, err)) != 0)
        return rc;
    if (c) {
        assert(c->id > 0);
        *parent = c->id;
        return 1;
    }
    rc = core_resource_find_id(ctx, in->parent_kind, in->parent_key, parent, err);
    if (rc == TG_ENOTFOUND) {
        tg_err_clear(err);
        return 0;
    }
    return rc ? rc : 1;
}

int core_import_resource_bulk(struct core_ctx *ctx, struct core_import_cache *cache,
                              const struct core_import_res *v, size_t n, int *line,
                              struct tg_err *err)
{
    struct res_wait w = {0};
    int *wline;
    int rc = 0;

    assert(cache != NULL);
    if (n == 0)
        return 0;
    w.v = arena_alloc(ctx->a, n * sizeof(*w.v));
    w.c = arena_alloc(ctx->a, n * sizeof(*w.c));
    wline = arena_alloc(ctx->a, n * sizeof(*wline));
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct resource_input *in = v[i].in;
        struct resource *r;
        int64_t parent, id;

        *line = v[i].line;
        rc = res_simple(ctx, cache, &w, v[i].kind, v[i].key, in, &parent, err);
        if (rc < 0)
            break;
        if (rc == 0) {
            if (w.n) {
                *line = wline[0];
                if ((rc = res_flush(ctx, &w, err)) != 0)
                    break;
                *line = v[i].line;
            }
            rc = import_resource(ctx, v[i].kind, v[i].key, in, &id, err);
            if (rc == 0)
                res_remember(ctx, cache, v[i].kind, v[i].key, id);
            continue;
        }
        rc = 0;
        r = &w.v[w.n];
        memset(r, 0, sizeof(*r));
        r->kind = v[i].kind;
        r->key = v[i].key;
        r->name = in->has_name ? in->name : NULL;
        r->archived = in->has_archived && in->archived;
        r->parent_id = parent;
        w.c[w.n] = res_remember(ctx, cache, v[i].kind, v[i].key, 0);
        wline[w.n++] = v[i].line;
        if (w.n == XCHG_BULK_ROWS) {
            *line = wline[0];
            rc = res_flush(ctx, &w, err);
        }
    }
    if (rc == 0 && w.n) {
        *line = wline[0];
        rc = res_flush(ctx, &w, err);
    }
    return rc;
}

static int tag_id_by_name(struct core_ctx *ctx, struct core_import_cache *cache,
                          const char *name, int64_t *id, struct tg_err *err)
{
    const struct eng_snap *s;
    struct cached_tag *c;
    struct tag t;
    int rc;

    if (cache)
        for (c = cache->b[name_hash(name)]; c; c = c->next)
            if (strcmp(c->name, name) == 0) {
                *id = c->id;
                return 0;
            }
    /* From the writer's engine snapshot when no tag, alias or group changed since it was
     * taken (core_writer_snap; this transaction's own changes count): a chunk names about a
     * thousand tags, each a statement otherwise. A name it does not hold (an alias, a deleted
     * tag) is the store's to answer. */
    s = ctx->writing ? core_writer_snap(ctx, 0) : NULL;
    if (s) {
        const struct tag *e = NULL;
        struct tg_err no;
        char *nfc, *key;
        if (name_normalize(ctx->a, name, strlen(name), true, "tag", &nfc, &key, &no) == 0)
            e = eng_tag_by_key(s, ctx->ws_id, key);
        if (e)
            t.id = e->id;
        engine_release(ctx->engine, s);
        if (e) {
            rc = 0;
            goto found;
        }
    }
    rc = core_tag_find(ctx, name, &t, err);
    if (rc == 0 && t.deleted)
        rc = tg_err_set(err, TG_ENOTFOUND, "tag", "tag '%s' is deleted", name);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "tag", "no tag named '%s'", name);
    if (rc)
        return rc;
found:
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
    rc = res_id(ctx, cache, kind, key, &rid, err);
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
        rc = res_id(ctx, cache, v[i].kind, v[i].key, &items[ni].resource_id, err);
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

int core_import_alias(struct core_ctx *ctx, const char *tag, const char *alias,
                      const char *field, struct tg_err *err)
{
    struct tag_alias a;
    struct tag t;
    char *nfc, *key;
    bool found;
    int rc;

    /* The tag must be live, as for an assignment (tag_id_by_name): a file's alias follows
     * its tag's record, and a deleted tag is no tag of the file. */
    rc = core_tag_find(ctx, tag, &t, err);
    if (rc == 0 && t.deleted)
        return tg_err_set(err, TG_ENOTFOUND, "tag", "tag '%s' is deleted", tag);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "tag", "no tag named '%s'", tag);
    if (rc)
        return rc;
    rc = name_normalize(ctx->a, alias, strlen(alias), true, field, &nfc, &key, err);
    if (rc)
        return rc;
    if (strcmp(key, t.name_key) == 0)
        return 0;
    rc = core_alias_find(ctx, key, &a, &found, err);
    if (rc)
        return rc;
    if (found && a.tag_id == t.id)
        return 0;
    rc = core__alias_add(ctx, nfc, key, t.id, "import", err);
    if (rc == TG_EEXISTS)
        snprintf(err->field, sizeof(err->field), "%s", field);
    return rc;
}

int core_export_aliases(struct core_ctx *ctx, int64_t rev, int64_t tag_id, const char ***out,
                        size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_XCHG_ALIASES_AT, err);
    struct vec v;
    int rc;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(const char *));
    st_int(st, 1, tag_id);
    st_int(st, 2, rev);
    while ((rc = st_step(st, err)) == 1) {
        const char **p = vec_push(ctx, &v);
        *p = col_dup(ctx, st, 0);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *out = v.items;
    *n = v.n;
    return 0;
}

int core_export_alias_page(struct core_ctx *ctx, int64_t rev, const char *after, size_t limit,
                           struct xchg_alias **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_XCHG_ALIAS_PAGE, err);
    struct vec v;
    int rc;

    assert(limit > 0 && after != NULL);
    *out = NULL;
    *n = 0;
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct xchg_alias));
    st_int(st, 1, ctx->ws_id);
    st_int(st, 2, rev);
    st_text(st, 3, after);
    st_int(st, 4, (int64_t)limit);
    while ((rc = st_step(st, err)) == 1) {
        struct xchg_alias *a = vec_push(ctx, &v);
        a->name = col_dup(ctx, st, 0);
        a->name_key = col_dup(ctx, st, 1);
        a->tag = col_dup(ctx, st, 2);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *out = v.items;
    *n = v.n;
    return 0;
}

/* ---- import jobs ---- */

#define JOB_KEEP_MS (7 * 24 * 3600 * 1000LL)
static const char *const job_state_names[] = {"running", "failed", "done"};

/* This start of the server: a job running under another start was cut by a restart. Set
 * once, at the first use (the time then, which no earlier start can have had). */
static _Atomic int64_t this_boot;

static int64_t boot_id(void)
{
    int64_t zero = 0, now = time_now_ms();

    if (atomic_load(&this_boot) == 0)
        atomic_compare_exchange_strong(&this_boot, &zero, now);
    return atomic_load(&this_boot);
}

static void copy_col(struct store_stmt *st, int i, char *buf, size_t n)
{
    const char *t = col_null(st, i) ? NULL : col_text(st, i);
    snprintf(buf, n, "%s", t ? t : "");
}

int core_import_job_get(struct core_ctx *ctx, const char *id, struct core_import_job *out,
                        struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_XCHG_JOB_GET, err);
    char state[16];
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    memset(out, 0, sizeof(*out));
    st_text(st, 1, id);
    st_int(st, 2, ctx->org_id);
    rc = st_step(st, err);
    if (rc == 1) {
        copy_col(st, 0, out->id, sizeof(out->id));
        out->org_id = col_int(st, 1);
        out->ws_id = col_int(st, 2);
        copy_col(st, 3, out->format, sizeof(out->format));
        copy_col(st, 4, state, sizeof(state));
        out->state = CORE_JOB_RUNNING;
        for (int i = 0; i < 3; i++)
            if (strcmp(state, job_state_names[i]) == 0)
                out->state = (enum core_job_state)i;
        out->chunks_done = col_int(st, 5);
        out->rows = col_int(st, 6);
        out->failures = col_int(st, 7);
        out->last_rev = col_null(st, 8) ? 0 : col_int(st, 8);
        out->has_error = !col_null(st, 9);
        out->err_chunk = out->has_error ? col_int(st, 9) : 0;
        out->err_line = col_null(st, 10) ? 0 : (int)col_int(st, 10);
        copy_col(st, 11, out->err_code, sizeof(out->err_code));
        copy_col(st, 12, out->err_field, sizeof(out->err_field));
        copy_col(st, 13, out->err_msg, sizeof(out->err_msg));
        out->interrupted = out->state == CORE_JOB_RUNNING && col_int(st, 14) != boot_id();
        out->created_at = col_int(st, 15);
        out->updated_at = col_int(st, 16);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "job", "no import job '%s'", id);
    return 0;
}

int core_import_job_put(struct core_ctx *ctx, struct core_import_job *j, struct tg_err *err)
{
    struct store_stmt *st;
    int rc;

    assert((unsigned)j->state < 3 && j->id[0]);
    if (j->created_at == 0) {
        /* A new job: the old ones go first. */
        st = st_get(ctx->conn, SQL_XCHG_JOB_PURGE, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, ctx->now - JOB_KEEP_MS);
        rc = st_exec(st, err);
        if (rc)
            return rc;
        j->created_at = ctx->now;
    }
    j->updated_at = ctx->now;
    j->interrupted = false;
    st = st_get(ctx->conn, SQL_XCHG_JOB_PUT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, j->id);
    st_int(st, 2, j->org_id);
    st_int(st, 3, j->ws_id);
    st_text(st, 4, j->format);
    st_text(st, 5, job_state_names[j->state]);
    st_int(st, 6, j->chunks_done);
    st_int(st, 7, j->rows);
    st_int(st, 8, j->failures);
    if (j->last_rev)
        st_int(st, 9, j->last_rev);
    else
        st_null(st, 9);
    if (j->has_error) {
        st_int(st, 10, j->err_chunk);
        if (j->err_line > 0)
            st_int(st, 11, j->err_line);
        else
            st_null(st, 11);
        st_text(st, 12, j->err_code);
        st_text(st, 13, j->err_field[0] ? j->err_field : NULL);
        st_text(st, 14, j->err_msg);
    } else {
        for (int i = 10; i <= 14; i++)
            st_null(st, i);
    }
    st_int(st, 15, boot_id());
    st_int(st, 16, j->created_at);
    st_int(st, 17, j->updated_at);
    return st_exec(st, err);
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
