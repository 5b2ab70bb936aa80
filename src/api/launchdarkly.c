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
#include "util/json.h"
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
    jw_keys(w, name);
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
    if (ld_auth(r, cx, RIGHT_READ) || ld_parse(r, &q))
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

/* ---- PATCH /api/v2/flags/{projectKey}/{flagKey} and
 *      PATCH /api/v2/segments/{projectKey}/{environmentKey}/{segmentKey} ----
 *
 * Only the tags of a flag or segment can change here. A flag is the tagd resource
 * flag/"<projectKey>/<flagKey>", a segment segment/"<projectKey>/<environmentKey>/<segmentKey>";
 * both must exist (404 otherwise). Every shape of the request (JSON Patch, its {"patch"} wrapper,
 * merge patch, its {"merge"} wrapper, semantic patch) is applied to a working list of tag ids,
 * which then becomes the direct set in one core call; any error renders before that call, and
 * the write route rolls back whatever was written, so nothing applies partially. */

#define LD_TAG_MAX 64

struct ld_edit {
    struct hreq *r;
    struct core_ctx *cx;
    const struct resource *res;
    int64_t *ids;
    size_t n, cap;
};

/* LaunchDarkly's tag rule (Terraform provider): 1-64 of letters, digits, '.', '-', '_'. */
static int ld_tag_name(struct hreq *r, json_t *v, const char **out)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    size_t n = s ? strlen(s) : 0;

    for (size_t i = 0; s && i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            s = NULL;
    }
    if (s == NULL || n == 0 || n > LD_TAG_MAX) {
        api_failf(r, TG_EINVAL, "tags",
                  "Invalid tag: must contain only letters, numbers, '.', '-', or '_' and be at "
                  "most 64 characters");
        return -1;
    }
    *out = s;
    return 0;
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

static bool ld_edit_has(const struct ld_edit *e, int64_t id, size_t *at)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->ids[i] == id) {
            if (at)
                *at = i;
            return true;
        }
    }
    return false;
}

/* Inserts the tag (created when missing) at `pos` (e->n: append) unless already present. */
static int ld_edit_add(struct ld_edit *e, json_t *v, size_t pos)
{
    struct tg_err err;
    const char *name;
    struct tag t;
    int rc;

    tg_err_clear(&err);
    if (ld_tag_name(e->r, v, &name))
        return -1;
    rc = core_tag_ensure(e->cx, name, &t, &err);
    if (rc) {
        api_fail(e->r, rc, &err);
        return -1;
    }
    if (ld_edit_has(e, t.id, NULL))
        return 0;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        int64_t *ids = arena_alloc(&e->r->a, cap * sizeof(*ids));
        if (e->n)
            memcpy(ids, e->ids, e->n * sizeof(*ids));
        e->ids = ids;
        e->cap = cap;
    }
    if (pos > e->n)
        pos = e->n;
    memmove(e->ids + pos + 1, e->ids + pos, (e->n - pos) * sizeof(*e->ids));
    e->ids[pos] = t.id;
    e->n++;
    return 0;
}

/* Removes the tag named by `v` when present; an unknown name changes nothing. */
static int ld_edit_remove(struct ld_edit *e, json_t *v)
{
    struct tg_err err;
    const char *name;
    struct tag t;
    size_t at;
    int rc;

    tg_err_clear(&err);
    if (ld_tag_name(e->r, v, &name))
        return -1;
    rc = core_tag_find(e->cx, name, &t, &err);
    if (rc == TG_ENOTFOUND)
        return 0;
    if (rc) {
        api_fail(e->r, rc, &err);
        return -1;
    }
    if (ld_edit_has(e, t.id, &at)) {
        memmove(e->ids + at, e->ids + at + 1, (e->n - at - 1) * sizeof(*e->ids));
        e->n--;
    }
    return 0;
}

/* Makes the list exactly the tags of the array `v` (null: none). */
static int ld_edit_set(struct ld_edit *e, json_t *v)
{
    size_t i;
    json_t *x;

    if (!json_is_array(v) && !json_is_null(v)) {
        api_failf(e->r, TG_EINVAL, "tags", "tags must be an array of strings");
        return -1;
    }
    e->n = 0;
    json_array_foreach(v, i, x)
    {
        if (ld_edit_add(e, x, e->n))
            return -1;
    }
    return 0;
}

