/* engine/snapshot.c: the snapshots' life: the bookkeeping of what a build made and replaced,
 * bitmaps shared by container, beginning, abandoning and publishing a build, reclaiming the
 * snapshots no reader holds any more, acquiring and releasing them, and freeing the engine.
 * The data structures and their invariants: engine_int.h. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <assert.h>
#include <stdatomic.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <roaring/containers/containers.h>
#include <roaring/roaring.h>
#include <roaring/roaring_array.h>

#include "util/log.h"
#include "util/mem.h"

/* ---- allocation bookkeeping ---- */

static void free_shell(roaring_bitmap_t *b, const roaring_bitmap_t *origin)
{
    roaring_array_t *ra = &b->high_low_container;

    if (origin) {
        const roaring_array_t *o = &origin->high_low_container;
        for (int32_t i = 0; i < ra->size; i++) {
            bool shared = false;
            for (int32_t j = 0; j < o->size && !shared; j++)
                shared = o->containers[j] == ra->containers[i];
            if (!shared)
                container_free(ra->containers[i], ra->typecodes[i]);
        }
    }
    ra->size = 0; /* roaring_bitmap_free then frees the arrays and the struct only */
    roaring_bitmap_free(b);
}

static void free_obj(const struct retired *r)
{
    switch (r->kind) {
    case OBJ_BITMAP:
        roaring_bitmap_free(r->p);
        break;
    case OBJ_SHELL:
        free_shell(r->p, r->origin);
        break;
    case OBJ_CONTAINER:
        container_free(r->p, r->type);
        break;
    default:
        xfree(r->p);
    }
}

static void push_obj(struct retired **v, size_t *n, size_t *cap, struct retired r)
{
    if (r.p == NULL)
        return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = r;
}

static void push_ret(struct retired **v, size_t *n, size_t *cap, void *p, bool bitmap)
{
    struct retired r = {p, NULL, bitmap ? OBJ_BITMAP : OBJ_MEM, 0};
    push_obj(v, n, cap, r);
}

/* An object is replaced by the build. Whether a reader may hold it (it belongs to the current
 * snapshot) or not (the build made it), it is freed once the current snapshot is reclaimed;
 * an abandoned build forgets the entries it added and frees what it made instead. While the
 * first snapshot loads there are no readers and nothing to wait for. */
void eng__retire(struct engine *e, void *p, bool bitmap)
{
    struct retired r = {p, NULL, bitmap ? OBJ_BITMAP : OBJ_MEM, 0};
    if (p == NULL)
        return;
    if (e->cur == NULL) {
        free_obj(&r);
        return;
    }
    push_ret(&e->cur->ret, &e->cur->nret, &e->cur->capret, p, bitmap);
}

/* An object the build created: owned by the build until it is published. */
void *eng__made(struct engine *e, void *p, bool bitmap)
{
    if (e->cur)
        push_ret(&e->made, &e->nmade, &e->capmade, p, bitmap);
    return p;
}

roaring_bitmap_t *eng__bm_new(struct engine *e)
{
    return eng__made(e, roaring_bitmap_create(), true);
}

static void priv_add(struct engine *e, void *c);

/* A deep copy: every container is the build's own. */
roaring_bitmap_t *eng__bm_copy(struct engine *e, const roaring_bitmap_t *b)
{
    roaring_bitmap_t *c = eng__made(e, roaring_bitmap_copy(b), true);
    if (e->cur)
        for (int32_t i = 0; i < c->high_low_container.size; i++)
            priv_add(e, c->high_low_container.containers[i]);
    return c;
}

/* ---- bitmaps shared by container ----
 *
 * A tag's bitmap changes by a few members per commit, but a popular tag's bitmap is 16
 * containers of 8 KB: copying it whole for every commit that touches it was a third of the
 * writes' CPU. So the build makes a shallow copy (its own arrays, the published containers) and
 * clones a container only before changing it (eng__bm_add, eng__bm_remove). Ownership: the newest
 * version of a bitmap owns every container it points to; the version it replaced is retired
 * as a SHELL (its arrays) plus each container the new version cloned away from it. Snapshots
 * are reclaimed oldest first, so a container is freed only after every version that pointed to
 * it. CRoaring's own copy-on-write is not used: its shared counts are not thread-safe in the
 * version meson.build requires (docs/development.md, "Dependencies"). */

