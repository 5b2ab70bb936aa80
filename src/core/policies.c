/* core/policies.c: tag policies (core/policies.h): their rows, the check every assignment
 * write passes (core__policy_check, called by resources.c) and the violations, which the
 * engine counts (engine/count.c).
 *
 * Rows are versioned like groups (struct versioned: policies_hist and a change record of
 * entity "policy" per change). A policy's subtrees are stored as tag ids ("12*,15": a tag
 * with its subtree, a tag alone) and resolved to the tags' current names when read, so that
 * the names a policy shows and matches follow renames. Matching is by name key: a tag is in
 * subtree `K.*` when its key is K or begins with "K.", as the query language's `K.*`.
 *
 * The write check reads the workspace's enforced policies once per request (ctx->policies)
 * and then only compares two lists of a resource's tags in memory; a write in a workspace
 * without enforced policies costs that one indexed read. */
#include "core/policies.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "engine/engine.h"
#include "util/jw.h"
#include "util/mem.h"
#include "util/name.h"

/* The enforced policies of one workspace, as a request read them (core_ctx.policies). */
struct policy_cache {
    int64_t ws_id;
    struct policy *p;
    size_t n;
};

const char *core_policy_kind_name(enum policy_kind k)
{
    switch (k) {
    case POLICY_REQUIRED:
        return "required";
    case POLICY_ALLOWED:
        return "allowed";
    default:
        TG_BUG("policy kind");
    }
}

const char *core_policy_mode_name(enum policy_mode m)
{
    switch (m) {
    case POLICY_AUDIT:
        return "audit";
    case POLICY_ENFORCE:
        return "enforce";
    default:
        TG_BUG("policy mode");
    }
}

const char *core_policy_reason_name(enum policy_reason r)
{
    switch (r) {
    case POLICY_TOO_FEW:
        return "too_few";
    case POLICY_TOO_MANY:
        return "too_many";
    case POLICY_NOT_ALLOWED:
        return "not_allowed";
    default:
        TG_BUG("policy reason");
    }
}

const char *core_policy_subtree_str(struct core_ctx *ctx, const struct policy_subtree *s)
{
    return s->subtree ? arena_printf(ctx->a, "%s.*", s->name) : s->name;
}

/* "policy 3 'Confidential files'" or "policy 3": how messages name a policy. */
static const char *policy_label(struct core_ctx *ctx, const struct policy *p)
{
    if (p->name)
        return arena_printf(ctx->a, "policy %lld '%s'", (long long)p->id, p->name);
    return arena_printf(ctx->a, "policy %lld", (long long)p->id);
}

/* The policy's subtrees as a list for messages: "Env.*, Stage.*". */
static const char *subtrees_str(struct core_ctx *ctx, const struct policy *p)
{
    const char *s = "";

    for (size_t i = 0; i < p->nsubtrees; i++)
        s = arena_printf(ctx->a, "%s%s%s", s, i ? ", " : "",
                         core_policy_subtree_str(ctx, &p->subtrees[i]));
    return s;
}

/* ---- the stored form of the subtrees ---- */

static const char *tags_format(struct core_ctx *ctx, const struct policy *p)
{
    const char *s = "";

    for (size_t i = 0; i < p->nsubtrees; i++)
        s = arena_printf(ctx->a, "%s%s%lld%s", s, i ? "," : "", (long long)p->subtrees[i].tag_id,
                         p->subtrees[i].subtree ? "*" : "");
    return s;
}

