/* core/webhooks.h: webhooks: an organization's URLs that receive its change records, signed,
 * in order, at least once (docs/events.md, "Webhooks").
 *
 * The API's side (webhooks.c) keeps the webhooks in the store: its functions work in the
 * caller's transaction like the rest of core. The delivery side (webhook_run.c) is one thread
 * of its own per instance that reads the change log from each webhook's durable cursor, POSTs
 * batches and moves the cursor only after a 2xx, under a lease in the store so that one
 * instance at a time delivers a webhook. The pure rules both share (backoff, signature, which
 * records make a batch) are here too, for the unit tests.
 *
 * Threads: wh_limits is set at start and by SIGHUP (its atomic fields); the key is loaded once
 * at start (core_webhook_key_init) before any thread runs and only read afterwards. */
#ifndef TAGD_CORE_WEBHOOKS_H
#define TAGD_CORE_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "core/events.h"

/* The largest batch_max may be (--webhook-batch): a batch in flight never holds more. */
#define WH_BATCH_CAP 1000
/* Attempts kept per webhook for GET /v1/webhooks/{id}/deliveries. */
#define WH_KEEP_DELIVERIES 100

struct wh_limits {
    _Atomic int max_per_org;        /* webhooks of one organization (20) */
    _Atomic int batch_max;          /* events in one POST (100), at most WH_BATCH_CAP */
    _Atomic int64_t timeout_ms;     /* one POST, connect included (10000) */
    _Atomic int64_t max_reply;      /* bytes of a receiver's answer read (4096) */
    _Atomic int64_t retry_min_ms;   /* the first retry's delay (1000) */
    _Atomic int64_t retry_max_ms;   /* the longest delay, also a failing webhook's (300000) */
    _Atomic int retries;            /* failed attempts in a row before "failing" (10) */
    /* Receivers on loopback, private or link-local addresses: refused unless the operator
     * allows them, as for sources (a tenant could otherwise make tagd call the host's own
     * services). */
    _Atomic bool allow_local;
    /* An instance's hold on a webhook (30000; start only). A POST's timeout is cut to half of
     * it less a second, so that it ends while the lease holds. At least 4000. */
    int64_t lease_ms;
};
extern struct wh_limits wh_limits;

/**
 * Loads the server key that seals webhook secrets from `path`, creating it (0600) when it is
 * missing (util/secret.h). Once at start. 0, or -1 with the reason in `why`.
 */
int core_webhook_key_init(const char *path, char *why, size_t why_len);
/** Forgets the key (wiped) at exit. */
void core_webhook_key_release(void);

struct webhook {
    int64_t id, org_id;
    const char *url;
    const char *filters; /* canonical JSON (event_filter_json) */
    bool active;
    const char *created_by;
    int64_t created_at, updated_at;
    int64_t gen; /* moves with every change through the API */
    /* The last record delivered or passed over: every record after it is still to come. */
    int64_t cursor_rev, cursor_seq;
    bool pending;                /* a batch is in flight: it ends at (pend_rev, pend_seq) */
    int64_t pend_rev, pend_seq;
    const char *state;           /* "ok", "retrying" or "failing" */
    int64_t failures;            /* failed attempts in a row */
    int64_t next_attempt_at;     /* ms; 0: as soon as there is something */
    const char *last_error;      /* NULL: none */
    int64_t last_attempt_at, last_success_at; /* ms; 0: never */
    const char *lease_owner;     /* NULL: no instance holds it */
    int64_t lease_until;
    const char *secret_box, *key_id; /* the sealed secret: never leaves core */
};

/* What a create sets, or an update changes (only the fields with has_ set). */
struct webhook_input {
    const char *url;
    bool has_url;
    const char *secret; /* create: NULL makes one */
    bool has_secret;
    const char *filters; /* JSON object text */
    bool has_filters;
    bool active;
    bool has_active;
};

/** Checks a receiver URL (http(s), a host; unless wh_limits.allow_local, no loopback, private
 * or link-local address, resolving names when `resolve`: blocking, so never on the writer). */
int core_webhook_url_check(const char *url, bool resolve, struct tg_err *err);
/**
 * Creates a webhook of ctx's organization; its cursor starts after the revision of this
 * request, so it delivers what is committed from now on. The secret (in->secret, or a new
 * one when NULL) is returned once in *secret (arena) and stored sealed. TG_ELIMIT past
 * wh_limits.max_per_org; TG_EINVAL/TG_ERULE for a bad URL, secret or filter.
 */
int core_webhook_create(struct core_ctx *ctx, const struct webhook_input *in, struct webhook *out,
                        const char **secret, struct tg_err *err);
int core_webhook_list(struct core_ctx *ctx, struct webhook **out, size_t *n, struct tg_err *err);
/** TG_ENOTFOUND for an id that is not a live webhook of ctx's organization. */
int core_webhook_get(struct core_ctx *ctx, int64_t id, struct webhook *out, struct tg_err *err);
/** Changes what `in` sets; any change also ends the backoff (a failing webhook is tried at
 * once) and forgets a batch in flight. */
