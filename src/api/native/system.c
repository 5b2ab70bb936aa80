/* api/native/system.c: the system endpoints: /healthz, /readyz, /metrics and
 * /openapi.json (no authentication, no rate limit by address). */
#include <string.h>

#include "api/native/native.h"
#include "openapi_json.h"

void native_healthz(struct hreq *r, struct core_ctx *cx)
{
    struct jw w;
    (void)cx;
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kstr(&w, "status", "ok");
    jw_obj_end(&w);
}

void native_readyz(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct jw w;

    tg_err_clear(&err);
    if (store_ping(cx->conn, &err) != 0) {
        api_fail(r, TG_EBUSY, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kstr(&w, "status", "ready");
    jw_kint(&w, "revision", core_current_rev(cx));
    jw_obj_end(&w);
}

void native_metrics(struct hreq *r, struct core_ctx *cx)
{
    api_metrics_render(r, cx);
}

void native_openapi(struct hreq *r, struct core_ctx *cx)
{
    (void)cx;
    r->status = 200;
    r->content_type = "application/json; charset=utf-8";
    sbuf_add(&r->out, tagd_openapi_json, strlen(tagd_openapi_json));
}
