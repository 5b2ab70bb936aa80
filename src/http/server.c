/* http/server.c: h2o event loops, listeners, request copy, respond, parking, drain.
 *
 * Shape: N loop threads, each with its own h2o context, SO_REUSEPORT listener and read-only
 * store connection, share nothing. A request is copied into a self-contained struct hreq.
 * Reads run on the loop inside a short read transaction. Writes go to the write pipeline
 * (txn/txn.h) as jobs: its writer runs each request's handler in a savepoint of a group
 * commit (server_ops below is how it calls back into the request), its publisher hands the
 * result back to the request's loop with an h2o_multithread message, and the loop sends the
 * response. No answer leaves before its commit is durable and in the engine.
 *
 * A client may close its connection while its write is queued: a shared object in the
 * request's pool notices the disposal and detaches the job, so the result is dropped.
 *
 * A read with X-Tagd-Min-Revision above what this instance has seen committed (txn_seen_rev)
 * is parked on a loop timer, without blocking the loop, until the revision is seen or
 * --min-revision-wait ms have passed, then answered 503 with Retry-After. */
#include "http/server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <h2o.h>

#include "api/ratelimit.h"
#include "http/conns.h"
#include "http/listen.h"
#include "http/router.h"
#include "http/stream.h"
#include "txn/txn.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/notify.h"
#include "util/timeu.h"

#define MAX_STATUS 600

static const int64_t latency_buckets_us[] = {100,   250,    500,    1000,   2500,    5000, 10000,
                                             25000, 50000, 100000, 250000, 500000, 1000000};
#define NBUCKETS (sizeof(latency_buckets_us) / sizeof(latency_buckets_us[0]))

/* Per route (the router's index; nroutes: no route matched). */
struct metrics {
    atomic_ullong *by_route_status; /* (nroutes + 1) x MAX_STATUS */
    atomic_ullong *buckets;         /* (nroutes + 1) x (NBUCKETS + 1), not cumulative */
    atomic_ullong *latency_count;   /* nroutes + 1 */
    atomic_ullong *latency_sum_us;  /* nroutes + 1 */
};

struct loop_thread {
    h2o_context_t ctx; /* first: handlers find their thread from req->conn->ctx */
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    struct conn_loop *conns; /* accepts on the listener; the budgets of http/conns.h */
    h2o_multithread_receiver_t receiver;
    struct store_conn *reader;
    h2o_timeout_t park_tick; /* re-checks parked X-Tagd-Min-Revision reads */
    pthread_t tid;
    int index;
    int fd;
    int64_t last_req_us; /* when this loop last saw a request arrive (drain) */
    atomic_ullong served; /* responses sent by this loop (metrics: load across loops) */
};

struct job;
struct job_guard {
    struct job *job;
};

/* A write on its way through the pipeline: from submit_write until the loop gets it back
 * (on_writer_done) it is the pipeline's, apart from `req` and `guard`, which only the loop
 * touches. */
struct job {
    h2o_multithread_message_t super;
    struct txn_job txn;
    struct hreq *r;
    h2o_req_t *req; /* NULL once the client went away */
    struct job_guard *guard;
    struct loop_thread *thread;
    int route_index;
    int64_t start_us;
    /* What its handler returned (job_run), or API_ROLLBACK once the pipeline answered it an
     * error (job_fail); written by the pipeline, read by the loop from on_writer_done on. */
    enum api_result res;
};

/* A published configuration: immutable once published. A replaced one stays, linked from its
 * successor, until server_run returns, since a loop may still read it: about 6 KB per
 * SIGHUP. */
struct cfg_version {
    struct tagd_config cfg;
    struct cfg_version *older;
};

static struct {
    _Atomic(struct cfg_version *) live;
    server_reload_fn *reload;
    struct store *store;
    h2o_globalconf_t config;
    struct loop_thread *threads;
    int nthreads;
    atomic_int inflight;
    atomic_llong seq;
    struct metrics m;
    char id_prefix[9];
} S;

#define PARK_TICK_MS 5
#define FLOOR_WAIT_MS 1000

/* A read waiting for a revision; lives until answered or until its client goes away. */
struct parked {
    h2o_timeout_entry_t te;
    struct parked_guard *guard;
    h2o_req_t *req;
    struct hreq *r;
    struct loop_thread *t;
    int route_index;
    int64_t start_us, want, deadline_us;
    bool wait; /* a long poll (api_wait): `want` is the handler's, the read runs at any rev */
};

struct parked_guard {
    struct parked *p;
};

static void submit_write(struct loop_thread *t, h2o_req_t *req, struct hreq *r, int index,
                         int64_t start);

static volatile sig_atomic_t stop_requested, reload_requested;

/* For http/stream.c: streams end when the server drains. */
static bool stopping(void) { return stop_requested != 0; }

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

static const struct tagd_config *cfg_now(void)
{
    return &atomic_load_explicit(&S.live, memory_order_acquire)->cfg;
}

const struct tagd_config *server_config(void) { return cfg_now(); }

void server_set_config(const struct tagd_config *cfg)
{
    struct cfg_version *v = xcalloc(1, sizeof(*v));

    v->cfg = *cfg;
    v->older = atomic_load(&S.live);
    atomic_store_explicit(&S.live, v, memory_order_release);
}

/* ---- request ids, limits, copying ---- */

static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* What h2o 2.2.5 lets through in a request head, checked on the head itself. The head is still
 * at the start of the connection's input buffer (h2o consumes it only after the response),
 * already validated by h2o's parser; its header lines are scanned for:
 * - a second, different Content-Length, or Content-Length with Transfer-Encoding: h2o keeps only
 *   the first Content-Length (a Transfer-Encoding wins over it) and passes neither header on, a
 *   request smuggling vector when a proxy in front frames the body by the other one;
 * - folded lines (obs-fold, a line starting with SP or HTAB): h2o takes them as a header without
 *   a name, a proxy may unfold them into the header before; RFC 9112 5.2 allows a 400;
 * - two Host headers: h2o keeps the last one, a proxy may route by the first (RFC 9112 3.2:
 *   400);
 * - an HTTP/1 minor version other than 0 and 1: h2o serves HTTP/1.9 as HTTP/1.1 (505).
 * Returns why the request is refused, with *status_out 400 or 505, or NULL. */
