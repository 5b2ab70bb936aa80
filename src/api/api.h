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
typedef void (*api_handler)(struct hreq *r, struct core_ctx *cx);

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
};

enum {
    ROUTE_WRITE = 1,   /* runs on the writer thread inside a transaction */
    ROUTE_NOLIMIT = 2, /* system endpoints (/healthz ...): no rate limit by client address */
};

struct route {
    const char *method;  /* "GET", "POST", ...; GET also serves HEAD */
    const char *pattern; /* "/v1/tags/{id}", "/v1/tags/{id}:restore" */
    api_handler fn;
    unsigned flags;
    const struct dialect *d;
    const char *name; /* for metrics; the pattern when NULL */
    /* A write's slow part that needs no transaction (fetching a source): the server runs it
     * on its fetch thread, with a read transaction, before the writer runs fn. It leaves
     * what it got in hreq.prep; fn decides the answer. */
    api_handler prepare;
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
    int64_t min_rev_wait_ms;
};
extern struct api_config api_config;

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
    /* response */
    int status;
    const char *content_type;
    struct kv res_headers[API_MAX_RES_HEADERS];
    int nres_headers;
    struct sbuf out;
    int64_t revision; /* X-Tagd-Revision; 0: not sent */
    /* A body rendered after the handler returned (api_render_later); NULL: r->out is final. */
    void (*render)(struct hreq *r, void *arg);
    void *render_arg;
    /* Set with api_not_yet: a read parked for X-Tagd-Min-Revision runs again. */
    bool not_yet;
    void *prep; /* what route.prepare left for the handler, in the request's arena */
    bool authed; /* the handler accepted a credential (http/ keeps the connection for it) */
    /* Set with api_run_as_write: a read that must write after all runs again as a write. */
    bool as_write;
    /* The client's IPv4 address (network order), 0 when unknown, for the limit by address. */
    uint32_t peer;
    const char *principal; /* who the handler authenticated (access log), or NULL; arena */
    bool addr_seen;    /* the address's bucket admitted the request (ratelimit_addr_before) */
    bool addr_charged; /* ... and took one request from it */
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
/** Renders `err` with the route's dialect. */
/** The code a dialect renders for `code` failing with `err`: TG_EBUSY when core reports a
 * statement it could not run (TG_EINTERNAL) because the store was unreachable or busy. Every
 * dialect's error function goes through it (api_fail does). */
int api_code(int code, const struct tg_err *err);
void api_fail(struct hreq *r, int code, const struct tg_err *err);
/** Shorthand: fill an error and render it. */
void api_failf(struct hreq *r, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_no_content(struct hreq *r);
/** Forgets the answer so far (body, status, headers, revision): the request runs again. */
void api_reset_answer(struct hreq *r);
/**
 * Answers 503 with Retry-After: revision `rev` (X-Tagd-Min-Revision) is not available yet.
 * A handler that needs the engine at that revision calls it when the engine is behind the
 * store; until --min-revision-wait has passed, the server drops this answer and runs the
 * read again once the engine has caught up.
 */
void api_not_yet(struct hreq *r, int64_t rev);
/**
 * From a read handler (cx->writing false) that finds the request must write after all (GET
 * /api/v1/session changing a session): forgets the answer so far; the server runs the request
 * again on the writer thread. Lets a route that seldom writes be a read.
 */
void api_run_as_write(struct hreq *r);
/**
 * Sets `status` now and leaves the body to `fn(r, arg)`, which the server calls on the request's
 * event loop just before answering: for a write, after its commit, off the writer thread (the
 * bottleneck of writes). `fn` may use only what lives in r (its arena holds the handler's core
 * results). Any later api_json_begin, api_no_content or error replaces it.
 */
void api_render_later(struct hreq *r, int status, void (*fn)(struct hreq *r, void *arg),
                      void *arg);
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
};
typedef void api_http_stats_fn(struct api_http_stats *out, struct arena *a);
/** Where http/'s counts come from, registered once at start (before any request). */
void api_metrics_source(api_http_stats_fn *fn);
/** GET /metrics: the Prometheus text of every part's stats. */
void api_metrics_render(struct hreq *r, struct core_ctx *cx);

#endif /* TAGD_API_API_H */
