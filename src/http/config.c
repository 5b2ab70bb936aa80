/* http/config.c: flags, environment and config file, table-driven. */
#include "http/config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

enum opt_type { OPT_STR, OPT_INT, OPT_FLAG };

struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    size_t size;
    int64_t min, max;
    const char *help;
    bool reload; /* SIGHUP applies it (config_reload); else it waits for the next start */
};

#define S(f, h) {#f, OPT_STR, offsetof(struct tagd_config, f), sizeof(((struct tagd_config *)0)->f), 0, 0, h}
#define I(n, f, lo, hi, h) {n, OPT_INT, offsetof(struct tagd_config, f), 0, lo, hi, h, false}
/* The same, applied by SIGHUP. */
#define R(n, f, lo, hi, h) {n, OPT_INT, offsetof(struct tagd_config, f), 0, lo, hi, h, true}

static const struct opt opts[] = {
    {"listen", OPT_STR, offsetof(struct tagd_config, listen), sizeof(((struct tagd_config *)0)->listen), 0, 0, "ADDR:PORT to listen on (127.0.0.1:8080)", false},
    {"data", OPT_STR, offsetof(struct tagd_config, data), sizeof(((struct tagd_config *)0)->data), 0, 0, "data directory (./data)", false},
    {"store", OPT_STR, offsetof(struct tagd_config, store), sizeof(((struct tagd_config *)0)->store), 0, 0, "store URL (sqlite:DATA/tagd.db)", false},
    {"threads", OPT_INT, offsetof(struct tagd_config, threads), 0, 1, 64, "event loop threads (1)", false},
    {"log-level", OPT_STR, offsetof(struct tagd_config, log_level), sizeof(((struct tagd_config *)0)->log_level), 0, 0, "debug|info|warn|error (info)", true},
    {"log-format", OPT_STR, offsetof(struct tagd_config, log_format), sizeof(((struct tagd_config *)0)->log_format), 0, 0, "text|json (text)", true},
    I("max-body", max_body, 1, 1LL << 30, "largest request body in bytes (1048576)"),
    I("max-conns", max_conns, 1, 1000000, "open connections per thread (4096)"),
    I("max-conns-per-addr", max_conns_per_addr, 0, 1000000, "open connections of one client address, 0 no limit (256)"),
    I("max-anon-body", max_anon_body, 0, 1LL << 30, "body bytes a request without credentials may send (65536)"),
    I("max-body-memory-mb", max_body_memory_mb, 1, 1 << 20, "MB all request bodies in flight may take; beyond it 503 (256)"),
    I("idle-timeout", idle_timeout_ms, 100, 3600000, "request and idle deadline in ms (10000)"),
    R("max-header-bytes", max_header_bytes, 1024, 1 << 20, "sum of header bytes (16384)"),
    R("max-json-depth", max_json_depth, 1, 1000, "deepest JSON nesting accepted (32)"),
    R("max-tags-per-resource", max_tags_per_resource, 1, 1000000, "tags on one resource (1000)"),
    R("rate-limit", rate_limit, 0, 1000000, "requests per second per token, 0 off (0)"),
    R("rate-burst", rate_burst, 0, 1000000, "token bucket size (2 x rate)"),
    R("anon-rate-limit", anon_rate_limit, 0, 1000000, "requests per second per client address that no credential admits, 0 off (0)"),
    R("anon-rate-burst", anon_rate_burst, 0, 1000000, "bucket size per client address (2 x anon-rate-limit)"),
    R("session-ttl", session_ttl, 1, 31536000, "session lifetime in s, easydb's and POST /v1/sessions' (86400)"),
    R("login-fails-per-addr", login_fails_per_addr, 0, 1000000, "failed sign-ins (POST /v1/sessions) one client address may make per login-fail-window, 0 no limit (30)"),
    R("login-fails-per-login", login_fails_per_login, 0, 1000000, "failed sign-ins one login may get per login-fail-window, 0 no limit (10)"),
    R("login-fail-window", login_fail_window, 1, 86400, "s in which the failed sign-in limits refill (300)"),
    R("immuta-token-ttl", immuta_token_ttl, 1, 31536000, "lifetime in s of the tokens Immuta's API-key login gives (3600)"),
    R("batch-max-ops", batch_max_ops, 1, 1000000, "operations in one POST /v1/batch (10000)"),
    R("idempotency-ttl", idempotency_ttl, 1, 31536000, "s an Idempotency-Key's first answer is kept for retries (86400)"),
    R("idempotency-max-keys", idempotency_max_keys, 1, 100000000, "Idempotency-Keys one organization keeps; the oldest make room (10000)"),
    R("idempotency-max-mb", idempotency_max_mb, 1, 1048576, "MB of answers one organization's Idempotency-Keys keep; the oldest make room (64)"),
    R("auth-cache", auth_cache_ms, 0, 3600000, "ms a checked token is trusted without a store read, 0 off (1000)"),
    I("defer-sync", defer_sync, 0, 1, "SQLite: 1 the writer goes on while the WAL is flushed, answers and reads still wait for it; 0 each commit waits (1)"),
    I("wal-mb", wal_mb, 4, 65536, "SQLite: MB the WAL grows to before it starts over; a quarter of it not yet copied starts a background checkpoint (256)"),
    I("write-cache-mb", write_cache_mb, 0, 65536, "SQLite: MB of page cache for the writer, filled at start with the index that adds touch at random; 0: SQLite's 64 MB, nothing read at start (256)"),
    R("drain-timeout", drain_timeout_ms, 0, 600000, "ms to finish requests on SIGTERM (10000)"),
    {"cors-origin", OPT_STR, offsetof(struct tagd_config, cors_origin), sizeof(((struct tagd_config *)0)->cors_origin), 0, 0, "the one ORIGIN browsers may call from, e.g. https://app.example.com (off)", true},
    R("min-revision-wait", min_revision_wait_ms, 0, 60000, "ms a read with X-Tagd-Min-Revision waits (2000)"),
    I("changes-max-wait", changes_max_wait, 0, 3600, "s GET /v1/changes?wait= may wait for a change at most; 0: no long poll (60)"),
    I("events-batch", events_batch_ms, 0, 1000, "ms /v1/events streams gather commits before they send: fewer, larger sends for more latency; 0 every loop tick (0)"),
    I("events-sends", events_sends, 0, 1000000, "sends a second each loop's /v1/events streams may take together while commits keep coming: a stream sends at most every streams/N s; 0 no budget (1000)"),
    I("events-heartbeat", events_heartbeat_ms, 100, 3600000, "ms an idle /v1/events stream waits before a heartbeat comment (15000)"),
    I("events-stall", events_stall_ms, 100, 3600000, "ms a /v1/events client may read nothing before its stream is cut (30000)"),
    I("events-effective-max", events_effective_max, 0, 100000, "descendants an assignment record lists by id for GET /v1/events?effective=true; beyond, their count only (1000)"),
    I("events-max-lag", events_max_lag, 0, INT64_MAX, "revisions a /v1/events stream may be behind before it is ended with where to resume; 0 no bound (100000)"),
    I("store-hold-timeout", store_hold_timeout_ms, 100, 600000, "PostgreSQL: ms a frozen instance may hold the other instances' writes up (2000)"),
    I("tail-poll", tail_poll_ms, 10, 60000, "ms between polls of the shared change log (500)"),
    {"config", OPT_STR, offsetof(struct tagd_config, config), sizeof(((struct tagd_config *)0)->config), 0, 0, "config file of name = value lines", false},
    {"sources", OPT_STR, offsetof(struct tagd_config, sources), sizeof(((struct tagd_config *)0)->sources), 0, 0, "external tag sources: name=url pairs, space-separated", true},
    R("source-timeout", source_timeout_ms, 100, 600000, "ms to fetch one tag source (5000)"),
    R("sources-allow-local", sources_allow_local, 0, 1, "1: API-registered sources may read local files and private addresses (0)"),
    {"webhook-key-file", OPT_STR, offsetof(struct tagd_config, webhook_key_file), sizeof(((struct tagd_config *)0)->webhook_key_file), 0, 0, "file of the key that seals webhook secrets, made (0600) when missing; share it among instances of one PostgreSQL store (DATA/webhook.key)", false},
    R("webhooks-allow-local", webhooks_allow_local, 0, 1, "1: webhooks may call loopback, private and link-local addresses (0)"),
    R("webhooks-max", webhooks_max, 0, 10000, "webhooks per organization (20)"),
    R("webhook-batch", webhook_batch, 1, 1000, "change records in one webhook POST at most (100)"),
    R("webhook-timeout", webhook_timeout_ms, 100, 120000, "ms one webhook POST may take, at most half the lease (10000)"),
    R("webhook-max-reply", webhook_max_reply, 1, 1048576, "bytes of a webhook receiver's answer read at most (4096)"),
    R("webhook-retry-min", webhook_retry_min_ms, 10, 3600000, "ms before the first retry of a failed webhook POST, doubled per failure (1000)"),
    R("webhook-retry-max", webhook_retry_max_ms, 10, 86400000, "ms between retries at most, also of a failing webhook (300000)"),
    R("webhook-retries", webhook_retries, 1, 1000, "failed attempts in a row before a webhook is marked failing (10)"),
    I("webhook-lease", webhook_lease_ms, 4000, 3600000, "ms an instance holds a webhook it delivers; another takes over after it (30000)"),
    {"store-check", OPT_STR, offsetof(struct tagd_config, store_check), sizeof(((struct tagd_config *)0)->store_check), 0, 0, "SQLite at start: auto (quick_check after a crash or a change behind tagd's back), quick (quick_check) or full (integrity_check) (auto)", false},
    I("reinit-store", reinit_store, 0, 1, "SQLite: 1 starts over with an empty store where the store is gone or damaged, keeping the old file as PATH.damaged-TIME; 0 refuses to start (0)"),
};
#undef S
#undef I
#undef R

