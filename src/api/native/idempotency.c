/* api/native/idempotency.c: the Idempotency-Key header on every native write: the dialect's
 * `write` hook, around each write route's handler on the writer thread. The rules (who owns a
 * key, how long it lives, bounds, in flight) are core/idempotency.h's; this file authenticates,
 * hashes the request, and stores or gives back the answer. */
#include <string.h>

#include "api/native/native.h"
#include "api/ratelimit.h"
#include "core/idempotency.h"
#include "util/secret.h"

/* What makes two requests the same request: method, path, query, workspace and body, each
 * followed by a NUL so that no two different requests run together into the same bytes. */
static void request_hash(struct hreq *r, char out[SECRET_HASH_HEX])
{
    const char *ws = api_header(r, "x-tagd-workspace");
    const char *parts[] = {r->method, r->path, r->query ? r->query : "", ws ? ws : ""};
    size_t total = r->body_len + 1;
    struct sbuf b;

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        total += strlen(parts[i]) + 1;
    sbuf_init(&b, total + 1);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        sbuf_add(&b, parts[i], strlen(parts[i]) + 1);
    if (r->body_len)
        sbuf_add(&b, r->body, r->body_len);
    secret_hash(b.len ? b.buf : "", b.len, out);
    sbuf_release(&b);
}

static const char *headers_json(struct hreq *r)
{
    struct sbuf b;
    struct jw w;
    const char *s;

    if (r->nres_headers == 0)
        return NULL;
    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_arr(&w);
    for (int i = 0; i < r->nres_headers; i++) {
        jw_arr(&w);
        jw_str(&w, r->res_headers[i].name);
        jw_str(&w, r->res_headers[i].value);
        jw_arr_end(&w);
    }
    jw_arr_end(&w);
    s = arena_strndup(&r->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return s;
}

/* Answers with the stored answer, marked as given again. */
static enum api_result replay(struct hreq *r, const struct idem_answer *ans)
{
    sbuf_reset(&r->out);
    r->status = ans->status;
    r->content_type = ans->content_type;
    if (ans->headers) {
        json_t *h = json_loads(ans->headers, 0, NULL);
        size_t i;
        json_t *pair;
        json_array_foreach(h, i, pair)
        {
            const char *n = json_string_value(json_array_get(pair, 0));
            const char *v = json_string_value(json_array_get(pair, 1));
            if (n && v)
                api_set_header(r, n, v);
        }
        json_decref(h);
    }
    if (ans->body)
        sbuf_add(&r->out, ans->body, ans->body_len);
    api_set_header(r, "Idempotent-Replayed", "true");
    return API_ANSWER;
}

enum api_result native_write(struct hreq *r, struct core_ctx *cx, api_handler fn)
{
    const char *key = api_header(r, "idempotency-key"), *tok;
    char hash[SECRET_HASH_HEX];
    struct idem_answer ans;
    enum api_result res;
    struct tg_err err;
    bool found;
    int rc;

    if (key == NULL)
        return fn(r, cx);
    tg_err_clear(&err);
    rc = core_idem_key_check(key, &err);
    if (rc)
        return api_fail(r, rc, &err);
    if (r->route->flags & ROUTE_SECRET)
        /* Keeping the answer would keep the secret; a fast hash of the body, the password. */
        return api_failf(r, TG_EINVAL, "Idempotency-Key",
                         "Idempotency-Key is not taken here: the request or its answer holds a"
                         " secret that is never stored");
    /* Only an authenticated caller stores keys; without one the handler answers its 401. */
    tok = api_bearer(r);
    if (tok == NULL || core_auth_token(cx, tok, &err) != 0)
        return fn(r, cx);
    request_hash(r, hash);
    rc = core_idem_begin(cx, key, hash, &ans, &found, &err);
    if (rc)
        return api_fail(r, rc, &err);
    if (found) {
        /* A replay skips the handler, not the caller's rate limit. */
        if (ratelimit_take(r, cx))
            return API_ROLLBACK;
        return replay(r, &ans);
    }
    res = fn(r, cx);
    if (res == API_ROLLBACK)
        return res; /* the claim goes with the rest of the write */
    if (res == API_RENDER_LATER) {
        /* The answer is stored with the write, so it is rendered now, on the writer. */
        r->render(r, r->render_arg);
        r->render = NULL;
        res = API_ANSWER;
    }
    ans.status = r->status;
    ans.content_type = r->out.len ? r->content_type : NULL;
    ans.headers = headers_json(r);
    ans.body = r->out.len ? sbuf_str(&r->out) : NULL;
    ans.body_len = r->out.len;
    rc = core_idem_finish(cx, key, &ans, &err);
    if (rc) {
        r->nres_headers = 0;
        return api_fail(r, rc, &err);
    }
    return res;
}
