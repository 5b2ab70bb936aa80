/* http/conns.c: connection and body budgets around h2o (conns.h).
 *
 * Each loop accepts with accept4 itself and keeps its connections in a list, oldest first.
 * A connection is anonymous until one of its requests presents a credential that is accepted.
 *
 * - Descriptors: the soft RLIMIT_NOFILE is raised to the hard one and --max-conns fitted to
 *   it at start; if accept still fails for want of descriptors, the loop stops accepting for
 *   PAUSE_MS instead of spinning on a listener that stays readable.
 * - Per address: at most --max-conns-per-addr connections of one client address, counted in a
 *   table shared by the loops.
 * - Reserve: anonymous connections may hold max_conns minus a reserve; past that, or at
 *   max_conns, the oldest anonymous connection without a request in the handler makes room
 *   (idle ones first), so a flood of idle sockets cannot lock out clients with credentials.
 *   Near that line anonymous connections idle for ANON_IDLE_MS are closed by the sweep.
 * - Bodies: h2o keeps the request head at the start of its input buffer until the response
 *   (server.c, framing_error). Every SWEEP_MS the sweep looks at each buffer: a request without
 *   any credential in its head that has sent more than --max-anon-body bytes is answered 413,
 *   and while all bodies in flight (input buffers and requests queued for the writer) take
 *   more than --max-body-memory-mb, the largest are answered 503 with Retry-After. A body is
 *   let in from its head only if the buffer it will grow to fits (buffer_for), and counts
 *   that much from then on.
 * - Reads: tagd, not h2o, reads each connection, a bounded slice per readiness event
 *   (read_slice), so that no socket holds the loop and a head is looked at before its body
 *   is read.
 *
 * Closing from outside h2o: a refused connection gets its answer written to the socket, its
 * write side shut and h2o's reading stopped; LINGER_MS later its read side is shut and h2o's
 * reading restarted, so h2o is handed the end and tears the connection down through its own path
 * (the pause lets the client read the answer before the unread body turns the close into a
 * reset).
 * An evicted connection is shut both ways at once. Every connection's bookkeeping goes in the
 * socket's on_close callback, which h2o calls as it disposes of the socket.
 *
 * Threads: a conn_loop and its connections belong to one loop thread; the per-address table
 * and the counters are shared (mutex, atomics). */
#include "http/conns.h"
#include "http/guard.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/timeu.h"

#define SWEEP_MS 50
#define PAUSE_MS 100
#define LINGER_MS 500
#define ANON_IDLE_MS 1000
#define ACCEPT_BATCH 16
#define VICTIM_SCAN 64
#define CHUNKED INT64_MAX /* read_head's body size for Transfer-Encoding */
/* The head's share of the input buffer when a body's size is checked there. */
#define HEAD_ALLOWANCE (64 * 1024)
/* Receive buffers: every connection starts with a small one (set on the listener, which
 * accepted sockets inherit), so that the kernel holds little of a body nobody will accept. A
 * request whose head shows a credential gets the large one for its body. The window scale is
 * fixed at the handshake from the system's maximum, not from this, so the window can still open
 * wide. */
#define RCVBUF_SMALL (16 * 1024)
#define RCVBUF_LARGE (512 * 1024)
/* What one readiness event reads from a connection (read_slice): HEAD_SLICE until its request's
 * head was checked and let through, BODY_SLICE after. The kernel's receive buffer does not bound
 * a read: while the client sends on another core, each read finds the buffer refilled, and
 * h2o 2.2.5 reads on for as long as a read fills the space it offered (doubling its buffer), so it
 * read a 2 MB body whole before anyone saw the head that refuses it, and one pass of the loop
 * over sixty such sockets took 60-300 ms (3 s on a loaded machine) while a new connection waited
 * in the listen queue. What is left stays in the kernel; the poller, level-triggered, reports the
 * socket again on the next pass, after every other ready socket and the listener had theirs. */
#define HEAD_SLICE (8 * 1024)
#define BODY_SLICE (128 * 1024)
/* Descriptors kept for what is not a client connection: the store's files and connections,
 * the loops' own sockets and pipes, libcurl's fetches, the log. */
#define FD_RESERVE 128

