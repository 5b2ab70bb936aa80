/* core/tags.c: the taxonomy: hierarchical tags, implicit parents, renames of whole subtrees,
 * soft delete and restore.
 *
 * Invariants: within a workspace name_key (NFC case fold of the name) is unique; a tag named
 * "a.b" has parent_id pointing at the tag "a"; every row written goes through core_tag_save,
 * which also closes and opens the history rows and appends the change record. */
#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "core/core_int.h"
#include "engine/engine.h"
#include "util/jw.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/name.h"

#define MAX_DESCRIPTION 4000

int core_color_parse(const char *in, char out[8], const char *field, struct tg_err *err)
{
    size_t n = in ? strlen(in) : 0;

    if (n != 7 && n != 4)
        return tg_err_set(err, TG_EINVAL, field, "'%s' must be a hex color like #1A2B3C", field);
    if (in[0] != '#')
        return tg_err_set(err, TG_EINVAL, field, "'%s' must be a hex color like #1A2B3C", field);
    for (size_t i = 1; i < n; i++)
        if (!isxdigit((unsigned char)in[i]))
            return tg_err_set(err, TG_EINVAL, field, "'%s' must be a hex color like #1A2B3C",
                              field);
    memcpy(out, in, n + 1);
    return 0;
}

static int check_l10n(const char *l10n, const char *field, struct tg_err *err)
{
    json_t *o, *v;
    const char *k;

    if (l10n == NULL)
        return 0;
    o = json_loads(l10n, JSON_REJECT_DUPLICATES, NULL);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return tg_err_set(err, TG_EINVAL, field, "'%s' must be an object of language to text",
                          field);
    }
    json_object_foreach(o, k, v)
    {
        if (strlen(k) > 35 || !(json_is_string(v) || json_is_null(v)) ||
            (json_is_string(v) && !name_is_clean_utf8(json_string_value(v),
                                                      json_string_length(v)))) {
            json_decref(o);
            return tg_err_set(err, TG_EINVAL, field, "'%s' must map language codes to text",
                              field);
        }
    }
    json_decref(o);
    return 0;
}