/* Parses "12*,15" and reads each tag's current name. */
static int tags_parse(struct core_ctx *ctx, const char *s, struct policy *p, struct tg_err *err)
{
    struct vec v;

    vec_init(&v, sizeof(struct policy_subtree));
    while (s && *s) {
        struct policy_subtree *st;
        struct tag t;
        char *end;
        long long id;
        int rc;
        errno = 0;
        id = strtoll(s, &end, 10);
        if (errno || id <= 0 || end == s)
            return tg_err_set(err, TG_EINTERNAL, "", "policy %lld: bad tags '%s'",
                              (long long)p->id, s);
        st = vec_push(ctx, &v);
        st->tag_id = id;
        st->subtree = *end == '*';
        if (*end == '*')
            end++;
        if (*end == ',')
            end++;
        else if (*end != '\0')
            return tg_err_set(err, TG_EINTERNAL, "", "policy %lld: bad tags", (long long)p->id);
        s = end;
        rc = core_tag_get(ctx, id, &t, err);
        if (rc == TG_ENOTFOUND) {
            /* Purged: it matches nothing any more. */
            st->name = arena_printf(ctx->a, "tag_%lld", id);
            st->key = "";
            st->deleted = true;
            continue;
        }
        if (rc)
            return rc;
        if (t.deleted) {
            /* A merged tag's name is an alias of the tag it went into: the policy follows. */
            struct tag_alias al;
            struct tag to;
            bool found;
            rc = core_alias_find(ctx, t.name_key, &al, &found, err);
            if (rc)
                return rc;
            if (found && al.tag_id != t.id && core_tag_get(ctx, al.tag_id, &to, NULL) == 0 &&
                !to.deleted)
                t = to;
        }
        st->name = t.name;
        st->key = t.name_key;
        st->deleted = t.deleted;
    }
    p->subtrees = v.items;
    p->nsubtrees = v.n;
    return 0;
}

/* Reads POLICY_COLS from column 0. */
static int row_policy(struct core_ctx *ctx, struct store_stmt *st, struct policy *p,
                      const char **tags)
{
    const char *kind, *mode;

    memset(p, 0, sizeof(*p));
    p->id = col_int(st, 0);
    p->ws_id = col_int(st, 1);
    p->name = col_dup(ctx, st, 2);
    kind = col_text(st, 3);
    p->kind = kind && strcmp(kind, "allowed") == 0 ? POLICY_ALLOWED : POLICY_REQUIRED;
    p->resource_kind = col_dup(ctx, st, 4);
    *tags = col_dup(ctx, st, 5);
    p->min = (int)col_int(st, 6);
    p->max = col_null(st, 7) ? -1 : (int)col_int(st, 7);
    mode = col_text(st, 8);
    p->mode = mode && strcmp(mode, "enforce") == 0 ? POLICY_ENFORCE : POLICY_AUDIT;
    p->created_by = col_dup(ctx, st, 9);
    p->created_at = col_int(st, 10);
    p->updated_at = col_int(st, 11);
    p->version = col_int(st, 12);
    return 0;
}

/* Runs a statement of POLICY_COLS rows (parameters bound) into *out. */
static int read_policies(struct core_ctx *ctx, struct store_stmt *st, struct policy **out,
                         size_t *n, struct tg_err *err)
{
    struct vec v, tags;
    int rc;

    vec_init(&v, sizeof(struct policy));
    vec_init(&tags, sizeof(const char *));
    while ((rc = st_step(st, err)) == 1)
        row_policy(ctx, st, vec_push(ctx, &v), vec_push(ctx, &tags));
    st_reset(st);
    if (rc < 0)
        return rc;
    /* The tags' names after the statement is done: reading them runs other statements. */
    for (size_t i = 0; i < v.n; i++) {
        rc = tags_parse(ctx, ((const char **)tags.items)[i], (struct policy *)v.items + i, err);
        if (rc)
            return rc;
    }
    *out = v.items;
    *n = v.n;
    return 0;
}

/* ---- rows ---- */

