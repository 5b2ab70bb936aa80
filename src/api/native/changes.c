/* api/native/changes.c: /v1/changes: the change log, one page of whole revisions at a
 * time. */
#include <stdint.h>

#include "api/native/native.h"

enum api_result native_changes(struct hreq *r, struct core_ctx *cx)
{
    struct change *c;
    struct tg_err err;
    int64_t since, limit;
    struct jw w;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || api_query_int(r, "since", 0, 0, INT64_MAX, &since) ||
        api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_changes_list(cx, since, (int)limit, &c, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        jw_obj(&w);
        jw_kint(&w, "revision", c[i].rev);
        jw_kint(&w, "seq", c[i].seq);
        api_kiso(&w, "at", c[i].at);
        jw_kstr(&w, "principal", c[i].principal);
        jw_kstr(&w, "entity", c[i].entity);
        jw_kint(&w, "entity_id", c[i].entity_id);
        jw_kstr(&w, "op", c[i].op);
        jw_key(&w, "before");
        jw_raw(&w, c[i].before);
        jw_key(&w, "after");
        jw_raw(&w, c[i].after);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "next_since");
    jw_int(&w, n ? c[n - 1].rev : since);
    jw_obj_end(&w);
    return API_ANSWER;
}
