/* core/immuta_rules.c: the rules of the Immuta dialect that are not plain tag calls
 * (immuta_rules.h): Immuta's models as tagd resources, the POST /tag hierarchy update, the
 * all-or-nothing attach, the GET /tag search and who Immuta shows as creator and adder. */
#include "core/immuta_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "core/sources.h"
#include "util/name.h"


/* ---- Immuta models ---- */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int core_immuta_model_check(const char *type, const char *id, struct tg_err *err)
{
    const char *us;

    if (type == NULL || (strcmp(type, "datasource") != 0 && strcmp(type, "column") != 0 &&
                         strcmp(type, "project") != 0))
        return tg_err_set(err, TG_EINVAL, "modelType",
                          "modelType must be one of [datasource, column, project]");
    if (strcmp(type, "column") != 0) {
        if (!all_digits(id, strlen(id)))
            return tg_err_set(err, TG_EINVAL, "modelId", "%s id must be a number", type);
        return 0;
    }
    us = strchr(id, '_');
    if (us == NULL || !all_digits(id, (size_t)(us - id)) || us[1] == '\0')
        return tg_err_set(err, TG_EINVAL, "modelId",
                          "a column id is <datasourceId>_<column>, like 49_OBJECTID");
    return core_resource_ref_check(type, id, err);
}

int core_immuta_model(struct core_ctx *ctx, const char *type, const char *id, bool create,
                      struct resource *out, struct tg_err *err)
{
    struct resource_input in;
    const char *dsid;
    int rc = core_immuta_model_check(type, id, err);

    if (rc)
        return rc;
    rc = core_resource_get(ctx, type, id, out, err);
    if (strcmp(type, "column") != 0) {
        if (rc == TG_ENOTFOUND && create)
            return core_resource_ensure(ctx, type, id, out, err);
        return rc;
    }
    dsid = arena_strndup(ctx->a, id, (size_t)(strchr(id, '_') - id));
    if (rc == 0 && out->parent_kind && strcmp(out->parent_kind, "datasource") == 0 &&
        strcmp(out->parent_key, dsid) == 0)
        return 0;
    if (rc != 0 && rc != TG_ENOTFOUND)
        return rc;
    if (!create)
        return rc;
    /* A column lives below its data source, so the data source's tags reach it. */
    memset(&in, 0, sizeof(in));
    in.has_parent = true;
    in.parent_kind = "datasource";
    in.parent_key = dsid;
    return core_resource_put(ctx, type, id, &in, out, NULL, err);
}

/* ---- POST /tag ---- */

static bool below(const char *key, const char *root)
{
    size_t n = strlen(root);
    return strncmp(key, root, n) == 0 && key[n] == '.';
}

static int overlap(struct tg_err *err, const char *name)
{
    return tg_err_set(err, TG_EEXISTS, "name",
                      "tag '%.150s' would overlap with existing hierarchies", name);
}

/* Makes the live tag `name` (normalized), unless this request already did (as the parent of
 * another item, or as the rootTag): created, or a deleted one revived with its id. */
static int ensure_curated(struct core_ctx *ctx, const char *name, struct tag *out,
                          struct tg_err *err)
{
    struct tag_input in;
    struct tag t;
    bool found;
    const char *dot = strrchr(name, '.');
    char *nfc, *key;
    int rc;

    if (dot) {
        /* Brings back a deleted parent too, which reviving the child alone would not. */
        struct tag parent;
        rc = core_tag_ensure(ctx, arena_strndup(ctx->a, name, (size_t)(dot - name)), &parent,
                             err);
        if (rc)
            return rc;
    }
    rc = name_normalize(ctx->a, name, strlen(name), true, "name", &nfc, &key, err);
    if (rc == 0)
        rc = core__tag_by_key(ctx, key, &t, &found, err);
    if (rc)
        return rc;
    if (found && !t.deleted) {
        *out = t;
        return 0;
    }
    memset(&in, 0, sizeof(in));
    in.name = nfc;
    in.revive = true;
    /* Made here, a tag is curated, also when it revives what a source once brought in. */
    in.has_source = true;
    in.has_protected = true;
    rc = core_tag_create(ctx, &in, out, err);
    return rc == TG_EEXISTS ? overlap(err, nfc) : rc;
}

