/* main.c: flags and configuration, store and bootstrap, then the server until a signal.
 * `tagd migrate --from URL --to URL` copies a whole installation between stores instead. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "core/core.h"
#include "core/batch.h"
#include "core/idempotency.h"
#include "core/sources.h"
#include "core/webhooks.h"
#include "http/config.h"
#include "http/listen.h"
#include "http/server.h"
#include "store/store.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/notify.h"
#include "util/progress.h"
#include "util/sbuf.h"
#include "util/secret.h"
#include "util/timeu.h"

static int migrate_main(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    struct progress prog;
    struct tg_err err;

    for (int a = 2; a < argc; a++) {
        if (strcmp(argv[a], "--from") == 0 && a + 1 < argc)
            from = argv[++a];
        else if (strcmp(argv[a], "--to") == 0 && a + 1 < argc)
            to = argv[++a];
        else if (strncmp(argv[a], "--from=", 7) == 0)
            from = argv[a] + 7;
        else if (strncmp(argv[a], "--to=", 5) == 0)
            to = argv[a] + 5;
        else
            from = to = NULL, a = argc;
    }
    if (from == NULL || to == NULL) {
        fprintf(stderr, "usage: tagd migrate --from sqlite:PATH --to postgres://USER@HOST:PORT/DB\n"
                        "Copies every table (history and change log included) into an empty\n"
                        "store and verifies the row counts. Stop tagd on the source first.\n");
        return 2;
    }
    tg_err_clear(&err);
    /* The copy's one transaction waits for the source between its statements: no instance
     * runs meanwhile, so nobody waits for its locks. */
    store_set_hold_timeout_ms(3600000);
    /* On stderr: stdout keeps the per-table report scripts may read. */
    progress_init(&prog, "copying", "rows", 0, progress_mode_for(stderr), stderr);
    if (store_copy(from, to, stdout, &prog, &err) != 0) {
        fprintf(stderr, "tagd migrate: %s\n", err.msg);
        if (err.code == TG_EPRECOND)
            fprintf(stderr, "tagd migrate: nothing was copied; restore the store from a "
                            "backup first (docs/operations.md, \"Start-up checks\")\n");
        return 1;
    }
    printf("migrated %s to %s: every table's row count matches\n", from, to);
    return 0;
}

/* `tagd backup [options] DEST` and `tagd restore [options] BACKUP`: the options name the store
 * as they do for serving (--config, --data, --store, TAGD_*), the file is the one other
 * argument. */
static int backup_main(int argc, char **argv)
{
    bool restore = strcmp(argv[1], "restore") == 0;
    struct tagd_config cfg;
    const char *dest = NULL;
    char **args = xcalloc((size_t)argc, sizeof(*args));
    int n = 0, rc;
    int64_t rev = 0, bytes = 0, t0;
    struct tg_err err;

    args[n++] = argv[0];
    for (int a = 2; a < argc; a++) {
        if (strncmp(argv[a], "--", 2) != 0 && dest == NULL) {
            dest = argv[a];
            continue;
        }
        args[n++] = argv[a];
        /* An option's separate value is not DEST. */
        if (strncmp(argv[a], "--", 2) == 0 && strchr(argv[a], '=') == NULL && a + 1 < argc &&
            strcmp(argv[a], "--help") != 0 && strcmp(argv[a], "--version") != 0)
            args[n++] = argv[++a];
    }
    rc = config_load(&cfg, n, args);
    xfree(args);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (dest == NULL && restore) {
        fprintf(stderr, "usage: tagd restore [--config FILE | --data DIR | --store sqlite:PATH] BACKUP\n"
                        "Checks the copy BACKUP (made by tagd backup) and puts it in place of the\n"
                        "SQLite store, keeping the store it replaces as PATH.before-restore-TIME.\n"
                        "Stop tagd first (docs/operations.md, \"Backups\").\n");
        return 2;
    }
    if (dest == NULL) {
        fprintf(stderr, "usage: tagd backup [--config FILE | --data DIR | --store sqlite:PATH] DEST\n"
                        "Copies the SQLite store into the new file DEST while tagd runs. To\n"
                        "restore, tagd restore DEST with tagd stopped (docs/operations.md, \"Backups\").\n");
        return 2;
    }
    tg_err_clear(&err);
    if (restore) {
        char aside[4300];
        umask(077);
        if (store_restore(cfg.store, dest, aside, sizeof(aside), &rev, &err) != 0) {
            fprintf(stderr, "tagd restore: %s\n", err.msg);
            return 1;
        }
        printf("restored %s from %s: revision %lld%s%s\n", cfg.store, dest, (long long)rev,
               aside[0] ? "; the store it replaced is " : "", aside);
        return 0;
    }
    t0 = time_mono_us();
    umask(077); /* the copy holds what the store holds: hashed secrets, every tenant's data */
    if (store_backup(cfg.store, dest, &rev, &bytes, &err) != 0) {
        fprintf(stderr, "tagd backup: %s\n", err.msg);
        return 1;
    }
    printf("backed up %s to %s: revision %lld, %lld bytes, %.2f s\n", cfg.store, dest,
           (long long)rev, (long long)bytes, (double)(time_mono_us() - t0) / 1e6);
    return 0;
}

