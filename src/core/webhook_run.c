/* core/webhook_run.c: the delivery thread of webhooks (core/webhooks.h).
 *
 * One thread per instance, never the writer or an event loop: POSTs may take up to
 * --webhook-timeout each. It works in rounds: it reads the active webhooks, and for each one
 * it holds the lease of (or can take), reads the organization's change log after the
 * webhook's cursor, keeps the records its filters pass, and POSTs them as one batch. Only a 2xx
 * moves the cursor, in one transaction with the attempt's record; before the first POST of a
 * batch its end is written down (pend_rev, pend_seq), durably, so that every retry, by this
 * instance after a failure or by any after a crash, sends exactly the same batch: a receiver
 * sees duplicates only as whole repeated batches, and never a record out of order. A round
 * does all its webhooks' writes in two transactions, one before its POSTs and one after
 * (see "the store"); the change log is read outside both.
 *
 * A round begins when a revision is committed (wh_runner_wake, from the pipeline's
 * txn_note_rev: this instance's commits and, through the tailer, other instances'), when a
 * retry is due or a lease must be renewed, and at least every second on a shared store (a
 * webhook another instance gave up). Between rounds the thread sleeps on its condition
 * variable: no busy polling.
 *
 * Several instances (PostgreSQL): a webhook is delivered by the instance that holds its lease
 * (lease_owner, lease_until: taken and renewed with a conditional UPDATE). A lease lasts
 * wh_limits.lease_ms and is renewed once half of it is gone; a POST starts only with more
 * than the POST timeout left on it, so that an instance that lost it has given up before
 * another takes over. Every write of this thread names the lease and the webhook's gen: an
 * instance that lost the lease, or a batch begun before a PATCH or a redelivery, writes
 * nothing.
 *
 * State: the static R. `conn` belongs to the thread; `woken` is guarded by `mu`; the stats by
 * `smu`. */
#include "core/webhooks.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core_int.h"
#include "util/arena.h"
#include "util/fetch.h"
#include "util/jw.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/secret.h"
#include "util/timeu.h"

#define PAGE 500          /* change records read at a time */
#define SCAN_MAX 5000     /* records one batch looks through at most */
#define POLL_MS 1000      /* shared store: the longest sleep */
#define IDLE_MS 30000     /* otherwise: the longest sleep */
#define RETRY_STORE_MS 1000 /* after the store failed */

