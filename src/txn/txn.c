/* txn/txn.c: the write pipeline (txn/txn.h): the fetch step, the writer with its batches,
 * savepoints and retries, the publisher, and the tailer.
 *
 * Shape: the fetch step and the writer each drain a queue; the writer takes up to TXN_BATCH
 * jobs into one transaction (a savepoint per job, so a failing job rolls back alone) and
 * commits once (group commit). It hands the batch to the publisher and starts the next one;
 * the publisher applies what was committed to the engine, waits for durability and hands each
 * job back (ops->done). The store's own upkeep around the writer (SQLite's checkpoints and
 * syncs) runs on the store's threads; the writer only gives it its turn between batches
 * (store_writer_idle).
 *
 * Several instances (a shared store, PostgreSQL): T.seen_rev is the newest revision this
 * instance knows to be committed. The publisher raises it after each commit; the tailer raises
 * it for other instances' commits (woken by LISTEN/NOTIFY, polling every tail_poll_ms as the
 * fallback; revisions are commit-ordered, so the newest one covers all before it). Readers
 * (http/) park a read that names a newer revision until it is seen.
 *
 * Expiry: an assignment may expire (core/lifecycle.c); no read at time t may see one that
 * expired at t, though its row goes only when the writer removes it. Three values hold that:
 *   T.w_due     the writer's: no current assignment expires before it (INT64_MIN: sweep now);
 *   T.due_mirror  w_due, for the publisher;
 *   T.pub_due   the readers': no assignment that a read can see (the engine's newest snapshot,
 *               the store's last commit) expires before it.
 * A job that adds an expiring assignment lowers all three before its commit. When w_due is
 * due the writer begins its next batch (at once if idle: it waits on its queue only until
 * then) with a sweep job that removes what is due and reads the next expiry; the publisher
 * raises pub_due once that batch is in the engine, to the earliest expiry left at the end of
 * the batch or added since. A read that finds pub_due passed (txn_expiry_pending) parks until
 * a sweep is published: only reads in the moment between an expiry and its sweep wait, for
 * about one batch; every other read pays one atomic load and a clock read. Permanent
 * assignments cost the writer nothing; a sweep costs one indexed query for the due rows, one
 * removal each (as a client's) and one MIN over the partial index.
 *
 * State: one static struct T. The queues are guarded by their mutexes; the connections belong
 * to their threads (writer_conn to the writer, pub_conn to the publisher, fetch_conn to the
 * fetch step, tail_conn to the tailer); `engine` is set at txn_open and freed at txn_stop,
 * after every thread that uses it has stopped. */
#include "txn/txn.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/webhooks.h"
#include "engine/engine.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/notify.h"
#include "util/progress.h"
#include "util/timeu.h"

/* A queue of jobs: empty exactly when both ends are NULL, and its last job ends the chain
 * (tail->next == NULL). Guarded by mu; `stop` asks its thread to return once it is empty. */
struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct txn_job *head, *tail;
    bool stop;
    atomic_llong depth; /* jobs in the queue (metrics; read without the lock) */
};

/* Upper bounds of the batch size histogram (/metrics); the last is TXN_BATCH. */
static const int batch_le[TXN_NBATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, TXN_BATCH};

static struct {
    const struct txn_ops *ops;
    struct store *store;
    int tail_poll_ms;
    struct engine *engine;
    bool opened, started;
    struct queue fetch, write, publish;
    pthread_t fetcher, writer, publisher, tailer;
    struct store_conn *writer_conn, *pub_conn, *tail_conn;
    struct store_conn *fetch_conn; /* opened on first use */
    bool tailing;
    atomic_bool tail_stop;
    atomic_llong seen_rev;
    atomic_ullong commits, rollbacks, failures;
    atomic_ullong batch_n[TXN_NBATCH_BUCKETS], batch_sum; /* batches by size, and their jobs */
    int64_t w_due;           /* expiry (above): the writer's */
    atomic_llong due_mirror; /* ... w_due for the publisher */
    atomic_llong pub_due;    /* ... the readers' */
    /* Tests only (TAGD_TEST_SWEEP_DELAY_MS): sweeps come this late, so that a test sees reads
     * wait for them instead of racing a sweep that is a millisecond away. */
    int64_t sweep_delay_ms;
} T;

