/* api/native/policies.c: /v1/policies: tag policies of the workspace and the resources out of
 * them (core/policies.h; docs/taxonomy.md, "Policies"). Reading needs tags:read, changing
 * admin. */
#include <string.h>

#include "api/native/native.h"
#include "core/policies.h"
#include "util/json.h"

static void render_policy(struct jw *w, struct core_ctx *cx, const struct policy *p)
{
    jw_obj(w);
    jw_kint(w, "id", p->id);
    jw_kstr(w, "name", p->name);
    jw_kstr(w, "kind", core_policy_kind_name(p->kind));
    jw_kstr(w, "resource_kind", p->resource_kind);
    if (p->kind == POLICY_REQUIRED) {
        jw_kstr(w, "subtree", core_policy_subtree_str(cx, &p->subtrees[0]));
        jw_kint(w, "min", p->min);
        jw_key(w, "max");
        if (p->max >= 0)
            jw_int(w, p->max);
        else
            jw_null(w);
    } else {
        jw_key(w, "subtrees");
        jw_arr(w);
        for (size_t i = 0; i < p->nsubtrees; i++)
            jw_str(w, core_policy_subtree_str(cx, &p->subtrees[i]));
        jw_arr_end(w);
    }
    jw_kstr(w, "mode", core_policy_mode_name(p->mode));
    jw_kstr(w, "created_by", p->created_by);
    api_kiso(w, "created_at", p->created_at);
    api_kiso(w, "updated_at", p->updated_at);
    jw_kint(w, "version", p->version);
    jw_obj_end(w);
}

static const char *const policy_fields[] = {"name",    "kind",     "resource_kind", "subtree",
                                            "subtrees", "min",     "max",           "mode",
                                            NULL};

/* Reads a policy's fields; strings borrow from `o`. 0, or -1 with the error rendered. */
static int parse_policy(struct hreq *r, json_t *o, struct policy_input *in)
{
    struct tg_err err;
    json_t *v;
    bool present;

    tg_err_clear(&err);
    memset(in, 0, sizeof(*in));
    if (!json_is_object(o)) {
        api_failf(r, TG_EINVAL, "body", "a policy must be a JSON object");
        return -1;
    }
    if (native_only_fields(r, o, policy_fields))
        return -1;
    if (json_get_str_or_null(o, "name", &in->name, &in->has_name, &err) ||
        json_get_str_or_null(o, "resource_kind", &in->resource_kind, &in->has_resource_kind,
                             &err) ||
        json_get_int(o, "min", &in->min, &in->has_min, &err)) {
        api_fail(r, TG_EINVAL, &err);
        return -1;
    }
    in->has_kind = json_object_get(o, "kind") != NULL;
    in->has_mode = json_object_get(o, "mode") != NULL;
    in->has_subtree = json_object_get(o, "subtree") != NULL;
    if (json_get_str(o, "kind", &in->kind, &err) || json_get_str(o, "mode", &in->mode, &err) ||
        json_get_str(o, "subtree", &in->subtree, &err)) {
        api_fail(r, TG_EINVAL, &err);
        return -1;
    }
    v = json_object_get(o, "max");
    if (v) {
        in->has_max = true;
        if (json_is_null(v)) {
            in->max = -1;
        } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
            in->max = json_integer_value(v);
        } else {
            api_failf(r, TG_EINVAL, "max", "'max' must be null or an integer from 1 to %d",
                      POLICY_MAX_COUNT);
            return -1;
        }
    }
    v = json_object_get(o, "subtrees");
    present = v != NULL;
    if (present) {
        const char **list;
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (!json_is_array(v) || n > POLICY_MAX_SUBTREES) {
            api_failf(r, TG_EINVAL, "subtrees",
                      "'subtrees' must be an array of 1 to %d names like 'Env.*'",
                      POLICY_MAX_SUBTREES);
            return -1;
        }
        list = arena_alloc(&r->a, (n ? n : 1) * sizeof(*list));
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e)) {
                api_failf(r, TG_EINVAL, arena_printf(&r->a, "subtrees[%zu]", i),
                          "subtrees[%zu] must be a string like 'Env.*'", i);
                return -1;
            }
            list[i] = json_string_value(e);
        }
        in->subtrees = list;
        in->nsubtrees = n;
        in->has_subtrees = true;
    }
    return 0;
}

static int policy_id_param(struct hreq *r, int64_t *id)
{
    if (!core_parse_id(r->params[0], "pol_", id) || *id <= 0) {
        api_failf(r, TG_ENOTFOUND, "id", "policy not found");
        return -1;
    }
    return 0;
}

