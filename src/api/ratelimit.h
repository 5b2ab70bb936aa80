/* api/ratelimit.h: request rate limiting per token and per client address, shared by every
 * dialect.
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

/*
 * The limit by client address (--anon-rate-limit, --anon-rate-burst; off at 0) counts what no
 * credential admits: requests that present none (counted before the handler), and requests
 * whose credential or password the handler did not accept, whatever it answered (counted
 * after it), so that guessing is as slow as the limit and a made-up token is no way around
 * it. Requests the handler authenticated are never counted (what was taken before the handler
 * for a credential http/ does not see, like easydb's token in a form body, is given back);
 * while an address is over its limit they are refused all the same, since a credential cannot
 * be told good from bad without checking it. Routes with ROUTE_NOLIMIT and requests of an
 * unknown address (r->peer 0) are not limited.
 */

/** Before the handler (http/): takes one request from the bucket of r->peer when `anonymous`
 *  (no credential presented), else only checks that the address is within its limit. Returns 0
 *  when the request may proceed; otherwise sets Retry-After, renders TG_ERATE with the route's
 *  dialect and returns -1. */
int ratelimit_addr_before(struct hreq *r, bool anonymous);
/** After the handler (http/, when answering): counts an admitted request that the handler did
 *  not authenticate (r->authed false) unless ratelimit_addr_before counted it, and gives back
 *  what ratelimit_addr_before took for one it did authenticate. */
void ratelimit_addr_after(struct hreq *r);

/** Before a sign-in's password is checked (POST /v1/sessions): 0 when the client address and
 *  the login (in any organization) may try (--login-fails-per-addr, --login-fails-per-login
 *  failures per --login-fail-window seconds; 0 turns one off); otherwise sets Retry-After,
 *  renders TG_ERATE (field "login") and returns -1. */
int ratelimit_login_check(struct hreq *r, const char *login);
/** Counts a failed sign-in against the client address and the login. */
void ratelimit_login_failed(struct hreq *r, const char *login);

#endif /* TAGD_API_RATELIMIT_H */
