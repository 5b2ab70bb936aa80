/* http/stream.h: responses that a handler streams: Server-Sent Events (api_stream) and plain
 * bodies read in pages (api_stream_raw, the export). */
#ifndef TAGD_HTTP_STREAM_H
#define TAGD_HTTP_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>

#include "api/api.h"

struct store_conn;

/**
 * Streams r's answer on req, whose status and headers are set: the loop writes as the
 * client reads (h2o's generator), fills from `reader` when a new revision is seen (checked on
 * `tick`, a timer of the loop), sends heartbeats, and cuts a client that reads nothing for
 * api_config.events_stall_ms. Takes r. `stopping` says the server drains: the stream ends.
 */
void stream_start(h2o_req_t *req, struct hreq *r, struct store_conn *reader, h2o_timeout_t *tick,
                  bool (*stopping)(void));

/* What the streams counted, for /metrics. */
struct stream_stats {
    uint64_t subscribers; /* open now */
    uint64_t opened;
    uint64_t events;      /* events sent */
    uint64_t sends;       /* chunks given to the kernel (events, heartbeats, ends) */
    uint64_t cut;         /* streams ended because their client fell behind or read nothing */
};
void stream_stats_get(struct stream_stats *out);

#endif /* TAGD_HTTP_STREAM_H */
