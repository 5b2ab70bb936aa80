/* core/tokens.c: tokens (only a hash of the secret is stored) and API-key logins. How a token
 * authenticates a request is token_auth.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "util/name.h"
#include "util/secret.h"

int core_token_create(struct core_ctx *ctx, int64_t org_id, const char *kind, const char *name,
                      unsigned rights, int64_t user_id, int64_t resource_id, int64_t expires_at,
                      const char *extra, const char *assign, const char **secret,
                      struct token *out, struct tg_err *err)
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
    st_text(st, 11, assign);
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
        out->assign = core_strdup(ctx, assign);
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

/* {"assign": list or null}: what a change of an assign list records before and after. */
static const char *assign_doc(struct core_ctx *ctx, const char *assign)
{
    return arena_printf(ctx->a, "{\"assign\":%s}", assign ? assign : "null");
}

int core_token_set_assign(struct core_ctx *ctx, int64_t id, const char *assign,
                          struct token *out, struct tg_err *err)
{
    struct store_stmt *st;
    const char *before;
    int rc = core_token_get(ctx, id, out, err);

    if (rc)
        return rc;
    if (out->revoked_at)
        return tg_err_set(err, TG_ENOTFOUND, "id", "token not found");
    /* A login stands for its key and a session for its user (token_auth.c): their lists are
     * the key's and the user's. The env token is the operator's, set at every start. */
    if (strcmp(out->kind, "api") != 0)
        return tg_err_set(err, TG_EINVAL, "id",
                          "only API tokens are changed here, not a token of kind '%s'",
                          out->kind);
    before = assign_doc(ctx, out->assign);
    st = st_get(ctx->conn, SQL_TOKEN_SET_ASSIGN, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_text(st, 2, assign);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    out->assign = core_strdup(ctx, assign);
    return core_change(ctx, "token", id, "update", before, assign_doc(ctx, assign), err);
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
    /* The row carries the key's rights, user, scope and assign list for GET /v1/tokens; a
     * check reads them from the key (token_auth.c, login_key). */
    rc = core_token_create(ctx, who.org_id, "login", who.name, who.rights, who.user_id,
                           who.resource_id, expires, extra, who.assign, secret, NULL, err);
    if (rc)
        return rc;
    *expires_at = expires;
    return 0;
}
