/* api/native/sources.c: /v1/sources, the external tag sources that GET /v1/sources reports on
 * and POST /v1/sources:refresh re-reads (through the same core as Immuta's POST /tag/refresh).
 * Admin only: a source names files and URLs the server will read. Native shapes: a collection
 * is {"items": [...]}, errors are the native error body. */
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

/* ---- POST /v1/sources:refresh, POST /v1/sources/{name}:refresh ---- */

/* On the fetch thread, before the writer (route.prepare): fetches the sources there, for a
 * caller allowed to refresh, so that no slow source holds up the writer. Checked without
 * rendering or charging the rate limit: the handler does both. */
void *native_sources_refresh_prepare(struct hreq *r, struct core_ctx *cx)
{
    const char *tok = api_bearer(r), *ws = api_header(r, "x-tagd-workspace");
    struct src_prefetch *pre;
    struct tg_err err;

    tg_err_clear(&err);
    if (tok == NULL || core_auth_token(cx, tok, &err) || core_require(cx, RIGHT_ADMIN, &err) ||
        (ws && core_ws_select(cx, ws, &err)))
        return NULL;
    pre = arena_zalloc(&r->a, sizeof(*pre));
    if (core_src_prefetch(cx, r->nparams ? r->params[0] : NULL, pre, &err) != 0)
        return NULL;
    return pre;
}

static void render_result(struct jw *w, const struct src_result *res)
{
    jw_obj(w);
    jw_kstr(w, "name", res->name);
    jw_kbool(w, "ok", res->ok);
    if (!res->ok) {
        jw_kstr(w, "error", res->error);
    } else {
        jw_kint(w, "created", res->created);
        jw_kint(w, "updated", res->updated);
        jw_kint(w, "deleted", res->deleted);
        jw_kint(w, "unchanged", res->unchanged);
        jw_key(w, "conflicts");
        jw_arr(w);
        for (size_t j = 0; j < res->nconflicts; j++)
            jw_str(w, res->conflicts[j]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

/* A source that fails is reported in its result (ok: false), not as an HTTP error: the others
 * are still refreshed, and the caller sees each outcome. Without a prepared fetch (the fetch
 * thread found nothing to do or failed), core fetches here and reports the same errors. */
enum api_result native_sources_refresh(struct hreq *r, struct core_ctx *cx)
{
    const char *only = r->nparams ? r->params[0] : NULL;
    struct src_result *res;
    struct tg_err err;
    struct jw w;
    size_t n;
    int rc;

    if (auth(r, cx))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_src_refresh(cx, only, r->prep, &res, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    if (only) {
        render_result(&w, &res[0]);
        return API_ANSWER;
    }
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_result(&w, &res[i]);
    jw_arr_end(&w);
    jw_obj_end(&w);
    return API_ANSWER;
}