int core_immuta_tags_write(struct core_ctx *ctx, const struct immuta_item *items, size_t n,
                           const struct immuta_root *root, struct tag *out, struct tg_err *err)
{
    char **nfc = arena_zalloc(ctx->a, (n + 1) * sizeof(char *));
    char **key = arena_zalloc(ctx->a, (n + 1) * sizeof(char *));
    struct tag rt, *old = arena_zalloc(ctx->a, (n + 1) * sizeof(struct tag));
    bool make_root = false;
    size_t i, j;
    int rc;

    if (n > (size_t)core_limits.max_batch)
        return tg_err_set(err, TG_ELIMIT, "tags", "more than %d tags in one request",
                          core_limits.max_batch);
    for (i = 0; i < n; i++) {
        if (items[i].name == NULL)
            return tg_err_set(err, TG_EINVAL, "name", "tags[%zu].name is required", i);
        rc = name_normalize(ctx->a, items[i].name, strlen(items[i].name), true, "name", &nfc[i],
                            &key[i], err);
        if (rc)
            return tg_err_prefix(err, rc, "name", arena_printf(ctx->a, "tags[%zu].name: ", i));
        for (j = 0; j < i; j++) {
            if (strcmp(key[j], key[i]) == 0)
                return tg_err_set(err, TG_EINVAL, "name", "tag '%s' is named twice", nfc[i]);
            if (items[i].id && items[j].id == items[i].id)
                return tg_err_set(err, TG_EINVAL, "id", "tag id %lld is given twice",
                                  (long long)items[i].id);
        }
    }
    memset(&rt, 0, sizeof(rt));
    if (root) {
        if (root->source && strcmp(root->source, "curated") != 0)
            return tg_err_set(err, TG_EINVAL, "source", "rootTag.source must be [curated]");
        rc = core_tag_find(ctx, root->name, &rt, err);
        if (rc == TG_ENOTFOUND || (rc == 0 && rt.deleted)) {
            /* Immuta's tagging clients send rootTag to a fresh catalog too: the root is made
             * (a deleted one revived) once everything below is checked, as a curated tag. */
            char *rnfc, *rkey;
            rc = name_normalize(ctx->a, root->name, strlen(root->name), true, "name", &rnfc,
                                &rkey, err);
            if (rc)
                return tg_err_prefix(err, rc, "rootTag.name", "rootTag.name: ");
            memset(&rt, 0, sizeof(rt));
            rt.name = rnfc;
            rt.name_key = rkey;
            make_root = true;
        } else if (rc) {
            return rc == TG_EINVAL ? tg_err_prefix(err, rc, "rootTag.name", "rootTag.name: ") : rc;
        } else if (root->source && strcmp(rt.source, root->source) != 0) {
            return tg_err_set(err, TG_EINVAL, "source", "rootTag '%s' has source '%s'",
                              rt.name, rt.source);
        }
        for (i = 0; i < n; i++)
            if (strcmp(key[i], rt.name_key) != 0 && !below(key[i], rt.name_key))
                return tg_err_set(err, TG_EINVAL, "name",
                                  "tag '%s' is not below rootTag '%s'", nfc[i], rt.name);
    }
    /* Everything is checked before the first write: first the tags named by id... */
    for (i = 0; i < n; i++) {
        if (!items[i].id)
            continue;
        rc = core_tag_get(ctx, items[i].id, &old[i], err);
        if (rc == 0 && old[i].deleted)
            rc = TG_ENOTFOUND;
        if (rc)
            return rc == TG_ENOTFOUND ? tg_err_set(err, TG_ENOTFOUND, "id", "tag %lld not found",
                                                   (long long)items[i].id)
                                      : rc;
    }
    /* ...then every name against what exists and what this request moves or deletes. */
    for (i = 0; i < n; i++) {
        struct tag t;
        bool found, doomed;
        rc = core__tag_by_key(ctx, key[i], &t, &found, err);
        if (rc)
            return rc;
        if (!found || t.deleted || (items[i].id && t.id == items[i].id))
            continue;
        /* With deleteHierarchy, a child the request does not keep goes first. */
        doomed = root && root->delete_hierarchy && rt.id && below(t.name_key, rt.name_key);
        for (j = 0; j < n && doomed; j++)
            if (items[j].id && (items[j].id == t.id || below(old[j].name_key, t.name_key)))
                doomed = false;
        /* A name this request renames away (with its subtree) is free once renames are done. */
        for (j = 0; j < n && !doomed; j++)
            if (items[j].id && strcmp(key[j], old[j].name_key) != 0 &&
                (old[j].id == t.id || below(t.name_key, old[j].name_key)) && !items[i].id)
                doomed = true;
        if (!doomed)
            return overlap(err, nfc[i]);
    }
    /* A root made here has no children to delete; an item that names it makes it itself. */
    for (i = 0; i < n && make_root; i++)
        make_root = strcmp(key[i], rt.name_key) != 0;
    if (make_root) {
        rc = ensure_curated(ctx, rt.name, &rt, err);
        if (rc)
            return rc;
    } else if (root && root->delete_hierarchy && rt.id) {
        struct tag *sub;
        size_t ns;
        rc = core_tag_subtree(ctx, &rt, &sub, &ns, err);
        if (rc)
            return rc;
        for (i = ns; i-- > 0;) {
            bool keep = sub[i].deleted || sub[i].id == rt.id;
            for (j = 0; j < n && !keep; j++)
                keep = items[j].id && (items[j].id == sub[i].id ||
                                       below(old[j].name_key, sub[i].name_key));
            if (keep)
                continue;
            rc = core_tag_delete(ctx, sub[i].id, false, false, 0, err);
            if (rc)
                return rc;
        }
    }
    for (i = 0; i < n; i++) {
        struct tag_input in;
        if (!items[i].id)
            continue;
        memset(&in, 0, sizeof(in));
        in.name = nfc[i];
        rc = core_tag_update(ctx, items[i].id, &in, 0, &out[i], err);
        if (rc)
            return rc == TG_EEXISTS ? overlap(err, nfc[i]) : rc;
    }
    /* A name this request renames away is free for the tags it makes (the overlap check
     * above): the alias the rename left of it (core/aliases.c) goes, as if the client had
     * removed it first, for the name and for each of its parents' names. */
    for (i = 0; i < n; i++) {
        char *k;
        if (items[i].id)
            continue;
        k = arena_strdup(ctx->a, key[i]);
        for (;;) {
            bool freed = false, found;
            struct tag_alias al;
            char *dot;
            for (j = 0; j < n && !freed; j++)
                freed = items[j].id && strcmp(key[j], old[j].name_key) != 0 &&
                        (strcmp(k, old[j].name_key) == 0 || below(k, old[j].name_key));
            if (freed) {
                rc = core_alias_find(ctx, k, &al, &found, err);
                if (rc == 0 && found)
                    rc = core_alias_remove(ctx, al.tag_id, al.name, err);
                if (rc)
                    return rc;
            }
            dot = strrchr(k, '.');
            if (dot == NULL)
                break;
            *dot = '\0';
        }
    }
    for (i = 0; i < n; i++) {
        if (items[i].id)
            continue;
        rc = ensure_curated(ctx, nfc[i], &out[i], err);
        if (rc)
            return rc;
    }
    /* The answer shows each tag as the request left it. */
    for (i = 0; i < n; i++) {
        rc = core_tag_get(ctx, out[i].id, &out[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- attach and detach ---- */

static int assignment_row(struct core_ctx *ctx, int64_t resource_id, const struct tag *t,
                          struct assignment *a, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_IMMUTA_ASG_ONE, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    memset(a, 0, sizeof(*a));
    st_int(st, 1, resource_id);
    st_int(st, 2, t->id);
    rc = st_step(st, err);
    if (rc == 1) {
        a->context = col_dup(ctx, st, 0);
        a->added_by = col_dup(ctx, st, 1);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "tag", "tag '%s' is not on this model", t->name);
    a->resource_id = resource_id;
    a->tag = *t;
    return 0;
}

int core_immuta_attach(struct core_ctx *ctx, const char *type, const char *model_id,
                       const struct immuta_attach *items, size_t n, struct assignment *out,
                       struct tg_err *err)
{
    struct tag *tags = arena_zalloc(ctx->a, (n + 1) * sizeof(struct tag));
    int64_t *ids = arena_zalloc(ctx->a, (n + 1) * sizeof(int64_t));
    struct resource res;
    size_t i;
    int rc;

    rc = core_immuta_model_check(type, model_id, err);
    if (rc)
        return rc;
    if (n > (size_t)core_limits.max_batch)
        return tg_err_set(err, TG_ELIMIT, "tags", "more than %d tags in one request",
                          core_limits.max_batch);
    /* Every tag is checked before the model is touched: one bad entry stops them all. */
    for (i = 0; i < n; i++) {
        if (items[i].name == NULL)
            return tg_err_set(err, TG_EINVAL, "name", "[%zu].name is required", i);
        rc = core_tag_find(ctx, items[i].name, &tags[i], err);
        if (rc == 0 && tags[i].deleted)
            rc = tg_err_set(err, TG_ENOTFOUND, "name", "tag '%s' is deleted", tags[i].name);
        if (rc)
            return rc;
        if (items[i].source && strcmp(items[i].source, tags[i].source) != 0)
            return tg_err_set(err, TG_EINVAL, "source", "tag '%s' has source '%s', not '%.64s'",
                              tags[i].name, tags[i].source, items[i].source);
        ids[i] = tags[i].id;
    }
    rc = core_immuta_model(ctx, type, model_id, true, &res, err);
    if (rc)
        return rc;
    rc = core_assign_add(ctx, res.id, ids, n, "manual", NULL, NULL, err);
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        rc = assignment_row(ctx, res.id, &tags[i], &out[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

int core_immuta_detach(struct core_ctx *ctx, const char *type, const char *model_id,
                       const char *tag, struct assignment *out, struct tg_err *err)
{
    struct resource res;
    struct tag t;
    int rc;

    rc = core_immuta_model(ctx, type, model_id, false, &res, err);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "modelId", "%s %s has no tags", type, model_id);
    if (rc)
        return rc;
    rc = core_tag_find(ctx, tag, &t, err);
    if (rc)
        return rc;
    rc = assignment_row(ctx, res.id, &t, out, err);
    if (rc)
        return rc;
    return core_assign_remove(ctx, res.id, t.id, err);
}

/* ---- GET /tag ---- */

int core_immuta_search(struct core_ctx *ctx, const struct immuta_search *q, struct tag **out,
                       size_t *n, struct tg_err *err)
{
    struct store_stmt *st;
    const char **ex = arena_zalloc(ctx->a, (q->nexcluded + 1) * sizeof(char *));
    struct vec v;
    size_t i;
    int rc;

    if (q->text && !name_is_clean_utf8(q->text, strlen(q->text)))
        return tg_err_set(err, TG_EINVAL, "searchText", "searchText must be text");
    for (i = 0; i < q->nexcluded; i++) {
        if (!name_is_clean_utf8(q->excluded[i], strlen(q->excluded[i])))
            return tg_err_set(err, TG_EINVAL, "excludedHierarchies",
                              "excludedHierarchies must be text");
        ex[i] = name_fold(ctx->a, q->excluded[i]);
    }
    st = st_get(ctx->conn, SQL_IMMUTA_SEARCH, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, q->text && *q->text ? name_fold(ctx->a, q->text) : NULL);
    st_text(st, 3, q->source);
    st_text(st, 4, q->excluded_source);
    st_int(st, 5, q->system);
    vec_init(&v, sizeof(struct tag));
    for (;;) {
        struct tag t;
        bool skip = false;
        if (q->limit > 0 && v.n >= (size_t)q->limit) {
            rc = 0;
            break;
        }
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_tag(ctx, st, 0, &t);
        /* Immuta's `deleted` is where tagd's states show: an archived tag is listed as a
         * deleted one is (only among the system tags), and a draft only to stewards. */
        if (t.state == TAG_ARCHIVED)
            skip = !(q->system == 1 && t.system_created);
        if (!core_tag_visible(ctx, &t))
            skip = true;
        for (i = 0; i < q->nexcluded && !skip; i++)
            skip = strcmp(t.name_key, ex[i]) == 0 || below(t.name_key, ex[i]);
        if (!skip)
            *(struct tag *)vec_push(ctx, &v) = t;
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *out = v.items;
    *n = v.n;
    return 0;
}

const char *core_immuta_creator(const struct tag *t)
{
    /* A refresh records "system" as the creator of what it brings in (core_src_apply). */
    return t->system_created ? NULL : t->created_by;
}

const char *core_immuta_adder(const struct assignment *a)
{
    return a->context && strcmp(a->context, CORE_SRC_CONTEXT) == 0 ? NULL : a->added_by;
}

int64_t core_immuta_profile(struct core_ctx *ctx, const char *who)
{
    return core_principal_id(ctx, who);
}
