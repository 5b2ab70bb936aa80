/* core/idempotency.c: idempotency keys in the store (core/idempotency.h): claimed and answered
 * in the transaction of the write they stand for, bounded per organization, purged when
 * expired. */
#include "core/idempotency.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

#include "core/core_int.h"

struct idem_limits idem_limits = {24LL * 3600 * 1000, 10000, 64LL << 20, 60 * 1000};

/* When the writer last purged expired keys (writer thread only; atomic for the sanitizers'
 * sake, as tests may run core on other threads). */
static _Atomic int64_t last_purge;

/* How many of an organization's oldest moments of keys one claim may evict at most: keeps a
 * claim's work bounded even when the bounds were just lowered. */
#define IDEM_EVICT_ROUNDS 64

int core_idem_key_check(const char *key, struct tg_err *err)
{
    size_t n = strlen(key);

    if (n == 0 || n > IDEM_KEY_MAX)
        return tg_err_set(err, TG_EINVAL, "Idempotency-Key",
                          "Idempotency-Key must be 1 to %d characters", IDEM_KEY_MAX);
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return tg_err_set(err, TG_EINVAL, "Idempotency-Key",
                              "Idempotency-Key must be visible ASCII characters");
    return 0;
}

static int purge(struct core_ctx *ctx, struct tg_err *err)
{
    struct store_stmt *st;
    int64_t last = atomic_load(&last_purge);

    if (ctx->now - last < idem_limits.purge_every_ms)
        return 0;
    st = st_get(ctx->conn, SQL_IDEM_PURGE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->now);
    atomic_store(&last_purge, ctx->now);
    return st_exec(st, err);
}

/* Evicts the organization's oldest keys until it is below both bounds. */
static int make_room(struct core_ctx *ctx, struct tg_err *err)
{
    for (int round = 0; round < IDEM_EVICT_ROUNDS; round++) {
        struct store_stmt *st = st_get(ctx->conn, SQL_IDEM_USAGE, err);
        int64_t keys = 0, bytes = 0;
        int rc;

        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, ctx->org_id);
        rc = st_step(st, err);
        if (rc == 1) {
            keys = col_int(st, 0);
            bytes = col_int(st, 1);
        }
        st_reset(st);
        if (rc < 0)
            return rc;
        if (keys < idem_limits.max_keys && bytes < idem_limits.max_bytes)
            return 0;
        st = st_get(ctx->conn, SQL_IDEM_EVICT, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, ctx->org_id);
        rc = st_exec(st, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int forget(struct core_ctx *ctx, const char *key, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_IDEM_DELETE, err);

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, ctx->who.name);
    st_text(st, 3, key);
    return st_exec(st, err);
}

int core_idem_begin(struct core_ctx *ctx, const char *key, const char *hash,
                    struct idem_answer *ans, bool *found, struct tg_err *err)
{
    struct store_stmt *st;
    bool have = false, expired = false;
    int rc;

    *found = false;
    memset(ans, 0, sizeof(*ans));
    if (!ctx->authed || ctx->who.name == NULL)
        return tg_err_set(err, TG_EAUTH, "", "authentication required");
    rc = purge(ctx, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_IDEM_GET, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, ctx->who.name);
    st_text(st, 3, key);
    rc = st_step(st, err);
    if (rc == 1) {
        have = true;
        expired = col_int(st, 5) <= ctx->now;
        if (!expired && strcmp(col_text(st, 0), hash) != 0) {
            rc = tg_err_set(err, TG_ERULE, "Idempotency-Key",
                            "Idempotency-Key was used with another request");
        } else if (!expired && col_int(st, 1) == 0) {
            rc = tg_err_set(err, TG_ECONFLICT, "Idempotency-Key",
                            "a request with this Idempotency-Key is still in flight");
        } else if (!expired) {
            ans->status = (int)col_int(st, 1);
            ans->content_type = col_dup(ctx, st, 2);
            ans->headers = col_dup(ctx, st, 3);
            ans->body = col_dup(ctx, st, 4);
            ans->body_len = ans->body ? strlen(ans->body) : 0;
            *found = true;
            rc = 0;
        } else {
            rc = 0;
        }
    }
    st_reset(st);
    if (rc < 0 || *found)
        return rc < 0 ? rc : 0;
    if (have && expired) {
        rc = forget(ctx, key, err);
        if (rc)
            return rc;
    }
    rc = make_room(ctx, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_IDEM_CLAIM, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, ctx->who.name);
    st_text(st, 3, key);
    st_text(st, 4, hash);
    st_int(st, 5, ctx->now);
    st_int(st, 6, ctx->now + idem_limits.ttl_ms);
    rc = st_exec(st, err);
    if (rc == TG_EEXISTS)
        /* Another instance claimed it in a transaction that committed while this one waited. */
        return tg_err_set(err, TG_ECONFLICT, "Idempotency-Key",
                          "a request with this Idempotency-Key is still in flight");
    return rc;
}

int core_idem_finish(struct core_ctx *ctx, const char *key, const struct idem_answer *ans,
                     struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_IDEM_FINISH, err);
    size_t bytes = ans->body_len + (ans->headers ? strlen(ans->headers) : 0);

    if (st == NULL)
        return TG_EINTERNAL;
    assert(ans->status >= 200 && ans->status < 300); /* only kept writes are answered again */
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, ctx->who.name);
    st_text(st, 3, key);
    st_int(st, 4, ans->status);
    st_text(st, 5, ans->content_type);
    st_text(st, 6, ans->headers);
    if (ans->body)
        st_textn(st, 7, ans->body, ans->body_len);
    else
        st_null(st, 7);
    st_int(st, 8, (int64_t)bytes);
    return st_exec(st, err);
}
