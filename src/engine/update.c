/* engine/engine.c: snapshots of the tag index, their loading, updating and reclamation.
 *
 * A snapshot holds directories of pointers: tags by id, chunks of resource entries by id /
 * CHUNK, and the per-workspace sets (every resource of a workspace, every resource of one kind
 * in a workspace). Every object carries the generation that created it. While building
 * generation G the writer mutates in place only objects of generation G, which no reader has
 * seen; anything older is copied first and the original is put on the retire list of the
 * snapshot it belonged to. A retired object is freed when that snapshot and every older one
 * have been released (CRoaring's own copy-on-write is not used: see below, at priv_has).
 *
 * Bitmaps per tag: `direct` (resources carrying the tag, deleted tags included, as their
 * assignments stay open) and `sub` (the union over the live tags of its subtree; NULL for a tag
 * without live children, whose subtree is `direct`), and their effective versions `eff` and
 * `esub` (below, at struct etag), kept up to date by every change so that an effective query
 * reads them as a direct one reads `direct`. Resource entries keep their sorted direct tag ids,
 * parent, kind, workspace and a bitmap of their children. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/containers/containers.h>
#include <roaring/roaring.h>
#include <roaring/roaring_array.h>

#include "core/model.h"
#include "util/json.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/name.h"

/* A write copies the chunk of every resource it changes (40 bytes an entry) and, once per
 * build, the chunk directory. With 1,024-entry chunks the copies were a quarter of the
 * publisher's time under random adds (a 40 KB copy for each); 128 entries copy 5 KB, and the
 * directory of a million resources 61 KB per build (figure 4: publisher 22.8 -> 17.0 us per
 * add; 64 entries measured the same as 128). */
#define CHUNK_BITS 7
#define CHUNK (1u << CHUNK_BITS)
#define MAX_TAG_DEPTH 64
#define MAX_KINDS 4096

enum { R_EXISTS = 1, R_ARCHIVED = 2 };

struct etag {
    uint64_t gen, direct_gen, sub_gen;
    int64_t id, ws_id, parent_id;
    char *name, *key; /* shared by copies of the entry; retired when replaced */
    struct tag *rec;  /* the whole row, one allocation; name fields point at name and key */
    bool deleted;
    roaring_bitmap_t *direct; /* never NULL */
    roaring_bitmap_t *sub;    /* NULL: no live children */
    /* Effective (inherited) versions, what expand() of the source gives: a resource is in
     * eff(S) when it is in S, or it exists and its parent is in eff(S) (an existing resource
     * is in its parent's `children` and nothing else is). Invariants, in every published
     * snapshot:
     *   eff  == expand(direct), never NULL;
     *   esub == expand(sub), NULL exactly when sub is NULL.
     * So a resource's membership is decided by its own and its ancestors' membership in the
     * source: eff_refresh keeps it after each change of one member or one parent link, and
     * eng__effective_check (engine_int.h) recomputes both from scratch. Before effective
     * queries read these, each one walked the resource tree from every member (0.5-1.9 ms a
     * query at 200,000 assignments). */
    uint64_t eff_gen, esub_gen;
    roaring_bitmap_t *eff;
    roaring_bitmap_t *esub;
};

/* A resource's assignments are one block: ntags sorted tag ids, then as many `who` indexes
 * (the interned context and added_by), added_at times and ranks in the order of assigning
 * (by assignment id, which Oracle's dialect shows; a rank takes 4 bytes where the id took 8).
 * The tag ids come first, so `tags` is also the plain sorted array the queries read. */
#define B_WHO(p, n) ((uint32_t *)(p) + (n))
#define B_AT(p, n) ((int64_t *)((uint32_t *)(p) + 2 * (size_t)(n)))
#define B_ORD(p, n) ((uint32_t *)(B_AT(p, n) + (n)))
#define B_SIZE(n) ((size_t)(n) * (3 * sizeof(uint32_t) + sizeof(int64_t)))

struct eres {
    uint32_t *tags; /* the assignment block (above), NULL when none */
    roaring_bitmap_t *children;
    char *key;      /* immutable for the id; retired with the resource */
    uint32_t ntags, parent, ws;
    uint16_t kind;
    uint8_t flags;
};

struct chunk {
    uint64_t gen;
    struct eres r[CHUNK];
};

struct eset {
    int64_t ws_id;
    int kind;          /* -1: the workspace's universe */
    const char *kname; /* the interned kind (engine-owned, immutable), NULL for the universe */
    uint64_t gen;
    roaring_bitmap_t *bm;
};

/* Resources by (workspace, kind, key): an open-addressing table of resource ids that only
 * grows. The writer inserts into the table every snapshot shares (atomic slots); a reader
 * verifies each candidate against its own snapshot's entry, so ids inserted after its
 * snapshot, or of deleted resources, are skipped. A rebuild (at half load) makes a new table
 * for the build and retires the old one with its snapshot. */
struct keyidx {
    uint32_t cap, used; /* used: the writer's count */
    _Atomic uint32_t slot[];
};

struct dict_ent {
    int64_t ws_id;
    const char *key;
    uint32_t id;
};

/* What a retired or made object is, for freeing it. A SHELL is a bitmap whose containers are
 * owned elsewhere (see "bitmaps shared by container" below): only its arrays go; with an
 * origin (an abandoned build's shallow copy), its containers not in the origin go too. */
enum { OBJ_MEM, OBJ_BITMAP, OBJ_SHELL, OBJ_CONTAINER };

struct retired {
    void *p;
    void *origin;
    uint8_t kind, type; /* type: a container's typecode */
};

/* (context, added_by) pairs, interned: an assignment keeps a 4-byte index. The table only
 * grows; its directory is allocated once, so readers index it without a lock (an entry is
 * written before the snapshot that refers to it is published). */
#define WHO_CHUNK_BITS 10
#define WHO_CHUNK (1u << WHO_CHUNK_BITS)
#define WHO_DIR 4096
struct who {
    char *context, *added_by;
};

struct eng_snap {
    uint64_t gen;
    int64_t rev;
    int refs;
    struct eng_snap *newer;
    struct etag **tags;
    uint32_t ntags; /* directory length: max tag id + 1 */
    uint64_t tags_gen;
    struct dict_ent *dict;
    size_t ndict;
    uint64_t dict_gen;
    uint32_t *rank; /* by tag id: its place in `dict`, so name order is an integer compare */
    struct chunk **chunks;
    uint32_t nchunks;
    uint64_t chunks_gen;
    struct eset *sets;
    size_t nsets;
    uint64_t sets_gen;
    roaring_bitmap_t *archived;
    uint64_t archived_gen;
    struct keyidx *kidx;  /* shared by snapshots until a rebuild (above) */
    struct who **who_dir; /* the engine's, shared by every snapshot */
    char **kinds;         /* the engine's kind names (append-only), shared likewise */
    size_t nres, nasg;
    /* writer only: what building the next snapshot replaced */
    struct retired *ret;
    size_t nret, capret;
};

struct engine {
    pthread_mutex_t mu;
    pthread_mutex_t catch_mu; /* one engine_catch_up at a time: the writer's or the tailer's */
    struct eng_snap *cur, *oldest;
    /* writer only */
    struct eng_snap *b; /* being built, unpublished */
    uint64_t gen;
    size_t ret_mark; /* cur->nret when the build started */
    struct retired *made; /* objects created by the build: freed if it is abandoned */
    size_t nmade, capmade;
    bool structure_dirty, dict_dirty;
    void **priv; /* containers the build made (bm_own): an open-addressing set, NULL empty */
    size_t npriv, cappriv;
    char *kinds[MAX_KINDS];
    int nkinds;
    struct who **who_dir;
    uint32_t nwho;
    uint32_t *who_slots; /* writer's hash of the pairs: index + 1, 0 empty */
    size_t who_cap;
    uint32_t last_who;   /* the pair interned last: loading repeats it row after row */
    int64_t max_asg_id;  /* the largest assignment id any block was built from */
    uint32_t *stk;       /* eff_refresh's walk: (resource, in) pairs */
    size_t capstk;
    uint32_t *cand;      /* res_set_row's candidate tags */
    size_t ncand, capcand;
    /* Resources whose assignments a catch-up applied from the change records, or read again
     * (engine_catch_up_stats). */
    _Atomic uint64_t applied, reread;
};

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
static void retire(struct engine *e, void *p, bool bitmap)
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
static void *made(struct engine *e, void *p, bool bitmap)
{
    if (e->cur)
        push_ret(&e->made, &e->nmade, &e->capmade, p, bitmap);
    return p;
}

static roaring_bitmap_t *bm_new(struct engine *e)
{
    return made(e, roaring_bitmap_create(), true);
}

static void priv_add(struct engine *e, void *c);

/* A deep copy: every container is the build's own. */
static roaring_bitmap_t *bm_copy(struct engine *e, const roaring_bitmap_t *b)
{
    roaring_bitmap_t *c = made(e, roaring_bitmap_copy(b), true);
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
 * clones a container only before changing it (bm_add, bm_remove). Ownership: the newest
 * version of a bitmap owns every container it points to; the version it replaced is retired
 * as a SHELL (its arrays) plus each container the new version cloned away from it. Snapshots
 * are reclaimed oldest first, so a container is freed only after every version that pointed to
 * it. CRoaring's own copy-on-write is not used: its shared counts are not thread-safe in the
 * version meson.build requires (docs/development.md, "Dependencies"). */

/* A container this build made (cloned, or created by roaring inside bm_add/bm_remove): no
 * published version points to it, so it may change in place. */
static size_t priv_slot(const void *c, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)c * 0x9e3779b97f4a7c15ULL;
    return (size_t)(x >> 32) & (cap - 1);
}

/* A set, not a list: with the effective bitmaps a batch of 64 adds owns a few hundred
 * containers, and the list's scan in every bm_add was a tenth of the publisher's time. */
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

static roaring_bitmap_t *bm_shallow(struct engine *e, const roaring_bitmap_t *b)
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
static void retire_shell(struct engine *e, roaring_bitmap_t *b)
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

static void bm_add(struct engine *e, roaring_bitmap_t *b, uint32_t v)
{
    bm_own(e, b, v);
    roaring_bitmap_add(b, v);
    bm_mark(e, b, v);
}

static void bm_remove(struct engine *e, roaring_bitmap_t *b, uint32_t v)
{
    bm_own(e, b, v);
    roaring_bitmap_remove(b, v);
    bm_mark(e, b, v);
}

static void *mem_dup(struct engine *e, const void *p, size_t n)
{
    void *q = xmalloc(n ? n : 1);
    if (n)
        memcpy(q, p, n);
    return made(e, q, false);
}

/* ---- the build: writable views of the snapshot's objects ---- */

static void build_begin(struct engine *e)
{
    struct eng_snap *b;

    assert(e->b == NULL); /* one build at a time (engine_catch_up holds catch_mu) */
    b = xcalloc(1, sizeof(*b));
    e->gen++;
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

static void build_abandon(struct engine *e)
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

static void build_publish(struct engine *e)
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
    pthread_mutex_unlock(&e->mu);
    e->b = NULL;
    free_snaps(dead);
}

static void w_tags_dir(struct engine *e, uint32_t need)
{
    struct eng_snap *b = e->b;
    uint32_t n = b->ntags;

    if (b->tags_gen == b->gen && need <= n)
        return;
    if (need > n) {
        n = need < 64 ? 64 : need;
        if (n < b->ntags * 2)
            n = b->ntags * 2;
    }
    {
        struct etag **d = made(e, xcalloc(n, sizeof(*d)), false);
        if (b->ntags)
            memcpy(d, b->tags, b->ntags * sizeof(*d));
        retire(e, b->tags, false);
        b->tags = d;
        b->ntags = n;
        b->tags_gen = b->gen;
    }
}

static struct etag *tag_at(const struct eng_snap *s, int64_t id)
{
    if (id <= 0 || (uint64_t)id >= s->ntags)
        return NULL;
    return s->tags[id];
}

/* A writable copy of tag `id` (which must exist). */
static struct etag *w_tag(struct engine *e, uint32_t id)
{
    struct eng_snap *b = e->b;
    struct etag *t, *c;

    assert(b != NULL && id < b->ntags && b->tags[id] != NULL);
    t = b->tags[id];
    /* Generation G mutates in place only what generation G made: no reader has seen it. */
    assert(t->gen <= b->gen);
    if (t->gen == b->gen)
        return t;
    w_tags_dir(e, 0);
    c = mem_dup(e, t, sizeof(*t));
    c->gen = b->gen;
    retire(e, t, false);
    b->tags[id] = c;
    return c;
}

static roaring_bitmap_t *w_direct(struct engine *e, uint32_t id)
{
    struct etag *t = w_tag(e, id);
    assert(t->direct != NULL);
    if (t->direct_gen != e->b->gen) {
        roaring_bitmap_t *c = bm_shallow(e, t->direct);
        retire_shell(e, t->direct);
        t->direct = c;
        t->direct_gen = e->b->gen;
    }
    return t->direct;
}

/* The writable `sub` of tag id, which must have one. */
static roaring_bitmap_t *w_sub(struct engine *e, uint32_t id)
{
    struct etag *t = w_tag(e, id);
    assert(t->sub != NULL);
    if (t->sub_gen != e->b->gen) {
        roaring_bitmap_t *c = bm_shallow(e, t->sub);
        retire_shell(e, t->sub);
        t->sub = c;
        t->sub_gen = e->b->gen;
    }
    return t->sub;
}

/* The writable effective bitmap of tag id: esub with `sub`, else eff (it must exist). */
static roaring_bitmap_t *w_eff(struct engine *e, uint32_t id, bool sub)
{
    struct etag *t = w_tag(e, id);
    roaring_bitmap_t **bm = sub ? &t->esub : &t->eff;
    uint64_t *gen = sub ? &t->esub_gen : &t->eff_gen;

    assert(*bm != NULL);
    if (*gen != e->b->gen) {
        roaring_bitmap_t *c = bm_shallow(e, *bm);
        retire_shell(e, *bm);
        *bm = c;
        *gen = e->b->gen;
    }
    return *bm;
}

