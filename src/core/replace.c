/* core/replace.c: the full replace of a workspace's grouped tags (see replace.h).
 *
 * Two phases. The plan reads the current groups and tags, checks every item of the list and
 * works out what the list deletes and what that costs (assignments, access grants); it writes
 * nothing, so a rejected or unconfirmed replace leaves no trace. The apply phase then deletes,
 * updates and creates through the ordinary core functions, so that every row written gets its
 * history and change record. Deletions go first so that a new item may take the place (and the
 * derived name) of a deleted one. */
#include "core/replace.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "util/json.h"
#include "util/name.h"

#define NAME_BASE_CHARS 56
#define NAME_TRIES 1000

struct cur_tag {
    struct tag t;
    bool keep; /* listed in the request */
};

struct dup_key {
    const char *key;
    size_t owner;
};

static int dup_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dup_key *)a)->key, ((const struct dup_key *)b)->key);
}

/* Sorts keys and returns the index (into the sorted array) of a key repeated by another owner,
 * or -1. */
static long dup_find(struct dup_key *k, size_t n)
{
    if (n < 2)
        return -1;
    qsort(k, n, sizeof(*k), dup_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(k[i].key, k[i - 1].key) == 0 && k[i].owner != k[i - 1].owner)
            return (long)i;
    return -1;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool id_listed(const int64_t *ids, size_t n, int64_t id)
{
    return bsearch(&id, ids, n, sizeof(*ids), id_cmp) != NULL;
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

const char *core_l10n_pick(struct core_ctx *ctx, const char *l10n)
{
    json_t *o = l10n ? json_loads(l10n, 0, NULL) : NULL, *v;
    const char *k, *out = NULL;

    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    v = json_object_get(o, "en-US");
    if (json_is_string(v) && json_string_length(v) > 0) {
        out = core_strdup(ctx, json_string_value(v));
    } else {
        json_object_foreach(o, k, v)
        {
            if (json_is_string(v) && json_string_length(v) > 0) {
                out = core_strdup(ctx, json_string_value(v));
                break;
            }
        }
    }
    json_decref(o);
    return out;
}

/* Checks display names and appends one "<scope>\x1f<lang>\x1f<text>" key per language. */
static int l10n_keys(struct core_ctx *ctx, const char *l10n, const char *scope, size_t owner,
                     struct vec *keys, struct tg_err *err)
{
    json_t *o = l10n ? json_loads(l10n, 0, NULL) : NULL, *v;
    const char *lang;
    size_t good = 0;
    int rc = 0;

    if (!json_is_object(o)) {
        rc = tg_err_set(err, TG_EINVAL, "l10n", "display names are required");
        goto out;
    }
    json_object_foreach(o, lang, v)
    {
        struct dup_key *d;
        if (json_is_null(v))
            continue;
        if (!json_is_string(v) || strlen(lang) > 35 || *lang == '\0' ||
            !name_is_clean_utf8(json_string_value(v), json_string_length(v)) ||
            json_string_length(v) > 1024) {
            rc = tg_err_set(err, TG_EINVAL, "l10n.value",
                            "display names must map languages to single-line text");
            goto out;
        }
        if (json_string_length(v) == 0)
            continue;
        good++;
        d = vec_push(ctx, keys);
        d->key = arena_printf(ctx->a, "%s\x1f%s\x1f%s", scope, lang, json_string_value(v));
        d->owner = owner;
    }
    if (good == 0)
        rc = tg_err_set(err, TG_EINVAL, "l10n", "display names are required");
out:
    json_decref(o);
    return rc;
}

static void opt_key(struct core_ctx *ctx, struct vec *keys, const char *value, size_t owner)
{
    struct dup_key *d;
    if (value == NULL || *value == '\0')
        return;
    d = vec_push(ctx, keys);
    d->key = value;
    d->owner = owner;
}

/* Merges `add` (JSON object text, may be NULL) into `base` key by key. */
static int merge_extra(struct core_ctx *ctx, const char *base, const char *add, const char **out,
                       struct tg_err *err)
{
    json_t *b, *a;

    if (add == NULL) {
        *out = base;
        return 0;
    }
    a = json_loads(add, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(a)) {
        json_decref(a);
        return tg_err_set(err, TG_EINVAL, "extra", "extra must be a JSON object");
    }
    b = base ? json_loads(base, 0, NULL) : NULL;
    if (!json_is_object(b)) {
        json_decref(b);
        b = json_object();
    }
    json_object_update(b, a);
    *out = json_to_arena(ctx->a, b);
    json_decref(a);
    json_decref(b);
    return 0;
}

static bool has_grants(const char *extra)
{
    json_t *o = extra ? json_loads(extra, 0, NULL) : NULL;
    json_t *acl = json_object_get(o, "acl");
    bool yes = json_is_array(acl) && json_array_size(acl) > 0;
    json_decref(o);
    return yes;
}

/* The name of a new group or tag from its display names (see replace.h). */
static const char *name_base(struct core_ctx *ctx, const char *l10n, bool tag)
{
    const char *text = core_l10n_pick(ctx, l10n);
    size_t n, chars = 0, i = 0, o = 0;
    char *buf;

    if (text == NULL)
        return tag ? "tag" : "group";
    while (*text == ' ')
        text++;
    n = strlen(text);
    buf = arena_alloc(ctx->a, n + 1);
    while (i < n && chars < NAME_BASE_CHARS) {
        unsigned char c = (unsigned char)text[i];
        size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (i + len > n)
            break;
        if (c == ',' || (tag && c == '.')) {
            buf[o++] = '_';
        } else {
            memcpy(buf + o, text + i, len);
            o += len;
        }
        i += len;
        chars++;
    }
    while (o && buf[o - 1] == ' ')
        o--;
    buf[o] = '\0';
    return o ? buf : (tag ? "tag" : "group");
}

static const char *name_try(struct core_ctx *ctx, const char *base, int k)
{
    return k == 1 ? base : arena_printf(ctx->a, "%s (%d)", base, k);
}

static int use_count(struct core_ctx *ctx, int64_t tag_id, int64_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_REPLACE_TAG_USE_COUNT, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, tag_id);
    rc = st_step(st, err);
    if (rc == 1)
        *n = col_int(st, 0);
    st_reset(st);
    return rc < 0 ? rc : 0;
}

static int live_children(struct core_ctx *ctx, int64_t tag_id, int64_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_TAG_LIVE_CHILDREN, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, tag_id);
    rc = st_step(st, err);
    if (rc == 1)
        *n = col_int(st, 0);
    st_reset(st);
    return rc < 0 ? rc : 0;
}

