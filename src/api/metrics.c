/* api/metrics.c: GET /metrics, the Prometheus text format of what every part counts.
 *
 * Each part exports its counts as a struct: http/ through the source it registers at start
 * (struct api_http_stats: requests by route and status, latency, connection budgets, loops),
 * the write pipeline with the store's and the engine's counts (struct txn_stats), and core the
 * model's sizes. Nothing here keeps state but that source. */
#include "api/api.h"

#include <string.h>

#include "txn/txn.h"

static api_http_stats_fn *http_source;

void api_metrics_source(api_http_stats_fn *fn) { http_source = fn; }

enum api_result api_metrics_render(struct hreq *r, struct core_ctx *cx)
{
    struct sbuf *b = &r->out;
    int64_t tags = 0, res = 0, asg = 0;
    unsigned long long cum = 0;
    struct api_http_stats hs;
    struct txn_stats ts;

    memset(&hs, 0, sizeof(hs));
    if (http_source)
        http_source(&hs, &r->a);
    txn_stats_get(&ts);
    sbuf_reset(b);
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    sbuf_adds(b, "# HELP tagd_requests_total HTTP requests by route and status.\n"
                 "# TYPE tagd_requests_total counter\n");
    for (size_t i = 0; i < hs.ncounts; i++) {
        const struct route *rt = hs.counts[i].route;
        sbuf_printf(b, "tagd_requests_total{route=\"%s %s\",status=\"%d\"} %llu\n",
                    rt ? rt->method : "ANY",
                    rt ? (rt->name ? rt->name : rt->pattern) : "unmatched", hs.counts[i].status,
                    hs.counts[i].n);
    }
    sbuf_adds(b, "# HELP tagd_request_duration_seconds Request latency.\n"
                 "# TYPE tagd_request_duration_seconds histogram\n");
    for (int k = 0; k < hs.nbuckets; k++) {
        cum += hs.buckets[k];
        sbuf_printf(b, "tagd_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    (double)hs.bucket_le_us[k] / 1e6, cum);
    }
    cum += hs.buckets ? hs.buckets[hs.nbuckets] : 0;
    sbuf_printf(b, "tagd_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    sbuf_printf(b, "tagd_request_duration_seconds_sum %g\n",
                (double)hs.latency_sum_us / 1e6);
    sbuf_printf(b, "tagd_request_duration_seconds_count %llu\n",
                hs.latency_count);
    sbuf_printf(b,
                "# HELP tagd_store_transactions_total Writer transactions by outcome.\n"
                "# TYPE tagd_store_transactions_total counter\n"
                "tagd_store_transactions_total{outcome=\"commit\"} %llu\n"
                "tagd_store_transactions_total{outcome=\"request_rollback\"} %llu\n"
                "tagd_store_transactions_total{outcome=\"failed\"} %llu\n",
                (unsigned long long)ts.commits, (unsigned long long)ts.rollbacks,
                (unsigned long long)ts.failures);
    sbuf_printf(b, "# HELP tagd_wal_syncs_total fdatasyncs of SQLite's WAL by the deferred syncs.\n"
                   "# TYPE tagd_wal_syncs_total counter\n"
                   "tagd_wal_syncs_total %llu\n",
                (unsigned long long)ts.store.wal_syncs);
    sbuf_printf(b,
                "# HELP tagd_store_reconnects_total Store connections opened again after one"
                " was lost.\n"
                "# TYPE tagd_store_reconnects_total counter\n"
                "tagd_store_reconnects_total %llu\n"
                "# HELP tagd_store_unavailable_total Store operations that failed because the"
                " store could not be reached (answered 503).\n"
                "# TYPE tagd_store_unavailable_total counter\n"
                "tagd_store_unavailable_total %llu\n"
                "# HELP tagd_store_lost_commits_total Commits whose answer the connection lost,"
                " by what tagd found out afterwards.\n"
                "# TYPE tagd_store_lost_commits_total counter\n"
                "tagd_store_lost_commits_total{outcome=\"committed\"} %llu\n"
                "tagd_store_lost_commits_total{outcome=\"aborted\"} %llu\n"
                "tagd_store_lost_commits_total{outcome=\"unknown\"} %llu\n"
                "# HELP tagd_store_lock_waits_total Write transactions that waited over 100 ms"
                " for the revision counter's lock (other instances' writes).\n"
                "# TYPE tagd_store_lock_waits_total counter\n"
                "tagd_store_lock_waits_total %llu\n"
                "# HELP tagd_store_lock_wait_seconds_total Time write transactions waited for"
                " that lock.\n"
                "# TYPE tagd_store_lock_wait_seconds_total counter\n"
                "tagd_store_lock_wait_seconds_total %g\n",
                (unsigned long long)ts.store.reconnects,
                (unsigned long long)ts.store.unavailable,
                (unsigned long long)ts.store.commit_committed,
                (unsigned long long)ts.store.commit_aborted,
                (unsigned long long)ts.store.commit_unknown,
                (unsigned long long)ts.store.lock_waits,
                (double)ts.store.lock_wait_us / 1e6);
    if (ts.engine) {
        uint64_t applied = ts.engine_applied, reread = ts.engine_reread;
        sbuf_printf(b,
                    "# HELP tagd_engine_resource_updates_total Resources the engine brought up to"
                    " date after commits: applied from the change records, or read again.\n"
                    "# TYPE tagd_engine_resource_updates_total counter\n"
                    "tagd_engine_resource_updates_total{how=\"applied\"} %llu\n"
                    "tagd_engine_resource_updates_total{how=\"reread\"} %llu\n",
                    (unsigned long long)applied, (unsigned long long)reread);
    }
    {
        sbuf_printf(b,
                    "# HELP tagd_connections_rejected_total Connections closed by the budgets: "
                    "refused at --max-conns, refused at --max-conns-per-addr, anonymous ones "
                    "closed to make room.\n"
                    "# TYPE tagd_connections_rejected_total counter\n"
                    "tagd_connections_rejected_total{reason=\"limit\"} %llu\n"
                    "tagd_connections_rejected_total{reason=\"addr\"} %llu\n"
                    "tagd_connections_rejected_total{reason=\"evicted\"} %llu\n"
                    "# HELP tagd_bodies_refused_total Requests answered while their body arrived: "
                    "413 without credentials, 503 over --max-body-memory-mb.\n"
                    "# TYPE tagd_bodies_refused_total counter\n"
                    "tagd_bodies_refused_total{reason=\"anonymous\"} %llu\n"
                    "tagd_bodies_refused_total{reason=\"budget\"} %llu\n"
                    "# HELP tagd_accept_pauses_total Times accepting paused for want of "
                    "descriptors.\n"
                    "# TYPE tagd_accept_pauses_total counter\n"
                    "tagd_accept_pauses_total %llu\n"
                    "# HELP tagd_body_bytes Request body bytes held now.\n"
                    "# TYPE tagd_body_bytes gauge\n"
                    "tagd_body_bytes %lld\n"
                    "# HELP tagd_connections Open client connections.\n"
                    "# TYPE tagd_connections gauge\n",
                    hs.refused_limit, hs.refused_addr, hs.evicted, hs.body_refused,
                    hs.body_budget, hs.accept_paused, hs.body_bytes);
        for (int i = 0; i < hs.nloops; i++)
            sbuf_printf(b, "tagd_connections{loop=\"%d\"} %d\n", i, hs.loop_conns[i]);
    }
    sbuf_printf(b,
                "# HELP tagd_events_subscribers Open GET /v1/events streams.\n"
                "# TYPE tagd_events_subscribers gauge\n"
                "tagd_events_subscribers %llu\n"
                "# HELP tagd_events_streams_total GET /v1/events streams opened.\n"
                "# TYPE tagd_events_streams_total counter\n"
                "tagd_events_streams_total %llu\n"
                "# HELP tagd_events_sent_total Change events sent on GET /v1/events streams.\n"
                "# TYPE tagd_events_sent_total counter\n"
                "tagd_events_sent_total %llu\n"
                "# HELP tagd_events_cut_off_total Streams ended because their client fell "
                "behind (--events-max-lag) or read nothing (--events-stall).\n"
                "# TYPE tagd_events_cut_off_total counter\n"
                "tagd_events_cut_off_total %llu\n",
                hs.events_subscribers, hs.events_opened, hs.events_sent, hs.events_cut);
    sbuf_adds(b, "# HELP tagd_loop_responses_total Responses sent by each event loop.\n"
                 "# TYPE tagd_loop_responses_total counter\n");
    for (int i = 0; i < hs.nloops; i++)
        sbuf_printf(b, "tagd_loop_responses_total{loop=\"%d\"} %llu\n", i, hs.loop_served[i]);
    core_counts(cx, &tags, &res, &asg);
    sbuf_printf(b,
                "# TYPE tagd_tags gauge\ntagd_tags %lld\n"
                "# TYPE tagd_resources gauge\ntagd_resources %lld\n"
                "# TYPE tagd_assignments gauge\ntagd_assignments %lld\n"
                "# TYPE tagd_revision gauge\ntagd_revision %lld\n",
                (long long)tags, (long long)res, (long long)asg,
                (long long)core_current_rev(cx));
    return API_ANSWER;
}
