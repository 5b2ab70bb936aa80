/* api/immuta.c: the Immuta /tag API (seed 001, spec/immuta.md; choices in docs/dialects/immuta.md).
 *
 * Shapes: tags are flat JSON objects in camelCase; every answer is an array (GET /tag, POST
 * /tag, DELETE /tag/{tag}, the model routes) except POST /tag/refresh, whose body tagd chose.
 * Errors use hapi's default body {"statusCode", "error", "message"}, the framework Immuta runs
 * on. Authorization is "Bearer <token>" or the bare token, as real Immuta clients send both;
 * the token is an API key (a tagd API token) or what POST /bim/apikey/authenticate gave for
 * one, which Immuta's clients ask for before anything else (core_apikey_login). The rules
 * (hierarchy updates, attach, the search filters) live in core/immuta_rules.c, external
 * sources and their refresh in core/sources.c. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/ratelimit.h"
#include "core/immuta_rules.h"
#include "core/sources.h"
#include "util/json.h"

static void immuta_error(struct hreq *r, int code, const struct tg_err *err);

static const char *const immuta_paths[] = {"/tag", "/bim/", NULL};
const struct dialect immuta_dialect = {
    .name = "immuta",
    .error = immuta_error,
    .paths = immuta_paths,
    .routes = immuta_routes,
};

/* ---- errors ---- */

static int status_of(int code, const struct tg_err *err)
{
    switch (code) {
    case TG_EINVAL:
    case TG_EEXISTS:
    case TG_ECONFLICT:
    case TG_ECONFIRM:
        return 400;
    case TG_ERULE:
        /* A protected tag "cannot be updated": the caller lacks the right to, not the form. */
        return err && strcmp(err->field, "protected") == 0 ? 403 : 422;
    default:
        return tg_code_status(code);
    }
}

