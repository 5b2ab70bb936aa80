/* engine/update.c: the build's changes to the index, which loading (load.c) and catching up
 * (catchup.c) are made of: writable views of the snapshot's objects, the interned (context,
 * added_by) pairs, assignment blocks, tags with their dictionary and subtrees, resources, the
 * effective bitmaps kept up to date, and resources by key. The data structures and their
 * invariants: engine_int.h. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "core/model.h"
#include "util/mem.h"

/* ---- the build: writable views of the snapshot's objects ---- */

void eng__w_tags_dir(struct engine *e, uint32_t need)
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
        struct etag **d = eng__made(e, xcalloc(n, sizeof(*d)), false);
        if (b->ntags)
            memcpy(d, b->tags, b->ntags * sizeof(*d));
        eng__retire(e, b->tags, false);
        b->tags = d;
        b->ntags = n;
        b->tags_gen = b->gen;
    }
}

struct etag *eng__tag_at(const struct eng_snap *s, int64_t id)
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
    eng__w_tags_dir(e, 0);
    c = eng__mem_dup(e, t, sizeof(*t));
    c->gen = b->gen;
    eng__retire(e, t, false);
    b->tags[id] = c;
    return c;
}

static roaring_bitmap_t *w_direct(struct engine *e, uint32_t id)
{
    struct etag *t = w_tag(e, id);
    assert(t->direct != NULL);
    if (t->direct_gen != e->b->gen) {
        roaring_bitmap_t *c = eng__bm_shallow(e, t->direct);
        eng__retire_shell(e, t->direct);
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
        roaring_bitmap_t *c = eng__bm_shallow(e, t->sub);
        eng__retire_shell(e, t->sub);
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
        roaring_bitmap_t *c = eng__bm_shallow(e, *bm);
        eng__retire_shell(e, *bm);
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
    d = eng__made(e, xcalloc(n, sizeof(*d)), false);
    if (b->nchunks)
        memcpy(d, b->chunks, b->nchunks * sizeof(*d));
    eng__retire(e, b->chunks, false);
    b->chunks = d;
    b->nchunks = n;
    b->chunks_gen = b->gen;
}

const struct eres *eng__res_at(const struct eng_snap *s, uint32_t id)
{
    uint32_t c = id >> CHUNK_BITS;
    if (c >= s->nchunks || s->chunks[c] == NULL)
        return NULL;
    return &s->chunks[c]->r[id & (CHUNK - 1)];
}

/* A writable resource entry (created empty when missing). */
struct eres *eng__w_res(struct engine *e, uint32_t id)
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
        struct chunk *cp = eng__mem_dup(e, ch, sizeof(*ch));
        eng__retire(e, ch, false);
        ch = cp;
    } else {
        ch = eng__made(e, xcalloc(1, sizeof(*ch)), false);
    }
    ch->gen = b->gen;
    b->chunks[c] = ch;
    return &ch->r[id & (CHUNK - 1)];
}

struct eset *eng__set_find(const struct eng_snap *s, int64_t ws, int kind)
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
    struct eset *st = eng__set_find(b, ws, kind);

    if (b->sets_gen != b->gen || st == NULL) {
        /* Sets are few (workspaces x kinds): copying the array is cheap. */
        struct eset *d = eng__made(e, xcalloc(b->nsets + 1, sizeof(*d)), false);
        if (b->nsets)
            memcpy(d, b->sets, b->nsets * sizeof(*d));
        eng__retire(e, b->sets, false);
        b->sets = d;
        b->sets_gen = b->gen;
        st = eng__set_find(b, ws, kind);
    }
    if (st == NULL) {
        st = &b->sets[b->nsets++];
        st->ws_id = ws;
        st->kind = kind;
        st->kname = kind >= 0 ? e->kinds[kind] : NULL;
        st->bm = eng__bm_new(e);
        st->gen = b->gen;
    }
    if (st->gen != b->gen) {
        roaring_bitmap_t *c = eng__bm_copy(e, st->bm);
        eng__retire(e, st->bm, true);
        st->bm = c;
        st->gen = b->gen;
    }
    return st->bm;
}

static roaring_bitmap_t *w_archived(struct engine *e)
{
    struct eng_snap *b = e->b;
    if (b->archived == NULL) {
        b->archived = eng__bm_new(e);
        b->archived_gen = b->gen;
    } else if (b->archived_gen != b->gen) {
        roaring_bitmap_t *c = eng__bm_copy(e, b->archived);
        eng__retire(e, b->archived, true);
        b->archived = c;
        b->archived_gen = b->gen;
    }
    return b->archived;
}