static int check_text(const char *s, size_t max, const char *field, struct tg_err *err)
{
    size_t n;

    if (s == NULL)
        return 0;
    n = strlen(s);
    if (n > max)
        return tg_err_set(err, TG_EINVAL, field, "'%s' is longer than %zu bytes", field, max);
    /* Descriptions may hold line breaks and tabs, never other control characters. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
            return tg_err_set(err, TG_EINVAL, field, "'%s' contains a control character", field);
    }
    return 0;
}

const char *core_tag_json(struct core_ctx *ctx, const struct tag *t)
{
    struct sbuf b;
    struct jw w;
    const char *out;

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kint(&w, "id", t->id);
    jw_kstr(&w, "name", t->name);
    if (t->parent_id)
        jw_kint(&w, "parent_id", t->parent_id);
    jw_kstr(&w, "display_name", t->display_name);
    jw_key(&w, "l10n");
    jw_raw(&w, t->l10n);
    jw_kstr(&w, "color", t->color);
    jw_kstr(&w, "description", t->description);
    jw_kstr(&w, "source", t->source);
    jw_kbool(&w, "system_created", t->system_created);
    jw_kbool(&w, "protected", t->protected_);
    jw_kbool(&w, "archived", t->archived);
    jw_kbool(&w, "deleted", t->deleted);
    if (t->state != TAG_ACTIVE)
        jw_kstr(&w, "state", tag_state_name(t->state));
    if (t->replaced_by)
        jw_kint(&w, "replaced_by", t->replaced_by);
    if (t->assign_restricted)
        jw_kbool(&w, "assign_restricted", true);
    if (t->group_id) {
        jw_kint(&w, "group_id", t->group_id);
        jw_kint(&w, "position", t->position);
    }
    if (t->extra) {
        jw_key(&w, "extra");
        jw_raw(&w, t->extra);
    }
    jw_kint(&w, "version", t->version);
    jw_obj_end(&w);
    out = arena_strndup(ctx->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return out;
}

/* Parameters ?4... of SQL_TAG_INSERT and SQL_TAG_UPDATE (core_int.h, struct versioned). */
static void tag_bind(struct store_stmt *st, const void *row, bool insert)
{
    const struct tag *t = row;

    st_text(st, 4, t->name);
    st_text(st, 5, t->name_key);
    if (t->parent_id)
        st_int(st, 6, t->parent_id);
    st_text(st, 7, t->display_name);
    st_text(st, 8, t->l10n);
    st_text(st, 9, t->color);
    st_text(st, 10, t->description);
    st_text(st, 11, t->source ? t->source : "curated");
    st_bool(st, 12, t->system_created);
    st_bool(st, 13, t->protected_);
    st_bool(st, 14, t->archived);
    st_bool(st, 15, t->deleted);
    if (t->group_id)
        st_int(st, 16, t->group_id);
    st_int(st, 17, t->position);
    st_text(st, 18, t->extra);
    st_text(st, 19, tag_state_name(t->state));
    if (t->replaced_by)
        st_int(st, 20, t->replaced_by);
    st_bool(st, 21, t->assign_restricted);
    if (insert)
        st_text(st, 22, t->created_by);
}

static void tag_bind_hist(struct store_stmt *st, const void *row)
{
    const struct tag *t = row;

    st_text(st, 4, t->name);
    st_bool(st, 5, t->deleted);
}

static const char *tag_json(struct core_ctx *ctx, const void *row)
{
    return core_tag_json(ctx, row);
}

/* The change record of a tag deleted, restored or purged carries the resources whose
 * effective tags that changes (docs/events.md, "What else changes effective tags"): every one
 * that carries the tag, directly or from an ancestor, from the engine's index of the commits
 * before this transaction. A merge's deletion does not: its assignment records moved them
 * already. Listed up to core_limits.events_effective_max. */
static const char *tag_change_json(struct core_ctx *ctx, const void *before, const void *row,
                                   const char *op)
{
    const struct tag *b = before, *t = row;
    const char *doc = tag_json(ctx, t ? t : b), *what;
    const struct eng_snap *s;
    int64_t cap = core_limits.events_effective_max, total, wait, *ids;
    size_t n;
    struct sbuf out;
    struct jw w;
    bool ok;

    if (t ? b->deleted == t->deleted : b->deleted)
        return doc; /* no change to who carries it, or a deleted tag purged */
    if (strcmp(op, "merge") == 0 || ctx->engine == NULL || doc == NULL || doc[0] != '{')
        return doc;
    what = t && !t->deleted ? "add" : "remove";
    s = engine_acquire(ctx->engine);
    if (!core__fresh_assignments(s, &wait)) {
        /* Who carries it is every commit's work: wait for the engine to hold them all. */
        engine_release(ctx->engine, s);
        if (!engine_wait(ctx->engine, wait, 2000))
            log_warn("effective changes of tag %lld counted without revision %lld",
                     (long long)b->id, (long long)wait);
        s = engine_acquire(ctx->engine);
    }
    ids = xmalloc(((size_t)cap + 1) * sizeof(*ids));
    ok = eng_tag_effective(s, b->id, ids, (size_t)cap, &n, &total);
    engine_release(ctx->engine, s);
    if (!ok) {
        xfree(ids);
        return doc;
    }
    sbuf_init(&out, 0);
    sbuf_add(&out, doc, strlen(doc) - 1); /* the object without its '}' */
    sbuf_adds(&out, doc[1] == '}' ? "" : ",");
    jw_init(&w, &out);
    jw_key(&w, "inherited");
    jw_obj(&w);
    jw_kstr(&w, "op", what);
    jw_kint(&w, "count", total);
    if (total <= cap) {
        jw_key(&w, "resources");
        jw_arr(&w);
        for (size_t i = 0; i < n; i++)
            jw_int(&w, ids[i]);
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    sbuf_addc(&out, '}');
    xfree(ids);
    doc = arena_strndup(ctx->a, sbuf_str(&out), out.len);
    sbuf_release(&out);
    return doc;
}

static const struct versioned tag_rows = {
    .entity = "tag",
    .what = "tag",
    .has_name = true,
    .name_at = VERSIONED_AT(struct tag, name, const char *),
    VERSIONED_FIELDS(struct tag, ),
    .insert = SQL_TAG_INSERT,
    .update = SQL_TAG_UPDATE,
    .hist_close = SQL_TAG_HIST_CLOSE,
    .hist_open = SQL_TAG_HIST_OPEN,
    .remove = SQL_TAG_DELETE_ROW,
    .bind = tag_bind,
    .bind_hist = tag_bind_hist,
    .json = tag_json,
    .change_json = tag_change_json,
};

int core_tag_save(struct core_ctx *ctx, const struct tag *before, struct tag *t, const char *op,
                  struct tg_err *err)
{
    int rc = core__alias_name_check(ctx, before, t, err);

    if (rc)
        return rc;
    /* A renamed, deleted or restored tag may be one a policy names: the policies this request
     * read (by the tags' names then) are read again at the next check. */
    if (before)
        ctx->policies = NULL;
    if (before == NULL) {
        if (t->created_by == NULL)
            t->created_by = core_actor(ctx);
        if (t->source == NULL)
            t->source = "curated";
    }
    rc = core_versioned_put(ctx, &tag_rows, before, t, op, err);
    if (rc)
        return rc;
    return core__conflict_tag_check(ctx, before, t, err);
}

int core__tag_by_key(struct core_ctx *ctx, const char *key, struct tag *out, bool *found,
                     struct tg_err *err)
{
    return core__tag_by_name(ctx, key, out, found, err);
}

int core__tag_by_key_exact(struct core_ctx *ctx, const char *key, struct tag *out, bool *found,
                           struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_TAG_BY_KEY, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, key);
    rc = st_step(st, err);
    *found = rc == 1;
    if (rc == 1)
        row_tag(ctx, st, 0, out);
    st_reset(st);
    return rc < 0 ? rc : 0;
}

static int tag_by(struct core_ctx *ctx, enum store_sql id, int64_t n, const char *key,
                  struct tag *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, id, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    if (id == SQL_TAG_BY_ID) {
        st_int(st, 1, n);
        st_int(st, 2, ctx->ws_id);
    } else {
        st_int(st, 1, ctx->ws_id);
        st_text(st, 2, key);
    }
    rc = st_step(st, err);
    if (rc == 1)
        row_tag(ctx, st, 0, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "tag", "tag not found");
    return rc < 0 ? rc : 0;
}

/* A copy of the engine's record that outlives the snapshot (the answer is written after it
 * is released). */
static void tag_copy(struct core_ctx *ctx, const struct tag *t, struct tag *out)
{
    *out = *t;
    out->name = arena_strdup(ctx->a, t->name);
    out->name_key = arena_strdup(ctx->a, t->name_key);
    out->display_name = arena_strdup(ctx->a, t->display_name);
    out->l10n = arena_strdup(ctx->a, t->l10n);
    out->color = arena_strdup(ctx->a, t->color);
    out->description = arena_strdup(ctx->a, t->description);
    out->source = arena_strdup(ctx->a, t->source);
    out->created_by = arena_strdup(ctx->a, t->created_by);
    out->extra = arena_strdup(ctx->a, t->extra);
}

int core_tag_get(struct core_ctx *ctx, int64_t id, struct tag *out, struct tg_err *err)
{
    /* The writer asks for the same tags over and over (an add resolves its tags, then adds
     * them): from the engine when no tag changed since its snapshot (core_writer_fresh). */
    const struct eng_snap *s = ctx->writing ? core_writer_snap(ctx, 0) : NULL;

    if (s) {
        const struct tag *t = eng_tag_record(s, id);
        bool found = t && t->ws_id == ctx->ws_id;
        if (found)
            tag_copy(ctx, t, out);
        engine_release(ctx->engine, s);
        if (found)
            return 0;
    }
    return tag_by(ctx, SQL_TAG_BY_ID, id, NULL, out, err);
}

int core_tag_find(struct core_ctx *ctx, const char *name, struct tag *out, struct tg_err *err)
{
    char *nfc, *key;
    bool found;
    int rc = name_normalize(ctx->a, name, strlen(name), true, "name", &nfc, &key, err);
    if (rc)
        return rc;
    rc = core__tag_by_name(ctx, key, out, &found, err);
    if (rc == 0 && !found)
        return tg_err_set(err, TG_ENOTFOUND, "name", "tag '%s' not found", nfc);
    return rc;
}

int core_tag_resolve(struct core_ctx *ctx, const char *ref, struct tag *out, struct tg_err *err)
{
    int64_t id;
    if (core_parse_id(ref, "tag_", &id))
        return core_tag_get(ctx, id, out, err);
    return core_tag_find(ctx, ref, out, err);
}

/* Returns the parent name of a normalized name in the arena, or NULL at the top. */
static char *parent_name(struct core_ctx *ctx, const char *nfc)
{
    const char *dot = strrchr(nfc, '.');
    return dot ? arena_strndup(ctx->a, nfc, (size_t)(dot - nfc)) : NULL;
}

static int restore_one(struct core_ctx *ctx, struct tag *t, struct tg_err *err)
{
    struct tag before = *t;
    t->deleted = false;
    return core_tag_save(ctx, &before, t, "restore", err);
}

/* Finds or creates the tag of a normalized name (parents first); a deleted one comes back.
 * With `resolve` an alias of the name gives the tag it names; parents are found by their
 * exact names (a tag named "a.b" has the tag named "a" as its parent), so a parent name that
 * is an alias is refused when a tag below it would have to be made (core_tag_save). */
static int ensure_nfc(struct core_ctx *ctx, const char *nfc, const char *key, struct tag *out,
                      bool resolve, struct tg_err *err)
{
    struct tag t;
    char *pname;
    bool found;
    int rc;

    if (resolve)
        rc = core__tag_by_name(ctx, key, out, &found, err);
    else
        rc = core__tag_by_key_exact(ctx, key, out, &found, err);
    if (rc)
        return rc;
    if (found && !out->deleted)
        return 0;
    if (found && strcmp(out->name_key, key) != 0) /* an alias of a deleted tag */
        return core_tag_restore(ctx, out->id, out, err);
    if (found)
        return restore_one(ctx, out, err);
    memset(&t, 0, sizeof(t));
    pname = parent_name(ctx, nfc);
    if (pname) {
        struct tag parent;
        char *pn, *pk;
        rc = name_normalize(ctx->a, pname, strlen(pname), true, "name", &pn, &pk, err);
        if (rc)
            return rc;
        rc = ensure_nfc(ctx, pn, pk, &parent, false, err);
        if (rc)
            return rc;
        t.parent_id = parent.id;
    }
    t.name = nfc;
    t.name_key = key;
    t.source = "curated";
    rc = core_tag_save(ctx, NULL, &t, "create", err);
    if (rc)
        return rc;
    *out = t;
    return 0;
}

int core_tag_ensure(struct core_ctx *ctx, const char *name, struct tag *out, struct tg_err *err)
{
    char *nfc, *key;
    int rc = name_normalize(ctx->a, name, strlen(name), true, "name", &nfc, &key, err);
    if (rc)
        return rc;
    return ensure_nfc(ctx, nfc, key, out, true, err);
}

static int next_group_pos(struct core_ctx *ctx, int64_t group_id, int64_t *pos, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_GROUP_TAG_MAX_POS, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, group_id);
    rc = st_step(st, err);
    if (rc == 1)
        *pos = col_int(st, 0) + 1;
    st_reset(st);
    return rc < 0 ? rc : 0;
}

