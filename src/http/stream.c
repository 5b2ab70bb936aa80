/* http/stream.c: streamed answers (api_stream, api_stream_raw) with h2o's generator: the loop writes a chunk,
 * and fills the next only when h2o calls proceed, i.e. once the client took the last one. So
 * a stream holds one chunk at most whatever its client does, and its fills read the store
 * on the loop in short read transactions of their own, never touching the writer.
 *
 * A stream is idle, sending (a chunk h2o has not finished writing), or done (its last chunk
 * given to h2o). It lives in the request's pool: the pool's disposal, when the client goes
 * or the last chunk is written, frees it.
 *
 * An idle stream waits on its loop's hub (struct hub) for a revision it has not seen, and on
 * the hub's heartbeat timeout for its next heartbeat: one timer of the loop watches the
 * revision for all of them. (Each stream polling on its own 5 ms timer cost 100 streams
 * 20,000 wake-ups a second with nothing to do.) A sending stream's timer watches its client
 * for a stall on the loop's tick.
 *
 * While commits keep coming, a stream that has sent does not fill again at once: it waits
 * for the hub, which wakes its streams at most once per window (hub_window_us). Each send
 * costs the kernel more than tagd's fill, and 100 streams each sending every commit took a
 * third of the write throughput; a window that grows with the loop's streams bounds the
 * loop's sends a second (api_config.events_sends) whatever their number, at the price of
 * that window's latency under load. After a quiet window the next commit goes out on the
 * next tick. */
#include "http/stream.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include "http/conns.h"
#include "txn/txn.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/sbuf.h"
#include "util/timeu.h"

/* Bytes the kernel may hold for a stream's socket (SO_SNDBUF). */
#define STREAM_SNDBUF (64 * 1024)

struct stream {
    h2o_generator_t gen;
    h2o_linklist_t waiting; /* in hub.waiting: idle until a new revision */
    h2o_req_t *req;
    struct hreq *r;
    struct store_conn *reader;
    h2o_loop_t *loop;
    h2o_timeout_t *tick;
    h2o_timeout_entry_t te;
    bool (*stopping)(void);
    struct sbuf buf;  /* the chunk h2o is writing (sending) or the next one */
    bool sending, more, done;
    bool raw; /* a plain body (api_stream_raw): no retry line, no heartbeats, not counted */
    int64_t seen;          /* txn_seen_rev when the last fill began */
    int64_t send_start_us; /* when the chunk being written was given to h2o */
    int64_t last_send_us;
};

static atomic_ullong st_subscribers, st_opened, st_events, st_cut, st_sends;

/* A loop thread's idle streams. Its timer runs on the loop's tick while any stream waits, and
 * wakes them all once txn_seen_rev moves (or the server drains). */
struct hub {
    bool ready;
    h2o_loop_t *loop;
    h2o_timeout_t *tick;
    h2o_timeout_entry_t te;
    h2o_timeout_t beat;  /* api_config.events_heartbeat_ms: idle streams' heartbeats */
    h2o_linklist_t waiting;
    /* Every waiting stream has been woken since this revision, or stands at it: a stream
     * that starts waiting further behind lowers it (wait_hub), so that the next window
     * wakes it. */
    int64_t seen;
    int64_t woke_us;     /* the last wake-up (hub_window_us spaces them) */
    int64_t streams;     /* this loop's streams (not raw), for the window */
    bool (*stopping)(void);
};
static _Thread_local struct hub hub;

static void pump(struct stream *s);

void stream_stats_get(struct stream_stats *o)
{
    o->subscribers = atomic_load(&st_subscribers);
    o->opened = atomic_load(&st_opened);
    o->events = atomic_load(&st_events);
    o->cut = atomic_load(&st_cut);
    o->sends = atomic_load(&st_sends);
}

/* How long the hub lets pass between two wake-ups while commits keep coming: the longer of
 * api_config.events_batch_ms and the window in which the loop's streams, one send each,
 * stay within api_config.events_sends a second. */
static int64_t hub_window_us(void)
{
    int64_t w = api_config.events_batch_ms * 1000;

    if (api_config.events_sends > 0) {
        int64_t b = hub.streams * 1000000 / api_config.events_sends;
        if (b > w)
            w = b;
    }
    return w < 1000000 ? w : 1000000;
}

