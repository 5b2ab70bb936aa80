/* api/launchdarkly.c: the LaunchDarkly REST API v2 dialect: GET /api/v2/tags.
 *
 * Shapes (docs/dialects/launchdarkly.md): the token is the raw Authorization header value; a
 * collection answers {"items": [...], "_links": {name: {"href", "type"}}, "totalCount": N};
 * an error answers {"code", "message", "id"} with Content-Type application/json. The tags a
 * LaunchDarkly resource carries are set through the native API on resources whose kind is one
 * of LaunchDarkly's (flag, project, environment, segment, metric, aiconfig, view); the
 * answer, also as of a past time, comes from core/history.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/ratelimit.h"
#include "util/jpatch.h"
#include "util/json.h"
#include "core/history.h"
#include "util/timeu.h"

#define LD_TAGS_PATH "/api/v2/tags"
#define LD_MAX_LIMIT 1000

/* The kinds LaunchDarkly's OpenAPI lists for GET /api/v2/tags. */
static const char *const ld_kinds[] = {"flag",   "project",            "environment", "segment",
                                       "metric", "metric-data-source", "aiconfig",    "view"};
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

static const char *const launchdarkly_paths[] = {"/api/v2/", NULL};
const struct dialect launchdarkly_dialect = {
    .name = "launchdarkly",
    .error = ld_error,
    .paths = launchdarkly_paths,
    .routes = launchdarkly_routes,
};

/* ---- authentication ---- */

/* LaunchDarkly sends the access token as the whole Authorization value. A "Bearer " prefix is
 * tolerated so that generic clients work too. Only REST API tokens count: sessions, applinks
 * and other token kinds are not access tokens here, as SDK keys are not at LaunchDarkly. */
static int ld_auth(struct hreq *r, struct core_ctx *cx, unsigned need)
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
        rc = core_require(cx, need, &err);
    /* A token scoped to one resource's subtree is not a LaunchDarkly account token. */
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
    /* Echo the value only when it is printable ASCII, so the message stays valid UTF-8. */
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            n = 0;
    api_failf(r, TG_EINVAL, "kind",
              "Invalid kind '%.*s': must be one of flag, project, environment, segment, "
              "metric, metric-data-source, aiconfig, view",
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
    jw_keys(w, name);
    jw_obj(w);
    jw_kstr(w, "href", href);
    jw_kstr(w, "type", "application/json");
    jw_obj_end(w);
}

static enum api_result h_tags(struct hreq *r, struct core_ctx *cx)
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
    if (ld_auth(r, cx, RIGHT_READ) || ld_parse(r, &q))
        return API_ROLLBACK;
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
    if (rc)
        return api_fail(r, rc, &err);
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
    return API_ANSWER;
}

/* ---- flags and segments: GET and PATCH ----
 *
 * A flag is the tagd resource flag/"<projectKey>/<flagKey>", a segment the resource
 * segment/"<projectKey>/<environmentKey>/<segmentKey>". Their representations are LaunchDarkly's
 * FeatureFlag and UserSegment, complete: tagd's own fields (key, name, archived, tags as
 * assignments, the version and dates) with the resource's document (core/documents.c) over
 * LaunchDarkly's documented defaults. A PATCH of any shape (JSON Patch, its {"patch"} wrapper,
 * merge patch, its {"merge"} wrapper, semantic patch) is applied to that whole representation;
 * what comes out is split back into the resource, its tags and its document, and written in
 * one transaction. Any error renders before the writes or rolls them back with the route. */

#define LD_TAG_MAX 64

struct ld_obj {
    const char *kind;  /* "flag" or "segment" */
    const char *rkey;  /* the tagd resource's key */
    const char *key;   /* the flag's or segment's own key */
    const char *proj;
    const char *env;   /* segments only */
    const char *href;  /* its own path, and its collection's */
    const char *parent_href;
};

/* What only tagd sets: a patch that changes any of these is refused. */
static const char *const ld_flag_owned[] = {"key", "_version", "creationDate", "_links", NULL};
static const char *const ld_segment_owned[] = {"key",     "version",          "generation",
                                               "deleted", "creationDate",     "lastModifiedDate",
                                               "_links",  NULL};

