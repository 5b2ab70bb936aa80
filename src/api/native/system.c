/* api/native/system.c: the system endpoints: /healthz, /readyz, /metrics and
 * /openapi.json (no authentication, no rate limit by address). */
#include <string.h>

#include "api/native/native.h"
#include "openapi_json.h"

enum api_result native_healthz(struct hreq *r, struct core_ctx *cx)
{
    struct jw w;
    (void)cx;
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kstr(&w, "status", "ok");
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_readyz(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct jw w;

    tg_err_clear(&err);
    if (store_ping(cx->conn, &err) != 0)
        return api_fail(r, TG_EBUSY, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kstr(&w, "status", "ready");
    jw_kint(&w, "revision", core_current_rev(cx));
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_metrics(struct hreq *r, struct core_ctx *cx)
{
    return api_metrics_render(r, cx);
}

enum api_result native_openapi(struct hreq *r, struct core_ctx *cx)
{
    (void)cx;
    r->status = 200;
    r->content_type = "application/json; charset=utf-8";
    sbuf_add(&r->out, tagd_openapi_json, strlen(tagd_openapi_json));
    return API_ANSWER;
}
