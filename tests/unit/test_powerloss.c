/* tests/unit/test_powerloss.c: power loss under a write load.
 *
 * SIGKILL loses nothing the kernel has; a power loss loses whatever was not synced, and tears
 * what was being written. Each round forks a child that opens the store through the normal
 * path with crashvfs (crashvfs.h) under SQLite, and runs a write load through core the way
 * tagd's server does (txn/txn.c): a writer that group-commits batches of requests, each in
 * its own savepoint; a publisher that catches the engine up with each committed batch, waits
 * for its durability and only then acknowledges its requests (to the parent, over a pipe);
 * and the store's own threads around its writer (store_writer_open): the background
 * checkpointer and, with deferred syncs, the syncers that flush the WAL.
 * The WAL is kept short (1 MB) so that checkpoints and start-overs of the WAL happen within a
 * round. At a random write, truncate or sync the power goes: unsynced sectors are dropped,
 * torn or kept. The parent then opens the store through the normal path again (store_open,
 * whose start-up check runs quick_check after such a session) and checks:
 *   - PRAGMA integrity_check is ok, and the engine loads and counts what the tables hold;
 *   - the requests present are a prefix of the order they were committed in (request i adds
 *     tag PL.t<i> to resource r<i % 50> and removes PL.t<i - 50> from it, so the whole state,
 *     the change log included, follows from how many there are), and every acknowledged
 *     request is among them;
 *   - revisions have no gap, and the admin token still authenticates.
 * The next round goes on from the recovered store.
 *
 * Both durability modes run: deferred syncs (the syncer's fdatasync reaches crashvfs through
 * -Wl,--wrap=fdatasync) and a sync per commit. With deferred syncs, one round in four also
 * fails a fifth of the publisher's reads at their begin, whose answers leave all the same.
 * A store serves STORE_ROUNDS rounds, then a new one starts. `test_powerloss ROUNDS [SEED]`
 * runs longer (bench/powerloss); the default is a few seconds' worth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "crashvfs.h"
#include "engine/engine.h"
#include "store/sqlite.h"
#include "store/store.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/secret.h"

#define TOKEN "powerloss-admin-token"
#define RESOURCES 50 /* request i removes what request i - RESOURCES added to its resource */
#define BATCH_MAX 8  /* requests per group commit, at most */

static int rounds = 20;
static uint64_t seed0 = 20261207;
static bool verbose; /* POWERLOSS_VERBOSE: a line per round, and the cut's own report */

/* ---- the child: tagd's write path under crashvfs ---- */

struct batch {
    struct batch *next;
    int64_t first, last; /* request numbers */
};

static struct {
    struct store *store;
    struct store_conn *writer, *pub;
    struct engine *engine;
    struct principal who;
    int64_t org_id, ws_id;
    int ack_fd;
    pthread_mutex_t mu; /* the publisher's queue */
    pthread_cond_t cv;
    struct batch *head, *tail;
    int64_t acked_upto; /* requests acknowledged: every number below */
    unsigned fail_reads; /* per mille of the publisher's reads that fail to begin */
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static _Noreturn void child_fail(const char *what, const struct tg_err *err)
{
    fprintf(stderr, "powerloss child: %s: %s\n", what, err ? err->msg : "");
    _exit(4);
}

/* As the server's publisher: no answer leaves before its batch is durable and in the engine. */
static void *publisher_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct batch *b;
        struct tg_err err;

        pthread_mutex_lock(&L.mu);
        while (L.head == NULL)
            pthread_cond_wait(&L.cv, &L.mu);
        b = L.head;
        L.head = b->next;
        if (L.head == NULL)
            L.tail = NULL;
        pthread_mutex_unlock(&L.mu);

