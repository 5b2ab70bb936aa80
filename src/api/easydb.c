/* api/easydb.c: the easydb 5 dialect: /api/v1/session and /api/v1/tags.
 *
 * easydb tag groups are tagd groups (type "choice" = exclusive) and easydb tags are the tags of
 * those groups, in their order; nothing is kept twice. easydb-only fields live in the extra JSON
 * of the group or tag under "easydb" (and a tag's ACL under "acl", core's access grants), the
 * display names are the l10n maps. Sessions are core sessions (core/sessions.h); the full
 * replace is core_replace (core/replace.h). This file only parses, calls core and renders.
 *
 * Errors are easydb's: {"realm","code","parameters"|"description"} with HTTP 400 for api and
 * user errors and 500 with a "uuid" for server faults. A handler names an easydb code by
 * putting it in tg_err.field ("error.user.tag_not_found") and the one parameter's value in
 * tg_err.msg; everything else is mapped from the tg_code in easydb_error(). */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/ratelimit.h"
#include "core/replace.h"
#include "core/sessions.h"
#include "util/json.h"
#include "util/log.h"

#define TAGMANAGER "system.tagmanager"

/* ---- errors ---- */

static const struct {
    const char *code;
    const char *param; /* NULL: no parameters */
} user_codes[] = {
    {"error.user.not_authenticated", NULL},
    {"error.user.no_system_right", "right"},
    {"error.user.session_not_found", "id"},
    {"error.user.language_not_found", "id"},
    {"error.user.tag_not_found", "id"},
    {"error.user.integrity_constraint_violation", "constraint"},
    {"error.user.not_null_violation", "column"},
    {"error.user.login_failed", NULL},
    {"error.user.username_or_password_empty", NULL},
    {"error.user.authentication_method_not_allowed", "method"},
};

static void easydb_headers(struct hreq *r)
{
    api_set_header(r, "X-Easydb-Api-Version", "1");
    api_set_header(r, "X-Easydb-Base-Schema-Version", "1");
    api_set_header(r, "X-Easydb-User-Schema-Version", "1");
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
        api_set_header(r, "Cache-Control", "no-cache");
        api_set_header(r, "Pragma", "no-cache");
    }
}

static void uuid4(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* The easydb code for a tg_code that a handler did not name itself. */
static const char *mapped_code(int code, const struct tg_err *err, const char **param)
{
    *param = NULL;
    switch (code) {
    case TG_EAUTH:
        return "error.user.not_authenticated";
    case TG_EFORBIDDEN:
        *param = TAGMANAGER;
        return "error.user.no_system_right";
    case TG_ENOTFOUND:
        return "error.api.invalid_api";
    case TG_EEXISTS:
    case TG_ECONFLICT:
    case TG_ERULE:
    case TG_EPRECOND:
        *param = err->field[0] ? err->field : tg_code_slug(code);
        return "error.user.integrity_constraint_violation";
    case TG_EMETHOD:
        return "error.api.invalid_request_method";
    case TG_EMEDIA:
    case TG_ELIMIT:
        return "error.api.invalid_content";
    case TG_EINVAL:
        return strcmp(err->field, "body") == 0 || strcmp(err->field, "headers") == 0
                   ? "error.api.invalid_content"
                   : "error.api.invalid_value";
    case TG_ERATE:
        return "error.api.rate_limited";
    case TG_EBUSY:
        return "error.server.database";
    default:
        return "error.server.generic";
    }
}

static void easydb_error(struct hreq *r, int code, const struct tg_err *err)
{
    const char *ecode, *param = NULL, *pname = NULL, *realm;
    struct jw w;
    int status = 400;

    if (strncmp(err->field, "error.", 6) == 0) {
        ecode = err->field;
        param = err->msg;
    } else {
        ecode = mapped_code(code, err, &param);
    }
    if (strncmp(ecode, "error.user.", 11) == 0) {
        realm = "user";
        for (size_t i = 0; i < sizeof(user_codes) / sizeof(user_codes[0]); i++)
            if (strcmp(user_codes[i].code, ecode) == 0)
                pname = user_codes[i].param;
    } else if (strncmp(ecode, "error.server.", 13) == 0) {
        realm = "server";
        /* A busy or full store is retryable: 503 as in every other dialect, though easydb
         * documents 500 for every server error (a client that retries on 5xx does the same). */
        status = code == TG_EBUSY ? 503 : 500;
    } else {
        realm = "api";
    }
    if (code == TG_ERATE)
        status = 429;
    api_json_begin(r, status, &w);
    easydb_headers(r);
    jw_obj(&w);
    jw_kstr(&w, "realm", realm);
    jw_kstr(&w, "code", ecode);
    if (strcmp(realm, "server") == 0) {
        char id[37];
        uuid4(id);
        /* The uuid ties the answer to the log line that has the details. */
        log_error("easydb %s %s: %s (uuid %s, request %s)", r->method, r->path, err->msg, id,
                  r->request_id ? r->request_id : "-");
        /* The store's own words for busy or full ("store full: database or disk is full"),
         * as the native dialect shows them; nothing more for a bug. */
        jw_kstr(&w, "description", code != TG_EBUSY ? "internal server error"
                                   : err->msg[0] ? err->msg
                                                 : "database busy");
        jw_kstr(&w, "uuid", id);
    } else if (strcmp(realm, "user") == 0) {
        /* Parameters only for the codes that have them (E4). */
        if (pname) {
            jw_key(&w, "parameters");
            jw_obj(&w);
            jw_keys(&w, pname);
            jw_str(&w, param ? param : "");
            jw_obj_end(&w);
        }
    } else {
        jw_kstr(&w, "description", err->msg);
    }
    jw_obj_end(&w);
}

static const char *const easydb_paths[] = {"/api/v1", NULL};
const struct dialect easydb_dialect = {
    .name = "easydb",
    .error = easydb_error,
    .paths = easydb_paths,
    .routes = easydb_routes,
};

/* Renders the easydb error `ecode` with its one parameter (or description) `value`. */
static enum api_result fail_code(struct hreq *r, int code, const char *ecode, const char *fmt,
                                 ...) __attribute__((format(printf, 4, 5)));
static enum api_result fail_code(struct hreq *r, int code, const char *ecode, const char *fmt,
                                 ...)
{
    struct tg_err err;
    va_list ap;

    tg_err_clear(&err);
    err.code = code;
    snprintf(err.field, sizeof(err.field), "%s", ecode);
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
    va_end(ap);
    return api_fail(r, code, &err);
}

/* ---- parameters ---- */

/* A parameter from the query string or, when the body is a form, from the body (E6). */
static const char *param(struct hreq *r, const char *name)
{
    const char *v = api_query(r, name), *ct;

    if (v || r->body_len == 0)
        return v;
    ct = api_header(r, "content-type");
    if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)
        return NULL;
    return api_form_value(r, name);
}