/* Where a bad setting is reported: stderr at start, `quiet` (the reason a reload gives) on
 * SIGHUP, whose refusal goes to the log as one line. */
static char *quiet;
static size_t quiet_len;

static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (quiet) {
        if (quiet[0] == '\0') /* the first reason is the one that stopped the load */
            vsnprintf(quiet, quiet_len, fmt, ap);
    } else {
        fputs("tagd: ", stderr);
        vfprintf(stderr, fmt, ap);
    }
    va_end(ap);
}

void config_usage(void)
{
    printf("usage: tagd [options]\n\n"
           "Every option is also read from the environment as TAGD_<NAME> (dashes as\n"
           "underscores, upper case) and from the config file; flags win over the\n"
           "environment, which wins over the file.\n\n");
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        printf("  --%-24s %s\n", opts[i].name, opts[i].help);
    printf("  --%-24s %s\n  --%-24s %s\n", "version", "print the version", "help",
           "print this help");
    printf("\nTAGD_ADMIN_TOKEN makes its value a valid admin token (stored hashed).\n");
}

static int set(struct tagd_config *cfg, const struct opt *o, const char *v, const char *from)
{
    char *p = (char *)cfg + o->off;

    if (o->type == OPT_STR) {
        if (strlen(v) >= o->size) {
            complain("%s: value of %s is too long\n", from, o->name);
            return -1;
        }
        memcpy(p, v, strlen(v) + 1);
        return 0;
    }
    {
        char *end;
        long long n;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || end == v || *end != '\0' || n < o->min || n > o->max) {
            complain("%s: %s must be an integer from %lld to %lld\n", from,
                    o->name, (long long)o->min, (long long)o->max);
            return -1;
        }
        if (o->off == offsetof(struct tagd_config, threads))
            *(int *)p = (int)n;
        else
            *(int64_t *)p = n;
    }
    return 0;
}

