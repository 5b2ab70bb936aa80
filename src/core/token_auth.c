/* core/token_auth.c: token authentication: a bearer secret becomes the request's principal
 * (ctx->who), checked against the store and remembered per thread in a small cache. Which
 * kinds of token pass where is decided here; the tokens themselves are made in tokens.c. */
#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "core/core_int.h"
#include "engine/engine.h"
#include "util/mem.h"
#include "util/secret.h"

/* A login token (core_apikey_login) stands for its API key: *k becomes the key's row, with the
 * kind "login" and the earlier of the two expiries. The key is read at every check, so
 * revoking it ends its logins at once. */
static int login_key(struct core_ctx *ctx, struct token *k, struct tg_err *err)
{
    struct store_stmt *st;
    struct token key;
    json_t *extra = k->extra ? json_loads(k->extra, 0, NULL) : NULL;
    json_int_t id = json_integer_value(json_object_get(extra, "key"));
    int rc;

    json_decref(extra);
    if (k->revoked_at)
        return tg_err_set(err, TG_EAUTH, "", "token revoked");
    if (id <= 0)
        return tg_err_set(err, TG_EAUTH, "", "invalid token");
    st = st_get(ctx->conn, SQL_TOKEN_BY_ID, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, k->org_id);
    rc = st_step(st, err);
    if (rc == 1)
        row_token(ctx, st, 0, &key);
    st_reset(st);
    if (rc < 0)
        return rc;
    if (rc == 0 || (strcmp(key.kind, "api") != 0 && strcmp(key.kind, "env") != 0))
        return tg_err_set(err, TG_EAUTH, "", "invalid token");
    if (key.revoked_at)
        return tg_err_set(err, TG_EAUTH, "", "token revoked");
    if (key.expires_at == 0 || (k->expires_at && k->expires_at < key.expires_at))
        key.expires_at = k->expires_at;
    key.kind = "login";
    *k = key;
    return 0;
}

/* Which kinds beyond API tokens a route accepts as its bearer. */
enum {
    AUTH_LOGIN = 1,   /* Immuta's API-key logins */
    AUTH_SESSION = 2, /* sessions begun on the native API (core_session_login) */
};

static int auth_from_store(struct core_ctx *ctx, const char *hash, unsigned ok,
                           struct tg_err *err)
{
    struct store_stmt *st;
    struct token k;
    unsigned rights = 0;
    int rc;

