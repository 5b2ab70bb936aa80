/* api/api.h: what the HTTP layer hands to the dialects, and the helpers they share.
 *
 * struct hreq is one request, self-contained: http/ copies method, path, query, headers and
 * body into the request's arena, so a handler can run on an event loop (reads) or on the
 * writer thread (writes) without touching h2o. The handler fills the response part (status,
 * headers, body) and http/ sends it. Nothing here blocks except the store calls.
 *
 * Each dialect is one file exporting a route table and a `struct dialect` whose error renderer
 * is the single place that dialect turns a tg_code into its own status and error body (E4). */
#ifndef TAGD_API_API_H
#define TAGD_API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/jw.h"
#include "util/sbuf.h"

#define API_MAX_PARAMS 8
#define API_MAX_RES_HEADERS 16

struct kv {
    const char *name; /* header names are lower case */
    const char *value;
};

struct hreq;

/*
 * What a handler tells the runtime (http/'s read path, the writer through http/'s txn_ops) to
 * do with the answer it left in the hreq. The status stays the HTTP status: the result, not
 * the status, decides what happens to the handler's writes, and the runtime asserts that the
 * two agree. A handler returns what the call that answered returns (`return api_fail(...)`,
 * `return api_not_yet(...)`, `return api_render_later(...)`), API_ANSWER after rendering a
 * success (api_json_begin, api_no_content, ...), and API_ROLLBACK after a helper that rendered
 * an error and said so (`if (api_native_auth(r, cx, RIGHT_READ)) return API_ROLLBACK;`).
 * A handler with a cleanup label starts with `enum api_result result = API_ROLLBACK;` and sets
 * it once it answered. docs/development.md ("How a request runs") has the whole convention and
 * how to convert a handler written for the side fields it replaced (status >= 300 meaning
 * rollback, not_yet, as_write, render alone, prepare writing prep).
 */
enum api_result {
    /* The answer in r is final: on a write a 2xx, and what the handler wrote commits; on a
     * read also a 3xx that is no error (the console's 302 and 304). */
    API_ANSWER,
    /* The answer in r is an error (status >= 300): on a write, everything the handler wrote
     * is rolled back; every error a handler renders is one (api_fail returns it). */
    API_ROLLBACK,
    /* Reads only (api_not_yet): the engine lags the revision this read must reflect. The
     * answer in r is the 503 to send if the read may wait no longer; until then the runtime
     * drops it and runs the read again once the engine has caught up. */
    API_NOT_YET,
    /* Writes only (api_render_later): the status is set (< 300) and what the handler wrote
     * commits, but the body is rendered after the commit by r->render on the event loop. */
    API_RENDER_LATER,
    /* Reads only: the read found it must write after all; the runtime drops its answer and
     * runs the request again on the writer thread (see h_session in api/easydb.c). */
    API_RUN_AS_WRITE,
    /* Reads only (api_wait): nothing to answer yet (a long poll); the runtime parks the request
     * until this instance has seen revision r->wait_rev or r->wait_ms have passed, then runs it
     * again (with r->wait_over set when the time is up). */
    API_WAIT,
};

/* A route's handler: answers r in cx and says what to do with the answer. */
typedef enum api_result (*api_handler)(struct hreq *r, struct core_ctx *cx);
/* A write's slow part that needs no write transaction (route.prepare): returns what it got for
 * the handler, in r's arena (NULL: nothing), which the handler finds in r->prep. It does not
 * answer: the runtime drops anything it rendered, and the handler decides the answer. */
typedef void *(*api_prepare_fn)(struct hreq *r, struct core_ctx *cx);

/* A dialect: one product's API (api/<product>.c, the native API in api/native/). Every dialect
 * is listed in the registry (api/dialects.c). */
struct dialect {
    const char *name;
    /** Renders err as this dialect's error response (status, headers, body). */
    void (*error)(struct hreq *r, int code, const struct tg_err *err);
    /* The paths the dialect answers errors for when no route matches (api_dialect_for_path),
     * NULL-terminated: an entry ending in '/' is a prefix, any other is the path itself or a
     * prefix followed by '/'. NULL for the native API, which answers every other path. */
    const char *const *paths;
    const char *infix; /* when set, a path must also contain it to be the dialect's */
    const struct route *routes; /* the dialect's route table (terminated by a NULL method) */
    /* When set, runs each of the dialect's write routes: calls `fn` (the route's handler) or
     * answers in its place, and returns the result as a handler does (the native API's
     * Idempotency-Key). NULL: the writer calls the handler itself. */
    enum api_result (*write)(struct hreq *r, struct core_ctx *cx, api_handler fn);
};