static const double lat_le[WH_LAT_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static struct {
    struct store *store;
    bool shared;
    _Atomic bool started;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken;            /* a round is due at once (guarded by mu) */
    _Atomic bool stop;
    char owner[128];       /* this instance in lease_owner: host, pid and a random part */
    struct store_conn *conn;
    /* Delivery records added since the last prune, and how many make one due (thread's). */
    int64_t since_prune, prune_every;
    pthread_mutex_t smu;
    struct wh_stats st;    /* guarded by smu */
} R = {.mu = PTHREAD_MUTEX_INITIALIZER, .smu = PTHREAD_MUTEX_INITIALIZER};

void wh_stats_get(struct wh_stats *out)
{
    pthread_mutex_lock(&R.smu);
    *out = R.st;
    pthread_mutex_unlock(&R.smu);
    out->lat_le = lat_le;
}

void wh_runner_wake(void)
{
    if (!R.started)
        return;
    pthread_mutex_lock(&R.mu);
    R.woken = true;
    pthread_cond_signal(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

static void count(const char *outcome, int64_t latency_us)
{
    double s = (double)latency_us / 1e6;
    int b = 0;

    pthread_mutex_lock(&R.smu);
    if (strcmp(outcome, "ok") == 0)
        R.st.ok++;
    else if (strcmp(outcome, "http_error") == 0)
        R.st.http_error++;
    else if (strcmp(outcome, "refused") == 0)
        R.st.refused++;
    else if (strcmp(outcome, "local") == 0)
        R.st.local++;
    else
        R.st.network++;
    while (b < WH_LAT_BUCKETS && s > lat_le[b])
        b++;
    R.st.lat_buckets[b]++;
    R.st.lat_count++;
    R.st.lat_sum += s;
    pthread_mutex_unlock(&R.smu);
}

/* ---- the store ----
 *
 * A round writes in at most two transactions, whatever the number of webhooks: one before
 * its POSTs (leases taken or renewed, the end of each batch about to go out, cursors moved
 * past what the filters pass over), durable before the first POST; and one after them (each
 * attempt's outcome and record, the cursor moved on a 2xx). They were two per webhook and
 * batch: on SQLite each took the one write lock from the writer, and with 10 webhooks the
 * writer spent half of its time waiting for it (bench/results/2026-12-07-webhooks.md). The
 * second needs no flush of its own: should a crash take it back, the batch it closes is sent
 * again, whole (at least once), and the next round's first transaction, flushed, covers it.
 * A round that has nothing to send and no lease to renew writes nothing. */

/* Every write transaction of this thread begins here (counted for /metrics). */
static int begin(struct tg_err *err)
{
    int rc = store_begin_write(R.conn, err);

    if (rc == 0) {
        pthread_mutex_lock(&R.smu);
        R.st.store_writes++;
        pthread_mutex_unlock(&R.smu);
    }
    return rc;
}

/* Runs statement `st` (bound) in the open write transaction; *changed: rows it changed. */
static int exec_counted(struct store_stmt *st, int64_t *changed, struct tg_err *err)
{
    int rc = st_exec(st, err);
    if (rc == 0 && changed)
        *changed = store_changes(R.conn);
    return rc;
}

static int commit_or_rollback(int rc, struct tg_err *err)
{
    if (rc) {
        store_rollback(R.conn);
        return rc;
    }
    return store_commit(R.conn, err);
}

/* In the open write transaction: takes or renews w's lease; *got: it is ours until
 * w->lease_until. */
static int lease_in(struct webhook *w, int64_t now, bool *got, struct tg_err *err)
{
    struct store_stmt *st = st_get(R.conn, SQL_WH_LEASE, err);
    int64_t changed = 0;
    int rc;

    *got = false;
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, w->id);
    st_text(st, 2, R.owner);
    st_int(st, 3, now + wh_limits.lease_ms);
    st_int(st, 4, now);
    st_int(st, 5, w->gen);
    rc = exec_counted(st, &changed, err);
    if (rc == 0 && changed == 1) {
        *got = true;
        w->lease_owner = R.owner;
        w->lease_until = now + wh_limits.lease_ms;
    }
    return rc;
}

/* Takes or renews w's lease in a transaction of its own (a round whose POSTs took so long
 * that less than half of it is left before the next). */
static int lease(struct webhook *w, int64_t now, bool *got, struct tg_err *err)
{
    int rc = begin(err);

    *got = false;
    if (rc)
        return rc;
    rc = lease_in(w, now, got, err);
    rc = commit_or_rollback(rc, err);
    if (rc)
        *got = false;
    return rc;
}

/* In the open write transaction, one conditional UPDATE of the delivery (SQL_WH_PEND or
 * SQL_WH_SKIP): *changed 0 when the webhook changed or the lease is gone. */
static int move_in(enum store_sql id, const struct webhook *w, const struct event_cursor *to,
                   int64_t *changed, struct tg_err *err)
{
    struct store_stmt *st = st_get(R.conn, id, err);

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, w->id);
    st_int(st, 2, w->gen);
    st_int(st, 3, to->rev);
    st_int(st, 4, to->seq);
    st_text(st, 5, R.owner);
    return exec_counted(st, changed, err);
}

struct attempt {
    const char *delivery, *outcome, *error;
    struct event_cursor from, to;
    int64_t events, status, latency_us, at;
    int64_t failures;   /* after this attempt */
    int64_t next_at;    /* when failed: the next attempt */
};

/* In the open write transaction: the attempt's outcome and its record; the cursor moves only
 * on "ok". *kept: the record was written (not when the webhook changed through the API
 * meanwhile, or is no longer ours). */
static int record_in(const struct webhook *w, const struct attempt *t, bool *kept,
                     struct tg_err *err)
{
    struct store_stmt *st;
    int64_t changed = 0;
    bool ok = strcmp(t->outcome, "ok") == 0;
    int rc;

    *kept = false;
    st = st_get(R.conn, ok ? SQL_WH_DONE : SQL_WH_FAILED, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, w->id);
    st_int(st, 2, w->gen);
    if (ok) {
        st_int(st, 3, t->to.rev);
        st_int(st, 4, t->to.seq);
        st_int(st, 5, t->at);
        st_text(st, 6, R.owner);
    } else {
        st_int(st, 3, t->failures);
        st_int(st, 4, t->next_at);
        st_text(st, 5, wh_state_after(t->failures, wh_limits.retries));
        st_text(st, 6, t->error);
        st_int(st, 7, t->at);
        st_text(st, 8, R.owner);
    }
    rc = exec_counted(st, &changed, err);
    if (rc || changed == 0)
        return rc; /* nothing to keep */
    st = st_get(R.conn, SQL_WH_DELIVERY_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, w->id);
    st_text(st, 2, t->delivery);
    st_int(st, 3, t->at);
    st_int(st, 4, t->from.rev);
    st_int(st, 5, t->from.seq);
    st_int(st, 6, t->to.rev);
    st_int(st, 7, t->to.seq);
    st_int(st, 8, t->events);
    st_int(st, 9, w->failures + 1);
    st_int(st, 10, t->status);
    st_int(st, 11, t->latency_us / 1000);
    st_text(st, 12, t->outcome);
    st_text(st, 13, t->error);
    st_text(st, 14, R.owner);
    rc = st_exec(st, err);
    if (rc == 0)
        *kept = true;
    return rc;
}

/* In the open write transaction: keeps the newest WH_KEEP_DELIVERIES records of every
 * webhook, in one statement for all of them. */
static int prune_in(struct tg_err *err)
{
    struct store_stmt *st = st_get(R.conn, SQL_WH_DELIVERY_PRUNE, err);

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, WH_KEEP_DELIVERIES);
    return st_exec(st, err);
}

