/* core/auth.c: users (argon2id passwords), tokens (only a hash is stored), API-key logins and
 * the numbers that stand for principals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "util/name.h"
#include "util/secret.h"

int core_user_create(struct core_ctx *ctx, const char *login, const char *password,
                     unsigned rights, struct user *out, struct tg_err *err)
{
    char pw[SECRET_PW_MAX];
    char *nfc, *key;
    struct store_stmt *st;
    int rc;

    if (login == NULL || *login == '\0')
        return tg_err_set(err, TG_EINVAL, "login", "login is required");
    rc = name_normalize(ctx->a, login, strlen(login), false, "login", &nfc, &key, err);
    if (rc == 0)
        rc = name_check_visible(nfc, strlen(nfc), "login", err);
    if (rc)
        return rc;
    if (password == NULL || strlen(password) < 8)
        return tg_err_set(err, TG_EINVAL, "password", "password must have at least 8 characters");
    if (strlen(password) > 1024)
        return tg_err_set(err, TG_EINVAL, "password", "password is too long");
    if (secret_pw_hash(password, pw) != 0)
        return tg_err_set(err, TG_EINTERNAL, "password", "password hashing failed");
    st = st_get(ctx->conn, SQL_USER_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, nfc);
    st_text(st, 3, key);
    st_text(st, 4, pw);
    st_text(st, 5, core_rights_str(ctx->a, rights));
    st_null(st, 6);
    st_int(st, 7, ctx->now);
    rc = st_step(st, err);
    if (rc != 1) {
        if (rc == TG_EEXISTS)
            return tg_err_set(err, TG_EEXISTS, "login", "user '%s' already exists", nfc);
        return rc < 0 ? rc : TG_EINTERNAL;
    }
    out->id = col_int(st, 0);
    st_reset(st);
    out->org_id = ctx->org_id;
    out->login = nfc;
    out->display_name = NULL;
    out->rights = core_rights_str(ctx->a, rights);
    out->created_at = ctx->now;
    out->disabled = false;
    return core_change(ctx, "user", out->id, "create", NULL, NULL, err);
}

static void row_user(struct core_ctx *ctx, struct store_stmt *st, struct user *u)
{
    u->id = col_int(st, 0);
    u->org_id = col_int(st, 1);
    u->login = col_dup(ctx, st, 2);
    u->display_name = col_dup(ctx, st, 3);
    u->rights = col_dup(ctx, st, 4);
    u->created_at = col_int(st, 5);
    u->disabled = col_int(st, 6) != 0;
}

int core_user_list(struct core_ctx *ctx, struct user **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_USER_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct user));
    st_int(st, 1, ctx->org_id);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_user(ctx, st, vec_push(ctx, &v));
    }
    *out = v.items;
    *n = v.n;
    return rc;
}

/* The argon2id hash, with secret_pw_hash's parameters (t=2, m=16 MiB, p=1), of a password
 * nobody knows. An unknown or disabled login is checked against it, so it costs as much time
 * as a wrong password and the answer time does not tell which logins exist. Regenerate it when
 * those parameters change. */
static const char dummy_pw_hash[] = "$argon2id$v=19$m=16384,t=2,p=1$U1FAFXN1pHkWxVdTfqXdtw$"
                                    "vUcC42NrXsEtzkEhYkK7SDHxRqbJ7fycCs2wyb9LVEc";

int core_user_check(struct core_ctx *ctx, const char *login, const char *password,
                    struct user *out, struct tg_err *err)
{
    struct store_stmt *st;
    char *nfc, *key;
    char *hash = NULL;
    int rc;