struct conn {
    struct conn_loop *cl;
    h2o_socket_t *sock;
    struct conn *prev, *next; /* the loop's list, oldest first */
    int fd;
    uint32_t addr;         /* IPv4, network order */
    int inflight;          /* requests in the handler whose pool is not gone yet */
    bool authed;           /* some request on it presented a credential that was accepted */
    bool closing;          /* evicted or refused: h2o will close it */
    bool head_checked;     /* the current request's head was looked at */
    bool large_rcvbuf;     /* a request with a credential needed room for its body */
    bool head_cred;        /* the checked head carries a credential */
    struct conn_hold *holds; /* requests of it whose pool is not gone yet */
    int64_t counted;       /* its input buffer's bytes in cl->body_bytes */
    int64_t reserved;      /* what that buffer grows to for the body let in (buffer_for) */
    size_t last_read;      /* sock->bytes_read at the last sweep */
    int64_t active_us;     /* when bytes last arrived */
    int64_t refused_us;    /* when the answer was written (0: not refused) */
    bool linger_over;      /* refused LINGER_MS ago: h2o is to see the end, nothing read */
    h2o_socket_cb saved_read;
    h2o_socket_cb h2o_read;  /* h2o's read callback, which on_conn_read calls on */
    h2o_socket_cb h2o_write; /* h2o's pending write callback, which on_conn_write calls */
    struct guard *guard;     /* the chunked framing check (http/guard.c) */
    int depth;               /* our callbacks on the stack for this socket */
    bool gone;               /* h2o closed the socket while depth > 0: freed when it unwinds */
};

struct conn_loop {
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    int listener_fd;
    h2o_accept_ctx_t *accept;
    struct conn *head, *tail;
    int n;     /* connections in the list */
    int nanon; /* of them anonymous and not closing */
    int nlive; /* of them not closing */
    h2o_timeout_t sweep_to, pause_to;
    h2o_timeout_entry_t sweep, resume;
    bool paused, stopped;
    atomic_llong body_bytes; /* input buffers holding a request, at the last sweep */
    int64_t last_pause_log_us;
};

/* A request's hold on its connection, released with the request's pool. */
struct conn_hold {
    struct conn *c; /* NULL once the connection is gone */
    struct conn_hold *next;
    size_t body_len;
};

static struct {
    int64_t max_conns, per_addr, reserve, anon_body, body_budget, max_body;
    conns_refusal_fn *refuse;
    pthread_mutex_t mu; /* the address table */
    uint32_t *keys;     /* 0: empty slot (0.0.0.0 never connects) */
    int32_t *counts;
    size_t cap; /* a power of two, at least twice the connections that can be open */
    size_t used; /* addresses in the table; kept below cap so that every probe ends */
    atomic_llong queued_body;
    struct conn_loop **loops;
    int nloops;
    atomic_ullong refused_limit, refused_addr, evicted, body_refused, body_budget_n, paused;
} C = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- the per-address table: open addressing, linear probing, backward-shift deletion ---- */

static size_t slot_of(uint32_t key)
{
    uint32_t h = key * 2654435761u;
    return (size_t)(h ^ (h >> 16)) & (C.cap - 1);
}

static bool addr_take(uint32_t key)
{
    size_t i;
    bool ok = true;

    if (key == 0 || C.per_addr <= 0)
        return true;
    pthread_mutex_lock(&C.mu);
    for (i = slot_of(key); C.keys[i] && C.keys[i] != key; i = (i + 1) & (C.cap - 1)) {
    }
    if (C.keys[i] == 0) {
        if (C.used + 1 >= C.cap) {
            ok = false;
        } else {
            C.keys[i] = key;
            C.counts[i] = 1;
            C.used++;
        }
    } else if (C.counts[i] >= C.per_addr) {
        ok = false;
    } else {
        C.counts[i]++;
    }
    pthread_mutex_unlock(&C.mu);
    return ok;
}

static void addr_release(uint32_t key)
{
    size_t i, j;

    if (key == 0 || C.per_addr <= 0)
        return;
    pthread_mutex_lock(&C.mu);
    for (i = slot_of(key); C.keys[i] && C.keys[i] != key; i = (i + 1) & (C.cap - 1)) {
    }
    assert(C.keys[i] == key && C.counts[i] > 0);
    if (--C.counts[i] == 0) {
        /* Move later entries of the probe run back so that no lookup stops early. */
        C.keys[i] = 0;
        C.used--;
        for (j = (i + 1) & (C.cap - 1); C.keys[j]; j = (j + 1) & (C.cap - 1)) {
            size_t home = slot_of(C.keys[j]);
            if (((j - home) & (C.cap - 1)) >= ((j - i) & (C.cap - 1))) {
                C.keys[i] = C.keys[j];
                C.counts[i] = C.counts[j];
                C.keys[j] = 0;
                i = j;
            }
        }
    }
    pthread_mutex_unlock(&C.mu);
}

