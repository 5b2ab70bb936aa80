/* api/ratelimit.h: per-token request rate limiting, shared by every dialect.
 *
 * Each token has a token bucket of api_config.rate_burst requests that refills at
 * api_config.rate_per_sec per second (--rate-limit / --rate-burst); a rate of 0 turns limiting
 * off. Buckets live in memory only (a restart refills them) in a fixed table guarded by one
 * mutex, so the call is safe from every event loop and the writer thread. */
#ifndef TAGD_API_RATELIMIT_H
#define TAGD_API_RATELIMIT_H

#include "api/api.h"

/**
 * Takes one request from the bucket of the authenticated token in `cx` (call it right after
 * authentication). When limiting is on it sets X-Ratelimit-Global-Remaining and
 * X-Ratelimit-Reset (epoch milliseconds at which the bucket is full again). Returns 0 when the
 * request may proceed; otherwise it also sets Retry-After (whole seconds until the next request
 * is admitted), renders TG_ERATE with the route's dialect and returns -1.
 */
int ratelimit_take(struct hreq *r, const struct core_ctx *cx);

#endif /* TAGD_API_RATELIMIT_H */