static const char *session_token(struct hreq *r)
{
    const char *t = param(r, "token");
    if (t == NULL || *t == '\0')
        t = api_header(r, "x-easydb-token");
    return t && *t ? t : NULL;
}

/* ---- sessions ---- */

/* easydb's session type gives instance.server_version as an int: TAGD_VERSION "M.m.p" becomes
 * M * 10000 + m * 100 + p (0.1.0 is 100), which orders like the versions as long as minor and
 * patch stay below 100. */
static long long server_version(void)
{
    unsigned major = 0, minor = 0, patch = 0;

    if (sscanf(TAGD_VERSION, "%u.%u.%u", &major, &minor, &patch) < 1)
        return 0;
    return (long long)major * 10000 + minor * 100 + patch;
}

/* frontend_locale is an object in easydb ("as read from the locale file", whose format is not
 * documented): tagd answers the session language split into its parts,
 * {"code":"de-DE","language":"de","region":"DE"}. */
static void render_locale(struct jw *w, const char *lang)
{
    const char *dash = strchr(lang, '-');

    jw_obj(w);
    jw_kstr(w, "code", lang);
    jw_key(w, "language");
    jw_strn(w, lang, dash ? (size_t)(dash - lang) : strlen(lang));
    jw_kstr(w, "region", dash ? dash + 1 : "");
    jw_obj_end(w);
}

static void render_session(struct hreq *r, const struct session *s, const char *token)
{
    struct jw w;

    api_json_begin(r, 200, &w);
    easydb_headers(r);
    jw_obj(&w);
    jw_kstr(&w, "token", token);
    jw_key(&w, "instance");
    jw_obj(&w);
    jw_kstr(&w, "api", "1");
    jw_kstr(&w, "name", "tagd");
    jw_kint(&w, "server_version", server_version());
    jw_kstr(&w, "solution", "tagd");
    /* The same as the X-Easydb-User-Schema-Version header, but an int (types/session). */
    jw_kint(&w, "user-schema", 1);
    jw_obj_end(&w);
    jw_kstr(&w, "frontend_language", s->language);
    jw_key(&w, "frontend_locale");
    render_locale(&w, s->language);
    jw_key(&w, "authentication_methods");
    jw_arr(&w);
    jw_obj(&w);
    jw_kstr(&w, "method", "easydb");
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_key(&w, "config");
    jw_obj(&w);
    jw_key(&w, "base");
    jw_raw(&w, "{}");
    jw_key(&w, "defaults");
    jw_raw(&w, "{}");
    jw_key(&w, "extensions");
    jw_raw(&w, "{}");
    jw_obj_end(&w);
    jw_key(&w, "expires");
    jw_str(&w, api_iso(r, s->expires_at));
    if (s->user_id) {
        jw_key(&w, "authenticated");
        jw_obj(&w);
        jw_kstr(&w, "method", s->method ? s->method : "easydb");
        jw_kstr(&w, "timestamp", api_iso(r, s->authenticated_at));
        jw_obj_end(&w);
        jw_key(&w, "user");
        jw_obj(&w);
        jw_kstr(&w, "_basetype", "user");
        jw_key(&w, "user");
        jw_obj(&w);
        jw_kint(&w, "_id", s->user_id);
        jw_kstr(&w, "login", s->login);
        jw_kstr(&w, "displayname", s->display_name ? s->display_name : s->login);
        jw_kstr(&w, "type", "easydb");
        jw_obj_end(&w);
        jw_obj_end(&w);
        jw_key(&w, "groups");
        jw_raw(&w, "[]");
        jw_key(&w, "system_rights");
        jw_obj(&w);
        if (s->rights & RIGHT_ADMIN) {
            jw_key(&w, "system.root");
            jw_raw(&w, "{}");
        }
        if (s->rights & RIGHT_WRITE) {
            jw_key(&w, TAGMANAGER);
            jw_raw(&w, "{}");
        }
        jw_obj_end(&w);
        jw_key(&w, "pending_tasks");
        jw_raw(&w, "[]");
        jw_kint(&w, "current_max_message_id", 0);
    }
    jw_obj_end(&w);
}