/* The pipeline's own job: a sweep of expired assignments at the head of a batch. `due_end`
 * is T.w_due once the batch has run, for the publisher. */
struct sweep_job {
    struct txn_job j; /* first: the writer and publisher see only this */
    struct arena a;
    int64_t due_end;
    bool failed;
};

/* Assignments one sweep removes at most; the rest go in the next batch, at once. */
#define SWEEP_MAX 1000

static void atomic_min64(atomic_llong *v, int64_t x)
{
    long long cur = atomic_load(v);
    while (x < cur && !atomic_compare_exchange_weak(v, &cur, x)) {
    }
}

/* A kept job added an assignment that expires at `at`: before its commit, nobody may believe
 * that nothing is due before then. Writer thread. */
static void due_lower(int64_t at)
{
    if (at >= T.w_due)
        return;
    T.w_due = at;
    atomic_min64(&T.due_mirror, at);
    atomic_min64(&T.pub_due, at);
}

static void due_set(int64_t at)
{
    T.w_due = at;
    atomic_store(&T.due_mirror, at);
}

bool txn_expiry_pending(void)
{
    if (!T.started)
        return false;
    return atomic_load(&T.pub_due) <= time_now_ms();
}

static void queue_init(struct queue *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = q->tail = NULL;
    q->stop = false;
}

