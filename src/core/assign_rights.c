/* core/assign_rights.c: who may assign what (docs/security.md, "Assign rights").
 *
 * Two rules meet here, checked at the one place every assignment write of every dialect goes
 * through (core_assign_add/_replace/_remove in resources.c, which batch, import, Immuta's
 * attach and the other dialects call):
 *
 * - A token or a user may carry an `assign` list of tag subtree patterns: "Team.*" (Team and
 *   every tag below it), "Env.prod" (that tag alone) or "*" (any tag). With a list, the
 *   principal adds and removes only tags a pattern covers; without one (NULL) any tag, as
 *   before the lists existed. A session has its user's list, an API-key login its key's.
 * - A tag with assign_restricted roots a restricted subtree (GCP's tagUser role): a tag in it
 *   is added or removed only by a principal whose list has a pattern that covers the tag and
 *   lies inside the restricted subtree ("PII.*", "PII.email"); "*", a pattern above the root
 *   ("Team.*" for Team.PII.*) and having no list at all do not count, not even for an admin.
 *   Where restricted subtrees nest, the innermost one decides. Setting or clearing the flag,
 *   and moving tags or assignments across a restriction's boundary (a rename, a move, a
 *   merge), are the organization admin's, who so can always lift a restriction.
 *
 * A token scoped to a resource subtree (principal.resource_id) adds and removes only on
 * resources inside it: the resource side of the same check. The server's own work (no
 * principal: the expiry sweep; a source's refresh, ctx->assign_unchecked) is not checked.
 * Refusals are TG_EFORBIDDEN, which every dialect answers as its own 403. */
#include <jansson.h>
#include <string.h>

#include "core/core_int.h"
#include "engine/engine.h"
#include "util/jw.h"
#include "util/name.h"

#define ASSIGN_MAX_PATTERNS 100

/* The folded pattern's subtree root: "team.*" -> "team" (len 4); "team" -> itself. */
static size_t pattern_base(const char *p, bool *subtree)
{
    size_t n = strlen(p);

    *subtree = n >= 2 && p[n - 2] == '.' && p[n - 1] == '*';
    return *subtree ? n - 2 : n;
}

/* Whether `key` is `base` (first `blen` bytes) or lies below it. */
static bool key_within(const char *key, const char *base, size_t blen)
{
    return strncmp(key, base, blen) == 0 && (key[blen] == '\0' || key[blen] == '.');
}

bool core_assign_pattern_covers(const char *pattern, const char *key)
{
    bool subtree;
    size_t blen;

    if (strcmp(pattern, "*") == 0)
        return true;
    blen = pattern_base(pattern, &subtree);
    if (!subtree)
        return strcmp(pattern, key) == 0;
    return key_within(key, pattern, blen);
}

bool core_assign_decide(const char *const *patterns, size_t n, bool limited, const char *key,
                        const char *root)
{
    if (root == NULL && !limited)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (!core_assign_pattern_covers(patterns[i], key))
            continue;
        if (root == NULL)
            return true;
        /* Explicit: the pattern's own root lies in the restricted subtree, so "*" and a
         * pattern above the restriction do not reach into it. */
        if (strcmp(patterns[i], "*") != 0 && key_within(patterns[i], root, strlen(root)))
            return true;
    }
    return false;
}

int core_assign_parse(struct core_ctx *ctx, const char *const *in, size_t n, const char **out,
                      struct tg_err *err)
{
    struct sbuf b;
    struct jw w;

    if (n > ASSIGN_MAX_PATTERNS)
        return tg_err_set(err, TG_EINVAL, "assign", "'assign' holds at most %d patterns",
                          ASSIGN_MAX_PATTERNS);
    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        const char *p = in[i];
        size_t len = p ? strlen(p) : 0;
        bool subtree = len >= 2 && p[len - 2] == '.' && p[len - 1] == '*';
        char *nfc, *key;
        int rc;
        if (p && strcmp(p, "*") == 0) {
            jw_str(&w, "*");
            continue;
        }
        if (len == 0 || (subtree && len == 2)) {
            sbuf_release(&b);
            return tg_err_set(err, TG_EINVAL, "assign",
                              "'assign' holds tag names, 'Name.*' for a subtree, or '*'");
        }
        rc = name_normalize(ctx->a, p, subtree ? len - 2 : len, true, "assign", &nfc, &key, err);
        if (rc == 0 && strchr(nfc, '*'))
            rc = tg_err_set(err, TG_EINVAL, "assign", "'*' may only end a pattern, as in 'Team.*'");
        if (rc) {
            sbuf_release(&b);
            return rc;
        }
        jw_str(&w, subtree ? arena_printf(ctx->a, "%s.*", nfc) : nfc);
    }
    jw_arr_end(&w);
    *out = arena_strndup(ctx->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return 0;
}

/* The principal's list as folded patterns, parsed once per request (while who.assign stays the
 * same text). *limited false: no list. */