int eng__kind_index(struct engine *e, const char *kind, struct tg_err *err)
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

const struct who *eng__who_at(struct who *const *dir, uint32_t i)
{
    return &dir[i >> WHO_CHUNK_BITS][i & (WHO_CHUNK - 1)];
}

static void who_rehash(struct engine *e)
{
    size_t cap = e->who_cap ? e->who_cap * 2 : 64;
    uint32_t *slots = xcalloc(cap, sizeof(*slots));

    for (uint32_t i = 0; i < e->nwho; i++) {
        const struct who *w = eng__who_at(e->who_dir, i);
        size_t h = (size_t)(who_hash(w->context, w->added_by) & (cap - 1));
        while (slots[h])
            h = (h + 1) & (cap - 1);
        slots[h] = i + 1;
    }
    xfree(e->who_slots);
    e->who_slots = slots;
    e->who_cap = cap;
}

int eng__who_intern(struct engine *e, const char *context, const char *added_by,
                    uint32_t *out, struct tg_err *err)
{
    size_t h;
    struct who *w;

    if (e->nwho) {
        const struct who *last = eng__who_at(e->who_dir, e->last_who);
        if (str_eq(last->context, context) && str_eq(last->added_by, added_by)) {
            *out = e->last_who;
            return 0;
        }
    }
    if ((e->nwho + 1) * 2 > e->who_cap)
        who_rehash(e);
    h = (size_t)(who_hash(context, added_by) & (e->who_cap - 1));
    for (; e->who_slots[h]; h = (h + 1) & (e->who_cap - 1)) {
        const struct who *x = eng__who_at(e->who_dir, e->who_slots[h] - 1);
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

int eng__rows_push(struct engine *e, struct asg_rows *v, struct store_stmt *st, int at,
                   struct tg_err *err)
{
    int64_t t = col_int(st, at);
    uint32_t w = 0;
    int rc;

    if (t <= 0 || t >= (int64_t)UINT32_MAX)
        return 0;
    rc = eng__who_intern(e, col_null(st, at + 1) ? NULL : col_text(st, at + 1),
                         col_null(st, at + 2) ? NULL : col_text(st, at + 2), &w, err);
    if (rc)
        return rc;
    eng__rows_append(e, v, (uint32_t)t, w, col_int(st, at + 3), col_int(st, at + 4));
    return 0;
}

void eng__rows_append(struct engine *e, struct asg_rows *v, uint32_t tag, uint32_t who,
                      int64_t at, int64_t id)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->tags = xrealloc(v->tags, v->cap * sizeof(*v->tags));
        v->who = xrealloc(v->who, v->cap * sizeof(*v->who));
        v->at = xrealloc(v->at, v->cap * sizeof(*v->at));
        v->id = xrealloc(v->id, v->cap * sizeof(*v->id));
    }
    v->tags[v->n] = tag;
    v->who[v->n] = who;
    v->at[v->n] = at;
    v->id[v->n] = id;
    if (id > e->max_asg_id)
        e->max_asg_id = id;
    v->n++;
}

/* The gathered rows as a block (NULL when none). */
static int cmp_by_id(const void *x, const void *y, void *ids)
{
    int64_t a = ((const int64_t *)ids)[*(const uint32_t *)x];
    int64_t b = ((const int64_t *)ids)[*(const uint32_t *)y];
    return a < b ? -1 : a > b;
}

