/* engine/load.c: engine_open: loading the whole index from the store in one read, with its
 * progress, and the effective bitmaps computed level by level. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <pthread.h>

#include <roaring/roaring.h>

#include "util/mem.h"

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
                const roaring_bitmap_t *ch = eng__res_at(b, it.current_value)->children;
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
        if ((rc = eng__id32(id, "tag", err)) != 0)
            break;
        eng__w_tags_dir(e, (uint32_t)id + 1);
        t = xcalloc(1, sizeof(*t));
        t->gen = t->direct_gen = b->gen;
        t->id = id;
        t->ws_id = col_int(st, 1);
        t->name = xstrdup(col_text(st, 2));
        t->key = xstrdup(col_text(st, 3));
        t->parent_id = col_null(st, 4) ? 0 : col_int(st, 4);
        t->deleted = col_int(st, 13) != 0;
        t->rec = eng__rec_read(st, t->name, t->key);
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
            if ((rc = eng__id32(id, "resource", err)) != 0 ||
                (parent && (rc = eng__id32(parent, "resource", err)) != 0))
                break;
            kind = eng__kind_index(e, col_text(st, 2), err);
            if (kind < 0) {
                rc = kind;
                break;
            }
            eng__res_set_row(e, (uint32_t)id, true, col_int(st, 1), kind, (uint32_t)parent,
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
                    struct eres *r = eng__w_res(e, cur);
                    r->tags = eng__rows_block(&v);
                    r->ntags = (uint32_t)v.n;
                    b->nasg += v.n;
                }
                v.n = 0;
                cur = (uint32_t)rid;
            }
            if (rc != 1)
                break;
            if ((rc = eng__rows_push(e, &v, st, 1, err)) != 0)
                break;
            progress(nres, ++nasg, false);
            if (eng__tag_at(b, tid)) {
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
        eng__rows_free(&v);
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
    eng__recompute_subtrees(e);
    eng__rebuild_dict(e);
    eng__kidx_rebuild(e);
    rc = eng__aliases_load(e, c, err);
    if (rc == 0)
        rc = eng__pols_load(e, c, err);
    return rc;
}

int engine_open(struct store_conn *c, struct engine **out, struct tg_err *err)
{
    struct engine *e = xcalloc(1, sizeof(*e));
    int rc;

    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->published, NULL);
    pthread_mutex_init(&e->catch_mu, NULL);
    e->who_dir = xcalloc(WHO_DIR, sizeof(*e->who_dir));
    eng__build_begin(e);
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
    eng__build_publish(e);
    *out = e;
    return 0;
}