/* Appends the jobs first..last (linked) and wakes the queue's thread. */
static void queue_append(struct queue *q, struct txn_job *first, struct txn_job *last)
{
    long long n = 1;

    assert(first != NULL && last != NULL && last->next == NULL);
    for (struct txn_job *j = first; j != last; j = j->next)
        n++;
    pthread_mutex_lock(&q->mu);
    atomic_fetch_add(&q->depth, n);
    assert((q->head == NULL) == (q->tail == NULL));
    if (q->tail)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Waits for work; takes up to `max` jobs (0: all) as a chain, or returns NULL once asked to
 * stop with nothing left. */
static struct txn_job *queue_take(struct queue *q, int max)
{
    struct txn_job *first, *last;
    int n = 1;

    pthread_mutex_lock(&q->mu);
    while (q->head == NULL && !q->stop)
        pthread_cond_wait(&q->cv, &q->mu);
    first = q->head;
    if (first == NULL) {
        pthread_mutex_unlock(&q->mu);
        return NULL;
    }
    for (last = first; last->next && (max == 0 || n < max); last = last->next)
        n++;
    assert(max == 0 || n <= max);
    q->head = last->next;
    if (q->head == NULL)
        q->tail = NULL;
    last->next = NULL;
    atomic_fetch_sub(&q->depth, n);
    pthread_mutex_unlock(&q->mu);
    if (q == &T.write) {
        int b = 0;
        while (n > batch_le[b])
            b++;
        atomic_fetch_add(&T.batch_n[b], 1);
        atomic_fetch_add(&T.batch_sum, (unsigned long long)n);
    }
    return first;
}

/* Asks the queue's thread to stop once it has nothing left, and waits for it. */
static void queue_stop(struct queue *q, pthread_t tid)
{
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(tid, NULL);
}

static void queue_release(struct queue *q)
{
    assert(q->head == NULL && q->tail == NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

void txn_note_rev(int64_t rev)
{
    int64_t cur = atomic_load(&T.seen_rev);
    while (rev > cur && !atomic_compare_exchange_weak(&T.seen_rev, &cur, rev)) {
    }
    /* A newer revision is committed (this instance's, or another's the tailer saw): webhooks
     * have something to deliver. */
    if (rev > cur)
        wh_runner_wake();
}

int64_t txn_seen_rev(void) { return atomic_load(&T.seen_rev); }
struct engine *txn_engine(void) { return T.engine; }

void txn_stats_get(struct txn_stats *out)
{
    memset(out, 0, sizeof(*out));
    store_stats_get(&out->store);
    out->commits = atomic_load(&T.commits);
    out->rollbacks = atomic_load(&T.rollbacks);
    out->failures = atomic_load(&T.failures);
    core_assign_bulk_stats(&out->import_rows_bulk, &out->import_rows_single);
    out->import_resources_bulk = core_resource_bulk_stats();
    if (T.engine) {
        const struct eng_snap *snap = engine_acquire(T.engine);
        struct eng_stats es;
        eng_snap_stats(snap, &es);
        engine_release(T.engine, snap);
        out->engine = true;
        engine_catch_up_stats(T.engine, &out->engine_applied, &out->engine_reread,
                              &out->engine_ranged);
        out->engine_rev = es.rev;
        out->engine_tags = es.tags;
        out->engine_resources = es.resources;
        out->engine_assignments = es.assignments;
        out->engine_bitmap_bytes = es.bitmap_bytes;
    }
    out->fetch_queue = atomic_load(&T.fetch.depth);
    out->write_queue = atomic_load(&T.write.depth);
    out->publish_queue = atomic_load(&T.publish.depth);
    for (int b = 0; b < TXN_NBATCH_BUCKETS; b++) {
        out->batch_le[b] = batch_le[b];
        out->batches[b] = atomic_load(&T.batch_n[b]);
    }
    out->batch_jobs = atomic_load(&T.batch_sum);
    out->wal_bytes = T.store ? store_wal_bytes(T.store) : -1;
}

void txn_submit(struct txn_job *j, bool prepare)
{
    assert(T.started && j->stage == TXN_NEW && j->a != NULL && j->next == NULL);
    assert(!j->kept && j->revision == 0);
    if (prepare && T.ops->prepare) {
        j->stage = TXN_FETCHING;
        queue_append(&T.fetch, j, j);
    } else {
        j->stage = TXN_WRITING;
        queue_append(&T.write, j, j);
    }
}

/* ---- the fetch step ---- */

/* Runs ops->prepare of each job, in a read transaction of its own, then hands the job to the
 * writer. A store it cannot reach leaves prepare undone: the job then does that part itself
 * on the writer. */
static void *fetcher_main(void *arg)
{
    struct txn_job *j;

    (void)arg;
    while ((j = queue_take(&T.fetch, 1)) != NULL) {
        struct tg_err err;

        assert(j->stage == TXN_FETCHING);
        tg_err_clear(&err);
        if (T.fetch_conn == NULL && (T.fetch_conn = store_conn_open(T.store, false, &err)) == NULL)
            log_error("store: %s", err.msg);
        if (T.fetch_conn && store_begin_read(T.fetch_conn, &err) == 0) {
            struct core_ctx cx;
            core_ctx_init(&cx, T.fetch_conn, j->a, false);
            cx.engine = T.engine;
            T.ops->prepare(j, &cx);
            core_ctx_done(&cx);
            store_rollback(T.fetch_conn);
            /* The answer is the writer's to give: drop whatever prepare wrote. */
            T.ops->reset(j);
        }
        j->stage = TXN_WRITING;
        queue_append(&T.write, j, j);
    }
    core_thread_done(); /* its cached token checks */
    return NULL;
}

/* ---- the writer ---- */

/* The sweep job's run: removes what is due (as "system") and learns the next expiry. On a
 * failure it is undone and tried again in a second; reads wait meanwhile (up to their
 * deadline, then a 503), because what they would see is wrong. */
static enum txn_outcome sweep_run(struct txn_job *j, struct core_ctx *cx)
{
    struct sweep_job *s = (struct sweep_job *)j;
    struct tg_err err;
    int64_t next;
    int removed;

    tg_err_clear(&err);
    if (core_expiry_sweep(cx, cx->now, SWEEP_MAX, &removed, &err) != 0 ||
        core_expiry_next(cx, &next, &err) != 0) {
        log_error("expiry: cannot remove expired assignments: %s", err.msg);
        s->failed = true;
        due_set(cx->now + 1000);
        return TXN_UNDO;
    }
    if (removed)
        log_info("expiry: removed %d expired assignment%s", removed, removed == 1 ? "" : "s");
    s->failed = false;
    due_set(next);
    return TXN_KEEP;
}

static void job_reset(struct txn_job *j)
{
    if (!j->sweep)
        T.ops->reset(j);
}

static void job_fail(struct txn_job *j, int code, const struct tg_err *err)
{
    if (j->sweep) {
        ((struct sweep_job *)j)->failed = true;
        log_error("expiry: sweep failed: %s", err->msg);
        due_set(time_now_ms() + 1000); /* again in a second, not in a spin while the store is down */
        return;
    }
    T.ops->fail(j, code, err);
}

/* Waits for jobs or for the next expiry, whichever comes first. Returns the batch (NULL:
 * none) and in *due whether a sweep is due; NULL and false once asked to stop. */
static struct txn_job *writer_take(bool *due)
{
    struct queue *q = &T.write;
    int64_t at;
    bool jobs;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        /* The tailer may lower the mirror (another instance's expiring add). */
        int64_t m = atomic_load(&T.due_mirror);
        if (m < T.w_due)
            T.w_due = m;
        at = T.w_due;
        if (at != INT64_MIN && at != INT64_MAX)
            at += T.sweep_delay_ms;
        if (!(q->head == NULL && !q->stop && time_now_ms() < at))
            break;
        if (at == INT64_MAX) {
            pthread_cond_wait(&q->cv, &q->mu);
        } else {
            struct timespec ts = {.tv_sec = (time_t)(at / 1000),
                                  .tv_nsec = (long)(at % 1000) * 1000000L};
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
        }
    }
    jobs = q->head != NULL;
    *due = time_now_ms() >= at && !(q->stop && !jobs);
    pthread_mutex_unlock(&q->mu);
    /* Only this thread takes from the queue: it still holds what it saw. */
    return jobs ? queue_take(q, TXN_BATCH) : NULL;
}

/* Runs one job in its savepoint. Returns true when its answer is an error already (it was
 * undone alone, or could not run), false when what it wrote is kept for the commit. */
static bool writer_run_one(struct txn_job *j)
{
    struct core_ctx cx;
    struct tg_err err;

    /* A job reaches the writer unanswered and unkept (the fetch step and a retry reset it). */
    assert(j->stage == TXN_WRITING && !j->kept && j->revision == 0);
    tg_err_clear(&err);
    if (store_savepoint(T.writer_conn, &err) != 0) {
        job_fail(j, TG_EBUSY, &err);
        return true;
    }
    core_ctx_init(&cx, T.writer_conn, j->a, true);
    cx.engine = T.engine;
    if (j->sweep ? sweep_run(j, &cx) == TXN_UNDO : T.ops->run(j, &cx) == TXN_UNDO) {
        /* All or nothing: whatever the job wrote is undone. */
        store_savepoint_rollback(T.writer_conn);
        atomic_fetch_add(&T.rollbacks, 1);
        if (cx.after_undo && store_savepoint(T.writer_conn, &err) == 0) {
            if (cx.after_undo(&cx, cx.after_undo_arg) != 0 ||
                store_savepoint_release(T.writer_conn, &err) != 0)
                store_savepoint_rollback(T.writer_conn);
        }
        return true;
    }
    if (store_savepoint_release(T.writer_conn, &err) != 0) {
        store_savepoint_rollback(T.writer_conn);
        job_fail(j, TG_EINTERNAL, &err);
        return true;
    }
    j->kept = true;
    j->revision = cx.rev ? cx.rev : core_current_rev(&cx);
    if (cx.expiry_added)
        due_lower(cx.expiry_added);
    return false;
}

/* Forgets a job's run, for a retry or a failed commit. */
static void writer_reset(struct txn_job *j)
{
    job_reset(j);
    j->kept = false;
    j->revision = 0;
}

static void *writer_main(void *arg)
{
    struct txn_job *batch;

    (void)arg;
    for (;;) {
        bool undone[TXN_BATCH + 1]; /* the jobs and a sweep */
        struct txn_job *j, *last = NULL;
        struct tg_err err;
        bool due;
        int i;

        batch = writer_take(&due);
        if (batch == NULL && !due)
            break;
        if (due) {
            struct sweep_job *s = xcalloc(1, sizeof(*s));
            arena_init(&s->a);
            s->j.a = &s->a;
            s->j.sweep = true;
            s->j.stage = TXN_WRITING;
            s->j.next = batch; /* first: the batch's jobs see nothing that is due */
            batch = &s->j;
        }
        tg_err_clear(&err);
        if (store_begin_write(T.writer_conn, &err) != 0) {
            for (j = batch; j; j = j->next)
                job_fail(j, TG_EBUSY, &err);
        } else {
            for (j = batch, i = 0; j; j = j->next, i++)
                undone[i] = writer_run_one(j);
            /* A serialization failure or deadlock (PostgreSQL) spoils the whole transaction:
             * run the batch again from the start, a few times. */
            for (int attempt = 0; attempt < 3 && store_retry_pending(T.writer_conn); attempt++) {
                store_rollback(T.writer_conn);
                for (j = batch, i = 0; j; j = j->next, i++) {
                    writer_reset(j);
                    undone[i] = false;
                }
                tg_err_clear(&err);
                if (store_begin_write(T.writer_conn, &err) != 0)
                    break;
                for (j = batch, i = 0; j; j = j->next, i++)
                    undone[i] = writer_run_one(j);
            }
            if (store_commit(T.writer_conn, &err) != 0) {
                atomic_fetch_add(&T.failures, 1);
                log_error("commit failed: %s", err.msg);
                for (j = batch, i = 0; j; j = j->next, i++) {
                    if (!undone[i]) {
                        writer_reset(j);
                        job_fail(j, err.code == TG_EBUSY ? TG_EBUSY : TG_EINTERNAL, &err);
                    }
                }
            } else {
                int64_t top = 0;
                atomic_fetch_add(&T.commits, 1);
                for (j = batch; j; j = j->next)
                    if (j->kept && j->revision > top)
                        top = j->revision;
                /* The next batches may wait for the engine to apply this one (core/resources.c,
                 * an assignment record's "inherited"). */
                if (top)
                    core_writer_committed(top);
            }
        }
        if (batch->sweep)
            ((struct sweep_job *)batch)->due_end = T.w_due;
        /* The publisher applies the commit to the engine and answers, while this thread goes
         * on with the next batch. */
        for (j = batch; j; j = j->next) {
            assert(j->stage == TXN_WRITING && (j->kept || j->revision == 0));
            j->stage = TXN_PUBLISHING;
            last = j;
        }
        queue_append(&T.publish, batch, last);
        store_writer_idle(T.writer_conn);
    }
    core_thread_done();
    return NULL;
}

/* ---- the publisher ---- */

/* A sweep's batch is in the engine: reads need not wait for what it removed. The readers'
 * value rises to what was left at the end of its batch, lowered by what later jobs added
 * (the mirror; read again after the store, in case a job lowered it in between). */
static void sweep_published(struct sweep_job *s)
{
    if (!s->failed && s->j.kept) {
        int64_t v = s->due_end, m = atomic_load(&T.due_mirror);
        if (m < v)
            v = m;
        atomic_store(&T.pub_due, v);
        m = atomic_load(&T.due_mirror);
        if (m < v)
            atomic_min64(&T.pub_due, m);
    }
    arena_release(&s->a);
    xfree(s);
}

/* The second stage of a write: every job it takes was committed (or failed) by the writer.
 * One engine catch-up covers all of them, whatever number of batches are waiting; it reads
 * inside one read transaction of its own connection, so the changes and the rows it reloads
 * come from the same snapshot although the writer commits meanwhile. Only then do the answers
 * leave: a client that saw its write reads it back, from the store or the engine. Write
 * handlers must not consult the engine: it may lag the writer's store by the batches in here. */
static void *publisher_main(void *arg)
{
    struct txn_job *batch;

    (void)arg;
    while ((batch = queue_take(&T.publish, 0)) != NULL) {
        struct txn_job *j, *next;
        struct tg_err err;
        bool wrote = false;

        for (j = batch; j && !wrote; j = j->next)
            wrote = j->revision > 0;
        tg_err_clear(&err);
        /* With deferred syncs no answer leaves before the commits its read saw are durable:
         * even one that wrote nothing may show what an earlier batch wrote. A batch that
         * wrote catches up the engine while its commits are flushed: the read begins early,
         * and the catch-up waits for the flush before it publishes (and so do the answers,
         * whatever the catch-up's outcome). */
        if (!wrote) {
            store_wait_all_durable(T.pub_conn);
        } else if (store_begin_read_early(T.pub_conn, &err) == 0) {
            engine_catch_up(T.engine, T.pub_conn, &err);
            store_wait_durable(T.pub_conn);
            store_rollback(T.pub_conn);
        } else {
            log_error("engine: cannot read the changes: %s", err.msg);
            /* The answers leave all the same (the batch committed; the next catch-up brings
             * the engine along), but not before every commit is durable: they went out
             * unflushed when the read could not begin (test_wait_durable_after_a_failed_read
             * in tests/unit/test_powerloss.c). */
            store_wait_durable(T.pub_conn);
        }
        for (j = batch; j; j = next) {
            next = j->next; /* done hands j back: it may be freed at once */
            assert(j->stage == TXN_PUBLISHING);
            txn_note_rev(j->revision);
            if (j->sweep) {
                sweep_published((struct sweep_job *)j);
                continue;
            }
            j->next = NULL;
            j->stage = TXN_DONE;
            T.ops->done(j);
        }
    }
    return NULL;
}

/* ---- the tailer ---- */

/* The earliest expiry in the tailer's snapshot lowers the readers' and the writer's (which
 * takes the mirror in writer_take), and wakes the writer when it is earlier. */
static void tail_due(struct core_ctx *cx)
{
    struct tg_err err;
    int64_t next;

    tg_err_clear(&err);
    if (core_expiry_next(cx, &next, &err) != 0 || next >= atomic_load(&T.due_mirror))
        return;
    atomic_min64(&T.pub_due, next);
    atomic_min64(&T.due_mirror, next);
    pthread_mutex_lock(&T.write.mu);
    pthread_cond_signal(&T.write.cv);
    pthread_mutex_unlock(&T.write.mu);
}

/* Follows the revisions other instances commit (see the header) and applies them to the engine,
 * reading `changes` from its last applied revision on.
 *
 * It compares the store's revision with the last one it handled itself, never with
 * T.seen_rev: a read with X-Tagd-Min-Revision, or this instance's own commit, raises that
 * from the store without touching the engine or the auth cache, and taking it as "handled"
 * left the engine (and a token another instance revoked) behind until the next commit. */
static void *tailer_main(void *arg)
{
    struct arena a;
    int64_t tailed = atomic_load(&T.seen_rev);
    (void)arg;
    arena_init(&a);
    if (T.engine) {
        const struct eng_snap *s = engine_acquire(T.engine);
        tailed = eng_snap_rev(s);
        engine_release(T.engine, s);
    }
    while (!atomic_load(&T.tail_stop)) {
        struct tg_err err;
        struct core_ctx cx;
        int64_t rev;
        store_wait_notify(T.tail_conn, T.tail_poll_ms);
        if (atomic_load(&T.tail_stop))
            break;
        tg_err_clear(&err);
        if (store_begin_read(T.tail_conn, &err) != 0)
            continue;
        core_ctx_init(&cx, T.tail_conn, &a, false);
        cx.engine = T.engine;
        rev = core_current_rev(&cx);
        /* Another instance's commits reach this engine before a read may ask for them. The
         * catch-up reads in the snapshot the revision came from: outside it each statement
         * saw newer commits than the change list it applied, so a resource's rows could name
         * a tag the engine did not know yet, and that tag's bitmap then missed the resource
         * for good (a query found nothing where the resource's tags showed it). */
        if (rev > tailed) {
            int rc;
            /* Other instances' expiring adds: known here before their snapshot is published,
             * so that no read of it misses their moment; this instance sweeps them too. */
            tail_due(&cx);
            rc = T.engine ? engine_catch_up(T.engine, T.tail_conn, &err) : 0;
            store_rollback(T.tail_conn);
            if (rc != 0)
                continue;
            /* Another instance may have revoked a token: cached checks start over, and
             * reads that name a revision up to this one may use them again. */
            store_auth_epoch_bump();
            store_auth_rev_set(rev);
            tailed = rev;
        } else {
            store_rollback(T.tail_conn);
        }
        txn_note_rev(rev);
        arena_release(&a);
        arena_init(&a);
    }
    arena_release(&a);
    return NULL;
}

/* ---- reads ---- */

struct store_conn *txn_reader_open(struct tg_err *err)
{
    assert(T.opened);
    return store_conn_open(T.store, false, err);
}

void txn_reader_close(struct store_conn *reader) { store_conn_close(reader); }
void txn_wake_tailer(void) { store_wake_tailer(); }
const char *txn_store_describe(void) { return store_describe(T.store); }

void txn_read_begin(struct core_ctx *cx, struct store_conn *reader, struct arena *a)
{
    store_begin_read_lazy(reader);
    core_ctx_init(cx, reader, a, false);
    cx->engine = T.engine;
}

int64_t txn_read_rev(struct core_ctx *cx)
{
    int64_t snap, rev = cx->min_rev;

    /* Answered from memory alone (or from nothing, like /healthz): the engine snapshot's
     * revision is the one the read saw, and asking the store would cost a transaction. */
    if (!store_read_begun(cx->conn) && core_snap_rev(cx, &snap))
        return snap;
    snap = core_current_rev(cx);
    if (cx->engine == NULL)
        return snap;
    {
        const struct eng_snap *s = engine_acquire(cx->engine);
        if (eng_snap_rev(s) > rev)
            rev = eng_snap_rev(s);
        engine_release(cx->engine, s);
    }
    return rev < snap ? rev : snap;
}

void txn_read_end(struct core_ctx *cx)
{
    core_ctx_done(cx);
    store_rollback(cx->conn);
}

/* ---- start and stop ---- */

/* ---- progress of the engine's load (util/progress.h): a log line every second or tenth ---- */

struct load_totals {
    int64_t resources, assignments; /* what the store holds: the whole of the load */
    int64_t got_res, got_asg;       /* what the engine read so far */
    struct progress *p;
};

/* The totals cost one count per table, a small part of reading every row afterwards. */
static void load_totals(struct load_totals *lt)
{
    struct arena a;
    struct core_ctx cx;
    struct tg_err rerr;
    int64_t tags = 0;

    memset(lt, 0, sizeof(*lt));
    arena_init(&a);
    tg_err_clear(&rerr);
    if (store_begin_read(T.pub_conn, &rerr) == 0) {
        core_ctx_init(&cx, T.pub_conn, &a, false);
        core_counts(&cx, &tags, &lt->resources, &lt->assignments);
        store_rollback(T.pub_conn);
    }
    arena_release(&a);
}

/* systemctl status shows where the load is. */
static void load_status(const char *line)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "STATUS=%s", line);
    notify_send(msg);
}