        tg_err_clear(&err);
        if (store_begin_read_early(L.pub, &err) == 0) {
            /* Without a snapshot taken at the begin (a sync per commit), an injected failure
             * falls on the catch-up's first read; the server goes on then too. */
            if (engine_catch_up(L.engine, L.pub, &err) != 0 && L.fail_reads == 0)
                child_fail("engine catch-up", &err);
            store_wait_durable(L.pub);
            store_rollback(L.pub);
        } else {
            /* The server's way when the read cannot begin (crashvfs_fail_reads): the batch
             * committed, so its answers leave, and the next catch-up brings the engine up to
             * date; but not before the batch is durable. */
            store_wait_durable(L.pub);
        }
        for (int64_t i = b->first; i <= b->last; i++)
            if (write(L.ack_fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
                _exit(5);
        pthread_mutex_lock(&L.mu);
        L.acked_upto = b->last + 1;
        pthread_cond_broadcast(&L.cv);
        pthread_mutex_unlock(&L.mu);
        xfree(b);
    }
    return NULL;
}

static void tag_name(char *out, size_t n, int64_t i)
{
    snprintf(out, n, "PL.t%07lld", (long long)i);
}

/* Request i, in the writer's savepoint, with a context of its own (its own revision). */
static void run_request(int64_t i, struct arena *a)
{
    struct core_ctx cx;
    struct tg_err err;
    struct tag t, old;
    char name[32], key[32];
    int64_t rid;

    tg_err_clear(&err);
    if (store_savepoint(L.writer, &err) != 0)
        child_fail("savepoint", &err);
    core_ctx_init(&cx, L.writer, a, true);
    cx.engine = L.engine;
    cx.who = L.who;
    cx.authed = true;
    cx.org_id = L.org_id;
    cx.ws_id = L.ws_id;
    tag_name(name, sizeof(name), i);
    snprintf(key, sizeof(key), "r%02d", (int)(i % RESOURCES));
    if (core_tag_ensure(&cx, name, &t, &err) != 0 ||
        core_resource_ensure_id(&cx, "file", key, &rid, &err) != 0 ||
        core_assign_add(&cx, rid, &t.id, 1, NULL, NULL, NULL, &err) != 0)
        child_fail(name, &err);
    if (i >= RESOURCES) {
        tag_name(name, sizeof(name), i - RESOURCES);
        if (core_tag_find(&cx, name, &old, &err) != 0 ||
            core_assign_remove(&cx, rid, old.id, &err) != 0)
            child_fail(name, &err);
    }
    core_ctx_done(&cx);
    if (store_savepoint_release(L.writer, &err) != 0)
        child_fail("release", &err);
}

/* The child's store as the server opens it (with crashvfs under it), and the admin's
 * principal for the requests' contexts. `threads`: the store's checkpointer and syncers run
 * (store_writer_open); without them the writer defers checkpoints and syncs all the same, and
 * nothing flushes the WAL but a reader's wait. */
static void child_open(const char *url, bool deferred, bool threads)
{
    static struct arena auth; /* the principal's strings, for the child's life */
    /* 1 MB: a background copy every 64 frames, a start-over every 256. */
    struct store_open_opts opts = {.wal_mb = 1, .defer_sync = deferred};
    struct tg_err err;
    struct core_ctx cx;

    if (crashvfs_install() != 0)
        child_fail("crashvfs_install", NULL);
    tg_err_clear(&err);
    if (store_open(url, &opts, &L.store, &err) != 0)
        child_fail("store_open", &err);
    L.writer = threads ? store_writer_open(L.store, &err) : store_conn_open(L.store, true, &err);
    L.pub = L.writer ? store_conn_open(L.store, false, &err) : NULL;
    if (L.pub == NULL)
        child_fail("store_conn_open", &err);
    if (!threads && (!store__defer_checkpoints(L.writer, 1) ||
                     (deferred && !store__defer_sync(L.writer))))
        child_fail("defer_checkpoints", NULL);
    if (engine_open(L.pub, &L.engine, &err) != 0)
        child_fail("engine_open", &err);
    core_writer_engine(true);
    arena_init(&auth);
    if (store_begin_read(L.pub, &err) != 0)
        child_fail("auth read", &err);
    core_ctx_init(&cx, L.pub, &auth, false);
    if (core_auth_token(&cx, TOKEN, &err) != 0)
        child_fail("core_auth_token", &err);
    L.who = cx.who;
    L.org_id = cx.org_id;
    L.ws_id = cx.ws_id;
    core_ctx_done(&cx);
    store_rollback(L.pub);
}

/* Runs requests first .. first + count - 1 until the power goes (at the armed operation, or
 * after the last answer). */
static _Noreturn void child_main(const char *url, bool deferred, int64_t first, int64_t count,
                                 uint64_t cut_ops, enum crashvfs_mode mode, unsigned fail_reads,
                                 uint64_t seed)
{
    struct tg_err err;
    pthread_t tid;
    uint64_t rnd = seed;
    int64_t i = first;

    child_open(url, deferred, true);
    crashvfs_arm(cut_ops, mode, seed);
    /* From here on, only the publisher's reads. */
    L.fail_reads = fail_reads;
    crashvfs_fail_reads(L.fail_reads, seed);

    pthread_create(&tid, NULL, publisher_main, NULL);

    while (i < first + count) {
        struct arena a;
        struct batch *b = xcalloc(1, sizeof(*b));
        int64_t n;

        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        n = 1 + (int64_t)((rnd >> 33) % BATCH_MAX);
        if (n > first + count - i)
            n = first + count - i;
        arena_init(&a);
        if (store_begin_write(L.writer, &err) != 0)
            child_fail("begin_write", &err);
        b->first = i;
        for (; i < b->first + n; i++)
            run_request(i, &a);
        b->last = i - 1;
        if (store_commit(L.writer, &err) != 0)
            child_fail("commit", &err);
        arena_release(&a);
        pthread_mutex_lock(&L.mu);
        if (L.tail)
            L.tail->next = b;
        else
            L.head = b;
        L.tail = b;
        pthread_cond_broadcast(&L.cv);
        pthread_mutex_unlock(&L.mu);
        store_writer_idle(L.writer);
    }
    pthread_mutex_lock(&L.mu);
    while (L.acked_upto < first + count)
        pthread_cond_wait(&L.cv, &L.mu);
    pthread_mutex_unlock(&L.mu);
    crashvfs_cut_now();
}

/* ---- the parent: the store after the power came back ---- */

static int64_t sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t sql_intf(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t sql_intf(sqlite3 *db, const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return sql_int(db, sql);
}

/* Checks the store after a cut; returns how many requests it holds. `acked`: the highest
 * request acknowledged so far (-1: none). */
static int64_t verify(const char *url, const char *path, int64_t acked, const char *round)
{
    struct store *s = NULL;
    struct store_conn *c;
    struct engine *e = NULL;
    struct eng_stats es;
    const struct eng_snap *snap;
    struct tg_err err;
    struct arena a;
    struct core_ctx cx;
    sqlite3 *db;
    sqlite3_stmt *st;
    char name[32], ic[256] = "";
    int64_t k, cur, live;

    tg_err_clear(&err);
    /* The normal path: tagd's start-up check (quick_check after an unclosed session). */
    if (store_open(url, NULL, &s, &err) != 0)
        fail_msg("%s: the store does not open after the power cut: %s", round, err.msg);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(ic, sizeof(ic), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (strcmp(ic, "ok") != 0)
        fail_msg("%s: integrity_check: %s", round, ic);

    /* The requests present are 0 .. k-1: k of them, the last one k-1. */
    k = sql_int(db, "SELECT count(*) FROM tags WHERE name LIKE 'PL.t%'");
    if (k > 0) {
        tag_name(name, sizeof(name), k - 1);
        if (sql_intf(db, "SELECT count(*) FROM tags WHERE name LIKE 'PL.t%%' AND name > '%s'",
                     name) != 0 ||
            sql_intf(db, "SELECT count(*) FROM tags WHERE name = '%s'", name) != 1)
            fail_msg("%s: the %lld requests present are not the first ones", round,
                     (long long)k);
    }
    if (acked >= k)
        fail_msg("%s: request %lld was acknowledged, but only %lld requests survived the power "
                 "cut", round, (long long)acked, (long long)k);
    /* Their state: the last RESOURCES requests' tags are on their resources, no other. */
    live = k < RESOURCES ? k : RESOURCES;
    tag_name(name, sizeof(name), k - live);
    cur = sql_int(db, "SELECT count(*) FROM assignments a JOIN tags t ON t.id = a.tag_id"
                      " WHERE a.valid_to IS NULL AND t.name LIKE 'PL.t%'");
    if (cur != live ||
        sql_intf(db,
                 "SELECT count(*) FROM assignments a JOIN tags t ON t.id = a.tag_id"
                 " JOIN resources r ON r.id = a.resource_id WHERE a.valid_to IS NULL"
                 " AND t.name >= '%s' AND r.key = printf('r%%02d', substr(t.name, 5) %% %d)",
                 name, RESOURCES) != live)
        fail_msg("%s: %lld requests present, but %lld current assignments", round,
                 (long long)k, (long long)cur);
    /* The change log says the same. */
    assert_int_equal(sql_int(db, "SELECT count(*) FROM changes WHERE entity = 'assignment'"
                                 " AND op = 'add'"), k);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM changes WHERE entity = 'assignment'"
                                 " AND op = 'remove'"), k - live);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM revisions"),
                     sql_int(db, "SELECT max(rev) FROM revisions"));
    assert_int_equal(sql_int(db, "SELECT count(*) FROM changes WHERE rev NOT IN"
                                 " (SELECT rev FROM revisions)"), 0);