/* Opens the request's session; renders session_not_found and returns -1 when there is none. */
static int open_session(struct hreq *r, struct core_ctx *cx, struct session *s, const char **tok)
{
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    *tok = session_token(r);
    rc = core_session_open(cx, *tok, s, &err);
    if (rc == TG_ENOTFOUND) {
        fail_code(r, rc, "error.user.session_not_found", "%.200s", *tok ? *tok : "");
        return -1;
    }
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

/* The organization a request addresses: `organization=org_N` (query or form), 0 when not
 * given (the session's, or for a new session the installation's default). easydb has no
 * organizations; logins are unique per organization, so a user of another one names it. */
static int request_org(struct hreq *r, int64_t *org_id)
{
    const char *v = param(r, "organization");

    *org_id = 0;
    if (v == NULL || *v == '\0')
        return 0;
    if (!core_parse_id(v, "org_", org_id)) {
        fail_code(r, TG_EINVAL, "error.api.invalid_value", "organization must look like org_1");
        return -1;
    }
    return 0;
}

static enum api_result fail_org(struct hreq *r, int rc, const struct tg_err *err)
{
    if (rc == TG_ENOTFOUND && strcmp(err->field, "organization") == 0)
        return fail_code(r, TG_EINVAL, "error.api.invalid_value",
                         "organization '%.40s' not found", param(r, "organization"));
    return api_fail(r, rc, err);
}

/* Moves the open session into the organization the request names, if any. */
static int move_session(struct hreq *r, struct core_ctx *cx, struct session *s)
{
    struct tg_err err;
    int64_t org_id;
    int rc;

    tg_err_clear(&err);
    if (request_org(r, &org_id))
        return -1;
    if (org_id == 0)
        return 0;
    rc = core_session_move(cx, s, org_id, &err);
    if (rc) {
        fail_org(r, rc, &err);
        return -1;
    }
    return 0;
}

static int set_language(struct hreq *r, struct core_ctx *cx, struct session *s)
{
    const char *lang = param(r, "language");
    struct tg_err err;

    tg_err_clear(&err);
    if (lang == NULL)
        return 0;
    if (core_session_set_language(cx, s, lang, &err) != 0) {
        if (err.code == TG_EINVAL)
            fail_code(r, TG_EINVAL, "error.user.language_not_found", "%.200s", lang);
        else
            api_fail(r, err.code, &err);
        return -1;
    }
    return 0;
}

/* Whether the request changes the open session's language or organization: a write. Malformed
 * values are not changes (set_language and move_session refuse them). */
static bool session_changes(struct hreq *r, const struct core_ctx *cx, const struct session *s)
{
    const char *lang = param(r, "language"), *org = param(r, "organization");
    int64_t org_id;

    if (lang && core_session_language_ok(lang) && strcmp(lang, s->language) != 0)
        return true;
    return org && *org && core_parse_id(org, "org_", &org_id) && org_id != cx->org_id;
}

/* A read: starting a session writes nothing (core/sessions.h), nor does showing one; changing
 * its language or organization runs again as a write. */
static enum api_result h_session(struct hreq *r, struct core_ctx *cx)
{
    const char *tok = session_token(r), *lang = param(r, "language");
    struct session s;
    struct tg_err err;
    int64_t org_id;
    int rc;

    tg_err_clear(&err);
    if (tok == NULL) {
        if (lang && !core_session_language_ok(lang))
            return fail_code(r, TG_EINVAL, "error.user.language_not_found", "%.200s", lang);
        if (request_org(r, &org_id))
            return API_ROLLBACK;
        rc = core_session_create(cx, org_id, lang, &tok, &s, &err);
        if (rc)
            return fail_org(r, rc, &err);
        render_session(r, &s, tok);
        return API_ANSWER;
    }
    if (open_session(r, cx, &s, &tok))
        return API_ROLLBACK;
    if (!cx->writing && session_changes(r, cx, &s))
        return API_RUN_AS_WRITE;
    if (move_session(r, cx, &s) || set_language(r, cx, &s))
        return API_ROLLBACK;
    render_session(r, &s, tok);
    return API_ANSWER;
}

static enum api_result h_authenticate(struct hreq *r, struct core_ctx *cx)
{
    const char *tok, *method = param(r, "method"), *login = param(r, "login");
    const char *pw = param(r, "password");
    struct session s;
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    if (open_session(r, cx, &s, &tok) || move_session(r, cx, &s))
        return API_ROLLBACK;
    if (method && *method) {
        /* A comma list tried in order; tagd knows only "easydb". */
        bool ok = false;
        const char *p = method;
        while (*p && !ok) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            ok = n == 6 && strncmp(p, "easydb", 6) == 0;
            p = c ? c + 1 : p + n;
        }
        if (!ok)
            return fail_code(r, TG_EINVAL, "error.user.authentication_method_not_allowed",
                             "%.200s", method);
    }
    rc = core_session_authenticate(cx, &s, login, pw, &err);
    if (rc == TG_EINVAL)
        return fail_code(r, rc, "error.user.username_or_password_empty", "%s", "");
    if (rc == TG_EAUTH)
        return fail_code(r, rc, "error.user.login_failed", "%s", "");
    if (rc)
        return api_fail(r, rc, &err);
    render_session(r, &s, tok);
    return API_ANSWER;
}