/* LaunchDarkly's tag rule (Terraform provider): 1-64 of letters, digits, '.', '-', '_'. */
static bool ld_tag_ok(json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > LD_TAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static int ld_cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The tags member as LaunchDarkly lists it: distinct names, bytewise. NULL with the error
 * rendered when an item breaks the tag rule. */
static json_t *ld_tag_list(struct hreq *r, json_t *tags)
{
    size_t n = json_array_size(tags), k = 0, i;
    const char **names = arena_alloc(&r->a, (n + 1) * sizeof(*names));
    json_t *out, *x;

    if (tags && !json_is_array(tags)) {
        api_failf(r, TG_EINVAL, "tags", "tags must be an array of strings");
        return NULL;
    }
    json_array_foreach(tags, i, x)
    {
        if (!ld_tag_ok(x)) {
            api_failf(r, TG_EINVAL, "tags",
                      "Invalid tag: must contain only letters, numbers, '.', '-', or '_' and be "
                      "at most 64 characters");
            return NULL;
        }
        names[k++] = json_string_value(x);
    }
    qsort(names, k, sizeof(*names), ld_cmp_names);
    out = json_array();
    for (i = 0; i < k; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            json_array_append_new(out, json_string(names[i]));
    return out;
}

static json_t *ld_link_json(const char *href)
{
    return json_pack("{s:s, s:s}", "href", href, "type", "application/json");
}

/* The whole representation: documented defaults, then the stored document, then tagd's own
 * fields. Steals `tags`. */
static json_t *ld_doc(const struct ld_obj *o, const struct resource *res, json_t *tags)
{
    json_t *d, *stored = NULL, *links;
    bool flag = strcmp(o->kind, "flag") == 0;

    if (res->extra)
        stored = json_loads(res->extra, 0, NULL);
    if (flag) {
        /* [I] LaunchDarkly documents temporary as true for a new flag; a flag nobody gave
         * variations is a boolean one. */
        d = json_pack("{s:s, s:s, s:[{s:b}, {s:b}], s:b, s:{s:i, s:[]}, s:{}, s:b,"
                      " s:{s:b, s:b}, s:{s:i, s:i}}",
                      "kind", "boolean", "description", "", "variations", "value", 1, "value", 0,
                      "temporary", 1, "experiments", "baselineIdx", 0, "items",
                      "customProperties", "deprecated", 0, "clientSideAvailability",
                      "usingMobileKey", 0, "usingEnvironmentId", 0, "defaults", "onVariation", 0,
                      "offVariation", 1);
    } else {
        d = json_pack("{s:s, s:[], s:[], s:[], s:[], s:[], s:b}", "description", "", "included",
                      "excluded", "includedContexts", "excludedContexts", "rules", "unbounded",
                      0);
    }
    if (json_is_object(stored))
        json_object_update(d, stored);
    json_decref(stored);
    json_object_set_new(d, "key", json_string(o->key));
    json_object_set_new(d, "name", json_string(res->name ? res->name : o->key));
    json_object_set_new(d, "tags", tags ? tags : json_array());
    json_object_set_new(d, "creationDate", json_integer(res->created_at));
    links = json_object();
    json_object_set_new(links, "self", ld_link_json(o->href));
    if (flag) {
        json_object_set_new(d, "archived", json_boolean(res->archived));
        json_object_set_new(d, "_version", json_integer(res->version));
    } else {
        json_object_set_new(d, "lastModifiedDate", json_integer(res->updated_at));
        json_object_set_new(d, "version", json_integer(res->version));
        json_object_set_new(d, "generation", json_integer(res->version));
        json_object_set_new(d, "deleted", json_false());
    }
    json_object_set_new(links, "parent", ld_link_json(o->parent_href));
    json_object_set_new(d, "_links", links);
    return d;
}

/* The resource and its representation; NULL with the error rendered. */
static json_t *ld_load(struct hreq *r, struct core_ctx *cx, const struct ld_obj *o,
                       struct resource *res)
{
    struct assignment *as;
    struct tg_err err;
    json_t *tags;
    size_t n;
    int rc;

    tg_err_clear(&err);
    rc = core_resource_get(cx, o->kind, o->rkey, res, &err);
    if (rc == 0)
        rc = core_assign_list(cx, res->id, false, &as, &n, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return NULL;
    }
    tags = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(tags, json_string(as[i].tag.name));
    return ld_doc(o, res, tags);
}

static void ld_render(struct hreq *r, json_t *doc)
{
    struct jw w;

    api_json_begin(r, 200, &w);
    r->content_type = "application/json";
    ld_cors(r);
    jw_raw(&w, json_to_arena(&r->a, doc));
}

static enum api_result ld_get(struct hreq *r, struct core_ctx *cx, const struct ld_obj *o)
{
    struct resource res;
    json_t *doc;

    if (ld_auth(r, cx, RIGHT_READ))
        return API_ROLLBACK;
    doc = ld_load(r, cx, o, &res);
    if (doc == NULL)
        return API_ROLLBACK;
    ld_render(r, doc);
    json_decref(doc);
    return API_ANSWER;
}

/* A client string shortened for an error message: at most 48 bytes, never cutting a UTF-8
 * sequence (jansson hands over valid UTF-8; the message must stay valid). */
static const char *ld_clip(struct hreq *r, const char *s)
{
    size_t n = strlen(s);

    if (n <= 48)
        return s;
    n = 48;
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return arena_printf(&r->a, "%.*s...", (int)n, s);
}

/* JSON Patch. LaunchDarkly's optimistic lock is `test /version` (the spec's own example), but a
 * FeatureFlag has `_version`: for flags that test is checked against the version here and
 * left out of the patch. Any other failed test is the same 409. */
static int ld_json_patch(struct hreq *r, const struct ld_obj *o, const struct resource *res,
                         json_t **doc, json_t *ops)
{
    bool flag = strcmp(o->kind, "flag") == 0;
    struct tg_err err;
    json_t *rest;
    size_t i;
    json_t *op;
    int rc;

    tg_err_clear(&err);
    if (!json_is_array(ops)) {
        api_failf(r, TG_EINVAL, "patch", "Invalid request body: patch must be an array");
        return -1;
    }
    rest = json_array();
    json_array_foreach(ops, i, op)
    {
        const char *name = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        json_t *val = json_object_get(op, "value");

        if (flag && name && path && strcmp(name, "test") == 0 && strcmp(path, "/version") == 0) {
            if (!json_is_integer(val)) {
                json_decref(rest);
                api_failf(r, TG_EINVAL, "patch", "test /version needs an integer value");
                return -1;
            }
            if (json_integer_value(val) != res->version) {
                json_decref(rest);
                api_failf(r, TG_EPRECOND, "version", "version is %lld",
                          (long long)res->version);
                return -1;
            }
            continue;
        }
        json_array_append(rest, op);
    }
    rc = jpatch_apply(doc, rest, &err);
    json_decref(rest);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

/* Removes every occurrence of `v` from the array `a`. */
static void ld_array_drop(json_t *a, json_t *v)
{
    for (size_t i = json_array_size(a); i-- > 0;)
        if (json_equal(json_array_get(a, i), v))
            json_array_remove(a, i);
}

/* Semantic patch: the instructions LaunchDarkly documents for tags, and the two that edit
 * what every flag and segment has (updateName, updateDescription). Unknown kinds are 400:
 * nothing applies partially. */
static int ld_semantic_patch(struct hreq *r, struct core_ctx *cx, const struct ld_obj *o,
                             json_t *doc, json_t *body)
{
    json_t *ins = json_object_get(body, "instructions"), *in, *x;
    const char *ek = json_string_value(json_object_get(body, "environmentKey"));
    json_t *tags = json_object_get(doc, "tags");
    size_t i, j;

    if (!json_is_array(ins) || json_array_size(ins) == 0) {
        api_failf(r, TG_EINVAL, "instructions", "instructions must be a non-empty array");
        return -1;
    }
    if (o->env && (ek == NULL || strcmp(ek, o->env) != 0)) {
        api_failf(r, TG_EINVAL, "environmentKey",
                  "environmentKey is required and must be the segment's environment");
        return -1;
    }
    json_array_foreach(ins, i, in)
    {
        const char *kind = json_string_value(json_object_get(in, "kind"));
        json_t *vals = json_object_get(in, "values"), *val = json_object_get(in, "value");

        if (kind && (strcmp(kind, "addTags") == 0 || strcmp(kind, "removeTags") == 0)) {
            if (!json_is_array(vals) || json_array_size(vals) == 0) {
                api_failf(r, TG_EINVAL, "instructions", "%s needs a non-empty 'values' array",
                          kind);
                return -1;
            }
            json_array_foreach(vals, j, x)
            {
                if (!ld_tag_ok(x)) {
                    api_failf(r, TG_EINVAL, "tags",
                              "Invalid tag: must contain only letters, numbers, '.', '-', or "
                              "'_' and be at most 64 characters");
                    return -1;
                }
                if (kind[0] == 'a') {
                    json_array_append(tags, x);
                } else {
                    /* An old name (an alias) removes the tag it names now. */
                    struct tg_err err;
                    struct tag t;
                    ld_array_drop(tags, x);
                    tg_err_clear(&err);
                    if (core_tag_find(cx, json_string_value(x), &t, &err) == 0) {
                        json_t *now = json_string(t.name);
                        ld_array_drop(tags, now);
                        json_decref(now);
                    }
                }
            }
        } else if (kind &&
                   (strcmp(kind, "updateName") == 0 || strcmp(kind, "updateDescription") == 0)) {
            if (!json_is_string(val)) {
                api_failf(r, TG_EINVAL, "instructions", "%s needs a string 'value'", kind);
                return -1;
            }
            json_object_set(doc, kind[6] == 'N' ? "name" : "description", val);
        } else {
            api_failf(r, TG_EINVAL, "instructions",
                      "unsupported instruction kind '%s': addTags, removeTags, updateName and "
                      "updateDescription are served",
                      ld_clip(r, kind ? kind : ""));
            return -1;
        }
    }
    return 0;
}

/* Applies the body, whatever its shape, to `*doc`. */
static int ld_apply(struct hreq *r, struct core_ctx *cx, const struct ld_obj *o,
                    const struct resource *res, json_t **doc, json_t *body)
{
    const char *ct = api_header(r, "content-type");
    bool semantic = ct && strstr(ct, "domain-model=launchdarkly.semanticpatch") != NULL;

    if (semantic && !json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "Invalid request body: a semantic patch is an object");
        return -1;
    }
    if (semantic)
        return ld_semantic_patch(r, cx, o, *doc, body);
    if (json_is_array(body))
        return ld_json_patch(r, o, res, doc, body);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body",
                  "Invalid request body: a JSON Patch array, a merge patch or a semantic patch");
        return -1;
    }
    if (json_object_get(body, "patch"))
        return ld_json_patch(r, o, res, doc, json_object_get(body, "patch"));
    if (json_object_get(body, "instructions")) {
        api_failf(r, TG_EINVAL, "content-type",
                  "Invalid request body: a semantic patch needs Content-Type "
                  "application/json; domain-model=launchdarkly.semanticpatch");
        return -1;
    }
    if (json_object_get(body, "merge")) {
        json_t *m = json_object_get(body, "merge");
        if (!json_is_object(m)) {
            api_failf(r, TG_EINVAL, "merge", "Invalid request body: merge must be an object");
            return -1;
        }
        jpatch_merge(doc, m);
        return 0;
    }
    jpatch_merge(doc, body);
    return 0;
}