/* The command line as given, read again by each SIGHUP: flags still beat the file. */
static int saved_argc;
static char **saved_argv;

/* Puts the settings SIGHUP may change where the parts that read them look (each of those is an
 * atomic field or a published set, see their declarations). */
static void apply_settings(const struct tagd_config *cfg)
{
    log_setup(cfg->log_level, cfg->log_format);
    core_limits.max_tags_per_resource = (int)cfg->max_tags_per_resource;
    core_limits.session_ttl_ms = cfg->session_ttl * 1000;
    core_limits.login_ttl_ms = cfg->immuta_token_ttl * 1000;
    batch_limits.max_ops = (int)cfg->batch_max_ops;
    idem_limits.ttl_ms = cfg->idempotency_ttl * 1000;
    idem_limits.max_keys = cfg->idempotency_max_keys;
    idem_limits.max_bytes = cfg->idempotency_max_mb << 20;
    core_limits.auth_cache_ms = cfg->auth_cache_ms;
    core_limits.events_effective_max = cfg->events_effective_max;
    api_config.max_json_depth = (int)cfg->max_json_depth;
    api_config.max_header_bytes = (int)cfg->max_header_bytes;
    api_config.rate_per_sec = (int)cfg->rate_limit;
    api_config.rate_burst = (int)cfg->rate_burst;
    api_config.anon_rate_per_sec = (int)cfg->anon_rate_limit;
    api_config.anon_rate_burst = (int)cfg->anon_rate_burst;
    api_config.login_fails_addr = (int)cfg->login_fails_per_addr;
    api_config.login_fails_login = (int)cfg->login_fails_per_login;
    api_config.login_fail_window_s = (int)cfg->login_fail_window;
    src_limits.timeout_ms = cfg->source_timeout_ms;
    src_limits.allow_local = cfg->sources_allow_local != 0;
    wh_limits.allow_local = cfg->webhooks_allow_local != 0;
    wh_limits.max_per_org = (int)cfg->webhooks_max;
    wh_limits.batch_max = (int)cfg->webhook_batch; /* config.c caps it at WH_BATCH_CAP */
    wh_limits.timeout_ms = cfg->webhook_timeout_ms;
    wh_limits.max_reply = cfg->webhook_max_reply;
    wh_limits.retry_min_ms = cfg->webhook_retry_min_ms;
    wh_limits.retry_max_ms = cfg->webhook_retry_max_ms;
    wh_limits.retries = (int)cfg->webhook_retries;
}

/* The changes a reload found, logged only once the whole reading is known to be good. */
struct changes {
    struct sbuf lines; /* one line per change, each ending in '\n' */
};

static void note_change(const char *name, const char *was, const char *now, bool applied,
                        void *arg)
{
    struct changes *c = arg;

    if (applied)
        sbuf_printf(&c->lines, "%s changed from %s to %s\n", name, was, now);
    else
        sbuf_printf(&c->lines, "!%s changed from %s to %s, which takes effect at the next start "
                               "(still %s)\n", name, was, now, was);
}

/* SIGHUP, on the main thread: all or nothing. A file that does not load, or sources that do
 * not parse, leave every setting as it was. What changed is logged in the new log level and
 * format, so that an operator who raised the level from warn sees the report. */
static void reload(void)
{
    const struct tagd_config *cur = server_config();
    struct tagd_config *next = xcalloc(1, sizeof(*next));
    struct changes ch;
    char why[512];
    struct tg_err err;
    int n;

    sbuf_init(&ch.lines, 0);
    n = config_reload(cur, next, saved_argc, saved_argv, note_change, &ch, why, sizeof(why));
    if (n < 0) {
        log_error("reload refused, the running settings stay: %s", why);
        goto out;
    }
    tg_err_clear(&err);
    if (strcmp(cur->sources, next->sources) != 0 && core_src_configure(next->sources, &err) != 0) {
        log_error("reload refused, the running settings stay: sources: %s", err.msg);
        goto out;
    }
    apply_settings(next);
    server_set_config(next);
    for (const char *line = sbuf_str(&ch.lines), *eol; *line; line = eol + 1) {
        eol = strchr(line, '\n');
        if (line[0] == '!')
            log_warn("reload: %.*s", (int)(eol - line - 1), line + 1);
        else
            log_info("reload: %.*s", (int)(eol - line), line);
    }
    log_info("reload: %s read, %d setting%s changed", cur->config[0] ? cur->config
                                                                     : "the environment",
             n, n == 1 ? "" : "s");
out:
    sbuf_release(&ch.lines);
    xfree(next);
}