/* Applies the optional fields of `in` to `t`, validating each. */
static int apply_fields(struct core_ctx *ctx, const struct tag_input *in, struct tag *t,
                        struct tg_err *err)
{
    char color[8];
    int rc;

    if (in->has_display_name) {
        if (in->display_name && (*in->display_name == '\0' || strlen(in->display_name) > 255 ||
                                 !name_is_clean_utf8(in->display_name, strlen(in->display_name))))
            return tg_err_set(err, TG_EINVAL, "display_name",
                              "display_name must be 1-255 bytes of text");
        t->display_name = core_strdup(ctx, in->display_name);
    }
    if (in->has_l10n) {
        rc = check_l10n(in->l10n, "l10n", err);
        if (rc)
            return rc;
        t->l10n = core_strdup(ctx, in->l10n);
    }
    if (in->has_color) {
        if (in->color) {
            rc = core_color_parse(in->color, color, "color", err);
            if (rc)
                return rc;
            t->color = core_strdup(ctx, color);
        } else {
            t->color = NULL;
        }
    }
    if (in->has_description) {
        rc = check_text(in->description, MAX_DESCRIPTION, "description", err);
        if (rc)
            return rc;
        t->description = core_strdup(ctx, in->description);
    }
    if (in->has_source) {
        const char *src = in->source ? in->source : "curated";
        if (*src == '\0' || strlen(src) > 128 || !name_is_clean_utf8(src, strlen(src)))
            return tg_err_set(err, TG_EINVAL, "source", "source must be 1-128 bytes of text");
        t->source = core_strdup(ctx, src);
    }
    if (in->has_protected)
        t->protected_ = in->protected_;
    if (in->has_assign_restricted && in->assign_restricted != t->assign_restricted) {
        /* Stewards (tags:write) shape the taxonomy; who may assign a subtree is the
         * admin's, who so can always lift a restriction (assign_rights.c). */
        if (ctx->authed && !(ctx->who.rights & RIGHT_ADMIN))
            return tg_err_set(err, TG_EFORBIDDEN, "assign_restricted",
                              "only an admin may restrict or free who assigns a subtree");
        t->assign_restricted = in->assign_restricted;
    }
    /* A new tag has no id yet: its state may be any. */
    rc = core_tag_state_apply(ctx, in, t->state, t->id == 0, t, err);
    if (rc)
        return rc;
    if (in->has_extra)
        t->extra = core_strdup(ctx, in->extra);
    if (in->has_group) {
        if (in->group_id) {
            struct group g;
            rc = core_group_get(ctx, in->group_id, &g, err);
            if (rc)
                return rc == TG_ENOTFOUND
                           ? tg_err_set(err, TG_EINVAL, "group_id", "group %lld not found",
                                        (long long)in->group_id)
                           : rc;
            if (t->group_id != in->group_id && !in->has_position) {
                rc = next_group_pos(ctx, in->group_id, &t->position, err);
                if (rc)
                    return rc;
            }
        }
        t->group_id = in->group_id;
    }
    if (in->has_position)
        t->position = in->position;
    return 0;
}