/* Splits the patched representation `doc` back into the resource's name and archived flag, its
 * tags (out: the sorted distinct names) and its document, checking what tagd sets itself is
 * unchanged from `was`. The fields left in `doc` are the document. */
static int ld_split(struct hreq *r, const struct ld_obj *o, json_t *was, json_t *doc,
                    struct resource_input *in, json_t **tags)
{
    const char *const *owned = strcmp(o->kind, "flag") == 0 ? ld_flag_owned : ld_segment_owned;
    json_t *name, *archived;

    if (!json_is_object(doc)) {
        api_failf(r, TG_EINVAL, "body", "the patched %s is not an object", o->kind);
        return -1;
    }
    for (size_t i = 0; owned[i]; i++) {
        json_t *a = json_object_get(was, owned[i]), *b = json_object_get(doc, owned[i]);
        if (!(a == NULL ? b == NULL : b != NULL && json_equal(a, b))) {
            api_failf(r, TG_EINVAL, owned[i], "'%s' cannot be changed", owned[i]);
            return -1;
        }
        json_object_del(doc, owned[i]);
    }
    name = json_object_get(doc, "name");
    if (!json_is_string(name) || *json_string_value(name) == '\0') {
        api_failf(r, TG_EINVAL, "name", "name must be a non-empty string");
        return -1;
    }
    in->has_name = true;
    in->name = arena_strdup(&r->a, json_string_value(name));
    archived = json_object_get(doc, "archived");
    if (archived && !json_is_boolean(archived)) {
        api_failf(r, TG_EINVAL, "archived", "archived must be true or false");
        return -1;
    }
    if (strcmp(o->kind, "flag") == 0) {
        in->has_archived = true;
        in->archived = json_is_true(archived);
    } else if (archived) {
        api_failf(r, TG_EINVAL, "archived", "a segment has no 'archived'");
        return -1;
    }
    *tags = ld_tag_list(r, json_object_get(doc, "tags"));
    if (*tags == NULL)
        return -1;
    json_object_del(doc, "name");
    json_object_del(doc, "archived");
    json_object_del(doc, "tags");
    in->has_extra = true;
    in->extra = json_to_arena(&r->a, doc);
    return 0;
}