/* A container this build made (cloned, or created by roaring inside eng__bm_add/eng__bm_remove): no
 * published version points to it, so it may change in place. */
static size_t priv_slot(const void *c, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)c * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x >> 32) & (cap - 1);
}

/* A set, not a list: with the effective bitmaps a batch of 64 adds owns a few hundred
 * containers, and the list's scan in every eng__bm_add was a tenth of the publisher's time. */
static bool priv_has(const struct engine *e, const void *c)
{
    if (e->npriv == 0)
        return false;
    for (size_t h = priv_slot(c, e->cappriv); e->priv[h]; h = (h + 1) & (e->cappriv - 1))
        if (e->priv[h] == c)
            return true;
    return false;
}

static void priv_put(void **set, size_t cap, void *c)
{
    size_t h = priv_slot(c, cap);
    while (set[h])
        h = (h + 1) & (cap - 1);
    set[h] = c;
}

static void priv_add(struct engine *e, void *c)
{
    if ((e->npriv + 1) * 2 > e->cappriv) {
        size_t cap = e->cappriv ? e->cappriv * 2 : 256;
        void **set = xcalloc(cap, sizeof(*set));
        for (size_t i = 0; i < e->cappriv; i++)
            if (e->priv[i])
                priv_put(set, cap, e->priv[i]);
        xfree(e->priv);
        e->priv = set;
        e->cappriv = cap;
    }
    /* Already there when roaring freed a container of this build and a new one took its
     * address: both are the build's own. */
    if (!priv_has(e, c)) {
        priv_put(e->priv, e->cappriv, c);
        e->npriv++;
    }
}

roaring_bitmap_t *eng__bm_shallow(struct engine *e, const roaring_bitmap_t *b)
{
    const roaring_array_t *o = &b->high_low_container;
    roaring_bitmap_t *c = roaring_bitmap_create_with_capacity((uint32_t)o->size);
    roaring_array_t *ra = &c->high_low_container;

    if (o->size) {
        memcpy(ra->containers, o->containers, (size_t)o->size * sizeof(*o->containers));
        memcpy(ra->keys, o->keys, (size_t)o->size * sizeof(*o->keys));
        memcpy(ra->typecodes, o->typecodes, (size_t)o->size * sizeof(*o->typecodes));
    }
    ra->size = o->size;
    if (e->cur) {
        struct retired r = {c, (void *)b, OBJ_SHELL, 0};
        push_obj(&e->made, &e->nmade, &e->capmade, r);
    }
    return c;
}

/* Retires bitmap `b` that a shallow copy replaced. */
void eng__retire_shell(struct engine *e, roaring_bitmap_t *b)
{
    struct retired r = {b, NULL, OBJ_SHELL, 0};
    if (e->cur == NULL) {
        roaring_bitmap_free(b); /* loading: no copy shares anything yet */
        return;
    }
    push_obj(&e->cur->ret, &e->cur->nret, &e->cur->capret, r);
}

/* Makes the container that holds `v` (if any) this build's own. */
static void bm_own(struct engine *e, roaring_bitmap_t *b, uint32_t v)
{
    roaring_array_t *ra = &b->high_low_container;
    int32_t i = ra_get_index(ra, (uint16_t)(v >> 16));
    void *c;

    if (i < 0 || e->cur == NULL || priv_has(e, ra->containers[i]))
        return;
    c = container_clone(ra->containers[i], ra->typecodes[i]);
    {
        struct retired r = {ra->containers[i], NULL, OBJ_CONTAINER, ra->typecodes[i]};
        push_obj(&e->cur->ret, &e->cur->nret, &e->cur->capret, r);
    }
    ra->containers[i] = c;
    priv_add(e, c);
}

/* Roaring may have replaced the container (array <-> bitset): the new one is the build's too. */
static void bm_mark(struct engine *e, roaring_bitmap_t *b, uint32_t v)
{
    roaring_array_t *ra = &b->high_low_container;
    int32_t i = ra_get_index(ra, (uint16_t)(v >> 16));
    if (i >= 0 && e->cur && !priv_has(e, ra->containers[i]))
        priv_add(e, ra->containers[i]);
}

void eng__bm_add(struct engine *e, roaring_bitmap_t *b, uint32_t v)
{
    bm_own(e, b, v);
    roaring_bitmap_add(b, v);
    bm_mark(e, b, v);
}