/* ---- setup ---- */

int64_t conns_setup(const struct tagd_config *cfg, int nloops, conns_refusal_fn *refuse)
{
    struct rlimit rl;
    int64_t usable, fit, total, max_conns = cfg->max_conns;

    C.refuse = refuse;
    C.nloops = nloops;
    C.loops = xcalloc((size_t)nloops, sizeof(*C.loops));
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t want = rl.rlim_max;
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                getrlimit(RLIMIT_NOFILE, &rl);
        }
        usable = rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur - FD_RESERVE;
        fit = usable / nloops;
        if (fit < 1)
            fit = 1;
        if (max_conns > fit) {
            log_warn("--max-conns %lld per loop does not fit %lld open files: using %lld "
                     "(raise the open-files limit, e.g. LimitNOFILE=, for more)",
                     (long long)max_conns, (long long)rl.rlim_cur, (long long)fit);
            max_conns = fit;
        }
    }
    C.max_conns = max_conns;
    C.per_addr = cfg->max_conns_per_addr;
    /* An eighth of the slots, at least one, stays for connections that authenticated. */
    C.reserve = C.max_conns / 8 > 0 ? C.max_conns / 8 : (C.max_conns > 1 ? 1 : 0);
    C.anon_body = cfg->max_anon_body;
    C.max_body = cfg->max_body;
    C.body_budget = cfg->max_body_memory_mb * 1024 * 1024;
    total = C.max_conns * nloops;
    for (C.cap = 64; (int64_t)C.cap < 2 * total && C.cap < ((size_t)1 << 24); C.cap *= 2) {
    }
    C.keys = xcalloc(C.cap, sizeof(*C.keys));
    C.counts = xcalloc(C.cap, sizeof(*C.counts));
    return C.max_conns;
}

/* ---- the list ---- */

static void unlink_conn(struct conn *c)
{
    struct conn_loop *cl = c->cl;
    if (c->prev)
        c->prev->next = c->next;
    else
        cl->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        cl->tail = c->prev;
    cl->n--;
    if (!c->closing) {
        cl->nlive--;
        if (!c->authed)
            cl->nanon--;
    }
    assert(cl->n >= 0 && cl->nlive >= 0 && cl->nanon >= 0);
}

static void conn_free(struct conn *c)
{
    guard_free(c->guard);
    xfree(c);
}

static void on_conn_close(void *data)
{
    struct conn *c = data;
    atomic_fetch_sub(&c->cl->body_bytes, c->counted);
    c->counted = 0;
    /* h2o may dispose of the last request's pool after the socket. */
    for (struct conn_hold *h = c->holds; h; h = h->next)
        h->c = NULL;
    c->holds = NULL;
    unlink_conn(c);
    addr_release(c->addr);
    c->sock = NULL;
    if (c->depth > 0)
        c->gone = true;
    else
        conn_free(c);
}

static void mark_closing(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->cl->nlive--;
    if (!c->authed)
        c->cl->nanon--;
}

/* Keeps cl->body_bytes equal to the capacity of the input buffers that hold a request not yet
 * in the handler, as each one changes, so that the budget is checked against the present; a
 * body that was let in counts from its head on with the buffer it will grow to. */
static void account(struct conn *c)
{
    h2o_buffer_t *in = c->sock->input;
    int64_t now = !c->closing && !c->inflight && in->size ? (int64_t)in->capacity : 0;

    if (now && c->reserved > now)
        now = c->reserved;
    if (now != c->counted) {
        atomic_fetch_add(&c->cl->body_bytes, now - c->counted);
        c->counted = now;
    }
}

/* Closes an anonymous connection to make room: no answer is owed, nothing is in the handler. */
static void evict(struct conn *c)
{
    mark_closing(c);
    shutdown(c->fd, SHUT_RDWR);
    atomic_fetch_add(&C.evicted, 1);
}

static int32_t addr_count_locked(uint32_t key)
{
    size_t i;
    for (i = slot_of(key); C.keys[i] && C.keys[i] != key; i = (i + 1) & (C.cap - 1)) {
    }
    return C.keys[i] ? C.counts[i] : 0;
}

/* Makes room for a new connection from `addr`, or says it gets none. The candidates are the
 * oldest VICTIM_SCAN anonymous connections with nothing in the handler; of those, the one of
 * the address holding the most connections goes (idle before busy, then the oldest), unless
 * the newcomer's address holds as many: a flood from a few addresses then costs each of its
 * reconnects an accept and a close, while a client from anywhere else still gets in. */