int core_tag_create(struct core_ctx *ctx, const struct tag_input *in, struct tag *out,
                    struct tg_err *err)
{
    struct tag t, existing, parent;
    char *nfc, *key, *pname;
    int rc;

    if (in->name == NULL)
        return tg_err_set(err, TG_EINVAL, "name", "name is required");
    rc = name_normalize(ctx->a, in->name, strlen(in->name), true, "name", &nfc, &key, err);
    if (rc)
        return rc;
    /* An alias's name is taken until the alias is removed: also a deleted tag of that name
     * (a merged one) comes back only then. */
    memset(&t, 0, sizeof(t));
    t.name = nfc;
    t.name_key = key;
    rc = core__alias_name_check(ctx, NULL, &t, err);
    if (rc)
        return rc;
    rc = tag_by(ctx, SQL_TAG_BY_KEY, 0, key, &existing, err);
    if (rc == 0) {
        if (existing.deleted && in->revive) {
            t = existing;
            t.deleted = false;
            t.name = nfc;
            rc = apply_fields(ctx, in, &t, err);
            if (rc)
                return rc;
            if (in->system_created)
                t.system_created = true;
            rc = core_tag_save(ctx, &existing, &t, "restore", err);
            if (rc == 0)
                *out = t;
            return rc;
        }
        return tg_err_set(err, TG_EEXISTS, "name", "tag '%s' already exists%s", existing.name,
                          existing.deleted ? " (deleted; restore it)" : "");
    }
    if (rc != TG_ENOTFOUND)
        return rc;
    memset(&t, 0, sizeof(t));
    t.name = nfc;
    t.name_key = key;
    t.source = "curated";
    t.system_created = in->system_created;
    rc = apply_fields(ctx, in, &t, err);
    if (rc)
        return rc;
    pname = parent_name(ctx, nfc);
    if (pname) {
        char *pn, *pk;
        rc = name_normalize(ctx->a, pname, strlen(pname), true, "name", &pn, &pk, err);
        if (rc)
            return rc;
        rc = ensure_nfc(ctx, pn, pk, &parent, false, err);
        if (rc)
            return rc;
        t.parent_id = parent.id;
    }
    rc = core_tag_save(ctx, NULL, &t, "create", err);
    if (rc)
        return rc;
    *out = t;
    return 0;
}