static const char *framing_error(h2o_req_t *req, int *status_out)
{
    const char *cl = NULL, *p, *end, *eol;
    size_t cl_len = 0;
    bool te = false;
    int hosts = 0;
    h2o_socket_t *sock;

    *status_out = 400;
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return NULL;
    sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return NULL;
    p = sock->input->bytes;
    end = p + sock->input->size;
    while (p < end && (*p == '\r' || *p == '\n')) /* h2o skips an empty line before it */
        p++;
    if ((size_t)(end - p) < req->input.method.len ||
        memcmp(p, req->input.method.base, req->input.method.len) != 0)
        return NULL;
    eol = memchr(p, '\n', (size_t)(end - p)); /* the request line: "... HTTP/1.x" */
    if (eol == NULL)
        return NULL;
    {
        const char *ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (ve - p >= 8 && memcmp(ve - 8, "HTTP/1.", 7) == 0 && ve[-1] != '0' && ve[-1] != '1') {
            *status_out = 505;
            return "only HTTP/1.0 and HTTP/1.1 are served";
        }
    }
    p = eol;
    while (p != NULL && ++p < end) {
        const char *colon, *v, *ve;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            break;
        ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (ve == p) /* the blank line ends the head */
            break;
        if (*p == ' ' || *p == '\t')
            return "folded header line (obs-fold)";
        colon = memchr(p, ':', (size_t)(ve - p));
        if (colon != NULL) {
            size_t nlen = (size_t)(colon - p);
            for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++) {
            }
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (nlen == 4 && strncasecmp(p, "host", 4) == 0 && ++hosts > 1)
                return "more than one host header";
            if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0) {
                if (cl && (cl_len != (size_t)(ve - v) || memcmp(cl, v, cl_len) != 0))
                    return "conflicting content-length headers";
                cl = v;
                cl_len = (size_t)(ve - v);
            } else if (nlen == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
                te = true;
            }
        }
        p = eol;
    }
    if (cl && te && req->entity.base != NULL)
        return "both content-length and transfer-encoding";
    return NULL;
}

/* The prefix and 8 hex digits of the sequence, without printf (every request). */
static const char *new_request_id(struct hreq *r)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t seq = (uint64_t)atomic_fetch_add(&S.seq, 1);
    size_t pl = strlen(S.id_prefix), nd = 8;
    char *id;

    while (nd < 16 && (seq >> (4 * nd)) != 0)
        nd++;
    id = arena_alloc(&r->a, pl + nd + 1);
    memcpy(id, S.id_prefix, pl);
    for (size_t k = nd; k-- > 0; seq >>= 4)
        id[pl + k] = hex[seq & 15];
    id[pl + nd] = '\0';
    return id;
}

static struct hreq *hreq_from(h2o_req_t *req, int *status, const char **why)
{
    struct hreq *r = xcalloc(1, sizeof(*r));
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    size_t hdr_bytes = 0, i;
    int framing_status;
    const char *framing = framing_error(req, &framing_status);

    arena_init(&r->a);
    sbuf_init(&r->out, 0);
    r->method = arena_strndup(&r->a, req->method.base, req->method.len);
    r->path = arena_strndup(&r->a, req->path.base, path_len);
    r->query = req->query_at != SIZE_MAX
                   ? arena_strndup(&r->a, req->path.base + req->query_at + 1,
                                   req->path.len - req->query_at - 1)
                   : "";
    r->headers = arena_alloc(&r->a, (req->headers.size + 1) * sizeof(struct kv));
    for (i = 0; i < req->headers.size; i++) {
        h2o_header_t *h = req->headers.entries + i;
        char *name = arena_strndup(&r->a, h->name->base, h->name->len);
        for (char *p = name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        r->headers[i].name = name;
        r->headers[i].value = arena_strndup(&r->a, h->value.base, h->value.len);
        hdr_bytes += h->name->len + h->value.len;
        if (memchr(h->value.base, '\0', h->value.len)) {
            *status = 400;
            *why = "header holds a NUL byte";
        }
    }
    r->nheaders = req->headers.size;
    if (framing) {
        /* Where the next request starts is unclear: answer, then close. */
        *status = framing_status;
        *why = framing;
        req->http1_is_persistent = 0;
    }
    if ((int64_t)hdr_bytes > cfg_now()->max_header_bytes) {
        *status = 431;
        *why = "request headers too large";
    }
    if (req->entity.base) {
        r->body = arena_strndup(&r->a, req->entity.base, req->entity.len);
        r->body_len = req->entity.len;
    }
    {
        const char *rid = NULL;
        for (i = 0; i < r->nheaders; i++)
            if (strcmp(r->headers[i].name, "x-request-id") == 0)
                rid = r->headers[i].value;
        if (rid && id_ok(rid, strlen(rid)))
            r->request_id = rid;
        else
            r->request_id = new_request_id(r);
    }
    r->peer = conns_peer(req);
    r->status = 0;
    return r;
}

static void hreq_free(struct hreq *r)
{
    if (r == NULL)
        return;
    sbuf_release(&r->out);
    arena_release(&r->a);
    xfree(r);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
    }
}

static void observe(int route_index, int status, int64_t us)
{
    size_t b;
    if (status < 100 || status >= MAX_STATUS)
        status = 500;
    atomic_fetch_add(&S.m.by_route_status[(size_t)route_index * MAX_STATUS + (size_t)status], 1);
    for (b = 0; b < NBUCKETS && us > latency_buckets_us[b]; b++) {
    }
    atomic_fetch_add(&S.m.buckets[(size_t)route_index * (NBUCKETS + 1) + b], 1);
    atomic_fetch_add(&S.m.latency_count[route_index], 1);
    atomic_fetch_add(&S.m.latency_sum_us[route_index], (unsigned long long)us);
}

/* ---- security headers and CORS ---- */

/* True when the request carries, or asks for, a credential: its answer may hold private data
 * or a secret, so no cache may keep it. Header names in r are lower case. */
static bool carries_credentials(struct hreq *r)
{
    static const char *const names[] = {"authorization", "x-api-key", "api-key",
                                        "x-easydb-token", "accesstoken", "applinkid",
                                        "linkid", "cookie"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (api_header(r, names[i]))
            return true;
    return api_query_has(r, "token");
}

static bool handler_set(struct hreq *r, const char *name)
{
    for (int i = 0; i < r->nres_headers; i++)
        if (strcasecmp(r->res_headers[i].name, name) == 0)
            return true;
    return false;
}

/* The request's Origin when it is the configured one, else NULL (CORS off or foreign). */
static const char *cors_allowed(struct hreq *r)
{
    const char *o = api_header(r, "origin"), *allowed = cfg_now()->cors_origin;
    if (allowed[0] == '\0' || o == NULL || strcasecmp(o, allowed) != 0)
        return NULL;
    return allowed;
}

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v.base,
                          v.len);
}

