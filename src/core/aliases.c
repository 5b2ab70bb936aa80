/* core/aliases.c: old names of tags (aliases) and merging tags into others.
 *
 * The rules (core.h, "aliases and merges"): a rename keeps the old names as aliases, a merge
 * keeps the merged names as aliases of their targets, lookups by name resolve an alias to the
 * tag it names now, and no live tag shares a name with an alias. Every dialect reaches tags by
 * name through core_tag_find / core_tag_ensure / core__tag_by_key (tags.c), which call
 * core__tag_by_name here; the query language resolves aliases in the engine's own table
 * (engine/update.c, eng__alias_find), which a change record of entity "alias" makes it read
 * again. Alias changes are logged under the tag they point to, so the tag's history shows them.
 *
 * A merge is planned completely before it writes: the pairs (merged tag, target), each
 * affected resource's tags after the merge, and the exclusive groups that would break. A
 * conflict or a dry run stops there; otherwise the assignments move through the same add and
 * remove records as any other assignment write (the engine applies them as it applies those),
 * then the aliases follow and the merged tags are deleted, deepest first. */
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "util/jw.h"
#include "util/name.h"

static void row_alias(struct core_ctx *ctx, struct store_stmt *st, struct tag_alias *a)
{
    a->id = col_int(st, 0);
    a->ws_id = col_int(st, 1);
    a->name = col_dup(ctx, st, 2);
    a->name_key = col_dup(ctx, st, 3);
    a->tag_id = col_int(st, 4);
    a->reason = col_dup(ctx, st, 5);
    a->created_at = col_int(st, 6);
    a->created_by = col_dup(ctx, st, 7);
}

static const char *alias_json(struct core_ctx *ctx, const struct tag_alias *a)
{
    struct sbuf b;
    struct jw w;
    const char *out;

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "name", a->name);
    jw_kint(&w, "tag_id", a->tag_id);
    jw_kstr(&w, "reason", a->reason);
    jw_obj_end(&w);
    out = arena_strndup(ctx->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return out;
}

int core_alias_find(struct core_ctx *ctx, const char *key, struct tag_alias *out, bool *found,
                    struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ALIAS_BY_KEY, err);
    int rc;

    *found = false;
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, key);
    rc = st_step(st, err);
    if (rc == 1) {
        row_alias(ctx, st, out);
        *found = true;
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core_alias_list(struct core_ctx *ctx, int64_t tag_id, struct tag_alias **out, size_t *n,
                    struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ALIAS_BY_TAG, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct tag_alias));
    st_int(st, 1, tag_id);
    while ((rc = st_step(st, err)) == 1)
        row_alias(ctx, st, vec_push(ctx, &v));
    st_reset(st);
    *out = v.items;
    *n = v.n;
    return rc < 0 ? rc : 0;
}

/* Ends alias `a` at this revision (its row stays for reads as of a past revision). */
static int alias_close(struct core_ctx *ctx, const struct tag_alias *a, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = core_rev(ctx, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_ALIAS_CLOSE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, a->id);
    st_int(st, 2, ctx->rev);
    return st_exec(st, err);
}

static int alias_delete(struct core_ctx *ctx, const struct tag_alias *a, const char *op,
                        struct tg_err *err)
{
    int rc = alias_close(ctx, a, err);

    if (rc)
        return rc;
    return core_change(ctx, "alias", a->tag_id, op, alias_json(ctx, a), NULL, err);
}