int core_webhook_update(struct core_ctx *ctx, int64_t id, const struct webhook_input *in,
                        struct webhook *out, struct tg_err *err);
int core_webhook_delete(struct core_ctx *ctx, int64_t id, struct tg_err *err);
/** Moves the cursor back (or forward) so that delivery goes on with revision `from_rev`
 * (at least 1, at most the current revision + 1). */
int core_webhook_redeliver(struct core_ctx *ctx, int64_t id, int64_t from_rev,
                           struct webhook *out, struct tg_err *err);

struct webhook_delivery {
    const char *delivery;  /* X-Tagd-Delivery */
    int64_t at;            /* ms */
    int64_t from_rev, from_seq, to_rev, to_seq; /* the batch: after (from), through (to) */
    int64_t events, attempt;
    int64_t status;        /* HTTP status; 0: no answer */
    int64_t latency_ms;
    const char *outcome;   /* "ok", "http_error", "network", "refused", "local" */
    const char *error;     /* NULL for "ok" */
    const char *instance;
};
/** The newest attempts of webhook `id` (at most `limit`), newest first. */
int core_webhook_deliveries(struct core_ctx *ctx, int64_t id, int limit,
                            struct webhook_delivery **out, size_t *n, struct tg_err *err);

/* ---- the rules of delivery (pure; unit-tested) ---- */

/**
 * The delay before the next attempt after `failures` (>= 1) failed attempts in a row:
 * retry_min_ms doubled per earlier failure, capped at retry_max_ms, then "equal jitter": half of
 * it fixed, the other half scaled by `rnd` (uniform in [0, 2^32)), so that receivers that came
 * back are not hit by every webhook at once.
 */
int64_t wh_backoff_ms(int64_t failures, int64_t min_ms, int64_t max_ms, uint32_t rnd);
/** "retrying" below `retries` failures in a row, "failing" from there on. */
const char *wh_state_after(int64_t failures, int retries);
/** X-Tagd-Signature's value: "t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>." body)>" into out
 * (at least 96 bytes). */
void wh_signature(const char *secret, int64_t ts, const void *body, size_t len, char *out,
                  size_t outlen);

/* Which records of a page make the next batch. */
struct wh_plan {
    size_t first_pick;   /* index in the page of the first picked record */
    size_t npicked;      /* records picked (matching, in order) */
    struct event_cursor end; /* the last record the batch covers (picked or passed over) */
    bool full;           /* npicked reached the batch's size: more may follow at once */
    bool reached_limit;  /* the page went up to `limit` (inclusive): nothing beyond it counts */
};
/**
 * Walks page `c` (n records, in (rev, seq) order, all after `cur`) and picks matching records
 * (match[i]) up to `max`. With `limit` (may be NULL: none; a batch in flight must end where it
 * ended before) records after it are left out. `picked` (capacity max) receives the picked
 * indices. plan->end is the last record the batch covers: the max-th picked record when the
 * batch is full, else the page's last record considered (so records passed over by the filter
 * are covered too); `cur` when the page is empty.
 */
void wh_plan_batch(const struct event_cursor *cur, const struct change *c, size_t n,
                   const bool *match, int max, const struct event_cursor *limit, size_t *picked,
                   struct wh_plan *plan);

/* ---- the delivery thread (webhook_run.c) ---- */

/**
 * Starts the delivery thread on store `s` (borrowed until wh_runner_stop); `shared`: other
 * instances may deliver too (PostgreSQL): leases are honoured; else leases found at start are
 * a dead process's and are cleared. 0, or a tg_code with `err`.
 */
int wh_runner_start(struct store *s, bool shared, struct tg_err *err);
/** Stops the thread (a POST in flight is cut), gives this instance's leases back, joins it.
 * Safe when it never started. */
void wh_runner_stop(void);
/** A revision was committed (this instance's or, seen by the tailer, another's): deliver.
 * Any thread; never blocks for long (a mutex held for a flag). */
void wh_runner_wake(void);

#define WH_LAT_BUCKETS 10
#define WH_LAG_SERIES 64
/* What the delivery thread counted, for /metrics. */
struct wh_stats {
    uint64_t ok, http_error, network, refused, local; /* attempts by outcome */
    const double *lat_le;                         /* seconds, WH_LAT_BUCKETS bounds */
    uint64_t lat_buckets[WH_LAT_BUCKETS + 1];     /* not cumulative; the last: +Inf */
    uint64_t lat_count;
    double lat_sum;
    uint64_t store_writes;                        /* the thread's write transactions */
    int64_t leased;                               /* webhooks this instance delivers now */
    int64_t lag_max;                              /* revisions the furthest behind lags */
    int nlag;                                     /* of the most lagging, at most 64 */
    int64_t lag_id[WH_LAG_SERIES], lag[WH_LAG_SERIES];
};
void wh_stats_get(struct wh_stats *out);

#endif /* TAGD_CORE_WEBHOOKS_H */