int core_tag_subtree(struct core_ctx *ctx, const struct tag *t, struct tag **out, size_t *n,
                     struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_TAG_SUBTREE, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct tag));
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, t->name_key);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_tag(ctx, st, 0, vec_push(ctx, &v));
    }
    st_reset(st);
    *out = v.items;
    *n = v.n;
    return rc;
}

static int rename_subtree(struct core_ctx *ctx, const struct tag *old, struct tag *t,
                          const char *nfc, const char *key, struct tg_err *err)
{
    struct tag *sub, other, parent;
    size_t n, i, oldlen = strlen(old->name), oldklen = strlen(old->name_key);
    size_t klen = strlen(key);
    char *pname;
    int rc;

    if (strncmp(key, old->name_key, oldklen) == 0 && key[oldklen] == '.')
        return tg_err_set(err, TG_ERULE, "name", "a tag cannot move below itself");
    if (strcmp(key, old->name_key) != 0) {
        rc = tag_by(ctx, SQL_TAG_BY_KEY, 0, key, &other, err);
        if (rc == 0)
            return tg_err_set(err, TG_EEXISTS, "name", "tag '%s' already exists", other.name);
        if (rc != TG_ENOTFOUND)
            return rc;
    }
    rc = core_tag_subtree(ctx, old, &sub, &n, err);
    if (rc)
        return rc;
    /* Parents of the new name exist before anything moves. */
    pname = parent_name(ctx, nfc);
    t->parent_id = 0;
    if (pname) {
        char *pn, *pk;
        rc = name_normalize(ctx->a, pname, strlen(pname), true, "name", &pn, &pk, err);
        if (rc)
            return rc;
        rc = ensure_nfc(ctx, pn, pk, &parent, false, err);
        if (rc)
            return rc;
        t->parent_id = parent.id;
    }
    t->name = nfc;
    t->name_key = key;
    for (i = 0; i < n; i++) {
        char *cn, *ck, *raw;
        if (sub[i].id == old->id)
            continue;
        raw = arena_printf(ctx->a, "%s%s", nfc, sub[i].name + oldlen);
        rc = name_normalize(ctx->a, raw, strlen(raw), true, "name", &cn, &ck, err);
        if (rc)
            return rc;
        if (strncmp(ck, key, klen) != 0) {
            /* Folding the joined name must keep the new prefix; it always does for NFC input. */
            return tg_err_set(err, TG_EINVAL, "name", "cannot rename '%s'", sub[i].name);
        }
        if (strcmp(ck, sub[i].name_key) != 0) {
            rc = tag_by(ctx, SQL_TAG_BY_KEY, 0, ck, &other, err);
            if (rc == 0)
                return tg_err_set(err, TG_EEXISTS, "name", "tag '%s' already exists",
                                  other.name);
            if (rc != TG_ENOTFOUND)
                return rc;
        }
    }
    return 0;
}

