/* api/native/changes.c: /v1/changes: the change log, one page of whole revisions at a
 * time; with ?wait=S a long poll that answers once a change past `since` is committed. */
#include <stdint.h>
#include <string.h>

#include "api/native/native.h"
#include "core/events.h"
#include "util/timeu.h"

/* "items": change records as /v1/changes and the histories show them. */
static void render_items(struct jw *w, const struct change *c, size_t n)
{
    jw_key(w, "items");
    jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        jw_kint(w, "revision", c[i].rev);
        jw_kint(w, "seq", c[i].seq);
        api_kiso(w, "at", c[i].at);
        jw_kstr(w, "principal", c[i].principal);
        jw_kstr(w, "entity", c[i].entity);
        jw_kint(w, "entity_id", c[i].entity_id);
        jw_kstr(w, "op", c[i].op);
        jw_kstr(w, "api", c[i].api);
        jw_key(w, "before");
        jw_raw(w, c[i].before);
        jw_key(w, "after");
        jw_raw(w, c[i].after);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

enum api_result native_changes(struct hreq *r, struct core_ctx *cx)
{
    struct event_filter f;
    struct change *c;
    struct tg_err err;
    int64_t since, limit, wait, next;
    bool more = false;
    struct jw w;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || api_query_int(r, "since", 0, 0, INT64_MAX, &since) ||
        api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit) ||
        api_query_int(r, "wait", 0, 0, INT64_MAX, &wait) || native_event_filter(r, cx, &f))
        return API_ROLLBACK;
    if (wait > api_config.changes_max_wait_s)
        wait = api_config.changes_max_wait_s;
    tg_err_clear(&err);
    if (event_filter_any(&f) || cx->who.resource_id > 0) {
        /* The filters of /v1/events, and a token scoped to a resource subtree, which sees only
         * the records that touch it: a page may hold fewer records than `limit` (or none) and
         * next_since then says how far the log was read. */
        rc = core_changes_matching(cx, since, (int)limit, &f, &c, &n, &next, &more, &err);
    } else {
        rc = core_changes_list(cx, since, (int)limit, &c, &n, &err);
        next = n ? c[n - 1].rev : since;
    }
    if (rc)
        return api_fail(r, rc, &err);
    if (n == 0 && !more && wait > 0 && !r->wait_over) {
        /* Nothing of this organization past `since`: wait for a revision past what the store
         * holds now (not past `since`, which other organizations' changes may have passed
         * already, so that the wait does not spin on them). */
        int64_t now = core_current_rev(cx);
        return api_wait(r, (now > next ? now : next) + 1, wait * 1000);
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    render_items(&w, c, n);
    jw_key(&w, "next_since");
    jw_int(&w, next);
    jw_obj_end(&w);
    return API_ANSWER;
}

/* A time parameter of a history (RFC 3339 or epoch ms) into *ms; 0 when absent. 0 or -1. */
static int time_param(struct hreq *r, const char *name, int64_t *ms)
{
    const char *v = api_query(r, name);

    *ms = 0;
    if (v == NULL)
        return 0;
    if (strlen(v) > 64 || !time_parse(v, ms) || *ms < 0) {
        api_failf(r, TG_EINVAL, name, "'%s' must be an RFC 3339 time or epoch milliseconds",
                  name);
        return -1;
    }
    return 0;
}

enum api_result native_render_history(struct hreq *r, struct core_ctx *cx, const char *entity,
                                      int64_t id)
{
    struct history_filter f;
    struct change *c;
    struct tg_err err;
    const char *next;
    int64_t limit;
    struct jw w;
    size_t n;
    int rc;

    memset(&f, 0, sizeof(f));
    if (api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit) ||
        time_param(r, "from", &f.from_ms) || time_param(r, "to", &f.to_ms))
        return API_ROLLBACK;
    f.limit = (int)limit;
    f.principal = api_query(r, "principal");
    f.cursor = api_query(r, "cursor");
    if (f.cursor && *f.cursor == '\0')
        f.cursor = NULL;
    tg_err_clear(&err);
    rc = core_history(cx, entity, id, &f, &c, &n, &next, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    render_items(&w, c, n);
    jw_kstr(&w, "next_cursor", next);
    jw_obj_end(&w);
    return API_ANSWER;
}