static bool make_room(struct conn_loop *cl, uint32_t addr, int64_t now)
{
    struct conn *cand[VICTIM_SCAN], *best = NULL;
    int32_t counts[VICTIM_SCAN], mine, top = -1;
    int n = 0;

    for (struct conn *c = cl->head; c && n < VICTIM_SCAN; c = c->next)
        if (!c->closing && !c->authed && !c->inflight)
            cand[n++] = c;
    if (n == 0)
        return false;
    pthread_mutex_lock(&C.mu);
    mine = addr ? addr_count_locked(addr) : 0;
    for (int i = 0; i < n; i++)
        counts[i] = cand[i]->addr ? addr_count_locked(cand[i]->addr) : 0;
    pthread_mutex_unlock(&C.mu);
    for (int i = 0; i < n; i++) {
        bool idle = cand[i]->sock->input->size == 0 ||
                    now - cand[i]->active_us > ANON_IDLE_MS * 1000LL;
        bool best_idle = best && (best->sock->input->size == 0 ||
                                  now - best->active_us > ANON_IDLE_MS * 1000LL);
        if (counts[i] > top || (counts[i] == top && idle && !best_idle)) {
            top = counts[i];
            best = cand[i];
        }
    }
    if (C.per_addr > 0 && addr && mine >= top)
        return false;
    evict(best);
    return true;
}

/* ---- accepting ---- */

static void on_resume(h2o_timeout_entry_t *e);

static void pause_accepting(struct conn_loop *cl, int err)
{
    int64_t now = time_mono_us();

    atomic_fetch_add(&C.paused, 1);
    if (now - cl->last_pause_log_us > 10 * 1000000LL) {
        log_warn("accept: %s: not accepting for %d ms (open connections %d; raise the "
                 "open-files limit or lower --max-conns)",
                 strerror(err), PAUSE_MS, cl->n);
        cl->last_pause_log_us = now;
    }
    cl->paused = true;
    h2o_socket_read_stop(cl->listener);
    h2o_timeout_link(cl->loop, &cl->pause_to, &cl->resume);
}

static void on_listener(h2o_socket_t *listener, const char *err);

static void on_resume(h2o_timeout_entry_t *e)
{
    struct conn_loop *cl = H2O_STRUCT_FROM_MEMBER(struct conn_loop, resume, e);
    cl->paused = false;
    if (!cl->stopped)
        h2o_socket_read_start(cl->listener, on_listener);
}

static void on_conn_read(h2o_socket_t *sock, const char *err);
static void on_conn_write(h2o_socket_t *sock, const char *err);

/* Puts our callbacks in front of h2o's. h2o installs its read callback again only inside its
 * own socket callbacks (after a response was written, for keep-alive, or after "100 Continue")
 * and at accept, and its write callback when it starts a write; so arming after accept, after
 * each of h2o's callbacks returns and after tagd starts a response (conns_rearm) keeps every
 * read and write going through them. Assigning _cb directly (not h2o_socket_read_start) keeps
 * the socket's polling as h2o set it: a callback is only replaced by another one. */
static void arm(struct conn *c)
{
    h2o_socket_t *sock = c->sock;

    if (sock->_cb.read != NULL && sock->_cb.read != on_conn_read) {
        c->h2o_read = sock->_cb.read;
        sock->_cb.read = on_conn_read;
    }
    if (sock->_cb.write != NULL && sock->_cb.write != on_conn_write) {
        c->h2o_write = sock->_cb.write;
        sock->_cb.write = on_conn_write;
    }
}