int core_tag_update(struct core_ctx *ctx, int64_t id, const struct tag_input *in,
                    int64_t if_version, struct tag *out, struct tg_err *err)
{
    struct tag old, t;
    size_t n = 0, i;
    bool renamed = false;
    char *nfc, *key;
    int rc;

    rc = core_tag_get(ctx, id, &old, err);
    if (rc)
        return rc;
    if (if_version && if_version != old.version)
        return tg_err_set(err, TG_EPRECOND, "If-Match", "tag version is %lld, not %lld",
                          (long long)old.version, (long long)if_version);
    if (old.protected_ && !in->force && !(in->has_protected && !in->protected_))
        return tg_err_set(err, TG_ERULE, "protected", "tag '%s' is protected", old.name);
    t = old;
    rc = apply_fields(ctx, in, &t, err);
    if (rc)
        return rc;
    if (in->name) {
        rc = name_normalize(ctx->a, in->name, strlen(in->name), true, "name", &nfc, &key, err);
        if (rc)
            return rc;
        if (strcmp(nfc, old.name) != 0) {
            struct tag *orig;
            int64_t root_before, root_after;
            /* A move in or out of a restricted subtree changes who may assign the tags: the
             * admin's (assign_rights.c). The tag's own restriction moves with it. */
            rc = core__assign_root(ctx, old.name_key, &root_before, NULL, NULL, err);
            if (rc == 0 && t.assign_restricted)
                root_after = t.id;
            else if (rc == 0)
                rc = core__assign_root(ctx, key, &root_after, NULL, NULL, err);
            if (rc == 0)
                rc = core__assign_cross(ctx, root_before, root_after, "the rename", err);
            if (rc)
                return rc;
            rc = core_tag_subtree(ctx, &old, &orig, &n, err);
            if (rc)
                return rc;
            rc = rename_subtree(ctx, &old, &t, nfc, key, err);
            if (rc)
                return rc;
            /* rename_subtree validated every new name; now write them, root first. */
            renamed = true;
            rc = core_tag_save(ctx, &old, &t, "update", err);
            if (rc)
                return rc;
            for (i = 0; i < n; i++) {
                struct tag before = orig[i], after = orig[i];
                char *raw, *cn, *ck;
                if (orig[i].id == old.id)
                    continue;
                raw = arena_printf(ctx->a, "%s%s", nfc, orig[i].name + strlen(old.name));
                rc = name_normalize(ctx->a, raw, strlen(raw), true, "name", &cn, &ck, err);
                if (rc)
                    return rc;
                after.name = cn;
                after.name_key = ck;
                rc = core_tag_save(ctx, &before, &after, "rename", err);
                if (rc)
                    return rc;
            }
            /* Every old name goes on naming its tag (core/aliases.c), written once every
             * tag has its new name: only then is each old name free. */
            for (i = 0; i < n; i++) {
                const char *ok = orig[i].id == old.id ? old.name_key : orig[i].name_key;
                bool taken;
                struct tag now;
                if (orig[i].deleted && orig[i].id != old.id)
                    continue;
                rc = core__tag_by_key_exact(ctx, ok, &now, &taken, err);
                if (rc)
                    return rc;
                if (taken && !now.deleted)
                    continue; /* a change of case only: the key is still the tag's */
                rc = core__alias_add(ctx, orig[i].name, ok, orig[i].id, "rename", err);
                if (rc)
                    return rc;
            }
        }
    }
    if (!renamed) {
        rc = core_tag_save(ctx, &old, &t, "update", err);
        if (rc)
            return rc;
    }
    *out = t;
    return 0;
}

