/* api/native/links.c: the native admin endpoints for applinks and public links.
 *
 * POST /v1/applinks and /v1/publiclinks create a link to one resource and return its id (and,
 * for applinks, the access token) once; GET lists the organization's live links without any
 * secret; DELETE /v1/{applinks,publiclinks}/{id} revokes one. The rules live in core/links.c;
 * the Oracle dialect (api/oracle.c) is where the links are used. */
#include <string.h>

#include "api/native/native.h"
#include "core/links.h"
#include "util/json.h"
#include "util/timeu.h"

static int auth_admin(struct hreq *r, struct core_ctx *cx)
{
    return api_native_auth(r, cx, RIGHT_ADMIN);
}

static void render_link(struct jw *w, struct hreq *r, const struct link *l, const char *token)
{
    jw_obj(w);
    jw_kstr(w, "id", l->id);
    jw_key(w, "resource");
    jw_obj(w);
    jw_kstr(w, "kind", l->res_kind);
    jw_kstr(w, "key", l->res_key);
    jw_obj_end(w);
    jw_kstr(w, "role", core_link_role_name(l->role));
    if (l->kind == LINK_PUBLIC)
        jw_kbool(w, "protected", l->protected_);
    api_kiso(w, "created_at", l->created_at);
    api_kiso(w, "expires_at", l->expires_at);
    if (token)
        jw_kstr(w, "access_token", token);
    jw_obj_end(w);
}

/* Parses {resource: {kind, key}, role, expires_at?, access_code?}; renders 400 on error. */
static int parse_body(struct hreq *r, json_t *body, int kind, const char **rkind,
                      const char **rkey, int *role, int64_t *expires, const char **code)
{
    struct tg_err err;
    const char *k, *role_s = NULL;
    json_t *v, *res;

    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        return -1;
    }
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "resource") != 0 && strcmp(k, "role") != 0 &&
            strcmp(k, "expires_at") != 0 && !(kind == LINK_PUBLIC && strcmp(k, "access_code") == 0)) {
            api_failf(r, TG_EINVAL, k, "unknown field '%s'", k);
            return -1;
        }
    }
    res = json_object_get(body, "resource");
    *rkind = *rkey = NULL;
    if (!json_is_object(res) || json_get_str(res, "kind", rkind, &err) ||
        json_get_str(res, "key", rkey, &err) || *rkind == NULL || *rkey == NULL) {
        api_failf(r, TG_EINVAL, "resource", "'resource' must be {\"kind\": ..., \"key\": ...}");
        return -1;
    }
    if (json_get_str(body, "role", &role_s, &err) || core_link_role_parse(role_s, role, &err)) {
        api_failf(r, TG_EINVAL, "role", "'role' must be \"viewer\" or \"contributor\"");
        return -1;
    }
    *code = NULL;
    if (json_get_str(body, "access_code", code, &err)) {
        api_fail(r, TG_EINVAL, &err);
        return -1;
    }
    v = json_object_get(body, "expires_at");
    *expires = 0;
    if (json_is_integer(v)) {
        *expires = json_integer_value(v);
    } else if (json_is_string(v)) {
        if (!time_parse(json_string_value(v), expires)) {
            api_failf(r, TG_EINVAL, "expires_at", "'expires_at' must be an ISO-8601 time");
            return -1;
        }
    } else if (v != NULL && !json_is_null(v)) {
        api_failf(r, TG_EINVAL, "expires_at", "'expires_at' must be an ISO-8601 time");
        return -1;
    }
    if (v != NULL && !json_is_null(v) && *expires <= 0) {
        api_failf(r, TG_EINVAL, "expires_at", "'expires_at' must be a positive time");
        return -1;
    }
    return 0;
}

static enum api_result links_create(struct hreq *r, struct core_ctx *cx, int kind)
{
    const char *rkind, *rkey, *code, *token;
    struct tg_err err;
    struct link l;
    int64_t expires;
    json_t *body;
    struct jw w;
    int role, rc;
    enum api_result result = API_ROLLBACK; /* parse_body rendered its error */

    if (auth_admin(r, cx))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (parse_body(r, body, kind, &rkind, &rkey, &role, &expires, &code) == 0) {
        tg_err_clear(&err);
        rc = core_link_create(cx, kind, rkind, rkey, role, code, expires, &l, &token, &err);
        if (rc) {
            result = api_fail(r, rc, &err);
        } else {
            api_json_begin(r, 201, &w);
            render_link(&w, r, &l, token);
            result = API_ANSWER;
        }
    }
    json_decref(body);
    return result;
}

static enum api_result links_list(struct hreq *r, struct core_ctx *cx, int kind)
{
    struct tg_err err;
    struct link *l;
    struct jw w;
    size_t n;
    int rc;

    if (auth_admin(r, cx))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_link_list(cx, kind, &l, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_link(&w, r, &l[i], NULL);
    jw_arr_end(&w);
    jw_kint(&w, "total", (int64_t)n);
    jw_obj_end(&w);
    return API_ANSWER;
}

static enum api_result links_delete(struct hreq *r, struct core_ctx *cx, int kind)
{
    struct tg_err err;
    int rc;

    if (auth_admin(r, cx))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_link_delete(cx, kind, r->params[0], &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

enum api_result native_applinks_create(struct hreq *r, struct core_ctx *cx)
{
    return links_create(r, cx, LINK_APP);
}

enum api_result native_applinks_list(struct hreq *r, struct core_ctx *cx)
{
    return links_list(r, cx, LINK_APP);
}

enum api_result native_applink_delete(struct hreq *r, struct core_ctx *cx)
{
    return links_delete(r, cx, LINK_APP);
}

enum api_result native_publiclinks_create(struct hreq *r, struct core_ctx *cx)
{
    return links_create(r, cx, LINK_PUBLIC);
}

enum api_result native_publiclinks_list(struct hreq *r, struct core_ctx *cx)
{
    return links_list(r, cx, LINK_PUBLIC);
}

enum api_result native_publiclink_delete(struct hreq *r, struct core_ctx *cx)
{
    return links_delete(r, cx, LINK_PUBLIC);
}
