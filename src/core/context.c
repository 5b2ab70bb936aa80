/* core/context.c: the request context (struct core_ctx) and the engine snapshot a read answers
 * from. A context lives for one request; everything it hands out lives in its arena. */
#include "core/core.h"

#include <assert.h>
#include <string.h>

#include "engine/engine.h"
#include "util/timeu.h"

struct core_limits core_limits = {1000, 1000, 1000, 24LL * 3600 * 1000, 1000, 3600LL * 1000, 1000};

void core_ctx_init(struct core_ctx *ctx, struct store_conn *conn, struct arena *a, bool writing)
{
    assert(a != NULL);
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
