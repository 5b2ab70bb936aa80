/* api/aitronos.c: the Aitronos knowledge-connector tags dialect.
 *
 * Serves /v1/organizations/{organization_id}/knowledge/connectors/tags[/{tag_id}] on tagd's own
 * organizations, workspaces and tags. A token acts only inside its own organization: another
 * organization's id, and any tag outside the token's organization, answer 404 so that nothing
 * tells a caller what exists elsewhere. A tag lives in one workspace of its organization, and
 * core works in one workspace at a time (cx->ws_id), so every handler points the context at the
 * tag's workspace before calling core. Errors use the documented envelope
 * {"success": false, "error": {code, message, system_message, type, status, details, trace_id,
 * timestamp}} with trace_id equal to the request id (X-Request-Id, access log).
 * docs/dialects/aitronos.md records every choice the public documentation leaves open. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/ratelimit.h"
#include "util/json.h"
#include "util/timeu.h"

static void aitronos_error(struct hreq *r, int code, const struct tg_err *err);

/* Its paths lie below the native API's organizations: only those with /knowledge/ are its. */
static const char *const aitronos_paths[] = {"/v1/organizations/", NULL};
const struct dialect aitronos_dialect = {
    .name = "aitronos",
    .error = aitronos_error,
    .paths = aitronos_paths,
    .infix = "/knowledge/",
    .routes = aitronos_routes,
};

/* ---- errors ---- */

/* How one tg_code (refined by the error's field) reads in this dialect. */
struct amap {
    int status;
    const char *code;
    const char *message; /* user-facing; the tg_err text becomes system_message */
    bool field;          /* details carry {"field": ...} */
};

static bool field_is(const struct tg_err *err, const char *f)
{
    return strcmp(err->field, f) == 0;
}

static struct amap map_error(int code, const struct tg_err *err)
{
    switch (code) {
    case TG_EINVAL:
        /* The body or the request line cannot be read at all: a format error (400). Anything
         * about a field's value is a validation error (422). */
        if (field_is(err, "body") || field_is(err, "path") || field_is(err, "headers"))
            return (struct amap){400, "INVALID_REQUEST", "The request could not be read.", true};
        return (struct amap){422, "VALIDATION_ERROR", "The request failed validation.", true};
    case TG_ENOTFOUND:
        if (field_is(err, "tag") || field_is(err, "tag_id"))
            return (struct amap){404, "CONNECTOR_TAG_NOT_FOUND",
                                 "The requested tag was not found.", false};
        if (field_is(err, "workspace_id"))
            return (struct amap){404, "WORKSPACE_NOT_FOUND",
                                 "The requested workspace was not found.", true};
        if (field_is(err, "organization_id"))
            return (struct amap){404, "ORGANIZATION_NOT_FOUND",
                                 "The requested organization was not found.", false};
        return (struct amap){404, "RESOURCE_NOT_FOUND", "The requested resource was not found.",
                             false};
    case TG_EEXISTS:
        return (struct amap){409, "CONNECTOR_TAG_ALREADY_EXISTS",
                             "A tag with this name already exists in the workspace.", true};
    case TG_ECONFLICT:
        if (field_is(err, "recursive"))
            return (struct amap){409, "CONNECTOR_TAG_HAS_CHILDREN",
                                 "The tag has child tags and cannot be deleted.", false};
        return (struct amap){409, "CONFLICT", "The request conflicts with the current state.",
                             false};
    case TG_EPRECOND:
        return (struct amap){412, "PRECONDITION_FAILED", "A precondition failed.", false};
    case TG_ELIMIT:
        return (struct amap){413, "PAYLOAD_TOO_LARGE", "The request is too large.", true};
    case TG_ERULE:
        if (field_is(err, "protected"))
            return (struct amap){403, "OPERATION_NOT_ALLOWED",
                                 "This tag is protected and cannot be changed.", false};
        return (struct amap){422, "VALIDATION_ERROR", "The request failed validation.", true};
    case TG_EAUTH:
        if (field_is(err, "authorization"))
            return (struct amap){401, "AUTHENTICATION_REQUIRED", "Authentication is required.",
                                 false};
        /* The error-codes page gives a refused API key codes of its own; clients that send
         * X-API-Key look for them, not for the bearer token's. */
        if (field_is(err, "api_key") && strstr(err->msg, "expired"))
            return (struct amap){401, "API_KEY_EXPIRED", "The API key has expired.", false};
        if (field_is(err, "api_key"))
            return (struct amap){401, "INVALID_API_KEY", "The API key is invalid.", false};
        if (strstr(err->msg, "expired"))
            return (struct amap){401, "TOKEN_EXPIRED", "The access token has expired.", false};
        return (struct amap){401, "TOKEN_INVALID", "The access token is invalid.", false};
    case TG_EFORBIDDEN:
        return (struct amap){403, "INSUFFICIENT_PERMISSIONS",
                             "You do not have permission to perform this action.", false};
    case TG_EMEDIA:
        return (struct amap){415, "UNSUPPORTED_MEDIA_TYPE",
                             "The request body must be application/json.", false};
    case TG_ERATE:
        return (struct amap){429, "RATE_LIMIT_EXCEEDED", "Too many requests.", false};
    case TG_EMETHOD:
        return (struct amap){405, "METHOD_NOT_ALLOWED",
                             "The method is not allowed for this resource.", false};
    case TG_EBUSY:
        return (struct amap){503, "SERVICE_UNAVAILABLE",
                             "The service is temporarily unavailable.", false};
    default:
        return (struct amap){500, "INTERNAL_SERVER_ERROR", "An internal error occurred.", false};
    }
}

