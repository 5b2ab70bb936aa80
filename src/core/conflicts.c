/* core/conflicts.c: exclusive groups' policies for inheritance conflicts (docs/taxonomy.md,
 * "Inheritance conflicts").
 *
 * A group that is exclusive lets a resource hold at most one of its tags directly, but a
 * resource still inherits its ancestors' tags: it may inherit tag A of the group and hold B,
 * or inherit A and B from two ancestors. The group's `conflict` says what its effective tags
 * hold then: `union` every one (what tagd always did), `child-wins` only the nearest holder's,
 * `parent-wins` only the farthest ancestor's, and `reject` union while refusing every write
 * that would make such a conflict (an assignment, a resource's move, a tag entering the group,
 * and switching a group with conflicts to reject).
 *
 * Three readers apply the policies and must agree: the engine (engine/read.c for a resource's
 * effective tags, engine/eval.c for effective queries), the store's current rows when the
 * engine cannot answer (core/resources.c, core_assign_list) and the history (core/history.c,
 * as_of). This file holds the store side's resolution; tests/unit/test_conflicts.c compares
 * the engine with the history on random trees. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "core/history.h"

enum group_conflict core__group_policy(const struct group *g)
{
    return g->exclusive ? g->conflict : CONFLICT_UNION;
}

static int cmp_pol(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts `p` by group: pairs are gathered into one array first. */
struct pol_pair {
    int64_t group;
    enum group_conflict policy;
};

static void pols_finish(struct core_ctx *ctx, struct vec *v, struct conflict_pols *out)
{
    struct pol_pair *pp = v->items;

    if (v->n > 1)
        qsort(pp, v->n, sizeof(*pp), cmp_pol);
    out->n = v->n;
    out->group = arena_alloc(ctx->a, (v->n + 1) * sizeof(*out->group));
    out->policy = arena_alloc(ctx->a, (v->n + 1) * sizeof(*out->policy));
    for (size_t i = 0; i < v->n; i++) {
        out->group[i] = pp[i].group;
        out->policy[i] = pp[i].policy;
    }
}

int core__conflict_pols(struct core_ctx *ctx, struct conflict_pols *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_CONF_POLICIES, err);
    struct vec v;
    int rc;

    memset(out, 0, sizeof(*out));
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct pol_pair));
    st_int(st, 1, ctx->ws_id);
    while ((rc = st_step(st, err)) == 1) {
        struct pol_pair *p = vec_push(ctx, &v);
        p->group = col_int(st, 0);
        group_conflict_parse(col_text(st, 1), &p->policy);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    pols_finish(ctx, &v, out);
    return 0;
}

int core__conflict_pols_at(struct core_ctx *ctx, int64_t rev, struct conflict_pols *out,
                           struct tg_err *err)
{
    struct group *gs;
    struct vec v;
    size_t n;
    int rc = core_asof_group_list(ctx, rev, &gs, &n, err);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    vec_init(&v, sizeof(struct pol_pair));
    for (size_t i = 0; i < n; i++) {
        if (core__group_policy(&gs[i]) != CONFLICT_UNION) {
            struct pol_pair *p = vec_push(ctx, &v);
            p->group = gs[i].id;
            p->policy = core__group_policy(&gs[i]);
        }
    }
    pols_finish(ctx, &v, out);
    return 0;
}

enum group_conflict core__conflict_of(const struct conflict_pols *p, int64_t group_id)
{
    const int64_t *at;

    if (group_id == 0 || p->n == 0)
        return CONFLICT_UNION;
    at = bsearch(&group_id, p->group, p->n, sizeof(*p->group), cmp_pol);
    return at ? p->policy[at - p->group] : CONFLICT_UNION;
}

void core__conflict_resolve(struct core_ctx *ctx, const struct conflict_pols *p,
                            struct assignment *as, size_t *n)
{
    size_t k = 0, len = *n;
    bool *drop = NULL;

    if (p->n && len > 1) {
        /* Levels by runs of the carrying resource; an entry of a child-wins (parent-wins)
         * group goes when a nearer (farther) level holds a tag of its group. */
        int *level = arena_alloc(ctx->a, len * sizeof(*level));
        enum group_conflict *pol = arena_alloc(ctx->a, len * sizeof(*pol));
        drop = arena_alloc(ctx->a, len * sizeof(*drop));
        level[0] = 0;
        for (size_t i = 1; i < len; i++)
            level[i] = level[i - 1] + (as[i].resource_id != as[i - 1].resource_id);
        for (size_t i = 0; i < len; i++)
            pol[i] = core__conflict_of(p, as[i].tag.group_id);
        for (size_t i = 0; i < len; i++) {
            drop[i] = false;
            if (pol[i] != CONFLICT_CHILD_WINS && pol[i] != CONFLICT_PARENT_WINS)
                continue;
            for (size_t j = 0; j < len && !drop[i]; j++)
                if (as[j].tag.group_id == as[i].tag.group_id)
                    drop[i] = pol[i] == CONFLICT_CHILD_WINS ? level[j] < level[i]
                                                             : level[j] > level[i];
        }
    }
    for (size_t i = 0; i < len; i++) {
        bool dup = false;
        if (drop && drop[i])
            continue;
        for (size_t j = 0; j < k && !dup; j++)
            dup = as[j].tag.id == as[i].tag.id;
        if (!dup)
            as[k++] = as[i];
    }
    *n = k;
}