uint32_t *eng__rows_block(const struct asg_rows *v)
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
    if (v->n <= 32) {
        /* A resource's few rows (ten on average at full size, a million resources at
         * start): sorted in place, without an allocation and a call per comparison. */
        uint32_t by[32];
        for (size_t i = 0; i < v->n; i++) {
            size_t j = i;
            for (; j > 0 && v->id[by[j - 1]] > v->id[i]; j--)
                by[j] = by[j - 1];
            by[j] = (uint32_t)i;
        }
        for (size_t i = 0; i < v->n; i++)
            ord[by[i]] = (uint32_t)i;
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

void eng__rows_free(struct asg_rows *v)
{
    xfree(v->tags);
    xfree(v->who);
    xfree(v->at);
    xfree(v->id);
}

/* ---- tags ---- */

int eng__cmp_dict(const void *x, const void *y)
{
    const struct dict_ent *a = x, *b = y;
    if (a->ws_id != b->ws_id)
        return a->ws_id < b->ws_id ? -1 : 1;
    return strcmp(a->key, b->key);
}

void eng__rebuild_dict(struct engine *e)
{
    struct eng_snap *b = e->b;
    struct dict_ent *d = eng__made(e, xcalloc(b->ntags + 1, sizeof(*d)), false);
    size_t n = 0;

    for (uint32_t i = 0; i < b->ntags; i++) {
        struct etag *t = b->tags[i];
        if (t == NULL)
            continue;
        d[n].ws_id = t->ws_id;
        d[n].key = t->key;
        d[n++].id = i;
    }
    qsort(d, n, sizeof(*d), eng__cmp_dict);
    eng__retire(e, b->dict, false);
    b->dict = d;
    b->ndict = n;
    b->dict_gen = b->gen;
    {
        uint32_t *rank = eng__made(e, xcalloc(b->ntags + 1, sizeof(*rank)), false);
        for (size_t i = 0; i < n; i++)
            rank[d[i].id] = (uint32_t)i;
        eng__retire(e, b->rank, false);
        b->rank = rank;
    }
}

const struct etag *eng__dict_find(const struct eng_snap *s, int64_t ws, const char *key)
{
    size_t lo = 0, hi = s->ndict;
    struct dict_ent k = {ws, key, 0};

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = eng__cmp_dict(&s->dict[mid], &k);
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

const struct etag *eng__alias_find(const struct eng_snap *s, int64_t ws, const char *key)
{
    const struct alias_tab *at = s->aliases;
    struct dict_ent k = {ws, key, 0};
    size_t lo = 0, hi = at ? at->n : 0;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = eng__cmp_dict(&at->e[mid], &k);
        if (c == 0) {
            const struct etag *t = eng__tag_at(s, at->e[mid].id);
            return t == NULL || t->deleted || t->ws_id != ws ? NULL : t;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int eng__aliases_load(struct engine *e, struct store_conn *c, struct tg_err *err)
{
    struct store_stmt *st = st_get(c, SQL_ENG_ALIASES, err);
    struct dict_ent *v = NULL;
    struct alias_tab *at;
    size_t n = 0, cap = 0, bytes = 0;
    char *p;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    while ((rc = st_step(st, err)) == 1) {
        int64_t id = col_int(st, 2);
        if (id <= 0 || id >= (int64_t)UINT32_MAX)
            continue; /* no tag the engine can hold */
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n].ws_id = col_int(st, 0);
        v[n].key = xstrdup(col_text(st, 1) ? col_text(st, 1) : "");
        v[n].id = (uint32_t)id;
        bytes += strlen(v[n].key) + 1;
        n++;
    }
    st_reset(st);
    if (rc == 0) {
        /* One allocation, so that retiring the table is retiring one object. */
        at = xmalloc(sizeof(*at) + n * sizeof(at->e[0]) + bytes);
        at->n = n;
        p = (char *)(at->e + n);
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(v[i].key) + 1;
            memcpy(p, v[i].key, len);
            at->e[i] = v[i];
            at->e[i].key = p;
            p += len;
        }
        qsort(at->e, n, sizeof(at->e[0]), eng__cmp_dict);
        eng__retire(e, e->b->aliases, false);
        e->b->aliases = eng__made(e, at, false);
    }
    for (size_t i = 0; i < n; i++)
        xfree((void *)v[i].key);
    xfree(v);
    return rc;
}

static int cmp_pol_ent(const void *x, const void *y)
{
    int64_t a = ((const struct pol_ent *)x)->group, b = ((const struct pol_ent *)y)->group;
    return a < b ? -1 : a > b;
}

int eng__pols_load(struct engine *e, struct store_conn *c, struct tg_err *err)
{
    struct store_stmt *st = st_get(c, SQL_ENG_POLICIES, err);
    struct pol_tab *pt = NULL;
    size_t cap = 0;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    while ((rc = st_step(st, err)) == 1) {
        enum group_conflict cf;
        if (!group_conflict_parse(col_text(st, 1), &cf) || cf == CONFLICT_UNION)
            continue;
        if (pt == NULL || pt->n == cap) {
            size_t n = pt ? pt->n : 0;
            cap = cap ? cap * 2 : 8;
            pt = xrealloc(pt, sizeof(*pt) + cap * sizeof(pt->e[0]));
            pt->n = n;
        }
        pt->e[pt->n].group = col_int(st, 0);
        pt->e[pt->n++].conflict = cf;
    }
    st_reset(st);
    if (rc < 0) {
        xfree(pt);
        return rc;
    }
    if (pt)
        qsort(pt->e, pt->n, sizeof(pt->e[0]), cmp_pol_ent);
    eng__retire(e, e->b->pols, false);
    e->b->pols = pt ? eng__made(e, pt, false) : NULL;
    return 0;
}

enum group_conflict eng__pol_of(const struct eng_snap *s, int64_t group)
{
    const struct pol_tab *pt = s->pols;
    size_t lo = 0, hi = pt ? pt->n : 0;

    if (group == 0)
        return CONFLICT_UNION;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pt->e[mid].group == group)
            return pt->e[mid].conflict;
        if (pt->e[mid].group < group)
            lo = mid + 1;
        else
            hi = mid;
    }
    return CONFLICT_UNION;
}

