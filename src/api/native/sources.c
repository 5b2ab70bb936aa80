/* api/native/sources.c: /v1/sources, the external tag sources that POST /tag/refresh re-reads
 * and GET /v1/sources reports on. Admin only: a source names files and URLs the server will
 * read. Native shapes: a collection is {"items": [...]}, errors are the native error body. */
#include <string.h>

#include "api/native/native.h"
#include "core/sources.h"
#include "util/json.h"

static int auth(struct hreq *r, struct core_ctx *cx)
{
    return api_native_auth(r, cx, RIGHT_ADMIN);
}

static void render_source(struct jw *w, struct hreq *r, const struct source *s)
{
    jw_obj(w);
    jw_kstr(w, "name", s->name);
    jw_kstr(w, "url", s->url);
    jw_kstr(w, "origin", s->origin);
    jw_kstr(w, "created_by", s->created_by);
    api_kiso(w, "created_at", s->created_at);
    api_kiso(w, "refreshed_at", s->refreshed_at);
    jw_kstr(w, "last_error", s->last_error);
    jw_obj_end(w);
}

enum api_result native_sources_list(struct hreq *r, struct core_ctx *cx)
{
    struct source *all;
    struct tg_err err;
    size_t n;
    struct jw w;
    int rc;

    if (auth(r, cx))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_src_list(cx, &all, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_source(&w, r, &all[i]);
    jw_arr_end(&w);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_sources_create(struct hreq *r, struct core_ctx *cx)
{
    const char *name = NULL, *url = NULL, *k;
    struct source s;
    struct tg_err err;
    json_t *body, *v;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (auth(r, cx))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "name") != 0 && strcmp(k, "url") != 0) {
            api_failf(r, TG_EINVAL, k, "unknown field '%s'", k);
            goto out;
        }
    }
    if (json_get_str(body, "name", &name, &err) || json_get_str(body, "url", &url, &err)) {
        api_fail(r, TG_EINVAL, &err);
        goto out;
    }
    if (name == NULL || url == NULL) {
        api_failf(r, TG_EINVAL, name ? "url" : "name", "%s is required", name ? "url" : "name");
        goto out;
    }
    rc = core_src_create(cx, name, url, &s, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    render_source(&w, r, &s);
    api_set_header(r, "Location", arena_printf(&r->a, "/v1/sources/%s", s.name));
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

enum api_result native_source_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int rc;

    if (auth(r, cx))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_src_delete(cx, r->params[0], &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}
