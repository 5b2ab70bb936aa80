/* core/core.c: request contexts, rights, authentication, bootstrap and the change log. */
#include "core/core.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "engine/engine.h"
#include "util/jw.h"
#include "util/mem.h"
#include "util/name.h"
#include "util/secret.h"
#include "util/timeu.h"

struct core_limits core_limits = {1000, 1000, 1000, 24LL * 3600 * 1000, 1000, 3600LL * 1000};

void core_ctx_init(struct core_ctx *ctx, struct store_conn *conn, struct arena *a, bool writing)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->conn = conn;
    ctx->a = a;
    ctx->writing = writing;
    ctx->now = time_now_ms();
    /* Before any statement of the request: see the authentication cache. The revision
     * first: the tailer bumps the epoch before it raises it, so an epoch read after a raised
     * revision has taken that revision in. */
    ctx->auth_rev = store_auth_rev();
    ctx->auth_epoch = store_auth_epoch();
}

void core_ctx_done(struct core_ctx *ctx)
{
    if (ctx->snap)
        engine_release(ctx->engine, ctx->snap);
    ctx->snap = NULL;
}

const struct eng_snap *core_snap(struct core_ctx *ctx)
{
    if (ctx->writing || ctx->engine == NULL)
        return NULL;
    if (ctx->snap == NULL)
        ctx->snap = engine_acquire(ctx->engine);
    return eng_snap_rev(ctx->snap) >= ctx->min_rev ? ctx->snap : NULL;
}

bool core_snap_rev(struct core_ctx *ctx, int64_t *rev)
{
    const struct eng_snap *s = core_snap(ctx);

    if (s == NULL)
        return false;
    *rev = eng_snap_rev(s);
    return true;
}

char *core_strdup(struct core_ctx *ctx, const char *s)
{
    return arena_strdup(ctx->a, s);
}

const char *col_dup(struct core_ctx *ctx, struct store_stmt *st, int i)
{
    return arena_strdup(ctx->a, col_text(st, i));
}

void vec_init(struct vec *v, size_t size)
{
    memset(v, 0, sizeof(*v));
    v->size = size;
}

void *vec_push(struct core_ctx *ctx, struct vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *items = arena_alloc(ctx->a, cap * v->size);
        if (v->n)
            memcpy(items, v->items, v->n * v->size);
        v->items = items;
        v->cap = cap;
    }
    return memset((char *)v->items + v->n++ * v->size, 0, v->size);
}

const char *core_actor(struct core_ctx *ctx)
{
    return ctx->authed && ctx->who.name ? ctx->who.name : "system";
}

bool core_parse_id(const char *s, const char *prefix, int64_t *out)
{
    size_t pl = prefix ? strlen(prefix) : 0;
    char *end;
    long long v;

    if (pl && strncmp(s, prefix, pl) == 0)
        s += pl;
    if (!isdigit((unsigned char)*s))
        return false;
    v = strtoll(s, &end, 10);
    if (*end != '\0' || v <= 0)
        return false;
    *out = v;
    return true;
}

