/* api/native/groups.c: /v1/groups: tag groups, their order and their tags. */
#include <string.h>

#include "api/native/native.h"
#include "util/json.h"

/* ---- groups ---- */

/* `asof` NULL: the group now, with its tags now; else its tags as of the revision. */
static void render_group(struct jw *w, struct hreq *r, struct core_ctx *cx, const struct group *g,
                         const struct native_asof *asof)
{
    struct tag *tags;
    size_t n = 0;
    int rc;

    jw_obj(w);
    jw_kint(w, "id", g->id);
    jw_kstr(w, "name", g->name);
    jw_key(w, "l10n");
    if (g->l10n)
        jw_raw(w, g->l10n);
    else
        jw_null(w);
    jw_kint(w, "position", g->position);
    jw_kbool(w, "exclusive", g->exclusive);
    jw_kstr(w, "conflict", group_conflict_name(g->conflict));
    jw_key(w, "tags");
    jw_arr(w);
    if (asof)
        rc = core_asof_group_tags(cx, asof->rev, g->id, &tags, &n, NULL);
    else
        rc = core_group_tags(cx, g->id, &tags, &n, NULL);
    if (rc == 0)
        for (size_t i = 0; i < n; i++)
            jw_int(w, tags[i].id);
    jw_arr_end(w);
    api_kiso(w, "created_at", g->created_at);
    api_kiso(w, "updated_at", g->updated_at);
    jw_kint(w, "version", g->version);
    jw_obj_end(w);
}

static const char *const group_fields[] = {"name",     "l10n",     "exclusive",
                                           "position", "conflict", NULL};

static int parse_group_input(struct hreq *r, json_t *o, struct group_input *in)
{
    struct tg_err err;
    json_t *v;

    tg_err_clear(&err);
    memset(in, 0, sizeof(*in));
    if (!json_is_object(o)) {
        api_failf(r, TG_EINVAL, "body", "a group must be a JSON object");
        return -1;
    }
    if (native_only_fields(r, o, group_fields))
        return -1;
    if (json_get_str(o, "name", &in->name, &err) ||
        json_get_bool(o, "exclusive", &in->exclusive, &in->has_exclusive, &err) ||
        json_get_int(o, "position", &in->position, &in->has_position, &err) ||
        json_get_str(o, "conflict", &in->conflict, &err)) {
        api_fail(r, TG_EINVAL, &err);
        return -1;
    }
    in->has_conflict = json_object_get(o, "conflict") != NULL;
    if (in->has_conflict && in->conflict == NULL) {
        api_failf(r, TG_EINVAL, "conflict", "'conflict' must be a string");
        return -1;
    }
    v = json_object_get(o, "l10n");
    if (v) {
        in->has_l10n = true;
        if (json_is_object(v)) {
            in->l10n = json_to_arena(&r->a, v);
        } else if (!json_is_null(v)) {
            api_failf(r, TG_EINVAL, "l10n", "'l10n' must be an object");
            return -1;
        }
    }
    return 0;
}

enum api_result native_groups_list(struct hreq *r, struct core_ctx *cx)
{
    struct native_asof asof;
    struct tg_err err;
    struct group *g;
    struct jw w;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || native_as_of(r, cx, &asof))
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (asof.set)
        rc = core_asof_group_list(cx, asof.rev, &g, &n, &err);
    else
        rc = core_group_list(cx, &g, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_group(&w, r, cx, &g[i], asof.set ? &asof : NULL);
    jw_arr_end(&w);
    jw_kint(&w, "total", (int64_t)n);
    if (asof.set)
        native_render_as_of(&w, &asof);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_groups_create(struct hreq *r, struct core_ctx *cx)
{
    struct group_input in;
    struct tg_err err;
    struct group g;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK; /* parse_group_input rendered its error */

    if (api_native_auth(r, cx, RIGHT_WRITE))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (parse_group_input(r, body, &in) == 0) {
        tg_err_clear(&err);
        rc = core_group_create(cx, &in, &g, &err);
        if (rc) {
            result = api_fail(r, rc, &err);
        } else {
            api_json_begin(r, 201, &w);
            render_group(&w, r, cx, &g, NULL);
            native_set_etag(r, g.version);
            api_set_header(r, "Location", arena_printf(&r->a, "/v1/groups/%lld", (long long)g.id));
            result = API_ANSWER;
        }
    }
    json_decref(body);
    return result;
}

static int group_id_param(struct hreq *r, int64_t *id)
{
    if (!core_parse_id(r->params[0], "grp_", id)) {
        api_failf(r, TG_ENOTFOUND, "id", "group not found");
        return -1;
    }
    return 0;
}

enum api_result native_group_get(struct hreq *r, struct core_ctx *cx)
{
    struct native_asof asof;
    struct tg_err err;
    struct group g;
    struct jw w;
    int64_t id;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || group_id_param(r, &id) ||
        native_as_of(r, cx, &asof))
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (asof.set)
        rc = core_asof_group_get(cx, asof.rev, id, &g, &err);
    else
        rc = core_group_get(cx, id, &g, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    render_group(&w, r, cx, &g, asof.set ? &asof : NULL);
    native_set_etag(r, g.version);
    return API_ANSWER;
}

enum api_result native_group_patch(struct hreq *r, struct core_ctx *cx)
{
    struct group_input in;
    struct tg_err err;
    int64_t id, version;
    struct group g;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK; /* parse_group_input rendered its error */

    if (api_native_auth(r, cx, RIGHT_WRITE) || group_id_param(r, &id) || native_if_match(r, &version))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (parse_group_input(r, body, &in) == 0) {
        tg_err_clear(&err);
        rc = core_group_update(cx, id, &in, version, &g, &err);
        if (rc) {
            result = api_fail(r, rc, &err);
        } else {
            api_json_begin(r, 200, &w);
            render_group(&w, r, cx, &g, NULL);
            native_set_etag(r, g.version);
            result = API_ANSWER;
        }
    }
    json_decref(body);
    return result;
}

enum api_result native_group_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int64_t id;
    int rc;

    if (api_native_auth(r, cx, RIGHT_WRITE) || group_id_param(r, &id))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_group_delete(cx, id, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

enum api_result native_group_set_tags(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct group g;
    json_t *body, *arr;
    int64_t id, *ids;
    size_t n;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK; /* native_tag_refs rendered its error */

    if (api_native_auth(r, cx, RIGHT_WRITE) || group_id_param(r, &id))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    arr = json_is_array(body) ? body : json_object_get(body, "tags");
    if (native_tag_refs(r, cx, arr, false, &ids, &n) == 0) {
        tg_err_clear(&err);
        rc = core_group_set_tags(cx, id, ids, n, &err);
        if (rc == 0)
            rc = core_group_get(cx, id, &g, &err);
        if (rc) {
            result = api_fail(r, rc, &err);
        } else {
            api_json_begin(r, 200, &w);
            render_group(&w, r, cx, &g, NULL);
            result = API_ANSWER;
        }
    }
    json_decref(body);
    return result;
}

enum api_result native_group_history(struct hreq *r, struct core_ctx *cx)
{
    int64_t id;

    if (api_native_auth(r, cx, RIGHT_READ) || group_id_param(r, &id))
        return API_ROLLBACK;
    return native_render_history(r, cx, "group", id);
}
