/* core/groups.c: tag groups with an order, localized names, exclusivity and an exclusive
 * group's policy for inheritance conflicts (its rules: conflicts.c).
 * A group's tags are the tags whose group_id points at it, ordered by their position. */
#include <jansson.h>
#include <string.h>

#include "core/core_int.h"
#include "util/jw.h"
#include "util/name.h"

static const char *group_json(struct core_ctx *ctx, const struct group *g)
{
    struct sbuf b;
    struct jw w;
    const char *out;

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kint(&w, "id", g->id);
    jw_kstr(&w, "name", g->name);
    jw_key(&w, "l10n");
    jw_raw(&w, g->l10n);
    jw_kint(&w, "position", g->position);
    jw_kbool(&w, "exclusive", g->exclusive);
    jw_kstr(&w, "conflict", group_conflict_name(g->conflict));
    if (g->extra) {
        jw_key(&w, "extra");
        jw_raw(&w, g->extra);
    }
    jw_kint(&w, "version", g->version);
    jw_obj_end(&w);
    out = arena_strndup(ctx->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return out;
}

/* A group as core_versioned_put writes it: with its name key, which struct group does not
 * keep. */
struct group_row {
    struct group g;
    const char *name_key;
};

/* Parameters ?4... of SQL_GROUP_INSERT and SQL_GROUP_UPDATE (core_int.h, struct versioned). */
static void group_bind(struct store_stmt *st, const void *row, bool insert)
{
    const struct group_row *r = row;

    (void)insert;
    st_text(st, 4, r->g.name);
    st_text(st, 5, r->name_key);
    st_text(st, 6, r->g.l10n);
    st_int(st, 7, r->g.position);
    st_bool(st, 8, r->g.exclusive);
    st_text(st, 9, r->g.extra);
    st_text(st, 10, group_conflict_name(r->g.conflict));
}

static const char *group_row_json(struct core_ctx *ctx, const void *row)
{
    return group_json(ctx, &((const struct group_row *)row)->g);
}

static const struct versioned group_rows = {
    .entity = "group",
    .what = "group",
    .has_name = true,
    .name_at = VERSIONED_AT(struct group_row, g.name, const char *),
    VERSIONED_FIELDS(struct group_row, g.),
    .insert = SQL_GROUP_INSERT,
    .update = SQL_GROUP_UPDATE,
    .hist_close = SQL_GROUP_HIST_CLOSE,
    .hist_open = SQL_GROUP_HIST_OPEN,
    .remove = SQL_GROUP_DELETE_ROW,
    .bind = group_bind,
    .json = group_row_json,
};

static int group_save(struct core_ctx *ctx, const struct group *before, struct group *g,
                      const char *key, const char *op, struct tg_err *err)
{
    struct group_row old = {.g = before ? *before : (struct group){0}};
    struct group_row row = {.g = *g, .name_key = key};
    int rc = core_versioned_put(ctx, &group_rows, before ? &old : NULL, &row, op, err);

    *g = row.g;
    return rc;
}

int core_group_get(struct core_ctx *ctx, int64_t id, struct group *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_GROUP_BY_ID, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->ws_id);
    rc = st_step(st, err);
    if (rc == 1)
        row_group(ctx, st, 0, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "group", "group not found");
    return rc < 0 ? rc : 0;
}

static int check_l10n_obj(const char *l10n, struct tg_err *err)
{
    json_t *o;
    if (l10n == NULL)
        return 0;
    o = json_loads(l10n, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return tg_err_set(err, TG_EINVAL, "l10n", "'l10n' must be an object");
    }
    json_decref(o);
    return 0;
}

static int check_conflict(const struct group_input *in, enum group_conflict *out,
                          struct tg_err *err)
{
    if (!group_conflict_parse(in->conflict, out))
        return tg_err_set(err, TG_EINVAL, "conflict",
                          "conflict must be union, child-wins, parent-wins or reject");
    return 0;
}

int core_group_create(struct core_ctx *ctx, const struct group_input *in, struct group *out,
                      struct tg_err *err)
{
    struct store_stmt *st;
    struct group g;
    char *nfc, *key;
    int rc;

    if (in->name == NULL)
        return tg_err_set(err, TG_EINVAL, "name", "name is required");
    rc = name_normalize(ctx->a, in->name, strlen(in->name), false, "name", &nfc, &key, err);
    if (rc)
        return rc;
    rc = check_l10n_obj(in->has_l10n ? in->l10n : NULL, err);
    if (rc)
        return rc;
    memset(&g, 0, sizeof(g));
    g.name = nfc;
    g.l10n = in->has_l10n ? core_strdup(ctx, in->l10n) : NULL;
    g.exclusive = in->has_exclusive && in->exclusive;
    if (in->has_conflict) {
        rc = check_conflict(in, &g.conflict, err);
        if (rc)
            return rc;
    }
    g.extra = in->has_extra ? core_strdup(ctx, in->extra) : NULL;
    if (in->has_position) {
        g.position = in->position;
    } else {
        st = st_get(ctx->conn, SQL_GROUP_MAX_POS, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, ctx->ws_id);
        rc = st_step(st, err);
        if (rc == 1)
            g.position = col_int(st, 0) + 1;
        st_reset(st);
        if (rc < 0)
            return rc;
    }
    rc = group_save(ctx, NULL, &g, key, "create", err);
    if (rc)
        return rc;
    *out = g;
    return 0;
}