static enum api_result h_deauthenticate(struct hreq *r, struct core_ctx *cx)
{
    const char *tok;
    struct session s;
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    if (open_session(r, cx, &s, &tok))
        return API_ROLLBACK;
    rc = core_session_deauthenticate(cx, &s, &err);
    if (rc)
        return api_fail(r, rc, &err);
    render_session(r, &s, tok);
    return API_ANSWER;
}

/* ---- rendering tags ---- */

static json_t *load_obj(const char *text)
{
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static void raw_json(struct jw *w, struct hreq *r, json_t *v)
{
    if (v == NULL)
        jw_null(w);
    else
        jw_raw(w, json_to_arena(&r->a, v));
}

/* A l10n map; a name with no map is shown as its en-US text. */
static void render_l10n(struct jw *w, const char *l10n, const char *fallback)
{
    json_t *o = load_obj(l10n);
    bool any = o && json_object_size(o) > 0;

    json_decref(o);
    if (any) {
        jw_raw(w, l10n);
        return;
    }
    jw_obj(w);
    if (fallback)
        jw_kstr(w, "en-US", fallback);
    jw_obj_end(w);
}

static json_t *easydb_part(json_t *extra)
{
    json_t *e = extra ? json_object_get(extra, "easydb") : NULL;
    return json_is_object(e) ? e : NULL;
}

static void kstr_from(struct jw *w, json_t *e, const char *k, const char *def)
{
    json_t *v = e ? json_object_get(e, k) : NULL;
    jw_keys(w, k);
    jw_str(w, json_is_string(v) ? json_string_value(v) : def);
}

/* A string attribute easydb does not document as nullable: left out unless it is set. */
static void kopt_str_from(struct jw *w, json_t *e, const char *k)
{
    json_t *v = e ? json_object_get(e, k) : NULL;
    if (json_is_string(v)) {
        jw_keys(w, k);
        jw_str(w, json_string_value(v));
    }
}

static void kbool_from(struct jw *w, json_t *e, const char *k, bool def)
{
    json_t *v = e ? json_object_get(e, k) : NULL;
    jw_keys(w, k);
    jw_bool(w, json_is_boolean(v) ? json_is_true(v) : def);
}

static void render_tag(struct jw *w, struct hreq *r, struct core_ctx *cx, const struct tag *t)
{
    json_t *extra = load_obj(t->extra), *e = easydb_part(extra), *v;
    const char *last = strrchr(t->name, '.');

    jw_obj(w);
    jw_kstr(w, "_basetype", "tag");
    jw_key(w, "tag");
    jw_obj(w);
    jw_kint(w, "_id", t->id);
    kstr_from(w, e, "type", "individual");
    jw_key(w, "displayname");
    render_l10n(w, t->l10n, t->display_name ? t->display_name : last ? last + 1 : t->name);
    /* The easydb map is shown while it still agrees with the tag's description, which other
     * dialects may have changed since. */
    jw_key(w, "description");
    v = e ? json_object_get(e, "description") : NULL;
    if (json_is_object(v) && t->description) {
        const char *m = json_to_arena(&r->a, v), *pick = core_l10n_pick(cx, m);
        if (pick && strcmp(pick, t->description) == 0)
            jw_raw(w, m);
        else
            render_l10n(w, NULL, t->description);
    } else {
        render_l10n(w, NULL, t->description);
    }
    kstr_from(w, e, "displaytype", "facet");
    kbool_from(w, e, "enabled", true);
    kbool_from(w, e, "sticky", false);
    kbool_from(w, e, "is_default", false);
    jw_key(w, "frontend_prefs");
    v = e ? json_object_get(e, "frontend_prefs") : NULL;
    raw_json(w, r, json_is_object(v) ? v : NULL);
    kopt_str_from(w, e, "reference");
    kopt_str_from(w, e, "shortname");
    jw_obj_end(w);
    jw_key(w, "_acl");
    v = extra ? json_object_get(extra, "acl") : NULL;
    if (json_is_array(v))
        raw_json(w, r, v);
    else
        jw_raw(w, "[]");
    jw_obj_end(w);
    json_decref(extra);
}

static int render_groups(struct hreq *r, struct core_ctx *cx, struct tg_err *err)
{
    struct group *g;
    size_t n;
    struct jw w;
    int rc = core_group_list(cx, &g, &n, err);

    if (rc)
        return rc;
    api_json_begin(r, 200, &w);
    easydb_headers(r);
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        json_t *extra = load_obj(g[i].extra), *e = easydb_part(extra);
        struct tag *t;
        size_t nt;
        rc = core_group_tags(cx, g[i].id, &t, &nt, err);
        if (rc) {
            json_decref(extra);
            return rc;
        }
        jw_obj(&w);
        jw_kstr(&w, "_basetype", "taggroup");
        jw_key(&w, "taggroup");
        jw_obj(&w);
        jw_kint(&w, "_id", g[i].id);
        jw_kstr(&w, "type", g[i].exclusive ? "choice" : "checkbox");
        jw_key(&w, "displayname");
        render_l10n(&w, g[i].l10n, g[i].name);
        kopt_str_from(&w, e, "reference");
        kopt_str_from(&w, e, "shortname");
        jw_obj_end(&w);
        jw_key(&w, "_tags");
        jw_arr(&w);
        for (size_t j = 0; j < nt; j++)
            render_tag(&w, r, cx, &t[j]);
        jw_arr_end(&w);
        jw_obj_end(&w);
        json_decref(extra);
    }
    jw_arr_end(&w);
    return 0;
}

