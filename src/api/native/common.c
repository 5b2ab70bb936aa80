/* api/native/common.c: what the files of the native API share: authentication, ETags and
 * If-Match, field checks, the resource representation and its pages, and tag references. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/native/native.h"
#include "api/ratelimit.h"

const char *native_credential(struct hreq *r, bool *cookie)
{
    const char *tok = api_bearer(r);

    if (cookie)
        *cookie = false;
    if (tok == NULL && (tok = api_cookie(r, NATIVE_SESSION_COOKIE)) != NULL && cookie)
        *cookie = true;
    return tok;
}

/* A browser sends the session cookie with every request to this site, also the ones another
 * site's page makes it send. SameSite=Strict already keeps it off those; this refuses what a
 * browser says came from elsewhere all the same (another port of the same host is the same
 * site), for a cookie only: a bearer token is never sent by a browser on its own. */
static bool cookie_request_ok(struct hreq *r)
{
    const char *site = api_header(r, "sec-fetch-site");
    const char *origin = api_header(r, "origin"), *p;
    const char *hosts[2] = {api_header(r, "host"), api_header(r, "x-forwarded-host")};

    /* The browser's own word, where it gives one (every current browser does): it knows the
     * page's origin whatever a proxy did to Host. */
    if (site)
        return strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
    if (origin == NULL)
        return true;
    p = strstr(origin, "://");
    for (int i = 0; i < 2 && p; i++)
        if (hosts[i] && strcmp(p + 3, hosts[i]) == 0)
            return true;
    return false;
}

int api_native_auth(struct hreq *r, struct core_ctx *cx, unsigned need)
{
    struct tg_err err;
    bool cookie;
    const char *tok = native_credential(r, &cookie);
    int rc;

    tg_err_clear(&err);
    if (tok == NULL) {
        api_failf(r, TG_EAUTH, "Authorization", "missing bearer token");
        return -1;
    }
    if (cookie && !cookie_request_ok(r)) {
        api_failf(r, TG_EFORBIDDEN, "Origin", "the session cookie is for this origin's own pages");
        return -1;
    }
    rc = core_auth_native(cx, tok, &err);
    if (rc == 0)
        rc = core_require(cx, need, &err);
    /* A request may act in another workspace of its organization (the default otherwise). */
    if (rc == 0 && api_header(r, "x-tagd-workspace"))
        rc = core_ws_select(cx, api_header(r, "x-tagd-workspace"), &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    /* The session cookie is the console's: POST /v1/sessions sets it only when asked to (the
     * console's sign-in does), and a browser sends it only with the requests of this origin's
     * pages (SameSite=Strict, checked above). So the change log records its writes as the
     * console's, not as the native API's they are routed as. */
    if (cookie)
        cx->api = console_dialect.name;
    return ratelimit_take(r, cx);
}

const char *native_last_segment(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

void native_set_etag(struct hreq *r, int64_t version)
{
    api_set_header(r, "ETag", arena_printf(&r->a, "\"%lld\"", (long long)version));
}

/* If-Match: "N" or W/"N" or *; returns 0 (no check), the version, or -1 after a 412/400. */
int native_if_match(struct hreq *r, int64_t *version)
{
    const char *h = api_header(r, "if-match");
    char *end;

    *version = 0;
    if (h == NULL || strcmp(h, "*") == 0)
        return 0;
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    if (*h == '"')
        h++;
    *version = strtoll(h, &end, 10);
    if (*version <= 0 || (*end != '"' && *end != '\0')) {
        /* A tag that cannot match any version: the precondition fails. */
        api_failf(r, TG_EPRECOND, "If-Match", "If-Match does not name a version");
        return -1;
    }
    return 0;
}

int native_fields_check(json_t *o, const char *const *allowed, struct tg_err *err)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok)
            return tg_err_set(err, TG_EINVAL, k, "unknown field '%s'", k);
    }
    return 0;
}