int core_group_update(struct core_ctx *ctx, int64_t id, const struct group_input *in,
                      int64_t if_version, struct group *out, struct tg_err *err)
{
    struct group old, g;
    char *nfc, *key;
    int rc = core_group_get(ctx, id, &old, err);

    if (rc)
        return rc;
    if (if_version && if_version != old.version)
        return tg_err_set(err, TG_EPRECOND, "If-Match", "group version is %lld, not %lld",
                          (long long)old.version, (long long)if_version);
    g = old;
    rc = name_normalize(ctx->a, in->name ? in->name : old.name,
                        strlen(in->name ? in->name : old.name), false, "name", &nfc, &key, err);
    if (rc)
        return rc;
    g.name = nfc;
    if (in->has_l10n) {
        rc = check_l10n_obj(in->l10n, err);
        if (rc)
            return rc;
        g.l10n = core_strdup(ctx, in->l10n);
    }
    if (in->has_exclusive)
        g.exclusive = in->exclusive;
    if (in->has_position)
        g.position = in->position;
    if (in->has_extra)
        g.extra = core_strdup(ctx, in->extra);
    if (in->has_conflict) {
        rc = check_conflict(in, &g.conflict, err);
        if (rc)
            return rc;
    }
    /* Becoming reject (by its policy or by turning exclusive) promises that no resource has
     * a conflict in the group: refused while some have one, which the caller resolves first. */
    if (core__group_policy(&g) == CONFLICT_REJECT && core__group_policy(&old) != CONFLICT_REJECT) {
        rc = core__conflict_refuse(ctx, &g, NULL, err);
        if (rc)
            return rc;
    }
    rc = group_save(ctx, &old, &g, key, "update", err);
    if (rc)
        return rc;
    *out = g;
    return 0;
}

int core_group_tags(struct core_ctx *ctx, int64_t id, struct tag **out, size_t *n,
                    struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_GROUP_TAGS, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct tag));
    st_int(st, 1, id);
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

int core_group_delete(struct core_ctx *ctx, int64_t id, struct tg_err *err)
{
    struct group_row old = {.name_key = NULL};
    struct tag *tags;
    size_t n, i;
    int rc = core_group_get(ctx, id, &old.g, err);

    if (rc)
        return rc;
    rc = core_group_tags(ctx, id, &tags, &n, err);
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        struct tag after = tags[i];
        after.group_id = 0;
        after.position = 0;
        rc = core_tag_save(ctx, &tags[i], &after, "update", err);
        if (rc)
            return rc;
    }
    return core_versioned_remove(ctx, &group_rows, &old, "delete", err);
}

int core_group_list(struct core_ctx *ctx, struct group **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_GROUP_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct group));
    st_int(st, 1, ctx->ws_id);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_group(ctx, st, 0, vec_push(ctx, &v));
    }
    st_reset(st);
    *out = v.items;
    *n = v.n;
    return rc;
}

int core_group_set_tags(struct core_ctx *ctx, int64_t id, const int64_t *ids, size_t n,
                        struct tg_err *err)
{
    struct group g;
    struct tag *cur, t;
    size_t ncur, i, j;
    int rc = core_group_get(ctx, id, &g, err);

    if (rc)
        return rc;
    if (n > (size_t)core_limits.max_batch)
        return tg_err_set(err, TG_ELIMIT, "tags", "more than %d tags", core_limits.max_batch);
    for (i = 0; i < n; i++)
        for (j = 0; j < i; j++)
            if (ids[i] == ids[j])
                return tg_err_set(err, TG_EINVAL, "tags", "tag %lld is listed twice",
                                  (long long)ids[i]);
    rc = core_group_tags(ctx, id, &cur, &ncur, err);
    if (rc)
        return rc;
    for (i = 0; i < ncur; i++) {
        bool keep = false;
        for (j = 0; j < n; j++)
            keep |= ids[j] == cur[i].id;
        if (!keep) {
            struct tag after = cur[i];
            after.group_id = 0;
            after.position = 0;
            rc = core_tag_save(ctx, &cur[i], &after, "update", err);
            if (rc)
                return rc;
        }
    }
    for (i = 0; i < n; i++) {
        struct tag after;
        rc = core_tag_get(ctx, ids[i], &t, err);
        if (rc)
            return rc == TG_ENOTFOUND ? tg_err_set(err, TG_EINVAL, "tags", "tag %lld not found",
                                                   (long long)ids[i])
                                      : rc;
        if (t.deleted)
            return tg_err_set(err, TG_EINVAL, "tags", "tag %lld is deleted", (long long)ids[i]);
        if (t.group_id == id && t.position == (int64_t)i)
            continue;
        after = t;
        after.group_id = id;
        after.position = (int64_t)i;
        rc = core_tag_save(ctx, &t, &after, "update", err);
        if (rc)
            return rc;
    }
    return 0;
}