const char *core_cursor_encode(struct core_ctx *ctx, const char *s)
{
    size_t n = strlen(s), cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = arena_alloc(ctx->a, cap);
    sodium_bin2base64(out, cap, (const unsigned char *)s, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

int core_cursor_decode(struct core_ctx *ctx, const char *c, const char **out, struct tg_err *err)
{
    size_t n = strlen(c), len = 0;
    unsigned char *buf;

    if (n > 2048)
        return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
    buf = arena_alloc(ctx->a, n + 1);
    if (sodium_base642bin(buf, n, c, n, NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        !name_is_clean_utf8((const char *)buf, len))
        return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
    buf[len] = '\0';
    *out = (const char *)buf;
    return 0;
}

/* ---- rights ---- */

static const struct {
    const char *name;
    unsigned bit;
} right_names[] = {
    {"tags:read", RIGHT_READ}, {"tags:write", RIGHT_WRITE}, {"tags:assign", RIGHT_ASSIGN},
    {"admin", RIGHT_ADMIN},    {"read", RIGHT_READ},        {"write", RIGHT_WRITE},
    {"assign", RIGHT_ASSIGN},  {"*", RIGHT_ALL},
};

int core_rights_parse(const char *s, unsigned *out, struct tg_err *err)
{
    unsigned r = 0;
    const char *p = s;

    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p), i;
        bool found = false;
        while (n && *p == ' ') {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        for (i = 0; i < sizeof(right_names) / sizeof(right_names[0]); i++) {
            if (strlen(right_names[i].name) == n && strncmp(p, right_names[i].name, n) == 0) {
                r |= right_names[i].bit;
                found = true;
            }
        }
        if (!found && n)
            return tg_err_set(err, TG_EINVAL, "rights", "unknown right '%.*s'", (int)(n > 40 ? 40 : n), p);
        if (!e)
            break;
        p = e + 1;
    }
    if (r & RIGHT_ADMIN)
        r = RIGHT_ALL;
    *out = r;
    return 0;
}

const char *core_rights_str(struct arena *a, unsigned rights)
{
    static const char *const names[] = {"tags:read", "tags:write", "tags:assign", "admin"};
    char buf[64];
    size_t pos = 0;

    buf[0] = '\0';
    for (int i = 0; i < 4; i++) {
        if (rights & (1u << i))
            pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos, "%s%s", pos ? "," : "",
                                    names[i]);
    }
    return arena_strdup(a, buf);
}

int core_require(struct core_ctx *ctx, unsigned need, struct tg_err *err)
{
    if (!ctx->authed)
        return tg_err_set(err, TG_EAUTH, "", "authentication required");
    if ((ctx->who.rights & need) != need)
        return tg_err_set(err, TG_EFORBIDDEN, "", "missing right %s",
                          core_rights_str(ctx->a, need & ~ctx->who.rights));
    return 0;
}

bool core_install_admin(struct core_ctx *ctx)
{
    char buf[32];
    if (!ctx->authed || !(ctx->who.rights & RIGHT_ADMIN))
        return false;
    if (core__meta_get(ctx->conn, "default_org", buf, sizeof(buf)) != 1)
        return false;
    return strtoll(buf, NULL, 10) == ctx->org_id;
}

static int set_org(struct core_ctx *ctx, int64_t org_id, struct tg_err *err)
{
    struct org o;
    int rc = core_org_get(ctx, org_id, &o, err);
    if (rc)
        return rc;
    ctx->org_id = o.id;
    ctx->ws_id = o.default_ws_id;
    return 0;
}

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

static int auth_from_store(struct core_ctx *ctx, const char *hash, bool login_ok,
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
     * session, so one must never pass for a bearer token, not even one without rights. */
    if (strcmp(k.kind, "applink") == 0 || strcmp(k.kind, "publiclink") == 0 ||
        strcmp(k.kind, "session") == 0)
        return tg_err_set(err, TG_EAUTH, "", "invalid token");
    /* Login tokens only work on the routes of the dialect whose clients log in (Immuta). */
    if (strcmp(k.kind, "login") == 0) {
        if (!login_ok)
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
    rc = set_org(ctx, k.org_id, err);
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
    char *strs; /* name, kind and extra, owned */
};

static _Thread_local struct auth_ent auth_cache[AUTH_CACHE];
static _Thread_local int64_t auth_clock;

static void auth_cache_put(struct core_ctx *ctx, const char *hash, uint64_t epoch)
{
    struct auth_ent *v = &auth_cache[0];
    const char *parts[3] = {ctx->who.name, ctx->who.kind, ctx->who.extra};
    size_t len[3], total = 0;
    char *p;

    for (int i = 1; i < AUTH_CACHE && v->hash[0]; i++)
        if (auth_cache[i].hash[0] == '\0' || auth_cache[i].used < v->used)
            v = &auth_cache[i];
    for (int i = 0; i < 3; i++) {
        len[i] = parts[i] ? strlen(parts[i]) + 1 : 0;
        total += len[i];
    }
    xfree(v->strs);
    v->strs = p = xmalloc(total ? total : 1);
    v->who = ctx->who;
    {
        const char **dst[3] = {&v->who.name, &v->who.kind, &v->who.extra};
        for (int i = 0; i < 3; i++) {
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

static bool auth_cache_get(struct core_ctx *ctx, const char *hash, uint64_t epoch, bool login_ok)
{
    for (int i = 0; i < AUTH_CACHE; i++) {
        struct auth_ent *v = &auth_cache[i];
        if (v->hash[0] == '\0' || memcmp(v->hash, hash, SECRET_HASH_HEX) != 0)
            continue;
        if (!login_ok && strcmp(v->who.kind, "login") == 0)
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
    for (int i = 0; i < AUTH_CACHE; i++) {
        xfree(auth_cache[i].strs);
        memset(&auth_cache[i], 0, sizeof(auth_cache[i]));
    }
}

static int auth_token(struct core_ctx *ctx, const char *secret, bool login_ok,
                      struct tg_err *err)
{
    char hash[SECRET_HASH_HEX];
    /* Inside a write that changed tokens or users the store is ahead of every cache entry;
     * so is it for a read that names a revision the cache has not taken in yet (another
     * instance revoked the token there, and the tailer has not applied it). */
    bool cache = core_limits.auth_cache_ms > 0 && !store_auth_dirty(ctx->conn) &&
                 ctx->auth_min_rev <= ctx->auth_rev;
    int rc;

    if (secret == NULL || *secret == '\0' || strlen(secret) > 256)
        return tg_err_set(err, TG_EAUTH, "", "invalid token");
    secret_hash(secret, strlen(secret), hash);
    if (cache && auth_cache_get(ctx, hash, ctx->auth_epoch, login_ok))
        return 0;
    rc = auth_from_store(ctx, hash, login_ok, err);
    if (rc == 0 && cache)
        auth_cache_put(ctx, hash, ctx->auth_epoch);
    return rc;
}

int core_auth_token(struct core_ctx *ctx, const char *secret, struct tg_err *err)
{
    return auth_token(ctx, secret, false, err);
}

int core_auth_token_login(struct core_ctx *ctx, const char *secret, struct tg_err *err)
{
    return auth_token(ctx, secret, true, err);
}

/* ---- bootstrap ---- */

int core__meta_get(struct store_conn *c, const char *key, char *out, size_t outlen)
{
    struct store_stmt *st = st_get(c, SQL_META_GET, NULL);
    int found = 0;
    if (st == NULL)
        return -1;
    st_text(st, 1, key);
    if (st_step(st, NULL) == 1) {
        snprintf(out, outlen, "%s", col_text(st, 0));
        found = 1;
    }
    st_reset(st);
    return found;
}

static int meta_set(struct store_conn *c, const char *key, const char *value, struct tg_err *err)
{
    struct store_stmt *st = st_get(c, SQL_META_SET, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, key);
    st_text(st, 2, value);
    return st_exec(st, err);
}

int core_bootstrap(struct store_conn *conn, const char *env_token, const char *admin_password,
                   char **generated, struct tg_err *err)
{
    struct arena a;
    struct core_ctx ctx;
    struct store_stmt *st;
    char buf[64], hash[SECRET_HASH_HEX];
    struct org o;
    struct user u;
    const char *secret = NULL;
    int rc, fresh;

    *generated = NULL;
    arena_init(&a);
    core_ctx_init(&ctx, conn, &a, true);
    rc = store_begin_write(conn, err);
    if (rc)
        goto out;
    fresh = core__meta_get(conn, "default_org", buf, sizeof(buf)) == 0;
    if (fresh) {
        rc = core_org_create(&ctx, "default", &o, err);
        if (rc)
            goto out_abort;
        snprintf(buf, sizeof(buf), "%lld", (long long)o.id);
        rc = meta_set(conn, "default_org", buf, err);
        if (rc)
            goto out_abort;
        ctx.org_id = o.id;
        ctx.ws_id = o.default_ws_id;
        if (admin_password == NULL) {
            char pw[64];
            secret_token(pw, sizeof(pw), "");
            rc = core_user_create(&ctx, "admin", pw, RIGHT_ALL, &u, err);
        } else {
            rc = core_user_create(&ctx, "admin", admin_password, RIGHT_ALL, &u, err);
        }
        if (rc)
            goto out_abort;
    } else {
        rc = set_org(&ctx, strtoll(buf, NULL, 10), err);
        if (rc)
            goto out_abort;
    }
    /* easydb's unauthenticated sessions are signed with this key instead of being stored
     * (core/sessions.h); every instance of a shared store signs with the same one. */
    {
        char key[SECRET_KEY_HEX];
        if (core__meta_get(conn, "session_key", key, sizeof(key)) == 0) {
            secret_key_new(key);
            rc = meta_set(conn, "session_key", key, err);
        }
        sodium_memzero(key, sizeof(key));
        if (rc)
            goto out_abort;
    }
    if (env_token && *env_token) {
        secret_hash(env_token, strlen(env_token), hash);
        /* Only the newest TAGD_ADMIN_TOKEN is valid: a rotated value revokes the old one. */
        st = st_get(conn, SQL_TOKEN_REVOKE_KIND_OTHER, err);
        if (st == NULL) {
            rc = TG_EINTERNAL;
            goto out_abort;
        }
        st_text(st, 1, "env");
        st_text(st, 2, hash);
        st_int(st, 3, ctx.now);
        rc = st_exec(st, err);
        if (rc)
            goto out_abort;
        st = st_get(conn, SQL_TOKEN_BY_HASH, err);
        if (st == NULL) {
            rc = TG_EINTERNAL;
            goto out_abort;
        }
        st_text(st, 1, hash);
        rc = st_step(st, err);
        if (rc == 1) {
            int64_t id = col_int(st, 0);
            st_reset(st);
            st = st_get(conn, SQL_TOKEN_UNREVOKE, err);
            if (st == NULL) {
                rc = TG_EINTERNAL;
                goto out_abort;
            }
            st_int(st, 1, id);
            st_text(st, 2, "admin");
            rc = st_exec(st, err);
        } else if (rc == 0) {
            st = st_get(conn, SQL_TOKEN_INSERT, err);
            if (st == NULL) {
                rc = TG_EINTERNAL;
                goto out_abort;
            }
            st_int(st, 1, ctx.org_id);
            st_text(st, 2, "env");
            st_text(st, 3, "TAGD_ADMIN_TOKEN");
            st_text(st, 4, hash);
            st_text(st, 5, "admin");
            st_null(st, 6);
            st_null(st, 7);
            st_null(st, 8);
            st_int(st, 9, ctx.now);
            st_null(st, 10);
            rc = st_exec(st, err);
        }
        if (rc)
            goto out_abort;
    } else if (fresh) {
        ctx.authed = false;
        rc = core_token_create(&ctx, ctx.org_id, "api", "initial-admin", RIGHT_ALL, 0, 0, 0, NULL,
                               &secret, NULL, err);
        if (rc)
            goto out_abort;
        *generated = xstrdup(secret);
    }
    rc = store_commit(conn, err);
    goto out;
out_abort:
    store_rollback(conn);
out:
    arena_release(&a);
    return rc;
}

/* ---- the change log ---- */

int core_rev(struct core_ctx *ctx, struct tg_err *err)
{
    struct store_stmt *st;
    int rc;

    if (ctx->rev)
        return 0;
    st = st_get(ctx->conn, SQL_REV_NEXT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    rc = st_step(st, err);
    if (rc != 1)
        return rc < 0 ? rc : tg_err_set(err, TG_EINTERNAL, "", "no revision");
    ctx->rev = col_int(st, 0);
    st_reset(st);
    st = st_get(ctx->conn, SQL_REV_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->rev);
    st_int(st, 2, ctx->now);
    rc = st_exec(st, err);
    if (rc)
        ctx->rev = 0;
    return rc;
}

/* What changed after the engine's revision, for core_writer_snap (see core.h). A change to a
 * resource or its assignments is noted by resource; any other change marks everything. */
#define FRESH_MAX 4096
static struct {
    pthread_mutex_t mu;
    bool on;
    int64_t all_rev; /* last revision of a change to anything but a resource or its tags */
    struct fresh_ent {
        int64_t id, rev;
    } v[FRESH_MAX];
    size_t n;
} fresh = {.mu = PTHREAD_MUTEX_INITIALIZER};

void core_writer_engine(bool on)
{
    pthread_mutex_lock(&fresh.mu);
    fresh.on = on;
    fresh.n = 0;
    fresh.all_rev = 0;
    pthread_mutex_unlock(&fresh.mu);
}

/* Drops what the engine has applied (under fresh.mu). */
static void fresh_trim(int64_t engine_rev)
{
    size_t k = 0;
    for (size_t i = 0; i < fresh.n; i++)
        if (fresh.v[i].rev > engine_rev)
            fresh.v[k++] = fresh.v[i];
    fresh.n = k;
}

static void fresh_note(struct engine *e, const char *entity, int64_t id, int64_t rev)
{
    pthread_mutex_lock(&fresh.mu);
    if (!fresh.on) {
        pthread_mutex_unlock(&fresh.mu);
        return;
    }
    if (strcmp(entity, "assignment") != 0 && strcmp(entity, "resource") != 0) {
        if (rev > fresh.all_rev)
            fresh.all_rev = rev;
    } else {
        if (fresh.n == FRESH_MAX && e) {
            const struct eng_snap *s = engine_acquire(e);
            fresh_trim(eng_snap_rev(s));
            engine_release(e, s);
        }
        if (fresh.n == FRESH_MAX) {
            /* The engine lags far behind: everything up to here counts as changed. */
            for (size_t i = 0; i < fresh.n; i++)
                if (fresh.v[i].rev > fresh.all_rev)
                    fresh.all_rev = fresh.v[i].rev;
            fresh.n = 0;
            if (rev > fresh.all_rev)
                fresh.all_rev = rev;
        } else {
            fresh.v[fresh.n].id = id;
            fresh.v[fresh.n++].rev = rev;
        }
    }
    pthread_mutex_unlock(&fresh.mu);
}

bool core_writer_fresh(const struct eng_snap *s, int64_t resource_id)
{
    int64_t rev = eng_snap_rev(s);
    bool ok;

    pthread_mutex_lock(&fresh.mu);
    fresh_trim(rev);
    ok = fresh.on && fresh.all_rev <= rev;
    for (size_t i = 0; ok && resource_id && i < fresh.n; i++)
        ok = fresh.v[i].id != resource_id;
    pthread_mutex_unlock(&fresh.mu);
    return ok;
}

const struct eng_snap *core_writer_snap(struct core_ctx *ctx, int64_t resource_id)
{
    const struct eng_snap *s;

    if (ctx->engine == NULL || !fresh.on)
        return NULL;
    s = engine_acquire(ctx->engine);
    if (!core_writer_fresh(s, resource_id)) {
        engine_release(ctx->engine, s);
        return NULL;
    }
    return s;
}

int core_change(struct core_ctx *ctx, const char *entity, int64_t entity_id, const char *op,
                const char *before, const char *after, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = core_rev(ctx, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_CHANGE_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->rev);
    st_int(st, 2, ++ctx->seq);
    st_int(st, 3, ctx->now);
    if (ctx->org_id)
        st_int(st, 4, ctx->org_id);
    if (ctx->ws_id)
        st_int(st, 5, ctx->ws_id);
    st_text(st, 6, core_actor(ctx));
    st_text(st, 7, entity);
    st_int(st, 8, entity_id);
    st_text(st, 9, op);
    st_text(st, 10, before);
    st_text(st, 11, after);
    /* Noted before it runs: a failed insert is a change that did not happen, which only
     * makes the engine's answer wait for a later revision. */
    fresh_note(ctx->engine, entity, entity_id, ctx->rev);
    return st_exec(st, err);
}

static int changes_read(struct core_ctx *ctx, struct store_stmt *st, struct vec *v,
                        struct tg_err *err)
{
    int rc;

    for (;;) {
        struct change *c;
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        c = vec_push(ctx, v);
        c->rev = col_int(st, 0);
        c->seq = col_int(st, 1);
        c->at = col_int(st, 2);
        c->principal = col_dup(ctx, st, 3);
        c->entity = col_dup(ctx, st, 4);
        c->entity_id = col_int(st, 5);
        c->op = col_dup(ctx, st, 6);
        c->before = col_dup(ctx, st, 7);
        c->after = col_dup(ctx, st, 8);
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core_changes_list(struct core_ctx *ctx, int64_t since, int limit, struct change **out,
                      size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_CHANGES_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct change));
    st_int(st, 1, since);
    st_int(st, 2, limit);
    st_int(st, 3, ctx->org_id);
    rc = changes_read(ctx, st, &v, err);
    if (rc == 0 && v.n > 0 && v.n == (size_t)limit) {
        /* Callers continue from the last revision; a page cut inside a revision would lose
         * the rest of it, so the page is completed to the revision's end. */
        const struct change *last = (const struct change *)v.items + v.n - 1;
        st = st_get(ctx->conn, SQL_CHANGES_REST_OF_REV, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, last->rev);
        st_int(st, 2, last->seq);
        st_int(st, 3, ctx->org_id);
        rc = changes_read(ctx, st, &v, err);
    }
    *out = v.items;
    *n = v.n;
    return rc;
}

static int64_t scalar(struct core_ctx *ctx, enum store_sql id, int64_t arg, bool has_arg)
{
    struct store_stmt *st = st_get(ctx->conn, id, NULL);
    int64_t v = 0;
    if (st == NULL)
        return 0;
    if (has_arg)
        st_int(st, 1, arg);
    if (st_step(st, NULL) == 1)
        v = col_int(st, 0);
    st_reset(st);
    return v;
}

int64_t core_current_rev(struct core_ctx *ctx)
{
    return scalar(ctx, SQL_REV_CURRENT, 0, false);
}

int64_t core_rev_at_time(struct core_ctx *ctx, int64_t ms)
{
    return scalar(ctx, SQL_REV_AT_TIME, ms, true);
}

int core_counts(struct core_ctx *ctx, int64_t *tags, int64_t *resources, int64_t *assignments)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_COUNT_ALL, NULL);
    if (st == NULL)
        return TG_EINTERNAL;
    if (st_step(st, NULL) == 1) {
        *tags = col_int(st, 0);
        *resources = col_int(st, 1);
        *assignments = col_int(st, 2);
    }
    st_reset(st);
    return 0;
}

/* ---- row readers ---- */

void row_tag(struct core_ctx *ctx, struct store_stmt *st, int at, struct tag *t)
{
    t->id = col_int(st, at + 0);
    t->ws_id = col_int(st, at + 1);
    t->name = col_dup(ctx, st, at + 2);
    t->name_key = col_dup(ctx, st, at + 3);
    t->parent_id = col_int(st, at + 4);
    t->display_name = col_dup(ctx, st, at + 5);
    t->l10n = col_dup(ctx, st, at + 6);
    t->color = col_dup(ctx, st, at + 7);
    t->description = col_dup(ctx, st, at + 8);
    t->source = col_dup(ctx, st, at + 9);
    t->system_created = col_int(st, at + 10) != 0;
    t->protected_ = col_int(st, at + 11) != 0;
    t->archived = col_int(st, at + 12) != 0;
    t->deleted = col_int(st, at + 13) != 0;
    t->group_id = col_int(st, at + 14);
    t->position = col_int(st, at + 15);
    t->extra = col_dup(ctx, st, at + 16);
    t->created_by = col_dup(ctx, st, at + 17);
    t->created_at = col_int(st, at + 18);
    t->updated_at = col_int(st, at + 19);
    t->version = col_int(st, at + 20);
}

void row_resource(struct core_ctx *ctx, struct store_stmt *st, int at, struct resource *r)
{
    r->id = col_int(st, at + 0);
    r->ws_id = col_int(st, at + 1);
    r->kind = col_dup(ctx, st, at + 2);
    r->key = col_dup(ctx, st, at + 3);
    r->name = col_dup(ctx, st, at + 4);
    r->parent_id = col_int(st, at + 5);
    r->archived = col_int(st, at + 6) != 0;
    r->extra = col_dup(ctx, st, at + 7);
    r->created_at = col_int(st, at + 8);
    r->updated_at = col_int(st, at + 9);
    r->version = col_int(st, at + 10);
    r->parent_kind = col_dup(ctx, st, at + 11);
    r->parent_key = col_dup(ctx, st, at + 12);
}

void row_group(struct core_ctx *ctx, struct store_stmt *st, int at, struct group *g)
{
    g->id = col_int(st, at + 0);
    g->ws_id = col_int(st, at + 1);
    g->name = col_dup(ctx, st, at + 2);
    g->l10n = col_dup(ctx, st, at + 3);
    g->position = col_int(st, at + 4);
    g->exclusive = col_int(st, at + 5) != 0;
    g->extra = col_dup(ctx, st, at + 6);
    g->created_at = col_int(st, at + 7);
    g->updated_at = col_int(st, at + 8);
    g->version = col_int(st, at + 9);
}

void row_token(struct core_ctx *ctx, struct store_stmt *st, int at, struct token *k)
{
    k->id = col_int(st, at + 0);
    k->org_id = col_int(st, at + 1);
    k->kind = col_dup(ctx, st, at + 2);
    k->name = col_dup(ctx, st, at + 3);
    k->rights = col_dup(ctx, st, at + 4);
    k->user_id = col_int(st, at + 5);
    k->resource_id = col_int(st, at + 6);
    k->extra = col_dup(ctx, st, at + 7);
    k->created_at = col_int(st, at + 8);
    k->expires_at = col_int(st, at + 9);
    k->revoked_at = col_int(st, at + 10);
}
