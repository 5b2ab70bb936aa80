/* core/sessions.c: login sessions: signed values until they need state, then hashed rows of
 * `tokens` (see sessions.h). */
#include "core/sessions.h"

#include <assert.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "util/jw.h"
#include "util/secret.h"

#define DEFAULT_LANGUAGE "en-US"
#define SESSION_NATIVE "native" /* the method of sessions begun by POST /v1/sessions */

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

/* The layout of a signed session: bumping it refuses the values handed out before. */
#define SIGNED_VERSION 1
#define SIGNED_PREFIX "tgd_" /* like every tagd secret, for secret scanners */
#define SIGNED_NONCE 12
/* version, org, created, expires (big-endian int64), language ("de-DE"), a random nonce that
 * makes every session's value (and so the hash its row will have) unique. */
#define SIGNED_LEN (1 + 3 * 8 + 5 + SIGNED_NONCE)

static void put64(unsigned char *p, int64_t v)
{
    for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
        p[i] = (unsigned char)(v & 0xff);
}

static int64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

/* The store's session key (core_bootstrap makes it), into `key`. */
static int session_key(struct core_ctx *ctx, char key[SECRET_KEY_HEX], struct tg_err *err)
{
    int rc = core__meta_get(ctx->conn, "session_key", key, SECRET_KEY_HEX);

    if (rc < 0)
        return tg_err_set(err, TG_EBUSY, "store", "the store cannot be read");
    if (rc == 0)
        return tg_err_set(err, TG_EINTERNAL, "", "no session key: the store was not bootstrapped");
    return 0;
}

/* The signed value of an unstored session of organization `org_id`. */
static int sign_session(struct core_ctx *ctx, int64_t org_id, const struct session *s,
                        const char **secret, struct tg_err *err)
{
    unsigned char m[SIGNED_LEN];
    char key[SECRET_KEY_HEX], out[256];
    int rc = session_key(ctx, key, err);

    if (rc)
        return rc;
    assert(strlen(s->language) == 5);
    m[0] = SIGNED_VERSION;
    put64(m + 1, org_id);
    put64(m + 9, s->created_at);
    put64(m + 17, s->expires_at);
    memcpy(m + 25, s->language, 5);
    randombytes_buf(m + 30, SIGNED_NONCE);
    rc = secret_sign(key, m, sizeof(m), SIGNED_PREFIX, out, sizeof(out));
    sodium_memzero(key, sizeof(key));
    if (rc)
        return tg_err_set(err, TG_EINTERNAL, "", "cannot sign the session");
    *secret = core_strdup(ctx, out);
    return 0;
}

/* Reads a signed session; false when `secret` is not one of this store's, or has expired. */
static bool open_signed(struct core_ctx *ctx, const char *secret, int64_t *org_id,
                        struct session *s, struct tg_err *err, int *rc)
{
    unsigned char m[SIGNED_LEN];
    char key[SECRET_KEY_HEX], lang[6];
    bool ok;

    *rc = 0;
    if (strncmp(secret, SIGNED_PREFIX, strlen(SIGNED_PREFIX)) != 0)
        return false;
    *rc = session_key(ctx, key, err);
    if (*rc)
        return false;
    ok = secret_verify(key, secret, SIGNED_PREFIX, m, sizeof(m));
    sodium_memzero(key, sizeof(key));
    if (!ok || m[0] != SIGNED_VERSION)
        return false;
    memcpy(lang, m + 25, 5);
    lang[5] = '\0';
    if (!core_session_language_ok(lang))
        return false;
    memset(s, 0, sizeof(*s));
    *org_id = get64(m + 1);
    s->created_at = get64(m + 9);
    s->expires_at = get64(m + 17);
    s->language = core_strdup(ctx, lang);
    s->pending = core_strdup(ctx, secret);
    return s->expires_at > ctx->now;
}

/* Stores the session's state; a session that has no row yet gets one, under the hash of the
 * value it was handed out as, so that value keeps working. */
static int write_session(struct core_ctx *ctx, struct session *s, int64_t org_id,
                         struct tg_err *err)
{
    struct store_stmt *st;
    int rc;