    if (login == NULL || password == NULL ||
        name_normalize(ctx->a, login, strlen(login), false, "login", &nfc, &key, NULL) != 0)
        return tg_err_set(err, TG_EAUTH, "login", "wrong login or password");
    /* Logins are unique per organization (migration 8): the one the request addresses. */
    st = st_get(ctx->conn, SQL_USER_BY_LOGIN, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, key);
    rc = st_step(st, err);
    if (rc == 1) {
        row_user(ctx, st, out);
        hash = core_strdup(ctx, col_text(st, 7));
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (rc == 0 || out->disabled) {
        (void)secret_pw_verify(dummy_pw_hash, password);
        return tg_err_set(err, TG_EAUTH, "login", "wrong login or password");
    }
    if (!secret_pw_verify(hash, password))
        return tg_err_set(err, TG_EAUTH, "login", "wrong login or password");
    return 0;
}

int core_token_create(struct core_ctx *ctx, int64_t org_id, const char *kind, const char *name,
                      unsigned rights, int64_t user_id, int64_t resource_id, int64_t expires_at,
                      const char *extra, const char **secret, struct token *out,
                      struct tg_err *err)
{
    char tok[80], hash[SECRET_HASH_HEX];
    struct store_stmt *st;
    int64_t id;
    int rc;

    if (org_id == 0)
        org_id = ctx->org_id;
    if (name && strlen(name) > 200)
        return tg_err_set(err, TG_EINVAL, "name", "name is too long");
    if (name && !name_is_clean_utf8(name, strlen(name)))
        return tg_err_set(err, TG_EINVAL, "name", "name is not clean utf-8");
    if (expires_at && expires_at <= ctx->now)
        return tg_err_set(err, TG_EINVAL, "expires_at", "expires_at is in the past");
    secret_token(tok, sizeof(tok), "tgd_");
    secret_hash(tok, strlen(tok), hash);
    st = st_get(ctx->conn, SQL_TOKEN_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, org_id);
    st_text(st, 2, kind);
    st_text(st, 3, name);
    st_text(st, 4, hash);
    st_text(st, 5, core_rights_str(ctx->a, rights));
    if (user_id)
        st_int(st, 6, user_id);
    if (resource_id)
        st_int(st, 7, resource_id);
    st_text(st, 8, extra);
    st_int(st, 9, ctx->now);
    if (expires_at)
        st_int(st, 10, expires_at);
    rc = st_step(st, err);
    if (rc != 1)
        return rc < 0 ? rc : TG_EINTERNAL;
    id = col_int(st, 0);
    st_reset(st);
    *secret = core_strdup(ctx, tok);
    if (out) {
        memset(out, 0, sizeof(*out));
        out->id = id;
        out->org_id = org_id;
        out->user_id = user_id;
        out->resource_id = resource_id;
        out->created_at = ctx->now;
        out->expires_at = expires_at;
        out->kind = core_strdup(ctx, kind);
        out->name = core_strdup(ctx, name);
        out->rights = core_rights_str(ctx->a, rights);
        out->extra = core_strdup(ctx, extra);
    }
    /* Sessions and logins are not audited as changes: they are frequent and carry no tag
     * data. */
    if (strcmp(kind, "session") == 0 || strcmp(kind, "login") == 0)
        return 0;
    return core_change(ctx, "token", id, "create", NULL, NULL, err);
}

int core_token_list(struct core_ctx *ctx, int64_t org_id, const char *kind, struct token **out,
                    size_t *n, struct tg_err *err)
{
    struct store_stmt *st;
    struct vec v;
    int rc;

    if (org_id && org_id != ctx->org_id) {
        struct org o;
        if (!core_install_admin(ctx))
            return tg_err_set(err, TG_EFORBIDDEN, "organization_id",
                              "only the installation's admin sees other organizations' tokens");
        rc = core_org_get(ctx, org_id, &o, err);
        if (rc)
            return rc;
    }
    st = st_get(ctx->conn, SQL_TOKEN_LIST, err);
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct token));
    st_int(st, 1, org_id ? org_id : ctx->org_id);
    st_text(st, 2, kind);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_token(ctx, st, 0, vec_push(ctx, &v));
    }
    *out = v.items;
    *n = v.n;
    return rc;
}

int core_token_get(struct core_ctx *ctx, int64_t id, struct token *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_TOKEN_BY_ID, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    /* The installation's admin issues tokens of every organization, and so revokes them. */
    if (!core_install_admin(ctx))
        st_int(st, 2, ctx->org_id);
    rc = st_step(st, err);
    if (rc == 1)
        row_token(ctx, st, 0, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "id", "token not found");
    return rc < 0 ? rc : 0;
}