/* Rejects fields outside `allowed` (NULL-terminated). */
int native_only_fields(struct hreq *r, json_t *o, const char *const *allowed)
{
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    rc = native_fields_check(o, allowed, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

void api_native_render_resource(struct jw *w, struct hreq *r, const struct resource *res)
{
    jw_obj(w);
    jw_kint(w, "id", res->id);
    jw_kstr(w, "kind", res->kind);
    jw_kstr(w, "key", res->key);
    jw_kstr(w, "name", res->name);
    jw_key(w, "parent");
    if (res->parent_id && res->parent_kind) {
        jw_obj(w);
        jw_kstr(w, "kind", res->parent_kind);
        jw_kstr(w, "key", res->parent_key);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_kbool(w, "archived", res->archived);
    if (res->extra) {
        jw_key(w, "document");
        jw_raw(w, res->extra);
    }
    api_kiso(w, "created_at", res->created_at);
    api_kiso(w, "updated_at", res->updated_at);
    jw_kint(w, "version", res->version);
    jw_obj_end(w);
}

int native_id_cursor(struct hreq *r, struct core_ctx *cx, int64_t *after)
{
    const char *c = api_query(r, "cursor"), *dec;
    struct tg_err err;

    *after = 0;
    if (c == NULL)
        return 0;
    tg_err_clear(&err);
    if (core_cursor_decode(cx, c, &dec, &err) != 0 || !core_parse_id(dec, "r", after)) {
        api_failf(r, TG_EINVAL, "cursor", "cursor is invalid");
        return -1;
    }
    return 0;
}

static void resource_page(struct hreq *r, struct core_ctx *cx, struct resource *items, size_t n,
                          bool more, const int64_t *total, const struct native_asof *asof)
{
    struct jw w;

    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        api_native_render_resource(&w, r, &items[i]);
    jw_arr_end(&w);
    jw_key(&w, "next_cursor");
    if (more && n)
        jw_str(&w, core_cursor_encode(cx, arena_printf(&r->a, "r%lld", (long long)items[n - 1].id)));
    else
        jw_null(&w);
    if (total)
        jw_kint(&w, "total", *total);
    if (asof)
        native_render_as_of(&w, asof);
    jw_obj_end(&w);
}

void native_render_resource_page(struct hreq *r, struct core_ctx *cx, struct resource *items,
                                 size_t n, bool more, const int64_t *total)
{
    resource_page(r, cx, items, n, more, total, NULL);
}

void native_render_resource_page_as_of(struct hreq *r, struct core_ctx *cx,
                                       struct resource *items, size_t n, bool more,
                                       const struct native_asof *asof)
{
    resource_page(r, cx, items, n, more, NULL, asof);
}

/* Resolves a JSON array of tag references (ids or names) into ids. With `create`, unknown
 * names are created. Renders the error and returns -1 on failure. */
int native_tag_refs(struct hreq *r, struct core_ctx *cx, json_t *arr, bool create, int64_t **ids,
                    size_t *n)
{
    struct tg_err err;
    size_t i;

    if (!json_is_array(arr)) {
        api_failf(r, TG_EINVAL, "tags", "'tags' must be an array of tag names or ids");
        return -1;
    }
    *n = json_array_size(arr);
    if (*n > (size_t)core_limits.max_batch) {
        api_failf(r, TG_ELIMIT, "tags", "more than %d tags in one request", core_limits.max_batch);
        return -1;
    }
    *ids = arena_alloc(&r->a, (*n + 1) * sizeof(int64_t));
    for (i = 0; i < *n; i++) {
        json_t *v = json_array_get(arr, i);
        struct tag t;
        int rc;
        tg_err_clear(&err);
        if (json_is_integer(v)) {
            rc = core_tag_get(cx, json_integer_value(v), &t, &err);
        } else if (json_is_string(v)) {
            rc = create ? core_tag_ensure(cx, json_string_value(v), &t, &err)
                        : core_tag_resolve(cx, json_string_value(v), &t, &err);
        } else {
            api_failf(r, TG_EINVAL, "tags", "tags[%zu] must be a tag name or id", i);
            return -1;
        }
        if (rc == 0 && t.deleted)
            rc = tg_err_set(&err, TG_ENOTFOUND, "tags", "tag '%s' is deleted", t.name);
        if (rc) {
            /* An unknown tag in a list is invalid input, not a missing endpoint. */
            if (rc == TG_ENOTFOUND)
                rc = TG_ERULE;
            snprintf(err.field, sizeof(err.field), "tags[%zu]", i);
            api_fail(r, rc, &err);
            return -1;
        }
        (*ids)[i] = t.id;
    }
    native_alias_header(r, cx);
    return 0;
}

int native_load_resource(struct hreq *r, struct core_ctx *cx, struct resource *res)
{
    struct tg_err err;
    int rc;

    assert(r->params[0] != NULL && r->params[1] != NULL); /* a {kind}/{key} route */
    tg_err_clear(&err);
    rc = core_resource_get(cx, r->params[0], r->params[1], res, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

int native_as_of(struct hreq *r, struct core_ctx *cx, struct native_asof *a)
{
    const char *spec = api_query(r, "as_of");
    struct tg_err err;
    int rc;

    memset(a, 0, sizeof(*a));
    if (spec == NULL)
        return 0;
    tg_err_clear(&err);
    rc = core_asof_resolve(cx, spec, &a->rev, &a->at, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    a->set = true;
    api_set_header(r, "X-Tagd-As-Of", arena_printf(&r->a, "%lld", (long long)a->rev));
    return 0;
}

void native_render_as_of(struct jw *w, const struct native_asof *a)
{
    assert(a->set);
    jw_key(w, "as_of");
    jw_obj(w);
    jw_kint(w, "revision", a->rev);
    api_kiso(w, "at", a->at);
    jw_obj_end(w);
}

int native_load_resource_at(struct hreq *r, struct core_ctx *cx, const struct native_asof *asof,
                            struct resource *res)
{
    struct tg_err err;
    int rc;

    if (!asof->set)
        return native_load_resource(r, cx, res);
    tg_err_clear(&err);
    rc = core_asof_resource_get(cx, asof->rev, r->params[0], r->params[1], res, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

/* A filter's query parameters (each may repeat, each a comma-separated list) into f, through
 * core's rules for filter values (those of webhooks' filters too). */
static int split(struct hreq *r, const char *name, struct event_filter *f)
{
    const char **vals;
    size_t nv = api_query_all(r, name, &vals);
    struct tg_err err;

    tg_err_clear(&err);
    for (size_t i = 0; i < nv; i++) {
        if (event_filter_add(&r->a, f, name, vals[i], &err) != 0) {
            api_fail(r, err.code, &err);
            return -1;
        }
    }
    return 0;
}

int native_event_filter(struct hreq *r, struct core_ctx *cx, struct event_filter *f)
{
    const char *ws = api_query(r, "workspace");
    struct tg_err err;
    int64_t resource;
    int rc;

    memset(f, 0, sizeof(*f));
    if (split(r, "entity", f) || split(r, "tag", f) || split(r, "kind", f) ||
        split(r, "principal", f) || api_query_int(r, "resource", 0, 0, INT64_MAX, &resource))
        return -1;
    f->resource = resource;
    if (ws) {
        tg_err_clear(&err);
        rc = core_ws_resolve(cx, ws, "workspace", &f->workspace, &err);
        if (rc) {
            api_fail(r, rc, &err);
            return -1;
        }
    }
    return 0;
}
