/* engine/load.c: engine_open: loading the whole index from the store in one read, with its
 * progress, and the effective bitmaps computed level by level. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <roaring/roaring.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/timeu.h"

/* ---- loading ---- */

/* Every tag's eff = expand(direct), level by level. Only members with children lead further
 * (at full size 51,000 of a million resources), so each level visits those alone. The walk
 * marks what it reached in a plain bit array of every resource id, so each resource costs one
 * test, reads the children from plain arrays, and puts the new members into eff in order in
 * one pass (4.4 s -> 0.5-0.8 s wall at 10M assignments, with the two threads below). */
struct eff_job {
    struct eng_snap *b;
    const uint64_t *inner; /* resources with children, one bit each */
    size_t nbits;
    /* Every resource's children in plain arrays (iterating the bitmaps cost a call per
     * child): those of resource r are kids[off[r] .. off[r + 1]). */
    const uint32_t *off, *kids;
    _Atomic uint32_t next; /* the next tag id to take */
};

/* One thread's scratch: `seen` is all zero between tags. */
struct eff_scratch {
    uint64_t *seen;
    uint32_t *dv, *fr, *nf, *added, *out;
    size_t capdv, capfr, capnf, capadded, capout;
    size_t nfr, nnf, nadded;
    const uint64_t *inner;
};

#define BIT_HAS(a, i) (((a)[(i) >> 6] >> ((i) & 63)) & 1)
#define BIT_SET(a, i) ((a)[(i) >> 6] |= (uint64_t)1 << ((i) & 63))