enum {
    ROUTE_WRITE = 1,   /* runs on the writer thread inside a transaction */
    ROUTE_NOLIMIT = 2, /* system endpoints (/healthz ...): no rate limit by client address */
    /* A write whose request or answer holds a secret (a password, a token shown once): no
     * copy or fast hash of either may be kept, so it takes no Idempotency-Key. */
    ROUTE_SECRET = 4,
};

struct route {
    const char *method;  /* "GET", "POST", ...; GET also serves HEAD */
    const char *pattern; /* "/v1/tags/{id}", "/v1/tags/{id}:restore" */
    api_handler fn;
    unsigned flags;
    const struct dialect *d;
    const char *name; /* for metrics; the pattern when NULL */
    /* A write's slow part that needs no transaction (fetching a source): the server runs it
     * on its fetch thread, with a read transaction, before the writer runs fn (see
     * api_prepare_fn). */
    api_prepare_fn prepare;
};

/* Set at start; SIGHUP sets the atomic ones again while every thread reads them (a reader
 * sees each field old or new: for a moment the new rate may meet the old burst). */
struct api_config {
    size_t max_body;
    _Atomic int max_json_depth;
    _Atomic int max_header_bytes;
    _Atomic int rate_per_sec; /* per token; 0: off */
    _Atomic int rate_burst;
    _Atomic int anon_rate_per_sec; /* per client address, for requests no credential admitted; 0: off */
    _Atomic int anon_rate_burst;
    _Atomic int login_fails_addr;    /* failed sign-ins per client address per window; 0: off */
    _Atomic int login_fails_login;   /* failed sign-ins per login per window; 0: off */
    _Atomic int login_fail_window_s; /* the window in which those buckets refill */
    int64_t min_rev_wait_ms;
    int64_t changes_max_wait_s; /* bound on GET /v1/changes?wait= */
    int64_t events_heartbeat_ms; /* a stream idle this long sends a comment */
    int64_t events_batch_ms;     /* idle streams are woken at most this often; 0: each tick */
    int64_t events_sends;        /* a loop's streams send at most this often a second; 0: off */
    int64_t events_stall_ms;     /* a stream whose client reads nothing this long is cut */
    int64_t events_max_lag;      /* revisions a stream may be behind the store; 0: no bound */
};
extern struct api_config api_config;

struct hreq;
struct sbuf;

/* What a stream's fill did (api_stream). */
enum api_stream_state {
    API_STREAM_IDLE, /* caught up: call again once a newer revision is seen */
    API_STREAM_MORE, /* left some over: call again once `out` is sent */
    API_STREAM_END,  /* `out` is the last: end the stream */
    API_STREAM_CUT,  /* `out` is the last: end the stream, the client fell behind */
};
/* Appends what is new to `out`, on the request's loop inside a read transaction of its own
 * (cx, with the engine); with `ending` (the server stops, or the client fell behind with
 * r->stream_why saying how) it appends its last words only. */
typedef enum api_stream_state (*api_stream_fill)(struct hreq *r, struct core_ctx *cx,
                                                 bool ending, struct sbuf *out);

struct hreq {
    struct arena a;
    /* request */
    const char *method;
    const char *path; /* raw path without the query */
    const char *query; /* raw query without '?', or "" */
    struct kv *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    const char *request_id;
    const char *params[API_MAX_PARAMS]; /* decoded path parameters in pattern order */
    int nparams;
    const struct route *route;
    const struct dialect *d;
    struct kv *qv; /* decoded query pairs, parsed on first use */
    size_t nqv;
    bool qparsed;
    /* response: the answer the handler leaves (what becomes of it is the handler's
     * enum api_result); api_reset_answer forgets it when the runtime runs the request again */
    int status;
    const char *content_type;
    struct kv res_headers[API_MAX_RES_HEADERS];
    int nres_headers;
    struct sbuf out;
    int64_t revision; /* X-Tagd-Revision; 0: not sent (a read's runtime then sets it) */
    /* The body's renderer, read only when the handler returned API_RENDER_LATER. */
    void (*render)(struct hreq *r, void *arg);
    void *render_arg;
    void *prep; /* what route.prepare returned for the handler (set by the runtime); NULL */
    bool authed; /* the handler accepted a credential (http/ keeps the connection for it) */
    /* The client's IPv4 address (network order), 0 when unknown, for the limit by address. */
    uint32_t peer;
    const char *principal; /* who the handler authenticated (access log), or NULL; arena */
    bool addr_seen;    /* the address's bucket admitted the request (ratelimit_addr_before) */
    bool addr_charged; /* ... and took one request from it */
    /* Set with api_wait: a read that found nothing new waits (parked, off the loop's stack)
     * until revision wait_rev is seen or wait_ms have passed, then runs again; on that last
     * run wait_over is true and the handler answers what it has. wait_rev > 0 only between
     * api_wait and the server parking the request. */
    int64_t wait_rev;
    int64_t wait_ms;
    bool wait_over;
    /* Set with api_stream: the answer is a stream that the server fills through stream_fill
     * (which owns stream_arg, in r->a) as the client reads; the request lives until it ends. */
    api_stream_fill stream_fill;
    void *stream_arg;
    const char *stream_why;  /* why the server ends the stream, for the fill's last words */
    uint64_t stream_events;  /* events the fill wrote (metrics) */
    bool stream_raw;         /* api_stream_raw: a plain body, filled until the fill ends it */
};