    st = st_get(ctx->conn, SQL_TOKEN_BY_HASH, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, hash);
    rc = st_step(st, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return tg_err_set(err, TG_EAUTH, "", "invalid token");
    row_token(ctx, st, 0, &k);
    st_reset(st);
    /* Applinks and public links only work through their own headers (core/links.h), easydb
     * sessions only through easydb's token parameter (core_session_open): anyone may start a
     * session, so one must never pass for a bearer token, not even one without rights. A
     * session begun on the native API with a login and password is the one exception, on the
     * native API only; core__session_principal tells the two apart. */
    if (strcmp(k.kind, "session") == 0 && (ok & AUTH_SESSION))
        return core__session_principal(ctx, &k, err);
    if (strcmp(k.kind, "applink") == 0 || strcmp(k.kind, "publiclink") == 0 ||
        strcmp(k.kind, "session") == 0)
        return tg_err_set(err, TG_EAUTH, "", "invalid token");
    /* Login tokens only work on the routes of the dialect whose clients log in (Immuta). */
    if (strcmp(k.kind, "login") == 0) {
        if (!(ok & AUTH_LOGIN))
            return tg_err_set(err, TG_EAUTH, "", "invalid token");
        rc = login_key(ctx, &k, err);
        if (rc)
            return rc;
    }
    if (k.revoked_at)
        return tg_err_set(err, TG_EAUTH, "", "token revoked");
    if (k.expires_at && k.expires_at <= ctx->now)
        return tg_err_set(err, TG_EAUTH, "", "token expired");
    core_rights_parse(k.rights, &rights, NULL);
    rc = core__ctx_set_org(ctx, k.org_id, err);
    if (rc)
        return rc == TG_ENOTFOUND ? tg_err_set(err, TG_EAUTH, "", "invalid token") : rc;
    ctx->who.token_id = k.id;
    ctx->who.user_id = k.user_id;
    ctx->who.org_id = k.org_id;
    ctx->who.ws_id = ctx->ws_id;
    ctx->who.rights = rights;
    ctx->who.kind = k.kind;
    ctx->who.resource_id = k.resource_id;
    ctx->who.expires_at = k.expires_at;
    ctx->who.extra = k.extra;
    ctx->who.assign = k.assign;
    ctx->who.name = k.name ? k.name : "token";
    if (k.user_id) {
        st = st_get(ctx->conn, SQL_USER_NAME, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, k.user_id);
        if (st_step(st, err) == 1)
            ctx->who.name = col_dup(ctx, st, 0);
        st_reset(st);
    }
    ctx->authed = true;
    return 0;
}

/* Successful token authentications, per thread: a token's request then costs no store read.
 * An entry is good under the authentication epoch it was read in (store_auth_epoch moves with
 * every commit that writes tokens, users, orgs or workspaces, and when another instance's
 * commits are applied) and for at most core_limits.auth_cache_ms, which bounds what another
 * instance's writes that make no revision could leave stale. Expiry is checked every time. */
#define AUTH_CACHE 32

struct auth_ent {
    char hash[SECRET_HASH_HEX];
    uint64_t epoch;
    int64_t cached_at, used;
    struct principal who;
    int64_t org_id, ws_id;
    char *strs; /* name, kind, extra and assign, owned */
};

static _Thread_local struct auth_ent auth_cache[AUTH_CACHE];
static _Thread_local int64_t auth_clock;

static void auth_cache_put(struct core_ctx *ctx, const char *hash, uint64_t epoch)
{
    struct auth_ent *v = &auth_cache[0];
    const char *parts[4] = {ctx->who.name, ctx->who.kind, ctx->who.extra, ctx->who.assign};
    size_t len[4], total = 0;
    char *p;

    assert(ctx->authed && ctx->who.kind != NULL);
    for (int i = 1; i < AUTH_CACHE && v->hash[0]; i++)
        if (auth_cache[i].hash[0] == '\0' || auth_cache[i].used < v->used)
            v = &auth_cache[i];
    for (int i = 0; i < 4; i++) {
        len[i] = parts[i] ? strlen(parts[i]) + 1 : 0;
        total += len[i];
    }
    xfree(v->strs);
    v->strs = p = xmalloc(total ? total : 1);
    v->who = ctx->who;
    {
        const char **dst[4] = {&v->who.name, &v->who.kind, &v->who.extra, &v->who.assign};
        for (int i = 0; i < 4; i++) {
            *dst[i] = NULL;
            if (parts[i]) {
                memcpy(p, parts[i], len[i]);
                *dst[i] = p;
                p += len[i];
            }
        }
    }
    memcpy(v->hash, hash, SECRET_HASH_HEX);
    v->epoch = epoch;
    v->cached_at = ctx->now;
    v->used = ++auth_clock;
    v->org_id = ctx->org_id;
    v->ws_id = ctx->ws_id;
}

static bool auth_cache_get(struct core_ctx *ctx, const char *hash, uint64_t epoch, unsigned ok)
{
    for (int i = 0; i < AUTH_CACHE; i++) {
        struct auth_ent *v = &auth_cache[i];
        if (v->hash[0] == '\0' || memcmp(v->hash, hash, SECRET_HASH_HEX) != 0)
            continue;
        if ((!(ok & AUTH_LOGIN) && strcmp(v->who.kind, "login") == 0) ||
            (!(ok & AUTH_SESSION) && strcmp(v->who.kind, "session") == 0))
            return false; /* the store refuses it, as for any other route */
        if (v->epoch != epoch || ctx->now - v->cached_at >= core_limits.auth_cache_ms ||
            (v->who.expires_at && v->who.expires_at <= ctx->now) || ctx->now < v->cached_at) {
            v->hash[0] = '\0';
            return false;
        }
        v->used = ++auth_clock;
        ctx->who = v->who;
        ctx->org_id = v->org_id;
        ctx->ws_id = v->ws_id;
        ctx->authed = true;
        return true;
    }
    return false;
}

void core_thread_done(void)
{
    core__query_cache_done();
    eng_thread_done();
    for (int i = 0; i < AUTH_CACHE; i++) {
        xfree(auth_cache[i].strs);
        memset(&auth_cache[i], 0, sizeof(auth_cache[i]));
    }
}

static int auth_hashed(struct core_ctx *ctx, const char *hash, unsigned ok,
                       struct tg_err *err)
{
    /* Inside a write that changed tokens or users the store is ahead of every cache entry;
     * so is it for a read that names a revision the cache has not taken in yet (another
     * instance revoked the token there, and the tailer has not applied it). */
    bool cache = core_limits.auth_cache_ms > 0 && !store_auth_dirty(ctx->conn) &&
                 ctx->auth_min_rev <= ctx->auth_rev;
    int rc;

    if (cache && auth_cache_get(ctx, hash, ctx->auth_epoch, ok))
        return 0;
    rc = auth_from_store(ctx, hash, ok, err);
    if (rc == 0 && cache)
        auth_cache_put(ctx, hash, ctx->auth_epoch);
    return rc;
}

static int auth_token(struct core_ctx *ctx, const char *secret, unsigned ok,
                      struct tg_err *err)
{
    char hash[SECRET_HASH_HEX];

    if (!core_token_hash(secret, hash))
        return tg_err_set(err, TG_EAUTH, "", "invalid token");
    return auth_hashed(ctx, hash, ok, err);
}

bool core_token_hash(const char *secret, char hash[SECRET_HASH_HEX])
{
    if (secret == NULL || *secret == '\0' || strlen(secret) > 256)
        return false;
    secret_hash(secret, strlen(secret), hash);
    return true;
}

int core_auth_native_hashed(struct core_ctx *ctx, const char hash[SECRET_HASH_HEX],
                            struct tg_err *err)
{
    return auth_hashed(ctx, hash, AUTH_SESSION, err);
}

int core_auth_token(struct core_ctx *ctx, const char *secret, struct tg_err *err)
{
    return auth_token(ctx, secret, 0, err);
}

int core_auth_native(struct core_ctx *ctx, const char *secret, struct tg_err *err)
{
    return auth_token(ctx, secret, AUTH_SESSION, err);
}

int core_auth_token_login(struct core_ctx *ctx, const char *secret, struct tg_err *err)
{
    return auth_token(ctx, secret, AUTH_LOGIN, err);
}