static const char *policy_json(struct core_ctx *ctx, const struct policy *p)
{
    struct sbuf b;
    struct jw w;
    const char *out;

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kint(&w, "id", p->id);
    jw_kstr(&w, "name", p->name);
    jw_kstr(&w, "kind", core_policy_kind_name(p->kind));
    jw_kstr(&w, "resource_kind", p->resource_kind);
    jw_key(&w, "subtrees");
    jw_arr(&w);
    for (size_t i = 0; i < p->nsubtrees; i++) {
        jw_obj(&w);
        jw_kint(&w, "tag_id", p->subtrees[i].tag_id);
        jw_kstr(&w, "name", core_policy_subtree_str(ctx, &p->subtrees[i]));
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    if (p->kind == POLICY_REQUIRED) {
        jw_kint(&w, "min", p->min);
        jw_key(&w, "max");
        if (p->max >= 0)
            jw_int(&w, p->max);
        else
            jw_null(&w);
    }
    jw_kstr(&w, "mode", core_policy_mode_name(p->mode));
    jw_kint(&w, "version", p->version);
    jw_obj_end(&w);
    out = arena_strndup(ctx->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return out;
}

/* Parameters ?4... of SQL_POLICY_INSERT and SQL_POLICY_UPDATE (core_int.h, struct versioned).
 * The row's stored form of its subtrees travels beside it. */
struct policy_row {
    struct policy p;
    const char *tags;
    const char *created_by;
    struct core_ctx *ctx;
};

static void policy_bind(struct store_stmt *st, const void *row, bool insert)
{
    const struct policy_row *r = row;

    st_text(st, 4, r->p.name);
    st_text(st, 5, core_policy_kind_name(r->p.kind));
    st_text(st, 6, r->p.resource_kind);
    st_text(st, 7, r->tags);
    st_int(st, 8, r->p.min);
    if (r->p.max >= 0)
        st_int(st, 9, r->p.max);
    st_text(st, 10, core_policy_mode_name(r->p.mode));
    if (insert)
        st_text(st, 11, r->created_by);
}

static const char *policy_row_json(struct core_ctx *ctx, const void *row)
{
    return policy_json(ctx, &((const struct policy_row *)row)->p);
}

static const struct versioned policy_rows = {
    .entity = "policy",
    VERSIONED_FIELDS(struct policy_row, p.),
    .insert = SQL_POLICY_INSERT,
    .update = SQL_POLICY_UPDATE,
    .hist_close = SQL_POLICY_HIST_CLOSE,
    .hist_open = SQL_POLICY_HIST_OPEN,
    .remove = SQL_POLICY_DELETE_ROW,
    .bind = policy_bind,
    .json = policy_row_json,
};

int core_policy_list(struct core_ctx *ctx, struct policy **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = core_require(ctx, RIGHT_READ, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_POLICY_LIST, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    return read_policies(ctx, st, out, n, err);
}

int core_policy_get(struct core_ctx *ctx, int64_t id, struct policy *out, struct tg_err *err)
{
    struct store_stmt *st;
    struct policy *p;
    size_t n;
    int rc = core_require(ctx, RIGHT_READ, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_POLICY_BY_ID, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->ws_id);
    rc = read_policies(ctx, st, &p, &n, err);
    if (rc)
        return rc;
    if (n == 0)
        return tg_err_set(err, TG_ENOTFOUND, "id", "policy %lld not found", (long long)id);
    *out = p[0];
    return 0;
}

/* ---- input ---- */

/* Resolves "Name.*", "Name", an alias or "tag_N" to a live tag. */
static int subtree_resolve(struct core_ctx *ctx, const char *s, const char *field,
                           struct policy_subtree *out, struct tg_err *err)
{
    size_t n = s ? strlen(s) : 0;
    struct tag t;
    int rc;

    memset(out, 0, sizeof(*out));
    if (n == 0 || n > 1024)
        return tg_err_set(err, TG_EINVAL, field, "'%s' must be a tag name, 'Name' or 'Name.*'",
                          field);
    if (n > 2 && strcmp(s + n - 2, ".*") == 0) {
        out->subtree = true;
        s = arena_strndup(ctx->a, s, n - 2);
    } else if (strchr(s, '*')) {
        return tg_err_set(err, TG_EINVAL, field,
                          "'%.100s': '*' is allowed only as the trailing '.*' of a name", s);
    }
    rc = core_tag_resolve(ctx, s, &t, err);
    if (rc == 0 && t.deleted)
        rc = tg_err_set(err, TG_ENOTFOUND, field, "tag '%s' is deleted", t.name);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ERULE, field, "'%.200s' names no tag of this workspace", s);
    if (rc)
        return rc;
    out->tag_id = t.id;
    out->name = t.name;
    out->key = t.name_key;
    return 0;
}

/* Applies `in` to `p` (a new policy: zeroed, kind unset) and checks the whole result. */
static int policy_apply(struct core_ctx *ctx, const struct policy_input *in, bool creating,
                        struct policy *p, struct tg_err *err)
{
    int rc;

    if (creating && !in->has_kind)
        return tg_err_set(err, TG_EINVAL, "kind", "'kind' is required: 'required' or 'allowed'");
    if (in->has_kind) {
        enum policy_kind k;
        if (in->kind && strcmp(in->kind, "required") == 0)
            k = POLICY_REQUIRED;
        else if (in->kind && strcmp(in->kind, "allowed") == 0)
            k = POLICY_ALLOWED;
        else
            return tg_err_set(err, TG_EINVAL, "kind", "'kind' must be 'required' or 'allowed'");
        if (!creating && k != p->kind)
            return tg_err_set(err, TG_ERULE, "kind",
                              "a policy's kind cannot change: delete it and create another");
        p->kind = k;
    }
    if (in->has_name) {
        size_t n = in->name ? strlen(in->name) : 0;
        if (in->name && (n == 0 || n > 200 || !name_is_clean_utf8(in->name, n)))
            return tg_err_set(err, TG_EINVAL, "name",
                              "'name' must be 1-200 bytes of text without control characters");
        p->name = in->name ? core_strdup(ctx, in->name) : NULL;
    }
    if (in->has_mode) {
        if (in->mode && strcmp(in->mode, "audit") == 0)
            p->mode = POLICY_AUDIT;
        else if (in->mode && strcmp(in->mode, "enforce") == 0)
            p->mode = POLICY_ENFORCE;
        else
            return tg_err_set(err, TG_EINVAL, "mode", "'mode' must be 'audit' or 'enforce'");
    }
    if (in->has_resource_kind) {
        if (in->resource_kind) {
            rc = core_resource_ref_check(in->resource_kind, "x", err);
            if (rc)
                return tg_err_set(err, TG_EINVAL, "resource_kind",
                                  "'resource_kind' must be 1-32 characters of a-z, 0-9, '_' and "
                                  "'-'");
        }
        p->resource_kind = in->resource_kind ? core_strdup(ctx, in->resource_kind) : NULL;
    }
    if (p->kind == POLICY_REQUIRED) {
        if (in->has_subtrees)
            return tg_err_set(err, TG_EINVAL, "subtrees",
                              "a required policy takes one 'subtree', not 'subtrees'");
        if (creating && !in->has_subtree)
            return tg_err_set(err, TG_EINVAL, "subtree",
                              "'subtree' is required: the tags to count, 'Name.*' or 'Name'");
        if (in->has_subtree) {
            p->subtrees = arena_alloc(ctx->a, sizeof(*p->subtrees));
            p->nsubtrees = 1;
            rc = subtree_resolve(ctx, in->subtree, "subtree", &p->subtrees[0], err);
            if (rc)
                return rc;
        }
        if (creating) {
            p->min = 1;
            p->max = -1;
        }
        if (in->has_min) {
            if (in->min < 0 || in->min > POLICY_MAX_COUNT)
                return tg_err_set(err, TG_EINVAL, "min", "'min' must be an integer from 0 to %d",
                                  POLICY_MAX_COUNT);
            p->min = (int)in->min;
        }
        if (in->has_max) {
            if (in->max == 0 || in->max > POLICY_MAX_COUNT)
                return tg_err_set(err, TG_EINVAL, "max",
                                  "'max' must be null or an integer from 1 to %d",
                                  POLICY_MAX_COUNT);
            p->max = in->max < 0 ? -1 : (int)in->max;
        }
        if (p->max >= 0 && p->min > p->max)
            return tg_err_set(err, TG_ERULE, "min", "'min' (%d) is above 'max' (%d)", p->min,
                              p->max);
        if (p->min == 0 && p->max < 0)
            return tg_err_set(err, TG_ERULE, "min",
                              "the policy requires nothing: give 'min' above 0 or a 'max'");
    } else {
        if (in->has_subtree)
            return tg_err_set(err, TG_EINVAL, "subtree",
                              "an allowed policy takes 'subtrees' (a list), not 'subtree'");
        if (in->has_min || in->has_max)
            return tg_err_set(err, TG_EINVAL, in->has_min ? "min" : "max",
                              "'min' and 'max' are for required policies");
        if (creating && !in->has_subtrees)
            return tg_err_set(err, TG_EINVAL, "subtrees",
                              "'subtrees' is required: the subtrees allowed, like ['Env.*']");
        if (in->has_subtrees) {
            struct vec v;
            if (in->nsubtrees == 0 || in->nsubtrees > POLICY_MAX_SUBTREES)
                return tg_err_set(err, TG_EINVAL, "subtrees",
                                  "'subtrees' must list 1 to %d subtrees", POLICY_MAX_SUBTREES);
            vec_init(&v, sizeof(struct policy_subtree));
            for (size_t i = 0; i < in->nsubtrees; i++) {
                struct policy_subtree s;
                bool dup = false;
                rc = subtree_resolve(ctx, in->subtrees[i],
                                     arena_printf(ctx->a, "subtrees[%zu]", i), &s, err);
                if (rc)
                    return rc;
                for (size_t k = 0; k < v.n && !dup; k++) {
                    const struct policy_subtree *o = (const struct policy_subtree *)v.items + k;
                    dup = o->tag_id == s.tag_id && o->subtree == s.subtree;
                }
                if (!dup)
                    *(struct policy_subtree *)vec_push(ctx, &v) = s;
            }
            p->subtrees = v.items;
            p->nsubtrees = v.n;
        }
        p->min = 0;
        p->max = -1;
    }
    assert(p->nsubtrees >= 1);
    return 0;
}

static int policy_count(struct core_ctx *ctx, int64_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_POLICY_COUNT, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    rc = st_step(st, err);
    *n = rc == 1 ? col_int(st, 0) : 0;
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core_policy_create(struct core_ctx *ctx, const struct policy_input *in, struct policy *out,
                       struct tg_err *err)
{
    struct policy_row row;
    int64_t n;
    int rc = core_require(ctx, RIGHT_ADMIN, err);

    if (rc)
        return rc;
    memset(&row, 0, sizeof(row));
    rc = policy_apply(ctx, in, true, &row.p, err);
    if (rc)
        return rc;
    rc = policy_count(ctx, &n, err);
    if (rc)
        return rc;
    if (n >= POLICY_MAX_PER_WS)
        return tg_err_set(err, TG_ERULE, "", "a workspace may have at most %d policies",
                          POLICY_MAX_PER_WS);
    row.tags = tags_format(ctx, &row.p);
    row.created_by = core_actor(ctx);
    row.p.created_by = row.created_by;
    rc = core_versioned_put(ctx, &policy_rows, NULL, &row, "create", err);
    if (rc)
        return rc;
    ctx->policies = NULL;
    *out = row.p;
    return 0;
}

int core_policy_update(struct core_ctx *ctx, int64_t id, const struct policy_input *in,
                       int64_t if_version, struct policy *out, struct tg_err *err)
{
    struct policy_row old, row;
    int rc = core_require(ctx, RIGHT_ADMIN, err);

    if (rc)
        return rc;
    memset(&old, 0, sizeof(old));
    rc = core_policy_get(ctx, id, &old.p, err);
    if (rc)
        return rc;
    if (if_version && if_version != old.p.version)
        return tg_err_set(err, TG_EPRECOND, "If-Match", "policy %lld is at version %lld",
                          (long long)id, (long long)old.p.version);
    old.tags = tags_format(ctx, &old.p);
    row = old;
    rc = policy_apply(ctx, in, false, &row.p, err);
    if (rc)
        return rc;
    row.tags = tags_format(ctx, &row.p);
    rc = core_versioned_put(ctx, &policy_rows, &old, &row, "update", err);
    if (rc)
        return rc;
    ctx->policies = NULL;
    *out = row.p;
    return 0;
}

int core_policy_delete(struct core_ctx *ctx, int64_t id, int64_t if_version, struct tg_err *err)
{
    struct policy_row row;
    int rc = core_require(ctx, RIGHT_ADMIN, err);

    if (rc)
        return rc;
    memset(&row, 0, sizeof(row));
    rc = core_policy_get(ctx, id, &row.p, err);
    if (rc)
        return rc;
    if (if_version && if_version != row.p.version)
        return tg_err_set(err, TG_EPRECOND, "If-Match", "policy %lld is at version %lld",
                          (long long)id, (long long)row.p.version);
    row.tags = tags_format(ctx, &row.p);
    ctx->policies = NULL;
    return core_versioned_remove(ctx, &policy_rows, &row, "delete", err);
}

/* ---- the write check ---- */

int core__policy_enforced(struct core_ctx *ctx, bool *any, struct tg_err *err)
{
    struct policy_cache *c = ctx->policies;
    struct store_stmt *st;
    int rc;

    if (c == NULL || c->ws_id != ctx->ws_id) {
        c = arena_zalloc(ctx->a, sizeof(*c));
        c->ws_id = ctx->ws_id;
        st = st_get(ctx->conn, SQL_POLICY_ENFORCED, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, ctx->ws_id);
        rc = read_policies(ctx, st, &c->p, &c->n, err);
        if (rc)
            return rc;
        ctx->policies = c;
    }
    *any = c->n > 0;
    return 0;
}

/* Whether name key `key` lies in the policy's subtree `s`, by name as the engine counts
 * (engine/count.c): a deleted tag still names the live tags below it; a purged one (key "")
 * names nothing. */
static bool in_subtree(const struct policy_subtree *s, const char *key)
{
    size_t n = strlen(s->key);

    if (n == 0 || strncmp(key, s->key, n) != 0)
        return false;
    return key[n] == '\0' || (s->subtree && key[n] == '.');
}

static bool in_policy(const struct policy *p, const char *key)
{
    for (size_t i = 0; i < p->nsubtrees; i++)
        if (in_subtree(&p->subtrees[i], key))
            return true;
    return false;
}

static size_t count_in(const struct policy *p, const struct assignment *as, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += in_policy(p, as[i].tag.name_key);
    return k;
}

/* The names of the tags of `as` in the policy's subtrees, for a message: "'A', 'B'". */
static const char *names_in(struct core_ctx *ctx, const struct policy *p,
                            const struct assignment *as, size_t n)
{
    const char *s = "";
    bool first = true;

    for (size_t i = 0; i < n; i++) {
        if (!in_policy(p, as[i].tag.name_key))
            continue;
        s = arena_printf(ctx->a, "%s%s'%s'", s, first ? "" : ", ", as[i].tag.name);
        first = false;
    }
    return s;
}

static int check_one(struct core_ctx *ctx, const struct policy *p, const struct resource *r,
                     const struct assignment *before, size_t nb, const struct assignment *after,
                     size_t na, struct tg_err *err)
{
    const char *who = policy_label(ctx, p);

    if (p->kind == POLICY_ALLOWED) {
        for (size_t i = 0; i < na; i++) {
            bool had = false;
            if (in_policy(p, after[i].tag.name_key))
                continue;
            for (size_t k = 0; k < nb && !had; k++)
                had = before[k].tag.id == after[i].tag.id;
            if (!had)
                return tg_err_set(err, TG_ERULE, "tags",
                                  "%s: tag '%s' is not allowed on %s/%s: only %s may be put on %s",
                                  who, after[i].tag.name, r->kind, r->key, subtrees_str(ctx, p),
                                  p->resource_kind ? arena_printf(ctx->a, "'%s' resources",
                                                                  p->resource_kind)
                                                   : "resources");
        }
        return 0;
    }
    {
        size_t cb = count_in(p, before, nb), ca = count_in(p, after, na);
        const char *sub = core_policy_subtree_str(ctx, &p->subtrees[0]);
        if (p->max >= 0 && ca > (size_t)p->max && ca > cb)
            return tg_err_set(err, TG_ERULE, "tags",
                              "%s: %s/%s would carry %zu tags of %s (%s), at most %d allowed", who,
                              r->kind, r->key, ca, sub, names_in(ctx, p, after, na), p->max);
        if (ca < (size_t)p->min && ca < cb)
            return tg_err_set(err, TG_ERULE, "tags",
                              "%s: %s/%s would carry %zu tag%s of %s, at least %d required", who,
                              r->kind, r->key, ca, ca == 1 ? "" : "s", sub, p->min);
    }
    return 0;
}

int core__policy_check(struct core_ctx *ctx, int64_t resource_id, const struct assignment *before,
                       size_t nbefore, const struct assignment *after, size_t nafter,
                       struct tg_err *err)
{
    struct resource r = {0};
    bool any, have_res = false;
    int rc = core__policy_enforced(ctx, &any, err);

    if (rc || !any)
        return rc;
    for (size_t i = 0; i < ctx->policies->n; i++) {
        const struct policy *p = &ctx->policies->p[i];
        if (!have_res) {
            /* The kind decides which policies apply, and the message names the resource. */
            rc = core_resource_get_id(ctx, resource_id, &r, err);
            if (rc)
                return rc;
            have_res = true;
        }
        if (p->resource_kind && strcmp(p->resource_kind, r.kind) != 0)
            continue;
        rc = check_one(ctx, p, &r, before, nbefore, after, nafter, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- violations ---- */

static int cursor_parse(struct core_ctx *ctx, const char *cursor, int64_t *pid, int64_t *rid,
                        struct tg_err *err)
{
    const char *dec;
    long long a, b;
    char tail;

    *pid = *rid = 0;
    if (cursor == NULL)
        return 0;
    if (core_cursor_decode(ctx, cursor, &dec, NULL) != 0 || dec == NULL ||
        sscanf(dec, "v%lld.%lld%c", &a, &b, &tail) != 2 || a <= 0 || b < 0)
        return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
    *pid = a;
    *rid = b;
    return 0;
}

static const char *violation_message(struct core_ctx *ctx, const struct policy_violation *v)
{
    const struct policy *p = v->policy;
    const char *sub = core_policy_subtree_str(ctx, &p->subtrees[0]);

    switch (v->reason) {
    case POLICY_TOO_FEW:
        return arena_printf(ctx->a, "carries %zu tag%s of %s, at least %d required", v->ntags,
                            v->ntags == 1 ? "" : "s", sub, p->min);
    case POLICY_TOO_MANY:
        return arena_printf(ctx->a, "carries %zu tags of %s, at most %d allowed", v->ntags, sub,
                            p->max);
    case POLICY_NOT_ALLOWED:
        return arena_printf(ctx->a, "carries %zu tag%s outside %s", v->ntags,
                            v->ntags == 1 ? "" : "s", subtrees_str(ctx, p));
    default:
        TG_BUG("policy reason");
    }
}

/* The engine's question for policy `p`. */
static void count_query(struct core_ctx *ctx, const struct policy *p, struct eng_count_query *q)
{
    struct eng_pick *picks = arena_alloc(ctx->a, p->nsubtrees * sizeof(*picks));
    size_t n = 0;

    memset(q, 0, sizeof(*q));
    for (size_t i = 0; i < p->nsubtrees; i++) {
        /* A purged tag names nothing; a deleted one still names its live descendants. */
        if (p->subtrees[i].key[0] == '\0')
            continue;
        picks[n].key = p->subtrees[i].key;
        picks[n++].subtree = p->subtrees[i].subtree;
    }
    q->ws_id = ctx->ws_id;
    q->kind = p->resource_kind;
    q->picks = picks;
    q->npicks = n;
    q->within = ctx->who.resource_id;
    if (p->kind == POLICY_ALLOWED) {
        q->invert = true; /* the tags outside the allowed subtrees ... */
        q->min = 0;
        q->max = 0;       /* ... of which a resource may carry none */
    } else {
        q->min = p->min;
        q->max = p->max;
    }
    assert(q->min <= ENG_COUNT_MAX && q->max < ENG_COUNT_MAX);
}

int core_policy_violations(struct core_ctx *ctx, int64_t policy_id, const char *cursor, int limit,
                           struct policy_violation **out, size_t *n, const char **next,
                           int64_t *total, bool *behind, struct tg_err *err)
{
    const struct eng_snap *s;
    struct policy *ps;
    size_t np;
    int64_t after_pid, after_rid;
    struct vec v;
    bool more = false;
    int rc;

    *out = NULL;
    *n = 0;
    *next = NULL;
    *total = 0;
    *behind = false;
    rc = core_require(ctx, RIGHT_READ, err);
    if (rc)
        return rc;
    if (limit < 1 || limit > core_limits.max_list_limit)
        return tg_err_set(err, TG_EINVAL, "limit", "'limit' must be an integer from 1 to %d",
                          core_limits.max_list_limit);
    rc = cursor_parse(ctx, cursor, &after_pid, &after_rid, err);
    if (rc)
        return rc;
    if (policy_id) {
        ps = arena_alloc(ctx->a, sizeof(*ps));
        np = 1;
        rc = core_policy_get(ctx, policy_id, ps, err);
    } else {
        rc = core_policy_list(ctx, &ps, &np, err);
    }
    if (rc)
        return rc;
    if (ctx->engine == NULL)
        return tg_err_set(err, TG_EBUSY, "", "the index is not loaded");
    s = core_snap(ctx);
    if (s == NULL) {
        *behind = true;
        return 0;
    }
    vec_init(&v, sizeof(struct policy_violation));
    for (size_t i = 0; i < np; i++) {
        const struct policy *p = &ps[i];
        struct eng_count_query q;
        struct eng_count_result res;
        size_t room = (size_t)limit - v.n;
        count_query(ctx, p, &q);
        /* Before the cursor's policy nothing is listed, but every one counts in the total. */
        if (p->id < after_pid)
            q.limit = 0;
        else
            q.limit = (int)room;
        if (p->id == after_pid)
            q.after_id = after_rid;
        eng_count_run(s, ctx->a, &q, &res);
        *total += (int64_t)res.total;
        if (p->id < after_pid)
            continue;
        if (room == 0) {
            /* The page is full: a later policy with any violation makes another page. */
            more = more || res.total > 0;
            continue;
        }
        more = more || res.more;
        for (size_t k = 0; k < res.n; k++) {
            struct policy_violation *pv = vec_push(ctx, &v);
            const struct eng_count_hit *h = &res.hits[k];
            pv->policy = p;
            pv->resource_id = h->id;
            pv->kind = h->kind;
            pv->key = h->key;
            pv->tags = h->tags;
            pv->ntags = h->ntags;
            if (p->kind == POLICY_ALLOWED)
                pv->reason = POLICY_NOT_ALLOWED;
            else
                pv->reason = h->ntags < (size_t)p->min ? POLICY_TOO_FEW : POLICY_TOO_MANY;
            pv->message = violation_message(ctx, pv);
        }
    }
    if (more && v.n) {
        const struct policy_violation *last = (const struct policy_violation *)v.items + v.n - 1;
        *next = core_cursor_encode(ctx, arena_printf(ctx->a, "v%lld.%lld",
                                                     (long long)last->policy->id,
                                                     (long long)last->resource_id));
    }
    *out = v.items;
    *n = v.n;
    return 0;
}