/* "/tags/3" -> 3, "/tags/-" -> e->n (append); -1 when it is not an index path. */
static int64_t ld_tags_index(const struct ld_edit *e, const char *path)
{
    const char *p = path + 6;
    int64_t v = 0;

    if (strncmp(path, "/tags/", 6) != 0 || *p == '\0')
        return -1;
    if (strcmp(p, "-") == 0)
        return (int64_t)e->n;
    if (*p == '0' && p[1] != '\0')
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > 1000000)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static int ld_json_patch(struct ld_edit *e, json_t *ops)
{
    size_t i;
    json_t *op;

    if (!json_is_array(ops)) {
        api_failf(e->r, TG_EINVAL, "patch", "Invalid request body: patch must be an array");
        return -1;
    }
    json_array_foreach(ops, i, op)
    {
        const char *o = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        json_t *val = json_object_get(op, "value");
        int64_t at;

        if (o == NULL || path == NULL) {
            api_failf(e->r, TG_EINVAL, "patch", "patch operation %zu needs 'op' and 'path'", i);
            return -1;
        }
        at = ld_tags_index(e, path);
        if (strcmp(o, "test") == 0 && strcmp(path, "/version") == 0) {
            if (!json_is_integer(val)) {
                api_failf(e->r, TG_EINVAL, "patch", "test /version needs an integer value");
                return -1;
            }
            if (json_integer_value(val) != e->res->version) {
                api_failf(e->r, TG_EPRECOND, "version", "version is %lld",
                          (long long)e->res->version);
                return -1;
            }
        } else if ((strcmp(o, "add") == 0 || strcmp(o, "replace") == 0) &&
                   strcmp(path, "/tags") == 0) {
            if (val == NULL) {
                api_failf(e->r, TG_EINVAL, "patch", "'%s /tags' needs a value", o);
                return -1;
            }
            if (ld_edit_set(e, val))
                return -1;
        } else if (strcmp(o, "remove") == 0 && strcmp(path, "/tags") == 0) {
            e->n = 0;
        } else if (strcmp(o, "add") == 0 && at >= 0) {
            if (at > (int64_t)e->n) {
                api_failf(e->r, TG_EINVAL, "patch", "index %lld is out of range", (long long)at);
                return -1;
            }
            if (ld_edit_add(e, val, (size_t)at))
                return -1;
        } else if ((strcmp(o, "remove") == 0 || strcmp(o, "replace") == 0) && at >= 0) {
            if (at >= (int64_t)e->n) {
                api_failf(e->r, TG_EINVAL, "patch", "index %lld is out of range", (long long)at);
                return -1;
            }
            memmove(e->ids + at, e->ids + at + 1, (e->n - (size_t)at - 1) * sizeof(*e->ids));
            e->n--;
            if (strcmp(o, "replace") == 0 && ld_edit_add(e, val, (size_t)at))
                return -1;
        } else {
            api_failf(e->r, TG_EINVAL, "patch",
                      "unsupported operation '%s %s': only the tags can change here",
                      ld_clip(e->r, o), ld_clip(e->r, path));
            return -1;
        }
    }
    return 0;
}

static int ld_merge_patch(struct ld_edit *e, json_t *m)
{
    const char *k;
    json_t *v;

    if (!json_is_object(m)) {
        api_failf(e->r, TG_EINVAL, "merge", "Invalid request body: merge must be an object");
        return -1;
    }
    json_object_foreach(m, k, v)
    {
        if (strcmp(k, "tags") != 0) {
            api_failf(e->r, TG_EINVAL, "merge",
                      "unsupported field '%s': only the tags can change here", ld_clip(e->r, k));
            return -1;
        }
        if (ld_edit_set(e, v))
            return -1;
    }
    return 0;
}

static int ld_semantic_patch(struct ld_edit *e, json_t *body, const char *env)
{
    json_t *ins = json_object_get(body, "instructions"), *in, *x;
    const char *ek = json_string_value(json_object_get(body, "environmentKey"));
    size_t i, j;

    if (!json_is_array(ins) || json_array_size(ins) == 0) {
        api_failf(e->r, TG_EINVAL, "instructions", "instructions must be a non-empty array");
        return -1;
    }
    if (env && (ek == NULL || strcmp(ek, env) != 0)) {
        api_failf(e->r, TG_EINVAL, "environmentKey",
                  "environmentKey is required and must be the segment's environment");
        return -1;
    }
    json_array_foreach(ins, i, in)
    {
        const char *kind = json_string_value(json_object_get(in, "kind"));
        json_t *vals = json_object_get(in, "values");
        bool add = kind && strcmp(kind, "addTags") == 0;

        if (!add && !(kind && strcmp(kind, "removeTags") == 0)) {
            api_failf(e->r, TG_EINVAL, "instructions",
                      "unsupported instruction kind '%s': only addTags and removeTags",
                      ld_clip(e->r, kind ? kind : ""));
            return -1;
        }
        if (!json_is_array(vals) || json_array_size(vals) == 0) {
            api_failf(e->r, TG_EINVAL, "instructions", "%s needs a non-empty 'values' array",
                      kind);
            return -1;
        }
        json_array_foreach(vals, j, x)
        {
            if (add ? ld_edit_add(e, x, e->n) : ld_edit_remove(e, x))
                return -1;
        }
    }
    return 0;
}