/* True when tag `t` is `anc` or lies below it. */
static bool tag_under(const struct eng_snap *s, uint32_t t, uint32_t anc)
{
    for (int d = 0; t && d < MAX_TAG_DEPTH; d++) {
        const struct etag *x;
        if (t == anc)
            return true;
        x = eng__tag_at(s, t);
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
        t = eng__tag_at(s, t->parent_id);
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
void eng__recompute_subtrees(struct engine *e)
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
        p = eng__tag_at(b, t->parent_id);
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
        eng__retire(e, t->sub, true);
        t->sub = acc[id] ? eng__made(e, acc[id], true) : NULL;
        t->sub_gen = b->gen;
        eng__retire(e, t->esub, true);
        t->esub = acce[id] ? eng__made(e, acce[id], true) : NULL;
        t->esub_gen = b->gen;
    }
    xfree(acc);
    xfree(acce);
    xfree(order);
}

/* The row (TAG_COLS) as one allocation: a struct tag followed by its strings. The name fields
 * point at the entry's own `name` and `key`, which outlive every record that uses them. */
struct tag *eng__rec_read(struct store_stmt *st, const char *name, const char *key)
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
    t->state = tag_state_parse(col_null(st, 21) ? NULL : col_text(st, 21));
    t->replaced_by = col_null(st, 22) ? 0 : col_int(st, 22);
    t->assign_restricted = col_int(st, 23) != 0;
    return t;
}

/* Forgets tag `id` and takes it off every resource: it was purged, and its assignments were
 * closed with it. A purged tag's id may be given to the next tag made (SQLite reuses the
 * largest rowid), so the catch-up drops a purged tag before it reads the row again. */
void eng__tag_drop(struct engine *e, uint32_t id)
{
    struct eng_snap *b = e->b;
    struct etag *old = eng__tag_at(b, id);
    roaring_uint32_iterator_t *it;

    if (old == NULL)
        return;
    it = roaring_create_iterator(old->direct);
    while (it->has_value) {
        struct eres *r = eng__w_res(e, it->current_value);
        uint32_t *nt = NULL, k = 0, m = 0;
        for (uint32_t j = 0; j < r->ntags; j++)
            m += r->tags[j] != (uint32_t)id;
        if (m)
            nt = eng__made(e, xmalloc(B_SIZE(m)), false);
        for (uint32_t j = 0; j < r->ntags; j++) {
            if (r->tags[j] == (uint32_t)id)
                continue;
            nt[k] = r->tags[j];
            B_WHO(nt, m)[k] = B_WHO(r->tags, r->ntags)[j];
            B_AT(nt, m)[k] = B_AT(r->tags, r->ntags)[j];
            B_ORD(nt, m)[k++] = B_ORD(r->tags, r->ntags)[j];
        }
        eng__retire(e, r->tags, false);
        r->tags = nt;
        b->nasg -= r->ntags - k;
        r->ntags = k;
        roaring_advance_uint32_iterator(it);
    }
    roaring_free_uint32_iterator(it);
    eng__w_tags_dir(e, 0);
    eng__retire(e, old, false);
    eng__retire(e, old->direct, true);
    eng__retire(e, old->sub, true);
    eng__retire(e, old->eff, true);
    eng__retire(e, old->esub, true);
    eng__retire(e, old->name, false);
    eng__retire(e, old->key, false);
    eng__retire(e, old->rec, false);
    b->tags[id] = NULL;
    e->structure_dirty = e->dict_dirty = true;
}