/* ---- one batch ---- */

static int read_page(struct core_ctx *cx, const struct event_cursor *after, int64_t org_id,
                     struct change **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(cx->conn, SQL_WH_CHANGES_AFTER, err);
    struct change *c = arena_alloc(cx->a, PAGE * sizeof(*c));
    size_t k = 0;
    int rc = 0;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, after->rev);
    st_int(st, 2, after->seq);
    st_int(st, 3, org_id);
    st_int(st, 4, PAGE);
    while (k < PAGE && (rc = st_step(st, err)) == 1) {
        c[k].rev = col_int(st, 0);
        c[k].seq = col_int(st, 1);
        c[k].at = col_int(st, 2);
        c[k].principal = col_dup(cx, st, 3);
        c[k].entity = col_dup(cx, st, 4);
        c[k].entity_id = col_int(st, 5);
        c[k].op = col_dup(cx, st, 6);
        c[k].before = col_dup(cx, st, 7);
        c[k].after = col_dup(cx, st, 8);
        c[k].api = col_dup(cx, st, 9);
        c[k].ws_id = col_int(st, 10);
        k++;
    }
    if (k == PAGE)
        rc = 0;
    st_reset(st);
    *out = c;
    *n = k;
    return rc < 0 ? rc : 0;
}

struct batch {
    struct change *ev; /* the records to send, in order */
    size_t n;
    struct event_cursor end; /* the last record the batch covers */
    bool more;               /* more may be due at once */
};

/* Reads the batch after w's cursor (up to its pending end when one is in flight), in a read
 * transaction of its own. */
static int make_batch(struct arena *a, const struct webhook *w, struct batch *b,
                      struct tg_err *err)
{
    struct event_cursor cur = {w->cursor_rev, w->cursor_seq}, lim = {w->pend_rev, w->pend_seq};
    /* A batch in flight is sent whole even when --webhook-batch shrank since it began. */
    int max = w->pending ? WH_BATCH_CAP : atomic_load(&wh_limits.batch_max);
    struct event_filter f;
    struct core_ctx cx;
    size_t scanned = 0, *idx = arena_alloc(a, (size_t)max * sizeof(*idx));
    int rc;