static const struct opt *find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

/* A value as the file gives it, `v` at its first non-blank: "double" or 'single' quoted (taken
 * as is between the quotes, '#' included), or bare, where a '#' at its start or after a blank
 * begins a comment (a '#' inside a word, as in a URL's fragment, stays). Either may be followed
 * by blanks and a # comment. Cuts `*v` in place; -1 when a quote is not closed or text follows
 * it. */
static int unquote(char **v)
{
    char *s = *v, *t;

    if (*s == '"' || *s == '\'') {
        char *close = strchr(s + 1, *s);
        if (close == NULL)
            return -1;
        for (t = close + 1; isspace((unsigned char)*t); t++)
            ;
        if (*t != '\0' && *t != '#')
            return -1;
        *close = '\0';
        *v = s + 1;
        return 0;
    }
    for (t = s; *t; t++)
        if (*t == '#' && (t == s || isspace((unsigned char)t[-1]))) {
            *t = '\0';
            break;
        }
    for (t = s + strlen(s); t > s && isspace((unsigned char)t[-1]); t--)
        t[-1] = '\0';
    return 0;
}

static int load_file(struct tagd_config *cfg, const char *path)
{
    char line[1024];
    int lineno = 0, rc = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        complain("cannot read config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *k = line, *eq, *v, *e;
        const struct opt *o;
        char from[600];
        lineno++;
        while (isspace((unsigned char)*k))
            k++;
        if (*k == '#' || *k == '\0')
            continue;
        eq = strchr(k, '=');
        if (eq == NULL) {
            complain("%s:%d: expected name = value\n", path, lineno);
            rc = -1;
            break;
        }
        e = eq;
        while (e > k && isspace((unsigned char)e[-1]))
            e--;
        v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        if (unquote(&v) != 0) {
            complain("%s:%d: a quoted value must end with its quote, followed by "
                            "nothing but a # comment\n", path, lineno);
            rc = -1;
            break;
        }
        for (char *t = k; t < e; t++)
            if (*t == '_')
                *t = '-';
        o = find(k, (size_t)(e - k));
        if (o == NULL || strcmp(o->name, "config") == 0) {
            complain("%s:%d: unknown setting '%.*s'\n", path, lineno, (int)(e - k), k);
            rc = -1;
            break;
        }
        snprintf(from, sizeof(from), "%s:%d", path, lineno);
        rc = set(cfg, o, v, from);
    }
    fclose(f);
    return rc;
}