/* Writes alias row `a` (name, key, tag, reason) from this revision on; no checks. */
static int alias_insert(struct core_ctx *ctx, const struct tag_alias *a, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = core_rev(ctx, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_ALIAS_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, a->name);
    st_text(st, 3, a->name_key);
    st_int(st, 4, a->tag_id);
    st_text(st, 5, a->reason);
    st_int(st, 6, ctx->now);
    st_text(st, 7, core_actor(ctx));
    st_int(st, 8, ctx->rev);
    rc = st_step(st, err);
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core_alias_remove(struct core_ctx *ctx, int64_t tag_id, const char *name, struct tg_err *err)
{
    struct tag_alias a;
    char *nfc, *key;
    bool found;
    int rc;

    rc = core_require(ctx, RIGHT_WRITE, err);
    if (rc)
        return rc;
    rc = name_normalize(ctx->a, name, strlen(name), true, "alias", &nfc, &key, err);
    if (rc)
        return rc;
    rc = core_alias_find(ctx, key, &a, &found, err);
    if (rc)
        return rc;
    if (!found || a.tag_id != tag_id)
        return tg_err_set(err, TG_ENOTFOUND, "alias", "'%s' is not an alias of this tag", nfc);
    return alias_delete(ctx, &a, "remove", err);
}

int core__alias_add(struct core_ctx *ctx, const char *nfc, const char *key, int64_t tag_id,
                    const char *reason, struct tg_err *err)
{
    struct tag_alias a;
    struct tag t;
    bool found;
    int rc;

    rc = core__tag_by_key_exact(ctx, key, &t, &found, err);
    if (rc)
        return rc;
    if (found && !t.deleted)
        return tg_err_set(err, TG_EEXISTS, "name", "'%s' is a tag: an alias cannot shadow it",
                          t.name);
    rc = core_alias_find(ctx, key, &a, &found, err);
    if (rc)
        return rc;
    if (found)
        return tg_err_set(err, TG_EEXISTS, "name", "'%s' is already an alias", a.name);
    memset(&a, 0, sizeof(a));
    a.ws_id = ctx->ws_id;
    a.name = nfc;
    a.name_key = key;
    a.tag_id = tag_id;
    a.reason = reason;
    rc = alias_insert(ctx, &a, err);
    if (rc)
        return rc;
    return core_change(ctx, "alias", tag_id, "add", NULL, alias_json(ctx, &a), err);
}

int core__alias_name_check(struct core_ctx *ctx, const struct tag *before, const struct tag *t,
                           struct tg_err *err)
{
    struct tag_alias a;
    struct tag other;
    bool found;
    int rc;

    if (t->deleted || (before && !before->deleted && strcmp(before->name_key, t->name_key) == 0))
        return 0;
    rc = core_alias_find(ctx, t->name_key, &a, &found, err);
    if (rc || !found)
        return rc;
    if (t->id && a.tag_id == t->id) /* a rename back to an old name: it is the tag's again */
        return alias_delete(ctx, &a, "remove", err);
    rc = core_tag_get(ctx, a.tag_id, &other, err);
    if (rc)
        return rc == TG_ENOTFOUND
                   ? tg_err_set(err, TG_EEXISTS, "name",
                                "'%s' is an alias of a purged tag; remove the alias first", a.name)
                   : rc;
    return tg_err_set(err, TG_EEXISTS, "name",
                      "'%s' is an alias of tag '%s' (%lld); remove the alias first", a.name,
                      other.name, (long long)other.id);
}

int core__alias_drop_tag(struct core_ctx *ctx, int64_t tag_id, struct tg_err *err)
{
    struct tag_alias *v;
    size_t n;
    int rc = core_alias_list(ctx, tag_id, &v, &n, err);

    for (size_t i = 0; i < n && rc == 0; i++)
        rc = alias_delete(ctx, &v[i], "remove", err);
    return rc;
}

int core__alias_at(struct core_ctx *ctx, const char *key, int64_t rev, int64_t *tag_id,
                   struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ALIAS_ASOF, err);
    int rc;

    *tag_id = 0;
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, key);
    st_int(st, 3, rev);
    rc = st_step(st, err);
    if (rc == 1)
        *tag_id = col_int(st, 0);
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core__tag_by_name(struct core_ctx *ctx, const char *key, struct tag *out, bool *found,
                      struct tg_err *err)
{
    struct tag_alias a;
    struct tag t;
    bool afound;
    int rc;