static const char *status_text(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

static void immuta_error(struct hreq *r, int code, const struct tg_err *err)
{
    int status = status_of(code, err);
    struct jw w;

    api_json_begin(r, status, &w);
    if (status == 401)
        api_set_header(r, "WWW-Authenticate", "Bearer");
    jw_obj(&w);
    jw_kint(&w, "statusCode", status);
    jw_kstr(&w, "error", status_text(status));
    jw_kstr(&w, "message",
            status >= 500 && status != 503 ? "An internal server error occurred" : err->msg);
    jw_obj_end(&w);
}

/* ---- shared pieces ---- */

/* Checks the token and the right; with `charge`, also takes one from the token's rate. */
static int auth_charged(struct hreq *r, struct core_ctx *cx, unsigned need, bool charge)
{
    const char *tok = api_bearer(r);
    struct tg_err err;
    int rc;

    if (tok == NULL) {
        /* Immuta clients also send the bare token without a scheme. */
        tok = api_header(r, "authorization");
        if (tok && strchr(tok, ' '))
            tok = NULL;
    }
    if (tok == NULL || *tok == '\0') {
        api_failf(r, TG_EAUTH, "Authorization", "Missing authentication");
        return -1;
    }
    tg_err_clear(&err);
    /* An API key, or the token that logging in with one gave (h_apikey_login). */
    rc = core_auth_token_login(cx, tok, &err);
    if (rc == 0)
        rc = core_require(cx, need, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return charge ? ratelimit_take(r, cx) : 0;
}

static int auth(struct hreq *r, struct core_ctx *cx, unsigned need)
{
    return auth_charged(r, cx, need, true);
}

/* Creator names to Immuta profile ids, remembered for one answer. */
struct profiles {
    const char *name[16];
    int64_t id[16];
    int n;
};

static void kprofile(struct jw *w, struct core_ctx *cx, struct profiles *p, const char *k,
                     const char *who)
{
    int64_t id = 0;
    int i;

    for (i = 0; i < p->n; i++)
        if (who && strcmp(p->name[i], who) == 0)
            break;
    if (i < p->n) {
        id = p->id[i];
    } else if (who) {
        id = core_immuta_profile(cx, who);
        if (p->n < 16) {
            p->name[p->n] = who;
            p->id[p->n++] = id;
        }
    }
    jw_keys(w, k);
    if (id)
        jw_int(w, id);
    else
        jw_null(w);
}

static const char *display_name(const struct tag *t)
{
    const char *dot = strrchr(t->name, '.');
    if (t->display_name)
        return t->display_name;
    return dot ? dot + 1 : t->name;
}

static void render_tag(struct jw *w, struct hreq *r, struct core_ctx *cx, struct profiles *p,
                       const struct tag *t)
{
    jw_obj(w);
    jw_kint(w, "id", t->id);
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "displayName", display_name(t));
    jw_kstr(w, "color", t->color);
    jw_kstr(w, "description", t->description);
    jw_kstr(w, "source", t->source);
    /* Immuta has no states: an archived tag is as good as deleted there (docs/dialects). */
    jw_kbool(w, "deleted", t->deleted || t->state == TAG_ARCHIVED);
    jw_kbool(w, "systemCreated", t->system_created);
    jw_kbool(w, "protected", t->protected_);
    kprofile(w, cx, p, "createdBy", core_immuta_creator(t));
    api_kiso(w, "createdAt", t->created_at);
    api_kiso(w, "updatedAt", t->updated_at);
    jw_obj_end(w);
}

static void render_assignment(struct jw *w, struct core_ctx *cx, struct profiles *p,
                              const struct assignment *a)
{
    jw_obj(w);
    jw_kstr(w, "name", a->tag.name);
    jw_kstr(w, "source", a->tag.source);
    jw_kstr(w, "context", a->inherited_from ? "inherited" : a->context);
    kprofile(w, cx, p, "addedBy", core_immuta_adder(a));
    jw_kbool(w, "deleted", a->tag.deleted);
    if (a->inherited_from) {
        jw_key(w, "inheritedFrom");
        jw_obj(w);
        jw_kstr(w, "modelType", a->from_kind);
        jw_kstr(w, "modelId", a->from_key);
        jw_obj_end(w);
    }
    jw_obj_end(w);
}

/* Fields of a tag object that clients echo back; tagd reads only some and ignores the rest. */
static const char *const echo_fields[] = {
    "displayName", "color",     "description", "source",    "deleted",      "systemCreated",
    "protected",   "createdBy", "createdAt",   "updatedAt", "hasLeafNodes", "addedBy",
    "context",     NULL,
};

static bool known(const char *k, const char *const *a, const char *const *b)
{
    for (; a && *a; a++)
        if (strcmp(*a, k) == 0)
            return true;
    for (; b && *b; b++)
        if (strcmp(*b, k) == 0)
            return true;
    return false;
}

/* joi's wording for a key the schema does not know. */
static int only_keys(struct hreq *r, json_t *o, const char *where, const char *const *a,
                     const char *const *b)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v)
    {
        if (!known(k, a, b)) {
            api_failf(r, TG_EINVAL, k, "\"%s%.60s\" is not allowed", where, k);
            return -1;
        }
    }
    return 0;
}

/* ---- POST /bim/apikey/authenticate ---- */

/* Longer than any key tagd issues or accepts (core_auth_token stops at 256), with room for an
 * operator's long TAGD_ADMIN_TOKEN; beyond it the body is malformed, not a wrong key. */
#define APIKEY_MAX 1024

/* The apikey of a JSON or form body; renders 400 (or 413, 415) and returns NULL otherwise. */
static const char *apikey_of(struct hreq *r)
{
    static const char *const keys[] = {"apikey", NULL};
    const char *ct = api_header(r, "content-type"), *key = NULL;
    json_t *body = NULL, *v;

    if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        key = api_form_value(r, "apikey");
        if (key == NULL) {
            api_failf(r, TG_EINVAL, "apikey", "\"apikey\" is required");
            return NULL;
        }
    } else {
        body = api_body_json(r);
        if (body == NULL)
            return NULL;
        if (!json_is_object(body)) {
            api_failf(r, TG_EINVAL, "body", "\"value\" must be an object");
            goto out;
        }
        if (only_keys(r, body, "", keys, NULL))
            goto out;
        v = json_object_get(body, "apikey");
        if (!json_is_string(v)) {
            api_failf(r, TG_EINVAL, "apikey",
                      v ? "\"apikey\" must be a string" : "\"apikey\" is required");
            goto out;
        }
        key = arena_strndup(&r->a, json_string_value(v), json_string_length(v));
        if (strlen(key) != json_string_length(v)) {
            api_failf(r, TG_EINVAL, "apikey", "\"apikey\" must not contain NUL");
            key = NULL;
            goto out;
        }
    }
    if (*key == '\0') {
        api_failf(r, TG_EINVAL, "apikey", "\"apikey\" is not allowed to be empty");
        key = NULL;
    } else if (strlen(key) > APIKEY_MAX) {
        api_failf(r, TG_EINVAL, "apikey",
                  "\"apikey\" length must be less than or equal to %d characters long",
                  APIKEY_MAX);
        key = NULL;
    }