static void aitronos_error(struct hreq *r, int code, const struct tg_err *err)
{
    struct amap m = map_error(code, err);
    char iso[32];
    struct jw w;

    /* The documented timestamp has whole seconds: "2025-12-22T15:30:00Z". */
    time_iso(time_now_ms(), iso);
    iso[19] = 'Z';
    iso[20] = '\0';
    api_json_begin(r, m.status, &w);
    if (m.status == 401)
        api_set_header(r, "WWW-Authenticate", "Bearer realm=\"tagd\"");
    jw_obj(&w);
    jw_kbool(&w, "success", false);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_kstr(&w, "code", m.code);
    jw_kstr(&w, "message", m.message);
    /* Internal failures keep their cause in the log, never in the answer. */
    jw_kstr(&w, "system_message", m.status >= 500 ? m.message : err->msg);
    jw_kstr(&w, "type", m.status >= 500 ? "server_error" : "client_error");
    jw_kint(&w, "status", m.status);
    jw_key(&w, "details");
    jw_obj(&w);
    if (m.field && err->field[0])
        jw_kstr(&w, "field", err->field);
    jw_obj_end(&w);
    jw_kstr(&w, "trace_id", r->request_id);
    jw_kstr(&w, "timestamp", iso);
    jw_obj_end(&w);
    jw_obj_end(&w);
}

/* ---- shared pieces ---- */

/* Parses the canonical "<prefix><digits>" form only (no bare numbers, no leading zeros), so
 * that one object has exactly one id string. */
