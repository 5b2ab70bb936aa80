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
    int64_t lost_rev; /* last revision of notes dropped for want of room */
    int64_t committed_rev; /* the writer's last commit (core_writer_committed) */
    struct fresh_ent {
        int64_t id, rev;
        bool row; /* the resource row (its parent, the tree), not only its tags */
    } v[FRESH_MAX];
    size_t n;
    /* v is in order of rev: notes come in the order of the writes, so it is, unless a
     * transaction was run again and took its revisions anew (PostgreSQL's retries). Then the
     * notes past the last commit may lie before ones within it. */
    bool sorted;
} fresh = {.mu = PTHREAD_MUTEX_INITIALIZER, .sorted = true};

void core_writer_engine(bool on)
{
    pthread_mutex_lock(&fresh.mu);
    fresh.on = on;
    fresh.n = 0;
    fresh.sorted = true;
    fresh.all_rev = 0;
    fresh.lost_rev = 0;
    pthread_mutex_unlock(&fresh.mu);
}

/* Drops what the engine has applied (under fresh.mu). */
static void fresh_trim(int64_t engine_rev)
{
    size_t k = 0;

    if (fresh.sorted) {
        /* In order: what goes is a prefix. Every add of an import chunk asks (through
         * core__fresh_tree), with the chunk's own thousands of notes here and mostly nothing
         * to drop: a pass over all of them each time was a tenth of the writer's time. */
        while (k < fresh.n && fresh.v[k].rev <= engine_rev)
            k++;
        if (k) {
            memmove(fresh.v, fresh.v + k, (fresh.n - k) * sizeof(fresh.v[0]));
            fresh.n -= k;
        }
        return;
    }
    for (size_t i = 0; i < fresh.n; i++)
        if (fresh.v[i].rev > engine_rev)
            fresh.v[k++] = fresh.v[i];
    fresh.n = k;
    if (k == 0)
        fresh.sorted = true;
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
            /* The engine lags far behind: every resource counts as changed up to here. Only
             * resources: what is not one (tags, groups) stays as all_rev says, so that an
             * import chunk, whose adds overflow this, still checks each tag's restricted
             * subtree from the engine and not with a statement (core_writer_fresh). */
            int64_t lost = rev;
            for (size_t i = 0; i < fresh.n; i++)
                if (fresh.v[i].rev > lost)
                    lost = fresh.v[i].rev;
            fresh.n = 0;
            fresh.sorted = true;
            if (lost > fresh.lost_rev)
                fresh.lost_rev = lost;
        } else {
            if (fresh.n && rev < fresh.v[fresh.n - 1].rev)
                fresh.sorted = false;
            fresh.v[fresh.n].id = id;
            fresh.v[fresh.n].row = strcmp(entity, "resource") == 0;
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
    ok = fresh.on && fresh.all_rev <= rev && (resource_id == 0 || fresh.lost_rev <= rev);
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

void core_writer_committed(int64_t rev)
{
    pthread_mutex_lock(&fresh.mu);
    if (rev > fresh.committed_rev)
        fresh.committed_rev = rev;
    pthread_mutex_unlock(&fresh.mu);
}

bool core__fresh_tree(const struct eng_snap *s, int64_t resource_id, int64_t *wait_rev)
{
    int64_t rev = eng_snap_rev(s), chain[64];
    bool ok = true, kids;
    /* The resource and its ancestors: a note of one of them matters, and, when it has
     * descendants, a note of one of those (a longer walk, for folders only). */
    size_t nc = eng_resource_chain(s, resource_id, chain, 64, &kids);

    pthread_mutex_lock(&fresh.mu);
    *wait_rev = fresh.committed_rev;
    if (fresh.on) {
        fresh_trim(rev);
        /* Notes past the last commit are the writer's own transaction's: the engine cannot
         * have them before it commits. */
        ok = fresh.lost_rev <= rev || fresh.lost_rev > fresh.committed_rev;
        for (size_t i = 0; ok && i < fresh.n; i++) {
            const struct fresh_ent *x = &fresh.v[i];
            if (x->rev > fresh.committed_rev) {
                /* In order, the rest is this transaction's too: a chunk of an import notes
                 * thousands, which each of its adds would otherwise pass over. */
                if (fresh.sorted)
                    break;
                continue;
            }
            if (nc == 0) {
                /* Unknown to the snapshot: made by a commit the engine has yet to apply
                 * (wait for it), or by this transaction (eng_inherited cannot say). */
                ok = x->id != resource_id;
                continue;
            }
            ok = !x->row;
            for (size_t k = 0; ok && k < nc; k++)
                ok = x->id != chain[k];
            if (ok && kids)
                ok = !eng_resource_related(s, x->id, resource_id);
        }
    }
    pthread_mutex_unlock(&fresh.mu);
    return ok;
}

bool core__fresh_assignments(const struct eng_snap *s, int64_t *wait_rev)
{
    int64_t rev = eng_snap_rev(s);

    pthread_mutex_lock(&fresh.mu);
    *wait_rev = 0;
    if (fresh.on) {
        fresh_trim(rev);
        /* Only committed notes count: later ones are this transaction's, which the engine
         * cannot have. The revision waited for is one that wrote change records (a note's),
         * never merely the last taken: a revision that changed nothing is never applied on
         * PostgreSQL, where the engine's revision is the change log's. */
        for (size_t i = 0; i < fresh.n; i++)
            if (fresh.v[i].rev <= fresh.committed_rev && fresh.v[i].rev > *wait_rev)
                *wait_rev = fresh.v[i].rev;
        if (fresh.lost_rev > rev && fresh.lost_rev <= fresh.committed_rev &&
            fresh.lost_rev > *wait_rev)
            *wait_rev = fresh.lost_rev;
    }
    pthread_mutex_unlock(&fresh.mu);
    return *wait_rev <= rev;
}