enum api_result native_policies_list(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct policy *p;
    struct jw w;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_policy_list(cx, &p, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_policy(&w, cx, &p[i]);
    jw_arr_end(&w);
    jw_key(&w, "next_cursor");
    jw_null(&w);
    jw_kint(&w, "total", (int64_t)n);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_policies_create(struct hreq *r, struct core_ctx *cx)
{
    struct policy_input in;
    struct tg_err err;
    struct policy p;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK; /* parse_policy rendered its error */

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (parse_policy(r, body, &in) == 0) {
        tg_err_clear(&err);
        rc = core_policy_create(cx, &in, &p, &err);
        if (rc) {
            result = api_fail(r, rc, &err);
        } else {
            api_json_begin(r, 201, &w);
            render_policy(&w, cx, &p);
            native_set_etag(r, p.version);
            api_set_header(r, "Location",
                           arena_printf(&r->a, "/v1/policies/%lld", (long long)p.id));
            result = API_ANSWER;
        }
    }
    json_decref(body);
    return result;
}

enum api_result native_policy_get(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct policy p;
    struct jw w;
    int64_t id;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || policy_id_param(r, &id))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_policy_get(cx, id, &p, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    render_policy(&w, cx, &p);
    native_set_etag(r, p.version);
    return API_ANSWER;
}

enum api_result native_policy_patch(struct hreq *r, struct core_ctx *cx)
{
    struct policy_input in;
    struct tg_err err;
    int64_t id, version;
    struct policy p;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK; /* parse_policy rendered its error */

    if (api_native_auth(r, cx, RIGHT_ADMIN) || policy_id_param(r, &id) ||
        native_if_match(r, &version))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (parse_policy(r, body, &in) == 0) {
        tg_err_clear(&err);
        rc = core_policy_update(cx, id, &in, version, &p, &err);
        if (rc) {
            result = api_fail(r, rc, &err);
        } else {
            api_json_begin(r, 200, &w);
            render_policy(&w, cx, &p);
            native_set_etag(r, p.version);
            result = API_ANSWER;
        }
    }
    json_decref(body);
    return result;
}

enum api_result native_policy_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int64_t id, version;
    int rc;

    if (api_native_auth(r, cx, RIGHT_ADMIN) || policy_id_param(r, &id) ||
        native_if_match(r, &version))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_policy_delete(cx, id, version, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

/* GET /v1/policies/violations[?policy=ID][&cursor=...][&limit=N]: answered from the engine. */
enum api_result native_policy_violations(struct hreq *r, struct core_ctx *cx)
{
    const char *pol = api_query(r, "policy"), *next;
    struct policy_violation *v;
    struct tg_err err;
    int64_t limit, policy_id = 0, total;
    bool behind;
    struct jw w;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) ||
        api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit))
        return API_ROLLBACK;
    if (pol && (!core_parse_id(pol, "pol_", &policy_id) || policy_id <= 0))
        return api_failf(r, TG_EINVAL, "policy", "'policy' must be a policy id");
    tg_err_clear(&err);
    rc = core_policy_violations(cx, policy_id, api_query(r, "cursor"), (int)limit, &v, &n, &next,
                                &total, &behind, &err);
    if (rc)
        return api_fail(r, rc, &err);
    if (behind)
        return api_not_yet(r, cx->min_rev);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        const struct policy *p = v[i].policy;
        jw_obj(&w);
        jw_key(&w, "policy");
        jw_obj(&w);
        jw_kint(&w, "id", p->id);
        jw_kstr(&w, "name", p->name);
        jw_kstr(&w, "kind", core_policy_kind_name(p->kind));
        jw_kstr(&w, "mode", core_policy_mode_name(p->mode));
        jw_obj_end(&w);
        jw_key(&w, "resource");
        jw_obj(&w);
        jw_kint(&w, "id", v[i].resource_id);
        jw_kstr(&w, "kind", v[i].kind);
        jw_kstr(&w, "key", v[i].key);
        jw_obj_end(&w);
        jw_kstr(&w, "reason", core_policy_reason_name(v[i].reason));
        jw_key(&w, "tags");
        jw_arr(&w);
        for (size_t k = 0; k < v[i].ntags; k++)
            jw_str(&w, v[i].tags[k]);
        jw_arr_end(&w);
        jw_kstr(&w, "message", v[i].message);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "next_cursor");
    if (next)
        jw_str(&w, next);
    else
        jw_null(&w);
    jw_kint(&w, "total", total);
    jw_obj_end(&w);
    return API_ANSWER;
}