static void w_chunks_dir(struct engine *e, uint32_t need)
{
    struct eng_snap *b = e->b;
    uint32_t n = b->nchunks;
    struct chunk **d;

    if (b->chunks_gen == b->gen && need <= n)
        return;
    if (need > n)
        n = need < 2 * b->nchunks ? 2 * b->nchunks : need;
    d = made(e, xcalloc(n, sizeof(*d)), false);
    if (b->nchunks)
        memcpy(d, b->chunks, b->nchunks * sizeof(*d));
    retire(e, b->chunks, false);
    b->chunks = d;
    b->nchunks = n;
    b->chunks_gen = b->gen;
}

static const struct eres *res_at(const struct eng_snap *s, uint32_t id)
{
    uint32_t c = id >> CHUNK_BITS;
    if (c >= s->nchunks || s->chunks[c] == NULL)
        return NULL;
    return &s->chunks[c]->r[id & (CHUNK - 1)];
}

/* A writable resource entry (created empty when missing). */
static struct eres *w_res(struct engine *e, uint32_t id)
{
    struct eng_snap *b = e->b;
    uint32_t c = id >> CHUNK_BITS;
    struct chunk *ch;

    assert(b != NULL);
    if (c >= b->nchunks)
        w_chunks_dir(e, c + 1);
    ch = b->chunks[c];
    if (ch && ch->gen == b->gen)
        return &ch->r[id & (CHUNK - 1)];
    w_chunks_dir(e, 0);
    if (ch) {
        struct chunk *cp = mem_dup(e, ch, sizeof(*ch));
        retire(e, ch, false);
        ch = cp;
    } else {
        ch = made(e, xcalloc(1, sizeof(*ch)), false);
    }
    ch->gen = b->gen;
    b->chunks[c] = ch;
    return &ch->r[id & (CHUNK - 1)];
}

static struct eset *set_find(const struct eng_snap *s, int64_t ws, int kind)
{
    for (size_t i = 0; i < s->nsets; i++)
        if (s->sets[i].ws_id == ws && s->sets[i].kind == kind)
            return &s->sets[i];
    return NULL;
}

/* The writable bitmap of set (ws, kind), created when missing. */
static roaring_bitmap_t *w_set(struct engine *e, int64_t ws, int kind)
{
    struct eng_snap *b = e->b;
    struct eset *st = set_find(b, ws, kind);

    if (b->sets_gen != b->gen || st == NULL) {
        /* Sets are few (workspaces x kinds): copying the array is cheap. */
        struct eset *d = made(e, xcalloc(b->nsets + 1, sizeof(*d)), false);
        if (b->nsets)
            memcpy(d, b->sets, b->nsets * sizeof(*d));
        retire(e, b->sets, false);
        b->sets = d;
        b->sets_gen = b->gen;
        st = set_find(b, ws, kind);
    }
    if (st == NULL) {
        st = &b->sets[b->nsets++];
        st->ws_id = ws;
        st->kind = kind;
        st->kname = kind >= 0 ? e->kinds[kind] : NULL;
        st->bm = bm_new(e);
        st->gen = b->gen;
    }
    if (st->gen != b->gen) {
        roaring_bitmap_t *c = bm_copy(e, st->bm);
        retire(e, st->bm, true);
        st->bm = c;
        st->gen = b->gen;
    }
    return st->bm;
}

static roaring_bitmap_t *w_archived(struct engine *e)
{
    struct eng_snap *b = e->b;
    if (b->archived == NULL) {
        b->archived = bm_new(e);
        b->archived_gen = b->gen;
    } else if (b->archived_gen != b->gen) {
        roaring_bitmap_t *c = bm_copy(e, b->archived);
        retire(e, b->archived, true);
        b->archived = c;
        b->archived_gen = b->gen;
    }
    return b->archived;
}

static int kind_index(struct engine *e, const char *kind, struct tg_err *err)
{
    for (int i = 0; i < e->nkinds; i++)
        if (strcmp(e->kinds[i], kind) == 0)
            return i;
    if (e->nkinds == MAX_KINDS)
        return tg_err_set(err, TG_ELIMIT, "kind", "more than %d resource kinds", MAX_KINDS);
    e->kinds[e->nkinds] = xstrdup(kind);
    return e->nkinds++;
}

/* ---- assignment details: interned (context, added_by) pairs ---- */