int core_token_revoke(struct core_ctx *ctx, int64_t id, struct tg_err *err)
{
    struct store_stmt *st;
    struct token k;
    int rc = core_token_get(ctx, id, &k, err);

    if (rc)
        return rc;
    if (k.revoked_at)
        return tg_err_set(err, TG_ENOTFOUND, "id", "token not found");
    st = st_get(ctx->conn, SQL_TOKEN_REVOKE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->now);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    return core_change(ctx, "token", id, "revoke", NULL, NULL, err);
}

int core_apikey_login(struct core_ctx *ctx, const char *key, const char **secret,
                      int64_t *expires_at, struct tg_err *err)
{
    struct store_stmt *st;
    struct principal who;
    char extra[48];
    int64_t expires;
    int rc;

    /* A wrong key runs the same statements as a right one up to the insert: it is looked up
     * by its hash, and the sweep runs first, for the default organization when the key
     * names none. */
    rc = core_auth_token(ctx, key, err);
    if (rc == 0 && strcmp(ctx->who.kind, "api") != 0 && strcmp(ctx->who.kind, "env") != 0)
        rc = tg_err_set(err, TG_EAUTH, "apikey", "invalid API key");
    if (rc && rc != TG_EAUTH)
        return rc;
    st = st_get(ctx->conn, SQL_LOGIN_PURGE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, rc == 0 ? ctx->org_id : 0);
    st_int(st, 2, ctx->now);
    if (st_exec(st, err) != 0)
        return TG_EINTERNAL;
    if (rc) {
        memset(&ctx->who, 0, sizeof(ctx->who));
        ctx->authed = false;
        return tg_err_set(err, TG_EAUTH, "apikey", "invalid API key");
    }
    who = ctx->who;
    expires = ctx->now + core_limits.login_ttl_ms;
    if (who.expires_at && who.expires_at < expires)
        expires = who.expires_at;
    snprintf(extra, sizeof(extra), "{\"key\":%lld}", (long long)who.token_id);
    /* The row carries the key's rights, user and scope for GET /v1/tokens; a check reads them
     * from the key (core.c, login_key). */
    rc = core_token_create(ctx, who.org_id, "login", who.name, who.rights, who.user_id,
                           who.resource_id, expires, extra, secret, NULL, err);
    if (rc)
        return rc;
    *expires_at = expires;
    return 0;
}

/* The first id a statement of (organization, name) answers; 0 when none or on a store error. */
static int64_t principal_row(struct core_ctx *ctx, enum store_sql sql, const char *who)
{
    struct store_stmt *st = st_get(ctx->conn, sql, NULL);
    int64_t id = 0;

    if (st == NULL)
        return 0;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, who);
    if (st_step(st, NULL) == 1)
        id = col_int(st, 0);
    st_reset(st);
    return id;
}

int64_t core_principal_id(struct core_ctx *ctx, const char *who)
{
    struct store_stmt *st;
    const char *colon;
    int64_t id;
    bool token = false;

    if (who == NULL || strcmp(who, "system") == 0)
        return 0;
    id = principal_row(ctx, SQL_PRINCIPAL_USER, who);
    if (id == 0) {
        /* Links record themselves as "<kind>:<token id>" (links.c). */
        colon = strchr(who, ':');
        if (colon && (strncmp(who, "applink:", 8) == 0 || strncmp(who, "publiclink:", 11) == 0)) {
            char kind[16];
            char *end;
            long long v = strtoll(colon + 1, &end, 10);
            snprintf(kind, sizeof(kind), "%.*s", (int)(colon - who), who);
            st = *end == '\0' && v > 0 ? st_get(ctx->conn, SQL_PRINCIPAL_LINK, NULL) : NULL;
            if (st) {
                st_int(st, 1, v);
                st_int(st, 2, ctx->org_id);
                st_text(st, 3, kind);
                if (st_step(st, NULL) == 1)
                    id = col_int(st, 0);
                st_reset(st);
            }
        }
        if (id == 0)
            id = principal_row(ctx, SQL_PRINCIPAL_TOKEN, who);
        token = id > 0;
    }
    /* Row ids never come near the base: the ranges stay apart. */
    if (id <= 0 || id >= CORE_PRINCIPAL_TOKEN_BASE)
        return 0;
    return token ? CORE_PRINCIPAL_TOKEN_BASE + id : id;
}