/* ---- reject: the writes that would make a conflict ---- */

/* Runs SQL_CONF_UP or SQL_CONF_DOWN from `from` for group g's tags other than `tag_id`: 1 with
 * the tag's name and its holder in *name, *kind, *key when there is one, 0 when none. */
static int find_other(struct core_ctx *ctx, enum store_sql id, int64_t from, int64_t group,
                      int64_t tag_id, const char **name, const char **kind, const char **key,
                      struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, id, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, from);
    st_int(st, 2, group);
    st_int(st, 3, tag_id);
    st_int(st, 4, ctx->now);
    rc = st_step(st, err);
    if (rc == 1) {
        *name = col_dup(ctx, st, 0);
        *kind = col_dup(ctx, st, 1);
        *key = col_dup(ctx, st, 2);
    }
    st_reset(st);
    return rc;
}

int core__conflict_check_add(struct core_ctx *ctx, int64_t resource_id, const struct tag *t,
                             const struct group *g, struct tg_err *err)
{
    const char *name, *kind, *key;
    int64_t parent = 0;
    struct resource r;
    int rc;

    assert(core__group_policy(g) == CONFLICT_REJECT);
    rc = core_resource_get_id(ctx, resource_id, &r, err);
    if (rc)
        return rc;
    parent = r.parent_id;
    if (parent) {
        rc = find_other(ctx, SQL_CONF_UP, parent, g->id, t->id, &name, &kind, &key, err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return tg_err_set(err, TG_ECONFLICT, "tags",
                              "group '%s' rejects inheritance conflicts: %s/%s would inherit '%s'"
                              " from %s/%s and hold '%s'",
                              g->name, r.kind, r.key, name, kind, key, t->name);
    }
    rc = find_other(ctx, SQL_CONF_DOWN, resource_id, g->id, t->id, &name, &kind, &key, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return tg_err_set(err, TG_ECONFLICT, "tags",
                          "group '%s' rejects inheritance conflicts: %s/%s holds '%s' and would"
                          " inherit '%s' from %s/%s",
                          g->name, kind, key, name, t->name, r.kind, r.key);
    return 0;
}

int core__conflict_check_move(struct core_ctx *ctx, int64_t resource_id, int64_t parent_id,
                              struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_CONF_ANY_REJECT, err);
    struct held {
        int64_t group, tag;
        const char *name, *gname;
    };
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    rc = st_step(st, err);
    st_reset(st);
    if (rc <= 0)
        return rc; /* no reject group: no move can conflict */
    st = st_get(ctx->conn, SQL_CONF_UP_REJECT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct held));
    st_int(st, 1, parent_id);
    st_int(st, 2, ctx->now);
    while ((rc = st_step(st, err)) == 1) {
        struct held *h = vec_push(ctx, &v);
        h->group = col_int(st, 0);
        h->tag = col_int(st, 1);
        h->name = col_dup(ctx, st, 2);
        h->gname = col_dup(ctx, st, 3);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < v.n; i++) {
        const struct held *h = (const struct held *)v.items + i;
        const char *name, *kind, *key;
        rc = find_other(ctx, SQL_CONF_DOWN, resource_id, h->group, h->tag, &name, &kind, &key,
                        err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return tg_err_set(err, TG_ECONFLICT, "parent",
                              "group '%s' rejects inheritance conflicts: %s/%s holds '%s' and"
                              " would inherit '%s' under its new parent",
                              h->gname, kind, key, name, h->name);
    }
    return 0;
}

int core__conflict_refuse(struct core_ctx *ctx, const struct group *g, const struct tag *joining,
                          struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_CONF_COUNT, err);
    int64_t count = 0;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, g->id);
    st_int(st, 2, ctx->now);
    rc = st_step(st, err);
    if (rc == 1)
        count = col_int(st, 0);
    st_reset(st);
    if (rc < 0)
        return rc;
    if (count == 0)
        return 0;
    if (joining)
        return tg_err_set(err, TG_ECONFLICT, "group_id",
                          "group '%s' rejects inheritance conflicts: with '%s' in it, %lld"
                          " resource%s would hold a tag of the group while an ancestor holds"
                          " another",
                          g->name, joining->name, (long long)count, count == 1 ? "" : "s");
    return tg_err_set(err, TG_ECONFLICT, "conflict",
                      "group '%s' has %lld resource%s holding a tag of the group while an"
                      " ancestor holds another: resolve them before setting conflict to reject",
                      g->name, (long long)count, count == 1 ? "" : "s");
}

int core__conflict_tag_check(struct core_ctx *ctx, const struct tag *before, const struct tag *t,
                             struct tg_err *err)
{
    struct group g;
    int rc;

    /* A new tag holds nothing yet; one that stays where it was changes nothing. */
    if (before == NULL || t->deleted || t->group_id == 0 ||
        (before->group_id == t->group_id && !before->deleted))
        return 0;
    rc = core_group_get(ctx, t->group_id, &g, err);
    if (rc)
        return rc == TG_ENOTFOUND ? 0 : rc;
    if (core__group_policy(&g) != CONFLICT_REJECT)
        return 0;
    return core__conflict_refuse(ctx, &g, t, err);
}