/* Opens the session and checks it is authenticated (and has `need`); renders the error. */
static int tags_auth(struct hreq *r, struct core_ctx *cx, unsigned need)
{
    struct tg_err err;
    struct session s;
    int rc;

    tg_err_clear(&err);
    /* An unknown or expired token is the same as none: the session is not authenticated. */
    rc = core_session_open(cx, session_token(r), &s, &err);
    if (rc && rc != TG_ENOTFOUND) {
        api_fail(r, rc, &err);
        return -1;
    }
    if (rc == TG_ENOTFOUND || !cx->authed) {
        fail_code(r, TG_EAUTH, "error.user.not_authenticated", "%s", "");
        return -1;
    }
    rc = core_require(cx, need, &err);
    if (rc) {
        fail_code(r, rc, "error.user.no_system_right", "%s", TAGMANAGER);
        return -1;
    }
    return ratelimit_take(r, cx);
}

static enum api_result h_tags_get(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    if (tags_auth(r, cx, 0))
        return API_ROLLBACK;
    rc = render_groups(r, cx, &err);
    if (rc)
        return api_fail(r, rc, &err);
    return API_ANSWER;
}

/* ---- parsing the replace ---- */

struct parse {
    struct hreq *r;
    struct core_ctx *cx;
    const char *where; /* path of the item being parsed, for descriptions */
    /* references of the current groups and tags, for lookup:_id */
    struct group *groups;
    size_t ngroups;
    struct tag **tags;
    size_t *ntags;
    bool loaded;
};

static int bad(struct parse *p, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct parse *p, const char *ecode, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fail_code(p->r, TG_EINVAL, ecode, "%s", msg);
    return -1;
}

static int type_mismatch(struct parse *p, const char *key, const char *want)
{
    fail_code(p->r, TG_EINVAL, "error.api.type_mismatch", "%s.%s must be %s", p->where, key,
              want);
    return -1;
}

/* Optional string or null. */
static int opt_str(struct parse *p, json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return type_mismatch(p, key, "a string or null");
    if (!json_is_string(v) || json_string_length(v) > 1024 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return bad(p, "error.api.invalid_value", "%s.%s is not a valid string", p->where, key);
    *out = json_string_value(v);
    return 0;
}

static int opt_bool(struct parse *p, json_t *o, const char *key, bool def, bool *out)
{
    json_t *v = json_object_get(o, key);
    *out = def;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return type_mismatch(p, key, "a boolean");
    *out = json_is_true(v);
    return 0;
}

/* A l10n map: object of string or null; returned as sorted compact text, NULL when absent. */
static int opt_l10n(struct parse *p, json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key), *x;
    const char *k;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return type_mismatch(p, key, "an object of language to text");
    json_object_foreach(v, k, x)
    {
        if (!json_is_string(x) && !json_is_null(x))
            return type_mismatch(p, key, "an object of language to text");
    }
    *out = json_to_arena(&p->r->a, v);
    return 0;
}

static int load_refs(struct parse *p)
{
    struct tg_err err;
    int rc;

    if (p->loaded)
        return 0;
    tg_err_clear(&err);
    rc = core_group_list(p->cx, &p->groups, &p->ngroups, &err);
    if (rc == 0) {
        p->tags = arena_zalloc(&p->r->a, (p->ngroups + 1) * sizeof(*p->tags));
        p->ntags = arena_zalloc(&p->r->a, (p->ngroups + 1) * sizeof(*p->ntags));
        for (size_t i = 0; i < p->ngroups && rc == 0; i++)
            rc = core_group_tags(p->cx, p->groups[i].id, &p->tags[i], &p->ntags[i], &err);
    }
    if (rc) {
        api_fail(p->r, rc, &err);
        return -1;
    }
    p->loaded = true;
    return 0;
}