static int principal_patterns(struct core_ctx *ctx, const char *const **out, size_t *n,
                              bool *limited, struct tg_err *err)
{
    json_t *arr, *v;
    size_t i;

    *limited = ctx->who.assign != NULL;
    if (!*limited) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    if (ctx->assign_src != ctx->who.assign) {
        const char **keys;
        size_t k = 0;
        arr = json_loads(ctx->who.assign, 0, NULL);
        if (!json_is_array(arr)) {
            json_decref(arr);
            return tg_err_set(err, TG_EINTERNAL, "assign", "the principal's assign list is damaged");
        }
        keys = arena_alloc(ctx->a, (json_array_size(arr) + 1) * sizeof(*keys));
        json_array_foreach(arr, i, v)
        {
            const char *p = json_string_value(v);
            size_t len = p ? strlen(p) : 0;
            bool subtree = len >= 2 && p[len - 2] == '.' && p[len - 1] == '*';
            char *nfc, *key;
            if (p == NULL)
                continue;
            if (strcmp(p, "*") == 0) {
                keys[k++] = "*";
                continue;
            }
            if (name_normalize(ctx->a, p, subtree ? len - 2 : len, true, "assign", &nfc, &key,
                               NULL) != 0)
                continue; /* stored checked: cannot happen, and never widens the list */
            keys[k++] = subtree ? arena_printf(ctx->a, "%s.*", key) : key;
        }
        json_decref(arr);
        ctx->assign_src = ctx->who.assign;
        ctx->assign_keys = keys;
        ctx->assign_n = k;
    }
    *out = ctx->assign_keys;
    *n = ctx->assign_n;
    return 0;
}

int core__assign_root(struct core_ctx *ctx, const char *key, int64_t *root_id,
                      const char **root_name, const char **root_key, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_ASSIGN_ROOT, err);
    int rc;

    *root_id = 0;
    if (root_name)
        *root_name = NULL;
    if (root_key)
        *root_key = NULL;
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, key);
    rc = st_step(st, err);
    if (rc == 1) {
        *root_id = col_int(st, 0);
        if (root_name)
            *root_name = col_dup(ctx, st, 1);
        if (root_key)
            *root_key = col_dup(ctx, st, 2);
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

/* core__assign_root for a live tag, from the engine when the writer's snapshot is current for
 * tags (core_writer_snap): the hot path of every add then costs a walk up the tag's parents
 * in memory instead of a statement. 1: answered (*root_id, *root_name, *root_key set), 0: ask
 * the store. */
static int root_from_engine(struct core_ctx *ctx, const struct tag *t, int64_t *root_id,
                            const char **root_name, const char **root_key)
{
    const struct eng_snap *s = ctx->writing && t->id ? core_writer_snap(ctx, 0) : NULL;
    const struct tag *e;
    int depth;

    if (s == NULL)
        return 0;
    *root_id = 0;
    e = eng_tag_record(s, t->id);
    if (e == NULL || e->ws_id != ctx->ws_id) {
        engine_release(ctx->engine, s);
        return 0;
    }
    /* The innermost restricted tag on the way up; names have far fewer levels than this. */
    for (depth = 0; e && e->ws_id == ctx->ws_id && depth < 256; depth++) {
        if (e->assign_restricted && !e->deleted) {
            *root_id = e->id;
            *root_name = arena_strdup(ctx->a, e->name);
            *root_key = arena_strdup(ctx->a, e->name_key);
            break;
        }
        e = e->parent_id ? eng_tag_record(s, e->parent_id) : NULL;
    }
    engine_release(ctx->engine, s);
    return depth < 256;
}

int core_assign_scope(struct core_ctx *ctx, int64_t resource_id, struct tg_err *err)
{
    if (!ctx->authed || ctx->assign_unchecked || ctx->who.resource_id <= 0)
        return 0;
    if (resource_id > 0 && core_resource_within(ctx, resource_id, ctx->who.resource_id))
        return 0;
    return tg_err_set(err, TG_EFORBIDDEN, "resource",
                      "the token is scoped to a resource subtree that does not hold this resource");
}

int core_assign_tag_allowed(struct core_ctx *ctx, const struct tag *t, bool add,
                            struct tg_err *err)
{
    const char *const *pats = NULL;
    const char *root_name, *root_key;
    int64_t root_id;
    size_t n = 0;
    bool limited;
    int rc;

    if (!ctx->authed || ctx->assign_unchecked)
        return 0;
    rc = principal_patterns(ctx, &pats, &n, &limited, err);
    if (rc == 0 && !root_from_engine(ctx, t, &root_id, &root_name, &root_key))
        rc = core__assign_root(ctx, t->name_key, &root_id, &root_name, &root_key, err);
    if (rc)
        return rc;
    if (core_assign_decide(pats, n, limited, t->name_key, root_id ? root_key : NULL))
        return 0;
    if (root_id)
        return tg_err_set(err, TG_EFORBIDDEN, "tags",
                          "tag '%s' is in the restricted subtree '%s': only a principal whose "
                          "assign list names that subtree may %s it",
                          t->name, root_name, add ? "add" : "remove");
    return tg_err_set(err, TG_EFORBIDDEN, "tags",
                      "tag '%s' is outside the principal's assign list %s: it may not %s it",
                      t->name, ctx->who.assign, add ? "add" : "remove");
}

int core_assign_allowed(struct core_ctx *ctx, int64_t resource_id, const struct tag *t, bool add,
                        struct tg_err *err)
{
    int rc = core_assign_scope(ctx, resource_id, err);

    return rc ? rc : core_assign_tag_allowed(ctx, t, add, err);
}

int core__assign_cross(struct core_ctx *ctx, int64_t root_before, int64_t root_after,
                       const char *what, struct tg_err *err)
{
    if (root_before == root_after || (ctx->authed && (ctx->who.rights & RIGHT_ADMIN)) ||
        !ctx->authed)
        return 0;
    return tg_err_set(err, TG_EFORBIDDEN, "assign_restricted",
                      "%s would cross the boundary of a restricted subtree: only an admin may",
                      what);
}
