/* api/native/sessions.c: POST /v1/sessions (sign in with a user's login and password) and
 * DELETE /v1/sessions/current (sign out), for the web console and any client that has a
 * user rather than a token.
 *
 * A session is core's (core/sessions.h, the same rows easydb's sessions are), begun
 * authenticated; its secret is answered once, in the body or, for a browser, only as an
 * HttpOnly cookie that scripts cannot read. Failed sign-ins are limited per client address and
 * per login (api/ratelimit.h) before any password is checked. */
#include <string.h>
#include <strings.h>

#include "api/native/native.h"
#include "api/ratelimit.h"
#include "core/sessions.h"

/* Whether the browser reached tagd over TLS: tagd has none itself, so only a proxy that says
 * so (X-Forwarded-Proto) or a page of an https origin tells. Trusting either can only make the
 * cookie stricter: a client that lies about it loses its own cookie. */
static bool over_tls(struct hreq *r)
{
    const char *proto = api_header(r, "x-forwarded-proto");
    const char *origin = api_header(r, "origin");

    return (proto && strcasecmp(proto, "https") == 0) ||
           (origin && strncasecmp(origin, "https://", 8) == 0);
}

static void set_cookie(struct hreq *r, const char *value, int64_t max_age_s)
{
    api_set_header(r, "Set-Cookie",
                   arena_printf(&r->a, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
                                NATIVE_SESSION_COOKIE, value, (long long)max_age_s,
                                over_tls(r) ? "; Secure" : ""));
}

/* `organization`: "org_N", N, or absent (0: the installation's default). 0 or -1. */
static int org_field(struct hreq *r, json_t *v, int64_t *org_id)
{
    *org_id = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        *org_id = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && core_parse_id(json_string_value(v), "org_", org_id))
        return 0;
    api_failf(r, TG_EINVAL, "organization", "'organization' must look like org_1");
    return -1;
}

enum api_result native_sessions_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"login", "password", "organization", "cookie", NULL};
    const char *login, *password, *secret;
    enum api_result result = API_ROLLBACK;
    json_t *body, *jl, *jp, *jc;
    struct session s;
    struct tg_err err;
    int64_t org_id;
    struct jw w;
    bool cookie;
    int rc;

    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (native_only_fields(r, body, fields))
        goto out;
    jl = json_object_get(body, "login");
    jp = json_object_get(body, "password");
    jc = json_object_get(body, "cookie");
    if (!json_is_string(jl) || !json_is_string(jp)) {
        api_failf(r, TG_EINVAL, json_is_string(jl) ? "password" : "login",
                  "'login' and 'password' are required strings");
        goto out;
    }
    if (jc && !json_is_boolean(jc)) {
        api_failf(r, TG_EINVAL, "cookie", "'cookie' must be true or false");
        goto out;
    }
    cookie = json_is_true(jc);
    if (org_field(r, json_object_get(body, "organization"), &org_id))
        goto out;
    login = arena_strdup(&r->a, json_string_value(jl));
    password = json_string_value(jp);
    if (strlen(login) > 256 || strlen(password) > 1024) {
        api_failf(r, TG_EINVAL, "login", "login or password is too long");
        goto out;
    }
    if (ratelimit_login_check(r, login))
        goto out;
    tg_err_clear(&err);
    rc = core_session_login(cx, org_id, login, password, &secret, &s, &err);
    if (rc == TG_EAUTH || (rc == TG_ENOTFOUND && strcmp(err.field, "organization") == 0)) {
        ratelimit_login_failed(r, login);
        if (rc == TG_ENOTFOUND)
            rc = tg_err_set(&err, TG_EINVAL, "organization", "organization not found");
    }
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_set_header(r, "Cache-Control", "no-store");
    if (cookie)
        set_cookie(r, secret, (s.expires_at - cx->now) / 1000);
    api_json_begin(r, 201, &w);
    jw_obj(&w);
    /* In a cookie only, the secret stays out of reach of the page's scripts. */
    if (!cookie)
        jw_kstr(&w, "token", secret);
    jw_kstr(&w, "token_id", arena_printf(&r->a, "tok_%lld", (long long)s.id));
    jw_kstr(&w, "principal", s.login);
    jw_key(&w, "rights");
    jw_arr(&w);
    for (int i = 0; core_right_name(i); i++)
        if (s.rights & (1u << i))
            jw_str(&w, core_right_name(i));
    jw_arr_end(&w);
    jw_kstr(&w, "organization_id", arena_printf(&r->a, "org_%lld", (long long)cx->org_id));
    api_kiso(&w, "expires_at", s.expires_at);
    jw_obj_end(&w);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

enum api_result native_session_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int rc;

    if (api_native_auth(r, cx, 0))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_session_end(cx, &err);
    if (rc)
        return api_fail(r, rc, &err);
    /* The browser forgets the cookie too (the session is gone either way). */
    if (api_cookie(r, NATIVE_SESSION_COOKIE))
        set_cookie(r, "", 0);
    api_no_content(r);
    return API_ANSWER;
}
