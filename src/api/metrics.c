/* api/metrics.c: GET /metrics, the Prometheus text format of what every part counts.
 *
 * Each part exports its counts as a struct: http/ through the source it registers at start
 * (struct api_http_stats: requests by route and status, latency, connection budgets, loops),
 * the write pipeline with the store's and the engine's counts (struct txn_stats), and core the
 * model's sizes, and the kernel the process's own figures (/proc/self). Nothing here keeps state
 * but that source.
 *
 * The text passes `promtool check metrics` (tests/api/test_metrics_format.py checks the same
 * rules): every family has HELP and TYPE, its samples together; counters end in _total. */
#include "api/api.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/webhooks.h"
#include "txn/txn.h"

static api_http_stats_fn *http_source;

void api_metrics_source(api_http_stats_fn *fn) { http_source = fn; }

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static void label(struct sbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sbuf_addc(b, '\\');
        if (*v == '\n')
            sbuf_adds(b, "\\n");
        else
            sbuf_addc(b, *v);
    }
}

static void route_labels(struct sbuf *b, const struct route *rt)
{
    sbuf_adds(b, "method=\"");
    label(b, rt ? rt->method : "ANY");
    sbuf_adds(b, "\",route=\"");
    label(b, rt ? (rt->name ? rt->name : rt->pattern) : "unmatched");
    sbuf_addc(b, '"');
}

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Webhook deliveries of this instance. Labels stay bounded: five outcomes, and lag series for
 * at most WH_LAG_SERIES webhooks (the most lagging this instance holds), whatever the number
 * of webhooks. */