static bool ref_is(const char *extra, const char *ref)
{
    json_t *o = load_obj(extra), *e = easydb_part(o), *v = e ? json_object_get(e, "reference") : NULL;
    bool yes = json_is_string(v) && strcmp(json_string_value(v), ref) == 0;
    json_decref(o);
    return yes;
}

/* _id (integer > 0 or null) or lookup:_id {"reference": "..."} (E8). */
static int parse_id(struct parse *p, json_t *o, bool tag, int64_t *id)
{
    json_t *v = json_object_get(o, "_id"), *l = json_object_get(o, "lookup:_id"), *ref;
    const char *want;

    *id = 0;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            return type_mismatch(p, "_id", "an integer or null");
        if (json_integer_value(v) <= 0) {
            fail_code(p->r, TG_ENOTFOUND, "error.user.tag_not_found", "%lld",
                      (long long)json_integer_value(v));
            return -1;
        }
        *id = json_integer_value(v);
        return 0;
    }
    if (l == NULL || json_is_null(l))
        return 0;
    ref = json_object_get(l, "reference");
    if (!json_is_object(l) || !json_is_string(ref))
        return type_mismatch(p, "lookup:_id", "an object with a string reference");
    want = json_string_value(ref);
    if (load_refs(p))
        return -1;
    for (size_t i = 0; i < p->ngroups && *id == 0; i++) {
        if (!tag && ref_is(p->groups[i].extra, want))
            *id = p->groups[i].id;
        for (size_t j = 0; tag && j < p->ntags[i] && *id == 0; j++)
            if (ref_is(p->tags[i][j].extra, want))
                *id = p->tags[i][j].id;
    }
    if (*id == 0) {
        fail_code(p->r, TG_ENOTFOUND, "error.user.tag_not_found", "%.200s", want);
        return -1;
    }
    return 0;
}

static int check_basetype(struct parse *p, json_t *o, const char *want)
{
    json_t *v = json_object_get(o, "_basetype");
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return type_mismatch(p, "_basetype", "a string");
    if (strcmp(json_string_value(v), want) != 0)
        return bad(p, "error.api.invalid_value", "%s._basetype must be \"%s\"", p->where, want);
    return 0;
}

static int parse_tag(struct parse *p, json_t *item, struct replace_tag *t)
{
    json_t *o, *acl, *x, *e, *fp;
    const char *type, *displaytype, *description;
    bool enabled, sticky;
    size_t i;

    if (!json_is_object(item))
        return type_mismatch(p, "", "an object");
    if (check_basetype(p, item, "tag"))
        return -1;
    o = json_object_get(item, "tag");
    if (o == NULL)
        return bad(p, "error.api.attribute_expected", "%s.%s is missing", p->where, "tag");
    if (!json_is_object(o))
        return type_mismatch(p, "tag", "an object");
    acl = json_object_get(item, "_acl");
    if (acl && !json_is_null(acl)) {
        if (!json_is_array(acl))
            return type_mismatch(p, "_acl", "an array");
        json_array_foreach(acl, i, x)
        {
            if (!json_is_object(x))
                return type_mismatch(p, "_acl[]", "an object");
        }
    }
    if (parse_id(p, o, true, &t->id) || opt_str(p, o, "type", &type) ||
        opt_str(p, o, "displaytype", &displaytype) || opt_bool(p, o, "enabled", true, &enabled) ||
        opt_bool(p, o, "sticky", false, &sticky) ||
        opt_bool(p, o, "is_default", false, &t->is_default) ||
        opt_l10n(p, o, "displayname", &t->l10n) || opt_l10n(p, o, "description", &description) ||
        opt_str(p, o, "reference", &t->reference) || opt_str(p, o, "shortname", &t->shortname))
        return -1;
    if (type && strcmp(type, "individual") != 0 && strcmp(type, "all_versions") != 0)
        return bad(p, "error.api.invalid_value", "%s.tag.type must be %s", p->where,
                   "\"individual\" or \"all_versions\"");
    fp = json_object_get(o, "frontend_prefs");
    if (fp && !json_is_null(fp) && !json_is_object(fp))
        return type_mismatch(p, "frontend_prefs", "an object or null");
    t->description = description ? core_l10n_pick(p->cx, description) : NULL;
    /* GET shows a missing description as {}; posting that back is no description. */
    if (t->description == NULL)
        description = NULL;
    e = json_object();
    json_object_set_new(e, "type", json_string(type ? type : "individual"));
    json_object_set_new(e, "displaytype", json_string(displaytype ? displaytype : "facet"));
    json_object_set_new(e, "enabled", json_boolean(enabled));
    json_object_set_new(e, "sticky", json_boolean(sticky));
    json_object_set_new(e, "is_default", json_boolean(t->is_default));
    json_object_set_new(e, "frontend_prefs", fp && json_is_object(fp) ? json_deep_copy(fp)
                                                                       : json_null());
    json_object_set_new(e, "reference", t->reference ? json_string(t->reference) : json_null());
    json_object_set_new(e, "shortname", t->shortname ? json_string(t->shortname) : json_null());
    if (description)
        json_object_set_new(e, "description", json_loads(description, 0, NULL));
    x = json_object();
    json_object_set_new(x, "easydb", e);
    json_object_set_new(x, "acl", acl && json_is_array(acl) ? json_deep_copy(acl) : json_array());
    t->extra = json_to_arena(&p->r->a, x);
    json_decref(x);
    return 0;
}

