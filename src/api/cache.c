/* api/cache.c: rendered answers of engine-served reads, kept per loop thread.
 *
 * An entry is keyed by everything its bytes were computed from: the route, the workspace, the
 * raw query string and the revision of the engine snapshot it was rendered from. A snapshot
 * never changes, so a hit is byte for byte what rendering again would give; a commit moves the
 * revision and older entries simply stop matching. Only routes whose answer depends on nothing
 * else (not on the principal beyond its workspace, nor on headers) opt in. Per thread, so
 * nothing is locked; a handful of entries, as a list's few popular pages are what repeats. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/mem.h"

#define CACHE_ENTRIES 8
#define CACHE_MAX_BODY (1u << 20)

struct entry {
    const struct route *route;
    int64_t ws_id, rev;
    char *query;
    char *body;
    size_t len;
    const char *content_type; /* static strings only */
    uint64_t used;
};

static _Thread_local struct entry cache[CACHE_ENTRIES];
static _Thread_local uint64_t clock_;

bool api_cache_serve(struct hreq *r, struct core_ctx *cx)
{
    int64_t rev;

    if (!core_snap_rev(cx, &rev))
        return false;
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        struct entry *e = &cache[i];
        if (e->body == NULL || e->route != r->route || e->ws_id != cx->ws_id || e->rev != rev ||
            strcmp(e->query, r->query) != 0)
            continue;
        if (sbuf_add(&r->out, e->body, e->len) != 0)
            return false;
        e->used = ++clock_;
        r->status = 200;
        r->content_type = e->content_type;
        r->revision = rev;
        return true;
    }
    return false;
}

void api_cache_store(struct hreq *r, struct core_ctx *cx)
{
    /* The snapshot core read from, when it did (not when it was behind X-Tagd-Min-Revision). */
    struct entry *victim = &cache[0];
    int64_t rev;

    /* Only a plain 200 rendered from the snapshot: no headers of its own to replay. */
    if (!core_snap_rev(cx, &rev) || r->status != 200 || r->nres_headers || r->out.len > CACHE_MAX_BODY ||
        r->out.overflow)
        return;
    for (int i = 1; i < CACHE_ENTRIES && victim->body; i++)
        if (cache[i].body == NULL || cache[i].used < victim->used)
            victim = &cache[i];
    xfree(victim->body);
    xfree(victim->query);
    victim->route = r->route;
    victim->ws_id = cx->ws_id;
    victim->rev = rev;
    victim->query = xstrdup(r->query);
    victim->body = xmalloc(r->out.len ? r->out.len : 1);
    memcpy(victim->body, sbuf_str(&r->out), r->out.len);
    victim->len = r->out.len;
    victim->content_type = r->content_type;
    victim->used = ++clock_;
    r->revision = victim->rev;
}

void api_cache_thread_done(void)
{
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        xfree(cache[i].body);
        xfree(cache[i].query);
        memset(&cache[i], 0, sizeof(cache[i]));
    }
}