    memset(b, 0, sizeof(*b));
    b->ev = arena_alloc(a, (size_t)max * sizeof(*b->ev));
    b->end = cur;
    core_ctx_init(&cx, R.conn, a, false);
    rc = event_filter_parse(a, w->filters, &f, err);
    if (rc)
        return rc;
    rc = store_begin_read(R.conn, err);
    if (rc)
        return rc;
    rc = core__ctx_set_org(&cx, w->org_id, err);
    while (rc == 0) {
        struct change *c;
        bool *match;
        struct wh_plan plan;
        size_t np;
        rc = read_page(&cx, &cur, w->org_id, &c, &np, err);
        if (rc)
            break;
        match = arena_alloc(a, np * sizeof(*match) + 1);
        for (size_t i = 0; i < np; i++)
            match[i] = (!w->pending || !event_after(&lim, c[i].rev, c[i].seq)) &&
                       event_match(&cx, &f, &c[i]);
        wh_plan_batch(&cur, c, np, match, max - (int)b->n, w->pending ? &lim : NULL, idx,
                      &plan);
        for (size_t i = 0; i < plan.npicked; i++)
            b->ev[b->n++] = c[idx[i]];
        cur = plan.end;
        scanned += np;
        if (plan.full || plan.reached_limit || np < PAGE)
            break;
        /* A batch in flight is read up to its end, whatever that takes. */
        if (scanned >= SCAN_MAX && !w->pending) {
            b->more = true;
            break;
        }
    }
    store_rollback(R.conn);
    core_ctx_done(&cx);
    if (rc)
        return rc;
    /* A batch in flight ends where it ended, whatever the filters pass over at its end. */
    b->end = w->pending ? lim : cur;
    if (b->n == (size_t)max)
        b->more = true;
    return 0;
}

static void cursor_text(const struct event_cursor *c, char *buf, size_t cap)
{
    if (c->seq == EVENT_SEQ_ALL)
        snprintf(buf, cap, "%" PRId64, c->rev);
    else
        event_cursor_format(c->rev, c->seq, buf, cap);
}

/* The body of a delivery: the events and the range they cover (docs/events.md). */
static const char *render(struct arena *a, const struct webhook *w, const char *delivery,
                          const struct event_cursor *from, const struct batch *b, size_t *len)
{
    struct sbuf s;
    struct jw jw;
    char after[48], through[48];
    const char *out;

    cursor_text(from, after, sizeof(after));
    cursor_text(&b->end, through, sizeof(through));
    sbuf_init(&s, 0);
    jw_init(&jw, &s);
    jw_obj(&jw);
    jw_kint(&jw, "webhook_id", w->id);
    jw_kstr(&jw, "delivery", delivery);
    jw_kstr(&jw, "after", after);
    jw_kstr(&jw, "through", through);
    jw_kint(&jw, "from_revision", b->ev[0].rev);
    jw_kint(&jw, "to_revision", b->ev[b->n - 1].rev);
    jw_key(&jw, "events");
    jw_arr(&jw);
    for (size_t i = 0; i < b->n; i++)
        event_change_json(&jw, &b->ev[i]);
    jw_arr_end(&jw);
    jw_obj_end(&jw);
    out = arena_strndup(a, sbuf_str(&s), s.len);
    *len = s.len;
    sbuf_release(&s);
    return out;
}

/* What a round does with one webhook. */
enum job_kind {
    JOB_NONE,  /* nothing to send now */
    JOB_SEND,  /* POST batch b */
    JOB_SKIP,  /* move the cursor to b.end: the filters passed over everything up to it */
    JOB_LOCAL, /* record a failure: the secret cannot be opened here */
};

struct job {
    struct webhook *w;
    enum job_kind kind;
    bool need_lease; /* to be taken or renewed before anything else */
    bool held;   /* ours in this round */
    bool tried;  /* t is an attempt to record */
    struct batch b;
    struct event_cursor from; /* w's cursor as the round read it */
    struct attempt t;
    char tok[64];
};

/* Decides what job j's webhook needs in this round, reading the batch when one is due (in
 * read transactions: no write lock is held while the change log is read). *next lowered to
 * when the webhook needs this thread again. */
static int plan(struct arena *a, struct job *j, int64_t head, int64_t now, int64_t *next,
                struct tg_err *err)
{
    struct webhook *w = j->w;
    char secret[SECRET_BOX_MAX + 1];
    bool mine = w->lease_owner && strcmp(w->lease_owner, R.owner) == 0 && w->lease_until > now;
    bool opens;
    int rc;

