/* core/sessions.c: login sessions kept as hashed rows of `tokens` (see sessions.h). */
#include "core/sessions.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "util/jw.h"
#include "util/secret.h"

#define DEFAULT_LANGUAGE "en-US"

bool core_session_language_ok(const char *l)
{
    return l && strlen(l) == 5 && l[0] >= 'a' && l[0] <= 'z' && l[1] >= 'a' && l[1] <= 'z' &&
           l[2] == '-' && l[3] >= 'A' && l[3] <= 'Z' && l[4] >= 'A' && l[4] <= 'Z';
}

static const char *session_extra(struct core_ctx *ctx, const struct session *s)
{
    struct sbuf b;
    struct jw w;
    const char *out;

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "language", s->language);
    if (s->user_id) {
        jw_kstr(&w, "method", s->method);
        jw_kint(&w, "authenticated_at", s->authenticated_at);
    }
    jw_obj_end(&w);
    out = arena_strndup(ctx->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return out;
}

static void parse_extra(struct core_ctx *ctx, const char *extra, struct session *s)
{
    json_t *o = extra ? json_loads(extra, 0, NULL) : NULL;
    json_t *v;

    s->language = DEFAULT_LANGUAGE;
    if (o == NULL)
        return;
    v = json_object_get(o, "language");
    if (json_is_string(v) && core_session_language_ok(json_string_value(v)))
        s->language = core_strdup(ctx, json_string_value(v));
    v = json_object_get(o, "method");
    if (json_is_string(v))
        s->method = core_strdup(ctx, json_string_value(v));
    v = json_object_get(o, "authenticated_at");
    if (json_is_integer(v))
        s->authenticated_at = json_integer_value(v);
    json_decref(o);
}

static int write_session(struct core_ctx *ctx, const struct session *s, int64_t org_id,
                         struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_EASYDB_SESSION_SET, err);

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, s->id);
    if (s->user_id)
        st_int(st, 2, s->user_id);
    st_text(st, 3, session_extra(ctx, s));
    st_int(st, 4, ctx->now);
    st_int(st, 5, org_id);
    return st_exec(st, err);
}

static int default_org(struct core_ctx *ctx, int64_t *org_id, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_META_GET, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, "default_org");
    rc = st_step(st, err);
    if (rc == 1)
        *org_id = strtoll(col_text(st, 0), NULL, 10);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_EINTERNAL, "", "no default organization");
    return rc < 0 ? rc : 0;
}

static int use_org(struct core_ctx *ctx, int64_t org_id, struct tg_err *err)
{
    struct org o;
    int rc = core_org_get(ctx, org_id, &o, err);

    if (rc)
        return rc;
    ctx->org_id = o.id;
    ctx->ws_id = o.default_ws_id;
    return 0;
}

int core_session_create(struct core_ctx *ctx, int64_t org_id, const char *language,
                        const char **secret, struct session *out, struct tg_err *err)
{
    struct store_stmt *st;
    struct session s;
    struct token k;
    int rc;

    if (language && !core_session_language_ok(language))
        return tg_err_set(err, TG_EINVAL, "language", "language '%.40s' not found", language);
    rc = org_id ? 0 : default_org(ctx, &org_id, err);
    if (rc == 0)
        rc = use_org(ctx, org_id, err);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "organization", "organization not found");
    if (rc)
        return rc;
    /* Expired sessions are useless rows; starting a new one sweeps them. */
    st = st_get(ctx->conn, SQL_EASYDB_SESSION_PURGE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, org_id);
    st_int(st, 2, ctx->now);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    memset(&s, 0, sizeof(s));
    s.language = language ? core_strdup(ctx, language) : DEFAULT_LANGUAGE;
    rc = core_token_create(ctx, org_id, "session", "session", 0, 0, 0,
                           ctx->now + core_limits.session_ttl_ms, session_extra(ctx, &s), secret,
                           &k, err);
    if (rc)
        return rc;
    s.id = k.id;
    s.created_at = k.created_at;
    s.expires_at = k.expires_at;
    *out = s;
    return 0;
}

/* Fills the user part of an authenticated session; false when the user is gone or disabled. */
static bool load_user(struct core_ctx *ctx, struct session *s, struct tg_err *err, int *rc)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_EASYDB_USER_BY_ID, err);
    bool ok = false;

    *rc = 0;
    if (st == NULL) {
        *rc = TG_EINTERNAL;
        return false;
    }
    st_int(st, 1, s->user_id);
    *rc = st_step(st, err);
    if (*rc == 1) {
        s->login = col_dup(ctx, st, 0);
        core_rights_parse(col_text(st, 1), &s->rights, NULL);
        ok = col_int(st, 2) == 0;
        s->display_name = col_dup(ctx, st, 3);
        *rc = 0;
    }
    st_reset(st);
    return ok;
}

int core_session_open(struct core_ctx *ctx, const char *secret, struct session *out,
                      struct tg_err *err)
{
    char hash[SECRET_HASH_HEX];
    struct store_stmt *st;
    struct session s;
    struct token k;
    int rc;