static void on_load_progress(void *arg, int64_t resources, int64_t assignments)
{
    struct load_totals *lt = arg;
    char detail[96];

    lt->got_res = resources;
    lt->got_asg = assignments;
    snprintf(detail, sizeof(detail), "%lld resources, %lld assignments", (long long)resources,
             (long long)assignments);
    progress_update(lt->p, resources + assignments, detail);
}

int txn_open(struct store *s, const struct txn_ops *ops, int tail_poll_ms, struct tg_err *err)
{
    assert(!T.opened && ops->run && ops->reset && ops->fail && ops->done);
    memset(&T, 0, sizeof(T));
    T.opened = true;
    /* Until the next expiry is read below: sweep at once, and reads wait for it. Whatever
     * expired while the server was down goes in the writer's first batch. */
    T.w_due = INT64_MIN;
    atomic_store(&T.due_mirror, INT64_MIN);
    atomic_store(&T.pub_due, INT64_MIN);
    {
        const char *delay = getenv("TAGD_TEST_SWEEP_DELAY_MS");
        T.sweep_delay_ms = delay ? strtoll(delay, NULL, 10) : 0;
        if (T.sweep_delay_ms < 0 || T.sweep_delay_ms > 60000)
            T.sweep_delay_ms = 0;
    }
    T.ops = ops;
    T.store = s;
    T.tail_poll_ms = tail_poll_ms;
    queue_init(&T.fetch);
    queue_init(&T.write);
    queue_init(&T.publish);
    T.writer_conn = store_writer_open(s, err);
    T.pub_conn = T.writer_conn ? store_conn_open(s, false, err) : NULL;
    if (T.pub_conn == NULL) {
        log_error("store: %s", err->msg);
        return err->code ? err->code : TG_EINTERNAL;
    }
    {
        struct progress p;
        struct load_totals lt;
        int rc;

        load_totals(&lt);
        progress_init(&p, "loading", "rows", lt.resources + lt.assignments, PROGRESS_LOG, NULL);
        p.on_line = load_status;
        lt.p = &p;
        engine_set_progress(on_load_progress, &lt);
        /* Through the publisher's reading connection: the scan would otherwise fill the
         * writer's large page cache with pages no write needs. */
        rc = engine_open(T.pub_conn, &T.engine, err);
        engine_set_progress(NULL, NULL);
        if (rc != 0) {
            log_error("engine: %s", err->msg);
            return rc;
        }
        {
            char detail[96];
            snprintf(detail, sizeof(detail), "%lld resources, %lld assignments",
                     (long long)lt.got_res, (long long)lt.got_asg);
            p.what = "engine loaded";
            p.on_line = NULL;
            progress_end(&p, lt.got_res + lt.got_asg, detail);
        }
        /* Alone on its SQLite file, the writer reads a resource's current tags from the
         * engine when nothing changed them since (core.h): a third of its time per add. */
        core_writer_engine(!store_is_shared(s));
    }
    {
        struct arena a;
        struct core_ctx cx;
        struct tg_err rerr;
        arena_init(&a);
        tg_err_clear(&rerr);
        if (store_begin_read(T.pub_conn, &rerr) == 0) {
            int64_t next;
            core_ctx_init(&cx, T.pub_conn, &a, false);
            txn_note_rev(core_current_rev(&cx));
            /* From the same snapshot as the engine's load (nothing writes yet). Unread, the
             * writer sweeps first and reads wait for it. */
            if (core_expiry_next(&cx, &next, &rerr) == 0) {
                T.w_due = next;
                atomic_store(&T.due_mirror, next);
                atomic_store(&T.pub_due, next);
            }
            store_rollback(T.pub_conn);
        }
        arena_release(&a);
    }
    return 0;
}