    assert(ctx->writing);
    if (s->id == 0) {
        char hash[SECRET_HASH_HEX];

        assert(s->pending != NULL);
        /* Expired sessions are useless rows; storing a new one sweeps them. */
        st = st_get(ctx->conn, SQL_SESSION_PURGE, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, org_id);
        st_int(st, 2, ctx->now);
        rc = st_exec(st, err);
        if (rc)
            return rc;
        secret_hash(s->pending, strlen(s->pending), hash);
        st = st_get(ctx->conn, SQL_TOKEN_INSERT, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, org_id);
        st_text(st, 2, "session");
        st_text(st, 3, "session");
        st_text(st, 4, hash);
        st_text(st, 5, core_rights_str(ctx->a, 0));
        if (s->user_id)
            st_int(st, 6, s->user_id);
        st_text(st, 8, session_extra(ctx, s));
        st_int(st, 9, s->created_at);
        st_int(st, 10, s->expires_at);
        rc = st_step(st, err);
        if (rc != 1)
            return rc < 0 ? rc : TG_EINTERNAL;
        s->id = col_int(st, 0);
        st_reset(st);
        s->pending = NULL;
        return 0;
    }
    st = st_get(ctx->conn, SQL_SESSION_SET, err);
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
    char buf[32];
    int rc = core__meta_get(ctx->conn, "default_org", buf, sizeof(buf));

    if (rc < 0)
        return tg_err_set(err, TG_EBUSY, "store", "the store cannot be read");
    if (rc == 0)
        return tg_err_set(err, TG_EINTERNAL, "", "no default organization");
    *org_id = strtoll(buf, NULL, 10);
    return 0;
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
    struct session s;
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
    memset(&s, 0, sizeof(s));
    s.language = language ? core_strdup(ctx, language) : DEFAULT_LANGUAGE;
    s.created_at = ctx->now;
    s.expires_at = ctx->now + core_limits.session_ttl_ms;
    rc = sign_session(ctx, org_id, &s, secret, err);
    if (rc)
        return rc;
    s.pending = *secret;
    *out = s;
    return 0;
}

/* Fills the user part of an authenticated session; false when the user is gone or disabled. */
static bool load_user(struct core_ctx *ctx, struct session *s, struct tg_err *err, int *rc)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_SESSION_USER_BY_ID, err);
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
        s->assign = col_dup(ctx, st, 4);
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
    if (rc == 0) {
        /* Not stored: a session nobody has authenticated or changed yet, if signed here. */
        int64_t org_id = 0;
        if (!open_signed(ctx, secret, &org_id, &s, err, &rc))
            return rc ? rc : tg_err_set(err, TG_ENOTFOUND, "session", "session not found");
        memset(&k, 0, sizeof(k));
        k.org_id = org_id;
        k.expires_at = s.expires_at;
        k.extra = NULL;
    } else if (strcmp(k.kind, "session") != 0 || k.revoked_at ||
               (k.expires_at && k.expires_at <= ctx->now)) {
        return tg_err_set(err, TG_ENOTFOUND, "session", "session not found");
    } else {
        memset(&s, 0, sizeof(s));
        s.id = k.id;
        s.user_id = k.user_id;
        s.created_at = k.created_at;
        s.expires_at = k.expires_at;
        parse_extra(ctx, k.extra, &s);
    }
    rc = use_org(ctx, k.org_id, err);
    if (rc)
        return rc == TG_ENOTFOUND ? tg_err_set(err, TG_ENOTFOUND, "session", "session not found")
                                  : rc;
    if (s.user_id && !load_user(ctx, &s, err, &rc)) {
        if (rc < 0)
            return rc;
        /* The user was deleted or disabled: the session is no longer authenticated. */
        s.user_id = 0;
        s.login = NULL;
        s.rights = 0;
        s.assign = NULL;
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
        ctx->who.assign = s.assign;
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
    next.assign = NULL;
    next.method = NULL;
    next.authenticated_at = 0;
    rc = write_session(ctx, &next, org_id, err);
    if (rc)
        return rc;
    ctx->authed = false;
    memset(&ctx->who, 0, sizeof(ctx->who));
    ctx->who.token_id = next.id;
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

/* Authenticates `s` with `method` ("easydb" or "native"): the one place a session binds a
 * user, whichever API asked. */
static int session_authenticate(struct core_ctx *ctx, struct session *s, const char *login,
                                const char *password, const char *method, struct tg_err *err)
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
    next.method = method;
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
    ctx->who.token_id = next.id; /* a session stored just now had none */
    ctx->who.user_id = u.id;
    ctx->who.org_id = ctx->org_id;
    ctx->who.ws_id = ctx->ws_id;
    ctx->who.rights = next.rights;
    ctx->who.assign = next.assign;
    ctx->who.name = next.login;
    ctx->who.kind = "session";
    ctx->who.expires_at = next.expires_at;
    *s = next;
    return 0;
}