    /* The engine loads and holds what the tables do. */
    c = store_conn_open(s, false, &err);
    assert_non_null(c);
    if (engine_open(c, &e, &err) != 0)
        fail_msg("%s: the engine does not load: %s", round, err.msg);
    snap = engine_acquire(e);
    eng_snap_stats(snap, &es);
    engine_release(e, snap);
    assert_int_equal((int64_t)es.assignments,
                     sql_int(db, "SELECT count(*) FROM assignments WHERE valid_to IS NULL"));
    assert_int_equal((int64_t)es.tags, sql_int(db, "SELECT count(*) FROM tags WHERE deleted = 0"));
    assert_int_equal((int64_t)es.resources, sql_int(db, "SELECT count(*) FROM resources"));
    engine_free(e);
    /* The admin token still authenticates. */
    arena_init(&a);
    assert_int_equal(store_begin_read(c, &err), 0);
    core_ctx_init(&cx, c, &a, false);
    if (core_auth_token(&cx, TOKEN, &err) != 0)
        fail_msg("%s: the admin token: %s", round, err.msg);
    core_ctx_done(&cx);
    store_rollback(c);
    arena_release(&a);
    store_conn_close(c);
    sqlite3_close(db);
    store_close(s);
    return k;
}

/* A new store in a new directory `dir` (a mkdtemp template), bootstrapped with TOKEN. */
static void new_store(char *dir, char *url, size_t urlsz, char *path, size_t pathsz)
{
    struct store *s = NULL;
    struct store_conn *c;
    struct tg_err err;
    char *gen = NULL;

    snprintf(dir, 32, "/tmp/tagd-powerloss-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, pathsz, "%s/tagd.db", dir);
    snprintf(url, urlsz, "sqlite:%s", path);
    tg_err_clear(&err);
    assert_int_equal(store_open(url, NULL, &s, &err), 0);
    c = store_conn_open(s, true, &err);
    assert_non_null(c);
    assert_int_equal(core_bootstrap(c, TOKEN, NULL, &gen, &err), 0);
    xfree(gen);
    store_conn_close(c);
    store_close(s);
}

static void remove_dir(const char *dir)
{
    char cmd[100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.pre'", dir, dir);
    assert_int_equal(system(cmd), 0);
}

/* Rounds go on from the store the last one left; a long run starts a new store every
 * STORE_ROUNDS rounds, so that a round's checks stay as quick as its first ones. */
#define STORE_ROUNDS 100

static void run_rounds(bool deferred)
{
    char dir[32], url[300], path[200], round[64], cmd[400];
    int64_t k = 0, acked = -1, acks = 0;
    uint64_t rnd = seed0 ^ (deferred ? 0x5bd1e995ULL : 0);

    secret_init();
    new_store(dir, url, sizeof(url), path, sizeof(path));
    for (int r = 0; r < rounds; r++) {
        int fds[2], status;
        if (r > 0 && r % STORE_ROUNDS == 0) {
            remove_dir(dir);
            new_store(dir, url, sizeof(url), path, sizeof(path));
            k = 0;
            acked = -1;
        }
        pid_t pid;
        int64_t v, count;
        unsigned fail_reads;
        uint64_t cut_ops;
        enum crashvfs_mode mode;
        ssize_t n;

        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        /* Mostly within the load (about 4 operations a request), sometimes after it. */
        count = 50 + (int64_t)((rnd >> 20) % 300);
        cut_ops = 1 + (rnd >> 33) % (uint64_t)(count * 5);
        mode = (enum crashvfs_mode)((rnd >> 13) % 4 == 0 ? CRASHVFS_DROP
                                    : (rnd >> 13) % 4 == 3 ? CRASHVFS_KEEP
                                                           : CRASHVFS_TEAR);
        /* One round in four with deferred syncs, a fifth of the publisher's reads fail to
         * begin (without them a read takes no snapshot at its begin: the failure would fall
         * on the catch-up, whose answers need no flush of their own). */
        fail_reads = deferred && (rnd >> 17) % 4 == 0 ? 200 : 0;
        snprintf(round, sizeof(round), "%s round %d (seed %llu)",
                 deferred ? "deferred" : "sync", r, (unsigned long long)seed0);
        if (getenv("POWERLOSS_KEEP")) {
            /* For a failure's post-mortem: the store as this round found it. */
            snprintf(cmd, sizeof(cmd), "rm -rf '%s.pre' && cp -a '%s' '%s.pre'", dir, dir, dir);
            assert_int_equal(system(cmd), 0);
        }
        assert_int_equal(pipe(fds), 0);
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            L.ack_fd = fds[1];
            child_main(url, deferred, k, count, cut_ops, mode, fail_reads, rnd);
        }
        close(fds[1]);
        while ((n = read(fds[0], &v, sizeof(v))) == (ssize_t)sizeof(v)) {
            if (v > acked)
                acked = v;
            acks++;
        }
        close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != CRASHVFS_EXIT)
            fail_msg("%s: the child ended with status %d (%s)", round, status, dir);
        if (verbose)
            fprintf(stderr, "%s: requests %lld-%lld, power cut after %llu operations (%s), "
                            "%u per mille of the publisher's reads fail\n",
                    round, (long long)k, (long long)(k + count - 1),
                    (unsigned long long)cut_ops,
                    mode == CRASHVFS_DROP ? "drop" : mode == CRASHVFS_TEAR ? "tear" : "keep",
                    fail_reads);
        k = verify(url, path, acked, round);
        if (verbose)
            fprintf(stderr, "%s: %lld requests survive, the last acknowledged %lld\n", round,
                    (long long)k, (long long)acked);
    }
    /* The rounds did write: acknowledged requests survived. */
    assert_true(acks > 0);
    remove_dir(dir);
}