out:
    json_decref(body);
    return key;
}

/* Immuta's API-key login: the key is a tagd API token (or TAGD_ADMIN_TOKEN); the answer's token
 * works as "Bearer <token>" on every /tag route until it expires (--immuta-token-ttl) or the
 * key is revoked. A write, for the token's row; a wrong key is rolled back like any failure. */
static enum api_result h_apikey_login(struct hreq *r, struct core_ctx *cx)
{
    const char *key = apikey_of(r), *secret;
    struct tg_err err;
    int64_t expires;
    struct jw w;
    int rc;

    if (key == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_apikey_login(cx, key, &secret, &expires, &err);
    if (rc)
        return api_fail(r, rc, &err);
    /* The key's own bucket: logging in again and again gains no requests. The row written
     * above is rolled back with the 429. */
    if (ratelimit_take(r, cx))
        return API_ROLLBACK;
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kbool(&w, "authenticated", true);
    jw_kstr(&w, "token", secret);
    api_kiso(&w, "tokenExpiration", expires);
    jw_obj_end(&w);
    return API_ANSWER;
}

/* ---- POST /tag ---- */

static int parse_root(struct hreq *r, json_t *v, struct immuta_root *root)
{
    static const char *const keys[] = {"name", "source", "deleteHierarchy", NULL};
    json_t *name, *src, *dh;

    if (!json_is_object(v)) {
        api_failf(r, TG_EINVAL, "rootTag", "\"rootTag\" must be an object");
        return -1;
    }
    if (only_keys(r, v, "rootTag.", keys, NULL))
        return -1;
    name = json_object_get(v, "name");
    src = json_object_get(v, "source");
    dh = json_object_get(v, "deleteHierarchy");
    if (!json_is_string(name)) {
        api_failf(r, TG_EINVAL, "rootTag.name", "\"rootTag.name\" is required");
        return -1;
    }
    if (src && !json_is_string(src)) {
        api_failf(r, TG_EINVAL, "rootTag.source", "\"rootTag.source\" must be a string");
        return -1;
    }
    if (dh && !json_is_boolean(dh)) {
        api_failf(r, TG_EINVAL, "rootTag.deleteHierarchy",
                  "\"rootTag.deleteHierarchy\" must be a boolean");
        return -1;
    }
    root->name = json_string_value(name);
    root->source = src ? json_string_value(src) : NULL;
    root->delete_hierarchy = dh && json_is_true(dh);
    return 0;
}

static enum api_result h_tag_write(struct hreq *r, struct core_ctx *cx)
{
    static const char *const body_keys[] = {"tags", "rootTag", NULL};
    static const char *const item_keys[] = {"name", "id", NULL};
    struct immuta_root root, *rootp = NULL;
    struct immuta_item *items;
    struct profiles prof = {0};
    struct tg_err err;
    struct tag *out;
    json_t *body, *tags, *rt;
    struct jw w;
    size_t n, i;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (auth(r, cx, RIGHT_WRITE))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "\"value\" must be an object");
        goto out;
    }
    if (only_keys(r, body, "", body_keys, NULL))
        goto out;
    tags = json_object_get(body, "tags");
    rt = json_object_get(body, "rootTag");
    if (rt) {
        if (parse_root(r, rt, &root))
            goto out;
        rootp = &root;
    }
    if (!json_is_array(tags)) {
        api_failf(r, TG_EINVAL, "tags",
                  tags ? "\"tags\" must be an array" : "\"tags\" is required");
        goto out;
    }
    n = json_array_size(tags);
    if (n == 0 && rootp == NULL) {
        api_failf(r, TG_EINVAL, "tags", "\"tags\" must contain at least 1 items");
        goto out;
    }
    if (n > (size_t)core_limits.max_batch) {
        api_failf(r, TG_ELIMIT, "tags", "\"tags\" must contain at most %d items",
                  core_limits.max_batch);
        goto out;
    }
    items = arena_zalloc(&r->a, (n + 1) * sizeof(*items));
    for (i = 0; i < n; i++) {
        json_t *o = json_array_get(tags, i), *name, *id;
        if (!json_is_object(o)) {
            api_failf(r, TG_EINVAL, "tags", "\"tags[%zu]\" must be an object", i);
            goto out;
        }
        if (only_keys(r, o, "tags.", item_keys, echo_fields))
            goto out;
        name = json_object_get(o, "name");
        id = json_object_get(o, "id");
        if (!json_is_string(name)) {
            api_failf(r, TG_EINVAL, "name", "\"tags[%zu].name\" is required and must be a string",
                      i);
            goto out;
        }
        if (id && !json_is_null(id) && (!json_is_integer(id) || json_integer_value(id) <= 0)) {
            api_failf(r, TG_EINVAL, "id", "\"tags[%zu].id\" must be a positive integer", i);
            goto out;
        }
        items[i].name = json_string_value(name);
        items[i].id = id && json_is_integer(id) ? json_integer_value(id) : 0;
    }
    out = arena_zalloc(&r->a, (n + 1) * sizeof(*out));
    tg_err_clear(&err);
    rc = core_immuta_tags_write(cx, items, n, rootp, out, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 200, &w);
    jw_arr(&w);
    for (i = 0; i < n; i++)
        render_tag(&w, r, cx, &prof, &out[i]);
    jw_arr_end(&w);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