/* Removes every current assignment of the tag, one recorded change each, then soft-deletes it
 * outside its group. */
static int delete_tag(struct core_ctx *ctx, const struct tag *t, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_REPLACE_TAG_USERS, err);
    struct tag after = *t;
    struct vec res;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&res, sizeof(int64_t));
    st_int(st, 1, t->id);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        *(int64_t *)vec_push(ctx, &res) = col_int(st, 0);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    /* Deleting a tag takes it off every resource: a change of the taxonomy (tags:write), as
     * core_tag_delete makes it, not an assignment write that assign rights govern. */
    ctx->assign_unchecked = true;
    for (size_t i = 0; i < res.n && rc == 0; i++)
        rc = core_assign_remove(ctx, ((int64_t *)res.items)[i], t->id, err);
    ctx->assign_unchecked = false;
    if (rc)
        return rc;
    after.deleted = true;
    after.group_id = 0;
    after.position = 0;
    return core_tag_save(ctx, t, &after, "delete", err);
}

/* True when `l10n` says no more than a stored item without display names already shows: its
 * one name as en-US (what easydb's GET renders for it). */
static bool l10n_is_fallback(struct core_ctx *ctx, const char *l10n, const char *shown)
{
    json_t *o = json_object();
    bool same;

    json_object_set_new(o, "en-US", json_string(shown));
    same = str_eq(l10n, json_to_arena(ctx->a, o));
    json_decref(o);
    return same;
}

/* ---- plan ---- */

struct plan {
    struct group *cur_groups;
    size_t ncur_groups;
    struct vec cur_tags; /* struct cur_tag: every live tag of a current group */
    struct tag *old;     /* per request tag (flattened), the stored tag when it has an id */
    int64_t *tag_ids;    /* sorted ids of the request's tags */
    size_t ntag_ids;
    size_t ntags;
};

static int plan_load(struct core_ctx *ctx, struct plan *p, struct tg_err *err)
{
    int rc = core_group_list(ctx, &p->cur_groups, &p->ncur_groups, err);

    if (rc)
        return rc;
    vec_init(&p->cur_tags, sizeof(struct cur_tag));
    for (size_t i = 0; i < p->ncur_groups; i++) {
        struct tag *t;
        size_t n;
        rc = core_group_tags(ctx, p->cur_groups[i].id, &t, &n, err);
        if (rc)
            return rc;
        for (size_t j = 0; j < n; j++) {
            struct cur_tag *c = vec_push(ctx, &p->cur_tags);
            c->t = t[j];
        }
    }
    return 0;
}