static void add_security_headers(h2o_req_t *req, struct hreq *r)
{
    const char *origin;

    add_header(req, "x-content-type-options", "nosniff");
    /* A dialect whose contract names its own caching (easydb's cache_seconds) keeps it. */
    if (carries_credentials(r) && !handler_set(r, "cache-control"))
        add_header(req, "cache-control", "no-store");
    /* A dialect whose contract has its own CORS rule (LaunchDarkly echoes any Origin, with
     * no credentials) owns these headers; tagd's rule applies to every other answer. */
    if (handler_set(r, "access-control-allow-origin")) {
        if (!handler_set(r, "vary"))
            add_header(req, "vary", "Origin");
        return;
    }
    if (cfg_now()->cors_origin[0] == '\0')
        return;
    /* The answer depends on Origin, so shared caches must key on it. */
    add_header(req, "vary", "Origin");
    origin = cors_allowed(r);
    if (origin == NULL)
        return;
    add_header(req, "access-control-allow-origin", origin);
    add_header(req, "access-control-allow-credentials", "true");
    add_header(req, "access-control-expose-headers",
               "X-Request-Id, X-Tagd-Revision, X-Tagd-Alias, ETag, Location, Retry-After, "
               "WWW-Authenticate, "
               "X-Easydb-Base-Schema-Version, X-Easydb-User-Schema-Version, "
               "X-Easydb-API-Version");
}

/* Answers a CORS preflight from the configured origin (204); false when r is none. Other
 * origins get the router's answer: OPTIONS is an unknown method there. */
static bool cors_preflight(struct hreq *r)
{
    const char *want_method = api_header(r, "access-control-request-method");
    const char *want_headers = api_header(r, "access-control-request-headers");

    if (strcmp(r->method, "OPTIONS") != 0 || want_method == NULL || cors_allowed(r) == NULL)
        return false;
    api_no_content(r);
    api_set_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE");
    if (want_headers && strlen(want_headers) <= 1024 &&
        strspn(want_headers, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "-_, ") == strlen(want_headers))
        api_set_header(r, "Access-Control-Allow-Headers", want_headers);
    api_set_header(r, "Access-Control-Max-Age", "600");
    return true;
}

/* Sends r's response on req, logs it, and frees r. `res` says how the answer in r was made:
 * a handler's result (its body rendered now for API_RENDER_LATER), or API_ROLLBACK for an
 * error http/ rendered itself. */
static void respond(h2o_req_t *req, struct hreq *r, enum api_result res, int route_index,
                    int64_t start_us)
{
    h2o_socket_t *sock;
    int64_t us;
    size_t len;
    char rev[32];

    assert(res != API_RUN_AS_WRITE);
    if (res == API_RENDER_LATER) {
        assert(r->render != NULL && r->status >= 200 && r->status < 300);
        r->render(r, r->render_arg);
    }
    len = r->out.len;
    if (r->status == 0)
        r->status = 500;
    /* Draining: answer, then close, so keep-alive clients move on. */
    if (stop_requested)
        req->http1_is_persistent = 0;
    req->res.status = r->status;
    req->res.reason = reason(r->status);
    if (r->content_type && r->status != 204)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       h2o_strdup(&req->pool, r->content_type, SIZE_MAX).base,
                       strlen(r->content_type));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          h2o_strdup(&req->pool, r->request_id, SIZE_MAX).base,
                          strlen(r->request_id));
    if (r->revision > 0) {
        size_t n = sbuf_fmt_int(rev, r->revision);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-tagd-revision"), 0,
                              NULL, h2o_strdup(&req->pool, rev, n).base, n);
    }
    for (int i = 0; i < r->nres_headers; i++) {
        h2o_iovec_t n = h2o_strdup(&req->pool, r->res_headers[i].name, SIZE_MAX);
        h2o_iovec_t v = h2o_strdup(&req->pool, r->res_headers[i].value, SIZE_MAX);
        h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 0, NULL, v.base,
                              v.len);
    }
    /* Every 503 is a "come back later": say when, whatever the dialect rendered. */
    if (r->status == 503 && !handler_set(r, "retry-after"))
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("retry-after"), 0, NULL,
                              H2O_STRLIT("1"));
    add_security_headers(req, r);
    if (r->status == 204 || r->status == 304)
        len = 0;
    if (r->authed)
        conns_mark_authed(req);
    ratelimit_addr_after(r);
    us = time_mono_us() - start_us;
    observe(route_index, r->status, us);
    atomic_fetch_add(&((struct loop_thread *)req->conn->ctx)->served, 1);
    if (log_access_on()) { /* formatting the address was 5% of a query's instructions */
        char client[INET_ADDRSTRLEN] = "";
        if (r->peer) {
            struct in_addr in = {.s_addr = r->peer};
            inet_ntop(AF_INET, &in, client, sizeof(client));
        }
        log_access(r->method, r->path, r->status, len, (long long)us, r->request_id, client,
                   r->principal);
    }
    if (r->stream_fill && r->status == 200) {
        stream_start(req, r, ((struct loop_thread *)req->conn->ctx)->reader,
                     &((struct loop_thread *)req->conn->ctx)->park_tick, stopping);
        return;
    }
    req->res.content_length = len;
    sock = req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    h2o_send_inline(req, len ? sbuf_str(&r->out) : "", len);
    /* h2o installs its read callback again once this is written: see http/conns.c. */
    conns_rearm(sock);
    hreq_free(r);
}

/* A whole answer for http/conns.c, which refuses requests whose body is still arriving and
 * writes to the socket itself: the dialect's error, logged as respond() logs. */