/* FNV-1a of two strings (NULL as ""), with a separator byte so ("ab", "c") != ("a", "bc"). */
static uint64_t hash2(uint64_t h, const char *a, const char *b)
{
    for (const char *p = a ? a : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0x1ff) * 1099511628211ULL;
    for (const char *p = b ? b : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static uint64_t who_hash(const char *context, const char *added_by)
{
    return hash2(1469598103934665603ULL, context, added_by);
}

static bool str_eq(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static const struct who *who_at(struct who *const *dir, uint32_t i)
{
    return &dir[i >> WHO_CHUNK_BITS][i & (WHO_CHUNK - 1)];
}

static void who_rehash(struct engine *e)
{
    size_t cap = e->who_cap ? e->who_cap * 2 : 64;
    uint32_t *slots = xcalloc(cap, sizeof(*slots));

    for (uint32_t i = 0; i < e->nwho; i++) {
        const struct who *w = who_at(e->who_dir, i);
        size_t h = (size_t)(who_hash(w->context, w->added_by) & (cap - 1));
        while (slots[h])
            h = (h + 1) & (cap - 1);
        slots[h] = i + 1;
    }
    xfree(e->who_slots);
    e->who_slots = slots;
    e->who_cap = cap;
}

static int who_intern(struct engine *e, const char *context, const char *added_by,
                      uint32_t *out, struct tg_err *err)
{
    size_t h;
    struct who *w;

    if (e->nwho) {
        const struct who *last = who_at(e->who_dir, e->last_who);
        if (str_eq(last->context, context) && str_eq(last->added_by, added_by)) {
            *out = e->last_who;
            return 0;
        }
    }
    if ((e->nwho + 1) * 2 > e->who_cap)
        who_rehash(e);
    h = (size_t)(who_hash(context, added_by) & (e->who_cap - 1));
    for (; e->who_slots[h]; h = (h + 1) & (e->who_cap - 1)) {
        const struct who *x = who_at(e->who_dir, e->who_slots[h] - 1);
        if (str_eq(x->context, context) && str_eq(x->added_by, added_by)) {
            *out = e->last_who = e->who_slots[h] - 1;
            return 0;
        }
    }
    if (e->nwho == (uint32_t)WHO_DIR * WHO_CHUNK)
        return tg_err_set(err, TG_ELIMIT, "assignment", "more than %u distinct assigners",
                          (unsigned)WHO_DIR * WHO_CHUNK);
    if (e->who_dir[e->nwho >> WHO_CHUNK_BITS] == NULL)
        e->who_dir[e->nwho >> WHO_CHUNK_BITS] = xcalloc(WHO_CHUNK, sizeof(struct who));
    w = &e->who_dir[e->nwho >> WHO_CHUNK_BITS][e->nwho & (WHO_CHUNK - 1)];
    w->context = context ? xstrdup(context) : NULL;
    w->added_by = added_by ? xstrdup(added_by) : NULL;
    e->who_slots[h] = e->nwho + 1;
    *out = e->last_who = e->nwho++;
    return 0;
}

/* Rows being gathered into one resource's assignment block. */
struct asg_rows {
    uint32_t *tags, *who;
    int64_t *at, *id;
    size_t n, cap;
};

static int rows_push(struct engine *e, struct asg_rows *v, struct store_stmt *st, int at,
                     struct tg_err *err)
{
    int64_t t = col_int(st, at);
    uint32_t w = 0;
    int rc;

    if (t <= 0 || t >= (int64_t)UINT32_MAX)
        return 0;
    rc = who_intern(e, col_null(st, at + 1) ? NULL : col_text(st, at + 1),
                    col_null(st, at + 2) ? NULL : col_text(st, at + 2), &w, err);
    if (rc)
        return rc;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->tags = xrealloc(v->tags, v->cap * sizeof(*v->tags));
        v->who = xrealloc(v->who, v->cap * sizeof(*v->who));
        v->at = xrealloc(v->at, v->cap * sizeof(*v->at));
        v->id = xrealloc(v->id, v->cap * sizeof(*v->id));
    }
    v->tags[v->n] = (uint32_t)t;
    v->who[v->n] = w;
    v->at[v->n] = col_int(st, at + 3);
    v->id[v->n] = col_int(st, at + 4);
    if (v->id[v->n] > e->max_asg_id)
        e->max_asg_id = v->id[v->n];
    v->n++;
    return 0;
}

/* The gathered rows as a block (NULL when none). */
static int cmp_by_id(const void *x, const void *y, void *ids)
{
    int64_t a = ((const int64_t *)ids)[*(const uint32_t *)x];
    int64_t b = ((const int64_t *)ids)[*(const uint32_t *)y];
    return a < b ? -1 : a > b;
}

static uint32_t *rows_block(const struct asg_rows *v)
{
    uint32_t *b, *ord;
    if (v->n == 0)
        return NULL;
    b = xmalloc(B_SIZE(v->n));
    memcpy(b, v->tags, v->n * sizeof(*v->tags));
    memcpy(B_WHO(b, v->n), v->who, v->n * sizeof(*v->who));
    memcpy(B_AT(b, v->n), v->at, v->n * sizeof(*v->at));
    /* Rows come by tag id; each one's rank by assignment id is its order of assigning. */
    ord = B_ORD(b, v->n);
    if (v->n == 1) {
        ord[0] = 0;
    } else {
        uint32_t *by = xmalloc(v->n * sizeof(*by));
        for (size_t i = 0; i < v->n; i++)
            by[i] = (uint32_t)i;
        qsort_r(by, v->n, sizeof(*by), cmp_by_id, v->id);
        for (size_t i = 0; i < v->n; i++)
            ord[by[i]] = (uint32_t)i;
        xfree(by);
    }
    return b;
}

static void rows_free(struct asg_rows *v)
{
    xfree(v->tags);
    xfree(v->who);
    xfree(v->at);
    xfree(v->id);
}

/* ---- tags ---- */

static int cmp_dict(const void *x, const void *y)
{
    const struct dict_ent *a = x, *b = y;
    if (a->ws_id != b->ws_id)
        return a->ws_id < b->ws_id ? -1 : 1;
    return strcmp(a->key, b->key);
}

static void rebuild_dict(struct engine *e)
{
    struct eng_snap *b = e->b;
    struct dict_ent *d = made(e, xcalloc(b->ntags + 1, sizeof(*d)), false);
    size_t n = 0;

    for (uint32_t i = 0; i < b->ntags; i++) {
        struct etag *t = b->tags[i];
        if (t == NULL)
            continue;
        d[n].ws_id = t->ws_id;
        d[n].key = t->key;
        d[n++].id = i;
    }
    qsort(d, n, sizeof(*d), cmp_dict);
    retire(e, b->dict, false);
    b->dict = d;
    b->ndict = n;
    b->dict_gen = b->gen;
    {
        uint32_t *rank = made(e, xcalloc(b->ntags + 1, sizeof(*rank)), false);
        for (size_t i = 0; i < n; i++)
            rank[d[i].id] = (uint32_t)i;
        retire(e, b->rank, false);
        b->rank = rank;
    }
}

static const struct etag *dict_find(const struct eng_snap *s, int64_t ws, const char *key)
{
    size_t lo = 0, hi = s->ndict;
    struct dict_ent k = {ws, key, 0};

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_dict(&s->dict[mid], &k);
        if (c == 0) {
            const struct etag *t = s->tags[s->dict[mid].id];
            return t->deleted ? NULL : t;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* True when tag `t` is `anc` or lies below it. */
static bool tag_under(const struct eng_snap *s, uint32_t t, uint32_t anc)
{
    for (int d = 0; t && d < MAX_TAG_DEPTH; d++) {
        const struct etag *x;
        if (t == anc)
            return true;
        x = tag_at(s, t);
        if (x == NULL)
            return false;
        t = (uint32_t)x->parent_id;
    }
    return false;
}

static int tag_depth(const struct eng_snap *s, const struct etag *t)
{
    int d = 0;
    while (t && t->parent_id && d < MAX_TAG_DEPTH) {
        t = tag_at(s, t->parent_id);
        d++;
    }
    return d;
}

struct by_depth {
    int depth;
    uint32_t id;
};

static int cmp_depth_desc(const void *x, const void *y)
{
    const struct by_depth *a = x, *b = y;
    if (a->depth != b->depth)
        return a->depth > b->depth ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Recomputes every `sub` bottom-up: the union over live tags of each subtree. */
static void recompute_subtrees(struct engine *e)
{
    struct eng_snap *b = e->b;
    struct by_depth *order = xcalloc(b->ntags + 1, sizeof(*order));
    roaring_bitmap_t **acc = xcalloc(b->ntags + 1, sizeof(*acc));
    roaring_bitmap_t **acce = xcalloc(b->ntags + 1, sizeof(*acce)); /* the same over eff */
    size_t n = 0, i;

    for (uint32_t id = 0; id < b->ntags; id++) {
        struct etag *t = b->tags[id];
        if (t == NULL || t->deleted)
            continue;
        order[n].depth = tag_depth(b, t);
        order[n++].id = id;
    }
    qsort(order, n, sizeof(*order), cmp_depth_desc);
    /* Children come before their parent: fold each live tag's subtree into its parent. As
     * expand() distributes over unions, folding the eff bitmaps the same way gives each
     * esub == expand(sub). */
    for (i = 0; i < n; i++) {
        uint32_t id = order[i].id;
        struct etag *t = b->tags[id], *p;
        const roaring_bitmap_t *mine, *mine_e;
        if (acc[id]) {
            roaring_bitmap_or_inplace(acc[id], t->direct);
            roaring_bitmap_run_optimize(acc[id]);
            roaring_bitmap_shrink_to_fit(acc[id]);
            roaring_bitmap_or_inplace(acce[id], t->eff);
            roaring_bitmap_run_optimize(acce[id]);
            roaring_bitmap_shrink_to_fit(acce[id]);
        }
        mine = acc[id] ? acc[id] : t->direct;
        mine_e = acce[id] ? acce[id] : t->eff;
        p = tag_at(b, t->parent_id);
        if (p && !p->deleted) {
            if (acc[t->parent_id] == NULL) {
                acc[t->parent_id] = roaring_bitmap_copy(mine);
                acce[t->parent_id] = roaring_bitmap_copy(mine_e);
            } else {
                roaring_bitmap_or_inplace(acc[t->parent_id], mine);
                roaring_bitmap_or_inplace(acce[t->parent_id], mine_e);
            }
        }
    }
    for (uint32_t id = 0; id < b->ntags; id++) {
        struct etag *t = b->tags[id];
        if (t == NULL)
            continue;
        if (t->sub == NULL && acc[id] == NULL)
            continue;
        t = w_tag(e, id);
        retire(e, t->sub, true);
        t->sub = acc[id] ? made(e, acc[id], true) : NULL;
        t->sub_gen = b->gen;
        retire(e, t->esub, true);
        t->esub = acce[id] ? made(e, acce[id], true) : NULL;
        t->esub_gen = b->gen;
    }
    xfree(acc);
    xfree(acce);
    xfree(order);
}

/* The row (TAG_COLS) as one allocation: a struct tag followed by its strings. The name fields
 * point at the entry's own `name` and `key`, which outlive every record that uses them. */
static struct tag *rec_read(struct store_stmt *st, const char *name, const char *key)
{
    static const int cols[] = {5, 6, 7, 8, 9, 16, 17};
    enum { NSTR = sizeof(cols) / sizeof(cols[0]) };
    const char *v[NSTR];
    size_t len[NSTR], total = sizeof(struct tag);
    struct tag *t;
    char *p;

    for (int i = 0; i < NSTR; i++) {
        v[i] = col_null(st, cols[i]) ? NULL : col_text(st, cols[i]);
        len[i] = v[i] ? strlen(v[i]) + 1 : 0;
        total += len[i];
    }
    t = xcalloc(1, total);
    p = (char *)(t + 1);
    {
        const char **dst[NSTR] = {&t->display_name, &t->l10n,  &t->color,     &t->description,
                                  &t->source,       &t->extra, &t->created_by};
        for (int i = 0; i < NSTR; i++) {
            if (v[i] == NULL)
                continue;
            memcpy(p, v[i], len[i]);
            *dst[i] = p;
            p += len[i];
        }
    }
    t->id = col_int(st, 0);
    t->ws_id = col_int(st, 1);
    t->name = name;
    t->name_key = key;
    t->parent_id = col_null(st, 4) ? 0 : col_int(st, 4);
    t->system_created = col_int(st, 10) != 0;
    t->protected_ = col_int(st, 11) != 0;
    t->archived = col_int(st, 12) != 0;
    t->deleted = col_int(st, 13) != 0;
    t->group_id = col_null(st, 14) ? 0 : col_int(st, 14);
    t->position = col_int(st, 15);
    t->created_at = col_int(st, 18);
    t->updated_at = col_int(st, 19);
    t->version = col_int(st, 20);
    return t;
}

/* Forgets tag `id` and takes it off every resource: it was purged, and its assignments were
 * closed with it. A purged tag's id may be given to the next tag made (SQLite reuses the
 * largest rowid), so the catch-up drops a purged tag before it reads the row again. */
static void tag_drop(struct engine *e, uint32_t id)
{
    struct eng_snap *b = e->b;
    struct etag *old = tag_at(b, id);
    roaring_uint32_iterator_t *it;

    if (old == NULL)
        return;
    it = roaring_create_iterator(old->direct);
    while (it->has_value) {
        struct eres *r = w_res(e, it->current_value);
        uint32_t *nt = NULL, k = 0, m = 0;
        for (uint32_t j = 0; j < r->ntags; j++)
            m += r->tags[j] != (uint32_t)id;
        if (m)
            nt = made(e, xmalloc(B_SIZE(m)), false);
        for (uint32_t j = 0; j < r->ntags; j++) {
            if (r->tags[j] == (uint32_t)id)
                continue;
            nt[k] = r->tags[j];
            B_WHO(nt, m)[k] = B_WHO(r->tags, r->ntags)[j];
            B_AT(nt, m)[k] = B_AT(r->tags, r->ntags)[j];
            B_ORD(nt, m)[k++] = B_ORD(r->tags, r->ntags)[j];
        }
        retire(e, r->tags, false);
        r->tags = nt;
        b->nasg -= r->ntags - k;
        r->ntags = k;
        roaring_advance_uint32_iterator(it);
    }
    roaring_free_uint32_iterator(it);
    w_tags_dir(e, 0);
    retire(e, old, false);
    retire(e, old->direct, true);
    retire(e, old->sub, true);
    retire(e, old->eff, true);
    retire(e, old->esub, true);
    retire(e, old->name, false);
    retire(e, old->key, false);
    retire(e, old->rec, false);
    b->tags[id] = NULL;
    e->structure_dirty = e->dict_dirty = true;
}

/* Loads tag `id` from the store into the build. */
static int sync_tag(struct engine *e, struct store_conn *c, int64_t id, struct tg_err *err)
{
    struct eng_snap *b = e->b;
    struct store_stmt *st = st_get(c, SQL_ENG_TAG_ONE, err);
    struct etag *old = tag_at(b, id), *t;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    if (id <= 0 || id >= UINT32_MAX)
        return tg_err_set(err, TG_EINTERNAL, "", "tag id %lld is out of the engine's range",
                          (long long)id);
    st_int(st, 1, id);
    rc = st_step(st, err);
    if (rc < 0) {
        st_reset(st);
        return rc;
    }
    if (rc == 0) {
        st_reset(st);
        if (old != NULL)
            tag_drop(e, (uint32_t)id);
        return 0;
    }
    {
        int64_t ws = col_int(st, 1), parent = col_null(st, 4) ? 0 : col_int(st, 4);
        const char *name = col_text(st, 2), *key = col_text(st, 3);
        bool deleted = col_int(st, 13) != 0;
        if (old == NULL) {
            w_tags_dir(e, (uint32_t)id + 1);
            t = made(e, xcalloc(1, sizeof(*t)), false);
            t->gen = t->direct_gen = t->eff_gen = b->gen;
            t->id = id;
            t->direct = bm_new(e);
            t->eff = bm_new(e);
            t->name = made(e, xstrdup(name), false);
            t->key = made(e, xstrdup(key), false);
            t->ws_id = ws;
            t->parent_id = parent;
            t->deleted = deleted;
            b->tags[id] = t;
            e->dict_dirty = true;
            /* A new live tag is empty, so its ancestors' subtrees keep their members; an
             * ancestor that had no live child gains a `sub` equal to its direct set. */
            if (!deleted) {
                for (struct etag *p = tag_at(b, parent); p && p->sub == NULL && !p->deleted;
                     p = tag_at(b, p->parent_id)) {
                    struct etag *wp = w_tag(e, (uint32_t)p->id);
                    wp->sub = bm_copy(e, wp->direct);
                    wp->sub_gen = b->gen;
                    assert(wp->esub == NULL); /* NULL with sub */
                    wp->esub = bm_copy(e, wp->eff);
                    wp->esub_gen = b->gen;
                    p = wp;
                }
            }
        } else {
            bool renamed = strcmp(old->key, key) != 0 || strcmp(old->name, name) != 0;
            t = w_tag(e, (uint32_t)id);
            if (renamed) {
                retire(e, t->name, false);
                retire(e, t->key, false);
                t->name = made(e, xstrdup(name), false);
                t->key = made(e, xstrdup(key), false);
            }
            if (t->parent_id != parent || t->deleted != deleted || t->ws_id != ws)
                e->structure_dirty = true;
            /* The dictionary holds deleted tags too (the names stay taken): only the key and
             * the workspace place an entry. */
            if (renamed || t->ws_id != ws)
                e->dict_dirty = true;
            t->parent_id = parent;
            t->deleted = deleted;
            t->ws_id = ws;
            retire(e, t->rec, false);
        }
        /* Whatever else changed (color, group, archived …), the record is read again. */
        t->rec = made(e, rec_read(st, t->name, t->key), false);
    }
    st_reset(st);
    return 0;
}

/* ---- resources ---- */

/* ---- effective bitmaps ----
 *
 * A resource's membership in eff(S) (struct etag) is `in S, or in the tree under a member`: it
 * depends only on its own membership in S and on its parent's in eff(S). So after one change
 * at resource `rid` (it joined or left S, or its parent link changed), only rid's subtree can
 * change, and the walk down stops at every resource whose membership came out as it was: its
 * descendants read the same parent membership as before. A walk only adds or only removes
 * (a resource in S is in eff(S)), so it ends even while a batch that moves resources holds a
 * passing cycle. Adding a tag to a file costs one lookup of its parent; to a folder, the
 * descendants that did not inherit the tag already. */

static void stk_push(struct engine *e, size_t *n, uint32_t rid, bool in)
{
    if (*n + 2 > e->capstk) {
        e->capstk = e->capstk ? e->capstk * 2 : 256;
        e->stk = xrealloc(e->stk, e->capstk * sizeof(*e->stk));
    }
    e->stk[(*n)++] = rid;
    e->stk[(*n)++] = in;
}

/* Brings tag's eff (or esub, with `sub`) up to date at resource rid and below it. */
static void eff_refresh(struct engine *e, uint32_t tag, bool sub, uint32_t rid)
{
    struct eng_snap *b = e->b;
    const struct etag *t = tag_at(b, tag);
    const roaring_bitmap_t *src;
    roaring_bitmap_t *eff, *w = NULL;
    const struct eres *r;
    size_t n = 0;

    if (t == NULL || e->cur == NULL) /* loading computes them at the end (eff_load) */
        return;
    src = sub ? t->sub : t->direct;
    eff = sub ? t->esub : t->eff;
    if (eff == NULL)
        return; /* no sub: the subtree is `direct`, and eff serves it */
    r = res_at(b, rid);
    stk_push(e, &n, rid,
             r && (r->flags & R_EXISTS) && r->parent && roaring_bitmap_contains(eff, r->parent));
    while (n) {
        bool in = e->stk[--n], want;
        uint32_t y = e->stk[--n];
        want = in || roaring_bitmap_contains(src, y);
        if (want == roaring_bitmap_contains(eff, y))
            continue;
        if (w == NULL)
            eff = w = w_eff(e, tag, sub); /* the tag's entry may be a new copy now */
        if (want)
            bm_add(e, w, y);
        else
            bm_remove(e, w, y);
        r = res_at(b, y);
        if (r && r->children) {
            roaring_uint32_iterator_t it;
            roaring_init_iterator(r->children, &it);
            for (; it.has_value; roaring_advance_uint32_iterator(&it))
                stk_push(e, &n, it.current_value, want);
        }
    }
    assert(!roaring_bitmap_contains(src, rid) || roaring_bitmap_contains(eff, rid));
}

static void cand_push(struct engine *e, uint32_t tag)
{
    for (size_t i = 0; i < e->ncand; i++)
        if (e->cand[i] == tag)
            return;
    if (e->ncand == e->capcand) {
        e->capcand = e->capcand ? e->capcand * 2 : 64;
        e->cand = xrealloc(e->cand, e->capcand * sizeof(*e->cand));
    }
    e->cand[e->ncand++] = tag;
}

/* Adds the tags whose eff or esub may hold resource p: the tags on p and on its ancestors, and
 * their ancestors in the tag tree (a `sub` holds only members of its subtree's `direct`). */
static void cand_chain(struct engine *e, uint32_t p)
{
    const struct eng_snap *b = e->b;

    /* The bound only guards against a passing cycle (see above): a real chain is shorter. */
    for (int d = 0; p && d < 4096; d++) {
        const struct eres *r = res_at(b, p);
        if (r == NULL)
            break;
        for (uint32_t j = 0; j < r->ntags; j++) {
            const struct etag *t = tag_at(b, r->tags[j]);
            for (int k = 0; t && k < MAX_TAG_DEPTH; k++, t = tag_at(b, t->parent_id))
                cand_push(e, (uint32_t)t->id);
        }
        if (!(r->flags & R_EXISTS))
            break;
        p = r->parent;
    }
}

/* Resource rid's parent link changed from old_parent (0: none, or it did not exist) to its
 * entry's current one: the effective bitmaps that held either parent are brought up to date
 * below rid. */
static void eff_relink(struct engine *e, uint32_t rid, uint32_t old_parent)
{
    const struct eres *r = res_at(e->b, rid);

    if (e->cur == NULL)
        return;
    e->ncand = 0;
    cand_chain(e, old_parent);
    if (r && (r->flags & R_EXISTS))
        cand_chain(e, r->parent);
    for (size_t i = 0; i < e->ncand; i++) {
        eff_refresh(e, e->cand[i], false, rid);
        eff_refresh(e, e->cand[i], true, rid);
    }
}

/* Adds or removes resource `rid` in the subtree bitmaps of `tag`'s ancestors (and its own),
 * given the resource's direct tags after the change. */
static void sub_update(struct engine *e, uint32_t rid, uint32_t tag, const uint32_t *now,
                       uint32_t nnow, bool add)
{
    struct eng_snap *b = e->b;
    const struct etag *t = tag_at(b, tag);

    if (t == NULL || t->deleted)
        return;
    for (int d = 0; t && d < MAX_TAG_DEPTH; d++, t = tag_at(b, t->parent_id)) {
        if (t->sub == NULL || t->deleted)
            continue;
        if (add) {
            if (!roaring_bitmap_contains(t->sub, rid)) {
                bm_add(e, w_sub(e, (uint32_t)t->id), rid);
                t = tag_at(b, t->id);
                eff_refresh(e, (uint32_t)t->id, true, rid);
            }
        } else {
            bool keep = false;
            for (uint32_t j = 0; j < nnow && !keep; j++) {
                const struct etag *o = tag_at(b, now[j]);
                keep = o && !o->deleted && tag_under(b, now[j], (uint32_t)t->id);
            }
            if (!keep && roaring_bitmap_contains(t->sub, rid)) {
                bm_remove(e, w_sub(e, (uint32_t)t->id), rid);
                t = tag_at(b, t->id);
                eff_refresh(e, (uint32_t)t->id, true, rid);
            }
        }
    }
}

/* Makes the resource's assignments exactly the block `now` of nnow entries (sorted by tag). */
static void res_set_tags(struct engine *e, uint32_t rid, const uint32_t *now, uint32_t nnow)
{
    struct eng_snap *b = e->b;
    const struct eres *old = res_at(b, rid);
    const uint32_t *was = old ? old->tags : NULL;
    uint32_t nwas = old ? old->ntags : 0, i = 0, j = 0;
    struct eres *r;

    if (nwas == nnow && (nnow == 0 || memcmp(was, now, B_SIZE(nnow)) == 0))
        return;
    /* Merge walk over the two sorted lists. */
    while (i < nwas || j < nnow) {
        if (j >= nnow || (i < nwas && was[i] < now[j])) {
            if (tag_at(b, was[i])) {
                bm_remove(e, w_direct(e, was[i]), rid);
                eff_refresh(e, was[i], false, rid);
                sub_update(e, rid, was[i], now, nnow, false);
            }
            i++;
        } else if (i >= nwas || now[j] < was[i]) {
            if (tag_at(b, now[j])) {
                bm_add(e, w_direct(e, now[j]), rid);
                eff_refresh(e, now[j], false, rid);
                sub_update(e, rid, now[j], now, nnow, true);
            }
            j++;
        } else {
            i++;
            j++;
        }
    }
    r = w_res(e, rid);
    retire(e, r->tags, false);
    r->tags = nnow ? mem_dup(e, now, B_SIZE(nnow)) : NULL;
    b->nasg = b->nasg - r->ntags + nnow;
    r->ntags = nnow;
}

static void children_edit(struct engine *e, uint32_t parent, uint32_t child, bool add)
{
    struct eres *p;
    roaring_bitmap_t *c;

    if (parent == 0)
        return;
    p = w_res(e, parent);
    if (p->children == NULL && !add)
        return;
    if (e->cur == NULL && p->children) {
        /* Loading: nobody can see the bitmap yet. */
        roaring_bitmap_add(p->children, child);
        return;
    }
    c = p->children ? bm_copy(e, p->children) : bm_new(e);
    retire(e, p->children, true);
    if (add)
        roaring_bitmap_add(c, child);
    else
        roaring_bitmap_remove(c, child);
    if (roaring_bitmap_is_empty(c)) {
        retire(e, c, true);
        c = NULL;
    }
    p->children = c;
}

/* ---- resources by key ---- */

static uint64_t key_hash(int64_t ws, const char *kind, const char *key)
{
    return hash2(1469598103934665603ULL ^ (uint64_t)ws, kind, key);
}

static void kidx_put(struct keyidx *k, const char *kind, uint32_t rid, const struct eres *r)
{
    uint32_t h = (uint32_t)(key_hash(r->ws, kind, r->key) & (k->cap - 1));

    /* Rebuilt at half load (kidx_insert), so a probe always ends at an empty slot. */
    assert(k->used < k->cap / 2 + 1 && (k->cap & (k->cap - 1)) == 0);
    while (atomic_load_explicit(&k->slot[h], memory_order_relaxed))
        h = (h + 1) & (k->cap - 1);
    atomic_store_explicit(&k->slot[h], rid, memory_order_release);
    k->used++;
}

/* A new table for the build with every resource it holds. */
static void kidx_rebuild(struct engine *e)
{
    struct eng_snap *b = e->b;
    uint32_t cap = 1024;
    struct keyidx *k;

    while (cap < 2 * (uint64_t)b->nres + 16)
        cap *= 2;
    k = xcalloc(1, sizeof(*k) + (size_t)cap * sizeof(k->slot[0]));
    k->cap = cap;
    for (uint32_t c = 0; c < b->nchunks; c++) {
        const struct chunk *ch = b->chunks[c];
        if (ch == NULL)
            continue;
        for (uint32_t j = 0; j < CHUNK; j++)
            if ((ch->r[j].flags & R_EXISTS) && ch->r[j].key)
                kidx_put(k, e->kinds[ch->r[j].kind], (c << CHUNK_BITS) | j, &ch->r[j]);
    }
    retire(e, b->kidx, false);
    b->kidx = made(e, k, false);
}

static void kidx_insert(struct engine *e, uint32_t rid, const struct eres *r)
{
    struct keyidx *k = e->b->kidx;
    if (r->key == NULL)
        return;
    if (k == NULL || (k->used + 1) * 2 > k->cap) {
        kidx_rebuild(e); /* holds rid already */
        return;
    }
    kidx_put(k, e->kinds[r->kind], rid, r);
}

int64_t eng_resource_by_key(const struct eng_snap *s, int64_t ws, const char *kind,
                            const char *key)
{
    const struct keyidx *k = s->kidx;
    uint32_t h;

    if (k == NULL)
        return 0;
    h = (uint32_t)(key_hash(ws, kind, key) & (k->cap - 1));
    for (uint32_t probes = 0; probes < k->cap; probes++, h = (h + 1) & (k->cap - 1)) {
        uint32_t id = atomic_load_explicit(&k->slot[h], memory_order_acquire);
        const struct eres *r;
        if (id == 0)
            return 0;
        r = res_at(s, id);
        if (r && (r->flags & R_EXISTS) && r->ws == (uint32_t)ws && r->key &&
            strcmp(r->key, key) == 0 && strcmp(s->kinds[r->kind], kind) == 0)
            return id;
    }
    return 0;
}

/* Puts the resource row (ws, kind, parent, archived) into the build; exists=false removes it. */
static int res_set_row(struct engine *e, uint32_t rid, bool exists, int64_t ws, int kind,
                       uint32_t parent, bool archived, const char *key)
{
    struct eng_snap *b = e->b;
    const struct eres *old = res_at(b, rid);
    bool had = old && (old->flags & R_EXISTS);
    uint32_t was_parent = had ? old->parent : 0;
    struct eres *r;

    if (had && exists && old->ws == (uint32_t)ws && old->kind == kind && old->parent == parent &&
        !!(old->flags & R_ARCHIVED) == archived && str_eq(old->key, key))
        return 0;
    if (!had && !exists)
        return 0;
    if (had) {
        uint32_t ows = old->ws, opar = old->parent;
        int okind = old->kind;
        bool oarch = old->flags & R_ARCHIVED;
        if (!exists || ows != (uint32_t)ws) {
            roaring_bitmap_remove(w_set(e, ows, -1), rid);
        }
        if (!exists || ows != (uint32_t)ws || okind != kind)
            roaring_bitmap_remove(w_set(e, ows, okind), rid);
        if (oarch && (!exists || !archived))
            roaring_bitmap_remove(w_archived(e), rid);
        if (!exists || opar != parent)
            children_edit(e, opar, rid, false);
    }
    if (exists) {
        if (!had || old->ws != (uint32_t)ws)
            roaring_bitmap_add(w_set(e, ws, -1), rid);
        if (!had || old->ws != (uint32_t)ws || old->kind != kind)
            roaring_bitmap_add(w_set(e, ws, kind), rid);
        if (archived && !(had && (old->flags & R_ARCHIVED)))
            roaring_bitmap_add(w_archived(e), rid);
        if (!had || old->parent != parent)
            children_edit(e, parent, rid, true);
    }
    r = w_res(e, rid);
    if (exists) {
        if (!had)
            b->nres++;
        r->ws = (uint32_t)ws;
        r->kind = (uint16_t)kind;
        r->parent = parent;
        r->flags = (uint8_t)(R_EXISTS | (archived ? R_ARCHIVED : 0));
        if (!str_eq(r->key, key)) {
            retire(e, r->key, false);
            r->key = key ? made(e, xstrdup(key), false) : NULL;
            if (e->cur) /* loading builds the table once at the end */
                kidx_insert(e, rid, r);
        }
    } else {
        b->nres--;
        r->flags = 0;
        r->parent = 0;
        retire(e, r->key, false);
        r->key = NULL;
    }
    if (had != exists || was_parent != parent)
        eff_relink(e, rid, was_parent);
    return 0;
}

static int id32(int64_t id, const char *what, struct tg_err *err)
{
    if (id <= 0 || id >= (int64_t)UINT32_MAX)
        return tg_err_set(err, TG_EINTERNAL, "", "%s id %lld is out of the engine's range", what,
                          (long long)id);
    return 0;
}

static int sync_resource_tags(struct engine *e, struct store_conn *c, int64_t id,
                              struct tg_err *err);

static int sync_resource(struct engine *e, struct store_conn *c, int64_t id, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = id32(id, "resource", err);

    if (rc)
        return rc;
    st = st_get(c, SQL_ENG_RES_ONE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    rc = st_step(st, err);
    if (rc == 1) {
        int64_t ws = col_int(st, 1), parent = col_null(st, 3) ? 0 : col_int(st, 3);
        int kind = kind_index(e, col_text(st, 2), err);
        bool arch = col_int(st, 4) != 0;
        if (kind < 0) {
            st_reset(st);
            return kind;
        }
        if (parent && (rc = id32(parent, "resource", err)) != 0) {
            st_reset(st);
            return rc;
        }
        res_set_row(e, (uint32_t)id, true, ws, kind, (uint32_t)parent, arch, col_text(st, 5));
        st_reset(st);
    } else {
        st_reset(st);
        if (rc < 0)
            return rc;
        /* Deleted: its assignments were closed in the same revision. */
        res_set_tags(e, (uint32_t)id, NULL, 0);
        res_set_row(e, (uint32_t)id, false, 0, 0, 0, false, NULL);
        return 0;
    }
    return sync_resource_tags(e, c, id, err);
}

/* Reloads only the resource's assignments: enough after changes that are all assignments (the
 * resource's own row, and so its chunk entry's other fields, stayed as it was). */
static int sync_resource_tags(struct engine *e, struct store_conn *c, int64_t id,
                              struct tg_err *err)
{
    struct store_stmt *st = st_get(c, SQL_ENG_RES_TAGS, err);
    struct asg_rows v = {0};
    uint32_t *blk;
    int rc = 0;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    while ((rc = st_step(st, err)) == 1 && (rc = rows_push(e, &v, st, 0, err)) == 0)
        ;
    st_reset(st);
    if (rc == 0) {
        blk = rows_block(&v);
        res_set_tags(e, (uint32_t)id, blk, (uint32_t)v.n);
        xfree(blk);
    }
    rows_free(&v);
    return rc;
}

/* Ids a catch-up touched, sorted and made unique by dedup. */
struct touched {
    int64_t *v;
    size_t n, cap;
};

static void touch(struct touched *t, int64_t id)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    t->v[t->n++] = id;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static size_t dedup(struct touched *t)
{
    size_t k = 0;
    if (t->n)
        qsort(t->v, t->n, sizeof(*t->v), cmp_i64);
    for (size_t i = 0; i < t->n; i++)
        if (k == 0 || t->v[k - 1] != t->v[i])
            t->v[k++] = t->v[i];
    t->n = k;
    return k;
}

/* An assignment's add or removal as its change record tells it (core's add_one and
 * remove_one write them). */
enum { AOP_OTHER, AOP_ADD, AOP_REMOVE };
struct aop {
    int64_t rid, tag, id, at;
    uint32_t who; /* an add's (context, added_by), interned as loading does */
    size_t seq;   /* its place in the log: one resource's records apply in this order */
    uint8_t kind;
};

struct aops {
    struct aop *v;
    size_t n, cap;
};

/* What aop_read takes from a record: tag_id, id (0 when absent or not an integer) and
 * context (NULL when absent or not a string). */
struct aop_fields {
    int64_t tag_id, id;
    const char *context;
};

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Reads the record as core writes it: one flat object of integers and strings without
 * escapes. False for anything else (the caller asks jansson then). jansson's json_loads was
 * half of the publisher's instructions per add (about 17,000 for a 90-byte record: a
 * hashtable and an allocation per key); this costs a few hundred. The context is copied into
 * `buf`. */
static bool aop_scan(const char *p, char *buf, size_t cap, struct aop_fields *f)
{
    memset(f, 0, sizeof(*f));
    p = skip_ws(p);
    if (*p++ != '{')
        return false;
    p = skip_ws(p);
    if (*p == '}')
        return *skip_ws(p + 1) == '\0';
    for (;;) {
        const char *k, *v;
        size_t klen;
        if (*p++ != '"')
            return false;
        for (k = p; *p != '"'; p++)
            if (*p == '\\' || (unsigned char)*p < 0x20)
                return false;
        klen = (size_t)(p - k);
        p = skip_ws(p + 1);
        if (*p++ != ':')
            return false;
        p = skip_ws(p);
        v = p;
        if (*p == '"') {
            for (p++; *p != '"'; p++)
                if (*p == '\\' || (unsigned char)*p < 0x20)
                    return false;
            if (klen == 7 && memcmp(k, "context", 7) == 0) {
                size_t n = (size_t)(p - v - 1);
                if (n >= cap)
                    return false;
                memcpy(buf, v + 1, n);
                buf[n] = '\0';
                f->context = buf;
            }
            p++;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            int64_t x = 0;
            bool neg = *p == '-';
            int nd = 0;
            if (neg)
                p++;
            if (*p == '0' && p[1] >= '0' && p[1] <= '9')
                return false;
            for (; *p >= '0' && *p <= '9'; p++, nd++)
                x = x * 10 + (*p - '0');
            if (nd == 0 || nd > 18 || *p == '.' || *p == 'e' || *p == 'E')
                return false;
            if (neg)
                x = -x;
            if (klen == 6 && memcmp(k, "tag_id", 6) == 0)
                f->tag_id = x;
            else if (klen == 2 && memcmp(k, "id", 2) == 0)
                f->id = x;
        } else {
            return false;
        }
        if ((klen == 6 && memcmp(k, "tag_id", 6) == 0 && *v == '"') ||
            (klen == 2 && memcmp(k, "id", 2) == 0 && *v == '"'))
            return false; /* a string where a number belongs: let jansson's path decide */
        p = skip_ws(p);
        if (*p == '}')
            return *skip_ws(p + 1) == '\0';
        if (*p++ != ',')
            return false;
        p = skip_ws(p);
    }
}

static void aop_read(struct engine *e, struct aops *o, struct store_stmt *st, int64_t rid)
{
    struct aop *a;
    const char *op = col_text(st, 3), *after = col_text(st, 6);
    struct aop_fields f;
    char buf[256];
    json_t *j = NULL;

    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    a = &o->v[o->n];
    memset(a, 0, sizeof(*a));
    a->rid = rid;
    a->seq = o->n++;
    if (op == NULL || after == NULL)
        return;
    if (strcmp(op, "add") == 0)
        a->kind = AOP_ADD;
    else if (strcmp(op, "remove") == 0)
        a->kind = AOP_REMOVE;
    else
        return;
    if (!aop_scan(after, buf, sizeof(buf), &f)) {
        json_t *x;
        j = json_loads(after, 0, NULL);
        x = json_object_get(j, "tag_id");
        f.tag_id = json_is_integer(x) ? json_integer_value(x) : 0;
        x = json_object_get(j, "id");
        f.id = json_is_integer(x) ? json_integer_value(x) : 0;
        x = json_object_get(j, "context");
        f.context = json_is_string(x) ? json_string_value(x) : NULL;
    }
    a->tag = f.tag_id;
    if (a->kind == AOP_ADD) {
        /* Records written before they carried the row (id, context) are read again, and so
         * is the resource when the pair cannot be interned (the error comes back then). */
        a->id = f.id;
        a->at = col_int(st, 5);
        if (a->id <= 0 || f.context == NULL || col_null(st, 4) ||
            who_intern(e, f.context, col_text(st, 4), &a->who, NULL) != 0)
            a->kind = AOP_OTHER;
    }
    if (a->tag <= 0 || a->tag >= (int64_t)UINT32_MAX)
        a->kind = AOP_OTHER;
    json_decref(j);
}

static int cmp_aop(const void *x, const void *y)
{
    const struct aop *a = x, *b = y;
    if (a->rid != b->rid)
        return a->rid < b->rid ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Applies one resource's adds and removals, in log order, to the block the engine holds: what
 * reading its rows again would give, without the reads. False, and nothing changed, when a
 * record does not fit that block (a row written before records carried it, a
 * tag purged in the range, whose id a new tag may hold by now; an add whose id is not above
 * every id the block holds, which would misplace it in the assigning order): the caller then
 * reads the rows. `floor` is the largest assignment id the engine had seen before this
 * catch-up: every block it had built holds ids up to it. `purged` is sorted. */
static bool aops_apply(struct engine *e, uint32_t rid, const struct aop *op, size_t nop,
                       int64_t floor, const struct touched *purged)
{
    const struct eres *r = res_at(e->b, rid);
    uint32_t n = r->ntags, cap = r->ntags + (uint32_t)nop, *tags, *who, *ord, *blk;
    int64_t *at, max_id = floor;
    bool ok = true;

    for (size_t i = 0; i < nop; i++)
        if (op[i].kind == AOP_OTHER ||
            (purged->n && bsearch(&op[i].tag, purged->v, purged->n, sizeof(*purged->v), cmp_i64)))
            return false;
    tags = xmalloc(cap * sizeof(*tags));
    who = xmalloc(cap * sizeof(*who));
    ord = xmalloc(cap * sizeof(*ord));
    at = xmalloc(cap * sizeof(*at));
    if (n) {
        memcpy(tags, r->tags, n * sizeof(*tags));
        memcpy(who, B_WHO(r->tags, n), n * sizeof(*who));
        memcpy(at, B_AT(r->tags, n), n * sizeof(*at));
        memcpy(ord, B_ORD(r->tags, n), n * sizeof(*ord));
    }
    for (size_t i = 0; i < nop && ok; i++) {
        uint32_t t = (uint32_t)op[i].tag, k = 0;
        while (k < n && tags[k] < t)
            k++;
        if (op[i].kind == AOP_ADD) {
            uint32_t top = 0;
            if ((k < n && tags[k] == t) || tag_at(e->b, t) == NULL || op[i].id <= max_id) {
                ok = false;
                break;
            }
            for (uint32_t j = 0; j < n; j++)
                if (ord[j] >= top)
                    top = ord[j] + 1;
            memmove(tags + k + 1, tags + k, (n - k) * sizeof(*tags));
            memmove(who + k + 1, who + k, (n - k) * sizeof(*who));
            memmove(at + k + 1, at + k, (n - k) * sizeof(*at));
            memmove(ord + k + 1, ord + k, (n - k) * sizeof(*ord));
            tags[k] = t;
            who[k] = op[i].who;
            at[k] = op[i].at;
            ord[k] = top;
            max_id = op[i].id;
            n++;
        } else {
            uint32_t gone;
            if (k == n || tags[k] != t) {
                ok = false;
                break;
            }
            gone = ord[k];
            memmove(tags + k, tags + k + 1, (n - k - 1) * sizeof(*tags));
            memmove(who + k, who + k + 1, (n - k - 1) * sizeof(*who));
            memmove(at + k, at + k + 1, (n - k - 1) * sizeof(*at));
            memmove(ord + k, ord + k + 1, (n - k - 1) * sizeof(*ord));
            n--;
            for (uint32_t j = 0; j < n; j++)
                ord[j] -= ord[j] > gone;
        }
    }
    if (ok) {
        blk = n ? xmalloc(B_SIZE(n)) : NULL;
        if (n) {
            memcpy(blk, tags, n * sizeof(*tags));
            memcpy(B_WHO(blk, n), who, n * sizeof(*who));
            memcpy(B_AT(blk, n), at, n * sizeof(*at));
            memcpy(B_ORD(blk, n), ord, n * sizeof(*ord));
        }
        res_set_tags(e, rid, blk, n);
        xfree(blk);
        if (max_id > e->max_asg_id)
            e->max_asg_id = max_id;
    }
    xfree(tags);
    xfree(who);
    xfree(ord);
    xfree(at);
    return ok;
}

/* ---- loading ---- */

/* Every tag's eff = expand(direct), level by level. Only members with children lead further
 * (at full size 51,000 of a million resources), so each level visits those alone. */
static void eff_load(struct engine *e)
{
    struct eng_snap *b = e->b;
    roaring_bitmap_t *inner;
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;

    for (uint32_t c = 0; c < b->nchunks; c++) {
        const struct chunk *ch = b->chunks[c];
        for (uint32_t j = 0; ch && j < CHUNK; j++) {
            if (ch->r[j].children == NULL)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                v = xrealloc(v, cap * sizeof(*v));
            }
            v[n++] = (c << CHUNK_BITS) | j;
        }
    }
    inner = roaring_bitmap_of_ptr(n, v);
    for (uint32_t id = 0; id < b->ntags; id++) {
        struct etag *t = b->tags[id];
        roaring_bitmap_t *f;
        if (t == NULL)
            continue;
        t->eff = roaring_bitmap_copy(t->direct);
        t->eff_gen = b->gen;
        f = roaring_bitmap_and(t->direct, inner);
        while (!roaring_bitmap_is_empty(f)) {
            roaring_uint32_iterator_t it;
            roaring_bitmap_t *next;
            n = 0;
            roaring_init_iterator(f, &it);
            for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
                const roaring_bitmap_t *ch = res_at(b, it.current_value)->children;
                size_t k = (size_t)roaring_bitmap_get_cardinality(ch);
                if (n + k > cap) {
                    cap = (n + k) * 2;
                    v = xrealloc(v, cap * sizeof(*v));
                }
                roaring_bitmap_to_uint32_array(ch, v + n);
                n += k;
            }
            next = roaring_bitmap_of_ptr(n, v);
            roaring_bitmap_andnot_inplace(next, t->eff);
            roaring_bitmap_or_inplace(t->eff, next);
            roaring_bitmap_and_inplace(next, inner);
            roaring_bitmap_free(f);
            f = next;
        }
        roaring_bitmap_free(f);
        roaring_bitmap_run_optimize(t->eff);
        roaring_bitmap_shrink_to_fit(t->eff);
    }
    roaring_bitmap_free(inner);
    xfree(v);
}

/* Progress of engine_open for whoever waits (txn.c logs it): set before, read by one thread. */
#define PROGRESS_EVERY 16384
static engine_progress_fn *progress_fn;
static void *progress_arg;

void engine_set_progress(engine_progress_fn *fn, void *arg)
{
    progress_fn = fn;
    progress_arg = arg;
}

static void progress(int64_t resources, int64_t assignments, bool force)
{
    if (progress_fn && (force || (resources + assignments) % PROGRESS_EVERY == 0))
        progress_fn(progress_arg, resources, assignments);
}

static int load_all(struct engine *e, struct store_conn *c, struct tg_err *err)
{
    struct eng_snap *b = e->b;
    struct store_stmt *st;
    int64_t nres = 0, nasg = 0;
    int rc;

    st = st_get(c, SQL_ENG_REV, err);
    if (st == NULL)
        return TG_EINTERNAL;
    rc = st_step(st, err);
    b->rev = rc == 1 ? col_int(st, 0) : 0;
    st_reset(st);
    if (rc < 0)
        return rc;

    st = st_get(c, SQL_ENG_TAGS, err);
    if (st == NULL)
        return TG_EINTERNAL;
    while ((rc = st_step(st, err)) == 1) {
        int64_t id = col_int(st, 0);
        struct etag *t;
        if ((rc = id32(id, "tag", err)) != 0)
            break;
        w_tags_dir(e, (uint32_t)id + 1);
        t = xcalloc(1, sizeof(*t));
        t->gen = t->direct_gen = b->gen;
        t->id = id;
        t->ws_id = col_int(st, 1);
        t->name = xstrdup(col_text(st, 2));
        t->key = xstrdup(col_text(st, 3));
        t->parent_id = col_null(st, 4) ? 0 : col_int(st, 4);
        t->deleted = col_int(st, 13) != 0;
        t->rec = rec_read(st, t->name, t->key);
        t->direct = roaring_bitmap_create();
        b->tags[id] = t;
    }
    st_reset(st);
    if (rc < 0)
        return rc;

    st = st_get(c, SQL_ENG_RESOURCES, err);
    if (st == NULL)
        return TG_EINTERNAL;
    {
        /* Bulk: collect each set's members, then build its bitmap in one call. */
        while ((rc = st_step(st, err)) == 1) {
            int64_t id = col_int(st, 0), parent = col_null(st, 3) ? 0 : col_int(st, 3);
            int kind;
            if ((rc = id32(id, "resource", err)) != 0 ||
                (parent && (rc = id32(parent, "resource", err)) != 0))
                break;
            kind = kind_index(e, col_text(st, 2), err);
            if (kind < 0) {
                rc = kind;
                break;
            }
            res_set_row(e, (uint32_t)id, true, col_int(st, 1), kind, (uint32_t)parent,
                        col_int(st, 4) != 0, col_text(st, 5));
            progress(++nres, 0, false);
        }
        st_reset(st);
        if (rc < 0)
            return rc;
    }

    st = st_get(c, SQL_ENG_ASSIGNMENTS, err);
    if (st == NULL)
        return TG_EINTERNAL;
    {
        struct asg_rows v = {0};
        struct members {
            uint32_t *v;
            size_t n, cap;
        } *mem = xcalloc(b->ntags + 1, sizeof(*mem));
        uint32_t cur = 0;
        for (;;) {
            int64_t rid = 0, tid = 0;
            rc = st_step(st, err);
            if (rc == 1) {
                rid = col_int(st, 0);
                tid = col_int(st, 1);
                if (rid <= 0 || rid >= (int64_t)UINT32_MAX || tid <= 0 ||
                    tid >= (int64_t)UINT32_MAX)
                    continue;
            }
            if (rc != 1 || (uint32_t)rid != cur) {
                if (cur && v.n) {
                    struct eres *r = w_res(e, cur);
                    r->tags = rows_block(&v);
                    r->ntags = (uint32_t)v.n;
                    b->nasg += v.n;
                }
                v.n = 0;
                cur = (uint32_t)rid;
            }
            if (rc != 1)
                break;
            if ((rc = rows_push(e, &v, st, 1, err)) != 0)
                break;
            progress(nres, ++nasg, false);
            if (tag_at(b, tid)) {
                /* Rows come by resource, so each tag's members arrive ascending: gathered
                 * here and added in one call per tag, not one bitmap insert per row. */
                struct members *m = &mem[tid];
                if (m->n == m->cap) {
                    m->cap = m->cap ? m->cap * 2 : 16;
                    m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
                }
                m->v[m->n++] = (uint32_t)rid;
            }
        }
        rows_free(&v);
        for (uint32_t id = 0; id < b->ntags; id++) {
            if (mem[id].n)
                roaring_bitmap_add_many(b->tags[id]->direct, mem[id].n, mem[id].v);
            xfree(mem[id].v);
        }
        xfree(mem);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    progress(nres, nasg, true);
    for (uint32_t id = 0; id < b->ntags; id++) {
        if (b->tags[id]) {
            roaring_bitmap_run_optimize(b->tags[id]->direct);
            roaring_bitmap_shrink_to_fit(b->tags[id]->direct);
        }
    }
    for (size_t i = 0; i < b->nsets; i++) {
        roaring_bitmap_run_optimize(b->sets[i].bm);
        roaring_bitmap_shrink_to_fit(b->sets[i].bm);
    }
    eff_load(e);
    recompute_subtrees(e);
    rebuild_dict(e);
    kidx_rebuild(e);
    return 0;
}

int engine_open(struct store_conn *c, struct engine **out, struct tg_err *err)
{
    struct engine *e = xcalloc(1, sizeof(*e));
    int rc;

    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->catch_mu, NULL);
    e->who_dir = xcalloc(WHO_DIR, sizeof(*e->who_dir));
    build_begin(e);
    rc = store_begin_read(c, err);
    if (rc == 0) {
        rc = load_all(e, c, err);
        store_rollback(c);
    }
    if (rc) {
        /* Nothing was published: the build owns everything it reached. */
        e->cur = e->b;
        e->oldest = e->b;
        e->b = NULL;
        engine_free(e);
        *out = NULL;
        return rc;
    }
    build_publish(e);
    *out = e;
    return 0;
}

static int catch_up_locked(struct engine *e, struct store_conn *c, struct tg_err *err);

int engine_catch_up(struct engine *e, struct store_conn *c, struct tg_err *err)
{
    int rc;
    pthread_mutex_lock(&e->catch_mu);
    rc = catch_up_locked(e, c, err);
    pthread_mutex_unlock(&e->catch_mu);
    return rc;
}

static int catch_up_locked(struct engine *e, struct store_conn *c, struct tg_err *err)
{
    struct touched tags = {0}, res = {0}, purged = {0};
    struct aops ops = {0};
    struct store_stmt *st;
    int64_t floor;
    int64_t rev;
    int rc;

    build_begin(e);
    rev = e->b->rev;
    floor = e->max_asg_id;
    st = st_get(c, SQL_ENG_CHANGES, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
        goto out;
    }
    st_int(st, 1, rev);
    while ((rc = st_step(st, err)) == 1) {
        const char *entity = col_text(st, 1);
        int64_t id = col_int(st, 2);
        rev = col_int(st, 0);
        if (entity == NULL)
            continue;
        if (strcmp(entity, "tag") == 0) {
            const char *op = col_text(st, 3);
            touch(&tags, id);
            if (op && strcmp(op, "purge") == 0)
                touch(&purged, id);
        } else if (strcmp(entity, "resource") == 0) {
            touch(&res, id);
        } else if (strcmp(entity, "assignment") == 0) {
            aop_read(e, &ops, st, id);
        }
    }
    st_reset(st);
    if (rc < 0)
        goto out;
    if (rev == e->b->rev) {
        /* Nothing committed since: keep the current snapshot. */
        build_abandon(e);
        rc = 0;
        goto out_done;
    }
    /* Tags first, so that resources find every tag they carry; a purged one is dropped
     * before, in case a tag made since holds its id. */
    dedup(&purged);
    for (size_t i = 0; i < purged.n; i++)
        if (purged.v[i] > 0 && purged.v[i] < (int64_t)UINT32_MAX)
            tag_drop(e, (uint32_t)purged.v[i]);
    dedup(&tags);
    for (size_t i = 0; i < tags.n && rc == 0; i++)
        rc = sync_tag(e, c, tags.v[i], err);
    if (rc == 0 && e->structure_dirty)
        recompute_subtrees(e);
    if (rc == 0 && e->dict_dirty)
        rebuild_dict(e);
    dedup(&res);
    for (size_t i = 0; i < res.n && rc == 0; i++)
        rc = sync_resource(e, c, res.v[i], err);
    atomic_fetch_add(&e->reread, res.n);
    /* A resource whose changes were all assignments, and that the engine holds: its adds and
     * removals are applied from their records, or failing that its tags are read again (the
     * resource row's read and check were half of a catch-up's reads per add, the tags' read
     * most of the rest). */
    if (ops.n)
        qsort(ops.v, ops.n, sizeof(*ops.v), cmp_aop);
    for (size_t i = 0, k = 0, m; i < ops.n && rc == 0; i = m) {
        int64_t id = ops.v[i].rid;
        const struct eres *r;
        bool applied;
        for (m = i + 1; m < ops.n && ops.v[m].rid == id; m++)
            ;
        while (k < res.n && res.v[k] < id)
            k++;
        if (k < res.n && res.v[k] == id)
            continue; /* done above */
        r = id > 0 && id < (int64_t)UINT32_MAX ? res_at(e->b, (uint32_t)id) : NULL;
        if (r == NULL || !(r->flags & R_EXISTS)) {
            atomic_fetch_add(&e->reread, 1);
            rc = sync_resource(e, c, id, err);
            continue;
        }
        applied = aops_apply(e, (uint32_t)id, ops.v + i, m - i, floor, &purged);
        atomic_fetch_add(applied ? &e->applied : &e->reread, 1);
        if (!applied)
            rc = sync_resource_tags(e, c, id, err);
    }
out:
    if (rc == 0) {
        e->b->rev = rev;
        /* The read may have begun early (store_begin_read_early): nothing it saw is
         * published before it is durable. */
        store_wait_durable(c);
        build_publish(e);
    } else {
        log_error("engine: applying changes after revision %lld failed: %s",
                  (long long)e->cur->rev, err ? err->msg : "");
        build_abandon(e);
    }
out_done:
    xfree(tags.v);
    xfree(res.v);
    xfree(purged.v);
    xfree(ops.v);
    return rc;
}

void engine_catch_up_stats(struct engine *e, uint64_t *applied, uint64_t *reread)
{
    *applied = atomic_load(&e->applied);
    *reread = atomic_load(&e->reread);
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
        build_abandon(e);
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
    pthread_mutex_destroy(&e->catch_mu);
    for (uint32_t i = 0; i < e->nwho; i++) {
        const struct who *w = who_at(e->who_dir, i);
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

bool eng_resource_tags(const struct eng_snap *s, int64_t resource_id, const uint32_t **tags,
                       size_t *n)
{
    const struct eres *r;
    if (resource_id <= 0 || resource_id >= (int64_t)UINT32_MAX)
        return false;
    r = res_at(s, (uint32_t)resource_id);
    if (r == NULL || !(r->flags & R_EXISTS))
        return false;
    *tags = r->tags;
    *n = r->ntags;
    return true;
}

/* ---- assignments of a resource ---- */

static int cmp_asg_name(const void *x, const void *y, void *rank)
{
    uint32_t a = ((const uint32_t *)rank)[((const struct eng_asg *)x)->tag->id];
    uint32_t b = ((const uint32_t *)rank)[((const struct eng_asg *)y)->tag->id];
    return a < b ? -1 : a > b;
}

/* A resource's assignments by the tags' name rank (unique per tag). A level mostly holds a
 * few dozen entries: insertion sort there, as qsort_r's merge sort (it allocates) was a tenth
 * of an effective-tags read. */
static void sort_by_rank(struct eng_asg *v, size_t n, const uint32_t *rank)
{
    if (n > 32) {
        qsort_r(v, n, sizeof(*v), cmp_asg_name, (void *)rank);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct eng_asg x = v[i];
        uint32_t rx = rank[x.tag->id];
        size_t j = i;
        while (j > 0 && rank[v[j - 1].tag->id] > rx) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

bool eng_assignments(const struct eng_snap *s, struct arena *a, int64_t ws_id,
                     int64_t resource_id, bool effective, int max_depth, struct eng_asg **out,
                     size_t *n)
{
    const struct eres *r;
    struct eng_asg *v = NULL;
    size_t len = 0, cap = 0;
    uint32_t id;

    if (resource_id <= 0 || resource_id >= (int64_t)UINT32_MAX)
        return false;
    id = (uint32_t)resource_id;
    r = res_at(s, id);
    if (r == NULL || !(r->flags & R_EXISTS) || r->ws != (uint32_t)ws_id)
        return false;
    for (int depth = 0;; depth++) {
        size_t level = len;
        for (uint32_t j = 0; j < r->ntags; j++) {
            const struct etag *t = tag_at(s, r->tags[j]);
            const struct who *w;
            bool dup = false;
            if (t == NULL || t->rec->deleted)
                continue;
            /* Nearest wins: a tag already listed (direct or from a nearer ancestor) is not
             * listed again. */
            for (size_t k = 0; k < level && !dup; k++)
                dup = v[k].tag->id == t->id;
            if (dup)
                continue;
            if (len == cap) {
                struct eng_asg *nv;
                cap = cap ? cap * 2 : 16;
                nv = arena_alloc(a, cap * sizeof(*nv));
                if (len)
                    memcpy(nv, v, len * sizeof(*nv));
                v = nv;
            }
            w = who_at(s->who_dir, B_WHO(r->tags, r->ntags)[j]);
            v[len].tag = t->rec;
            v[len].context = w->context;
            v[len].added_by = w->added_by;
            v[len].added_at = B_AT(r->tags, r->ntags)[j];
            v[len].seq = B_ORD(r->tags, r->ntags)[j];
            v[len].resource_id = id;
            v[len].from_id = depth ? id : 0;
            v[len].from_kind = depth ? s->kinds[r->kind] : NULL;
            v[len++].from_key = depth ? r->key : NULL;
        }
        if (len - level > 1)
            sort_by_rank(v + level, len - level, s->rank);
        if (!effective || r->parent == 0 || depth + 1 >= max_depth)
            break;
        id = r->parent;
        r = res_at(s, id);
        if (r == NULL || !(r->flags & R_EXISTS))
            return false; /* a parent the engine has not seen yet: let the store answer */
    }
    *out = v;
    *n = len;
    return true;
}

/* ---- tag usage ---- */

const struct tag *eng_tag_record(const struct eng_snap *s, int64_t id)
{
    const struct etag *t = tag_at(s, id);
    return t ? t->rec : NULL;
}

bool eng_tag_usage(const struct eng_snap *s, int64_t tag_id, int64_t ws_id, bool descendants,
                   int64_t after_id, size_t want, int64_t *ids, size_t *n, int64_t *total_out)
{
    const struct etag *t = tag_at(s, tag_id);
    const roaring_bitmap_t *b;
    roaring_uint32_iterator_t it;

    *n = 0;
    if (total_out)
        *total_out = 0;
    /* A deleted tag's live descendants (restored alone) are left to the store. */
    if (t == NULL || t->ws_id != ws_id || (t->deleted && descendants))
        return false;
    if (t->deleted)
        return true;
    b = descendants && t->sub ? t->sub : t->direct;
    if (total_out)
        *total_out = (int64_t)roaring_bitmap_get_cardinality(b);
    if (after_id >= (int64_t)UINT32_MAX)
        return true;
    roaring_init_iterator(b, &it);
    if (!roaring_move_uint32_iterator_equalorlarger(&it, (uint32_t)(after_id < 0 ? 0 : after_id + 1)))
        return true;
    while (it.has_value && *n < want) {
        ids[(*n)++] = it.current_value;
        roaring_advance_uint32_iterator(&it);
    }
    return true;
}

/* ---- names of tags in use ---- */

static size_t dict_lower(const struct eng_snap *s, int64_t ws, const char *key);

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

void eng_tag_names_in_use(const struct eng_snap *s, int64_t ws_id, const char *const *kinds,
                          size_t nkinds, bool archived, const char *prefix, struct arena *a,
                          const char ***out, size_t *n)
{
    roaring_bitmap_t *scope = roaring_bitmap_create();
    size_t plen = prefix ? strlen(prefix) : 0, cap = 0;
    const char **v = NULL;

    *n = 0;
    for (size_t i = 0; i < s->nsets; i++) {
        const struct eset *st = &s->sets[i];
        bool want = false;
        if (st->ws_id != ws_id)
            continue;
        if (nkinds == 0)
            want = st->kind == -1;
        else
            for (size_t k = 0; k < nkinds && !want; k++)
                want = st->kname && kinds[k] && strcmp(st->kname, kinds[k]) == 0;
        if (want)
            roaring_bitmap_or_inplace(scope, st->bm);
    }
    if (!archived && s->archived)
        roaring_bitmap_andnot_inplace(scope, s->archived);
    for (size_t i = dict_lower(s, ws_id, ""); i < s->ndict && s->dict[i].ws_id == ws_id &&
                                               !roaring_bitmap_is_empty(scope);
         i++) {
        const struct etag *t = s->tags[s->dict[i].id];
        if (t->deleted || (plen && strncmp(t->name, prefix, plen) != 0) ||
            !roaring_bitmap_intersect(t->direct, scope))
            continue;
        if (*n == cap) {
            const char **nv;
            cap = cap ? cap * 2 : 64;
            nv = arena_alloc(a, cap * sizeof(*nv));
            if (*n)
                memcpy(nv, v, *n * sizeof(*nv));
            v = nv;
        }
        v[(*n)++] = t->name;
    }
    roaring_bitmap_free(scope);
    if (*n > 1)
        qsort(v, *n, sizeof(*v), cmp_str);
    *out = v;
}

/* ---- tag lists ---- */

/* The first dictionary entry at or after (ws, key). */
static size_t dict_lower(const struct eng_snap *s, int64_t ws, const char *key)
{
    size_t lo = 0, hi = s->ndict;
    struct dict_ent k = {ws, key, 0};

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_dict(&s->dict[mid], &k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool mode_ok(int mode, bool flag)
{
    return mode == 1 || (mode == 0 && !flag) || (mode == 2 && flag);
}

static bool tag_matches(const struct etag *t, const struct eng_tag_filter *f,
                        const roaring_bitmap_t *kind_set)
{
    const struct tag *r = t->rec;

    if (!mode_ok(f->archived, r->archived) || !mode_ok(f->deleted, r->deleted))
        return false;
    if (f->q && strstr(t->key, f->q) == NULL)
        return false;
    if (f->source && (r->source == NULL || strcmp(r->source, f->source) != 0))
        return false;
    if (f->excluded_source && (r->source == NULL || strcmp(r->source, f->excluded_source) == 0))
        return false;
    if (f->group_id && r->group_id != f->group_id)
        return false;
    if (f->parent_id && r->parent_id != f->parent_id)
        return false;
    if (f->kind && (kind_set == NULL || !roaring_bitmap_intersect(t->direct, kind_set)))
        return false;
    return true;
}

void eng_tag_list(const struct eng_snap *s, const struct eng_tag_filter *f, const struct tag **out,
                  size_t cap, size_t *n, int64_t *total)
{
    const roaring_bitmap_t *kind_set = NULL;
    size_t plen = f->prefix ? strlen(f->prefix) : 0;

    *n = 0;
    *total = 0;
    if (f->kind) {
        for (size_t i = 0; i < s->nsets && kind_set == NULL; i++)
            if (s->sets[i].ws_id == f->ws_id && s->sets[i].kname &&
                strcmp(s->sets[i].kname, f->kind) == 0)
                kind_set = s->sets[i].bm;
        if (kind_set == NULL)
            return; /* no resource of that kind: no tag is used on one */
    }
    for (size_t i = dict_lower(s, f->ws_id, f->prefix ? f->prefix : ""); i < s->ndict; i++) {
        const struct dict_ent *d = &s->dict[i];
        const struct etag *t;
        if (d->ws_id != f->ws_id || (plen && strncmp(d->key, f->prefix, plen) != 0))
            break;
        t = s->tags[d->id];
        if (!tag_matches(t, f, kind_set))
            continue;
        (*total)++;
        if (*n < cap && (f->after == NULL || strcmp(d->key, f->after) > 0))
            out[(*n)++] = t->rec;
    }
}

/* ---- queries ---- */

/* ---- bitmap operations that count with the CPU's popcount ----
 *
 * The CRoaring Debian ships (0.2.66, built for any x86-64) counts a bitset container's members
 * with a software popcount: about 46,000 instructions for one 8 KB container, in every
 * intersection and difference of two bitsets (to pick the result's kind) and in every repair
 * after a lazy union. That was half of an `A or B or C` query at 200,000 assignments
 * (callgrind, bench/pubcost.py --query). The bitset-bitset case is done here with the
 * `popcnt` instruction when the CPU has it (checked once), every other pair by roaring's own
 * container functions. */

static int popcnt_words_soft(const uint64_t *w, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = w[i];
        x = x - ((x >> 1) & 0x5555555555555555ULL);
        x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
        x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
        c += (int)((x * 0x0101010101010101ULL) >> 56);
    }
    return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("popcnt"))) static int popcnt_words_hw(const uint64_t *w, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += __builtin_popcountll(w[i]);
    return c;
}

static int popcnt_words(const uint64_t *w, size_t n)
{
    static _Atomic int hw = -1; /* every thread that finds it unset computes the same */
    int v = atomic_load_explicit(&hw, memory_order_relaxed);
    if (v < 0) {
        v = __builtin_cpu_supports("popcnt") ? 1 : 0;
        atomic_store_explicit(&hw, v, memory_order_relaxed);
    }
    return v ? popcnt_words_hw(w, n) : popcnt_words_soft(w, n);
}
#else
static int popcnt_words(const uint64_t *w, size_t n)
{
    return popcnt_words_soft(w, n);
}
#endif

/* A bitset whose words are final: counted, NULL when empty. A query's bitmaps live for one
 * request and are only combined here, counted and iterated, so a bitset of DEFAULT_MAX_SIZE or
 * fewer members stays one (roaring would make it an array: extracting the members cost a
 * sixth of a nested query). Every roaring function used on them takes any valid container. */
static void *bs_finish(bitset_container_t *bc, uint8_t *type)
{
    bc->cardinality = popcnt_words(bc->array, BITSET_CONTAINER_SIZE_IN_WORDS);
    *type = BITSET_CONTAINER_TYPE_CODE;
    if (bc->cardinality == 0) {
        bitset_container_free(bc);
        return NULL;
    }
    return bc;
}

/* array | bitset: roaring's union keeps the count per member (bitset_set_list_withcard), a
 * third of a nested query; setting the bits and counting once after is a quarter of that. */
static void *bs_or_array(const bitset_container_t *b, const array_container_t *a, uint8_t *type)
{
    bitset_container_t *bc = bitset_container_clone(b);
    uint64_t *w = bc->array;
    for (int32_t i = 0; i < a->cardinality; i++)
        w[a->array[i] >> 6] |= 1ULL << (a->array[i] & 63);
    return bs_finish(bc, type);
}

enum { OP_AND, OP_ANDNOT, OP_OR };

static void *bs_op(const bitset_container_t *a, const bitset_container_t *b, int op,
                   uint8_t *type)
{
    bitset_container_t *bc = bitset_container_create();
    uint64_t *w = bc->array;
    const uint64_t *x = a->array, *y = b->array;

    if (op == OP_AND)
        for (int i = 0; i < BITSET_CONTAINER_SIZE_IN_WORDS; i++)
            w[i] = x[i] & y[i];
    else if (op == OP_ANDNOT)
        for (int i = 0; i < BITSET_CONTAINER_SIZE_IN_WORDS; i++)
            w[i] = x[i] & ~y[i];
    else
        for (int i = 0; i < BITSET_CONTAINER_SIZE_IN_WORDS; i++)
            w[i] = x[i] | y[i];
    return bs_finish(bc, type);
}

/* x op y as a new bitmap. */
static roaring_bitmap_t *bm_op(const roaring_bitmap_t *x, const roaring_bitmap_t *y, int op)
{
    const roaring_array_t *a = &x->high_low_container, *b = &y->high_low_container;
    roaring_bitmap_t *out = roaring_bitmap_create_with_capacity(
        (uint32_t)(op == OP_OR ? a->size + b->size : a->size));
    roaring_array_t *ra = &out->high_low_container;
    int32_t i = 0, j = 0;

    while (i < a->size || j < b->size) {
        uint16_t ka = i < a->size ? a->keys[i] : 0, kb = j < b->size ? b->keys[j] : 0;
        void *c = NULL;
        uint8_t t = 0;
        if (j >= b->size || (i < a->size && ka < kb)) {
            /* only in x */
            if (op != OP_AND)
                ra_append(ra, ka, container_clone(a->containers[i], a->typecodes[i]),
                          a->typecodes[i]);
            i++;
            continue;
        }
        if (i >= a->size || kb < ka) {
            /* only in y */
            if (op == OP_OR)
                ra_append(ra, kb, container_clone(b->containers[j], b->typecodes[j]),
                          b->typecodes[j]);
            j++;
            continue;
        }
        if (a->typecodes[i] == BITSET_CONTAINER_TYPE_CODE &&
            b->typecodes[j] == BITSET_CONTAINER_TYPE_CODE) {
            c = bs_op(a->containers[i], b->containers[j], op, &t);
        } else if (op == OP_OR && a->typecodes[i] == BITSET_CONTAINER_TYPE_CODE &&
                   b->typecodes[j] == ARRAY_CONTAINER_TYPE_CODE) {
            c = bs_or_array(a->containers[i], b->containers[j], &t);
        } else if (op == OP_OR && a->typecodes[i] == ARRAY_CONTAINER_TYPE_CODE &&
                   b->typecodes[j] == BITSET_CONTAINER_TYPE_CODE) {
            c = bs_or_array(b->containers[j], a->containers[i], &t);
        } else {
            if (op == OP_AND)
                c = container_and(a->containers[i], a->typecodes[i], b->containers[j],
                                  b->typecodes[j], &t);
            else if (op == OP_ANDNOT)
                c = container_andnot(a->containers[i], a->typecodes[i], b->containers[j],
                                     b->typecodes[j], &t);
            else
                c = container_or(a->containers[i], a->typecodes[i], b->containers[j],
                                 b->typecodes[j], &t);
            if (c && !container_nonzero_cardinality(c, t)) {
                container_free(c, t);
                c = NULL;
            }
        }
        if (c)
            ra_append(ra, ka, c, t);
        i++;
        j++;
    }
    return out;
}

roaring_bitmap_t *eng__bm_op(const roaring_bitmap_t *x, const roaring_bitmap_t *y, char op)
{
    return bm_op(x, y, op == '&' ? OP_AND : op == '-' ? OP_ANDNOT : OP_OR);
}

struct val {
    const roaring_bitmap_t *b;
    roaring_bitmap_t *own; /* == b when owned */
};

struct qctx {
    const struct eng_snap *s;
    const struct eng_query *o;
    struct arena *a;
    struct qerr *qe;
    struct tg_err *err;
    const roaring_bitmap_t *universe;
    roaring_bitmap_t *empty;
};

static void val_drop(struct val *v)
{
    if (v->own)
        roaring_bitmap_free(v->own);
    v->own = NULL;
    v->b = NULL;
}

static struct val owned(roaring_bitmap_t *b)
{
    struct val v = {b, b};
    return v;
}

static struct val borrowed(const roaring_bitmap_t *b)
{
    struct val v = {b, NULL};
    return v;
}

/* Adds every descendant (in the resource tree) of the members of `in`. */
static struct val expand(const struct eng_snap *s, struct val in)
{
    roaring_bitmap_t *res = roaring_bitmap_copy(in.b);
    roaring_bitmap_t *frontier = NULL;
    const roaring_bitmap_t *f = in.b;

    for (int d = 0; d < 64; d++) {
        roaring_bitmap_t *next = roaring_bitmap_create();
        roaring_uint32_iterator_t *it = roaring_create_iterator(f);
        while (it->has_value) {
            const struct eres *r = res_at(s, it->current_value);
            if (r && r->children)
                roaring_bitmap_or_inplace(next, r->children);
            roaring_advance_uint32_iterator(it);
        }
        roaring_free_uint32_iterator(it);
        roaring_bitmap_andnot_inplace(next, res);
        if (frontier)
            roaring_bitmap_free(frontier);
        frontier = next;
        if (roaring_bitmap_is_empty(next))
            break;
        roaring_bitmap_or_inplace(res, next);
        f = next;
    }
    if (frontier)
        roaring_bitmap_free(frontier);
    val_drop(&in);
    return owned(res);
}

static int leaf(struct qctx *c, const struct qnode *q, struct val *out)
{
    const struct etag *t;
    char *nfc, *key;
    struct tg_err nerr;

    tg_err_clear(&nerr);
    if (name_normalize(c->a, q->name, strlen(q->name), true, "query", &nfc, &key, &nerr) != 0) {
        c->qe->col = q->col;
        snprintf(c->qe->msg, sizeof(c->qe->msg), "'%.40s' is not a valid tag name: %.100s",
                 q->name, nerr.msg);
        return tg_err_set(c->err, TG_EINVAL, "query", "%s", c->qe->msg);
    }
    t = dict_find(c->s, c->o->ws_id, key);
    if (t == NULL) {
        c->qe->col = q->col;
        snprintf(c->qe->msg, sizeof(c->qe->msg), "unknown tag '%.120s'", q->name);
        return tg_err_set(c->err, TG_EINVAL, "query", "%s", c->qe->msg);
    }
    if (c->o->effective)
        *out = borrowed(q->kind == QN_TAG || t->esub == NULL ? t->eff : t->esub);
    else if (q->kind == QN_TAG || t->sub == NULL)
        *out = borrowed(t->direct);
    else
        *out = borrowed(t->sub);
    return 0;
}

static int eval(struct qctx *c, const struct qnode *q, struct val *out);

static int eval_kind(struct qctx *c, const char *kind, struct val *out);

static int eval(struct qctx *c, const struct qnode *q, struct val *out)
{
    struct val l = {0}, r = {0};
    int rc;

    switch (q->kind) {
    case QN_TAG:
    case QN_SUBTREE:
    case QN_HAS:
        return leaf(c, q, out);
    case QN_KIND:
        return eval_kind(c, q->name, out);
    case QN_NOT:
        rc = eval(c, q->a, &l);
        if (rc)
            return rc;
        *out = owned(bm_op(c->universe, l.b, OP_ANDNOT));
        val_drop(&l);
        return 0;
    case QN_AND:
    case QN_OR:
        break;
    }
    /* a and not b: one andnot instead of a complement and an intersection. */
    if (q->kind == QN_AND && (q->b->kind == QN_NOT || q->a->kind == QN_NOT) &&
        !(q->b->kind == QN_NOT && q->a->kind == QN_NOT)) {
        const struct qnode *pos = q->b->kind == QN_NOT ? q->a : q->b;
        const struct qnode *neg = q->b->kind == QN_NOT ? q->b->a : q->a->a;
        rc = eval(c, pos, &l);
        if (rc == 0)
            rc = eval(c, neg, &r);
        if (rc == 0)
            *out = owned(bm_op(l.b, r.b, OP_ANDNOT));
        val_drop(&l);
        val_drop(&r);
        return rc;
    }
    rc = eval(c, q->a, &l);
    if (rc)
        return rc;
    rc = eval(c, q->b, &r);
    if (rc) {
        val_drop(&l);
        return rc;
    }
    *out = owned(bm_op(l.b, r.b, q->kind == QN_AND ? OP_AND : OP_OR));
    val_drop(&l);
    val_drop(&r);
    return 0;
}

static int eval_kind(struct qctx *c, const char *kind, struct val *out)
{
    for (size_t i = 0; i < c->s->nsets; i++) {
        const struct eset *st = &c->s->sets[i];
        if (st->ws_id == c->o->ws_id && st->kind >= 0 && strcmp(st->kname, kind) == 0) {
            *out = borrowed(st->bm);
            return 0;
        }
    }
    *out = borrowed(c->empty);
    return 0;
}

/* ---- one pass per container key ----
 *
 * An expression with operators is evaluated key by key (ids >> 16) in 8 KB word buffers, one
 * per level of the tree: each leaf's container is spread into words, the operators are word
 * loops, the filters (kind, archived, scope) are applied to the root's words, which are then
 * counted and read for the page. No intermediate bitmap is allocated and each key is counted
 * once, where bm_op allocated, cloned and counted a container per operation. */

bool eng__fused = true;

#define WORDS BITSET_CONTAINER_SIZE_IN_WORDS

struct fused {
    const roaring_bitmap_t **leaf; /* every leaf's bitmap, in evaluation order */
    size_t nleaf, at;
    const roaring_bitmap_t *universe;
    uint64_t *buf; /* WORDS per level */
};

static size_t tree_leaves(const struct qnode *q);

/* The words of b's container at `key` (zero when it has none). */
static void spread(const roaring_bitmap_t *b, uint16_t key, uint64_t *w)
{
    const roaring_array_t *ra = &b->high_low_container;
    int32_t i = ra_get_index(ra, key);
    const void *c;
    uint8_t t;

    if (i < 0) {
        memset(w, 0, WORDS * sizeof(*w));
        return;
    }
    t = ra->typecodes[i];
    c = container_unwrap_shared(ra->containers[i], &t);
    if (t == BITSET_CONTAINER_TYPE_CODE) {
        memcpy(w, ((const bitset_container_t *)c)->array, WORDS * sizeof(*w));
        return;
    }
    memset(w, 0, WORDS * sizeof(*w));
    if (t == ARRAY_CONTAINER_TYPE_CODE) {
        const array_container_t *ac = c;
        for (int32_t k = 0; k < ac->cardinality; k++)
            w[ac->array[k] >> 6] |= 1ULL << (ac->array[k] & 63);
    } else {
        const run_container_t *rc = c;
        for (int32_t k = 0; k < rc->n_runs; k++) {
            uint32_t lo = rc->runs[k].value, hi = lo + rc->runs[k].length; /* inclusive */
            for (uint32_t v = lo; v <= hi;) {
                if ((v & 63) == 0 && v + 63 <= hi) {
                    w[v >> 6] = ~0ULL;
                    v += 64;
                } else {
                    w[v >> 6] |= 1ULL << (v & 63);
                    v++;
                }
            }
        }
    }
}

static void fused_leaves(struct fused *f, struct qctx *c, const struct qnode *q, int *rc)
{
    struct val v = {0};
    if (*rc)
        return;
    switch (q->kind) {
    case QN_TAG:
    case QN_SUBTREE:
    case QN_HAS:
        *rc = leaf(c, q, &v);
        break;
    case QN_KIND:
        *rc = eval_kind(c, q->name, &v);
        break;
    case QN_NOT:
        fused_leaves(f, c, q->a, rc);
        return;
    case QN_AND:
    case QN_OR:
        fused_leaves(f, c, q->a, rc);
        fused_leaves(f, c, q->b, rc);
        return;
    }
    if (*rc == 0) {
        assert(v.own == NULL); /* leaves are the snapshot's bitmaps */
        f->leaf[f->nleaf++] = v.b;
    }
}

/* The expression's words at `key` into w; deeper levels use the buffers after it. */
static void fused_eval(struct fused *f, const struct qnode *q, uint16_t key, uint64_t *w)
{
    uint64_t *x = w + WORDS;

    switch (q->kind) {
    case QN_TAG:
    case QN_SUBTREE:
    case QN_HAS:
    case QN_KIND:
        spread(f->leaf[f->at++], key, w);
        return;
    case QN_NOT:
        fused_eval(f, q->a, key, x);
        spread(f->universe, key, w);
        for (int i = 0; i < WORDS; i++)
            w[i] &= ~x[i];
        return;
    case QN_AND:
        /* a and not b (either way round): one difference, as eval() does, so that the
         * universe does not enter. The leaves are read in the order fused_leaves took them. */
        if (q->a->kind == QN_NOT && q->b->kind != QN_NOT) {
            size_t at = f->at, na = tree_leaves(q->a->a);
            f->at = at + na;
            fused_eval(f, q->b, key, w);
            f->at = at;
            fused_eval(f, q->a->a, key, x);
            f->at = at + na + tree_leaves(q->b);
            for (int i = 0; i < WORDS; i++)
                w[i] &= ~x[i];
            return;
        }
        fused_eval(f, q->a, key, w);
        if (q->b->kind == QN_NOT) {
            fused_eval(f, q->b->a, key, x);
            for (int i = 0; i < WORDS; i++)
                w[i] &= ~x[i];
        } else {
            fused_eval(f, q->b, key, x);
            for (int i = 0; i < WORDS; i++)
                w[i] &= x[i];
        }
        return;
    case QN_OR:
        fused_eval(f, q->a, key, w);
        fused_eval(f, q->b, key, x);
        for (int i = 0; i < WORDS; i++)
            w[i] |= x[i];
        return;
    }
}

static int tree_depth(const struct qnode *q)
{
    int a, b;
    switch (q->kind) {
    case QN_NOT:
        return 1 + tree_depth(q->a);
    case QN_AND:
    case QN_OR:
        a = tree_depth(q->a);
        b = tree_depth(q->b);
        return 1 + (a > b ? a : b);
    default:
        return 1;
    }
}

static size_t tree_leaves(const struct qnode *q)
{
    if (q->kind == QN_NOT)
        return tree_leaves(q->a);
    if (q->kind == QN_AND || q->kind == QN_OR)
        return tree_leaves(q->a) + tree_leaves(q->b);
    return 1;
}

static void keys_add(uint16_t *keys, size_t *n, const roaring_bitmap_t *b)
{
    const roaring_array_t *ra = &b->high_low_container;
    for (int32_t i = 0; i < ra->size; i++) {
        size_t lo = 0, hi = *n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (keys[mid] < ra->keys[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < *n && keys[lo] == ra->keys[i])
            continue;
        memmove(keys + lo + 1, keys + lo, (*n - lo) * sizeof(*keys));
        keys[lo] = ra->keys[i];
        (*n)++;
    }
}

/* The query with operators `q`, evaluated as above; the filters as eng_query_run applies them. */
static int fused_run(struct qctx *c, const struct qnode *q, const roaring_bitmap_t *kind_set,
                     const roaring_bitmap_t *archived, const roaring_bitmap_t *scope,
                     struct eng_result *out)
{
    const struct eng_query *o = c->o;
    struct fused f;
    uint16_t *keys;
    size_t nkeys = 0, n = 0;
    int depth = tree_depth(q), rc = 0;
    uint64_t *w;

    memset(&f, 0, sizeof(f));
    f.leaf = arena_alloc(c->a, tree_leaves(q) * sizeof(*f.leaf));
    f.universe = c->universe;
    fused_leaves(&f, c, q, &rc);
    if (rc)
        return rc;
    {
        size_t cap = (size_t)f.universe->high_low_container.size;
        for (size_t i = 0; i < f.nleaf; i++)
            cap += (size_t)f.leaf[i]->high_low_container.size;
        keys = arena_alloc(c->a, (cap + 1) * sizeof(*keys));
    }
    for (size_t i = 0; i < f.nleaf; i++)
        keys_add(keys, &nkeys, f.leaf[i]);
    keys_add(keys, &nkeys, f.universe);
    f.buf = arena_alloc(c->a, ((size_t)depth + 1) * WORDS * sizeof(uint64_t));
    w = f.buf;
    if (o->limit > 0)
        out->ids = arena_alloc(c->a, (size_t)o->limit * sizeof(int64_t));
    for (size_t k = 0; k < nkeys; k++) {
        uint64_t *x = w + WORDS;
        uint32_t base = (uint32_t)keys[k] << 16;
        int cnt;
        f.at = 0;
        fused_eval(&f, q, keys[k], w);
        if (kind_set) {
            spread(kind_set, keys[k], x);
            for (int i = 0; i < WORDS; i++)
                w[i] &= x[i];
        }
        if (archived) {
            spread(archived, keys[k], x);
            for (int i = 0; i < WORDS; i++)
                w[i] &= ~x[i];
        }
        if (scope) {
            spread(scope, keys[k], x);
            for (int i = 0; i < WORDS; i++)
                w[i] &= x[i];
        }
        cnt = popcnt_words(w, WORDS);
        out->total += (uint64_t)cnt;
        if (cnt == 0 || o->limit <= 0 || out->more)
            continue;
        for (int i = 0; i < WORDS; i++) {
            uint64_t word = w[i];
            while (word) {
                int64_t id = (int64_t)base + i * 64 + __builtin_ctzll(word);
                word &= word - 1;
                if (id <= o->after_id)
                    continue;
                if (n == (size_t)o->limit) {
                    out->more = true;
                    break;
                }
                out->ids[n++] = id;
            }
            if (out->more)
                break;
        }
    }
    out->n = n;
    return 0;
}

int eng_query_run(const struct eng_snap *s, struct arena *a, const struct qnode *q,
                  const struct eng_query *o, struct eng_result *out, struct qerr *qe,
                  struct tg_err *err)
{
    struct qctx c;
    struct val v = {0};
    const struct eset *u = set_find(s, o->ws_id, -1);
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.s = s;
    c.o = o;
    c.a = a;
    c.qe = qe;
    c.err = err;
    c.empty = roaring_bitmap_create();
    c.universe = u ? u->bm : c.empty;
    if (eng__fused && (q->kind == QN_AND || q->kind == QN_OR || q->kind == QN_NOT)) {
        const roaring_bitmap_t *kind_set = NULL, *archived = NULL;
        struct val scope = {0};
        if (o->kind) {
            struct val k;
            eval_kind(&c, o->kind, &k);
            kind_set = k.b;
        }
        if (!o->archived && s->archived && !roaring_bitmap_is_empty(s->archived))
            archived = s->archived;
        if (o->within) {
            roaring_bitmap_t *one = roaring_bitmap_create();
            if (o->within > 0 && o->within < (int64_t)UINT32_MAX)
                roaring_bitmap_add(one, (uint32_t)o->within);
            scope = expand(s, owned(one));
        }
        rc = fused_run(&c, q, kind_set, archived, scope.b, out);
        val_drop(&scope);
        roaring_bitmap_free(c.empty);
        return rc;
    }
    rc = eval(&c, q, &v);
    if (rc == 0) {
        bool drop_archived =
            !o->archived && s->archived && !roaring_bitmap_is_empty(s->archived);
        const roaring_bitmap_t *res = v.b;
        /* A borrowed answer (one tag) is read in place; each filter makes a new one. */
        if (o->kind) {
            struct val k;
            eval_kind(&c, o->kind, &k);
            k = owned(bm_op(v.b, k.b, OP_AND));
            val_drop(&v);
            v = k;
        }
        if (drop_archived) {
            struct val k = owned(bm_op(v.b, s->archived, OP_ANDNOT));
            val_drop(&v);
            v = k;
        }
        if (v.own == NULL && o->within)
            v = owned(roaring_bitmap_copy(v.b));
        if (o->within) {
            /* The scope: the resource and everything below it in the resource tree. */
            roaring_bitmap_t *one = roaring_bitmap_create();
            struct val sub;
            if (o->within > 0 && o->within < (int64_t)UINT32_MAX)
                roaring_bitmap_add(one, (uint32_t)o->within);
            sub = expand(s, owned(one));
            roaring_bitmap_and_inplace(v.own, sub.b);
            val_drop(&sub);
        }
        res = v.b;
        /* A not at the top may reach other workspaces' ids only through the universe, and
         * every other term is per workspace, so the result is the caller's workspace. */
        out->total = roaring_bitmap_get_cardinality(res);
        if (o->limit > 0) {
            roaring_uint32_iterator_t *it = roaring_create_iterator(res);
            size_t n = 0;
            out->ids = arena_alloc(a, (size_t)o->limit * sizeof(int64_t));
            if (o->after_id > 0) {
                if (o->after_id >= (int64_t)UINT32_MAX)
                    it->has_value = false;
                else
                    roaring_move_uint32_iterator_equalorlarger(it, (uint32_t)o->after_id + 1);
            }
            while (it->has_value && n < (size_t)o->limit) {
                out->ids[n++] = it->current_value;
                roaring_advance_uint32_iterator(it);
            }
            out->more = it->has_value;
            out->n = n;
            roaring_free_uint32_iterator(it);
        }
    }
    val_drop(&v);
    roaring_bitmap_free(c.empty);
    return rc;
}

/* ---- checks ---- */

/* expand() without its depth bound: what the effective bitmaps promise. */
static roaring_bitmap_t *expand_all(const struct eng_snap *s, const roaring_bitmap_t *in)
{
    roaring_bitmap_t *res = roaring_bitmap_copy(in), *f = roaring_bitmap_copy(in);

    while (!roaring_bitmap_is_empty(f)) {
        roaring_bitmap_t *next = roaring_bitmap_create();
        roaring_uint32_iterator_t it;
        roaring_init_iterator(f, &it);
        for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
            const struct eres *r = res_at(s, it.current_value);
            if (r && r->children)
                roaring_bitmap_or_inplace(next, r->children);
        }
        roaring_bitmap_andnot_inplace(next, res);
        roaring_bitmap_or_inplace(res, next);
        roaring_bitmap_free(f);
        f = next;
    }
    roaring_bitmap_free(f);
    return res;
}

int eng__effective_check(const struct eng_snap *s, char *msg, size_t len)
{
    int bad = 0;

    if (len)
        msg[0] = '\0';
    for (uint32_t id = 0; id < s->ntags; id++) {
        const struct etag *t = s->tags[id];
        for (int k = 0; t && k < 2; k++) {
            const roaring_bitmap_t *src = k ? t->sub : t->direct, *have = k ? t->esub : t->eff;
            roaring_bitmap_t *want;
            bool ok;
            if (src == NULL) {
                ok = have == NULL;
            } else if (have == NULL) {
                ok = false;
            } else {
                want = expand_all(s, src);
                ok = roaring_bitmap_equals(want, have);
                roaring_bitmap_free(want);
            }
            if (!ok && bad++ == 0 && len)
                snprintf(msg, len, "tag %u: %s differs from expand(%s) (%llu members, %s)",
                         (unsigned)id, k ? "esub" : "eff", k ? "sub" : "direct",
                         have ? (unsigned long long)roaring_bitmap_get_cardinality(have) : 0ULL,
                         have ? "present" : "missing");
        }
    }
    return bad;
}