int txn_start(struct tg_err *err)
{
    assert(T.opened && !T.started && T.engine != NULL);
    if (store_is_shared(T.store)) {
        /* Nothing is cached yet: the tailer takes it on from what the engine loaded. */
        const struct eng_snap *snap = engine_acquire(T.engine);
        store_auth_rev_set(eng_snap_rev(snap));
        engine_release(T.engine, snap);
        T.tail_conn = store_conn_open(T.store, false, err);
        if (T.tail_conn == NULL) {
            log_error("store: %s", err->msg);
            return err->code ? err->code : TG_EINTERNAL;
        }
        T.tailing = pthread_create(&T.tailer, NULL, tailer_main, NULL) == 0;
        if (T.tailing)
            pthread_setname_np(T.tailer, "tagd-tail");
    }
    /* Each thread is named for `top -H` and /proc/PID/task/TID/comm: an operator sees which
     * role spends the CPU. */
    pthread_create(&T.publisher, NULL, publisher_main, NULL);
    pthread_setname_np(T.publisher, "tagd-publish");
    pthread_create(&T.writer, NULL, writer_main, NULL);
    pthread_setname_np(T.writer, "tagd-writer");
    pthread_create(&T.fetcher, NULL, fetcher_main, NULL);
    pthread_setname_np(T.fetcher, "tagd-fetch");
    T.started = true;
    /* Webhooks, on a thread and a connection of their own (core/webhook_run.c): their POSTs
     * never hold up a stage of the pipeline. */
    if (wh_runner_start(T.store, store_is_shared(T.store), err) != 0) {
        log_error("webhooks: %s", err->msg);
        return err->code ? err->code : TG_EINTERNAL;
    }
    return 0;
}