static void render_refusal(const char *method, const char *path, int status, const char *msg,
                           int retry_after, struct sbuf *out)
{
    struct hreq *r = xcalloc(1, sizeof(*r));
    const char *q;

    arena_init(&r->a);
    sbuf_init(&r->out, 0);
    r->method = method ? method : "-";
    q = path ? strchr(path, '?') : NULL;
    r->path = path ? (q ? arena_strndup(&r->a, path, (size_t)(q - path)) : path) : "/";
    r->query = "";
    r->request_id = new_request_id(r);
    r->d = api_dialect_for_path(r->path);
    api_failf(r, status == 413 ? TG_ELIMIT : TG_EBUSY, "body", "%s", msg);
    sbuf_printf(out, "HTTP/1.1 %d %s\r\nconnection: close\r\ncontent-length: %zu\r\n"
                     "x-request-id: %s\r\nx-content-type-options: nosniff\r\n",
                r->status, reason(r->status), r->out.len, r->request_id);
    if (r->content_type)
        sbuf_printf(out, "content-type: %s\r\n", r->content_type);
    for (int i = 0; i < r->nres_headers; i++)
        sbuf_printf(out, "%s: %s\r\n", r->res_headers[i].name, r->res_headers[i].value);
    if (retry_after > 0)
        sbuf_printf(out, "retry-after: %d\r\n", retry_after);
    sbuf_adds(out, "\r\n");
    sbuf_add(out, sbuf_str(&r->out), r->out.len);
    observe(router_count(), r->status, 0);
    log_access(r->method, r->path, r->status, r->out.len, 0LL, r->request_id, NULL, NULL);
    hreq_free(r);
}

/* ---- running handlers ---- */

/* X-Tagd-Min-Revision as a number (0 without the header); false when it is not one. */
static bool min_revision(struct hreq *r, int64_t *want)
{
    const char *minrev = api_header(r, "x-tagd-min-revision");
    char *end;

    *want = 0;
    if (minrev == NULL)
        return true;
    errno = 0;
    *want = strtoll(minrev, &end, 10);
    return !(errno || end == minrev || *end != '\0' || *want < 0);
}

/* Runs a read and returns its handler's result, for the caller to act on: API_RUN_AS_WRITE,
 * the answer dropped, to submit it as a write; API_NOT_YET, having answered nothing, when the
 * request needs a revision not seen yet and `last_try` is false, to park it and try again
 * (on the last try, the 503 that says so is the answer); else the answer, to respond. */
static enum api_result run_read(struct loop_thread *t, struct hreq *r, int64_t want,
                                bool last_try)
{
    struct core_ctx cx;
    enum api_result res;

    if (!(r->route->flags & ROUTE_NOLIMIT) && txn_expiry_pending()) {
        /* An assignment has expired that the engine and the store still hold until the
         * writer's sweep is published (a batch away): wait for it, as for a revision. The
         * system endpoints read no assignment and answer at once. */
        if (!last_try)
            return API_NOT_YET;
        return api_not_yet(r, txn_seen_rev() + 1);
    }
    txn_read_begin(&cx, t->reader, &r->a);
    cx.min_rev = want;
    cx.auth_min_rev = want;
    if (want > txn_seen_rev()) {
        /* The tailer may lag behind the store by a notification: this read's snapshot is
         * what it would answer from, so it is the final word. */
        int64_t now = core_current_rev(&cx);
        if (now > txn_seen_rev())
            txn_wake_tailer();
        txn_note_rev(now);
        if (want > txn_seen_rev()) {
            txn_read_end(&cx);
            if (!last_try)
                return API_NOT_YET;
            return api_not_yet(r, want);
        }
    }
    /* Never an older revision than this instance answered already (txn_seen_rev, which every
     * answer raises; see txn_read_rev): the engine serves only from a snapshot at least
     * that new, else the read goes to SQL, or, on a route only the engine answers, waits for
     * the engine as for X-Tagd-Min-Revision. The store's snapshot, taken after this, is at
     * least that new by itself. */
    cx.min_rev = txn_seen_rev();
    if (cx.min_rev < want)
        cx.min_rev = want;
    assert(r->status == 0);
    cx.api = r->route->d ? r->route->d->name : NULL;
    res = r->route->fn(r, &cx);
    r->authed = cx.authed;
    if (cx.authed && cx.who.name)
        r->principal = arena_strdup(&r->a, cx.who.name);
    /* A read writes nothing, so it neither renders later nor rolls back a success. */
    assert(res == API_ANSWER || res == API_ROLLBACK || res == API_NOT_YET ||
           res == API_RUN_AS_WRITE || res == API_WAIT);
    assert(res != API_WAIT || (r->status == 0 && r->wait_rev > 0 && !r->wait_over));
    assert(res != API_ROLLBACK || r->status >= 300);
    assert(res != API_NOT_YET || r->status == 503);
    assert(res != API_ANSWER || (r->status >= 100 && r->status < 400));
    if (res == API_NOT_YET && !last_try) {
        /* The store has the revision but the engine, which alone answers this route, has
         * not applied it yet (the tailer is a notification behind): the answer is dropped,
         * and the tailer, which may be polling, tails now. */
        txn_wake_tailer();
        txn_read_end(&cx);
        api_reset_answer(r);
        return res;
    }
    if (r->revision == 0)
        r->revision = txn_read_rev(&cx);
    txn_note_rev(r->revision);
    txn_read_end(&cx);
    if (res == API_RUN_AS_WRITE)
        api_reset_answer(r); /* the writer runs it again from the start */
    return res;
}

static void on_parked_dispose(void *p)
{
    struct parked_guard *g = p;
    struct parked *pk = g->p;
    if (pk == NULL)
        return;
    /* The client went away while waiting: nothing to answer. */
    h2o_timeout_unlink(&pk->te);
    hreq_free(pk->r);
    atomic_fetch_sub(&S.inflight, 1);
    xfree(pk);
}

/* A long poll's tick: runs the handler again once its revision is seen or its time is up;
 * the handler may wait again (what came was another organization's), up to the same deadline. */
static bool wait_tick(struct parked *pk, bool last, enum api_result *res)
{
    if (!last && (txn_seen_rev() < pk->want || txn_expiry_pending()))
        return false;
    pk->r->wait_over = last;
    *res = run_read(pk->t, pk->r, 0, true);
    if (*res == API_WAIT) {
        assert(!last);
        pk->want = pk->r->wait_rev;
        pk->r->wait_rev = 0;
        return false;
    }
    return true;
}