    rc = core__tag_by_key_exact(ctx, key, out, found, err);
    if (rc || (*found && !out->deleted))
        return rc;
    rc = core_alias_find(ctx, key, &a, &afound, err);
    if (rc || !afound)
        return rc;
    rc = core_tag_get(ctx, a.tag_id, &t, err);
    if (rc == TG_ENOTFOUND)
        return 0; /* the alias of a purged tag names nothing */
    if (rc)
        return rc;
    {
        struct alias_hit *h = arena_alloc(ctx->a, sizeof(*h));
        h->alias = a.name;
        h->tag_id = t.id;
        h->tag = t.name;
        h->next = ctx->alias_hits;
        ctx->alias_hits = h;
    }
    *out = t;
    *found = true;
    return 0;
}

/* ---- merging ---- */

/* One current assignment of a merged tag: where it is and how it was made. */
struct mrow {
    int64_t resource_id;
    size_t pair;
    const char *context;
    int64_t expires_at; /* 0: permanent; a moved assignment keeps its expiry */
};

static int cmp_mrow(const void *x, const void *y)
{
    const struct mrow *a = x, *b = y;
    if (a->resource_id != b->resource_id)
        return a->resource_id < b->resource_id ? -1 : 1;
    return (a->pair > b->pair) - (a->pair < b->pair);
}

/* A tag a resource carries, with its group. */
struct rtag {
    int64_t id, group_id;
    const char *name;
};

static bool below_or_at(const char *key, const char *root)
{
    size_t n = strlen(root);
    return strncmp(key, root, n) == 0 && (key[n] == '\0' || key[n] == '.');
}

/* The pairs of a merge: `from` into `into`, and with `subtree` each live tag below `from`
 * into the tag of the same relative name below `into` (created if missing). */
static int plan_pairs(struct core_ctx *ctx, const struct tag *from, const struct tag *into,
                      bool subtree, struct vec *pairs, struct tg_err *err)
{
    struct tag *sub;
    size_t n, live = 0, flen = strlen(from->name);
    int rc;

    rc = core_tag_subtree(ctx, from, &sub, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (sub[i].deleted)
            continue;
        if (sub[i].protected_)
            return tg_err_set(err, TG_ERULE, "protected", "tag '%s' is protected", sub[i].name);
        if (sub[i].id != from->id)
            live++;
    }
    if (live && !subtree)
        return tg_err_set(err, TG_ECONFLICT, "subtree",
                          "tag '%s' has %zu child tags; merge them too with subtree", from->name,
                          live);
    for (size_t i = 0; i < n; i++) {
        struct merge_pair *p;
        if (sub[i].deleted)
            continue;
        p = vec_push(ctx, pairs);
        p->from = sub[i];
        if (sub[i].id == from->id) {
            p->into = *into;
        } else {
            char *raw = arena_printf(ctx->a, "%s%s", into->name, sub[i].name + flen);
            char *nfc, *key;
            bool found;
            rc = name_normalize(ctx->a, raw, strlen(raw), true, "into", &nfc, &key, err);
            if (rc)
                return rc;
            rc = core__tag_by_name(ctx, key, &p->into, &found, err);
            if (rc)
                return rc;
            if (!found || p->into.deleted) {
                memset(&p->into, 0, sizeof(p->into));
                p->into.name = nfc;
                p->into.name_key = key;
                p->created = true;
            } else if (below_or_at(p->into.name_key, from->name_key)) {
                return tg_err_set(err, TG_ERULE, "into",
                                  "'%s' would merge into '%s', which the merge removes", raw,
                                  p->into.name);
            }
        }
    }
    return 0;
}

/* The group of `id` as far as a merge needs it: cached per request in `groups`. */
struct gcache {
    int64_t id;
    bool exclusive;
    const char *name;
};

static int group_of(struct core_ctx *ctx, struct vec *groups, int64_t id, struct gcache **out,
                    struct tg_err *err)
{
    struct gcache *g = groups->items;
    struct group grp;
    int rc;