    j->kind = JOB_NONE;
    j->from = (struct event_cursor){w->cursor_rev, w->cursor_seq};
    if (!mine && w->lease_owner && w->lease_until >= now) {
        /* Another instance's: look again once its lease runs out. */
        if (w->lease_until + 1 < *next)
            *next = w->lease_until + 1;
        return 0;
    }
    j->need_lease = !mine || w->lease_until - now < wh_limits.lease_ms / 2;
    j->held = !j->need_lease;
    if (w->next_attempt_at > now)
        return 0;
    if (!w->pending && (w->cursor_rev > head || (w->cursor_rev == head &&
                                                 w->cursor_seq == EVENT_SEQ_ALL)))
        return 0; /* nothing new */
    opens = core__webhook_secret(w, secret, sizeof(secret));
    secret_wipe(secret, sizeof(secret));
    if (!opens) {
        j->kind = JOB_LOCAL;
        return 0;
    }
    rc = make_batch(a, w, &j->b, err);
    if (rc)
        return rc;
    if (j->b.n > 0)
        j->kind = JOB_SEND;
    else if (w->pending || event_after(&j->from, j->b.end.rev, j->b.end.seq))
        /* The filters passed over everything new (or, a batch in flight, everything it held:
         * a tag renamed since it began): remember that, nothing to send. */
        j->kind = JOB_SKIP;
    return 0;
}

/* The round's first write transaction: leases, and the end of every batch about to go out
 * (written before its first POST, so that every retry sends the same batch), made durable
 * before any POST. Jobs whose webhook turns out not to be ours, or to have changed, are
 * dropped (JOB_NONE, !held). */
static int before_posts(struct job *js, size_t n, int64_t now, struct tg_err *err)
{
    bool any = false, flush = false;
    int rc;

    for (size_t i = 0; i < n && !any; i++)
        any = js[i].need_lease || js[i].kind == JOB_SKIP ||
              (js[i].kind == JOB_SEND && !js[i].w->pending);
    if (!any)
        return 0;
    rc = begin(err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct job *j = &js[i];
        int64_t changed = 0;
        if (j->need_lease) {
            rc = lease_in(j->w, now, &j->held, err);
            if (rc)
                break;
        }
        if (!j->held) {
            j->kind = JOB_NONE;
            continue;
        }
        if (j->kind == JOB_SKIP) {
            rc = move_in(SQL_WH_SKIP, j->w, &j->b.end, &changed, err);
            if (rc == 0 && changed == 0)
                j->kind = JOB_NONE;
        } else if (j->kind == JOB_SEND && !j->w->pending) {
            rc = move_in(SQL_WH_PEND, j->w, &j->b.end, &changed, err);
            if (rc == 0 && changed == 0)
                j->kind = JOB_NONE;
            flush = flush || changed;
        }
    }
    rc = commit_or_rollback(rc, err);
    /* A batch's end must outlast a power loss before the batch leaves (SQLite with deferred
     * syncs: the commit above returned before its flush, which runs outside the lock). */
    if (rc == 0 && flush)
        store_wait_all_durable(R.conn);
    return rc;
}

/* Completes j->t, a failed attempt (outcome and error set), with when the next is due. */
static void failed(struct job *j, int64_t *next)
{
    struct attempt *t = &j->t;

    count(t->outcome, t->latency_us);
    t->failures = j->w->failures + 1;
    t->next_at = t->at + wh_backoff_ms(t->failures, atomic_load(&wh_limits.retry_min_ms),
                                       atomic_load(&wh_limits.retry_max_ms),
                                       secret_random_u32());
    if (t->next_at < *next)
        *next = t->next_at;
    if (t->failures == atomic_load(&wh_limits.retries))
        log_warn("webhook %" PRId64 " is failing after %" PRId64 " attempts: %s", j->w->id,
                 t->failures, t->error);
    j->tried = true;
}

/* The attempt of a webhook whose secret this instance cannot open (another --webhook-key-file
 * sealed it): recorded as a failure, with no POST. */
static void local(struct job *j, int64_t now, int64_t *next)
{
    memset(&j->t, 0, sizeof(j->t));
    j->t.from = j->from;
    j->t.at = now;
    secret_token(j->tok, sizeof(j->tok), "dlv_");
    j->t.delivery = j->tok;
    j->t.outcome = "local";
    j->t.error = "the secret cannot be opened with this instance's key (--webhook-key-file)";
    j->t.to = j->w->pending ? (struct event_cursor){j->w->pend_rev, j->w->pend_seq} : j->from;
    failed(j, next);
}

/* POSTs j's batch, the attempt into j->t (j->tried), its record written after the round's
 * POSTs. *next lowered as for plan(). */