    if (secret == NULL || *secret == '\0' || strlen(secret) > 256)
        return tg_err_set(err, TG_ENOTFOUND, "session", "session not found");
    secret_hash(secret, strlen(secret), hash);
    st = st_get(ctx->conn, SQL_TOKEN_BY_HASH, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, hash);
    rc = st_step(st, err);
    if (rc == 1)
        row_token(ctx, st, 0, &k);
    st_reset(st);
    if (rc < 0)
        return rc;
    if (rc == 0 || strcmp(k.kind, "session") != 0 || k.revoked_at ||
        (k.expires_at && k.expires_at <= ctx->now))
        return tg_err_set(err, TG_ENOTFOUND, "session", "session not found");
    rc = use_org(ctx, k.org_id, err);
    if (rc)
        return rc == TG_ENOTFOUND ? tg_err_set(err, TG_ENOTFOUND, "session", "session not found")
                                  : rc;
    memset(&s, 0, sizeof(s));
    s.id = k.id;
    s.user_id = k.user_id;
    s.created_at = k.created_at;
    s.expires_at = k.expires_at;
    parse_extra(ctx, k.extra, &s);
    if (s.user_id && !load_user(ctx, &s, err, &rc)) {
        if (rc < 0)
            return rc;
        /* The user was deleted or disabled: the session is no longer authenticated. */
        s.user_id = 0;
        s.login = NULL;
        s.rights = 0;
    }
    if (s.user_id == 0) {
        s.method = NULL;
        s.authenticated_at = 0;
    }
    ctx->authed = s.user_id != 0;
    memset(&ctx->who, 0, sizeof(ctx->who));
    ctx->who.token_id = k.id;
    ctx->who.org_id = ctx->org_id;
    ctx->who.ws_id = ctx->ws_id;
    ctx->who.kind = "session";
    ctx->who.expires_at = k.expires_at;
    ctx->who.extra = k.extra;
    if (ctx->authed) {
        ctx->who.user_id = s.user_id;
        ctx->who.rights = s.rights;
        ctx->who.name = s.login;
    }
    *out = s;
    return 0;
}

int core_session_move(struct core_ctx *ctx, struct session *s, int64_t org_id,
                      struct tg_err *err)
{
    struct session next = *s;
    int rc;

    if (org_id == ctx->org_id)
        return 0;
    rc = use_org(ctx, org_id, err);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ENOTFOUND, "organization", "organization not found");
    if (rc)
        return rc;
    /* A user belongs to one organization: the session leaves it. */
    next.user_id = 0;
    next.login = NULL;
    next.display_name = NULL;
    next.rights = 0;
    next.method = NULL;
    next.authenticated_at = 0;
    rc = write_session(ctx, &next, org_id, err);
    if (rc)
        return rc;
    ctx->authed = false;
    memset(&ctx->who, 0, sizeof(ctx->who));
    ctx->who.token_id = s->id;
    ctx->who.org_id = ctx->org_id;
    ctx->who.ws_id = ctx->ws_id;
    ctx->who.kind = "session";
    ctx->who.expires_at = s->expires_at;
    *s = next;
    return 0;
}

int core_session_set_language(struct core_ctx *ctx, struct session *s, const char *language,
                              struct tg_err *err)
{
    if (!core_session_language_ok(language))
        return tg_err_set(err, TG_EINVAL, "language", "language '%.40s' not found", language);
    if (strcmp(language, s->language) == 0)
        return 0;
    s->language = core_strdup(ctx, language);
    return write_session(ctx, s, ctx->org_id, err);
}

int core_session_authenticate(struct core_ctx *ctx, struct session *s, const char *login,
                              const char *password, struct tg_err *err)
{
    struct session next = *s;
    struct user u;
    int rc;

    if (login == NULL || *login == '\0' || password == NULL || *password == '\0')
        return tg_err_set(err, TG_EINVAL, "login", "login or password is empty");
    rc = core_user_check(ctx, login, password, &u, err);
    if (rc)
        return rc;
    next.user_id = u.id;
    next.method = "easydb";
    next.authenticated_at = ctx->now;
    rc = write_session(ctx, &next, u.org_id, err);
    if (rc)
        return rc;
    rc = use_org(ctx, u.org_id, err);
    if (rc)
        return rc;
    if (!load_user(ctx, &next, err, &rc))
        return rc ? rc : tg_err_set(err, TG_EAUTH, "login", "wrong login or password");
    ctx->authed = true;
    ctx->who.user_id = u.id;
    ctx->who.org_id = ctx->org_id;
    ctx->who.ws_id = ctx->ws_id;
    ctx->who.rights = next.rights;
    ctx->who.name = next.login;
    *s = next;
    return 0;
}

int core_session_deauthenticate(struct core_ctx *ctx, struct session *s, struct tg_err *err)
{
    struct session next = *s;
    int rc;

    if (s->user_id == 0)
        return 0;
    next.user_id = 0;
    next.login = NULL;
    next.display_name = NULL;
    next.rights = 0;
    next.method = NULL;
    next.authenticated_at = 0;
    rc = write_session(ctx, &next, ctx->org_id, err);
    if (rc)
        return rc;
    ctx->authed = false;
    ctx->who.user_id = 0;
    ctx->who.rights = 0;
    ctx->who.name = NULL;
    *s = next;
    return 0;
}
