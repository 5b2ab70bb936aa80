/* core/webhook_run.c: the delivery thread of webhooks (core/webhooks.h).
 *
 * One thread per instance, never the writer or an event loop: POSTs may take up to
 * --webhook-timeout each. It works in rounds: it reads the active webhooks, and for each one
 * it holds the lease of (or can take), reads the organization's change log after the
 * webhook's cursor, keeps the records its filters pass, and POSTs them as one batch. Only a 2xx
 * moves the cursor, in one transaction with the attempt's record; before the first POST of a
 * batch its end is written down (pend_rev, pend_seq), so that every retry, by this instance
 * after a failure or by any after a crash, sends exactly the same batch: a receiver sees
 * duplicates only as whole repeated batches, and never a record out of order.
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

/* ---- the store, each write in a transaction of its own ---- */

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

/* Takes or renews w's lease; *got: it is ours until w->lease_until. */
static int lease(struct webhook *w, int64_t now, bool *got, struct tg_err *err)
{
    struct store_stmt *st;
    int64_t changed = 0;
    int rc = store_begin_write(R.conn, err);

    *got = false;
    if (rc)
        return rc;
    st = st_get(R.conn, SQL_WH_LEASE, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
    } else {
        st_int(st, 1, w->id);
        st_text(st, 2, R.owner);
        st_int(st, 3, now + wh_limits.lease_ms);
        st_int(st, 4, now);
        st_int(st, 5, w->gen);
        rc = exec_counted(st, &changed, err);
    }
    rc = commit_or_rollback(rc, err);
    if (rc == 0 && changed == 1) {
        *got = true;
        w->lease_until = now + wh_limits.lease_ms;
    }
    return rc;
}

/* One conditional UPDATE of the delivery (SQL_WH_PEND or SQL_WH_SKIP): *changed 0 when the
 * webhook changed or the lease is gone. */
static int move(enum store_sql id, const struct webhook *w, const struct event_cursor *to,
                int64_t *changed, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = store_begin_write(R.conn, err);

    if (rc)
        return rc;
    st = st_get(R.conn, id, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
    } else {
        st_int(st, 1, w->id);
        st_int(st, 2, w->gen);
        st_int(st, 3, to->rev);
        st_int(st, 4, to->seq);
        st_text(st, 5, R.owner);
        rc = exec_counted(st, changed, err);
    }
    return commit_or_rollback(rc, err);
}

struct attempt {
    const char *delivery, *outcome, *error;
    struct event_cursor from, to;
    int64_t events, status, latency_us, at;
    int64_t failures;   /* after this attempt */
    int64_t next_at;    /* when failed: the next attempt */
};