static void on_park_tick(h2o_timeout_entry_t *e)
{
    struct parked *pk = H2O_STRUCT_FROM_MEMBER(struct parked, te, e);
    bool last = stop_requested || time_mono_us() >= pk->deadline_us;
    enum api_result res;

    if (pk->wait) {
        if (!wait_tick(pk, last, &res)) {
            h2o_timeout_link(pk->t->loop, &pk->t->park_tick, &pk->te);
            return;
        }
        pk->guard->p = NULL;
        respond(pk->req, pk->r, res, pk->route_index, pk->start_us);
        atomic_fetch_sub(&S.inflight, 1);
        xfree(pk);
        return;
    }

    if (!last && txn_seen_rev() < pk->want) {
        h2o_timeout_link(pk->t->loop, &pk->t->park_tick, &pk->te);
        return;
    }
    res = run_read(pk->t, pk->r, pk->want, last);
    if (res == API_NOT_YET && !last) {
        h2o_timeout_link(pk->t->loop, &pk->t->park_tick, &pk->te);
        return;
    }
    if (res == API_WAIT) {
        /* The revision it asked for came, and the handler has nothing past it: a long poll. */
        pk->wait = true;
        pk->want = pk->r->wait_rev;
        pk->deadline_us = pk->start_us + pk->r->wait_ms * 1000;
        pk->r->wait_rev = 0;
        h2o_timeout_link(pk->t->loop, &pk->t->park_tick, &pk->te);
        return;
    }
    pk->guard->p = NULL;
    if (res == API_RUN_AS_WRITE)
        submit_write(pk->t, pk->req, pk->r, pk->route_index, pk->start_us);
    else
        respond(pk->req, pk->r, res, pk->route_index, pk->start_us);
    atomic_fetch_sub(&S.inflight, 1);
    xfree(pk);
}

static struct parked *park(struct loop_thread *t, h2o_req_t *req, struct hreq *r, int index,
                           int64_t start, int64_t want)
{
    struct parked *pk = xcalloc(1, sizeof(*pk));
    pk->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*pk->guard), on_parked_dispose);
    pk->guard->p = pk;
    pk->te.cb = on_park_tick;
    pk->req = req;
    pk->r = r;
    pk->t = t;
    pk->route_index = index;
    pk->start_us = start;
    pk->want = want;
    /* A read that asked for no revision waits only for the engine to reach what this
     * instance answered already (run_read): a moment, even where clients may not wait. */
    pk->deadline_us = time_mono_us() + (want == 0 && cfg_now()->min_revision_wait_ms == 0
                                            ? FLOOR_WAIT_MS
                                            : cfg_now()->min_revision_wait_ms) * 1000;
    atomic_fetch_add(&S.inflight, 1);
    h2o_timeout_link(t->loop, &t->park_tick, &pk->te);
    return pk;
}

/* Parks a long poll (the handler called api_wait) until its revision or its deadline. */
static void park_wait(struct loop_thread *t, h2o_req_t *req, struct hreq *r, int index,
                      int64_t start)
{
    int64_t want = r->wait_rev, ms = r->wait_ms;
    struct parked *pk;

    assert(want > 0 && ms > 0);
    r->wait_rev = 0;
    pk = park(t, req, r, index, start, want);
    pk->wait = true;
    pk->deadline_us = start + ms * 1000;
}

static void detach_guard(struct job *j)
{
    if (j->guard)
        j->guard->job = NULL;
    j->guard = NULL;
}

static void on_guard_dispose(void *p)
{
    struct job_guard *g = p;
    if (g->job) {
        g->job->req = NULL;
        g->job->guard = NULL;
    }
}

/* ---- how the write pipeline runs a request (struct txn_ops) ---- */

#define JOB(tj) H2O_STRUCT_FROM_MEMBER(struct job, txn, (tj))

/* The handler in the writer's savepoint (the fetch step and a retry reset what prepare or a
 * failed attempt left): its result, not its status, decides whether what it wrote is kept;
 * the two must agree, as a write's result can only be an answer, now or rendered later, or
 * an error. */
static enum txn_outcome job_run(struct txn_job *tj, struct core_ctx *cx)
{
    struct job *j = JOB(tj);
    struct hreq *r = j->r;

    assert(r->status == 0);
    /* Each change record says which API made it: the route's dialect. */
    cx->api = r->route->d ? r->route->d->name : NULL;
    if (r->route->d && r->route->d->write)
        j->res = r->route->d->write(r, cx, r->route->fn);
    else
        j->res = r->route->fn(r, cx);
    r->authed = cx->authed;
    if (cx->authed && cx->who.name)
        r->principal = arena_strdup(&r->a, cx->who.name);
    assert(j->res == API_ANSWER || j->res == API_ROLLBACK || j->res == API_RENDER_LATER);
    assert(j->res != API_ROLLBACK || r->status >= 300);
    assert(j->res == API_ROLLBACK || (r->status >= 200 && r->status < 300));
    assert(j->res != API_RENDER_LATER || r->render != NULL);
    if (j->res == API_ROLLBACK)
        return TXN_UNDO;
    if ((j->res == API_ANSWER || j->res == API_RENDER_LATER) && r->status >= 200 &&
        r->status < 300)
        return TXN_KEEP;
    /* Only a bug gets here (asserted above), and a build without asserts still keeps no
     * write that does not answer a success: an error answer stays, anything else is one. */
    log_error("%s %s: handler result %d with status %d", r->method, r->path, (int)j->res,
              r->status);
    if (j->res == API_ANSWER && r->status >= 300)
        j->res = API_ROLLBACK;
    else
        j->res = api_failf(r, TG_EINTERNAL, "", "handler produced no response");
    return TXN_UNDO;
}

static void job_prepare(struct txn_job *tj, struct core_ctx *cx)
{
    struct hreq *r = JOB(tj)->r;
    r->prep = r->route->prepare(r, cx);
}

static void job_reset(struct txn_job *tj) { api_reset_answer(JOB(tj)->r); }

static void job_fail(struct txn_job *tj, int code, const struct tg_err *err)
{
    struct job *j = JOB(tj);
    j->res = api_fail(j->r, code, err);
}

/* On the publisher: back to the request's loop. */
static void job_done(struct txn_job *tj)
{
    struct job *j = JOB(tj);
    j->r->revision = tj->revision;
    h2o_multithread_send_message(&j->thread->receiver, &j->super);
}

static const struct txn_ops server_ops = {
    .run = job_run,
    .prepare = job_prepare,
    .reset = job_reset,
    .fail = job_fail,
    .done = job_done,
};