int core_tag_delete(struct core_ctx *ctx, int64_t id, bool recursive, bool purge,
                    int64_t if_version, struct tg_err *err)
{
    struct tag old, *sub;
    struct store_stmt *st;
    size_t n, i, live = 0;
    int rc;

    rc = core_tag_get(ctx, id, &old, err);
    if (rc)
        return rc;
    if (if_version && if_version != old.version)
        return tg_err_set(err, TG_EPRECOND, "If-Match", "tag version is %lld, not %lld",
                          (long long)old.version, (long long)if_version);
    if (purge) {
        rc = core_require(ctx, RIGHT_ADMIN, err);
        if (rc)
            return rc;
    } else if (old.deleted) {
        return tg_err_set(err, TG_ENOTFOUND, "tag", "tag not found");
    }
    rc = core_tag_subtree(ctx, &old, &sub, &n, err);
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        if (sub[i].id == old.id)
            continue;
        if (purge || !sub[i].deleted)
            live++;
        if (sub[i].protected_ && !sub[i].deleted)
            return tg_err_set(err, TG_ERULE, "protected", "tag '%s' is protected", sub[i].name);
    }
    if (old.protected_)
        return tg_err_set(err, TG_ERULE, "protected", "tag '%s' is protected", old.name);
    if (live && !recursive)
        return tg_err_set(err, TG_ECONFLICT, "recursive",
                          "tag '%s' has %zu child tags; delete them first or use recursive",
                          old.name, live);
    /* Deepest first, so that no moment has a child without its parent. */
    for (i = n; i-- > 0;) {
        struct tag before = sub[i], after = sub[i];
        if (purge) {
            rc = core_rev(ctx, err);
            if (rc)
                return rc;
            st = st_get(ctx->conn, SQL_ASG_CLOSE_TAG, err);
            if (st == NULL)
                return TG_EINTERNAL;
            st_int(st, 1, before.id);
            st_int(st, 2, ctx->rev);
            rc = st_exec(st, err);
            if (rc)
                return rc;
            rc = core__alias_drop_tag(ctx, before.id, err);
            if (rc)
                return rc;
            rc = core_versioned_remove(ctx, &tag_rows, &before, "purge", err);
        } else {
            if (before.deleted)
                continue;
            after.deleted = true;
            rc = core_tag_save(ctx, &before, &after, "delete", err);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int core_tag_restore(struct core_ctx *ctx, int64_t id, struct tag *out, struct tg_err *err)
{
    struct tag t, parent;
    int rc = core_tag_get(ctx, id, &t, err);

    if (rc)
        return rc;
    if (t.parent_id) {
        rc = core_tag_get(ctx, t.parent_id, &parent, err);
        if (rc)
            return rc;
        if (parent.deleted) {
            rc = core_tag_restore(ctx, parent.id, &parent, err);
            if (rc)
                return rc;
        }
    }
    if (t.deleted) {
        rc = restore_one(ctx, &t, err);
        if (rc)
            return rc;
    }
    *out = t;
    return 0;
}

/* The state filter as eng_tag_filter.state and SQL's ?6 (tens) take it. */
static int state_mode(const struct tag_filter *f)
{
    if (!f->no_drafts)
        return f->state;
    if (f->state == 0)
        return 9;
    return f->state == 1 + TAG_DRAFT ? 8 : f->state;
}

static void bind_filter(struct core_ctx *ctx, struct store_stmt *st, const struct tag_filter *f)
{
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, f->prefix ? name_fold(ctx->a, f->prefix) : NULL);
    st_text(st, 3, f->q ? name_fold(ctx->a, f->q) : NULL);
    st_text(st, 4, f->source);
    if (f->group_id)
        st_int(st, 5, f->group_id);
    st_int(st, 6, f->archived + 10 * state_mode(f));
    st_int(st, 7, f->deleted);
    st_text(st, 8, f->kind);
    st_text(st, 9, f->excluded_source);
    if (f->parent_id)
        st_int(st, 10, f->parent_id);
}

/* The same list as SQL_TAG_LIST and SQL_TAG_COUNT, from the engine. The records are shallow
 * copies whose strings belong to the request's snapshot (held until core_ctx_done). */
static int list_from_engine(struct core_ctx *ctx, const struct tag_filter *f, const char *after,
                            int limit, struct tag **out, size_t *n, const char **next,
                            int64_t *total)
{
    struct eng_tag_filter ef = {0};
    const struct tag **recs = arena_alloc(ctx->a, ((size_t)limit + 1) * sizeof(*recs));
    struct tag *tags;
    int64_t all = 0;
    size_t k = 0;

    ef.ws_id = ctx->ws_id;
    ef.prefix = f->prefix ? name_fold(ctx->a, f->prefix) : NULL;
    ef.q = f->q ? name_fold(ctx->a, f->q) : NULL;
    ef.source = f->source;
    ef.excluded_source = f->excluded_source;
    ef.kind = f->kind;
    ef.group_id = f->group_id;
    ef.parent_id = f->parent_id;
    ef.archived = f->archived;
    ef.deleted = f->deleted;
    ef.state = state_mode(f);
    ef.after = after;
    eng_tag_list(ctx->snap, &ef, recs, (size_t)limit + 1, &k, &all);
    tags = arena_alloc(ctx->a, (k ? k : 1) * sizeof(*tags));
    for (size_t i = 0; i < k; i++)
        tags[i] = *recs[i];
    *next = NULL;
    if (k > (size_t)limit) {
        k = (size_t)limit;
        *next = core_cursor_encode(ctx, tags[limit - 1].name_key);
    }
    *out = tags;
    *n = k;
    if (total)
        *total = all;
    return 0;
}

int core_tag_list(struct core_ctx *ctx, const struct tag_filter *f, struct tag **out, size_t *n,
                  const char **next, int64_t *total, struct tg_err *err)
{
    struct store_stmt *st;
    const char *after = NULL;
    struct tag_filter fc = *f;
    struct vec v;
    int limit = f->limit > 0 ? f->limit : 100;
    int rc;

    /* Drafts are the stewards' (tags:write) until they leave draft. */
    if (!(ctx->who.rights & (RIGHT_WRITE | RIGHT_ADMIN)))
        fc.no_drafts = true;
    f = &fc;
    if (f->cursor) {
        rc = core_cursor_decode(ctx, f->cursor, &after, err);
        if (rc)
            return rc;
    }
    if (core_snap(ctx))
        return list_from_engine(ctx, f, after, limit, out, n, next, total);
    st = st_get(ctx->conn, SQL_TAG_LIST, err);
    if (st == NULL)
        return TG_EINTERNAL;
    bind_filter(ctx, st, f);
    st_text(st, 11, after);
    st_int(st, 12, limit + 1);
    vec_init(&v, sizeof(struct tag));
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_tag(ctx, st, 0, vec_push(ctx, &v));
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *next = NULL;
    if (v.n > (size_t)limit) {
        v.n = (size_t)limit;
        *next = core_cursor_encode(ctx, ((struct tag *)v.items)[limit - 1].name_key);
    }
    *out = v.items;
    *n = v.n;
    if (total) {
        st = st_get(ctx->conn, SQL_TAG_COUNT, err);
        if (st == NULL)
            return TG_EINTERNAL;
        bind_filter(ctx, st, f);
        rc = st_step(st, err);
        if (rc == 1)
            *total = col_int(st, 0);
        st_reset(st);
        if (rc < 0)
            return rc;
    }
    return 0;
}
