/* core/writer_fresh.c: the writer's notes of what changed after the engine's revision, so that
 * the writer may read from an engine snapshot that is current for what it reads (core.h,
 * core_writer_engine). core_change feeds them (core__fresh_note). */
#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "core/core_int.h"
#include "engine/engine.h"

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

void core__fresh_note(struct engine *e, const char *entity, int64_t id, int64_t rev)
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
        assert(fresh.n <= FRESH_MAX);
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