static int plan_ids(struct core_ctx *ctx, struct plan *p, struct replace_group *g, size_t n,
                    struct replace_result *res, struct tg_err *err)
{
    size_t i, j, k = 0;
    int rc;

    for (i = 0; i < n; i++) {
        bool found = false;
        if (g[i].id == 0)
            continue;
        for (j = 0; j < i; j++) {
            if (g[j].id == g[i].id) {
                res->bad_id = g[i].id;
                return tg_err_set(err, TG_EINVAL, "id", "group %lld is listed twice",
                                  (long long)g[i].id);
            }
        }
        for (j = 0; j < p->ncur_groups && !found; j++)
            found = p->cur_groups[j].id == g[i].id;
        if (!found) {
            res->bad_id = g[i].id;
            return tg_err_set(err, TG_ENOTFOUND, "group", "group %lld not found",
                              (long long)g[i].id);
        }
    }
    p->old = arena_zalloc(ctx->a, (p->ntags ? p->ntags : 1) * sizeof(*p->old));
    p->tag_ids = arena_alloc(ctx->a, (p->ntags ? p->ntags : 1) * sizeof(*p->tag_ids));
    for (i = 0; i < n; i++)
        for (j = 0; j < g[i].ntags; j++)
            if (g[i].tags[j].id)
                p->tag_ids[p->ntag_ids++] = g[i].tags[j].id;
    qsort(p->tag_ids, p->ntag_ids, sizeof(*p->tag_ids), id_cmp);
    for (i = 1; i < p->ntag_ids; i++) {
        if (p->tag_ids[i] == p->tag_ids[i - 1]) {
            res->bad_id = p->tag_ids[i];
            return tg_err_set(err, TG_EINVAL, "id", "tag %lld is listed twice",
                              (long long)p->tag_ids[i]);
        }
    }
    for (i = 0; i < n; i++) {
        for (j = 0; j < g[i].ntags; j++, k++) {
            int64_t id = g[i].tags[j].id;
            if (id == 0)
                continue;
            rc = core_tag_get(ctx, id, &p->old[k], err);
            if (rc == 0 && p->old[k].deleted)
                rc = TG_ENOTFOUND;
            if (rc) {
                if (rc != TG_ENOTFOUND)
                    return rc;
                res->bad_id = id;
                return tg_err_set(err, TG_ENOTFOUND, "tag", "tag %lld not found", (long long)id);
            }
        }
    }
    return 0;
}

static int plan_values(struct core_ctx *ctx, struct replace_group *g, size_t n,
                       struct tg_err *err)
{
    struct vec gl, tl, gref, tref, gshort, tshort;
    size_t i, j;
    int rc;

    vec_init(&gl, sizeof(struct dup_key));
    vec_init(&tl, sizeof(struct dup_key));
    vec_init(&gref, sizeof(struct dup_key));
    vec_init(&tref, sizeof(struct dup_key));
    vec_init(&gshort, sizeof(struct dup_key));
    vec_init(&tshort, sizeof(struct dup_key));
    for (i = 0; i < n; i++) {
        size_t defaults = 0;
        rc = l10n_keys(ctx, g[i].l10n, "", i, &gl, err);
        if (rc)
            return rc;
        opt_key(ctx, &gref, g[i].reference, i);
        opt_key(ctx, &gshort, g[i].shortname, i);
        for (j = 0; j < g[i].ntags; j++) {
            struct replace_tag *t = &g[i].tags[j];
            /* Tag owners are numbered across groups so that every tag is its own owner. */
            size_t owner = (i << 20) | j;
            rc = l10n_keys(ctx, t->l10n, arena_printf(ctx->a, "%zu", i), owner, &tl, err);
            if (rc)
                return rc;
            opt_key(ctx, &tref, t->reference, owner);
            opt_key(ctx, &tshort, t->shortname, owner);
            defaults += t->is_default;
        }
        if (g[i].exclusive && defaults > 1)
            return tg_err_set(err, TG_ERULE, "is_default",
                              "a choice group may have only one default tag");
    }
    if (dup_find(gl.items, gl.n) >= 0)
        return tg_err_set(err, TG_EEXISTS, "group.l10n", "two groups have the same display name");
    if (dup_find(tl.items, tl.n) >= 0)
        return tg_err_set(err, TG_EEXISTS, "tag.l10n",
                          "two tags of one group have the same display name");
    if (dup_find(gref.items, gref.n) >= 0)
        return tg_err_set(err, TG_EEXISTS, "group.reference", "two groups have the same reference");
    if (dup_find(tref.items, tref.n) >= 0)
        return tg_err_set(err, TG_EEXISTS, "tag.reference", "two tags have the same reference");
    if (dup_find(gshort.items, gshort.n) >= 0)
        return tg_err_set(err, TG_EEXISTS, "group.shortname", "two groups have the same shortname");
    if (dup_find(tshort.items, tshort.n) >= 0)
        return tg_err_set(err, TG_EEXISTS, "tag.shortname", "two tags have the same shortname");
    return 0;
}

