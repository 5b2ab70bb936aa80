/* api/launchdarkly.c: the LaunchDarkly REST API v2 dialect: GET /api/v2/tags.
 *
 * Shapes (docs/dialects/launchdarkly.md): the token is the raw Authorization header value; a
 * collection answers {"items": [...], "_links": {name: {"href", "type"}}, "totalCount": N};
 * an error answers {"code", "message", "id"} with Content-Type application/json. The tags a
 * LaunchDarkly resource carries are set through the native API on resources whose kind is one
 * of LaunchDarkly's (flag, project, environment, segment, metric, aiconfig, view); the
 * answer, also as of a past time, comes from core/history.c. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/ratelimit.h"
#include "core/history.h"
#include "util/timeu.h"

#define LD_TAGS_PATH "/api/v2/tags"
#define LD_MAX_LIMIT 1000

static const char *const ld_kinds[] = {"flag",   "project", "environment", "segment",
                                       "metric", "aiconfig", "view"};
#define LD_NKINDS (sizeof(ld_kinds) / sizeof(ld_kinds[0]))

/* ---- errors ---- */

static void ld_cors(struct hreq *r)
{
    const char *origin = api_header(r, "origin");
    api_set_header(r, "Access-Control-Allow-Origin", origin && *origin ? origin : "*");
}

static void ld_error(struct hreq *r, int code, const struct tg_err *err)
{
    const char *slug, *msg = err->msg;
    struct jw w;
    int status;

    switch (code) {
    case TG_EINVAL:
    case TG_ERULE:
    case TG_ELIMIT:
        status = 400, slug = "invalid_request";
        break;
    case TG_EAUTH:
        status = 401, slug = "unauthorized", msg = "Invalid access token";
        break;
    case TG_EFORBIDDEN:
        status = 403, slug = "forbidden",
        msg = "Forbidden. Access to the requested resource was denied.";
        break;
    case TG_ENOTFOUND:
        status = 404, slug = "not_found", msg = "Invalid resource identifier";
        break;
    case TG_EMETHOD:
        status = 405, slug = "method_not_allowed", msg = "Method not allowed";
        break;
    case TG_EEXISTS:
    case TG_ECONFLICT:
        status = 409, slug = "conflict";
        break;
    case TG_EPRECOND:
        status = 409, slug = "optimistic_locking_error",
        msg = "Conflict. Optimistic lock error. Try again later.";
        break;
    case TG_EMEDIA:
        status = 415, slug = "unsupported_media_type";
        break;
    case TG_ERATE:
        status = 429, slug = "rate_limited",
        msg = "You've exceeded the API rate limit. Try again later.";
        break;
    case TG_EBUSY:
        status = 503, slug = "service_unavailable";
        break;
    default:
        status = 500, slug = "internal_server_error", msg = "Internal server error";
        break;
    }
    api_json_begin(r, status, &w);
    r->content_type = "application/json";
    ld_cors(r);
    jw_obj(&w);
    jw_kstr(&w, "code", slug);
    jw_kstr(&w, "message", msg && *msg ? msg : slug);
    jw_kstr(&w, "id", r->request_id);
    jw_obj_end(&w);
}

const struct dialect launchdarkly_dialect = {"launchdarkly", ld_error};

/* ---- authentication ---- */

/* LaunchDarkly sends the access token as the whole Authorization value. A "Bearer " prefix is
 * tolerated so that generic clients work too. Only REST API tokens count: sessions, applinks
 * and other token kinds are not access tokens here, as SDK keys are not at LaunchDarkly. */
static int ld_auth(struct hreq *r, struct core_ctx *cx)
{
    const char *tok = api_header(r, "authorization");
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    if (tok && strncasecmp(tok, "bearer ", 7) == 0)
        tok += 7;
    while (tok && *tok == ' ')
        tok++;
    if (tok == NULL || *tok == '\0') {
        api_failf(r, TG_EAUTH, "Authorization", "missing access token");
        return -1;
    }
    rc = core_auth_token(cx, tok, &err);
    if (rc == 0 && strcmp(cx->who.kind, "api") != 0 && strcmp(cx->who.kind, "env") != 0)
        rc = tg_err_set(&err, TG_EAUTH, "Authorization", "not an API access token");
    if (rc == 0)
        rc = core_require(cx, RIGHT_READ, &err);
    /* A token scoped to one resource's subtree cannot list the workspace's tags. */
    if (rc == 0 && cx->who.resource_id)
        rc = tg_err_set(&err, TG_EFORBIDDEN, "Authorization", "token is scoped to a resource");
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return ratelimit_take(r, cx);
}

/* ---- GET /api/v2/tags ---- */

struct ld_query {
    const char *kinds[LD_NKINDS];
    size_t nkinds;
    const char *pre;
    bool archived;
    bool paged; /* limit given */
    int64_t limit, offset;
    bool as_of;
    int64_t as_of_ms;
};

static int ld_kind_add(struct hreq *r, struct ld_query *q, const char *s, size_t n)
{
    for (size_t i = 0; i < LD_NKINDS; i++) {
        if (strlen(ld_kinds[i]) != n || strncmp(ld_kinds[i], s, n) != 0)
            continue;
        for (size_t j = 0; j < q->nkinds; j++)
            if (q->kinds[j] == ld_kinds[i])
                return 0;
        q->kinds[q->nkinds++] = ld_kinds[i];
        return 0;
    }
    api_failf(r, TG_EINVAL, "kind",
              "Invalid kind '%.*s': must be one of flag, project, environment, segment, "
              "metric, aiconfig, view",
              (int)(n > 64 ? 64 : n), s);
    return -1;
}

/* kind repeats (?kind=flag&kind=segment) and also takes comma lists; empty items are skipped,
 * and no kind at all means every LaunchDarkly kind. */