void txn_stop(void)
{
    if (!T.opened)
        return;
    wh_runner_stop();
    if (T.started) {
        /* Each stage drains into the next: the fetch step into the writer, the writer into
         * the publisher. */
        queue_stop(&T.fetch, T.fetcher);
        queue_stop(&T.write, T.writer);
        queue_stop(&T.publish, T.publisher);
        T.started = false;
    }
    atomic_store(&T.tail_stop, true);
    store_wake_tailer();
    if (T.tailing)
        pthread_join(T.tailer, NULL);
    T.tailing = false;
    store_conn_close(T.tail_conn);
    store_conn_close(T.fetch_conn);
    core_writer_engine(false);
    engine_free(T.engine);
    T.engine = NULL;
    /* Closing the writer stops the store's threads around it. The publisher's connection,
     * read-only, closes after it: SQLite's last connection to close copies the WAL and deletes
     * it when it may write, and the WAL (allocated at start to its full length) is to stay
     * for the next start, as test_reinit_store_starts_fresh_and_keeps_the_old_file expects. */
    store_conn_close(T.writer_conn);
    store_conn_close(T.pub_conn);
    T.tail_conn = T.fetch_conn = T.pub_conn = T.writer_conn = NULL;
    queue_release(&T.fetch);
    queue_release(&T.write);
    queue_release(&T.publish);
    T.opened = false;
}