/* Writes the split representation: the resource (its version goes up), then its tags. */
static int ld_write(struct hreq *r, struct core_ctx *cx, const struct ld_obj *o,
                    const struct resource_input *in, json_t *tags, struct resource *res)
{
    size_t n = json_array_size(tags), i;
    int64_t *ids = arena_alloc(&r->a, (n + 1) * sizeof(*ids));
    const char **names = arena_alloc(&r->a, (n + 1) * sizeof(*names));
    struct tg_err err;
    json_t *x;
    int rc;

    tg_err_clear(&err);
    rc = core_resource_put(cx, o->kind, o->rkey, in, res, NULL, &err);
    json_array_foreach(tags, i, x)
    {
        struct tag t;
        if (rc)
            break;
        rc = core_tag_ensure(cx, json_string_value(x), &t, &err);
        ids[i] = t.id;
        names[i] = t.name;
    }
    if (rc == 0)
        rc = core_assign_replace(cx, res->id, ids, n, NULL, NULL, NULL, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    /* The answer names the tags as they are now: an old name (an alias, docs/taxonomy.md) in
     * the patch is answered by the tag's current name, once. */
    qsort(names, n, sizeof(*names), ld_cmp_names);
    json_array_clear(tags);
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            json_array_append_new(tags, json_string(names[i]));
    return 0;
}

static enum api_result ld_patch(struct hreq *r, struct core_ctx *cx, const struct ld_obj *o)
{
    struct resource_input in;
    struct resource res;
    json_t *body = NULL, *was = NULL, *doc = NULL, *tags = NULL, *out;
    bool dry;
    enum api_result result = API_ROLLBACK;

    memset(&in, 0, sizeof(in));
    if (ld_auth(r, cx, RIGHT_ASSIGN) || api_query_bool(r, "dryRun", false, &dry))
        return API_ROLLBACK;
    was = ld_load(r, cx, o, &res);
    if (was == NULL)
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        goto out;
    doc = json_deep_copy(was);
    if (ld_apply(r, cx, o, &res, &doc, body) || ld_split(r, o, was, doc, &in, &tags))
        goto out;
    /* A patch that changes nothing writes nothing, and the version stays. */
    json_object_set(doc, "tags", tags);
    json_object_set_new(doc, "name", json_string(in.name));
    if (strcmp(o->kind, "flag") == 0)
        json_object_set_new(doc, "archived", json_boolean(in.archived));
    {
        json_t *before = json_deep_copy(was);
        const char *const *owned =
            strcmp(o->kind, "flag") == 0 ? ld_flag_owned : ld_segment_owned;
        bool same;
        for (size_t i = 0; owned[i]; i++)
            json_object_del(before, owned[i]);
        same = json_equal(before, doc);
        json_decref(before);
        if (same || dry) {
            /* A dry run answers the patched representation at the version it would replace. */
            struct resource preview = res;
            preview.extra = in.extra;
            preview.name = in.name;
            preview.archived = in.has_archived ? in.archived : res.archived;
            out = same ? json_incref(was) : ld_doc(o, &preview, json_incref(tags));
            ld_render(r, out);
            json_decref(out);
            result = API_ANSWER;
            goto out;
        }
    }
    if (ld_write(r, cx, o, &in, tags, &res))
        goto out;
    out = ld_doc(o, &res, json_incref(tags));
    ld_render(r, out);
    json_decref(out);
    result = API_ANSWER;
out:
    json_decref(tags);
    json_decref(doc);
    json_decref(was);
    json_decref(body);
    return result;
}

/* The hrefs of `o` under `base`: its collection's path segments are all but its own key. */
static void ld_hrefs(struct hreq *r, struct ld_obj *o, const char *base, const char *const *segs,
                     size_t n)
{
    struct sbuf b;

    sbuf_init(&b, 0);
    sbuf_adds(&b, base);
    for (size_t i = 0; i < n; i++) {
        if (i == n - 1)
            o->parent_href = arena_strdup(&r->a, sbuf_str(&b));
        sbuf_addc(&b, '/');
        api_url_encode(&b, segs[i]);
    }
    o->href = arena_strdup(&r->a, sbuf_str(&b));
    sbuf_release(&b);
}

static struct ld_obj ld_flag(struct hreq *r)
{
    struct ld_obj o = {"flag", NULL, r->params[1], r->params[0], NULL, NULL, NULL};
    const char *segs[] = {o.proj, o.key};

    o.rkey = arena_printf(&r->a, "%s/%s", o.proj, o.key);
    ld_hrefs(r, &o, "/api/v2/flags", segs, 2);
    return o;
}

static struct ld_obj ld_segment(struct hreq *r)
{
    struct ld_obj o = {"segment", NULL, r->params[2], r->params[0], r->params[1], NULL, NULL};
    const char *segs[] = {o.proj, o.env, o.key};

    o.rkey = arena_printf(&r->a, "%s/%s/%s", o.proj, o.env, o.key);
    ld_hrefs(r, &o, "/api/v2/segments", segs, 3);
    return o;
}

static enum api_result h_flag_get(struct hreq *r, struct core_ctx *cx)
{
    struct ld_obj o = ld_flag(r);
    return ld_get(r, cx, &o);
}

static enum api_result h_flag_patch(struct hreq *r, struct core_ctx *cx)
{
    struct ld_obj o = ld_flag(r);
    return ld_patch(r, cx, &o);
}

static enum api_result h_segment_get(struct hreq *r, struct core_ctx *cx)
{
    struct ld_obj o = ld_segment(r);
    return ld_get(r, cx, &o);
}

static enum api_result h_segment_patch(struct hreq *r, struct core_ctx *cx)
{
    struct ld_obj o = ld_segment(r);
    return ld_patch(r, cx, &o);
}

/* CORS preflight, answered without a token as LaunchDarkly does for browsers. */
static enum api_result h_preflight(struct hreq *r, struct core_ctx *cx)
{
    (void)cx;
    api_no_content(r);
    ld_cors(r);
    api_set_header(r, "Access-Control-Allow-Headers",
                   "Accept, Content-Type, Content-Length, Accept-Encoding, Authorization, "
                   "LD-API-Version");
    api_set_header(r, "Access-Control-Allow-Methods", "OPTIONS, GET, DELETE, PATCH");
    api_set_header(r, "Access-Control-Max-Age", "300");
    return API_ANSWER;
}

#define R(m, p, f, fl) {m, p, f, fl, &launchdarkly_dialect, NULL, NULL}
const struct route launchdarkly_routes[] = {
    R("GET", LD_TAGS_PATH, h_tags, 0),
    R("OPTIONS", LD_TAGS_PATH, h_preflight, 0),
    R("GET", "/api/v2/flags/{projectKey}/{flagKey}", h_flag_get, 0),
    R("PATCH", "/api/v2/flags/{projectKey}/{flagKey}", h_flag_patch, ROUTE_WRITE),
    R("GET", "/api/v2/segments/{projectKey}/{environmentKey}/{segmentKey}", h_segment_get, 0),
    R("PATCH", "/api/v2/segments/{projectKey}/{environmentKey}/{segmentKey}", h_segment_patch,
      ROUTE_WRITE),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