static int post(struct arena *a, struct job *j, int64_t *next, struct tg_err *err)
{
    char secret[SECRET_BOX_MAX + 1], sig[128], hdr[3][192];
    const char *headers[4], *body;
    struct webhook *w = j->w;
    struct attempt *t = &j->t;
    struct fetch_limits lim;
    struct fetch_reply reply;
    struct tg_err ferr;
    int64_t now = time_now_ms(), timeout = atomic_load(&wh_limits.timeout_ms);
    size_t len;
    int rc;

    /* The POST must end while the lease holds (at least half of it is left here), so that
     * no other instance sends the next batch while this one's is still on its way: the
     * POSTs before this one may have taken most of what the round began with. */
    if (w->lease_until - now < wh_limits.lease_ms / 2) {
        bool got;
        rc = lease(w, now, &got, err);
        if (rc || !got)
            return rc;
    }
    if (timeout > wh_limits.lease_ms / 2 - 1000)
        timeout = wh_limits.lease_ms / 2 - 1000;
    if (!core__webhook_secret(w, secret, sizeof(secret))) {
        local(j, now, next);
        return 0;
    }
    memset(t, 0, sizeof(*t));
    t->from = j->from;
    t->at = now;
    secret_token(j->tok, sizeof(j->tok), "dlv_");
    t->delivery = j->tok;
    body = render(a, w, j->tok, &j->from, &j->b, &len);
    wh_signature(secret, now / 1000, body, len, sig, sizeof(sig));
    secret_wipe(secret, sizeof(secret));
    snprintf(hdr[0], sizeof(hdr[0]), "X-Tagd-Delivery: %s", j->tok);
    snprintf(hdr[1], sizeof(hdr[1]), "X-Tagd-Signature: %s", sig);
    snprintf(hdr[2], sizeof(hdr[2]), "X-Tagd-Webhook: %" PRId64, w->id);
    headers[0] = hdr[0];
    headers[1] = hdr[1];
    headers[2] = hdr[2];
    headers[3] = NULL;
    lim.timeout_ms = timeout;
    lim.max_bytes = (size_t)atomic_load(&wh_limits.max_reply);
    lim.public_only = !atomic_load(&wh_limits.allow_local);
    tg_err_clear(&ferr);
    rc = fetch_post(a, w->url, headers, body, len, &lim, &R.stop, &reply, &ferr);
    if (rc == TG_EBUSY && atomic_load(&R.stop))
        return 0; /* shutting down: the batch stays pending for the next start */
    t->to = j->b.end;
    t->events = (int64_t)j->b.n;
    t->status = reply.status;
    t->latency_us = reply.latency_us;
    if (rc == 0 && reply.status >= 200 && reply.status < 300) {
        t->outcome = "ok";
        count(t->outcome, t->latency_us);
        j->tried = true;
        return 0;
    }
    if (rc == 0) {
        t->outcome = "http_error";
        t->error = arena_printf(a, "HTTP status %ld%s%.200s", reply.status, reply.len ? ": " : "",
                                reply.body ? reply.body : "");
    } else {
        t->outcome = rc == TG_ERULE ? "refused" : "network";
        t->error = arena_strdup(a, ferr.msg);
    }
    failed(j, next);
    return 0;
}

/* The round's second write transaction: every attempt's outcome and record, and, now and
 * then, the records beyond the newest WH_KEEP_DELIVERIES of every webhook deleted in one
 * statement. Not flushed: see "the store". */
static int after_posts(struct job *js, size_t n, struct tg_err *err)
{
    bool any = false, pruned = false;
    int64_t kept = 0;
    int rc;

    for (size_t i = 0; i < n && !any; i++)
        any = js[i].tried;
    if (!any)
        return 0;
    rc = begin(err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool k = false;
        if (!js[i].tried)
            continue;
        rc = record_in(js[i].w, &js[i].t, &k, err);
        kept += k;
    }
    /* Each webhook keeps up to prune_every more records than it shows between two prunes;
     * a prune reads the whole table, a few records per record added. */
    if (rc == 0 && R.since_prune + kept >= R.prune_every) {
        rc = prune_in(err);
        pruned = true;
    }
    rc = commit_or_rollback(rc, err);
    if (rc == 0)
        R.since_prune = pruned ? 0 : R.since_prune + kept;
    return rc;
}