/* What the list deletes, and whether that needs confirming. */
static int plan_deletes(struct core_ctx *ctx, struct plan *p, struct replace_result *res,
                        struct tg_err *err)
{
    struct cur_tag *c = p->cur_tags.items;
    int rc;

    for (size_t i = 0; i < p->cur_tags.n; i++) {
        int64_t uses = 0, kids = 0;
        c[i].keep = id_listed(p->tag_ids, p->ntag_ids, c[i].t.id);
        if (c[i].keep)
            continue;
        if (c[i].t.protected_)
            return tg_err_set(err, TG_ERULE, "protected", "tag '%s' is protected", c[i].t.name);
        rc = live_children(ctx, c[i].t.id, &kids, err);
        if (rc == 0)
            rc = use_count(ctx, c[i].t.id, &uses, err);
        if (rc)
            return rc;
        if (kids)
            return tg_err_set(err, TG_ECONFLICT, "children", "tag '%s' has child tags",
                              c[i].t.name);
        if (uses) {
            res->used_tags++;
            res->assignments += (size_t)uses;
            res->need |= REPLACE_CONFIRM_DELETE_USED;
            if (has_grants(c[i].t.extra)) {
                res->grant_tags++;
                res->need |= REPLACE_CONFIRM_REVOKE;
            }
        }
    }
    return 0;
}

/* ---- apply ---- */

static int apply_group(struct core_ctx *ctx, struct plan *p, struct replace_group *g, size_t pos,
                       struct replace_result *res, struct tg_err *err)
{
    struct group_input in;
    struct group out;
    int rc;

    memset(&in, 0, sizeof(in));
    in.l10n = g->l10n;
    in.has_l10n = true;
    in.exclusive = g->exclusive;
    in.has_exclusive = true;
    in.position = (int64_t)pos;
    in.has_position = true;
    if (g->id) {
        const struct group *old = NULL;
        for (size_t i = 0; i < p->ncur_groups && old == NULL; i++)
            if (p->cur_groups[i].id == g->id)
                old = &p->cur_groups[i];
        rc = merge_extra(ctx, old->extra, g->extra, &in.extra, err);
        if (rc)
            return rc;
        in.has_extra = true;
        g->out_id = g->id;
        if (old->l10n == NULL && l10n_is_fallback(ctx, in.l10n, old->name)) {
            in.l10n = NULL;
            in.has_l10n = false;
        }
        if ((!in.has_l10n || str_eq(old->l10n, in.l10n)) && old->exclusive == in.exclusive &&
            old->position == in.position && str_eq(old->extra, in.extra)) {
            res->unchanged++;
            return 0;
        }
        res->updated++;
        return core_group_update(ctx, g->id, &in, 0, &out, err);
    }
    rc = merge_extra(ctx, NULL, g->extra, &in.extra, err);
    if (rc)
        return rc;
    in.has_extra = in.extra != NULL;
    for (int k = 1; k <= NAME_TRIES; k++) {
        in.name = name_try(ctx, name_base(ctx, g->l10n, false), k);
        rc = core_group_create(ctx, &in, &out, err);
        if (rc != TG_EEXISTS)
            break;
    }
    if (rc)
        return rc;
    g->out_id = out.id;
    res->created++;
    return 0;
}

static int apply_tag(struct core_ctx *ctx, const struct tag *old, struct replace_tag *t,
                     int64_t group_id, size_t pos, struct replace_result *res,
                     struct tg_err *err)
{
    struct tag_input in;
    struct tag out;
    const char *shown = core_l10n_pick(ctx, t->l10n);
    bool texts_same;
    int rc;