static void ld_render_tagged(struct hreq *r, struct core_ctx *cx, const struct resource *res,
                             const char *key, const char *env, const char *href)
{
    struct assignment *as;
    struct tg_err err;
    size_t n;
    struct jw w;
    int rc;

    tg_err_clear(&err);
    rc = core_assign_list(cx, res->id, false, &as, &n, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    r->content_type = "application/json";
    ld_cors(r);
    jw_obj(&w);
    jw_kstr(&w, "key", key);
    jw_kstr(&w, "name", res->name ? res->name : key);
    if (env)
        jw_kstr(&w, "environmentKey", env);
    jw_kbool(&w, "archived", res->archived);
    jw_key(&w, "tags");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        jw_str(&w, as[i].tag.name);
    jw_arr_end(&w);
    jw_kint(&w, "_version", res->version);
    jw_key(&w, "_links");
    jw_obj(&w);
    ld_link(&w, "self", href);
    jw_obj_end(&w);
    jw_obj_end(&w);
}

static void ld_patch(struct hreq *r, struct core_ctx *cx, const char *kind, const char *rkey,
                     const char *key, const char *env, const char *href)
{
    const char *ct = api_header(r, "content-type");
    bool semantic = ct && strstr(ct, "domain-model=launchdarkly.semanticpatch") != NULL;
    struct ld_edit e = {r, cx, NULL, NULL, 0, 0};
    struct assignment *as;
    struct resource res;
    struct tg_err err;
    json_t *body = NULL;
    size_t n;
    int rc;

    tg_err_clear(&err);
    if (ld_auth(r, cx, RIGHT_ASSIGN))
        return;
    rc = core_resource_get(cx, kind, rkey, &res, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return;
    }
    e.res = &res;
    body = api_body_json(r);
    if (body == NULL)
        return;
    rc = core_assign_list(cx, res.id, false, &as, &n, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    e.ids = arena_alloc(&r->a, (n + 16) * sizeof(*e.ids));
    e.cap = n + 16;
    for (size_t i = 0; i < n; i++)
        e.ids[e.n++] = as[i].tag.id;
    if (semantic && !json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "Invalid request body: a semantic patch is an object");
        rc = -1;
    } else if (semantic) {
        rc = ld_semantic_patch(&e, body, env);
    } else if (json_is_array(body)) {
        rc = ld_json_patch(&e, body);
    } else if (json_is_object(body) && json_object_get(body, "patch")) {
        rc = ld_json_patch(&e, json_object_get(body, "patch"));
    } else if (json_is_object(body) && json_object_get(body, "merge")) {
        rc = ld_merge_patch(&e, json_object_get(body, "merge"));
    } else if (json_is_object(body) && json_object_get(body, "instructions")) {
        api_failf(r, TG_EINVAL, "content-type",
                  "Invalid request body: a semantic patch needs Content-Type "
                  "application/json; domain-model=launchdarkly.semanticpatch");
        rc = -1;
    } else {
        rc = ld_merge_patch(&e, body);
    }
    if (rc)
        goto out;
    rc = core_assign_replace(cx, res.id, e.ids, e.n, NULL, NULL, NULL, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    ld_render_tagged(r, cx, &res, key, env, href);
out:
    json_decref(body);
}

static void h_flag_patch(struct hreq *r, struct core_ctx *cx)
{
    const char *proj = r->params[0], *flag = r->params[1];
    struct sbuf b;
    const char *href;

    sbuf_init(&b, 0);
    sbuf_adds(&b, "/api/v2/flags/");
    api_url_encode(&b, proj);
    sbuf_addc(&b, '/');
    api_url_encode(&b, flag);
    href = arena_strdup(&r->a, sbuf_str(&b));
    sbuf_release(&b);
    ld_patch(r, cx, "flag", arena_printf(&r->a, "%s/%s", proj, flag), flag, NULL, href);
}

static void h_segment_patch(struct hreq *r, struct core_ctx *cx)
{
    const char *proj = r->params[0], *env = r->params[1], *seg = r->params[2];
    struct sbuf b;
    const char *href;

    sbuf_init(&b, 0);
    sbuf_adds(&b, "/api/v2/segments/");
    api_url_encode(&b, proj);
    sbuf_addc(&b, '/');
    api_url_encode(&b, env);
    sbuf_addc(&b, '/');
    api_url_encode(&b, seg);
    href = arena_strdup(&r->a, sbuf_str(&b));
    sbuf_release(&b);
    ld_patch(r, cx, "segment", arena_printf(&r->a, "%s/%s/%s", proj, env, seg), seg, env, href);
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

#define R(m, p, f, fl) {m, p, f, fl, &launchdarkly_dialect, NULL, NULL}
const struct route launchdarkly_routes[] = {
    R("GET", LD_TAGS_PATH, h_tags, 0),
    R("OPTIONS", LD_TAGS_PATH, h_preflight, 0),
    R("PATCH", "/api/v2/flags/{projectKey}/{flagKey}", h_flag_patch, ROUTE_WRITE),
    R("PATCH", "/api/v2/segments/{projectKey}/{environmentKey}/{segmentKey}", h_segment_patch,
      ROUTE_WRITE),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
