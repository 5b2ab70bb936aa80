/* api/native/query.c: the tag query routes of the native API, served by the engine.
 *
 * GET /v1/resources?query=EXPR (resources.c hands any /v1/resources request with `query` here)
 * and POST /v1/query {"query": ...} take the same parameters (docs/query.md). core_query_resources
 * (core/query.h) applies the rights and answers ids from an engine snapshot; the page's
 * resources are then read by id, and one deleted between the snapshot and that read is
 * skipped. */
#include <stdio.h>
#include <string.h>

#include "api/native/native.h"
#include "core/query.h"

struct qparams {
    const char *query;
    const char *kind;
    const char *cursor;
    bool effective, archived, count_only, ids_only;
    int64_t limit;
    struct native_asof asof; /* set: evaluated on the workspace as of asof.rev */
};

static int auth(struct hreq *r, struct core_ctx *cx)
{
    return api_native_auth(r, cx, RIGHT_READ);
}

/* The native error shape with the column of the query that is wrong; an error like
 * api_fail's, so it returns API_ROLLBACK. */
static enum api_result query_error(struct hreq *r, const struct core_query_err *qe)
{
    struct jw w;

    api_json_begin(r, 400, &w);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_kstr(&w, "code", tg_code_slug(TG_EINVAL));
    if (qe->fault == CORE_QUERY_SYNTAX)
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
    return API_ROLLBACK;
}

static enum api_result run_query(struct hreq *r, struct core_ctx *cx, const struct qparams *p)
{
    struct core_query q = {
        .text = p->query,
        .kind = p->kind,
        .cursor = p->cursor,
        .effective = p->effective,
        .archived = p->archived,
        .limit = p->count_only ? 0 : (int)p->limit,
    };
    struct core_query_result res;
    struct core_query_err qe;
    struct tg_err err;
    struct jw w;
    int rc;

    tg_err_clear(&err);
    if (p->asof.set)
        rc = core_asof_query(cx, p->asof.rev, &q, &res, &qe, &err);
    else
        rc = core_query_resources(cx, &q, &res, &qe, &err);
    if (res.rev && !p->asof.set)
        r->revision = res.rev; /* also on an error the snapshot's evaluation found */
    if (rc) {
        if (rc == TG_EINVAL && qe.fault != CORE_QUERY_INPUT)
            return query_error(r, &qe);
        return api_fail(r, rc, &err);
    }
    if (res.behind)
        return api_not_yet(r, cx->min_rev);
    native_alias_header(r, cx);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    if (p->ids_only && !p->count_only) {
        jw_key(&w, "ids");
        jw_arr(&w);
        jw_ints(&w, res.ids, res.n);
        jw_arr_end(&w);
    } else if (!p->count_only) {
        jw_key(&w, "items");
        jw_arr(&w);
        for (size_t i = 0; i < res.n; i++) {
            struct resource one;
            tg_err_clear(&err);
            if (p->asof.set)
                rc = core_asof_resource_get_id(cx, p->asof.rev, res.ids[i], &one, &err);
            else
                rc = core_resource_get_id(cx, res.ids[i], &one, &err);
            if (rc == 0)
                api_native_render_resource(&w, r, &one);
        }
        jw_arr_end(&w);
    }
    if (!p->count_only) {
        jw_key(&w, "next_cursor");
        if (res.next_cursor)
            jw_str(&w, res.next_cursor);
        else
            jw_null(&w);
    }
    jw_kint(&w, "total", (int64_t)res.total);
    if (p->asof.set)
        native_render_as_of(&w, &p->asof);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_query_resources(struct hreq *r, struct core_ctx *cx)
{
    struct qparams p;

    if (auth(r, cx))
        return API_ROLLBACK;
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
        api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &p.limit) ||
        native_as_of(r, cx, &p.asof))
        return API_ROLLBACK;
    return run_query(r, cx, &p);
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

enum api_result native_query(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"query", "kind",     "effective", "archived",
                                         "limit", "cursor",   "count_only", "ids_only", NULL};
    struct qparams p;
    json_t *body, *v;
    const char *k;
    enum api_result result = API_ROLLBACK;

    if (auth(r, cx))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
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
    result = run_query(r, cx, &p);
out:
    json_decref(body);
    return result;
}