static void on_writer_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        struct job *j = H2O_STRUCT_FROM_MEMBER(struct job, super.link, messages->next);
        h2o_linklist_unlink(&j->super.link);
        if (j->req) {
            detach_guard(j);
            respond(j->req, j->r, j->res, j->route_index, j->start_us);
        } else {
            hreq_free(j->r);
        }
        atomic_fetch_sub(&S.inflight, 1);
        xfree(j);
    }
}

/* ---- the h2o handler ---- */

/* Hands a write (or a read that turned out to write, API_RUN_AS_WRITE) to the writer. */
static void submit_write(struct loop_thread *t, h2o_req_t *req, struct hreq *r, int index,
                         int64_t start)
{
    struct job *j = xcalloc(1, sizeof(*j));
    struct job_guard *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), on_guard_dispose);

    assert(r->status == 0);
    g->job = j;
    j->guard = g;
    j->r = r;
    j->req = req;
    j->thread = t;
    j->route_index = index;
    j->start_us = start;
    j->txn.a = &r->a;
    atomic_fetch_add(&S.inflight, 1);
    txn_submit(&j->txn, r->route->prepare != NULL);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct loop_thread *t = (struct loop_thread *)req->conn->ctx;
    int64_t start = time_mono_us();
    int status = 0, index = router_count();
    const char *why = NULL;
    struct hreq *r;
    enum router_result m;

    (void)self;
    r = hreq_from(req, &status, &why);
    r->d = api_dialect_for_path(r->path);
    if (status) {
        api_failf(r, status == 431 ? TG_ELIMIT : TG_EINVAL, "headers", "%s", why);
        r->status = status;
        respond(req, r, API_ROLLBACK, index, start);
        return 0;
    }
    t->last_req_us = start;
    if (!conns_request_begin(req, r->body_len)) {
        api_failf(r, TG_EBUSY, "body",
                  "the server holds as many request bodies as it may: try again");
        api_set_header(r, "Retry-After", "1");
        respond(req, r, API_ROLLBACK, index, start);
        return 0;
    }
    m = router_match(r, &index);
    if (m != ROUTER_OK) {
        index = router_count();
        /* Only where no dialect serves OPTIONS itself. */
        if (cors_preflight(r)) {
            respond(req, r, API_ANSWER, index, start);
            return 0;
        }
        if (m == ROUTER_BAD_METHOD)
            api_failf(r, TG_EMETHOD, "method", "method %s is not allowed here", r->method);
        else if (m == ROUTER_BAD_PATH)
            api_failf(r, TG_EINVAL, "path", "malformed path");
        else
            api_failf(r, TG_ENOTFOUND, "path", "no such endpoint: %s %s", r->method, r->path);
        respond(req, r, API_ROLLBACK, index, start);
        return 0;
    }
    r->d = r->route->d ? r->route->d : r->d;
    if (r->body_len > (size_t)cfg_now()->max_body) {
        api_failf(r, TG_ELIMIT, "body", "body is larger than %lld bytes",
                  (long long)cfg_now()->max_body);
        respond(req, r, API_ROLLBACK, index, start);
        return 0;
    }
    if (ratelimit_addr_before(r, !carries_credentials(r))) {
        respond(req, r, API_ROLLBACK, index, start);
        return 0;
    }
    if (!(r->route->flags & ROUTE_WRITE)) {
        int64_t want;
        if (!min_revision(r, &want)) {
            api_failf(r, TG_EINVAL, "X-Tagd-Min-Revision",
                      "X-Tagd-Min-Revision must be a revision number");
            respond(req, r, API_ROLLBACK, index, start);
            return 0;
        }
        bool last = (cfg_now()->min_revision_wait_ms == 0 && want > 0) || stop_requested;
        enum api_result res = run_read(t, r, want, last);

        if (res == API_NOT_YET && !last)
            park(t, req, r, index, start, want);
        else if (res == API_WAIT)
            park_wait(t, req, r, index, start);
        else if (res == API_RUN_AS_WRITE)
            submit_write(t, req, r, index, start);
        else
            respond(req, r, res, index, start);
        return 0;
    }
    submit_write(t, req, r, index, start);
    return 0;
}

/* ---- metrics ---- */

/* What this layer counted, for api/metrics.c (api_metrics_source): a copy, taken now. */
static void http_stats(struct api_http_stats *o, struct arena *a)
{
    int nr = router_count();
    size_t n = 0, cap = 64;
    struct api_route_count *counts = arena_alloc(a, cap * sizeof(*counts));
    struct api_route_latency *lat = arena_alloc(a, ((size_t)nr + 1) * sizeof(*lat));
    size_t nlat = 0;
    int *loop_conns = arena_alloc(a, (size_t)S.nthreads * sizeof(*loop_conns) + 1);
    unsigned long long *loop_served =
        arena_alloc(a, (size_t)S.nthreads * sizeof(*loop_served) + 1);
    struct conns_stats cs;

    for (int i = 0; i <= nr; i++) {
        for (int st = 100; st < MAX_STATUS; st++) {
            unsigned long long v =
                atomic_load(&S.m.by_route_status[(size_t)i * MAX_STATUS + (size_t)st]);
            if (v == 0)
                continue;
            if (n == cap) {
                struct api_route_count *more = arena_alloc(a, 2 * cap * sizeof(*more));
                memcpy(more, counts, n * sizeof(*more));
                counts = more;
                cap *= 2;
            }
            counts[n].route = router_at(i);
            counts[n].status = st;
            counts[n++].n = v;
        }
    }
    o->counts = counts;
    o->ncounts = n;
    for (int i = 0; i <= nr; i++) {
        unsigned long long c = atomic_load(&S.m.latency_count[i]), *bk;
        if (c == 0)
            continue;
        bk = arena_alloc(a, (NBUCKETS + 1) * sizeof(*bk));
        for (size_t k = 0; k <= NBUCKETS; k++)
            bk[k] = atomic_load(&S.m.buckets[(size_t)i * (NBUCKETS + 1) + k]);
        lat[nlat].route = router_at(i);
        lat[nlat].buckets = bk;
        lat[nlat].count = c;
        lat[nlat++].sum_us = atomic_load(&S.m.latency_sum_us[i]);
    }
    o->latency = lat;
    o->nlatency = nlat;
    o->bucket_le_us = latency_buckets_us;
    o->nbuckets = (int)NBUCKETS;
    conns_stats(&cs);
    o->refused_limit = cs.refused_limit;
    o->refused_addr = cs.refused_addr;
    o->evicted = cs.evicted;
    o->body_refused = cs.body_refused;
    o->body_budget = cs.body_budget;
    o->accept_paused = cs.accept_paused;
    o->body_bytes = cs.body_bytes;
    for (int i = 0; i < S.nthreads; i++) {
        loop_conns[i] = S.threads[i].conns ? conns_loop_count(S.threads[i].conns) : 0;
        loop_served[i] = atomic_load(&S.threads[i].served);
    }
    o->nloops = S.nthreads;
    o->loop_conns = loop_conns;
    o->loop_served = loop_served;
    {
        struct stream_stats ss;
        stream_stats_get(&ss);
        o->events_subscribers = ss.subscribers;
        o->events_opened = ss.opened;
        o->events_sent = ss.events;
        o->events_cut = ss.cut;
        o->events_sends = ss.sends;
    }
}

