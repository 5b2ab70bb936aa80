/* api/native_query.c: the tag query routes of the native API, served by the engine.
 *
 * GET /v1/resources?query=EXPR (native.c hands any /v1/resources request with `query` here)
 * and POST /v1/query {"query": ...} take the same parameters (docs/query.md). The engine
 * answers ids from a snapshot; the page's resources are then read from the store by id, which
 * keeps the index small. A resource deleted between the snapshot and that read is skipped. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "engine/engine.h"

struct qparams {
    const char *query;
    const char *kind;
    const char *cursor;
    bool effective, archived, count_only, ids_only;
    int64_t limit;
};

static int auth(struct hreq *r, struct core_ctx *cx)
{
    return api_native_auth(r, cx, RIGHT_READ);
}

/* The native error shape with the column of the query that is wrong. */
static void query_error(struct hreq *r, const struct qerr *qe, bool syntax)
{
    struct jw w;

    api_json_begin(r, 400, &w);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_kstr(&w, "code", tg_code_slug(TG_EINVAL));
    if (syntax)
        jw_kstr(&w, "message",
                arena_printf(&r->a, "syntax error at column %d: %s", qe->col, qe->msg));
    else
        jw_kstr(&w, "message", arena_printf(&r->a, "%s at column %d", qe->msg, qe->col));
    jw_key(&w, "details");
    jw_obj(&w);
    jw_kstr(&w, "field", "query");
    jw_kint(&w, "column", qe->col);
    jw_obj_end(&w);
    jw_kstr(&w, "request_id", r->request_id);
    jw_obj_end(&w);
    jw_obj_end(&w);
}

static void run_query(struct hreq *r, struct core_ctx *cx, const struct qparams *p)
{
    const struct eng_snap *s;
    struct eng_result res;
    struct eng_query o;
    struct qnode *q;
    struct qerr qe;
    struct tg_err err;
    struct jw w;
    int rc;

    tg_err_clear(&err);
    if (p->query == NULL) {
        api_failf(r, TG_EINVAL, "query", "'query' is required");
        return;
    }
    if (p->kind && core_resource_ref_check(p->kind, "x", &err) != 0) {
        api_fail(r, TG_EINVAL, &err);
        return;
    }
    memset(&o, 0, sizeof(o));
    if (p->cursor) {
        const char *dec;
        if (core_cursor_decode(cx, p->cursor, &dec, &err) != 0 ||
            !core_parse_id(dec, "r", &o.after_id)) {
            api_failf(r, TG_EINVAL, "cursor", "cursor is invalid");
            return;
        }
    }
    if (query_parse(&r->a, p->query, strlen(p->query), &q, &qe) != 0) {
        query_error(r, &qe, true);
        return;
    }
    if (cx->engine == NULL) {
        api_failf(r, TG_EBUSY, "", "the index is not loaded");
        return;
    }
    o.ws_id = cx->ws_id;
    o.within = cx->who.resource_id; /* a token scoped to a subtree sees only that subtree */
    o.kind = p->kind;
    o.effective = p->effective;
    o.archived = p->archived;
    o.limit = p->count_only ? 0 : (int)p->limit;
    s = engine_acquire(cx->engine);
    if (eng_snap_rev(s) < cx->min_rev) {
        engine_release(cx->engine, s);
        api_not_yet(r, cx->min_rev);
        return;
    }
    rc = eng_query_run(s, &r->a, q, &o, &res, &qe, &err);
    r->revision = eng_snap_rev(s);
    engine_release(cx->engine, s);
    if (rc) {
        if (rc == TG_EINVAL)
            query_error(r, &qe, false);
        else
            api_fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    if (p->ids_only && !p->count_only) {
        jw_key(&w, "ids");
        jw_arr(&w);
        for (size_t i = 0; i < res.n; i++)
            jw_int(&w, res.ids[i]);
        jw_arr_end(&w);
    } else if (!p->count_only) {
        jw_key(&w, "items");
        jw_arr(&w);
        for (size_t i = 0; i < res.n; i++) {
            struct resource one;
            tg_err_clear(&err);
            if (core_resource_get_id(cx, res.ids[i], &one, &err) == 0)
                api_native_render_resource(&w, r, &one);
        }
        jw_arr_end(&w);
    }
    if (!p->count_only) {
        jw_key(&w, "next_cursor");
        if (res.more && res.n)
            jw_str(&w, core_cursor_encode(
                           cx, arena_printf(&r->a, "r%lld", (long long)res.ids[res.n - 1])));
        else
            jw_null(&w);
    }
    jw_kint(&w, "total", (int64_t)res.total);
    jw_obj_end(&w);
}

void native_query_resources(struct hreq *r, struct core_ctx *cx)
{
    struct qparams p;

    if (auth(r, cx))
        return;
    memset(&p, 0, sizeof(p));
    p.query = api_query(r, "query");
    p.kind = api_query(r, "kind");
    p.cursor = api_query(r, "cursor");
    if (p.kind && *p.kind == '\0')
        p.kind = NULL;
    if (p.cursor && *p.cursor == '\0')
        p.cursor = NULL;
    if (api_query_bool(r, "effective", false, &p.effective) ||
        api_query_bool(r, "archived", false, &p.archived) ||
        api_query_bool(r, "count_only", false, &p.count_only) ||
        api_query_bool(r, "ids_only", false, &p.ids_only) ||
        api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &p.limit))
        return;
    run_query(r, cx, &p);
}