/* The registry (api/dialects.c): every dialect, NULL-terminated, in the order their routes are
 * matched; and their route tables in the same order, NULL-terminated, for the router. */
extern const struct dialect *const api_dialects[];
extern const struct route *const api_route_tables[];

/* Each dialect's struct and route table (the registry's X(name) is name_dialect, name_routes). */
extern const struct dialect native_dialect, easydb_dialect, immuta_dialect, launchdarkly_dialect,
    aitronos_dialect, oracle_dialect, console_dialect;
extern const struct route native_routes[], easydb_routes[], immuta_routes[], launchdarkly_routes[],
    aitronos_routes[], oracle_routes[], console_routes[];
/** The dialect whose error format answers an unmatched path (by its paths). */
const struct dialect *api_dialect_for_path(const char *path);

/* ---- request helpers ---- */
const char *api_header(struct hreq *r, const char *lname);
/** First value of query parameter `name` (decoded), or NULL. */
const char *api_query(struct hreq *r, const char *name);
/** Every value of `name`; comma-separated values are not split. */
size_t api_query_all(struct hreq *r, const char *name, const char ***out);
/** True when the query holds `name` at all. */
bool api_query_has(struct hreq *r, const char *name);
const char *api_cookie(struct hreq *r, const char *name);
/** The decoded value of the first `name` of an application/x-www-form-urlencoded body (the
 * caller checks the content type), or NULL when it is absent or not percent-decodable. */
const char *api_form_value(struct hreq *r, const char *name);
/** Parses the body as JSON (limits applied); on failure renders the dialect's error and
 * returns NULL. The caller owns the reference. */
json_t *api_body_json(struct hreq *r);
/** Parses an integer parameter in [min, max]; returns 0, or renders 400 and returns -1. */
int api_query_int(struct hreq *r, const char *name, int64_t def, int64_t min, int64_t max,
                  int64_t *out);
/** Parses true/false/1/0; returns 0, or renders 400 and returns -1. */
int api_query_bool(struct hreq *r, const char *name, bool def, bool *out);
/** The bearer token of the Authorization header, or NULL. */
const char *api_bearer(struct hreq *r);

/* ---- response helpers ---- */
void api_set_header(struct hreq *r, const char *name, const char *value);
/** Starts a JSON body: sets the content type and status, and returns a writer on r->out. */
void api_json_begin(struct hreq *r, int status, struct jw *w);
/** The code a dialect renders for `code` failing with `err`: TG_EBUSY when core reports a
 * statement it could not run (TG_EINTERNAL) because the store was unreachable or busy. Every
 * dialect's error function goes through it (api_fail does). */
