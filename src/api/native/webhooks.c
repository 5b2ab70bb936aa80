/* api/native/webhooks.c: /v1/webhooks, an organization's webhooks (core/webhooks.h), their
 * recent deliveries and redelivery from a revision. Admin only: a webhook sends the whole
 * organization's change log to a URL. The secret appears in the answer that created it and
 * never again. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/native/native.h"
#include "core/webhooks.h"
#include "util/json.h"

static int auth(struct hreq *r, struct core_ctx *cx)
{
    return api_native_auth(r, cx, RIGHT_ADMIN);
}

/* The route's {id}: -1 with the error rendered when it is no number. */
static int hook_id(struct hreq *r, int64_t *id)
{
    if (!core_parse_id(r->params[0], "", id) || *id <= 0) {
        api_failf(r, TG_ENOTFOUND, "id", "webhook '%.64s' not found", r->params[0]);
        return -1;
    }
    return 0;
}

static void cursor_text(int64_t rev, int64_t seq, char *buf, size_t cap)
{
    if (seq == EVENT_SEQ_ALL)
        snprintf(buf, cap, "%lld", (long long)rev);
    else
        event_cursor_format(rev, seq, buf, cap);
}

static void render(struct jw *w, const struct webhook *h, const char *secret)
{
    char c[48];

    jw_obj(w);
    jw_kint(w, "id", h->id);
    jw_kstr(w, "url", h->url);
    if (secret)
        jw_kstr(w, "secret", secret);
    jw_key(w, "filters");
    jw_raw(w, h->filters);
    jw_kbool(w, "active", h->active);
    jw_kstr(w, "state", h->state);
    jw_kint(w, "failures", h->failures);
    jw_kstr(w, "last_error", h->last_error);
    api_kiso(w, "last_attempt_at", h->last_attempt_at);
    api_kiso(w, "last_success_at", h->last_success_at);
    api_kiso(w, "next_attempt_at", h->next_attempt_at);
    cursor_text(h->cursor_rev, h->cursor_seq, c, sizeof(c));
    jw_kstr(w, "delivered_through", c);
    jw_kint(w, "delivered_revision", h->cursor_rev);
    jw_kstr(w, "created_by", h->created_by);
    api_kiso(w, "created_at", h->created_at);
    api_kiso(w, "updated_at", h->updated_at);
    jw_obj_end(w);
}

static const char *const fields[] = {"url", "secret", "filters", "active", NULL};

/* The body's fields into *in (strings borrowed from body, filters in the arena). 0 or -1. */
static int parse_input(struct hreq *r, json_t *body, struct webhook_input *in)
{
    struct tg_err err;
    json_t *f;

    memset(in, 0, sizeof(*in));
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        return -1;
    }
    if (native_only_fields(r, body, fields))
        return -1;
    if (json_get_str_or_null(body, "url", &in->url, &in->has_url, &err) ||
        json_get_str_or_null(body, "secret", &in->secret, &in->has_secret, &err) ||
        json_get_bool(body, "active", &in->active, &in->has_active, &err)) {
        api_fail(r, TG_EINVAL, &err);
        return -1;
    }
    f = json_object_get(body, "filters");
    if (f && !json_is_null(f)) {
        if (!json_is_object(f)) {
            api_failf(r, TG_EINVAL, "filters", "filters must be a JSON object");
            return -1;
        }
        in->filters = json_to_arena(&r->a, f);
        in->has_filters = true;
    } else if (f) {
        in->has_filters = true; /* null: no filter */
    }
    return 0;
}

/* What the fetch thread found of the body's URL (native_webhook_url_prepare). */
struct url_verdict {
    const char *url;
    int rc;
    struct tg_err err;
};

void *native_webhook_url_prepare(struct hreq *r, struct core_ctx *cx)
{
    struct url_verdict *v;
    const char *url, *tok = api_bearer(r);
    struct tg_err aerr;
    json_t *body, *u;

    /* Only for a caller who may make webhooks, so that nobody else makes tagd look names
     * up; checked without rendering or charging the rate limit: the handler does both. */
    tg_err_clear(&aerr);
    if (tok == NULL || core_auth_token(cx, tok, &aerr) || core_require(cx, RIGHT_ADMIN, &aerr))
        return NULL;
    body = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, NULL);
    u = json_is_object(body) ? json_object_get(body, "url") : NULL;
    url = json_is_string(u) ? json_string_value(u) : NULL;
    if (url == NULL) {
        json_decref(body);
        return NULL;
    }
    v = arena_zalloc(&r->a, sizeof(*v));
    v->url = arena_strdup(&r->a, url);
    json_decref(body);
    tg_err_clear(&v->err);
    /* The lookup blocks: here on the fetch thread, never on the writer. */
    v->rc = core_webhook_url_check(v->url, true, &v->err);
    return v;
}