/* ---- GET /tag ---- */

/* excludedHierarchies comes repeated, as name[]=, or as one JSON array string. */
static int excluded_list(struct hreq *r, const char ***out, size_t *n)
{
    const char **a, **b, **all;
    size_t na = api_query_all(r, "excludedHierarchies", &a);
    size_t nb = api_query_all(r, "excludedHierarchies[]", &b);
    size_t k = 0;

    all = arena_zalloc(&r->a, (na + nb + 1) * sizeof(char *));
    for (size_t i = 0; i < na + nb; i++) {
        const char *v = i < na ? a[i] : b[i - na];
        if (v[0] == '[') {
            struct tg_err err;
            json_t *arr, *e;
            const char **grown;
            size_t j;
            tg_err_clear(&err);
            arr = json_parse(v, strlen(v), 2, &err);
            if (!json_is_array(arr)) {
                json_decref(arr);
                api_failf(r, TG_EINVAL, "excludedHierarchies",
                          "\"excludedHierarchies\" must be an array of strings");
                return -1;
            }
            grown = arena_zalloc(&r->a, (na + nb + k + json_array_size(arr) + 1) *
                                            sizeof(char *));
            memcpy(grown, all, k * sizeof(char *));
            all = grown;
            json_array_foreach(arr, j, e)
            {
                if (!json_is_string(e)) {
                    json_decref(arr);
                    api_failf(r, TG_EINVAL, "excludedHierarchies",
                              "\"excludedHierarchies\" must be an array of strings");
                    return -1;
                }
                all[k++] = arena_strdup(&r->a, json_string_value(e));
            }
            json_decref(arr);
        } else if (*v) {
            all[k++] = v;
        }
    }
    *out = all;
    *n = k;
    return 0;
}

static enum api_result h_tag_search(struct hreq *r, struct core_ctx *cx)
{
    struct immuta_search q;
    struct profiles prof = {0};
    struct tg_err err;
    struct tag *tags;
    bool sys;
    size_t n;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_READ))
        return API_ROLLBACK;
    memset(&q, 0, sizeof(q));
    if (api_query_int(r, "limit", 0, 1, 1000000, &q.limit) ||
        api_query_bool(r, "includeAllSystemTags", false, &sys) ||
        excluded_list(r, &q.excluded, &q.nexcluded))
        return API_ROLLBACK;
    q.system = api_query(r, "includeAllSystemTags") && *api_query(r, "includeAllSystemTags")
                   ? (sys ? 1 : 0)
                   : 2;
    q.text = api_query(r, "searchText");
    q.source = api_query(r, "source");
    q.excluded_source = api_query(r, "excludedSource");
    if (q.source && *q.source == '\0')
        q.source = NULL;
    if (q.excluded_source && *q.excluded_source == '\0')
        q.excluded_source = NULL;
    tg_err_clear(&err);
    rc = core_immuta_search(cx, &q, &tags, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_tag(&w, r, cx, &prof, &tags[i]);
    jw_arr_end(&w);
    return API_ANSWER;
}