/* An origin as browsers send it: scheme "://" host [":" port], nothing else. A wildcard is
 * refused on purpose: CORS opens the API to one named front end, never to every site. */
static int origin_ok(const char *o)
{
    const char *h;

    if (strncmp(o, "https://", 8) == 0)
        h = o + 8;
    else if (strncmp(o, "http://", 7) == 0)
        h = o + 7;
    else
        return 0;
    if (*h == '\0' || *h == ':')
        return 0;
    for (; *h; h++) {
        unsigned char c = (unsigned char)*h;
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return 0;
    }
    return 1;
}

int config_load(struct tagd_config *cfg, int argc, char **argv)
{
    const char *file = getenv("TAGD_CONFIG");
    size_t i;

    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:8080");
    snprintf(cfg->data, sizeof(cfg->data), "./data");
    cfg->threads = 1;
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    snprintf(cfg->log_format, sizeof(cfg->log_format), "text");
    cfg->max_body = 1 << 20;
    cfg->max_conns = 4096;
    cfg->idle_timeout_ms = 10000;
    cfg->max_conns_per_addr = 256;
    cfg->max_anon_body = 65536;
    cfg->max_body_memory_mb = 256;
    cfg->max_header_bytes = 16384;
    cfg->max_json_depth = 32;
    cfg->max_tags_per_resource = 1000;
    cfg->session_ttl = 86400;
    cfg->login_fails_per_addr = 30;
    cfg->login_fails_per_login = 10;
    cfg->login_fail_window = 300;
    cfg->immuta_token_ttl = 3600;
    cfg->batch_max_ops = 10000;
    cfg->idempotency_ttl = 86400;
    cfg->idempotency_max_keys = 10000;
    cfg->idempotency_max_mb = 64;
    cfg->auth_cache_ms = 1000;
    cfg->defer_sync = 1;
    cfg->wal_mb = 256;
    cfg->write_cache_mb = 256;
    cfg->drain_timeout_ms = 10000;
    cfg->min_revision_wait_ms = 2000;
    cfg->changes_max_wait = 60;
    cfg->events_heartbeat_ms = 15000;
    cfg->events_batch_ms = 0;
    cfg->events_sends = 1000;
    cfg->events_stall_ms = 30000;
    cfg->events_max_lag = 100000;
    cfg->events_effective_max = 1000;
    cfg->tail_poll_ms = 500;
    cfg->store_hold_timeout_ms = 2000;
    cfg->source_timeout_ms = 5000;
    cfg->webhooks_max = 20;
    cfg->webhook_batch = 100;
    cfg->webhook_timeout_ms = 10000;
    cfg->webhook_max_reply = 4096;
    cfg->webhook_retry_min_ms = 1000;
    cfg->webhook_retry_max_ms = 300000;
    cfg->webhook_retries = 10;
    cfg->webhook_lease_ms = 30000;
    snprintf(cfg->store_check, sizeof(cfg->store_check), "auto");

    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            config_usage();
            return 1;
        }
        if (strcmp(argv[a], "--version") == 0) {
            printf("tagd %s\n", TAGD_VERSION);
            return 1;
        }
        if (strcmp(argv[a], "--config") == 0 && a + 1 < argc)
            file = argv[a + 1];
        else if (strncmp(argv[a], "--config=", 9) == 0)
            file = argv[a] + 9;
    }
    if (file && *file) {
        if (load_file(cfg, file))
            return -1;
        snprintf(cfg->config, sizeof(cfg->config), "%s", file);
    }
    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        char env[64], *v;
        size_t j;
        snprintf(env, sizeof(env), "TAGD_%s", opts[i].name);
        for (j = 5; env[j]; j++)
            env[j] = env[j] == '-' ? '_' : (char)toupper((unsigned char)env[j]);
        v = getenv(env);
        if (v && *v && strcmp(opts[i].name, "config") != 0 && set(cfg, &opts[i], v, env))
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a], *val, *eq;
        const struct opt *o;
        if (strncmp(arg, "--", 2) != 0) {
            complain("unexpected argument '%s' (see --help)\n", arg);
            return -1;
        }
        arg += 2;
        eq = strchr(arg, '=');
        o = find(arg, eq ? (size_t)(eq - arg) : strlen(arg));
        if (o == NULL) {
            complain("unknown option '--%s' (see --help)\n", arg);
            return -1;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (a + 1 >= argc) {
                complain("option --%s needs a value\n", o->name);
                return -1;
            }
            val = argv[++a];
        }
        if (strcmp(o->name, "config") == 0)
            continue;
        if (set(cfg, o, val, "flag"))
            return -1;
    }
    if (cfg->store[0] == '\0')
        snprintf(cfg->store, sizeof(cfg->store), "sqlite:%s/tagd.db", cfg->data);
    if (cfg->webhook_key_file[0] == '\0')
        snprintf(cfg->webhook_key_file, sizeof(cfg->webhook_key_file), "%.480s/webhook.key",
                 cfg->data);
    if (cfg->webhook_retry_max_ms < cfg->webhook_retry_min_ms) {
        complain("webhook-retry-max must be at least webhook-retry-min\n");
        return -1;
    }
    if (cfg->rate_burst == 0)
        cfg->rate_burst = cfg->rate_limit * 2;
    if (cfg->anon_rate_burst == 0)
        cfg->anon_rate_burst = cfg->anon_rate_limit * 2;
    if (strcmp(cfg->log_format, "json") != 0 && strcmp(cfg->log_format, "text") != 0) {
        complain("log-format must be text or json\n");
        return -1;
    }
    if (cfg->cors_origin[0] && !origin_ok(cfg->cors_origin)) {
        complain("cors-origin must be one origin like https://app.example.com "
                        "(scheme, host and optional port; no path, no wildcard)\n");
        return -1;
    }
    /* Browsers serialize the scheme and host in lower case. */
    for (char *c = cfg->cors_origin; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strcmp(cfg->store_check, "auto") && strcmp(cfg->store_check, "quick") &&
        strcmp(cfg->store_check, "full")) {
        complain("store-check must be auto, quick or full\n");
        return -1;
    }
    if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
        strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error")) {
        complain("log-level must be debug, info, warn or error\n");
        return -1;
    }
    return 0;
}