void eng__bm_remove(struct engine *e, roaring_bitmap_t *b, uint32_t v)
{
    bm_own(e, b, v);
    roaring_bitmap_remove(b, v);
    bm_mark(e, b, v);
}

void *eng__mem_dup(struct engine *e, const void *p, size_t n)
{
    void *q = xmalloc(n ? n : 1);
    if (n)
        memcpy(q, p, n);
    return eng__made(e, q, false);
}

/* ---- the build: beginning, abandoning, publishing ---- */

static _Atomic uint64_t eng_gens;

void eng__build_begin(struct engine *e)
{
    struct eng_snap *b;

    assert(e->b == NULL); /* one build at a time (engine_catch_up holds catch_mu) */
    b = xcalloc(1, sizeof(*b));
    /* Unique in the process, not only in this engine: a reader's dense copies (eval.c) name
     * a bitmap's contents by its address and generation, and another engine may reuse the
     * address of a freed bitmap. Still increasing for this engine. */
    e->gen = atomic_fetch_add(&eng_gens, 1) + 1;
    if (e->cur) {
        /* Readers change cur->refs under the mutex: copy the snapshot under it too. */
        pthread_mutex_lock(&e->mu);
        *b = *e->cur;
        pthread_mutex_unlock(&e->mu);
        b->ret = NULL;
        b->nret = b->capret = 0;
        b->refs = 0;
        b->newer = NULL;
        e->ret_mark = e->cur->nret;
    }
    b->gen = e->gen;
    b->who_dir = e->who_dir;
    b->kinds = e->kinds;
    e->b = b;
    e->nmade = 0;
    if (e->npriv)
        memset(e->priv, 0, e->cappriv * sizeof(*e->priv));
    e->npriv = 0;
    e->structure_dirty = e->dict_dirty = false;
}

void eng__build_abandon(struct engine *e)
{
    for (size_t i = 0; i < e->nmade; i++)
        free_obj(&e->made[i]);
    e->nmade = 0;
    if (e->cur)
        e->cur->nret = e->ret_mark;
    xfree(e->b);
    e->b = NULL;
}

static void reclaim_locked(struct engine *e, struct eng_snap **list)
{
    while (e->oldest && e->oldest != e->cur && e->oldest->refs == 0) {
        struct eng_snap *s = e->oldest;
        assert(s->newer != NULL); /* older than cur, so a newer one exists */
        e->oldest = s->newer;
        s->newer = *list;
        *list = s;
    }
}

static void free_snaps(struct eng_snap *list)
{
    while (list) {
        struct eng_snap *next = list->newer;
        for (size_t i = 0; i < list->nret; i++)
            free_obj(&list->ret[i]);
        xfree(list->ret);
        xfree(list);
        list = next;
    }
}

void eng__build_publish(struct engine *e)
{
    struct eng_snap *dead = NULL;

    /* A published snapshot never changes, and a newer one reflects a newer revision: readers
     * and api/cache.c key what they computed on the revision alone. */
    assert(e->b != NULL && e->b->gen == e->gen);
    assert(e->cur == NULL || e->b->rev > e->cur->rev);
#ifndef NDEBUG
    /* The effective bitmaps' invariant (struct etag), recomputed where that is cheap: the API
     * tests' stores. */
    if (e->b->nres < 5000 && e->b->nasg < 20000) {
        char msg[200];
        int bad = eng__effective_check(e->b, msg, sizeof(msg));
        if (bad)
            log_error("engine: %d effective bitmaps wrong: %s", bad, msg);
        assert(bad == 0);
    }
#endif
    e->nmade = 0;
    pthread_mutex_lock(&e->mu);
    if (e->cur)
        e->cur->newer = e->b;
    else
        e->oldest = e->b;
    e->cur = e->b;
    reclaim_locked(e, &dead);
    pthread_cond_broadcast(&e->published);
    pthread_mutex_unlock(&e->mu);
    e->b = NULL;
    free_snaps(dead);
}