/* ---- DELETE /tag/{tag} ---- */

static enum api_result h_tag_delete(struct hreq *r, struct core_ctx *cx)
{
    struct profiles prof = {0};
    struct tag t, *sub = NULL;
    struct tg_err err;
    bool hier;
    size_t n = 0, i;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_WRITE) || api_query_bool(r, "deleteHierarchy", false, &hier))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_tag_find(cx, r->params[0], &t, &err);
    if (rc == 0 && t.deleted)
        rc = tg_err_set(&err, TG_ENOTFOUND, "tag", "tag '%s' not found", t.name);
    if (rc == 0 && hier)
        rc = core_tag_subtree(cx, &t, &sub, &n, &err);
    if (rc == 0)
        rc = core_tag_delete(cx, t.id, hier, false, 0, &err);
    if (rc) {
        if (rc == TG_ECONFLICT)
            tg_err_set(&err, TG_ECONFLICT, "deleteHierarchy",
                       "tag '%s' has child tags; use deleteHierarchy=true", t.name);
        return api_fail(r, rc, &err);
    }
    if (!hier) {
        sub = &t;
        n = 1;
    }
    api_json_begin(r, 200, &w);
    jw_arr(&w);
    for (i = 0; i < n; i++) {
        struct tag now;
        /* Tags that were deleted before this request are not part of its answer. */
        if (sub[i].deleted || core_tag_get(cx, sub[i].id, &now, &err) != 0)
            continue;
        render_tag(&w, r, cx, &prof, &now);
    }
    jw_arr_end(&w);
    return API_ANSWER;
}

/* ---- POST /tag/refresh ---- */

/* On the server's fetch thread, before the writer (route.prepare): the sources are fetched
 * there, for a caller allowed to refresh, so that no slow source holds up the writer. The
 * answer, an error included, is the writer's (h_refresh): what auth rendered is dropped. */
static void *h_refresh_prepare(struct hreq *r, struct core_ctx *cx)
{
    struct src_prefetch *pre;
    struct tg_err err;

    if (auth(r, cx, RIGHT_WRITE))
        return NULL;
    pre = arena_zalloc(&r->a, sizeof(*pre));
    tg_err_clear(&err);
    if (core_src_prefetch(cx, NULL, pre, &err) != 0)
        return NULL;
    return pre;
}

static enum api_result h_refresh(struct hreq *r, struct core_ctx *cx)
{
    const struct src_prefetch *pre = r->prep;
    struct src_result *res;
    struct tg_err err;
    size_t n, i, j;
    struct jw w;
    int rc;