static void accept_one(struct conn_loop *cl, int fd, const struct sockaddr_in *sa)
{
    int64_t now = time_mono_us();
    uint32_t addr = sa->sin_family == AF_INET ? sa->sin_addr.s_addr : 0;
    int on = 1;
    struct conn *c;
    h2o_socket_t *sock;

    if ((cl->nlive >= C.max_conns || cl->nanon >= C.max_conns - C.reserve) &&
        !make_room(cl, addr, now)) {
        atomic_fetch_add(&C.refused_limit, 1);
        close(fd);
        return;
    }
    if (!addr_take(addr)) {
        atomic_fetch_add(&C.refused_addr, 1);
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    /* h2o only notifies: on_conn_read reads (read_slice). */
    sock = h2o_evloop_socket_create(
        cl->loop, fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION | H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_setpeername(sock, (struct sockaddr *)sa, sizeof(*sa));
    c = xcalloc(1, sizeof(*c));
    c->cl = cl;
    c->sock = sock;
    c->fd = fd;
    c->addr = addr;
    c->active_us = now;
    c->prev = cl->tail;
    if (cl->tail)
        cl->tail->next = c;
    else
        cl->head = c;
    cl->tail = c;
    cl->n++;
    cl->nlive++;
    cl->nanon++;
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = c;
    c->guard = guard_new(cl->accept->ctx, C.max_body);
    h2o_accept(cl->accept, sock);
    arm(c);
}

static void on_listener(h2o_socket_t *listener, const char *err)
{
    struct conn_loop *cl = listener->data;

    if (err != NULL || cl->stopped)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        int fd = accept4(cl->listener_fd, (struct sockaddr *)&sa, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(cl, errno);
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        accept_one(cl, fd, &sa);
    }
}

/* ---- the sweep ---- */

/* The request head at the start of the input buffer: its method and path (copied, bounded),
 * whether it carries anything that can be a credential, and its length with the blank line.
 * False when no complete head is there. */
static bool read_head(const h2o_buffer_t *in, char *method, size_t mcap, char *path,
                      size_t pcap, bool *credential, int64_t *body, size_t *head_len)
{
    const char *p = in->bytes, *end = in->bytes + in->size, *eol, *sp1, *sp2;
    size_t n;

    *credential = false;
    *body = 0;
    eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL)
        return false;
    sp1 = memchr(p, ' ', (size_t)(eol - p));
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL)
        return false;
    n = (size_t)(sp1 - p) < mcap - 1 ? (size_t)(sp1 - p) : mcap - 1;
    memcpy(method, p, n);
    method[n] = '\0';
    n = (size_t)(sp2 - sp1 - 1) < pcap - 1 ? (size_t)(sp2 - sp1 - 1) : pcap - 1;
    memcpy(path, sp1 + 1, n);
    path[n] = '\0';
    /* easydb and Oracle also take tokens in the query. */
    if (memmem(sp1, (size_t)(sp2 - sp1), "token=", 6) != NULL)
        *credential = true;
    for (p = eol + 1; p < end; p = eol + 1) {
        /* As carries_credentials in server.c. */
        static const char *const names[] = {"authorization:", "cookie:",      "x-api-key:",
                                            "api-key:",       "x-easydb-token:", "accesstoken:",
                                            "applinkid:",     "linkid:"};
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            return false;
        if (eol == p || (eol == p + 1 && *p == '\r')) {
            *head_len = (size_t)(eol + 1 - in->bytes);
            return true;
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if ((size_t)(eol - p) > strlen(names[i]) &&
                strncasecmp(p, names[i], strlen(names[i])) == 0)
                *credential = true;
        /* What the body will be: announced, or unbounded when chunked. h2o has checked the
         * framing already; this only sizes the request. */
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            *body = strtoll(p + 15, NULL, 10);
        else if ((size_t)(eol - p) > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0)
            *body = CHUNKED;
    }
    return false;
}

/* Answers a request that is still arriving, then lets h2o close the connection (see top). */
static void refuse(struct conn *c, int status, const char *msg, int retry_after)
{
    char method[16] = "", path[512] = "";
    bool cred;
    int64_t body;
    struct sbuf out;
    size_t head_len;

    read_head(c->sock->input, method, sizeof(method), path, sizeof(path), &cred, &body, &head_len);
    sbuf_init(&out, 0);
    C.refuse(method[0] ? method : NULL, path[0] ? path : NULL, status, msg, retry_after, &out);
    /* A best effort: the socket's buffer takes a short answer whole; if not, the client
     * sees the connection close. */
    if (send(c->fd, sbuf_str(&out), out.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("refusal not sent: %s", strerror(errno));
    sbuf_release(&out);
    shutdown(c->fd, SHUT_WR);
    mark_closing(c);
    account(c);
    c->saved_read = c->sock->_cb.read;
    if (c->saved_read)
        h2o_socket_read_stop(c->sock);
    c->refused_us = time_mono_us();
}

static int64_t global_body_bytes(void);

/* The input buffer h2o 2.2.5 grows to for a request of `n` bytes: from the prototype's size it
 * doubles whenever a read would have less than 4096 bytes of room. The budget counts buffers
 * (account), so a body is let in by what its buffer will take: counted by its length, a 2 MB
 * body came in beside seven others, grew a 4 MB buffer, put the total over and was refused
 * after it had been read, and its client's next try took its place again: under
 * test_bodies_in_flight_have_a_memory_budget about 69 MB/s were read and thrown away. */
static int64_t buffer_for(int64_t n)
{
    int64_t cap = (int64_t)h2o_socket_buffer_prototype._initial_buf.capacity;

    if (cap <= 0)
        cap = 8192;
    while (cap < n + 4096 && cap < INT64_MAX / 2)
        cap *= 2;
    return cap;
}

/* Whether what `c` holds may be taken back when the total is over the budget: a body larger
 * than --max-anon-body that was not let in from its head, or has outgrown what it was let in
 * with. Not a head or a small body: over the budget by a few of those, the refusal went to a
 * body that had been let in, and the next try of its client took the room again. */
static bool past_its_share(const struct conn *c)
{
    const h2o_buffer_t *in = c->sock->input;

    if ((int64_t)in->size <= C.anon_body)
        return false;
    return c->reserved == 0 || (int64_t)in->capacity > c->reserved;
}

/* Looks at a body as it arrives, so that a refusal comes after one read past the bound rather
 * than a sweep later: false when the connection was refused. */
static bool check_body(struct conn *c)
{
    h2o_buffer_t *in = c->sock->input;
    char method[16], path[512];
    bool cred;
    int64_t body, sized;
    size_t head_len;

    account(c);
    if (c->closing || c->inflight || in->size == 0)
        return true;
    /* From the head alone, as soon as it is there, before the body is read: a body without
     * credentials announced larger than the bound, or one that cannot fit beside those in
     * flight. A chunked body announces nothing: it counts as --max-body here, and a chunked
     * body without credentials is cut off below once it has sent more than the bound. */
    if (!c->head_checked &&
        read_head(in, method, sizeof(method), path, sizeof(path), &cred, &body, &head_len)) {
        c->head_checked = true;
        c->head_cred = cred;
        sized = body == CHUNKED ? C.max_body : body;
        if (!cred && body != CHUNKED && body > C.anon_body) {
            atomic_fetch_add(&C.body_refused, 1);
            refuse(c, 413, "a request without credentials may send a body of at most "
                           "--max-anon-body bytes", 0);
            return false;
        }
        if (sized > C.anon_body) {
            int64_t need = buffer_for((int64_t)head_len + sized);
            if (global_body_bytes() + need - c->counted > C.body_budget) {
                atomic_fetch_add(&C.body_budget_n, 1);
                refuse(c, 503, "the server holds as many request bodies as it may: try again",
                       1);
                return false;
            }
            c->reserved = need;
            account(c);
        }
        if (cred && sized > RCVBUF_SMALL && !c->large_rcvbuf) {
            int large = RCVBUF_LARGE;
            setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &large, sizeof(large));
            c->large_rcvbuf = true;
        }
    }
    if (c->head_checked && !c->head_cred && (int64_t)in->size > C.anon_body + HEAD_ALLOWANCE) {
        atomic_fetch_add(&C.body_refused, 1);
        refuse(c, 413, "a request without credentials may send a body of at most "
                       "--max-anon-body bytes", 0);
        return false;
    }
    if (past_its_share(c) && global_body_bytes() > C.body_budget) {
        atomic_fetch_add(&C.body_budget_n, 1);
        refuse(c, 503, "the server holds as many request bodies as it may: try again", 1);
        return false;
    }
    return true;
}

/* After one of h2o's callbacks returned: the guard's turn, and our callbacks back in front. */
static void after_h2o(struct conn *c)
{
    if (c->gone)
        return;
    guard_after(c->guard, c->sock);
    if (!c->gone)
        arm(c);
}

static void leave(struct conn *c)
{
    if (--c->depth == 0 && c->gone)
        conn_free(c);
}

/* Reads what one readiness event may take from the connection (HEAD_SLICE, BODY_SLICE) into
 * h2o's input buffer as h2o's own read would, with the same buffer growth and errors (the end is
 * one only when nothing came before it). */
static const char *read_slice(struct conn *c)
{
    h2o_socket_t *sock = c->sock;
    size_t limit = c->head_checked && !c->closing ? BODY_SLICE : HEAD_SLICE, got = 0;

    if (c->linger_over)
        return h2o_socket_error_closed;
    while (got < limit) {
        h2o_iovec_t buf = h2o_buffer_reserve(&sock->input, 4096);
        size_t want;
        ssize_t n;

        if (buf.base == NULL)
            return h2o_socket_error_out_of_memory;
        want = buf.len < limit - got ? buf.len : limit - got;
        while ((n = read(c->fd, buf.base, want)) < 0 && errno == EINTR) {
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return h2o_socket_error_io;
        }
        if (n == 0)
            return got ? NULL : h2o_socket_error_closed;
        sock->input->size += (size_t)n;
        sock->bytes_read += (size_t)n;
        got += (size_t)n;
        if ((size_t)n < want)
            break;
    }
    if (got)
        c->active_us = time_mono_us();
    return NULL;
}

static void on_conn_read(h2o_socket_t *sock, const char *err)
{
    struct conn *c = sock->on_close.data;

    assert(sock->on_close.cb == on_conn_close && c->h2o_read != NULL);
    c->depth++;
    if (err == NULL)
        err = read_slice(c);
    if (err == NULL) {
        guard_before_read(c->guard, sock);
        if (!check_body(c))
            goto out;
    }
    /* h2o may start reading with another callback, stop, or close the socket in there. */
    c->h2o_read(sock, err);
    after_h2o(c);
out:
    leave(c);
}

static void on_conn_write(h2o_socket_t *sock, const char *err)
{
    struct conn *c = sock->on_close.data;
    h2o_socket_cb cb = c->h2o_write;

    assert(sock->on_close.cb == on_conn_close);
    c->h2o_write = NULL;
    if (cb == NULL)
        return;
    c->depth++;
    cb(sock, err);
    after_h2o(c);
    leave(c);
}

void conns_rearm(h2o_socket_t *sock)
{
    struct conn *c = sock && sock->on_close.cb == on_conn_close ? sock->on_close.data : NULL;
    if (c && !c->gone)
        arm(c);
}

static int64_t global_body_bytes(void)
{
    int64_t sum = atomic_load(&C.queued_body);
    for (int i = 0; i < C.nloops; i++)
        if (C.loops[i])
            sum += atomic_load(&C.loops[i]->body_bytes);
    return sum;
}

static void on_sweep(h2o_timeout_entry_t *e)
{
    struct conn_loop *cl = H2O_STRUCT_FROM_MEMBER(struct conn_loop, sweep, e);
    int64_t now = time_mono_us();
    bool crowded = cl->nanon >= (C.max_conns - C.reserve) * 3 / 4;
    struct conn *c, *next;

    for (c = cl->head; c; c = next) {
        next = c->next;
        if (c->refused_us) {
            if (now - c->refused_us >= LINGER_MS * 1000LL && c->saved_read) {
                /* Nothing more is read: the shut socket polls readable and read_slice hands
                 * h2o the end. Draining what the client sent meanwhile (recv with MSG_TRUNC
                 * until it ran dry) went on for as long as the client kept sending: under
                 * test_bodies_without_credentials_are_refused_early one sweep made 2,702
                 * such calls and held the loop 263 ms. */
                shutdown(c->fd, SHUT_RD);
                c->linger_over = true;
                h2o_socket_read_start(c->sock, c->saved_read);
                c->saved_read = NULL;
            }
            continue;
        }
        if (c->closing)
            continue;
        arm(c);
        if (c->sock->bytes_read != c->last_read) {
            c->last_read = c->sock->bytes_read;
            c->active_us = now;
        }
        if (c->sock->input->size == 0 || c->inflight) {
            account(c);
            if (crowded && !c->authed && !c->inflight && now - c->active_us > ANON_IDLE_MS * 1000LL)
                evict(c);
            continue;
        }
        check_body(c);
    }
    /* Over budget (reads refuse the connection that grows; this catches what no read will):
     * the largest bodies still arriving on this loop go first. */
    while (global_body_bytes() > C.body_budget) {
        struct conn *big = NULL;
        for (c = cl->head; c; c = c->next)
            if (c->counted && past_its_share(c) && (big == NULL || c->counted > big->counted))
                big = c;
        if (big == NULL)
            break;
        atomic_fetch_add(&C.body_budget_n, 1);
        refuse(big, 503, "the server holds as many request bodies as it may: try again", 1);
    }
    if (!cl->stopped)
        h2o_timeout_link(cl->loop, &cl->sweep_to, &cl->sweep);
}

/* ---- loops ---- */

struct conn_loop *conns_loop_new(h2o_evloop_t *loop, h2o_socket_t *listener, int listener_fd,
                                 h2o_accept_ctx_t *accept)
{
    struct conn_loop *cl = xcalloc(1, sizeof(*cl));

    cl->loop = loop;
    cl->listener = listener;
    cl->listener_fd = listener_fd;
    cl->accept = accept;
    listener->data = cl;
    {
        int small = RCVBUF_SMALL;
        setsockopt(listener_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    }
    h2o_timeout_init(loop, &cl->sweep_to, SWEEP_MS);
    h2o_timeout_init(loop, &cl->pause_to, PAUSE_MS);
    cl->sweep.cb = on_sweep;
    cl->resume.cb = on_resume;
    for (int i = 0; i < C.nloops; i++)
        if (C.loops[i] == NULL) {
            C.loops[i] = cl;
            break;
        }
    h2o_socket_read_start(listener, on_listener);
    h2o_timeout_link(loop, &cl->sweep_to, &cl->sweep);
    return cl;
}

void conns_loop_stop(struct conn_loop *cl)
{
    cl->stopped = true;
    if (h2o_timeout_is_linked(&cl->sweep))
        h2o_timeout_unlink(&cl->sweep);
    if (h2o_timeout_is_linked(&cl->resume))
        h2o_timeout_unlink(&cl->resume);
}

void conns_loop_free(struct conn_loop *cl)
{
    struct conn *c, *next;

    if (cl == NULL)
        return;
    conns_loop_stop(cl);
    /* The event loop is gone for good: h2o will not close these, so they are only forgotten. */
    for (c = cl->head; c; c = next) {
        next = c->next;
        c->sock->on_close.cb = NULL;
        c->sock->on_close.data = NULL;
        atomic_fetch_sub(&cl->body_bytes, c->counted);
        for (struct conn_hold *h = c->holds; h; h = h->next)
            h->c = NULL;
        addr_release(c->addr);
        conn_free(c);
    }
    for (int i = 0; i < C.nloops; i++)
        if (C.loops[i] == cl)
            C.loops[i] = NULL;
    xfree(cl);
}

int conns_loop_count(const struct conn_loop *cl)
{
    return cl->n;
}

/* ---- requests ---- */

static struct conn *conn_of(h2o_req_t *req)
{
    h2o_socket_t *sock;

    if (req->conn->callbacks->get_socket == NULL)
        return NULL;
    sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->on_close.cb != on_conn_close)
        return NULL;
    return sock->on_close.data;
}

static void on_hold_dispose(void *p)
{
    struct conn_hold *h = p;
    atomic_fetch_sub(&C.queued_body, (long long)h->body_len);
    if (h->c) {
        struct conn_hold **pp = &h->c->holds;
        while (*pp != h)
            pp = &(*pp)->next;
        *pp = h->next;
        assert(h->c->inflight > 0);
        h->c->inflight--;
        /* The next request on the connection brings its own head. */
        h->c->head_checked = false;
        h->c->reserved = 0;
        account(h->c);
    }
}

bool conns_request_begin(h2o_req_t *req, size_t body_len)
{
    struct conn *c = conn_of(req);
    struct conn_hold *h;

    /* Its input buffer leaves the count as the body joins the queue (account below). */
    if (body_len &&
        global_body_bytes() - (c ? c->counted : 0) + (int64_t)body_len > C.body_budget) {
        atomic_fetch_add(&C.body_budget_n, 1);
        return false;
    }
    h = h2o_mem_alloc_shared(&req->pool, sizeof(*h), on_hold_dispose);
    h->c = c;
    h->body_len = body_len;
    atomic_fetch_add(&C.queued_body, (long long)body_len);
    h->next = NULL;
    if (h->c) {
        h->next = h->c->holds;
        h->c->holds = h;
        h->c->inflight++;
        account(h->c);
    }
    return true;
}

void conns_mark_authed(h2o_req_t *req)
{
    struct conn *c = conn_of(req);
    if (c == NULL || c->authed)
        return;
    c->authed = true;
    if (!c->closing)
        c->cl->nanon--;
}

uint32_t conns_peer(h2o_req_t *req)
{
    struct conn *c = conn_of(req);
    return c ? c->addr : 0;
}

void conns_stats(struct conns_stats *out)
{
    out->refused_limit = atomic_load(&C.refused_limit);
    out->refused_addr = atomic_load(&C.refused_addr);
    out->evicted = atomic_load(&C.evicted);
    out->body_refused = atomic_load(&C.body_refused);
    out->body_budget = atomic_load(&C.body_budget_n);
    out->accept_paused = atomic_load(&C.paused);
    out->body_bytes = global_body_bytes();
}