static void free_current(struct eng_snap *s)
{
    for (uint32_t i = 0; i < s->ntags; i++) {
        struct etag *t = s->tags[i];
        if (t == NULL)
            continue;
        roaring_bitmap_free(t->direct);
        if (t->sub)
            roaring_bitmap_free(t->sub);
        if (t->eff)
            roaring_bitmap_free(t->eff);
        if (t->esub)
            roaring_bitmap_free(t->esub);
        xfree(t->name);
        xfree(t->key);
        xfree(t->rec);
        xfree(t);
    }
    xfree(s->tags);
    for (uint32_t i = 0; i < s->nchunks; i++) {
        struct chunk *ch = s->chunks[i];
        if (ch == NULL)
            continue;
        for (uint32_t j = 0; j < CHUNK; j++) {
            xfree(ch->r[j].tags);
            xfree(ch->r[j].key);
            if (ch->r[j].children)
                roaring_bitmap_free(ch->r[j].children);
        }
        xfree(ch);
    }
    xfree(s->chunks);
    for (size_t i = 0; i < s->nsets; i++)
        roaring_bitmap_free(s->sets[i].bm);
    xfree(s->sets);
    xfree(s->dict);
    xfree(s->rank);
    xfree(s->aliases);
    xfree(s->pols);
    xfree(s->kidx);
    if (s->archived)
        roaring_bitmap_free(s->archived);
}

void engine_free(struct engine *e)
{
    struct eng_snap *cur;

    if (e == NULL)
        return;
    if (e->b)
        eng__build_abandon(e);
    cur = e->cur;
    /* Retired objects of older snapshots are not reachable from the current one. */
    if (cur) {
        struct eng_snap *s = e->oldest, *next;
        for (; s && s != cur; s = next) {
            assert(s->refs == 0);
            next = s->newer;
            s->newer = NULL;
            free_snaps(s);
        }
        assert(cur->refs == 0);
        free_current(cur);
        for (size_t i = 0; i < cur->nret; i++)
            free_obj(&cur->ret[i]);
        xfree(cur->ret);
        xfree(cur);
    }
    xfree(e->made);
    xfree(e->priv);
    xfree(e->stk);
    xfree(e->cand);
    for (int i = 0; i < e->nkinds; i++)
        xfree(e->kinds[i]);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->published);
    pthread_mutex_destroy(&e->catch_mu);
    for (uint32_t i = 0; i < e->nwho; i++) {
        const struct who *w = eng__who_at(e->who_dir, i);
        xfree(w->context);
        xfree(w->added_by);
    }
    for (int i = 0; i < WHO_DIR; i++)
        xfree(e->who_dir[i]);
    xfree(e->who_dir);
    xfree(e->who_slots);
    xfree(e);
}

const struct eng_snap *engine_acquire(struct engine *e)
{
    struct eng_snap *s;
    pthread_mutex_lock(&e->mu);
    s = e->cur;
    assert(s != NULL); /* engine_open published the first one */
    s->refs++;
    pthread_mutex_unlock(&e->mu);
    return s;
}

void engine_release(struct engine *e, const struct eng_snap *s)
{
    pthread_mutex_lock(&e->mu);
    assert(s->refs > 0);
    ((struct eng_snap *)s)->refs--;
    pthread_mutex_unlock(&e->mu);
}

bool engine_wait(struct engine *e, int64_t rev, int64_t timeout_ms)
{
    struct timespec until;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&e->mu);
    while (e->cur->rev < rev && pthread_cond_timedwait(&e->published, &e->mu, &until) == 0)
        ;
    ok = e->cur->rev >= rev;
    pthread_mutex_unlock(&e->mu);
    return ok;
}

int64_t eng_snap_rev(const struct eng_snap *s)
{
    return s->rev;
}

void eng_snap_stats(const struct eng_snap *s, struct eng_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->rev = s->rev;
    out->resources = s->nres;
    out->assignments = s->nasg;
    for (uint32_t i = 0; i < s->ntags; i++) {
        const struct etag *t = s->tags[i];
        if (t == NULL)
            continue;
        if (!t->deleted)
            out->tags++;
        out->bitmap_bytes += roaring_bitmap_portable_size_in_bytes(t->direct);
        if (t->sub)
            out->bitmap_bytes += roaring_bitmap_portable_size_in_bytes(t->sub);
        if (t->eff)
            out->bitmap_bytes += roaring_bitmap_portable_size_in_bytes(t->eff);
        if (t->esub)
            out->bitmap_bytes += roaring_bitmap_portable_size_in_bytes(t->esub);
    }
    for (size_t i = 0; i < s->nsets; i++)
        out->bitmap_bytes += roaring_bitmap_portable_size_in_bytes(s->sets[i].bm);
}