    /* Charged once, by h_refresh_prepare, when it ran. */
    if (auth_charged(r, cx, RIGHT_WRITE, pre == NULL))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_src_refresh(cx, NULL, pre, &res, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "sources");
    jw_arr(&w);
    for (i = 0; i < n; i++) {
        jw_obj(&w);
        jw_kstr(&w, "name", res[i].name);
        jw_kbool(&w, "ok", res[i].ok);
        if (!res[i].ok) {
            jw_kstr(&w, "error", res[i].error);
        } else {
            jw_kint(&w, "created", res[i].created);
            jw_kint(&w, "updated", res[i].updated);
            jw_kint(&w, "deleted", res[i].deleted);
            jw_kint(&w, "unchanged", res[i].unchanged);
            jw_key(&w, "conflicts");
            jw_arr(&w);
            for (j = 0; j < res[i].nconflicts; j++)
                jw_str(&w, res[i].conflicts[j]);
            jw_arr_end(&w);
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    return API_ANSWER;
}

/* ---- /tag/{modelType}/{modelId} ---- */

static enum api_result h_model_attach(struct hreq *r, struct core_ctx *cx)
{
    static const char *const keys[] = {"name", "id", NULL};
    struct immuta_attach *items;
    struct assignment *out;
    struct profiles prof = {0};
    struct tg_err err;
    json_t *body;
    size_t n, i;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (auth(r, cx, RIGHT_ASSIGN))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (!json_is_array(body)) {
        api_failf(r, TG_EINVAL, "body", "\"value\" must be an array");
        goto out;
    }
    n = json_array_size(body);
    if (n > (size_t)core_limits.max_batch) {
        api_failf(r, TG_ELIMIT, "body", "\"value\" must contain at most %d items",
                  core_limits.max_batch);
        goto out;
    }
    items = arena_zalloc(&r->a, (n + 1) * sizeof(*items));
    for (i = 0; i < n; i++) {
        json_t *o = json_array_get(body, i), *name, *src;
        if (!json_is_object(o)) {
            api_failf(r, TG_EINVAL, "body", "\"[%zu]\" must be an object", i);
            goto out;
        }
        if (only_keys(r, o, "", keys, echo_fields))
            goto out;
        name = json_object_get(o, "name");
        src = json_object_get(o, "source");
        if (!json_is_string(name)) {
            api_failf(r, TG_EINVAL, "name", "\"[%zu].name\" is required and must be a string",
                      i);
            goto out;
        }
        if (src && !json_is_null(src) && !json_is_string(src)) {
            api_failf(r, TG_EINVAL, "source", "\"[%zu].source\" must be a string", i);
            goto out;
        }
        items[i].name = json_string_value(name);
        items[i].source = json_is_string(src) ? json_string_value(src) : NULL;
    }
    out = arena_zalloc(&r->a, (n + 1) * sizeof(*out));
    tg_err_clear(&err);
    rc = core_immuta_attach(cx, r->params[0], r->params[1], items, n, out, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 200, &w);
    jw_arr(&w);
    for (i = 0; i < n; i++)
        render_assignment(&w, cx, &prof, &out[i]);
    jw_arr_end(&w);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

static enum api_result h_model_list(struct hreq *r, struct core_ctx *cx)
{
    struct profiles prof = {0};
    struct assignment *as = NULL;
    struct resource res;
    struct tg_err err;
    bool inherited;
    size_t n = 0;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_READ) || api_query_bool(r, "includeInherited", false, &inherited))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_immuta_model(cx, r->params[0], r->params[1], false, &res, &err);
    if (rc == 0)
        rc = core_assign_list(cx, res.id, inherited, &as, &n, &err);
    else if (rc == TG_ENOTFOUND)
        rc = 0; /* a model tagd has never seen carries no tags */
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_assignment(&w, cx, &prof, &as[i]);
    jw_arr_end(&w);
    return API_ANSWER;
}

static enum api_result h_model_detach(struct hreq *r, struct core_ctx *cx)
{
    struct profiles prof = {0};
    struct assignment a;
    struct tg_err err;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_ASSIGN))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_immuta_detach(cx, r->params[0], r->params[1], r->params[2], &a, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_arr(&w);
    render_assignment(&w, cx, &prof, &a);
    jw_arr_end(&w);
    return API_ANSWER;
}

#define R(m, p, f, fl) {m, p, f, fl, &immuta_dialect, NULL, NULL}
const struct route immuta_routes[] = {
    R("POST", "/bim/apikey/authenticate", h_apikey_login, ROUTE_WRITE),
    R("GET", "/tag", h_tag_search, 0),
    R("POST", "/tag", h_tag_write, ROUTE_WRITE),
    {"POST", "/tag/refresh", h_refresh, ROUTE_WRITE, &immuta_dialect, NULL, h_refresh_prepare},
    R("DELETE", "/tag/{tag}", h_tag_delete, ROUTE_WRITE),
    R("GET", "/tag/{modelType}/{modelId}", h_model_list, 0),
    R("POST", "/tag/{modelType}/{modelId}", h_model_attach, ROUTE_WRITE),
    R("DELETE", "/tag/{modelType}/{modelId}/{tag}", h_model_detach, ROUTE_WRITE),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