static int parse_group(struct parse *p, json_t *item, struct replace_group *g, size_t gi)
{
    json_t *o, *tags, *x, *e;
    const char *type;
    size_t i;

    p->where = arena_printf(&p->r->a, "[%zu]", gi);
    if (!json_is_object(item))
        return type_mismatch(p, "", "an object");
    if (check_basetype(p, item, "taggroup"))
        return -1;
    o = json_object_get(item, "taggroup");
    if (o == NULL)
        return bad(p, "error.api.attribute_expected", "%s.%s is missing", p->where, "taggroup");
    if (!json_is_object(o))
        return type_mismatch(p, "taggroup", "an object");
    if (parse_id(p, o, false, &g->id) || opt_str(p, o, "type", &type) ||
        opt_l10n(p, o, "displayname", &g->l10n) || opt_str(p, o, "reference", &g->reference) ||
        opt_str(p, o, "shortname", &g->shortname))
        return -1;
    if (type && strcmp(type, "checkbox") != 0 && strcmp(type, "choice") != 0)
        return bad(p, "error.api.invalid_value", "%s.taggroup.type must be %s", p->where,
                   "\"checkbox\" or \"choice\"");
    g->exclusive = type && strcmp(type, "choice") == 0;
    e = json_object();
    json_object_set_new(e, "reference", g->reference ? json_string(g->reference) : json_null());
    json_object_set_new(e, "shortname", g->shortname ? json_string(g->shortname) : json_null());
    x = json_object();
    json_object_set_new(x, "easydb", e);
    g->extra = json_to_arena(&p->r->a, x);
    json_decref(x);
    tags = json_object_get(item, "_tags");
    if (tags == NULL || json_is_null(tags))
        return 0;
    if (!json_is_array(tags))
        return type_mismatch(p, "_tags", "an array");
    g->ntags = json_array_size(tags);
    if (g->ntags > REPLACE_MAX_TAGS) {
        fail_code(p->r, TG_ELIMIT, "error.api.invalid_content", "more than %d tags",
                  REPLACE_MAX_TAGS);
        return -1;
    }
    g->tags = arena_zalloc(&p->r->a, (g->ntags + 1) * sizeof(*g->tags));
    json_array_foreach(tags, i, x)
    {
        p->where = arena_printf(&p->r->a, "[%zu]._tags[%zu]", gi, i);
        if (parse_tag(p, x, &g->tags[i]))
            return -1;
    }
    return 0;
}

/* ---- the replace ---- */