    memset(&in, 0, sizeof(in));
    /* display_name is one language of the l10n map, cut to what tagd allows. */
    if (shown && strlen(shown) > 255) {
        size_t n = 255;
        while (n && ((unsigned char)shown[n] & 0xC0) == 0x80)
            n--;
        shown = arena_strndup(ctx->a, shown, n);
    }
    in.display_name = shown;
    in.has_display_name = true;
    in.l10n = t->l10n;
    in.has_l10n = true;
    in.description = t->description;
    in.has_description = true;
    in.group_id = group_id;
    in.has_group = true;
    in.position = (int64_t)pos;
    in.has_position = true;
    if (t->id) {
        rc = merge_extra(ctx, old->extra, t->extra, &in.extra, err);
        if (rc)
            return rc;
        in.has_extra = true;
        t->out_id = t->id;
        if (old->l10n == NULL) {
            const char *dot = strrchr(old->name, '.');
            const char *was = old->display_name ? old->display_name : dot ? dot + 1 : old->name;
            if (l10n_is_fallback(ctx, in.l10n, was))
                in.has_l10n = in.has_display_name = false;
        } else if (str_eq(old->l10n, in.l10n) && str_eq(old->display_name, in.display_name)) {
            in.has_l10n = in.has_display_name = false;
        }
        texts_same = !in.has_l10n && str_eq(old->description, in.description);
        if (texts_same && old->group_id == group_id && old->position == in.position &&
            str_eq(old->extra, in.extra)) {
            res->unchanged++;
            return 0;
        }
        /* Protection guards a tag's names and texts; its place in the list and the dialect
         * data may still change. */
        in.force = old->protected_ && texts_same;
        res->updated++;
        return core_tag_update(ctx, t->id, &in, 0, &out, err);
    }
    rc = merge_extra(ctx, NULL, t->extra, &in.extra, err);
    if (rc)
        return rc;
    in.has_extra = in.extra != NULL;
    for (int k = 1; k <= NAME_TRIES; k++) {
        in.name = name_try(ctx, name_base(ctx, t->l10n, true), k);
        rc = core_tag_create(ctx, &in, &out, err);
        if (rc != TG_EEXISTS)
            break;
    }
    if (rc)
        return rc;
    t->out_id = out.id;
    res->created++;
    return 0;
}

int core_replace(struct core_ctx *ctx, struct replace_group *groups, size_t n,
                 unsigned confirmed, struct replace_result *res, struct tg_err *err)
{
    struct plan p;
    struct cur_tag *c;
    size_t i, j, k;
    int rc;

    memset(res, 0, sizeof(*res));
    memset(&p, 0, sizeof(p));
    rc = core_require(ctx, RIGHT_WRITE, err);
    if (rc)
        return rc;
    if (n > (size_t)core_limits.max_batch)
        return tg_err_set(err, TG_ELIMIT, "groups", "more than %d groups",
                          core_limits.max_batch);
    for (i = 0; i < n; i++)
        p.ntags += groups[i].ntags;
    if (p.ntags > REPLACE_MAX_TAGS)
        return tg_err_set(err, TG_ELIMIT, "tags", "more than %d tags", REPLACE_MAX_TAGS);
    rc = plan_load(ctx, &p, err);
    if (rc == 0)
        rc = plan_ids(ctx, &p, groups, n, res, err);
    if (rc == 0)
        rc = plan_values(ctx, groups, n, err);
    if (rc == 0)
        rc = plan_deletes(ctx, &p, res, err);
    if (rc)
        return rc;
    if (confirmed & REPLACE_CONFIRM_REVOKE)
        confirmed |= REPLACE_CONFIRM_DELETE_USED;
    if (res->need & ~confirmed)
        return tg_err_set(err, TG_ECONFIRM, "", "the replace deletes tags still in use");

    /* Nothing was written so far; from here on a failure rolls the request back. */
    c = p.cur_tags.items;
    for (i = 0; i < p.cur_tags.n; i++) {
        if (c[i].keep)
            continue;
        rc = delete_tag(ctx, &c[i].t, err);
        if (rc)
            return rc;
        res->deleted++;
    }
    for (i = 0; i < p.ncur_groups; i++) {
        bool keep = false;
        for (j = 0; j < n && !keep; j++)
            keep = groups[j].id == p.cur_groups[i].id;
        if (keep)
            continue;
        rc = core_group_delete(ctx, p.cur_groups[i].id, err);
        if (rc)
            return rc;
        res->deleted++;
    }
    for (i = 0, k = 0; i < n; i++) {
        rc = apply_group(ctx, &p, &groups[i], i, res, err);
        if (rc)
            return rc;
        for (j = 0; j < groups[i].ntags; j++, k++) {
            rc = apply_tag(ctx, &p.old[k], &groups[i].tags[j], groups[i].out_id, j, res, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}