static int ld_parse_kinds(struct hreq *r, struct ld_query *q)
{
    const char **vals;
    size_t nv = api_query_all(r, "kind", &vals);

    for (size_t i = 0; i < nv; i++) {
        const char *p = vals[i];
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            const char *s = p;
            while (len && *s == ' ')
                s++, len--;
            while (len && s[len - 1] == ' ')
                len--;
            if (len && ld_kind_add(r, q, s, len))
                return -1;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    if (q->nkinds == 0) {
        for (size_t i = 0; i < LD_NKINDS; i++)
            q->kinds[i] = ld_kinds[i];
        q->nkinds = LD_NKINDS;
    }
    return 0;
}

static int ld_parse(struct hreq *r, struct ld_query *q)
{
    const char *as_of = api_query(r, "asOf"), *lim = api_query(r, "limit");

    memset(q, 0, sizeof(*q));
    if (ld_parse_kinds(r, q))
        return -1;
    q->pre = api_query(r, "pre");
    if (q->pre && *q->pre == '\0')
        q->pre = NULL;
    if (api_query_bool(r, "archived", false, &q->archived))
        return -1;
    q->paged = lim && *lim;
    if (api_query_int(r, "limit", 0, 1, LD_MAX_LIMIT, &q->limit) ||
        api_query_int(r, "offset", 0, 0, INT32_MAX, &q->offset))
        return -1;
    if (as_of && *as_of) {
        if (!time_parse(as_of, &q->as_of_ms) || q->as_of_ms < 0) {
            api_failf(r, TG_EINVAL, "asOf",
                      "asOf must be an ISO-8601 time or epoch milliseconds");
            return -1;
        }
        q->as_of = true;
    }
    return 0;
}

/* The href of this collection at another page: the request's own query minus limit and
 * offset, which come first. */
static const char *ld_page_href(struct hreq *r, int64_t limit, int64_t offset)
{
    struct sbuf b;
    const char *out;

    sbuf_init(&b, 0);
    sbuf_printf(&b, LD_TAGS_PATH "?limit=%lld&offset=%lld", (long long)limit,
                (long long)offset);
    for (size_t i = 0; i < r->nqv; i++) {
        if (strcmp(r->qv[i].name, "limit") == 0 || strcmp(r->qv[i].name, "offset") == 0)
            continue;
        sbuf_addc(&b, '&');
        api_url_encode(&b, r->qv[i].name);
        sbuf_addc(&b, '=');
        api_url_encode(&b, r->qv[i].value);
    }
    out = arena_strdup(&r->a, sbuf_str(&b));
    sbuf_release(&b);
    return out;
}

static void ld_link(struct jw *w, const char *name, const char *href)
{
    jw_key(w, name);
    jw_obj(w);
    jw_kstr(w, "href", href);
    jw_kstr(w, "type", "application/json");
    jw_obj_end(w);
}

static void h_tags(struct hreq *r, struct core_ctx *cx)
{
    struct tag_use_filter f;
    struct ld_query q;
    struct tg_err err;
    const char **names;
    size_t n;
    int64_t total;
    struct jw w;
    int rc;

    tg_err_clear(&err);
    if (ld_auth(r, cx) || ld_parse(r, &q))
        return;
    memset(&f, 0, sizeof(f));
    f.kinds = q.kinds;
    f.nkinds = q.nkinds;
    f.prefix = q.pre;
    f.archived = q.archived;
    f.offset = q.offset;
    f.limit = q.paged ? q.limit : 0;
    if (q.as_of) {
        f.as_of = true;
        f.rev = core_rev_at_time(cx, q.as_of_ms);
    }
    rc = core_tag_names_in_use(cx, &f, &names, &n, &total, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    r->content_type = "application/json";
    ld_cors(r);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        jw_str(&w, names[i]);
    jw_arr_end(&w);
    jw_key(&w, "_links");
    jw_obj(&w);
    ld_link(&w, "self", *r->query ? arena_printf(&r->a, "%s?%s", LD_TAGS_PATH, r->query)
                                  : LD_TAGS_PATH);
    if (q.paged) {
        int64_t last = total > 0 ? (total - 1) / q.limit * q.limit : 0;
        ld_link(&w, "first", ld_page_href(r, q.limit, 0));
        if (q.offset > 0)
            ld_link(&w, "prev", ld_page_href(r, q.limit, q.offset > q.limit ? q.offset - q.limit : 0));
        if (q.offset + q.limit < total)
            ld_link(&w, "next", ld_page_href(r, q.limit, q.offset + q.limit));
        ld_link(&w, "last", ld_page_href(r, q.limit, last));
    }
    jw_obj_end(&w);
    jw_kint(&w, "totalCount", total);
    jw_obj_end(&w);
}

/* CORS preflight, answered without a token as LaunchDarkly does for browsers. */
static void h_preflight(struct hreq *r, struct core_ctx *cx)
{
    (void)cx;
    api_no_content(r);
    ld_cors(r);
    api_set_header(r, "Access-Control-Allow-Headers",
                   "Accept, Content-Type, Content-Length, Accept-Encoding, Authorization, "
                   "LD-API-Version");
    api_set_header(r, "Access-Control-Allow-Methods", "OPTIONS, GET, DELETE, PATCH");
    api_set_header(r, "Access-Control-Max-Age", "300");
}

#define R(m, p, f, fl) {m, p, f, fl, &launchdarkly_dialect, NULL}
const struct route launchdarkly_routes[] = {
    R("GET", LD_TAGS_PATH, h_tags, 0),
    R("OPTIONS", LD_TAGS_PATH, h_preflight, 0),
    {NULL, NULL, NULL, 0, NULL, NULL},
};
#undef R