/* With deferred syncs, a write whose publisher cannot begin its read is still answered (it
 * committed); store_wait_durable must then wait for its flush all the same. Deterministic: no
 * syncer thread runs, the read fails for sure, and everything unsynced is dropped. */
static void test_wait_durable_after_a_failed_read(void **state)
{
    char dir[32], url[300], path[200];
    int status;
    pid_t pid;

    (void)state;
    secret_init();
    new_store(dir, url, sizeof(url), path, sizeof(path));
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tg_err err;
        struct arena a;

        child_open(url, true, false);
        crashvfs_arm(0, CRASHVFS_DROP, 1);
        arena_init(&a);
        if (store_begin_write(L.writer, &err) != 0)
            child_fail("begin_write", &err);
        run_request(0, &a);
        if (store_commit(L.writer, &err) != 0)
            child_fail("commit", &err);
        crashvfs_fail_reads(1000, 1);
        if (store_begin_read_early(L.pub, &err) == 0)
            child_fail("the read began although it was to fail", NULL);
        store_wait_durable(L.pub); /* the request is answered after this */
        crashvfs_cut_now();
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != CRASHVFS_EXIT)
        fail_msg("the child ended with status %d", status);
    /* Request 0 was answered: it must have survived. */
    assert_int_equal(verify(url, path, 0, "after a failed read"), 1);
    remove_dir(dir);
}