static bool parse_pid(const char *s, const char *prefix, int64_t *out)
{
    size_t pl = strlen(prefix), n;
    int64_t v = 0;

    if (strncmp(s, prefix, pl) != 0)
        return false;
    s += pl;
    n = strlen(s);
    if (n == 0 || n > 18 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static const char *pid(struct hreq *r, const char *prefix, int64_t id)
{
    return arena_printf(&r->a, "%s%lld", prefix, (long long)id);
}

/* Authenticates, checks the path's organization against the token's, then the right `need`.
 * Returns 0, or -1 after rendering the error. */
static int enter(struct hreq *r, struct core_ctx *cx, unsigned need)
{
    const char *tok = api_bearer(r);
    bool api_key = tok == NULL;
    struct tg_err err;
    int64_t org;
    int rc;

    tg_err_clear(&err);
    /* The Aitronos docs also name X-API-Key (and, on an older page, api-key). */
    if (tok == NULL)
        tok = api_header(r, "x-api-key");
    if (tok == NULL)
        tok = api_header(r, "api-key");
    if (tok == NULL || *tok == '\0') {
        api_failf(r, TG_EAUTH, "authorization", "no bearer token or API key was sent");
        return -1;
    }
    rc = core_auth_token(cx, tok, &err);
    if (rc == TG_EAUTH && api_key)
        snprintf(err.field, sizeof(err.field), "api_key");
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    if (!parse_pid(r->params[0], "org_", &org) || org != cx->org_id) {
        api_failf(r, TG_ENOTFOUND, "organization_id", "organization '%.64s' not found",
                  r->params[0]);
        return -1;
    }
    /* Tokens scoped to one resource (applinks, public links) never manage the taxonomy. */
    if (cx->who.resource_id != 0) {
        api_failf(r, TG_EFORBIDDEN, "authorization", "the token is scoped to one resource");
        return -1;
    }
    rc = core_require(cx, need, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return ratelimit_take(r, cx);
}

/* Resolves a workspace id of the caller's organization; another organization's workspace is
 * as unknown as a missing one. */
static int load_ws(struct hreq *r, struct core_ctx *cx, const char *ref, struct workspace *ws)
{
    struct tg_err err;
    int64_t id;
    int rc;

    tg_err_clear(&err);
    if (!parse_pid(ref, "ws_", &id)) {
        api_failf(r, TG_ENOTFOUND, "workspace_id", "workspace '%.64s' not found", ref);
        return -1;
    }
    rc = core_ws_get(cx, id, ws, &err);
    if (rc == 0 && ws->org_id != cx->org_id)
        rc = tg_err_set(&err, TG_ENOTFOUND, "workspace_id", "workspace '%.64s' not found", ref);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

/* Finds a live tag in any workspace of the caller's organization and leaves cx->ws_id on that
 * workspace. Tag ids are unique across workspaces, so at most one can match. */
static int load_tag(struct hreq *r, struct core_ctx *cx, struct tag *t)
{
    const char *ref = r->params[1];
    struct workspace *ws;
    struct tg_err err;
    int64_t id;
    size_t n;
    int rc;

    tg_err_clear(&err);
    if (!parse_pid(ref, "tag_", &id)) {
        api_failf(r, TG_ENOTFOUND, "tag_id", "tag '%.64s' not found", ref);
        return -1;
    }
    rc = core_ws_list(cx, cx->org_id, &ws, &n, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        cx->ws_id = ws[i].id;
        rc = core_tag_get(cx, id, t, &err);
        if (rc == 0 && !t->deleted)
            return 0;
        if (rc == 0 || rc == TG_ENOTFOUND)
            continue;
        api_fail(r, rc, &err);
        return -1;
    }
    api_failf(r, TG_ENOTFOUND, "tag_id", "tag '%.64s' not found", ref);
    return -1;
}

static void render_tag(struct jw *w, struct hreq *r, const struct tag *t)
{
    jw_obj(w);
    jw_kstr(w, "tag_id", pid(r, "tag_", t->id));
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "color", t->color);
    jw_kstr(w, "workspace_id", pid(r, "ws_", t->ws_id));
    jw_obj_end(w);
}

/* The body as an object holding only `allowed` keys; NULL after rendering the error. */
static json_t *body_object(struct hreq *r, const char *const *allowed)
{
    json_t *body = api_body_json(r), *v;
    const char *k;

    if (body == NULL)
        return NULL;
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "the body must be a JSON object");
        json_decref(body);
        return NULL;
    }
    json_object_foreach(body, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok) {
            api_failf(r, TG_EINVAL, k, "unknown field '%.64s'", k);
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

/* A tag name: a non-empty string without '.', which tagd reserves for its hierarchy. The rest
 * of the name rules (length, spaces, control characters) are core's. */
static int name_field(struct hreq *r, json_t *body, bool required, const char **out)
{
    json_t *v = json_object_get(body, "name");

    *out = NULL;
    if (v == NULL) {
        if (required)
            api_failf(r, TG_EINVAL, "name", "'name' is required");
        return required ? -1 : 0;
    }
    if (!json_is_string(v)) {
        api_failf(r, TG_EINVAL, "name", "'name' must be a string");
        return -1;
    }
    if (json_string_length(v) == 0) {
        api_failf(r, TG_EINVAL, "name", "'name' must not be empty");
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        api_failf(r, TG_EINVAL, "name", "'name' contains a NUL character");
        return -1;
    }
    if (strchr(json_string_value(v), '.')) {
        api_failf(r, TG_EINVAL, "name", "'name' must not contain '.'");
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* color: absent (leaves *has false), null (clears) or "#RRGGBB". */
static int color_field(struct hreq *r, json_t *body, const char **out, bool *has)
{
    json_t *v = json_object_get(body, "color");
    const char *s;

    *out = NULL;
    *has = v != NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    s = json_is_string(v) ? json_string_value(v) : NULL;
    if (s == NULL || strlen(s) != 7 || s[0] != '#' || json_string_length(v) != 7)
        goto bad;
    for (int i = 1; i < 7; i++)
        if (!isxdigit((unsigned char)s[i]))
            goto bad;
    *out = s;
    return 0;
bad:
    api_failf(r, TG_EINVAL, "color", "'color' must be a hex color like #FF5733");
    return -1;
}

/* ---- handlers ---- */

static int list_ws(struct hreq *r, struct core_ctx *cx, struct jw *w)
{
    struct tag_filter f;
    struct tg_err err;
    struct tag *tags;
    const char *next = NULL;
    size_t n;
    int rc;

    memset(&f, 0, sizeof(f));
    f.archived = 1;
    f.limit = core_limits.max_list_limit;
    do {
        tg_err_clear(&err);
        f.cursor = next;
        rc = core_tag_list(cx, &f, &tags, &n, &next, NULL, &err);
        if (rc) {
            api_fail(r, rc, &err);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            render_tag(w, r, &tags[i]);
    } while (next);
    return 0;
}

static enum api_result h_list(struct hreq *r, struct core_ctx *cx)
{
    const char *only = api_query(r, "workspace_id");
    struct workspace *ws, one;
    struct tg_err err;
    struct jw w;
    size_t n;
    int rc;

    if (enter(r, cx, RIGHT_READ))
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (only) {
        if (load_ws(r, cx, only, &one))
            return API_ROLLBACK;
        ws = &one;
        n = 1;
    } else {
        rc = core_ws_list(cx, cx->org_id, &ws, &n, &err);
        if (rc)
            return api_fail(r, rc, &err);
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "data");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        cx->ws_id = ws[i].id;
        if (list_ws(r, cx, &w))
            return API_ROLLBACK;
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    return API_ANSWER;
}

static enum api_result h_get(struct hreq *r, struct core_ctx *cx)
{
    struct tag t;
    struct jw w;

    if (enter(r, cx, RIGHT_READ) || load_tag(r, cx, &t))
        return API_ROLLBACK;
    api_json_begin(r, 200, &w);
    render_tag(&w, r, &t);
    return API_ANSWER;
}

static enum api_result h_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"name", "workspace_id", "color", NULL};
    struct tag_input in;
    struct workspace ws;
    struct tg_err err;
    struct tag out;
    json_t *body, *wv;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (enter(r, cx, RIGHT_WRITE))
        return API_ROLLBACK;
    body = body_object(r, fields);
    if (body == NULL)
        return API_ROLLBACK;
    memset(&in, 0, sizeof(in));
    if (name_field(r, body, true, &in.name))
        goto out;
    wv = json_object_get(body, "workspace_id");
    if (wv == NULL || !json_is_string(wv) || json_string_length(wv) == 0) {
        api_failf(r, TG_EINVAL, "workspace_id",
                  wv == NULL ? "'workspace_id' is required"
                             : "'workspace_id' must be a non-empty string");
        goto out;
    }
    if (color_field(r, body, &in.color, &in.has_color))
        goto out;
    if (load_ws(r, cx, json_string_value(wv), &ws))
        goto out;
    cx->ws_id = ws.id;
    /* A name only a deleted tag holds comes back to life with the new fields; the color is
     * always set so that no old value survives. */
    in.has_color = true;
    in.revive = true;
    tg_err_clear(&err);
    rc = core_tag_create(cx, &in, &out, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    render_tag(&w, r, &out);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

static enum api_result h_patch(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"name", "color", NULL};
    struct tag_input in;
    struct tg_err err;
    struct tag t, out;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (enter(r, cx, RIGHT_WRITE) || load_tag(r, cx, &t))
        return API_ROLLBACK;
    body = body_object(r, fields);
    if (body == NULL)
        return API_ROLLBACK;
    memset(&in, 0, sizeof(in));
    if (name_field(r, body, false, &in.name) || color_field(r, body, &in.color, &in.has_color))
        goto out;
    out = t;
    if (in.name || in.has_color) {
        tg_err_clear(&err);
        rc = core_tag_update(cx, t.id, &in, 0, &out, &err);
        if (rc) {
            api_fail(r, rc, &err);
            goto out;
        }
    }
    api_json_begin(r, 200, &w);
    render_tag(&w, r, &out);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

static enum api_result h_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct tag t;
    int rc;

    if (enter(r, cx, RIGHT_WRITE) || load_tag(r, cx, &t))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_tag_delete(cx, t.id, false, false, 0, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

#define P "/v1/organizations/{organization_id}/knowledge/connectors/tags"
#define R(m, p, f, fl) {m, p, f, fl, &aitronos_dialect, NULL, NULL}
const struct route aitronos_routes[] = {
    R("GET", P, h_list, 0),
    R("POST", P, h_create, ROUTE_WRITE),
    R("GET", P "/{tag_id}", h_get, 0),
    R("PATCH", P "/{tag_id}", h_patch, ROUTE_WRITE),
    R("DELETE", P "/{tag_id}", h_delete, ROUTE_WRITE),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
#undef P