static void hub_tick(h2o_timeout_entry_t *e)
{
    h2o_linklist_t woken;
    int64_t now = txn_seen_rev();

    (void)e;
    if (hub.stopping() ||
        (now > hub.seen && time_mono_us() - hub.woke_us >= hub_window_us())) {
        /* Taken off the list first: a stream with nothing new for it waits again. */
        hub.seen = now;
        hub.woke_us = time_mono_us();
        h2o_linklist_init_anchor(&woken);
        h2o_linklist_insert_list(&woken, &hub.waiting);
        while (!h2o_linklist_is_empty(&woken)) {
            struct stream *s = H2O_STRUCT_FROM_MEMBER(struct stream, waiting, woken.next);
            h2o_linklist_unlink(&s->waiting);
            pump(s);
        }
    }
    if (!h2o_linklist_is_empty(&hub.waiting) && !h2o_timeout_is_linked(&hub.te))
        h2o_timeout_link(hub.loop, hub.tick, &hub.te);
}

static void unwait(struct stream *s)
{
    if (h2o_linklist_is_linked(&s->waiting))
        h2o_linklist_unlink(&s->waiting);
}

/* Idle: waits for a new revision (the hub) and for its next heartbeat (its own timer, which
 * keeps running from the last chunk sent). */
static void wait_hub(struct stream *s)
{
    if (s->done)
        return;
    if (s->seen < hub.seen)
        hub.seen = s->seen;
    if (!h2o_linklist_is_linked(&s->waiting))
        h2o_linklist_insert(&hub.waiting, &s->waiting);
    if (!h2o_timeout_is_linked(&s->te))
        h2o_timeout_link(s->loop, &hub.beat, &s->te);
    if (!h2o_timeout_is_linked(&hub.te))
        h2o_timeout_link(hub.loop, hub.tick, &hub.te);
}

/* Sending: the timer watches the client for a stall. */
static void arm(struct stream *s)
{
    if (!s->done && !h2o_timeout_is_linked(&s->te))
        h2o_timeout_link(s->loop, s->tick, &s->te);
}