/* With deferred syncs, another writing connection (the webhook deliverer's) commits without
 * a sync of its own, outside the write lock's hold; store_wait_all_durable must then cover its
 * commit (a batch's end is flushed so before the batch is POSTed). Deterministic: no syncer
 * thread runs, and everything unsynced is dropped at the cut. */
static void test_wait_all_durable_covers_another_writer(void **state)
{
    char dir[32], url[300], path[200];
    int status;
    pid_t pid;

    (void)state;
    secret_init();
    new_store(dir, url, sizeof(url), path, sizeof(path));
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store_conn *other, *writer;
        struct tg_err err;
        struct arena a;

        child_open(url, true, false);
        tg_err_clear(&err);
        other = store_conn_open(L.store, true, &err);
        if (other == NULL)
            child_fail("store_conn_open", &err);
        crashvfs_arm(0, CRASHVFS_DROP, 1);
        arena_init(&a);
        /* Request 0, committed on the other connection. */
        writer = L.writer;
        L.writer = other;
        if (store_begin_write(other, &err) != 0)
            child_fail("begin_write", &err);
        run_request(0, &a);
        if (store_commit(other, &err) != 0)
            child_fail("commit", &err);
        L.writer = writer;
        store_wait_all_durable(other);
        crashvfs_cut_now();
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != CRASHVFS_EXIT)
        fail_msg("the child ended with status %d", status);
    assert_int_equal(verify(url, path, 0, "another writer's commit"), 1);
    remove_dir(dir);
}

static void test_powerloss_deferred_sync(void **state)
{
    (void)state;
    run_rounds(true);
}

static void test_powerloss_sync_per_commit(void **state)
{
    (void)state;
    run_rounds(false);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_durable_after_a_failed_read),
        cmocka_unit_test(test_wait_all_durable_covers_another_writer),
        cmocka_unit_test(test_powerloss_deferred_sync),
        cmocka_unit_test(test_powerloss_sync_per_commit),
    };
    if (argc > 1)
        rounds = atoi(argv[1]);
    if (argc > 2)
        seed0 = strtoull(argv[2], NULL, 10);
    verbose = getenv("POWERLOSS_VERBOSE") != NULL;
    /* The store's start-up checks log each quick_check at info level: once a round. */
    log_setup(verbose ? "info" : "warn", "text");
    fprintf(stderr, "powerloss: %d rounds per durability mode, seed %llu\n", rounds,
            (unsigned long long)seed0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