/* The attempt's outcome and its record, in one transaction: the cursor moves only on "ok". */
static int record(const struct webhook *w, const struct attempt *t, struct tg_err *err)
{
    struct store_stmt *st;
    int64_t changed = 0;
    bool ok = strcmp(t->outcome, "ok") == 0;
    int rc = store_begin_write(R.conn, err);

    if (rc)
        return rc;
    st = st_get(R.conn, ok ? SQL_WH_DONE : SQL_WH_FAILED, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
        goto out;
    }
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
        goto out; /* changed through the API meanwhile, or no longer ours: nothing to keep */
    st = st_get(R.conn, SQL_WH_DELIVERY_INSERT, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
        goto out;
    }
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
    if (rc)
        goto out;
    st = st_get(R.conn, SQL_WH_DELIVERY_PRUNE, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
        goto out;
    }
    st_int(st, 1, w->id);
    st_int(st, 2, WH_KEEP_DELIVERIES);
    rc = st_exec(st, err);
out:
    return commit_or_rollback(rc, err);
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

/* Sends w's next batch if one is due and w is ours to send. *more: another is due at once;
 * *next lowered to when w needs this thread again. */
static int deliver(struct arena *a, struct webhook *w, int64_t head, bool *more, int64_t *next,
                   int64_t *lag, struct tg_err *err)
{
    char secret[SECRET_BOX_MAX + 1], sig[128], hdr[3][192], tok[64];
    const char *headers[4], *body;
    struct event_cursor from = {w->cursor_rev, w->cursor_seq};
    struct fetch_limits lim;
    struct fetch_reply reply;
    struct attempt t;
    struct batch b;
    struct tg_err ferr;
    int64_t now = time_now_ms(), changed = 0, timeout = atomic_load(&wh_limits.timeout_ms);
    bool mine = w->lease_owner && strcmp(w->lease_owner, R.owner) == 0 && w->lease_until > now;
    size_t len;
    int rc;

    *more = false;
    *lag = -1;
    if (!mine && w->lease_owner && w->lease_until >= now) {
        /* Another instance's: look again once its lease runs out. */
        if (w->lease_until + 1 < *next)
            *next = w->lease_until + 1;
        return 0;
    }
    if (!mine || w->lease_until - now < wh_limits.lease_ms / 2) {
        bool got;
        rc = lease(w, now, &got, err);
        if (rc || !got)
            return rc;
    }
    if (w->lease_until - wh_limits.lease_ms / 2 < *next)
        *next = w->lease_until - wh_limits.lease_ms / 2;
    *lag = head > w->cursor_rev ? head - w->cursor_rev : 0;
    if (w->next_attempt_at > now) {
        if (w->next_attempt_at < *next)
            *next = w->next_attempt_at;
        return 0;
    }
    if (!w->pending && (w->cursor_rev > head || (w->cursor_rev == head &&
                                                 w->cursor_seq == EVENT_SEQ_ALL)))
        return 0; /* nothing new */
    /* The POST must end while the lease holds (at least half of it is left here), so that
     * no other instance sends the next batch while this one's is still on its way. */
    if (timeout > wh_limits.lease_ms / 2 - 1000)
        timeout = wh_limits.lease_ms / 2 - 1000;
    memset(&t, 0, sizeof(t));
    t.from = from;
    t.at = now;
    secret_token(tok, sizeof(tok), "dlv_");
    t.delivery = tok;
    if (!core__webhook_secret(w, secret, sizeof(secret))) {
        t.outcome = "local";
        t.error = "the secret cannot be opened with this instance's key (--webhook-key-file)";
        t.to = w->pending ? (struct event_cursor){w->pend_rev, w->pend_seq} : from;
        goto failed;
    }
    rc = make_batch(a, w, &b, err);
    if (rc)
        goto out;
    if (b.n == 0) {
        /* The filters passed over everything new (or, a batch in flight, everything it held:
         * a tag renamed since it began): remember that, nothing to send. */
        if (w->pending || event_after(&from, b.end.rev, b.end.seq)) {
            rc = move(SQL_WH_SKIP, w, &b.end, &changed, err);
            if (rc == 0 && changed)
                *lag = head > b.end.rev ? head - b.end.rev : 0;
        }
        *more = b.more;
        goto out;
    }
    if (!w->pending) {
        rc = move(SQL_WH_PEND, w, &b.end, &changed, err);
        if (rc || changed == 0)
            goto out;
    }
    body = render(a, w, tok, &from, &b, &len);
    wh_signature(secret, now / 1000, body, len, sig, sizeof(sig));
    snprintf(hdr[0], sizeof(hdr[0]), "X-Tagd-Delivery: %s", tok);
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
    if (rc == TG_EBUSY && atomic_load(&R.stop)) {
        rc = 0; /* shutting down: the batch stays pending for the next start */
        goto out;
    }
    t.to = b.end;
    t.events = (int64_t)b.n;
    t.status = reply.status;
    t.latency_us = reply.latency_us;
    if (rc == 0 && reply.status >= 200 && reply.status < 300) {
        t.outcome = "ok";
        count(t.outcome, t.latency_us);
        rc = record(w, &t, err);
        if (rc == 0) {
            *lag = head > b.end.rev ? head - b.end.rev : 0;
            *more = b.more;
        }
        goto out;
    }
    if (rc == 0) {
        t.outcome = "http_error";
        t.error = arena_printf(a, "HTTP status %ld%s%.200s", reply.status, reply.len ? ": " : "",
                               reply.body ? reply.body : "");
    } else {
        t.outcome = rc == TG_ERULE ? "refused" : "network";
        t.error = arena_strdup(a, ferr.msg);
    }
    rc = 0;
failed:
    count(t.outcome, t.latency_us);
    t.failures = w->failures + 1;
    t.next_at = now + wh_backoff_ms(t.failures, atomic_load(&wh_limits.retry_min_ms),
                                    atomic_load(&wh_limits.retry_max_ms), secret_random_u32());
    if (t.next_at < *next)
        *next = t.next_at;
    rc = record(w, &t, err);
    if (t.failures == atomic_load(&wh_limits.retries))
        log_warn("webhook %" PRId64 " is failing after %" PRId64 " attempts: %s", w->id,
                 t.failures, t.error);
out:
    secret_wipe(secret, sizeof(secret));
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
    struct wh_stats lags;
    size_t n = 0;
    int64_t now = time_now_ms(), head = 0;
    int64_t next = now + (R.shared ? POLL_MS : IDLE_MS);
    bool again = false;
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
    for (size_t i = 0; rc == 0 && i < n && !atomic_load(&R.stop); i++) {
        bool more = false;
        int64_t lag = -1;
        tg_err_clear(&err);
        rc = deliver(&a, &w[i], head, &more, &next, &lag, &err);
        if (lag >= 0) {
            lags.leased++;
            lag_note(&lags, w[i].id, lag);
        }
        again = again || more;
    }
    if (rc) {
        log_warn("webhooks: store: %s; trying again in %d ms", err.msg, RETRY_STORE_MS);
        next = now + RETRY_STORE_MS;
        again = false;
    } else {
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
    int rc = store_begin_write(R.conn, err);

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