    for (size_t i = 0; i < groups->n; i++)
        if (g[i].id == id) {
            *out = &g[i];
            return 0;
        }
    rc = core_group_get(ctx, id, &grp, err);
    if (rc && rc != TG_ENOTFOUND)
        return rc;
    *out = vec_push(ctx, groups);
    (*out)->id = id;
    (*out)->exclusive = rc == 0 && grp.exclusive;
    (*out)->name = rc == 0 ? grp.name : NULL;
    return 0;
}

static int res_tags(struct core_ctx *ctx, int64_t rid, struct vec *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_MERGE_RES_TAGS, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(out, sizeof(struct rtag));
    st_int(st, 1, rid);
    while ((rc = st_step(st, err)) == 1) {
        struct rtag *t = vec_push(ctx, out);
        t->id = col_int(st, 0);
        t->group_id = col_null(st, 1) ? 0 : col_int(st, 1);
        t->name = col_dup(ctx, st, 2);
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

/* Whether the tag of `id` (or, for a target still to be made, of `key`) is in `v`. */
static bool has_tag(const struct vec *v, const struct merge_pair *p)
{
    const struct rtag *t = v->items;
    for (size_t i = 0; i < v->n; i++)
        if (p->into.id ? t[i].id == p->into.id : strcmp(t[i].name, p->into.name) == 0)
            return true;
    return false;
}

/* Checks the exclusive groups of one resource whose tags after the merge are `after`: a
 * group with two or more of them, one a target the merge brings, is a conflict. */
static int check_groups(struct core_ctx *ctx, int64_t rid, const struct vec *after,
                        const bool *brought, struct vec *groups, struct vec *conflicts,
                        struct tg_err *err)
{
    const struct rtag *t = after->items;
    int rc;

    for (size_t i = 0; i < after->n; i++) {
        struct gcache *g;
        struct merge_conflict *c;
        size_t k = 0;
        bool new_member = false, earlier = false;
        if (t[i].group_id == 0)
            continue;
        for (size_t j = 0; j < i && !earlier; j++)
            earlier = t[j].group_id == t[i].group_id;
        if (earlier)
            continue; /* reported with its first member */
        rc = group_of(ctx, groups, t[i].group_id, &g, err);
        if (rc)
            return rc;
        if (!g->exclusive)
            continue;
        for (size_t j = i; j < after->n; j++)
            if (t[j].group_id == t[i].group_id) {
                k++;
                new_member = new_member || brought[j];
            }
        if (k < 2 || !new_member)
            continue;
        c = vec_push(ctx, conflicts);
        c->resource_id = rid;
        c->group = g->name;
        c->tags = arena_alloc(ctx->a, k * sizeof(*c->tags));
        for (size_t j = i; j < after->n; j++)
            if (t[j].group_id == t[i].group_id)
                c->tags[c->ntags++] = t[j].name;
    }
    return 0;
}

int core_tag_merge(struct core_ctx *ctx, int64_t from_id, const struct merge_opts *o,
                   struct merge_result *out, struct tg_err *err)
{
    struct vec pairs, rows, groups, conflicts;
    struct merge_pair *p;
    struct mrow *m;
    struct tag from, into;
    struct store_stmt *st;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = core_require(ctx, RIGHT_WRITE, err);
    if (rc)
        return rc;
    /* A merge moves assignments wherever they are: a token limited to a subtree of resources
     * would reach past it. */
    if (ctx->who.resource_id > 0)
        return tg_err_set(err, TG_EFORBIDDEN, "token",
                          "a token scoped to a resource subtree cannot merge tags");
    if (o->into == NULL || *o->into == '\0')
        return tg_err_set(err, TG_EINVAL, "into", "'into' is required");
    rc = core_tag_get(ctx, from_id, &from, err);
    if (rc)
        return rc;
    if (from.deleted)
        return tg_err_set(err, TG_ENOTFOUND, "tag", "tag '%s' is deleted", from.name);
    rc = core_tag_resolve(ctx, o->into, &into, err);
    if (rc)
        return rc == TG_ENOTFOUND
                   ? tg_err_set(err, TG_ENOTFOUND, "into", "tag '%s' not found", o->into)
                   : rc;
    if (into.deleted)
        return tg_err_set(err, TG_ENOTFOUND, "into", "tag '%s' is deleted", into.name);
    if (into.id == from.id)
        return tg_err_set(err, TG_ERULE, "into", "a tag cannot merge into itself");
    if (below_or_at(into.name_key, from.name_key))
        return tg_err_set(err, TG_ERULE, "into", "'%s' cannot merge into its own subtree",
                          from.name);
    vec_init(&pairs, sizeof(struct merge_pair));
    rc = plan_pairs(ctx, &from, &into, o->subtree, &pairs, err);
    if (rc)
        return rc;
    p = pairs.items;
    /* Moving assignments in or out of a restricted subtree is the admin's
     * (assign_rights.c). A target the merge would make lies where its name puts it. */
    for (size_t i = 0; i < pairs.n; i++) {
        int64_t ra, rb;
        rc = core__assign_root(ctx, p[i].from.name_key, &ra, NULL, NULL, err);
        if (rc == 0)
            rc = core__assign_root(ctx, p[i].into.name_key, &rb, NULL, NULL, err);
        if (rc == 0)
            rc = core__assign_cross(ctx, ra, rb, "the merge", err);
        if (rc)
            return rc;
    }

    /* Every current assignment of the merged tags, by resource. */
    vec_init(&rows, sizeof(struct mrow));
    for (size_t i = 0; i < pairs.n; i++) {
        st = st_get(ctx->conn, SQL_MERGE_ASG, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, p[i].from.id);
        while ((rc = st_step(st, err)) == 1) {
            m = vec_push(ctx, &rows);
            m->resource_id = col_int(st, 0);
            m->pair = i;
            m->context = col_dup(ctx, st, 1);
            m->expires_at = col_int(st, 2);
        }
        st_reset(st);
        if (rc < 0)
            return rc;
    }
    m = rows.items;
    if (rows.n > 1)
        qsort(m, rows.n, sizeof(*m), cmp_mrow);

    /* Each resource's tags after the merge: the plan's counts and its conflicts. */
    vec_init(&groups, sizeof(struct gcache));
    vec_init(&conflicts, sizeof(struct merge_conflict));
    for (size_t i = 0, e; i < rows.n; i = e) {
        int64_t rid = m[i].resource_id;
        struct vec before, after;
        struct rtag *bt;
        bool *brought;
        for (e = i + 1; e < rows.n && m[e].resource_id == rid; e++)
            ;
        out->resources++;
        rc = res_tags(ctx, rid, &before, err);
        if (rc)
            return rc;
        bt = before.items;
        vec_init(&after, sizeof(struct rtag));
        for (size_t j = 0; j < before.n; j++) {
            bool merged = false;
            for (size_t k = i; k < e && !merged; k++)
                merged = bt[j].id == p[m[k].pair].from.id;
            if (!merged)
                *(struct rtag *)vec_push(ctx, &after) = bt[j];
        }
        brought = arena_alloc(ctx->a, (before.n + (e - i) + 1) * sizeof(*brought));
        memset(brought, 0, (before.n + (e - i) + 1) * sizeof(*brought));
        for (size_t k = i; k < e; k++) {
            struct merge_pair *q = &p[m[k].pair];
            struct rtag *t;
            if (has_tag(&after, q)) {
                q->collapsed++;
                out->collapsed++;
                continue;
            }
            q->moved++;
            out->moved++;
            t = vec_push(ctx, &after);
            t->id = q->into.id;
            t->group_id = q->into.group_id;
            t->name = q->into.name;
            brought[after.n - 1] = true;
        }
        rc = check_groups(ctx, rid, &after, brought, &groups, &conflicts, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < conflicts.n; i++) {
        struct merge_conflict *c = (struct merge_conflict *)conflicts.items + i;
        struct resource r;
        if (core_resource_get_id(ctx, c->resource_id, &r, NULL) == 0) {
            c->kind = r.kind;
            c->key = r.key;
        }
    }
    for (size_t i = 0; i < pairs.n; i++) {
        struct tag_alias *al;
        size_t na;
        rc = core_alias_list(ctx, p[i].from.id, &al, &na, err);
        if (rc)
            return rc;
        p[i].aliases = (int64_t)na;
    }
    out->pairs = p;
    out->npairs = pairs.n;
    out->conflicts = conflicts.items;
    out->nconflicts = conflicts.n;
    if (conflicts.n) {
        const struct merge_conflict *c = conflicts.items;
        return tg_err_set(err, TG_ECONFLICT, "into",
                          "the merge would break exclusive group '%s' on %zu resource%s "
                          "(%s/%s would carry '%s' and '%s'); nothing was changed",
                          c->group ? c->group : "?", conflicts.n, conflicts.n == 1 ? "" : "s",
                          c->kind ? c->kind : "?", c->key ? c->key : "?", c->tags[0],
                          c->tags[1]);
    }
    if (o->dry_run)
        return 0;

    /* The targets that do not exist yet, parents first (the pairs are in name order). */
    for (size_t i = 0; i < pairs.n; i++) {
        if (!p[i].created)
            continue;
        rc = core_tag_ensure(ctx, p[i].into.name, &p[i].into, err);
        if (rc)
            return rc;
    }
    /* The assignments: per resource, the merged tags' go, and their targets come unless the
     * resource carries them already (removals first, so an exclusive group can switch). */
    for (size_t i = 0, e; i < rows.n; i = e) {
        int64_t rid = m[i].resource_id;
        struct vec now;
        for (e = i + 1; e < rows.n && m[e].resource_id == rid; e++)
            ;
        for (size_t k = i; k < e; k++) {
            rc = core__asg_remove_one(ctx, rid, p[m[k].pair].from.id, err);
            if (rc)
                return rc;
        }
        rc = res_tags(ctx, rid, &now, err);
        if (rc)
            return rc;
        for (size_t k = i; k < e; k++) {
            struct merge_pair *q = &p[m[k].pair];
            struct rtag *t;
            if (has_tag(&now, q))
                continue;
            rc = core__asg_add_one(ctx, rid, &q->into, m[k].context, m[k].expires_at, err);
            if (rc)
                return rc;
            t = vec_push(ctx, &now);
            t->id = q->into.id;
            t->name = q->into.name;
        }
    }
    /* The names: deepest first, each merged tag is deleted, the aliases that named it name its
     * target, and so does its own name. */
    for (size_t i = pairs.n; i-- > 0;) {
        struct tag before = p[i].from, after = p[i].from;
        struct tag_alias *al;
        size_t na;
        after.deleted = true;
        rc = core_tag_save(ctx, &before, &after, "merge", err);
        if (rc)
            return rc;
        rc = core_alias_list(ctx, p[i].from.id, &al, &na, err);
        if (rc)
            return rc;
        for (size_t k = 0; k < na; k++) {
            const char *was = alias_json(ctx, &al[k]);
            rc = alias_close(ctx, &al[k], err);
            if (rc)
                return rc;
            al[k].tag_id = p[i].into.id;
            rc = alias_insert(ctx, &al[k], err);
            if (rc)
                return rc;
            rc = core_change(ctx, "alias", p[i].into.id, "retarget", was,
                             alias_json(ctx, &al[k]), err);
            if (rc)
                return rc;
        }
        rc = core__alias_add(ctx, p[i].from.name, p[i].from.name_key, p[i].into.id, "merge",
                             err);
        if (rc)
            return rc;
    }
    return 0;
}
