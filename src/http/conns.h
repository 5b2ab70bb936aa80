/* http/conns.h: what one client may hold of the server: its connections, the descriptors they
 * take, and the memory of request bodies still arriving (docs/security.md, "Budgets").
 *
 * h2o 2.2.5 accepts for as long as accept() succeeds and reads a whole request body before the
 * handler sees the request, so the bounds sit around it: tagd accepts connections itself, keeps
 * its own list of them per loop, and a sweep looks at what each holds in h2o's input buffer. */
#ifndef TAGD_HTTP_CONNS_H
#define TAGD_HTTP_CONNS_H

#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>

#include "http/config.h"
#include "util/sbuf.h"

struct conn_loop;

/** Writes a whole HTTP/1.1 response refusing a request whose head is method and path (either
 *  may be NULL when unreadable) with `status` (413, 503) and `msg`, in the error format of the
 *  dialect that path belongs to, with Connection: close and, when retry_after > 0, Retry-After. */
typedef void conns_refusal_fn(const char *method, const char *path, int status, const char *msg,
                              int retry_after, struct sbuf *out);

/** Fits the configuration to the process: raises the soft RLIMIT_NOFILE to the hard one and
 *  fits max_conns (per loop) to what the descriptors allow, saying so. Sets up the
 *  per-address table. Returns the max_conns in force. */
int64_t conns_setup(const struct tagd_config *cfg, int nloops, conns_refusal_fn *refuse);

/** One loop's connections: accepts on `listener_fd` through `listener` (created by the caller
 *  with H2O_SOCKET_FLAG_DONT_READ), hands each connection to h2o through `accept`. */
struct conn_loop *conns_loop_new(h2o_evloop_t *loop, h2o_socket_t *listener, int listener_fd,
                                 h2o_accept_ctx_t *accept);
/** Stops accepting and sweeping (drain); the connections already open stay. */
void conns_loop_stop(struct conn_loop *cl);
/** Frees the loop's bookkeeping, after its event loop has stopped for good. */
void conns_loop_free(struct conn_loop *cl);
/** Open connections of the loop. */
int conns_loop_count(const struct conn_loop *cl);

/** After tagd started a response on `sock` (outside h2o's callbacks): puts conns.c's callbacks
 *  in front of the write callback h2o just registered. */
void conns_rearm(h2o_socket_t *sock);
/** A request of `req`'s connection reached the handler: it is not idle until the request's
 *  pool goes. Returns false when the bodies in flight are over budget: answer 503. */
bool conns_request_begin(h2o_req_t *req, size_t body_len);
/** The request presented a credential that was accepted: its connection is kept in
 *  preference to anonymous ones. */
void conns_mark_authed(h2o_req_t *req);
/** The client's IPv4 address (network order), 0 when unknown. */
uint32_t conns_peer(h2o_req_t *req);

/** Counters for /metrics. */
struct conns_stats {
    uint64_t refused_limit;  /* over --max-conns with nothing to evict */
    uint64_t refused_addr;   /* over --max-conns-per-addr */
    uint64_t evicted;        /* anonymous connections closed to make room */
    uint64_t body_refused;   /* 413: a large body without a credential */
    uint64_t body_budget;    /* 503: bodies in flight over --max-body-memory-mb */
    uint64_t accept_paused;  /* times accepting paused: out of descriptors */
    int64_t body_bytes;      /* body bytes held now (input buffers and queued requests) */
};
void conns_stats(struct conns_stats *out);

#endif /* TAGD_HTTP_CONNS_H */