static int body_bool(struct hreq *r, json_t *o, const char *k, bool *out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        api_failf(r, TG_EINVAL, k, "'%s' must be true or false", k);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int body_str(struct hreq *r, json_t *o, const char *k, const char **out)
{
    json_t *v = json_object_get(o, k);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        api_failf(r, TG_EINVAL, k, "'%s' must be a string", k);
        return -1;
    }
    *out = arena_strndup(&r->a, json_string_value(v), json_string_length(v));
    if (strlen(*out) != json_string_length(v)) {
        api_failf(r, TG_EINVAL, k, "'%s' must not hold NUL characters", k);
        return -1;
    }
    return 0;
}

static void h_query(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"query", "kind",     "effective", "archived",
                                         "limit", "cursor",   "count_only", "ids_only", NULL};
    struct qparams p;
    json_t *body, *v;
    const char *k;

    if (auth(r, cx))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    memset(&p, 0, sizeof(p));
    p.limit = 100;
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object with 'query'");
        goto out;
    }
    json_object_foreach(body, k, v)
    {
        bool ok = false;
        for (const char *const *f = fields; *f && !ok; f++)
            ok = strcmp(*f, k) == 0;
        if (!ok) {
            api_failf(r, TG_EINVAL, k, "unknown field '%s'", k);
            goto out;
        }
    }
    if (body_str(r, body, "query", &p.query) || body_str(r, body, "kind", &p.kind) ||
        body_str(r, body, "cursor", &p.cursor) || body_bool(r, body, "effective", &p.effective) ||
        body_bool(r, body, "archived", &p.archived) ||
        body_bool(r, body, "count_only", &p.count_only) ||
        body_bool(r, body, "ids_only", &p.ids_only))
        goto out;
    v = json_object_get(body, "limit");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > core_limits.max_list_limit) {
            api_failf(r, TG_EINVAL, "limit", "'limit' must be an integer from 1 to %d",
                      core_limits.max_list_limit);
            goto out;
        }
        p.limit = json_integer_value(v);
    }
    run_query(r, cx, &p);
out:
    json_decref(body);
}

#define R(m, p, f, fl) {m, p, f, fl, &native_dialect, NULL, NULL}
const struct route native_query_routes[] = {
    R("POST", "/v1/query", h_query, 0),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