static void send_buf(struct stream *s, bool final)
{
    h2o_iovec_t v = h2o_iovec_init(s->buf.len ? sbuf_str(&s->buf) : "", s->buf.len);
    h2o_socket_t *sock = s->req->conn->callbacks->get_socket
                             ? s->req->conn->callbacks->get_socket(s->req->conn)
                             : NULL;

    s->sending = true;
    if (!s->raw)
        atomic_fetch_add(&st_sends, 1);
    s->send_start_us = s->last_send_us = time_mono_us();
    unwait(s);
    h2o_timeout_unlink(&s->te); /* off the heartbeat's timeout, onto the tick (arm) */
    if (final) {
        s->done = true;
        h2o_timeout_unlink(&s->te);
    }
    else
        arm(s); /* watches for a client that takes this chunk too long */
    h2o_send(s->req, &v, 1, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
    conns_rearm(sock);
}

static enum api_stream_state fill(struct stream *s, bool ending)
{
    struct core_ctx cx;
    struct arena a;
    uint64_t before = s->r->stream_events;
    enum api_stream_state st;

    arena_init(&a);
    s->seen = txn_seen_rev();
    txn_read_begin(&cx, s->reader, &a);
    /* The fill reads up to what the instance has seen: so does its token check (a cached
     * check older than that may miss a revocation the stream is about to read). */
    cx.min_rev = s->seen;
    cx.auth_min_rev = s->seen;
    st = s->r->stream_fill(s->r, &cx, ending, &s->buf);
    txn_read_end(&cx);
    arena_release(&a);
    atomic_fetch_add(&st_events, s->r->stream_events - before);
    return st;
}

/* The next chunk, if there is one; else wait for the tick. Only when not sending. */
static void pump(struct stream *s)
{
    enum api_stream_state st;

    if (s->sending || s->done)
        return;
    sbuf_reset(&s->buf);
    if (s->stopping()) {
        s->r->stream_why = "shutdown";
        (void)fill(s, true);
        send_buf(s, true);
        return;
    }
    if (s->more || txn_seen_rev() > s->seen) {
        /* A plain body's fill may skip what it may not show: it goes on until it has
         * something to send, as it never waits for a revision. */
        do
            st = fill(s, false);
        while (s->raw && st == API_STREAM_MORE && s->buf.len == 0);
        s->more = st == API_STREAM_MORE;
        if (st == API_STREAM_END || st == API_STREAM_CUT) {
            if (st == API_STREAM_CUT)
                atomic_fetch_add(&st_cut, 1);
            send_buf(s, true);
            return;
        }
        if (s->buf.len) {
            send_buf(s, false);
            return;
        }
    }
    if (!s->raw && time_mono_us() - s->last_send_us >= api_config.events_heartbeat_ms * 1000) {
        /* A comment: proxies see traffic, clients ignore it. */
        sbuf_adds(&s->buf, ": heartbeat\n\n");
        send_buf(s, false);
        return;
    }
    wait_hub(s);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    struct stream *s = (struct stream *)g;

    (void)req;
    s->sending = false;
    h2o_timeout_unlink(&s->te); /* the stall watch: the client took the chunk */
    if (!s->raw && !s->more && !s->done && !s->stopping() &&
        time_mono_us() - hub.woke_us < hub_window_us()) {
        /* Within the window: what came meanwhile goes out at the hub's next wake-up. */
        wait_hub(s);
        return;
    }
    pump(s);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    struct stream *s = (struct stream *)g;

    (void)req;
    s->done = true;
    unwait(s);
    h2o_timeout_unlink(&s->te);
}

static void on_tick(h2o_timeout_entry_t *e)
{
    struct stream *s = H2O_STRUCT_FROM_MEMBER(struct stream, te, e);

    if (s->done)
        return;
    unwait(s);
    if (s->sending) {
        if (time_mono_us() - s->send_start_us >= api_config.events_stall_ms * 1000) {
            /* The client reads nothing: it cannot read a last event either. Shutting the
             * socket down makes h2o close the connection (and dispose of the stream); the
             * client resumes from the last id it got. */
            h2o_socket_t *sock = s->req->conn->callbacks->get_socket
                                     ? s->req->conn->callbacks->get_socket(s->req->conn)
                                     : NULL;
            log_info("events: cutting a stream whose client read nothing for %lld ms",
                     (long long)api_config.events_stall_ms);
            if (!s->raw)
                atomic_fetch_add(&st_cut, 1);
            s->done = true;
            unwait(s);
            if (sock)
                shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
            return;
        }
        arm(s);
        return;
    }
    pump(s);
}

static void on_dispose(void *p)
{
    struct stream *s = p;

    unwait(s);
    h2o_timeout_unlink(&s->te);
    sbuf_release(&s->buf);
    /* The request, as server.c's hreq_free frees it. */
    sbuf_release(&s->r->out);
    arena_release(&s->r->a);
    if (!s->raw) {
        atomic_fetch_sub(&st_subscribers, 1);
        assert(hub.streams > 0);
        hub.streams--;
    }
    xfree(s->r);
}

void stream_start(h2o_req_t *req, struct hreq *r, struct store_conn *reader, h2o_timeout_t *tick,
                  bool (*stopping)(void))
{
    struct stream *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_dispose);

    memset(s, 0, sizeof(*s));
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    s->req = req;
    s->r = r;
    s->reader = reader;
    s->loop = req->conn->ctx->loop;
    s->tick = tick;
    s->te.cb = on_tick;
    s->stopping = stopping;
    if (!hub.ready) {
        hub.ready = true;
        hub.loop = s->loop;
        hub.tick = tick;
        hub.te.cb = hub_tick;
        hub.stopping = stopping;
        hub.seen = txn_seen_rev();
        h2o_linklist_init_anchor(&hub.waiting);
        h2o_timeout_init(hub.loop, &hub.beat, (uint64_t)api_config.events_heartbeat_ms);
    }
    assert(hub.loop == s->loop);
    /* The first fill runs once the headers are out. */
    s->seen = -1;
    sbuf_init(&s->buf, 0);
    s->raw = r->stream_raw;
    if (!s->raw) {
        atomic_fetch_add(&st_subscribers, 1);
        atomic_fetch_add(&st_opened, 1);
        hub.streams++;
    }
    {
        /* The kernel's share of a stream's buffer: bounded too, so that a client that reads
         * nothing is found out (and cut) after this much, not after the megabytes the
         * kernel would grow the buffer to. */
        h2o_socket_t *sock = req->conn->callbacks->get_socket
                                 ? req->conn->callbacks->get_socket(req->conn)
                                 : NULL;
        int sz = STREAM_SNDBUF;
        if (sock)
            (void)setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    h2o_start_response(req, &s->gen);
    if (s->raw) {
        /* A body read in pages: the first page at once, the next whenever one is taken. */
        s->more = true;
        pump(s);
        return;
    }
    sbuf_adds(&s->buf, "retry: 1000\n\n");
    send_buf(s, false);
}
