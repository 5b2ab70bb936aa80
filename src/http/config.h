/* http/config.h: tagd's configuration: flags beat TAGD_<NAME> environment variables, which
 * beat the config file (--config FILE, "name = value" lines), which beats the defaults. */
#ifndef TAGD_HTTP_CONFIG_H
#define TAGD_HTTP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tagd_config {
    char listen[128];
    char data[512];
    char store[640];
    int threads;
    char log_level[16];
    char log_format[16];
    int64_t max_body;
    int64_t max_conns;
    int64_t idle_timeout_ms;
    int64_t max_conns_per_addr; /* 0: no limit */
    int64_t max_anon_body;      /* body bytes of a request without credentials */
    int64_t max_body_memory_mb; /* all bodies in flight */
    int64_t max_header_bytes;
    int64_t max_json_depth;
    int64_t max_tags_per_resource;
    int64_t rate_limit;  /* requests per second per token; 0 off */
    int64_t rate_burst;
    int64_t anon_rate_limit; /* requests per second per client address no credential admits; 0 off */
    int64_t anon_rate_burst;
    int64_t session_ttl;  /* seconds */
    int64_t login_fails_per_addr;  /* failed sign-ins (POST /v1/sessions) per address per window */
    int64_t login_fails_per_login; /* ... per login per window */
    int64_t login_fail_window;     /* seconds */
    int64_t immuta_token_ttl; /* seconds: POST /bim/apikey/authenticate's tokens */
    int64_t batch_max_ops;        /* operations in one POST /v1/batch */
    int64_t idempotency_ttl;      /* seconds an Idempotency-Key's answer is kept */
    int64_t idempotency_max_keys; /* keys one organization keeps at most */
    int64_t idempotency_max_mb;   /* MB of answers one organization's keys keep at most */
    int64_t auth_cache_ms;
    int64_t defer_sync; /* SQLite: the WAL's fsync leaves the writer (store_open_opts.defer_sync) */
    int64_t wal_mb;     /* SQLite: the WAL's length before it starts over (store_open_opts.wal_mb) */
    int64_t write_cache_mb; /* SQLite: the writer's page cache, warmed at start (store_open_opts.write_cache_mb) */
    int64_t drain_timeout_ms;
    char cors_origin[256]; /* the one origin allowed cross-origin access; "": CORS off */
    int64_t min_revision_wait_ms; /* bound on a read's wait for X-Tagd-Min-Revision */
    int64_t changes_max_wait; /* s: bound on GET /v1/changes?wait= (long poll) */
    int64_t events_heartbeat_ms; /* GET /v1/events: a comment after this long idle */
    int64_t events_batch_ms;     /* ... idle streams woken at most this often */
    int64_t events_sends;        /* ... sends a second per loop under load; 0: no budget */
    int64_t events_stall_ms;     /* ... a client reading nothing this long is cut */
    int64_t events_max_lag;      /* ... revisions a stream may lag; 0: no bound */
    int64_t events_effective_max; /* descendants an assignment record lists (core_limits) */
    int64_t store_hold_timeout_ms; /* shared store: a writer session idle in a transaction */
    int64_t tail_poll_ms;         /* shared store: poll interval when no NOTIFY arrives */
    char config[512];
    char sources[4096];        /* "name=url ..." external tag sources */
    int64_t source_timeout_ms; /* fetch deadline per source */
    int64_t sources_allow_local; /* API sources may read files and private addresses */
    char webhook_key_file[512]; /* the key that seals webhook secrets; "": DATA/webhook.key */
    int64_t webhooks_allow_local; /* webhooks may call loopback and private addresses */
    int64_t webhooks_max;         /* webhooks per organization */
    int64_t webhook_batch;        /* events per POST */
    int64_t webhook_timeout_ms;   /* one POST */
    int64_t webhook_max_reply;    /* bytes of a receiver's answer read */
    int64_t webhook_retry_min_ms, webhook_retry_max_ms; /* backoff bounds */
    int64_t webhook_retries;      /* failed attempts in a row before "failing" */
    int64_t webhook_lease_ms;     /* shared store: an instance's hold on a webhook */
    char store_check[16];  /* SQLite start-up check: auto, quick or full (store_open) */
    int64_t reinit_store;  /* 1: a SQLite store found gone or damaged is started over */
};

/** Fills `cfg` from defaults, file, environment and argv. Returns 0 to run, 1 when the
 * command was --help or --version (already printed), -1 on a bad option (message printed). */
int config_load(struct tagd_config *cfg, int argc, char **argv);
void config_usage(void);

/** Called by config_reload for each setting whose value changed: its name, the old and the new
 * value as text (borrowed), and whether the reload applies it. */
typedef void config_change_fn(const char *name, const char *was, const char *now, bool applied,
                              void *arg);

/** Reads the configuration again as config_load did at start (same argv: flags still beat the
 * environment, which beats the file) for SIGHUP. On success `next` is `cur` with every setting
 * SIGHUP may change taken from the new reading (the others keep their running value, and `fn`
 * reports them as not applied); returns how many settings differ. On a bad file returns -1 with
 * the reason in `why` and leaves `next` alone. Prints nothing. */
int config_reload(const struct tagd_config *cur, struct tagd_config *next, int argc, char **argv,
                  config_change_fn *fn, void *arg, char *why, size_t why_len);

#endif /* TAGD_HTTP_CONFIG_H */