static void render_confirm(struct hreq *r, const struct replace_result *res)
{
    struct jw w;

    api_json_begin(r, 202, &w);
    easydb_headers(r);
    jw_obj(&w);
    jw_key(&w, "tasks");
    jw_arr(&w);
    jw_obj(&w);
    jw_kstr(&w, "title", "Delete tags in use?");
    jw_kstr(&w, "message",
            arena_printf(&r->a,
                         "The tags which are to be deleted are still in use:\n\n"
                         "- %zu Tag(s) on %zu Resource(s)\n\n"
                         "Should the tags automatically be removed and deleted anyways?",
                         res->used_tags, res->assignments));
    jw_key(&w, "buttons");
    jw_arr(&w);
    jw_obj(&w);
    jw_kstr(&w, "text", "Delete tags");
    jw_kstr(&w, "name", "delete_policy");
    jw_kstr(&w, "value", "remove_tags");
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    if (res->need & REPLACE_CONFIRM_REVOKE) {
        jw_obj(&w);
        jw_kstr(&w, "title", "Revoke rights?");
        jw_kstr(&w, "message",
                arena_printf(&r->a,
                             "%zu of the tags to be deleted grant rights through their ACL to "
                             "the resources that carry them. Deleting them revokes those "
                             "rights.",
                             res->grant_tags));
        jw_key(&w, "buttons");
        jw_arr(&w);
        jw_obj(&w);
        jw_kstr(&w, "text", "Remove ACL entries");
        jw_kstr(&w, "name", "collection_rights_policy");
        jw_kstr(&w, "value", "remove_acl");
        jw_obj_end(&w);
        jw_obj(&w);
        jw_kstr(&w, "text", "Remove objects");
        jw_kstr(&w, "name", "collection_rights_policy");
        jw_kstr(&w, "value", "remove_objects");
        jw_obj_end(&w);
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
}

/* easydb's name of a core constraint field ("group.l10n" -> "taggroup.displayname"). */
static const char *constraint_name(struct hreq *r, const char *field)
{
    const char *dot = strchr(field, '.');
    const char *what = dot ? dot + 1 : field;
    const char *who = dot && strncmp(field, "group", 5) == 0 ? "taggroup" : "tag";
    if (strcmp(what, "l10n") == 0)
        what = "displayname";
    return arena_printf(&r->a, "%s.%s", who, what);
}

/* Answers a replace core refused. The one answer that is no error is the 202 that asks the
 * client to confirm what the replace would delete or revoke: what the handler wrote is kept,
 * as it was when the status alone decided. */
static enum api_result replace_fail(struct hreq *r, int rc, const struct tg_err *err,
                                    const struct replace_result *res)
{
    switch (rc) {
    case TG_ECONFIRM:
        render_confirm(r, res);
        return API_ANSWER;
    case TG_ENOTFOUND:
        if (strcmp(err->field, "tag") == 0 || strcmp(err->field, "group") == 0)
            return fail_code(r, rc, "error.user.tag_not_found", "%lld", (long long)res->bad_id);
        break;
    case TG_EINVAL:
        if (strcmp(err->field, "l10n") == 0)
            return fail_code(r, rc, "error.user.not_null_violation", "%s", "displayname");
        return fail_code(r, rc, "error.api.invalid_value", "%s", err->msg);
    case TG_EEXISTS:
    case TG_ERULE:
    case TG_ECONFLICT:
        return fail_code(r, rc, "error.user.integrity_constraint_violation", "%s",
                         constraint_name(r, err->field));
    default:
        break;
    }
    return api_fail(r, rc, err);
}

static enum api_result h_tags_post(struct hreq *r, struct core_ctx *cx)
{
    const char *dp = param(r, "delete_policy"), *crp = param(r, "collection_rights_policy");
    struct replace_result res;
    struct replace_group *groups;
    struct parse p;
    struct tg_err err;
    unsigned confirmed = 0;
    json_t *body, *x;
    size_t n, i;
    int rc;
    enum api_result result = API_ROLLBACK;

    tg_err_clear(&err);
    if (tags_auth(r, cx, RIGHT_WRITE))
        return API_ROLLBACK;
    if (dp) {
        if (strcmp(dp, "remove_tags") != 0)
            return fail_code(r, TG_EINVAL, "error.api.invalid_value",
                             "delete_policy must be \"remove_tags\"");
        confirmed |= REPLACE_CONFIRM_DELETE_USED;
    }
    if (crp) {
        if (strcmp(crp, "remove_acl") != 0 && strcmp(crp, "remove_objects") != 0)
            return fail_code(
                r, TG_EINVAL, "error.api.invalid_value",
                "collection_rights_policy must be \"remove_acl\" or \"remove_objects\"");
        confirmed |= REPLACE_CONFIRM_REVOKE;
    }
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    memset(&p, 0, sizeof(p));
    p.r = r;
    p.cx = cx;
    p.where = "";
    if (!json_is_array(body)) {
        fail_code(r, TG_EINVAL, "error.api.type_mismatch", "the body must be an array of tag groups");
        goto out;
    }
    n = json_array_size(body);
    if (n > (size_t)core_limits.max_batch) {
        fail_code(r, TG_ELIMIT, "error.api.invalid_content", "more than %d tag groups",
                  core_limits.max_batch);
        goto out;
    }
    groups = arena_zalloc(&r->a, (n + 1) * sizeof(*groups));
    json_array_foreach(body, i, x)
    {
        if (parse_group(&p, x, &groups[i], i))
            goto out;
    }
    rc = core_replace(cx, groups, n, confirmed, &res, &err);
    if (rc) {
        result = replace_fail(r, rc, &err, &res);
        goto out;
    }
    rc = render_groups(r, cx, &err);
    result = rc ? api_fail(r, rc, &err) : API_ANSWER;
out:
    json_decref(body);
    return result;
}

#define R(m, p, f, fl) {m, p, f, fl, &easydb_dialect, NULL, NULL}
const struct route easydb_routes[] = {
    /* GET starts a session when no token is given, which writes nothing. */
    R("GET", "/api/v1/session", h_session, 0),
    R("POST", "/api/v1/session/authenticate", h_authenticate, ROUTE_WRITE),
    R("POST", "/api/v1/session/deauthenticate", h_deauthenticate, ROUTE_WRITE),
    R("GET", "/api/v1/tags", h_tags_get, 0),
    R("POST", "/api/v1/tags", h_tags_post, ROUTE_WRITE),
    /* The docs also call the API without "v1" (E4, E5). */
    R("GET", "/api/session", h_session, 0),
    R("POST", "/api/session/authenticate", h_authenticate, ROUTE_WRITE),
    R("POST", "/api/session/deauthenticate", h_deauthenticate, ROUTE_WRITE),
    R("GET", "/api/tags", h_tags_get, 0),
    R("POST", "/api/tags", h_tags_post, ROUTE_WRITE),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