/* Loads tag `id` from the store into the build. */
int eng__sync_tag(struct engine *e, struct store_conn *c, int64_t id, struct tg_err *err)
{
    struct eng_snap *b = e->b;
    struct store_stmt *st = st_get(c, SQL_ENG_TAG_ONE, err);
    struct etag *old = eng__tag_at(b, id), *t;
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
            eng__tag_drop(e, (uint32_t)id);
        return 0;
    }
    {
        int64_t ws = col_int(st, 1), parent = col_null(st, 4) ? 0 : col_int(st, 4);
        const char *name = col_text(st, 2), *key = col_text(st, 3);
        bool deleted = col_int(st, 13) != 0;
        if (old == NULL) {
            eng__w_tags_dir(e, (uint32_t)id + 1);
            t = eng__made(e, xcalloc(1, sizeof(*t)), false);
            t->gen = t->direct_gen = t->eff_gen = b->gen;
            t->id = id;
            t->direct = eng__bm_new(e);
            t->eff = eng__bm_new(e);
            t->name = eng__made(e, xstrdup(name), false);
            t->key = eng__made(e, xstrdup(key), false);
            t->ws_id = ws;
            t->parent_id = parent;
            t->deleted = deleted;
            b->tags[id] = t;
            e->dict_dirty = true;
            /* A new live tag is empty, so its ancestors' subtrees keep their members; an
             * ancestor that had no live child gains a `sub` equal to its direct set. */
            if (!deleted) {
                for (struct etag *p = eng__tag_at(b, parent); p && p->sub == NULL && !p->deleted;
                     p = eng__tag_at(b, p->parent_id)) {
                    struct etag *wp = w_tag(e, (uint32_t)p->id);
                    wp->sub = eng__bm_copy(e, wp->direct);
                    wp->sub_gen = b->gen;
                    assert(wp->esub == NULL); /* NULL with sub */
                    wp->esub = eng__bm_copy(e, wp->eff);
                    wp->esub_gen = b->gen;
                    p = wp;
                }
            }
        } else {
            bool renamed = strcmp(old->key, key) != 0 || strcmp(old->name, name) != 0;
            t = w_tag(e, (uint32_t)id);
            if (renamed) {
                eng__retire(e, t->name, false);
                eng__retire(e, t->key, false);
                t->name = eng__made(e, xstrdup(name), false);
                t->key = eng__made(e, xstrdup(key), false);
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
            eng__retire(e, t->rec, false);
        }
        /* Whatever else changed (color, group, archived …), the record is read again. */
        t->rec = eng__made(e, eng__rec_read(st, t->name, t->key), false);
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
    const struct etag *t = eng__tag_at(b, tag);
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
    r = eng__res_at(b, rid);
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
            eng__bm_add(e, w, y);
        else
            eng__bm_remove(e, w, y);
        r = eng__res_at(b, y);
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
        const struct eres *r = eng__res_at(b, p);
        if (r == NULL)
            break;
        for (uint32_t j = 0; j < r->ntags; j++) {
            const struct etag *t = eng__tag_at(b, r->tags[j]);
            for (int k = 0; t && k < MAX_TAG_DEPTH; k++, t = eng__tag_at(b, t->parent_id))
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
    const struct eres *r = eng__res_at(e->b, rid);

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
    const struct etag *t = eng__tag_at(b, tag);

    if (t == NULL || t->deleted)
        return;
    for (int d = 0; t && d < MAX_TAG_DEPTH; d++, t = eng__tag_at(b, t->parent_id)) {
        if (t->sub == NULL || t->deleted)
            continue;
        if (add) {
            if (!roaring_bitmap_contains(t->sub, rid)) {
                eng__bm_add(e, w_sub(e, (uint32_t)t->id), rid);
                t = eng__tag_at(b, t->id);
                eff_refresh(e, (uint32_t)t->id, true, rid);
            }
        } else {
            bool keep = false;
            for (uint32_t j = 0; j < nnow && !keep; j++) {
                const struct etag *o = eng__tag_at(b, now[j]);
                keep = o && !o->deleted && tag_under(b, now[j], (uint32_t)t->id);
            }
            if (!keep && roaring_bitmap_contains(t->sub, rid)) {
                eng__bm_remove(e, w_sub(e, (uint32_t)t->id), rid);
                t = eng__tag_at(b, t->id);
                eff_refresh(e, (uint32_t)t->id, true, rid);
            }
        }
    }
}

/* Makes the resource's assignments exactly the block `now` of nnow entries (sorted by tag). */
void eng__res_set_tags(struct engine *e, uint32_t rid, const uint32_t *now, uint32_t nnow)
{
    struct eng_snap *b = e->b;
    const struct eres *old = eng__res_at(b, rid);
    const uint32_t *was = old ? old->tags : NULL;
    uint32_t nwas = old ? old->ntags : 0, i = 0, j = 0;
    struct eres *r;

    if (nwas == nnow && (nnow == 0 || memcmp(was, now, B_SIZE(nnow)) == 0))
        return;
    /* Merge walk over the two sorted lists. */
    while (i < nwas || j < nnow) {
        if (j >= nnow || (i < nwas && was[i] < now[j])) {
            if (eng__tag_at(b, was[i])) {
                eng__bm_remove(e, w_direct(e, was[i]), rid);
                eff_refresh(e, was[i], false, rid);
                sub_update(e, rid, was[i], now, nnow, false);
            }
            i++;
        } else if (i >= nwas || now[j] < was[i]) {
            if (eng__tag_at(b, now[j])) {
                eng__bm_add(e, w_direct(e, now[j]), rid);
                eff_refresh(e, now[j], false, rid);
                sub_update(e, rid, now[j], now, nnow, true);
            }
            j++;
        } else {
            i++;
            j++;
        }
    }
    r = eng__w_res(e, rid);
    eng__retire(e, r->tags, false);
    r->tags = nnow ? eng__mem_dup(e, now, B_SIZE(nnow)) : NULL;
    b->nasg = b->nasg - r->ntags + nnow;
    r->ntags = nnow;
}

static void children_edit(struct engine *e, uint32_t parent, uint32_t child, bool add)
{
    struct eres *p;
    roaring_bitmap_t *c;

    if (parent == 0)
        return;
    p = eng__w_res(e, parent);
    if (p->children == NULL && !add)
        return;
    if (e->cur == NULL && p->children) {
        /* Loading: nobody can see the bitmap yet. */
        roaring_bitmap_add(p->children, child);
        return;
    }
    c = p->children ? eng__bm_copy(e, p->children) : eng__bm_new(e);
    eng__retire(e, p->children, true);
    if (add)
        roaring_bitmap_add(c, child);
    else
        roaring_bitmap_remove(c, child);
    if (roaring_bitmap_is_empty(c)) {
        eng__retire(e, c, true);
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
void eng__kidx_rebuild(struct engine *e)
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
    eng__retire(e, b->kidx, false);
    b->kidx = eng__made(e, k, false);
}

static void kidx_insert(struct engine *e, uint32_t rid, const struct eres *r)
{
    struct keyidx *k = e->b->kidx;
    if (r->key == NULL)
        return;
    if (k == NULL || (k->used + 1) * 2 > k->cap) {
        eng__kidx_rebuild(e); /* holds rid already */
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
        r = eng__res_at(s, id);
        if (r && (r->flags & R_EXISTS) && r->ws == (uint32_t)ws && r->key &&
            strcmp(r->key, key) == 0 && strcmp(s->kinds[r->kind], kind) == 0)
            return id;
    }
    return 0;
}

/* Puts the resource row (ws, kind, parent, archived) into the build; exists=false removes it. */
int eng__res_set_row(struct engine *e, uint32_t rid, bool exists, int64_t ws, int kind,
                     uint32_t parent, bool archived, const char *key)
{
    struct eng_snap *b = e->b;
    const struct eres *old = eng__res_at(b, rid);
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
    r = eng__w_res(e, rid);
    if (exists) {
        if (!had)
            b->nres++;
        r->ws = (uint32_t)ws;
        r->kind = (uint16_t)kind;
        r->parent = parent;
        r->flags = (uint8_t)(R_EXISTS | (archived ? R_ARCHIVED : 0));
        if (!str_eq(r->key, key)) {
            eng__retire(e, r->key, false);
            r->key = key ? eng__made(e, xstrdup(key), false) : NULL;
            if (e->cur) /* loading builds the table once at the end */
                kidx_insert(e, rid, r);
        }
    } else {
        b->nres--;
        r->flags = 0;
        r->parent = 0;
        eng__retire(e, r->key, false);
        r->key = NULL;
    }
    if (had != exists || was_parent != parent)
        eff_relink(e, rid, was_parent);
    return 0;
}