/* ---- listeners and loops ---- */

int parse_listen(const char *s, struct sockaddr_in *sa)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    long port;
    char *end;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (host[0] == '\0' || strcmp(host, "*") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return 0;
}

/* SO_REUSEPORT lets every loop own a listener, but it also lets another process of the same
 * user bind the same port and silently take a share of the connections. A plain bind first
 * (no SO_REUSEPORT) fails when anyone holds the port; only then do the loops bind together. */
int port_is_free(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1, ok;
    if (fd < 0)
        return 0;
    ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
         bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    close(fd);
    return ok;
}

static int open_listener(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Drain: stop accepting, then keep the loop running so requests already sent on accepted
 * connections are read and answered (exiting with unread bytes would reset those
 * connections). The loop ends once no write is in flight and no request arrived for a short
 * quiet period, or when --drain-timeout runs out. */
#define DRAIN_QUIET_US 100000

static void *loop_main(void *arg)
{
    struct loop_thread *t = arg;
    int64_t drain_start = 0;

    for (;;) {
        int64_t now;
        /* The signal lands on any thread; where it interrupts epoll_wait, h2o_evloop_run
         * fails with EINTR. That is the cue to drain, not to leave the loop. */
        if (h2o_evloop_run(t->loop, drain_start ? 10 : 100) != 0 && errno != EINTR) {
            log_error("event loop %d: %s", t->index, strerror(errno));
            break;
        }
        if (t->index == 0)
            notify_watchdog_tick(); /* the first loop is alive, so is the service */
        if (t->index == 0 && reload_requested && !stop_requested) {
            reload_requested = 0;
            notify_send("RELOADING=1\nSTATUS=reloading the configuration");
            if (S.reload)
                S.reload();
            notify_send("READY=1\nSTATUS=ready");
        }
        if (!stop_requested)
            continue;
        now = time_mono_us();
        if (t->listener) {
            if (t->index == 0)
                notify_send("STOPPING=1\nSTATUS=draining");
            conns_loop_stop(t->conns);
            h2o_socket_read_stop(t->listener);
            h2o_socket_close(t->listener);
            t->listener = NULL;
            drain_start = now;
        }
        if (now - drain_start > cfg_now()->drain_timeout_ms * 1000)
            break;
        if (atomic_load(&S.inflight) == 0 && now - drain_start >= DRAIN_QUIET_US &&
            now - t->last_req_us >= DRAIN_QUIET_US)
            break;
    }
    api_cache_thread_done();
    core_thread_done();
    return NULL;
}

/* ---- while the engine loads ---- */

/* The first loop's listener is open while the engine loads, so that load balancers and probes
 * hear "not yet" (503 on /readyz and every other path) rather than a refused connection, and
 * the port is held from the start. A thread of its own answers each connection in turn and
 * closes it; it stops before h2o takes the listener over, and connections not accepted by then
 * wait in the backlog for h2o. */
static struct {
    pthread_t tid;
    int fd;
    atomic_bool stop;
    bool running;
} L;

static void *loading_main(void *arg)
{
    static const char answer[] =
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n"
        "content-type: application/json\r\nretry-after: 1\r\n"
        "x-content-type-options: nosniff\r\ncontent-length: 59\r\n\r\n"
        "{\"status\":\"loading\",\"message\":\"tagd is loading its store\"}\n";
    (void)arg;
    while (!atomic_load(&L.stop)) {
        struct pollfd pfd = {.fd = L.fd, .events = POLLIN};
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        char head[4096];
        int c;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        c = accept4(L.fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        /* The head is read (at most one slow read) so that closing does not reset it. */
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (recv(c, head, sizeof(head), 0) > 0 &&
            send(c, answer, sizeof(answer) - 1, MSG_NOSIGNAL) > 0)
            shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

static void loading_start(int fd)
{
    L.fd = fd;
    atomic_store(&L.stop, false);
    L.running = pthread_create(&L.tid, NULL, loading_main, NULL) == 0;
    if (L.running)
        pthread_setname_np(L.tid, "tagd-loading");
}

static void loading_stop(void)
{
    if (!L.running)
        return;
    atomic_store(&L.stop, true);
    pthread_join(L.tid, NULL);
    L.running = false;
}

/* A start that fails: the pipeline's connections and the store's threads around its writer,
 * which store_close would otherwise wait for, end here. */
static int start_failed(void)
{
    loading_stop();
    txn_stop();
    for (int i = 0; S.threads && i < S.nthreads; i++)
        txn_reader_close(S.threads[i].reader);
    return 2;
}

int server_run(const struct tagd_config *cfg, struct store *store, server_reload_fn *reload)
{
    struct sockaddr_in sa;
    struct sigaction sig;
    struct tg_err err;
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    h2o_handler_t *handler;
    unsigned char rnd[4];
    int i, rc = 0;

    memset(&S, 0, sizeof(S));
    server_set_config(cfg);
    S.reload = reload;
    S.store = store;
    S.nthreads = cfg->threads;
    {
        FILE *f = fopen("/dev/urandom", "rb");
        if (f == NULL || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd))
            memset(rnd, 0x5a, sizeof(rnd));
        if (f)
            fclose(f);
        snprintf(S.id_prefix, sizeof(S.id_prefix), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                 rnd[3]);
    }
    router_init();
    conns_setup(cfg, S.nthreads, render_refusal);
    api_metrics_source(http_stats);
    S.m.by_route_status = xcalloc(((size_t)router_count() + 1) * MAX_STATUS, sizeof(atomic_ullong));
    S.m.buckets = xcalloc(((size_t)router_count() + 1) * (NBUCKETS + 1), sizeof(atomic_ullong));
    S.m.latency_count = xcalloc((size_t)router_count() + 1, sizeof(atomic_ullong));
    S.m.latency_sum_us = xcalloc((size_t)router_count() + 1, sizeof(atomic_ullong));

    if (parse_listen(cfg->listen, &sa) != 0) {
        log_error("cannot parse --listen '%s' (want ADDR:PORT)", cfg->listen);
        return 2;
    }
    memset(&sig, 0, sizeof(sig));
    sig.sa_handler = on_signal;
    sigaction(SIGTERM, &sig, NULL);
    sigaction(SIGINT, &sig, NULL);
    sigaction(SIGHUP, &sig, NULL);
    signal(SIGPIPE, SIG_IGN);

    h2o_config_init(&S.config);
    S.config.server_name = h2o_iovec_init(H2O_STRLIT("tagd")); /* no version to fingerprint */
    S.config.http1.upgrade_to_http2 = 0; /* HTTP/1.1 only: h2o 2.2.5's h2 code is unpatched */
    S.config.max_request_entity_size = (size_t)cfg->max_body * 2 + 65536;
    S.config.http1.req_timeout = (uint64_t)cfg->idle_timeout_ms;
    host = h2o_config_register_host(&S.config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;

    S.threads = xcalloc((size_t)S.nthreads, sizeof(*S.threads));
    if (sa.sin_port != 0 && !port_is_free(&sa)) {
        log_error("cannot listen on %s: address already in use", cfg->listen);
        return start_failed();
    }
    S.threads[0].fd = open_listener(&sa);
    if (S.threads[0].fd < 0) {
        log_error("cannot listen on %s: %s", cfg->listen, strerror(errno));
        return start_failed();
    }
    loading_start(S.threads[0].fd);
    tg_err_clear(&err);
    notify_send("STATUS=loading the store's index and the engine");
    if (txn_open(store, &server_ops, (int)cfg->tail_poll_ms, &err) != 0)
        return start_failed(); /* txn_open said why */
    loading_stop();
    /* Every loop's context (its multithread queue's socket, its listener) is created here on the
     * main thread, so those sockets' buffers belong to the main thread's (thread-local) buffer
     * prototype while the loop threads read into them and free them. h2o 2.2.5 recycles freed
     * buffers through that prototype's unlocked list: from several threads it corrupts the heap
     * (TSan race in read(); "h2o_mem_alloc_recycle: Assertion chunk != NULL"). Without
     * recycling on the main thread's prototype nothing is shared but constants. */
    h2o_socket_buffer_prototype.allocator.max = 0;
    for (i = 0; i < S.nthreads; i++) {
        struct loop_thread *t = &S.threads[i];
        t->index = i;
        t->loop = h2o_evloop_create();
        h2o_context_init(&t->ctx, t->loop, &S.config);
        t->accept_ctx.ctx = &t->ctx;
        t->accept_ctx.hosts = S.config.hosts;
        h2o_multithread_register_receiver(t->ctx.queue, &t->receiver, on_writer_done);
        h2o_timeout_init(t->loop, &t->park_tick, PARK_TICK_MS);
        t->reader = txn_reader_open(&err);
        if (t->reader == NULL) {
            log_error("store: %s", err.msg);
            return start_failed();
        }
        if (i > 0) {
            /* Bound to the first loop's port: with --listen ADDR:0 the kernel chose it. */
            struct sockaddr_in first;
            socklen_t flen = sizeof(first);
            if (getsockname(S.threads[0].fd, (struct sockaddr *)&first, &flen) == 0)
                sa.sin_port = first.sin_port;
            t->fd = open_listener(&sa);
        }
        if (t->fd < 0) {
            log_error("cannot listen on %s: %s", cfg->listen, strerror(errno));
            return start_failed();
        }
        t->listener = h2o_evloop_socket_create(t->loop, t->fd, H2O_SOCKET_FLAG_DONT_READ);
        t->conns = conns_loop_new(t->loop, t->listener, t->fd, &t->accept_ctx);
    }
    {
        struct sockaddr_in bound;
        socklen_t blen = sizeof(bound);
        char addr[64];
        getsockname(S.threads[0].fd, (struct sockaddr *)&bound, &blen);
        inet_ntop(AF_INET, &bound.sin_addr, addr, sizeof(addr));
        log_info("tagd %s listening on %s:%d (%d thread%s, store %s)", TAGD_VERSION, addr,
                 ntohs(bound.sin_port), S.nthreads, S.nthreads == 1 ? "" : "s",
                 txn_store_describe());
    }
    /* Only now: a start that fails before this point must not leave the pipeline's threads
     * waiting on the store. Each thread is named for `top -H` and /proc/PID/task/TID/comm: an
     * operator sees which role spends the CPU (the main thread, an HTTP loop too, keeps the
     * process's name for pidof). */
    if (txn_start(&err) != 0)
        return start_failed(); /* txn_start said why */
    for (i = 1; i < S.nthreads; i++) {
        pthread_create(&S.threads[i].tid, NULL, loop_main, &S.threads[i]);
        pthread_setname_np(S.threads[i].tid, "tagd-http");
    }
    /* Loaded and listening: a service started after tagd's (After=) finds it answering. */
    notify_send("READY=1\nSTATUS=ready");
    loop_main(&S.threads[0]);
    for (i = 1; i < S.nthreads; i++)
        pthread_join(S.threads[i].tid, NULL);

    /* Every write in flight is answered or dropped by now (S.inflight). */
    txn_stop();
    log_info("tagd stopped: drained in-flight requests");
    for (i = 0; i < S.nthreads; i++) {
        txn_reader_close(S.threads[i].reader);
        conns_loop_free(S.threads[i].conns);
    }
    xfree(S.threads);
    xfree(S.m.by_route_status);
    xfree(S.m.buckets);
    xfree(S.m.latency_count);
    xfree(S.m.latency_sum_us);
    for (struct cfg_version *v = atomic_exchange(&S.live, NULL), *older; v; v = older) {
        older = v->older;
        xfree(v);
    }
    return rc;
}