static void grow(uint32_t **v, size_t *cap, size_t need)
{
    if (need > *cap) {
        *cap = need * 2;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

static void eff_one(const struct eff_job *j, struct eff_scratch *x, struct etag *t)
{
    size_t nd = (size_t)roaring_bitmap_get_cardinality(t->direct), nout = 0;

    t->eff_gen = j->b->gen;
    grow(&x->dv, &x->capdv, nd);
    roaring_bitmap_to_uint32_array(t->direct, x->dv);
    x->nfr = x->nadded = 0;
    for (size_t i = 0; i < nd; i++) {
        BIT_SET(x->seen, x->dv[i]);
        if (BIT_HAS(j->inner, x->dv[i])) {
            grow(&x->fr, &x->capfr, x->nfr + 1);
            x->fr[x->nfr++] = x->dv[i];
        }
    }
    while (x->nfr) {
        uint32_t *sw;
        size_t swc;
        x->nnf = 0;
        for (size_t i = 0; i < x->nfr; i++) {
            for (uint32_t k = j->off[x->fr[i]]; k < j->off[x->fr[i] + 1]; k++) {
                uint32_t ch = j->kids[k];
                if (BIT_HAS(x->seen, ch))
                    continue;
                BIT_SET(x->seen, ch);
                grow(&x->added, &x->capadded, x->nadded + 1);
                x->added[x->nadded++] = ch;
                if (BIT_HAS(j->inner, ch)) {
                    grow(&x->nf, &x->capnf, x->nnf + 1);
                    x->nf[x->nnf++] = ch;
                }
            }
        }
        sw = x->fr, x->fr = x->nf, x->nf = sw;
        swc = x->capfr, x->capfr = x->capnf, x->capnf = swc;
        x->nfr = x->nnf;
    }
    if (x->nadded == 0) {
        t->eff = roaring_bitmap_copy(t->direct);
    } else {
        /* Every member in order: from the bit array when it is dense, else by merging. */
        grow(&x->out, &x->capout, nd + x->nadded);
        if (x->nadded > j->nbits / 256) {
            for (size_t w = 0; w < (j->nbits + 63) / 64; w++)
                for (uint64_t m = x->seen[w]; m; m &= m - 1)
                    x->out[nout++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(m));
        } else {
            size_t a = 0, b = 0;
            qsort(x->added, x->nadded, sizeof(*x->added), cmp_u32);
            while (a < nd || b < x->nadded)
                x->out[nout++] = b == x->nadded || (a < nd && x->dv[a] < x->added[b])
                                     ? x->dv[a++]
                                     : x->added[b++];
        }
        assert(nout == nd + x->nadded);
        t->eff = roaring_bitmap_of_ptr(nout, x->out);
    }
    for (size_t i = 0; i < nd; i++)
        x->seen[x->dv[i] >> 6] = 0;
    for (size_t i = 0; i < x->nadded; i++)
        x->seen[x->added[i] >> 6] = 0;
    roaring_bitmap_run_optimize(t->eff);
    roaring_bitmap_shrink_to_fit(t->eff);
}

/* Tags taken one at a time from a shared counter: one broad tag costs as much as hundreds of
 * narrow ones. Each thread writes only the eff of the tags it took; everything else it reads
 * (direct bitmaps, resource entries, `inner`) stays unchanged until every thread is done. */
static void *eff_worker(void *arg)
{
    struct eff_job *j = arg;
    struct eff_scratch x = {.inner = j->inner};
    uint32_t id;

    x.seen = xcalloc((j->nbits + 63) / 64, sizeof(*x.seen));
    while ((id = atomic_fetch_add(&j->next, 1)) < j->b->ntags)
        if (j->b->tags[id])
            eff_one(j, &x, j->b->tags[id]);
    xfree(x.seen);
    xfree(x.dv);
    xfree(x.fr);
    xfree(x.nf);
    xfree(x.added);
    xfree(x.out);
    return NULL;
}

static void eff_load(struct engine *e)
{
    struct eng_snap *b = e->b;
    struct eff_job j = {.b = b, .nbits = (size_t)b->nchunks << CHUNK_BITS};
    uint64_t *inner = xcalloc((j.nbits + 63) / 64 + 1, sizeof(*inner));
    uint32_t *off = xmalloc((j.nbits + 1) * sizeof(*off)), *kids;
    size_t nkids = 0;
    pthread_t th;
    bool two;

    for (uint32_t c = 0; c < b->nchunks; c++) {
        const struct chunk *ch = b->chunks[c];
        for (uint32_t k = 0; k < CHUNK; k++) {
            const roaring_bitmap_t *kb = ch ? ch->r[k].children : NULL;
            off[(c << CHUNK_BITS) | k] = (uint32_t)nkids;
            if (kb != NULL) {
                BIT_SET(inner, (c << CHUNK_BITS) | k);
                nkids += (size_t)roaring_bitmap_get_cardinality(kb);
            }
        }
    }
    off[j.nbits] = (uint32_t)nkids;
    kids = xmalloc((nkids + 1) * sizeof(*kids));
    for (uint32_t c = 0; c < b->nchunks; c++) {
        const struct chunk *ch = b->chunks[c];
        for (uint32_t k = 0; ch && k < CHUNK; k++)
            if (ch->r[k].children != NULL)
                roaring_bitmap_to_uint32_array(ch->r[k].children,
                                               kids + off[(c << CHUNK_BITS) | k]);
    }
    j.inner = inner;
    j.off = off;
    j.kids = kids;
    atomic_init(&j.next, 0);
    two = pthread_create(&th, NULL, eff_worker, &j) == 0;
    eff_worker(&j);
    if (two)
        pthread_join(th, NULL);
    xfree(inner);
    xfree(off);
    xfree(kids);
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

/* ---- the assignments, read on a second thread ----
 *
 * Reading the rows (SQLite's b-trees, or libpq) took as long as putting them into the index,
 * so a reader thread steps the statement and interns each row's assigner into batches while
 * the loading thread builds the blocks and bitmaps from the batch before. During the phase
 * the reader alone uses the connection and the assigner table (eng__who_intern: e->who_*),
 * and the loader alone everything else; a batch changes hands under the pipe's mutex. */
#define ASG_BATCHES 4
size_t eng__load_batch = 8192;

struct asg_row {
    uint32_t rid, tid, who;
    int64_t at, id;
};

/* A resource row; its key at text + key in the batch (SIZE_MAX: none). */
struct res_row {
    uint32_t id, parent;
    int64_t ws;
    size_t key;
    int kind;
    bool archived;
};

struct asg_batch {
    struct asg_row *row; /* eng__load_batch of them, or of res */
    struct res_row *res;
    char *text;
    size_t ntext, captext;
    size_t n;
    bool last; /* the reader's final batch: rc says how it ended */
    int rc;
};

struct asg_pipe {
    struct engine *e;
    struct store_conn *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct asg_batch *ring[ASG_BATCHES];
    size_t head, full; /* ring[head .. head + full) are filled, oldest first */
    bool stop;         /* the loader gave up: the reader ends at its next batch */
    struct tg_err err; /* the reader's, when the last batch's rc is not 0 */
};

static void pipe_init(struct asg_pipe *p, struct engine *e, struct store_conn *c)
{
    memset(p, 0, sizeof(*p));
    p->e = e;
    p->c = c;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (size_t i = 0; i < ASG_BATCHES; i++) {
        p->ring[i] = xcalloc(1, sizeof(*p->ring[i]));
        p->ring[i]->row = xmalloc(eng__load_batch * sizeof(*p->ring[i]->row));
        p->ring[i]->res = xmalloc(eng__load_batch * sizeof(*p->ring[i]->res));
    }
    tg_err_clear(&p->err);
}

static void pipe_destroy(struct asg_pipe *p)
{
    for (size_t i = 0; i < ASG_BATCHES; i++) {
        xfree(p->ring[i]->row);
        xfree(p->ring[i]->res);
        xfree(p->ring[i]->text);
        xfree(p->ring[i]);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* The loader: the oldest filled batch, waiting for one; NULL once the reader is done. */
static struct asg_batch *pipe_take(struct asg_pipe *p)
{
    struct asg_batch *bt;
    pthread_mutex_lock(&p->mu);
    while (p->full == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    bt = p->ring[p->head];
    pthread_mutex_unlock(&p->mu);
    return bt;
}

/* The loader is done with the oldest batch (from pipe_take); after the last one, or an
 * error, the reader is told to stop. */
static void pipe_give_back(struct asg_pipe *p, struct asg_batch *bt)
{
    pthread_mutex_lock(&p->mu);
    assert(bt == p->ring[p->head] && p->full > 0);
    p->head = (p->head + 1) % ASG_BATCHES;
    p->full--;
    if (bt->last || bt->rc)
        p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* The reader: an empty batch to fill, NULL when the loader stopped. */
static struct asg_batch *pipe_empty(struct asg_pipe *p)
{
    struct asg_batch *bt = NULL;
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->full == ASG_BATCHES)
        pthread_cond_wait(&p->cv, &p->mu);
    if (!p->stop)
        bt = p->ring[(p->head + p->full) % ASG_BATCHES];
    pthread_mutex_unlock(&p->mu);
    return bt;
}

static void pipe_fill(struct asg_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->full++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *asg_reader(void *arg)
{
    struct asg_pipe *p = arg;
    struct store_stmt *st = st_get(p->c, SQL_ENG_ASSIGNMENTS, &p->err);
    struct asg_batch *bt;
    int rc = st ? 0 : TG_EINTERNAL;

    while ((bt = pipe_empty(p)) != NULL) {
        bt->n = 0;
        bt->last = false;
        bt->rc = 0;
        while (rc == 0 && bt->n < eng__load_batch) {
            struct asg_row *r = &bt->row[bt->n];
            int64_t rid, tid;
            int got = st_step(st, &p->err);
            if (got != 1) {
                rc = got < 0 ? got : 0;
                bt->last = true;
                break;
            }
            rid = col_int(st, 0);
            tid = col_int(st, 1);
            if (rid <= 0 || rid >= (int64_t)UINT32_MAX || tid <= 0 || tid >= (int64_t)UINT32_MAX)
                continue;
            rc = eng__who_intern(p->e, col_null(st, 2) ? NULL : col_text(st, 2),
                                 col_null(st, 3) ? NULL : col_text(st, 3), &r->who, &p->err);
            if (rc) {
                bt->last = true;
                break;
            }
            r->rid = (uint32_t)rid;
            r->tid = (uint32_t)tid;
            r->at = col_int(st, 4);
            r->id = col_int(st, 5);
            bt->n++;
        }
        bt->rc = rc;
        if (rc)
            bt->last = true;
        pipe_fill(p);
        if (bt->last)
            break;
    }
    if (st)
        st_reset(st);
    return NULL;
}

/* The resources likewise: the reader interns the kinds (e->kinds, which the loader reads
 * only at indexes of rows it was handed) and copies the keys into the batch. */
static void *res_reader(void *arg)
{
    struct asg_pipe *p = arg;
    struct store_stmt *st = st_get(p->c, SQL_ENG_RESOURCES, &p->err);
    struct asg_batch *bt;
    int rc = st ? 0 : TG_EINTERNAL;

    while ((bt = pipe_empty(p)) != NULL) {
        bt->n = bt->ntext = 0;
        bt->last = false;
        while (rc == 0 && bt->n < eng__load_batch) {
            struct res_row *r = &bt->res[bt->n];
            int64_t id, parent;
            const char *key;
            int got = st_step(st, &p->err);
            if (got != 1) {
                rc = got < 0 ? got : 0;
                bt->last = true;
                break;
            }
            id = col_int(st, 0);
            parent = col_null(st, 3) ? 0 : col_int(st, 3);
            if ((rc = eng__id32(id, "resource", &p->err)) != 0 ||
                (parent && (rc = eng__id32(parent, "resource", &p->err)) != 0))
                break;
            r->kind = eng__kind_index(p->e, col_text(st, 2), &p->err);
            if (r->kind < 0) {
                rc = r->kind;
                break;
            }
            r->id = (uint32_t)id;
            r->parent = (uint32_t)parent;
            r->ws = col_int(st, 1);
            r->archived = col_int(st, 4) != 0;
            key = col_null(st, 5) ? NULL : col_text(st, 5);
            r->key = SIZE_MAX;
            if (key) {
                size_t len = strlen(key) + 1;
                if (bt->ntext + len > bt->captext) {
                    bt->captext = (bt->ntext + len) * 2;
                    bt->text = xrealloc(bt->text, bt->captext);
                }
                memcpy(bt->text + bt->ntext, key, len);
                r->key = bt->ntext;
                bt->ntext += len;
            }
            bt->n++;
        }
        bt->rc = rc;
        if (rc)
            bt->last = true;
        pipe_fill(p);
        if (bt->last)
            break;
    }
    if (st)
        st_reset(st);
    return NULL;
}

/* Now, in microseconds: wall (monotonic) and the process's CPU time. */
static void phase_mark(int64_t *wall, int64_t *cpu)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    *cpu = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    *wall = time_mono_us();
}

static int load_all(struct engine *e, struct store_conn *c, struct tg_err *err)
{
    struct eng_snap *b = e->b;
    struct store_stmt *st;
    int64_t nres = 0, nasg = 0, tw[4], u[4];
    int rc;

    phase_mark(&tw[0], &u[0]);
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

    {
        struct asg_pipe p;
        struct asg_batch *bt;
        pthread_t th;
        bool last;

        pipe_init(&p, e, c);
        if (pthread_create(&th, NULL, res_reader, &p) != 0) {
            pipe_destroy(&p);
            return tg_err_set(err, TG_EINTERNAL, "engine", "cannot start a thread");
        }
        do {
            bt = pipe_take(&p);
            for (size_t i = 0; i < bt->n; i++) {
                const struct res_row *r = &bt->res[i];
                eng__res_set_row(e, r->id, true, r->ws, r->kind, r->parent, r->archived,
                                 r->key == SIZE_MAX ? NULL : bt->text + r->key);
                progress(++nres, 0, false);
            }
            last = bt->last;
            if (last && (rc = bt->rc) != 0)
                *err = p.err;
            pipe_give_back(&p, bt);
        } while (!last);
        pthread_join(th, NULL);
        pipe_destroy(&p);
        if (rc < 0)
            return rc;
    }
    phase_mark(&tw[1], &u[1]);
    {
        struct members {
            uint32_t *v;
            size_t n, cap;
        } *mem = xcalloc(b->ntags + 1, sizeof(*mem));
        struct asg_pipe p;
        struct asg_rows v = {0};
        struct asg_batch *bt;
        uint32_t cur = 0;
        pthread_t th;
        bool last;

        pipe_init(&p, e, c);
        if (pthread_create(&th, NULL, asg_reader, &p) != 0) {
            pipe_destroy(&p);
            xfree(mem);
            return tg_err_set(err, TG_EINTERNAL, "engine", "cannot start a thread");
        }
        rc = 0;
        while ((bt = pipe_take(&p)) != NULL) {
            for (size_t i = 0; i <= bt->n; i++) {
                const struct asg_row *r = i < bt->n ? &bt->row[i] : NULL;
                if (r == NULL && !bt->last)
                    break;
                if (r == NULL || r->rid != cur) {
                    if (cur && v.n) {
                        struct eres *er = eng__w_res(e, cur);
                        er->tags = eng__rows_block(&v);
                        er->ntags = (uint32_t)v.n;
                        b->nasg += v.n;
                    }
                    v.n = 0;
                    if (r == NULL)
                        break;
                    cur = r->rid;
                }
                eng__rows_append(e, &v, r->tid, r->who, r->at, r->id);
                progress(nres, ++nasg, false);
                if (eng__tag_at(b, r->tid)) {
                    /* Rows come by resource, so each tag's members arrive ascending:
                     * gathered here and added in one call per tag, not one bitmap insert
                     * per row. */
                    struct members *m = &mem[r->tid];
                    if (m->n == m->cap) {
                        m->cap = m->cap ? m->cap * 2 : 16;
                        m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
                    }
                    m->v[m->n++] = r->rid;
                }
            }
            last = bt->last;
            if (last && (rc = bt->rc) != 0)
                *err = p.err;
            pipe_give_back(&p, bt);
            if (last)
                break;
        }
        pthread_join(th, NULL);
        pipe_destroy(&p);
        eng__rows_free(&v);
        for (uint32_t id = 0; id < b->ntags; id++) {
            if (mem[id].n)
                roaring_bitmap_add_many(b->tags[id]->direct, mem[id].n, mem[id].v);
            xfree(mem[id].v);
        }
        xfree(mem);
    }
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
    phase_mark(&tw[2], &u[2]);
    eff_load(e);
    phase_mark(&tw[3], &u[3]);
    eng__recompute_subtrees(e);
    eng__rebuild_dict(e);
    eng__kidx_rebuild(e);
    {
        /* Where a slow start went (bench/README.md, "start"): wall and process CPU seconds,
         * which differ where the phase runs on two threads or waits for the machine. */
        int64_t tn, un;
        phase_mark(&tn, &un);
        log_info("engine: loaded tags and resources in %.2f s (CPU %.2f s), assignments %.2f s "
                 "(%.2f s), effective bitmaps %.2f s (%.2f s), the rest %.2f s (%.2f s)",
                 (double)(tw[1] - tw[0]) / 1e6, (double)(u[1] - u[0]) / 1e6,
                 (double)(tw[2] - tw[1]) / 1e6, (double)(u[2] - u[1]) / 1e6,
                 (double)(tw[3] - tw[2]) / 1e6, (double)(u[3] - u[2]) / 1e6,
                 (double)(tn - tw[3]) / 1e6, (double)(un - u[3]) / 1e6);
    }
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
    store_conn_bulk(c, true);
    rc = store_begin_read(c, err);
    if (rc == 0) {
        rc = load_all(e, c, err);
        store_rollback(c);
    }
    store_conn_bulk(c, false);
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