/* An option's value as text, for the reload log. */
static void show(const struct tagd_config *cfg, const struct opt *o, char *buf, size_t n)
{
    const char *p = (const char *)cfg + o->off;

    if (o->type == OPT_STR)
        snprintf(buf, n, "'%s'", p);
    else if (o->off == offsetof(struct tagd_config, threads))
        snprintf(buf, n, "%d", *(const int *)p);
    else
        snprintf(buf, n, "%lld", (long long)*(const int64_t *)p);
}

int config_reload(const struct tagd_config *cur, struct tagd_config *next, int argc, char **argv,
                  config_change_fn *fn, void *arg, char *why, size_t why_len)
{
    struct tagd_config *loaded = xcalloc(1, sizeof(*loaded));
    int rc, changed = 0;

    why[0] = '\0';
    quiet = why;
    quiet_len = why_len;
    rc = config_load(loaded, argc, argv);
    quiet = NULL;
    if (rc != 0) {
        if (why[0] == '\0')
            snprintf(why, why_len, "the configuration could not be read");
        /* The reason ends with a newline, written for stderr. */
        for (size_t n = strlen(why); n > 0 && why[n - 1] == '\n'; n--)
            why[n - 1] = '\0';
        xfree(loaded);
        return -1;
    }
    *next = *cur;
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        const struct opt *o = &opts[i];
        size_t size = o->type == OPT_STR ? o->size
                      : o->off == offsetof(struct tagd_config, threads) ? sizeof(int)
                                                                        : sizeof(int64_t);
        char was[160], now[160];
        if (strcmp(o->name, "config") == 0 ||
            memcmp((const char *)cur + o->off, (const char *)loaded + o->off, size) == 0)
            continue;
        show(cur, o, was, sizeof(was));
        show(loaded, o, now, sizeof(now));
        fn(o->name, was, now, o->reload, arg);
        if (o->reload)
            memcpy((char *)next + o->off, (const char *)loaded + o->off, size);
        changed++;
    }
    xfree(loaded);
    return changed;
}