int api_code(int code, const struct tg_err *err);
/** Renders `err` with the route's dialect; returns API_ROLLBACK, for the handler to return. */
enum api_result api_fail(struct hreq *r, int code, const struct tg_err *err);
/** Shorthand: fill an error and render it; returns API_ROLLBACK. */
enum api_result api_failf(struct hreq *r, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_no_content(struct hreq *r);
/** For the runtime, never a handler: forgets the answer so far (body, status, headers,
 * revision) before the request runs again (a retried write, a parked read, a read that runs
 * again as a write). */
void api_reset_answer(struct hreq *r);
/**
 * Answers 503 with Retry-After: revision `rev` (X-Tagd-Min-Revision) is not available yet;
 * returns API_NOT_YET. A read handler that needs the engine at that revision calls it when the
 * engine is behind the store; until --min-revision-wait has passed, the server drops this
 * answer and runs the read again once the engine has caught up.
 */
enum api_result api_not_yet(struct hreq *r, int64_t rev);
/**
 * From a read handler that has nothing to answer yet (a long poll): forgets the answer so
 * far and returns API_WAIT; the server parks the request without blocking its loop and runs it
 * again once this instance has seen revision `rev` committed, or after `ms` ms (from the first
 * wait) with r->wait_over set, when the handler must answer. Never called when r->wait_over.
 */
enum api_result api_wait(struct hreq *r, int64_t rev, int64_t ms);
/**
 * From a read handler: answers 200 with a text/event-stream body that the server writes as
 * the client reads, calling `fill` (see api_stream_fill) whenever this instance has seen a
 * new revision, with heartbeats in between, until the client goes or the fill ends it;
 * returns API_ANSWER.
 */
enum api_result api_stream(struct hreq *r, api_stream_fill fill, void *arg);
/**
 * From a read handler: answers 200 with a body of `content_type` (a literal) that the server
 * writes page by page, calling `fill` again each time the client took the last page, each call
 * in a read transaction of its own, until the fill returns API_STREAM_END (never IDLE). No
 * heartbeats; a client that reads nothing for events_stall_ms is cut. Returns API_ANSWER.
 */
enum api_result api_stream_raw(struct hreq *r, const char *content_type, api_stream_fill fill,
                               void *arg);
/**
 * Sets `status` (< 300) now and leaves the body to `fn(r, arg)`, which the server calls on the
 * request's event loop just before answering, after the write's commit, off the writer thread
 * (the bottleneck of writes); returns API_RENDER_LATER. Writes only. `fn` may use only what
 * lives in r (its arena holds the handler's core results).
 */
enum api_result api_render_later(struct hreq *r, int status,
                                 void (*fn)(struct hreq *r, void *arg), void *arg);
/** The native error body, also used for system endpoints. */
void api_native_error(struct hreq *r, int code, const struct tg_err *err);
/** Percent-decodes `n` bytes into the arena; NULL on malformed escapes or NUL bytes. */
char *api_url_decode(struct arena *a, const char *s, size_t n, bool plus_is_space);
/** Appends `s` percent-encoded for a query value. */
void api_url_encode(struct sbuf *b, const char *s);
/** The ISO time of ms into the arena. */
const char *api_iso(struct hreq *r, int64_t ms);
/** A time as a JSON value: ISO 8601 in UTC (jw_time), null for 0 (no time). */
void api_time_or_null(struct jw *w, int64_t ms);
/* A time member; a macro so that the key stays a literal (jw_key). */
#define api_kiso(w, k, ms) (jw_key(w, k), api_time_or_null((w), (ms)))

/* ---- rendered answers of engine-served reads (cache.c) ---- */

/** Answers r from this thread's cache when the same route, workspace and query string were
 * rendered from the snapshot this read answers from; false (nothing written) otherwise. Call
 * after authentication, only on routes whose answer depends on nothing else. */
bool api_cache_serve(struct hreq *r, struct core_ctx *cx);
/** Keeps r's answer (a 200 rendered from cx's snapshot) for api_cache_serve. */
void api_cache_store(struct hreq *r, struct core_ctx *cx);
/** Frees this thread's entries (at the end of a loop thread). */
void api_cache_thread_done(void);

/* ---- /metrics (metrics.c) ----
 *
 * Rendered from the stats each part exports: http/'s counts (below, copied when asked), the
 * write pipeline's with the store's and the engine's (txn/txn.h, struct txn_stats), and the
 * model's sizes (core_counts). */

/* One nonzero count of requests by route and status. */
struct api_route_count {
    const struct route *route; /* NULL: requests no route matched */
    int status;
    unsigned long long n;
};

/* One route's latency histogram; route NULL: requests no route matched. */
struct api_route_latency {
    const struct route *route;
    const unsigned long long *buckets; /* nbuckets + 1 counts, not cumulative, the last above
                                          every bound */
    unsigned long long count, sum_us;
};

/* What http/ counted. Arrays are in the arena the source was given. */
struct api_http_stats {
    const struct api_route_count *counts; /* by route (in the router's order), then status */
    size_t ncounts;
    const int64_t *bucket_le_us;      /* latency histograms: nbuckets upper bounds (µs) */
    int nbuckets;
    const struct api_route_latency *latency; /* per route that answered at least once */
    size_t nlatency;
    /* The connection budgets (http/conns.h). */
    unsigned long long refused_limit, refused_addr, evicted, body_refused, body_budget,
        accept_paused;
    long long body_bytes;
    int nloops;
    const int *loop_conns;                 /* open connections of each event loop */
    const unsigned long long *loop_served; /* responses each event loop sent */
    /* The event streams (http/stream.h). */
    unsigned long long events_subscribers, events_opened, events_sent, events_cut, events_sends;
};
typedef void api_http_stats_fn(struct api_http_stats *out, struct arena *a);
/** Where http/'s counts come from, registered once at start (before any request). */
void api_metrics_source(api_http_stats_fn *fn);
/** GET /metrics: the Prometheus text of every part's stats. */
enum api_result api_metrics_render(struct hreq *r, struct core_ctx *cx);

#endif /* TAGD_API_API_H */