int main(int argc, char **argv)
{
    struct tagd_config cfg;
    struct store_open_opts opts = {0};
    struct store *store = NULL;
    struct store_conn *conn;
    struct tg_err err;
    char *generated = NULL;
    int rc;

    if (argc > 1 && strcmp(argv[1], "migrate") == 0)
        return migrate_main(argc, argv);
    if (argc > 1 && (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "restore") == 0))
        return backup_main(argc, argv);
    /* Request bodies come and go in buffers of up to a few MB. glibc raises its mmap threshold
     * each time such a buffer is freed, until large buffers come from the heap, where what an
     * attack (or a burst of uploads) took stays resident after it ends. A fixed threshold keeps
     * every buffer of 256 KiB or more mapped and gives it back when it is freed. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    /* Until the server takes SIGHUP over (a reload), one sent while the store opens, as a
     * logrotate might, must not end the process. */
    signal(SIGHUP, SIG_IGN);
    rc = config_load(&cfg, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    saved_argc = argc;
    saved_argv = argv;
    apply_settings(&cfg);
    /* Read at start only (config.c marks them so): the streams' limits. */
    api_config.changes_max_wait_s = cfg.changes_max_wait;
    api_config.events_heartbeat_ms = cfg.events_heartbeat_ms;
    api_config.events_batch_ms = cfg.events_batch_ms;
    api_config.events_sends = cfg.events_sends;
    api_config.events_stall_ms = cfg.events_stall_ms;
    api_config.events_max_lag = cfg.events_max_lag;
    if (secret_init() != 0) {
        log_error("libsodium failed to initialize");
        return 1;
    }
    api_config.max_body = (size_t)cfg.max_body;

    rc = listen_preflight(&cfg);
    if (rc)
        return rc;
    /* Opening and bootstrapping run before anyone else writes, and hash the admin secrets
     * (argon2id) inside their transaction: a minute's hold there, --store-hold-timeout after. */
    store_set_hold_timeout_ms(60000);
    tg_err_clear(&err);
    opts.check = strcmp(cfg.store_check, "full") == 0    ? STORE_CHECK_FULL
                 : strcmp(cfg.store_check, "quick") == 0 ? STORE_CHECK_QUICK
                                                         : STORE_CHECK_AUTO;
    opts.reinit = cfg.reinit_store != 0;
    opts.exclusive = true;
    opts.create_dir = true;
    opts.wal_mb = (int)cfg.wal_mb;
    opts.write_cache_mb = (int)cfg.write_cache_mb;
    opts.defer_sync = cfg.defer_sync != 0;
    notify_send("STATUS=opening the store");
    rc = store_open(cfg.store, &opts, &store, &err);
    if (rc == TG_EPRECOND) {
        /* Not a store to serve: everyone's data would silently be gone, or go wrong later. */
        fprintf(stderr,
                "tagd: refusing to start: %s\n"
                "tagd: restore the store from a backup, or start over with an empty store "
                "(the file is kept aside) with --reinit-store 1 (docs/operations.md, "
                "\"Start-up checks\")\n",
                err.msg);
        return 1;
    }
    if (rc != 0) {
        log_error("cannot open store %s: %s", cfg.store, err.msg);
        return 1;
    }
    conn = store_conn_open(store, true, &err);
    if (conn == NULL || core_bootstrap(conn, getenv("TAGD_ADMIN_TOKEN"),
                                       getenv("TAGD_ADMIN_PASSWORD"), &generated, &err) != 0) {
        log_error("cannot initialize the store: %s", err.msg);
        store_conn_close(conn);
        store_close(store);
        return 1;
    }
    store_conn_close(conn);
    store_set_hold_timeout_ms(cfg.store_hold_timeout_ms);
    if (generated) {
        /* Whatever the log level; in JSON as one line with the token in a field of its own. */
        if (strcmp(cfg.log_format, "json") == 0)
            log_always(LOG_WARN, "admin_token", generated,
                       "first start: admin token (shown once, store it now): %s", generated);
        else
            fprintf(stderr,
                    "tagd: first start: admin token (shown once, store it now):\n  %s\n",
                    generated);
        xfree(generated);
    }
    tg_err_clear(&err);
    if (core_src_global_init() != 0 || core_src_configure(cfg.sources, &err) != 0) {
        log_error("sources: %s", err.msg[0] ? err.msg : "libcurl failed to initialize");
        core_src_global_release();
        store_close(store);
        return 2;
    }
    /* Read at start only: leases must agree across the delivery thread's life. */
    wh_limits.lease_ms = cfg.webhook_lease_ms;
    {
        char why[600];
        /* The default key lives in the data directory, which a PostgreSQL store may not
         * have made. */
        if (strncmp(cfg.webhook_key_file, cfg.data, strlen(cfg.data)) == 0)
            mkdir(cfg.data, 0700);
        if (core_webhook_key_init(cfg.webhook_key_file, why, sizeof(why)) != 0) {
            log_error("webhooks: %s", why);
            core_src_global_release();
            store_close(store);
            return 2;
        }
    }
    rc = server_run(&cfg, store, reload);
    store_close(store);
    core_webhook_key_release();
    core_src_global_release();
    return rc;
}