/* A refusal the fetch thread found for the URL the handler is about to store. -1 rendered. */
static int url_refused(struct hreq *r, const struct webhook_input *in)
{
    const struct url_verdict *v = r->prep;

    if (v == NULL || !in->has_url || in->url == NULL || strcmp(v->url, in->url) != 0 ||
        v->rc == 0)
        return 0;
    api_fail(r, v->rc, &v->err);
    return -1;
}

enum api_result native_webhooks_list(struct hreq *r, struct core_ctx *cx)
{
    struct webhook *all;
    struct tg_err err;
    size_t n;
    struct jw w;
    int rc;

    if (auth(r, cx))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_webhook_list(cx, &all, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render(&w, &all[i], NULL);
    jw_arr_end(&w);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_webhooks_create(struct hreq *r, struct core_ctx *cx)
{
    struct webhook_input in;
    struct webhook h;
    struct tg_err err;
    const char *secret = NULL;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (auth(r, cx))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (parse_input(r, body, &in))
        goto out;
    if (!in.has_url || in.url == NULL) {
        api_failf(r, TG_EINVAL, "url", "url is required");
        goto out;
    }
    if (url_refused(r, &in))
        goto out;
    tg_err_clear(&err);
    rc = core_webhook_create(cx, &in, &h, &secret, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    render(&w, &h, secret);
    api_set_header(r, "Location", arena_printf(&r->a, "/v1/webhooks/%lld", (long long)h.id));
    api_set_header(r, "Cache-Control", "no-store");
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

enum api_result native_webhook_get(struct hreq *r, struct core_ctx *cx)
{
    struct webhook h;
    struct tg_err err;
    int64_t id;
    struct jw w;
    int rc;

    if (auth(r, cx) || hook_id(r, &id))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_webhook_get(cx, id, &h, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    render(&w, &h, NULL);
    return API_ANSWER;
}

enum api_result native_webhook_patch(struct hreq *r, struct core_ctx *cx)
{
    struct webhook_input in;
    struct webhook h;
    struct tg_err err;
    json_t *body;
    int64_t id;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (auth(r, cx) || hook_id(r, &id))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (parse_input(r, body, &in) || url_refused(r, &in))
        goto out;
    tg_err_clear(&err);
    rc = core_webhook_update(cx, id, &in, &h, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 200, &w);
    render(&w, &h, NULL);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

enum api_result native_webhook_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int64_t id;
    int rc;

    if (auth(r, cx) || hook_id(r, &id))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_webhook_delete(cx, id, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

enum api_result native_webhook_deliveries(struct hreq *r, struct core_ctx *cx)
{
    struct webhook_delivery *d;
    struct tg_err err;
    int64_t id, limit;
    size_t n;
    struct jw w;
    int rc;

    if (auth(r, cx) || hook_id(r, &id) ||
        api_query_int(r, "limit", WH_KEEP_DELIVERIES, 1, WH_KEEP_DELIVERIES, &limit))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_webhook_deliveries(cx, id, (int)limit, &d, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        char c[48];
        jw_obj(&w);
        jw_kstr(&w, "delivery", d[i].delivery);
        api_kiso(&w, "at", d[i].at);
        jw_kstr(&w, "outcome", d[i].outcome);
        if (d[i].status)
            jw_kint(&w, "status", d[i].status);
        else
            jw_knull(&w, "status");
        jw_kint(&w, "latency_ms", d[i].latency_ms);
        jw_kstr(&w, "error", d[i].error);
        jw_kint(&w, "events", d[i].events);
        jw_kint(&w, "attempt", d[i].attempt);
        cursor_text(d[i].from_rev, d[i].from_seq, c, sizeof(c));
        jw_kstr(&w, "after", c);
        cursor_text(d[i].to_rev, d[i].to_seq, c, sizeof(c));
        jw_kstr(&w, "through", c);
        jw_kstr(&w, "instance", d[i].instance);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_webhook_redeliver(struct hreq *r, struct core_ctx *cx)
{
    struct webhook h;
    struct tg_err err;
    int64_t id, from = 0;
    bool has = false;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;
    static const char *const allowed[] = {"from_revision", NULL};

    if (auth(r, cx) || hook_id(r, &id))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (native_only_fields(r, body, allowed))
        goto out;
    if (json_get_int(body, "from_revision", &from, &has, &err)) {
        api_fail(r, TG_EINVAL, &err);
        goto out;
    }
    if (!has) {
        api_failf(r, TG_EINVAL, "from_revision", "from_revision is required");
        goto out;
    }
    rc = core_webhook_redeliver(cx, id, from, &h, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 200, &w);
    render(&w, &h, NULL);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}