int core_session_authenticate(struct core_ctx *ctx, struct session *s, const char *login,
                              const char *password, struct tg_err *err)
{
    return session_authenticate(ctx, s, login, password, "easydb", err);
}

int core_session_login(struct core_ctx *ctx, int64_t org_id, const char *login,
                       const char *password, const char **secret, struct session *out,
                       struct tg_err *err)
{
    struct session s;
    int rc;

    assert(ctx->writing);
    if (login == NULL || *login == '\0' || password == NULL || *password == '\0')
        return tg_err_set(err, TG_EINVAL, "login", "login or password is empty");
    rc = core_session_create(ctx, org_id, NULL, secret, &s, err);
    if (rc)
        return rc;
    rc = session_authenticate(ctx, &s, login, password, SESSION_NATIVE, err);
    if (rc)
        return rc;
    *out = s;
    return 0;
}

int core_session_end(struct core_ctx *ctx, struct tg_err *err)
{
    struct store_stmt *st;

    assert(ctx->writing);
    if (!ctx->authed || ctx->who.kind == NULL || strcmp(ctx->who.kind, "session") != 0 ||
        ctx->who.token_id <= 0)
        return tg_err_set(err, TG_EINVAL, "Authorization", "the request was not made with a session");
    st = st_get(ctx->conn, SQL_TOKEN_REVOKE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->who.token_id);
    st_int(st, 2, ctx->now);
    return st_exec(st, err);
}

int core__session_principal(struct core_ctx *ctx, const struct token *k, struct tg_err *err)
{
    struct session s;
    int rc;

    assert(strcmp(k->kind, "session") == 0);
    memset(&s, 0, sizeof(s));
    s.user_id = k->user_id;
    parse_extra(ctx, k->extra, &s);
    /* Only sessions begun on the native API stand for their user there: easydb's may be
     * unauthenticated, and anyone may start one (docs/security.md). */
    if (s.user_id == 0 || s.method == NULL || strcmp(s.method, SESSION_NATIVE) != 0)
        return tg_err_set(err, TG_EAUTH, "", "invalid token");
    if (k->revoked_at)
        return tg_err_set(err, TG_EAUTH, "", "session ended");
    if (k->expires_at && k->expires_at <= ctx->now)
        return tg_err_set(err, TG_EAUTH, "", "session expired");
    if (!load_user(ctx, &s, err, &rc))
        return rc ? rc : tg_err_set(err, TG_EAUTH, "", "invalid token");
    rc = use_org(ctx, k->org_id, err);
    if (rc)
        return rc == TG_ENOTFOUND ? tg_err_set(err, TG_EAUTH, "", "invalid token") : rc;
    memset(&ctx->who, 0, sizeof(ctx->who));
    ctx->who.token_id = k->id;
    ctx->who.user_id = s.user_id;
    ctx->who.org_id = ctx->org_id;
    ctx->who.ws_id = ctx->ws_id;
    ctx->who.rights = s.rights;
    ctx->who.assign = s.assign;
    ctx->who.kind = "session";
    ctx->who.expires_at = k->expires_at;
    ctx->who.extra = k->extra;
    ctx->who.name = s.login;
    ctx->authed = true;
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
    next.assign = NULL;
    next.method = NULL;
    next.authenticated_at = 0;
    rc = write_session(ctx, &next, ctx->org_id, err);
    if (rc)
        return rc;
    ctx->authed = false;
    ctx->who.user_id = 0;
    ctx->who.rights = 0;
    ctx->who.assign = NULL;
    ctx->who.name = NULL;
    *s = next;
    return 0;
}