static void webhook_families(struct sbuf *b)
{
    struct wh_stats ws;
    unsigned long long cum = 0;

    wh_stats_get(&ws);
    sbuf_printf(b,
                "# HELP tagd_webhook_deliveries_total Webhook POSTs by outcome: ok (2xx),"
                " http_error (another status), network (no answer), refused (a private address),"
                " local (tagd could not send).\n"
                "# TYPE tagd_webhook_deliveries_total counter\n"
                "tagd_webhook_deliveries_total{outcome=\"ok\"} %llu\n"
                "tagd_webhook_deliveries_total{outcome=\"http_error\"} %llu\n"
                "tagd_webhook_deliveries_total{outcome=\"network\"} %llu\n"
                "tagd_webhook_deliveries_total{outcome=\"refused\"} %llu\n"
                "tagd_webhook_deliveries_total{outcome=\"local\"} %llu\n",
                (unsigned long long)ws.ok, (unsigned long long)ws.http_error,
                (unsigned long long)ws.network, (unsigned long long)ws.refused,
                (unsigned long long)ws.local);
    family(b, "tagd_webhook_delivery_duration_seconds", "histogram",
           "Time of webhook POSTs, from connect to the answer's end.");
    for (int k = 0; k <= WH_LAT_BUCKETS; k++) {
        cum += ws.lat_buckets[k];
        if (k < WH_LAT_BUCKETS)
            sbuf_printf(b, "tagd_webhook_delivery_duration_seconds_bucket{le=\"%g\"} %llu\n",
                        ws.lat_le[k], cum);
        else
            sbuf_printf(b, "tagd_webhook_delivery_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                        cum);
    }
    sbuf_printf(b, "tagd_webhook_delivery_duration_seconds_sum %g\n"
                   "tagd_webhook_delivery_duration_seconds_count %llu\n",
                ws.lat_sum, (unsigned long long)ws.lat_count);
    sbuf_printf(b, "# HELP tagd_webhooks_leased Webhooks this instance delivers now.\n"
                   "# TYPE tagd_webhooks_leased gauge\n"
                   "tagd_webhooks_leased %lld\n"
                   "# HELP tagd_webhook_lag_max_revisions Revisions the furthest behind of the"
                   " webhooks this instance delivers lags the store.\n"
                   "# TYPE tagd_webhook_lag_max_revisions gauge\n"
                   "tagd_webhook_lag_max_revisions %lld\n"
                   "# HELP tagd_webhook_store_transactions_total Write transactions of the"
                   " webhook delivery thread (leases, batch ends, cursors and delivery records:"
                   " at most two per round of batches, whatever the number of webhooks).\n"
                   "# TYPE tagd_webhook_store_transactions_total counter\n"
                   "tagd_webhook_store_transactions_total %llu\n",
                (long long)ws.leased, (long long)ws.lag_max,
                (unsigned long long)ws.store_writes);
    family(b, "tagd_webhook_lag_revisions", "gauge",
           "Revisions a webhook's cursor is behind the store, for the 64 most lagging webhooks"
           " this instance delivers.");
    for (int i = 0; i < ws.nlag; i++)
        sbuf_printf(b, "tagd_webhook_lag_revisions{webhook=\"%lld\"} %lld\n",
                    (long long)ws.lag_id[i], (long long)ws.lag[i]);
}

static void http_families(struct sbuf *b, const struct api_http_stats *hs)
{
    family(b, "tagd_requests_total", "counter", "HTTP requests by method, route and status code.");
    for (size_t i = 0; i < hs->ncounts; i++) {
        sbuf_adds(b, "tagd_requests_total{");
        route_labels(b, hs->counts[i].route);
        sbuf_printf(b, ",code=\"%d\"} %llu\n", hs->counts[i].status, hs->counts[i].n);
    }
    family(b, "tagd_request_duration_seconds", "histogram",
           "Time from a request's arrival to its answer, by method and route.");
    for (size_t i = 0; i < hs->nlatency; i++) {
        const struct api_route_latency *l = &hs->latency[i];
        unsigned long long cum = 0;
        for (int k = 0; k <= hs->nbuckets; k++) {
            cum += l->buckets[k];
            sbuf_adds(b, "tagd_request_duration_seconds_bucket{");
            route_labels(b, l->route);
            if (k < hs->nbuckets)
                sbuf_printf(b, ",le=\"%g\"} %llu\n", (double)hs->bucket_le_us[k] / 1e6, cum);
            else
                sbuf_printf(b, ",le=\"+Inf\"} %llu\n", cum);
        }
        sbuf_adds(b, "tagd_request_duration_seconds_sum{");
        route_labels(b, l->route);
        sbuf_printf(b, "} %g\n", (double)l->sum_us / 1e6);
        sbuf_adds(b, "tagd_request_duration_seconds_count{");
        route_labels(b, l->route);
        sbuf_printf(b, "} %llu\n", l->count);
    }
}

/* The process's own figures, as every Prometheus client library names them. */
static void process_families(struct sbuf *b)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0, btime = 0, fds = 0;
    char buf[1024], *p;
    FILE *f = fopen("/proc/self/stat", "r");
    struct rlimit rl;
    DIR *d;

    if (f) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        /* After the command's closing parenthesis: field 3 on; utime and stime are fields 14
         * and 15, starttime 22, vsize 23, rss 24. */
        p = strrchr(buf, ')');
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
                               "%*d %*d %*d %*d %llu %llu %lld", &utime, &stime, &start, &vsize,
                        &rss) != 5)
            utime = stime = start = vsize = 0, rss = 0;
    }
    f = fopen("/proc/stat", "r");
    while (f && fgets(buf, sizeof(buf), f))
        if (strncmp(buf, "btime ", 6) == 0)
            btime = strtoll(buf + 6, NULL, 10);
    if (f)
        fclose(f);
    d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d))
            fds++;
        closedir(d);
        fds -= 3; /* ".", ".." and the directory's own descriptor */
    }
    family(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
    sbuf_printf(b, "process_cpu_seconds_total %g\n", (double)(utime + stime) / (double)tick);
    family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    sbuf_printf(b, "process_resident_memory_bytes %lld\n", rss * page);
    family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    sbuf_printf(b, "process_virtual_memory_bytes %llu\n", vsize);
    family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    sbuf_printf(b, "process_open_fds %lld\n", fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        sbuf_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    family(b, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    sbuf_printf(b, "process_start_time_seconds %.2f\n",
                (double)btime + (double)start / (double)tick);
}

/* The write pipeline, the engine and the WAL (struct txn_stats). */
static void pipeline_families(struct sbuf *b, const struct txn_stats *ts, int64_t store_rev)
{
    unsigned long long cum = 0;

    family(b, "tagd_pipeline_queue_jobs", "gauge",
           "Requests waiting at each stage of the write pipeline (fetch, writer, publisher).");
    sbuf_printf(b, "tagd_pipeline_queue_jobs{stage=\"fetch\"} %lld\n"
                   "tagd_pipeline_queue_jobs{stage=\"write\"} %lld\n"
                   "tagd_pipeline_queue_jobs{stage=\"publish\"} %lld\n",
                (long long)ts->fetch_queue, (long long)ts->write_queue,
                (long long)ts->publish_queue);
    family(b, "tagd_writer_batch_size", "histogram",
           "Write requests the writer took into one group commit.");
    for (int k = 0; k < TXN_NBATCH_BUCKETS; k++) {
        cum += ts->batches[k];
        sbuf_printf(b, "tagd_writer_batch_size_bucket{le=\"%d\"} %llu\n", ts->batch_le[k], cum);
    }
    sbuf_printf(b, "tagd_writer_batch_size_bucket{le=\"+Inf\"} %llu\n"
                   "tagd_writer_batch_size_sum %llu\n"
                   "tagd_writer_batch_size_count %llu\n",
                cum, (unsigned long long)ts->batch_jobs, cum);
    if (ts->wal_bytes >= 0) {
        family(b, "tagd_wal_bytes", "gauge", "Length of SQLite's write-ahead log file.");
        sbuf_printf(b, "tagd_wal_bytes %lld\n", (long long)ts->wal_bytes);
    }
    if (!ts->engine)
        return;
    family(b, "tagd_engine_revision", "gauge", "Revision of the engine's newest snapshot.");
    sbuf_printf(b, "tagd_engine_revision %lld\n", (long long)ts->engine_rev);
    family(b, "tagd_engine_lag_revisions", "gauge",
           "Revisions the store holds that the engine has not applied yet (the publisher's, "
           "or with PostgreSQL the tailer's, lag).");
    sbuf_printf(b, "tagd_engine_lag_revisions %lld\n",
                (long long)(store_rev > ts->engine_rev ? store_rev - ts->engine_rev : 0));
    family(b, "tagd_engine_items", "gauge", "What the engine's newest snapshot holds, by kind.");
    sbuf_printf(b, "tagd_engine_items{kind=\"tags\"} %zu\n"
                   "tagd_engine_items{kind=\"resources\"} %zu\n"
                   "tagd_engine_items{kind=\"assignments\"} %zu\n",
                ts->engine_tags, ts->engine_resources, ts->engine_assignments);
    family(b, "tagd_engine_bitmap_bytes", "gauge",
           "Serialized size of the engine's bitmaps, a measure of their memory.");
    sbuf_printf(b, "tagd_engine_bitmap_bytes %zu\n", ts->engine_bitmap_bytes);
}

enum api_result api_metrics_render(struct hreq *r, struct core_ctx *cx)
{
    struct sbuf *b = &r->out;
    int64_t tags = 0, res = 0, asg = 0, rev;
    struct api_http_stats hs;
    struct txn_stats ts;

    memset(&hs, 0, sizeof(hs));
    if (http_source)
        http_source(&hs, &r->a);
    txn_stats_get(&ts);
    sbuf_reset(b);
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    family(b, "tagd_build_info", "gauge", "The running tagd's version and commit; always 1.");
    sbuf_printf(b, "tagd_build_info{version=\"%s\",commit=\"%s\"} 1\n", TAGD_VERSION,
                TAGD_COMMIT);
    process_families(b);
    http_families(b, &hs);
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
    sbuf_printf(b,
                "# HELP tagd_import_assignment_rows_total Assignment rows imports wrote in bulk:"
                " many a statement, or one at a time.\n"
                "# TYPE tagd_import_assignment_rows_total counter\n"
                "tagd_import_assignment_rows_total{how=\"bulk\"} %llu\n"
                "tagd_import_assignment_rows_total{how=\"single\"} %llu\n",
                (unsigned long long)ts.import_rows_bulk, (unsigned long long)ts.import_rows_single);
    sbuf_printf(b,
                "# HELP tagd_import_resource_rows_total New resources imports wrote in bulk,"
                " many a statement (the others go one at a time, as any write).\n"
                "# TYPE tagd_import_resource_rows_total counter\n"
                "tagd_import_resource_rows_total{how=\"bulk\"} %llu\n",
                (unsigned long long)ts.import_resources_bulk);
    if (ts.engine) {
        uint64_t applied = ts.engine_applied, reread = ts.engine_reread;
        uint64_t ranged = ts.engine_ranged;
        sbuf_printf(b,
                    "# HELP tagd_engine_resource_updates_total Resources the engine brought up to"
                    " date after commits: applied from the change records, or read again, one"
                    " at a time or in ranged reads of runs of ids.\n"
                    "# TYPE tagd_engine_resource_updates_total counter\n"
                    "tagd_engine_resource_updates_total{how=\"applied\"} %llu\n"
                    "tagd_engine_resource_updates_total{how=\"reread\"} %llu\n"
                    "tagd_engine_resource_updates_total{how=\"ranged\"} %llu\n",
                    (unsigned long long)applied, (unsigned long long)reread,
                    (unsigned long long)ranged);
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
                "tagd_events_cut_off_total %llu\n"
                "# HELP tagd_events_sends_total Chunks GET /v1/events streams gave the kernel "
                "(each holds one or more events; --events-sends bounds their rate).\n"
                "# TYPE tagd_events_sends_total counter\n"
                "tagd_events_sends_total %llu\n",
                hs.events_subscribers, hs.events_opened, hs.events_sent, hs.events_cut,
                hs.events_sends);
    webhook_families(b);
    sbuf_adds(b, "# HELP tagd_loop_responses_total Responses sent by each event loop.\n"
                 "# TYPE tagd_loop_responses_total counter\n");
    for (int i = 0; i < hs.nloops; i++)
        sbuf_printf(b, "tagd_loop_responses_total{loop=\"%d\"} %llu\n", i, hs.loop_served[i]);
    core_counts(cx, &tags, &res, &asg);
    rev = core_current_rev(cx);
    sbuf_printf(b,
                "# HELP tagd_tags Tags in the store (not deleted).\n"
                "# TYPE tagd_tags gauge\ntagd_tags %lld\n"
                "# HELP tagd_resources Resources in the store.\n"
                "# TYPE tagd_resources gauge\ntagd_resources %lld\n"
                "# HELP tagd_assignments Current tag assignments in the store.\n"
                "# TYPE tagd_assignments gauge\ntagd_assignments %lld\n"
                "# HELP tagd_revision The store's newest revision.\n"
                "# TYPE tagd_revision gauge\ntagd_revision %lld\n",
                (long long)tags, (long long)res, (long long)asg, (long long)rev);
    pipeline_families(b, &ts, rev);
    return API_ANSWER;
}