/* Keeps the WH_LAG_SERIES most lagging webhooks for /metrics. */
static void lag_note(struct wh_stats *s, int64_t id, int64_t lag)
{
    int at;

    if (lag > s->lag_max)
        s->lag_max = lag;
    if (s->nlag < WH_LAG_SERIES) {
        at = s->nlag++;
    } else {
        at = 0;
        for (int i = 1; i < s->nlag; i++)
            if (s->lag[i] < s->lag[at])
                at = i;
        if (s->lag[at] >= lag)
            return;
    }
    s->lag_id[at] = id;
    s->lag[at] = lag;
}

/* One round over every active webhook; the time to sleep after it into *wait_ms. */
static void round_once(int64_t *wait_ms)
{
    struct arena a;
    struct core_ctx cx;
    struct tg_err err;
    struct webhook *w = NULL;
    struct job *js;
    struct wh_stats lags;
    size_t n = 0;
    int64_t now = time_now_ms(), head = 0;
    int64_t next = now + (R.shared ? POLL_MS : IDLE_MS);
    bool again = false, plan_failed = false;
    int rc;

    memset(&lags, 0, sizeof(lags));
    arena_init(&a);
    tg_err_clear(&err);
    core_ctx_init(&cx, R.conn, &a, false);
    rc = store_begin_read(R.conn, &err);
    if (rc == 0) {
        rc = core__webhook_active(&cx, &w, &n, &err);
        head = core_current_rev(&cx);
        store_rollback(R.conn);
    }
    core_ctx_done(&cx);
    js = arena_alloc(&a, (n ? n : 1) * sizeof(*js));
    memset(js, 0, (n ? n : 1) * sizeof(*js));
    /* Bounded by the webhooks there are, so that a prune reads a few records per record
     * added whatever their number. */
    R.prune_every = n * 10 > WH_KEEP_DELIVERIES ? (int64_t)n * 10 : WH_KEEP_DELIVERIES;
    /* A webhook whose batch cannot be read waits for the next round; the others go on. */
    for (size_t i = 0; rc == 0 && i < n && !atomic_load(&R.stop); i++) {
        struct tg_err perr;
        js[i].w = &w[i];
        tg_err_clear(&perr);
        if (plan(&a, &js[i], head, now, &next, &perr) != 0) {
            log_warn("webhook %" PRId64 ": store: %s", w[i].id, perr.msg);
            memset(&js[i], 0, sizeof(js[i]));
            plan_failed = true;
        }
    }
    if (rc == 0 && !atomic_load(&R.stop))
        rc = before_posts(js, n, now, &err);
    for (size_t i = 0; rc == 0 && i < n && !atomic_load(&R.stop); i++) {
        struct job *j = &js[i];
        if (!j->held)
            continue;
        if (j->kind == JOB_SEND) {
            rc = post(&a, j, &next, &err);
        } else if (j->kind == JOB_LOCAL) {
            local(j, now, &next);
        }
    }
    /* Also after a failure or a stop above: what was sent is recorded. */
    {
        struct tg_err err2;
        int rc2;
        tg_err_clear(&err2);
        rc2 = after_posts(js, n, &err2);
        if (rc == 0 && rc2) {
            rc = rc2;
            err = err2;
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct job *j = &js[i];
        struct webhook *wh = j->w;
        int64_t at = wh ? wh->cursor_rev : 0;
        if (wh == NULL || !j->held)
            continue;
        if (wh->lease_until - wh_limits.lease_ms / 2 < next)
            next = wh->lease_until - wh_limits.lease_ms / 2;
        if (wh->next_attempt_at > now && wh->next_attempt_at < next)
            next = wh->next_attempt_at;
        if (j->kind == JOB_SKIP || (j->tried && strcmp(j->t.outcome, "ok") == 0))
            at = j->b.end.rev;
        /* More is due at once after a full batch sent, or one passed over; not after a
         * failed POST (its backoff says when). */
        if (j->kind != JOB_SEND || (j->tried && strcmp(j->t.outcome, "ok") == 0))
            again = again || j->b.more;
        lags.leased++;
        lag_note(&lags, wh->id, head > at ? head - at : 0);
    }
    if (rc || plan_failed) {
        if (rc)
            log_warn("webhooks: store: %s; trying again in %d ms", err.msg, RETRY_STORE_MS);
        next = now + RETRY_STORE_MS;
        again = false;
    }
    if (rc == 0) {
        pthread_mutex_lock(&R.smu);
        R.st.leased = lags.leased;
        R.st.lag_max = lags.lag_max;
        R.st.nlag = lags.nlag;
        memcpy(R.st.lag_id, lags.lag_id, sizeof(lags.lag_id));
        memcpy(R.st.lag, lags.lag, sizeof(lags.lag));
        pthread_mutex_unlock(&R.smu);
    }
    arena_release(&a);
    now = time_now_ms();
    *wait_ms = again ? 0 : next > now ? next - now : 0;
}

static int once(enum store_sql id, const char *arg, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = begin(err);

    if (rc)
        return rc;
    st = st_get(R.conn, id, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
    } else {
        if (arg)
            st_text(st, 1, arg);
        rc = st_exec(st, err);
    }
    return commit_or_rollback(rc, err);
}

static void *run(void *arg)
{
    struct tg_err err;
    (void)arg;

    /* The connection is opened here, not at start, so that the server answers without
     * waiting for it (PostgreSQL prepares every statement per connection). */
    while (R.conn == NULL && !atomic_load(&R.stop)) {
        tg_err_clear(&err);
        R.conn = store_conn_open(R.store, true, &err);
        if (R.conn == NULL) {
            struct timespec ts;
            log_warn("webhooks: store: %s; trying again in %d ms", err.msg, RETRY_STORE_MS);
            pthread_mutex_lock(&R.mu);
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += RETRY_STORE_MS / 1000;
            if (!atomic_load(&R.stop))
                pthread_cond_timedwait(&R.cv, &R.mu, &ts);
            pthread_mutex_unlock(&R.mu);
        }
    }
    if (R.conn == NULL)
        return NULL;
    tg_err_clear(&err);
    if (!R.shared && once(SQL_WH_LEASE_CLEAR_ALL, NULL, &err) != 0)
        log_warn("webhooks: cannot clear the leases of an earlier process: %s", err.msg);
    while (!atomic_load(&R.stop)) {
        int64_t wait_ms = 0;
        round_once(&wait_ms);
        pthread_mutex_lock(&R.mu);
        if (!R.woken && !atomic_load(&R.stop) && wait_ms > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait_ms / 1000;
            ts.tv_nsec += (wait_ms % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&R.cv, &R.mu, &ts);
        }
        R.woken = false;
        pthread_mutex_unlock(&R.mu);
    }
    /* Another instance may go on at once rather than wait for the leases to run out. */
    tg_err_clear(&err);
    if (once(SQL_WH_LEASE_RELEASE, R.owner, &err) != 0)
        log_warn("webhooks: cannot give the leases back: %s", err.msg);
    core_thread_done();
    return NULL;
}

int wh_runner_start(struct store *s, bool shared, struct tg_err *err)
{
    pthread_condattr_t ca;
    char host[64];

    if (R.started)
        return 0;
    R.store = s;
    R.shared = shared;
    atomic_store(&R.stop, false);
    R.woken = true;
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "host");
    host[sizeof(host) - 1] = '\0';
    snprintf(R.owner, sizeof(R.owner), "%s:%d:%08x", host, (int)getpid(), secret_random_u32());
    R.conn = NULL;
    R.since_prune = INT64_MAX / 2; /* the first round that records prunes what came before */
    R.prune_every = WH_KEEP_DELIVERIES;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&R.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&R.tid, NULL, run, NULL) != 0) {
        pthread_cond_destroy(&R.cv);
        return tg_err_set(err, TG_EINTERNAL, "", "cannot start the webhook thread");
    }
    pthread_setname_np(R.tid, "tagd-webhooks");
    R.started = true;
    return 0;
}

void wh_runner_stop(void)
{
    if (!R.started)
        return;
    atomic_store(&R.stop, true);
    pthread_mutex_lock(&R.mu);
    pthread_cond_signal(&R.cv);
    pthread_mutex_unlock(&R.mu);
    pthread_join(R.tid, NULL);
    R.started = false;
    pthread_cond_destroy(&R.cv);
    store_conn_close(R.conn); /* NULL when it never opened */
    R.conn = NULL;
}
