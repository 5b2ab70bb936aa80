/* tests/unit/test_store.c: the SQLite store on a temporary database: opening and migrations,
 * the pragmas it promises, transactions, savepoints, snapshots seen by readers, cached
 * statements, error mapping, history rows written by core, and injected faults (a locked
 * database, a schema newer than the binary, a read-only connection asked to write). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "core/core.h"
#include "store/migrations.h"
#include "store/sqlite.h"
#include "util/mem.h"
#include "util/secret.h"

struct tmp {
    char dir[64];
    char path[128];
    char url[160];
};

static int setup(void **state)
{
    struct tmp *t = xcalloc(1, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/tagd-store-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/t.db", t->dir);
    snprintf(t->url, sizeof(t->url), "sqlite:%s", t->path);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tmp *t = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        return -1;
    xfree(t);
    return 0;
}

/* Runs a one-value query on a separate, plain SQLite connection. */
static int64_t peek(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void peek_text(const char *path, const char *sql, char *out, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    out[0] = '\0';
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int64_t rev_current(struct store_conn *c)
{
    struct tg_err err;
    struct store_stmt *st = st_get(c, SQL_REV_CURRENT, &err);
    int64_t v;
    assert_non_null(st);
    assert_int_equal(st_step(st, &err), 1);
    v = col_int(st, 0);
    st_reset(st);
    return v;
}

static int rev_insert(struct store_conn *c, int64_t rev, struct tg_err *err)
{
    struct store_stmt *st = st_get(c, SQL_REV_INSERT, err);
    assert_non_null(st);
    st_int(st, 1, rev);
    st_int(st, 2, 1000 * rev);
    return st_exec(st, err);
}

static void test_open_migrates_once(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct tg_err err;
    char mode[32];
    int64_t nmig = (int64_t)(sizeof(store_migrations) / sizeof(store_migrations[0]));

    tg_err_clear(&err);
    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    assert_non_null(strstr(store_describe(s), t->path));
    store_close(s);
    assert_int_equal(peek(t->path, "SELECT max(v) FROM schema_version"), nmig);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM schema_version"), nmig);
    /* A second open applies nothing again. */
    assert_int_equal(store_open(t->path, NULL, &s, &err), 0); /* a plain path works too */
    store_close(s);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM schema_version"), nmig);
    /* WAL is a property of the file: durable, concurrent readers. */
    peek_text(t->path, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
}

static void test_bad_urls(void **state)
{
    struct tmp *t = *state;
    struct store *s = NULL;
    struct tg_err err;
    char url[200];

    tg_err_clear(&err);
    assert_int_equal(store_open("mysql://localhost/x", NULL, &s, &err), TG_EINVAL);
    assert_string_equal(err.field, "store");
    assert_null(s);
    snprintf(url, sizeof(url), "sqlite:%s/no/such/dir/t.db", t->dir);
    tg_err_clear(&err);
    assert_true(store_open(url, NULL, &s, &err) < 0);
    assert_null(s);
}

static void test_newer_schema_is_refused(void **state)
{
    struct tmp *t = *state;
    struct store *s = NULL;
    struct tg_err err;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    store_close(s);
    /* Fault: a database written by a newer tagd. */
    assert_int_equal(peek(t->path, "INSERT INTO schema_version(v) VALUES(9999) RETURNING v"), 9999);
    s = NULL;
    tg_err_clear(&err);
    assert_true(store_open(t->url, NULL, &s, &err) < 0);
    assert_null(s);
    assert_non_null(strstr(err.msg, "newer"));
}

static void test_transactions_and_snapshots(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *w, *r;
    struct tg_err err;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    w = store_conn_open(s, true, &err);
    r = store_conn_open(s, false, &err);
    assert_non_null(w);
    assert_non_null(r);

    assert_int_equal(store_begin_write(w, &err), 0);
    assert_int_equal(rev_insert(w, 1, &err), 0);
    /* A reader does not see uncommitted work ... */
    assert_int_equal(store_begin_read(r, &err), 0);
    assert_int_equal(rev_current(r), 0);
    assert_int_equal(store_commit(w, &err), 0);
    /* ... nor a commit that happened after its snapshot began. */
    assert_int_equal(rev_current(r), 0);
    store_rollback(r);
    assert_int_equal(store_begin_read(r, &err), 0);
    assert_int_equal(rev_current(r), 1);
    store_rollback(r);

    /* Rollback undoes everything. */
    assert_int_equal(store_begin_write(w, &err), 0);
    assert_int_equal(rev_insert(w, 2, &err), 0);
    store_rollback(w);
    assert_int_equal(rev_current(w), 1);
    /* Rolling back with no transaction open is harmless. */
    store_rollback(w);

    /* Savepoints: a failing request is undone alone inside the group transaction. */
    assert_int_equal(store_begin_write(w, &err), 0);
    assert_int_equal(store_savepoint(w, &err), 0);
    assert_int_equal(rev_insert(w, 2, &err), 0);
    assert_int_equal(store_savepoint_release(w, &err), 0);
    assert_int_equal(store_savepoint(w, &err), 0);
    assert_int_equal(rev_insert(w, 3, &err), 0);
    store_savepoint_rollback(w);
    assert_int_equal(store_savepoint(w, &err), 0);
    assert_int_equal(rev_insert(w, 4, &err), 0);
    assert_int_equal(store_savepoint_release(w, &err), 0);
    assert_int_equal(store_commit(w, &err), 0);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM revisions"), 3);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM revisions WHERE rev = 3"), 0);
    assert_int_equal(store_ping(r, &err), 0);

    store_conn_close(r);
    store_conn_close(w);
    store_close(s);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    if (f == NULL)
        return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return n;
}

static void insert_blobs(struct store_conn *w, int rows)
{
    struct tg_err err;
    char sql[200];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO big SELECT randomblob(3000) FROM n", rows);
    assert_int_equal(store_begin_write(w, &err), 0);
    assert_int_equal(store_exec_script(w, sql, &err), 0);
    assert_int_equal(store_commit(w, &err), 0);
}

/* The server's commits leave the WAL's copy to others: a background connection copies it once
 * a quarter of the WAL is not copied yet (AHEAD), and the writer itself finishes the copy
 * between its transactions once the WAL is long (RESTART), after which the WAL starts over. */
static void test_deferred_checkpoints(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *w, *bg, *rd;
    struct tg_err err;
    char wal[160];
    long before, after, wal_len, keep;

    snprintf(wal, sizeof(wal), "%s-wal", t->path);
    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    w = store_conn_open(s, true, &err);
    bg = store_conn_open(s, true, &err);
    assert_non_null(w);
    assert_non_null(bg);
    /* 16 MB: 4,096 pages, due for a copy from 1,024. The WAL file gets its length at once:
     * 4,096 frames (a page and a 24-byte header each) after its 32-byte header, and a quarter
     * more, so that no frame is ever written past its end. */
    assert_true(store__defer_checkpoints(w, 16));
    keep = 32 + 4096L * (4096 + 24);
    keep += keep / 4;
    assert_int_equal(file_size(wal), keep);
    assert_int_equal(store_exec_script(w, "CREATE TABLE big(x BLOB)", &err), 0);
    /* A short WAL: nothing to do yet. */
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_NONE);
    before = file_size(t->path);
    insert_blobs(w, 1500);
    /* Committed (and durable in the WAL) but not copied by the commit itself. */
    assert_int_equal(file_size(t->path), before);
    wal_len = file_size(wal);
    assert_true(wal_len > 1500L * 3000);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_AHEAD);
    /* The background connection copies it; then nothing is due. */
    assert_int_equal(store__checkpoint(bg, &err), 0);
    after = file_size(t->path);
    assert_true(after > before + 1500L * 3000);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM big"), 1500);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_NONE);
    /* The writer was idle meanwhile: its next transaction starts the WAL over. */
    insert_blobs(w, 1);
    assert_int_equal(file_size(wal), wal_len);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_NONE);

    /* A reader on an old snapshot keeps the WAL from starting over, as copies racing the
     * writer's commits do: it grows until the writer must finish the copy itself. */
    rd = store_conn_open(s, false, &err);
    assert_non_null(rd);
    assert_int_equal(store_begin_read(rd, &err), 0);
    assert_int_equal(store_exec_script(rd, "SELECT count(*) FROM big", &err), 0);
    for (int i = 0; i < 6; i++) {
        insert_blobs(w, 1500);
        if (store__checkpoint_due(w) == STORE_CKPT_AHEAD)
            assert_int_equal(store__checkpoint(bg, &err), 0);
    }
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_RESTART);
    wal_len = file_size(wal);
    assert_true(wal_len > 4096L * 4096);
    /* Still held back by the reader: still due. */
    assert_int_equal(store__checkpoint(w, &err), 0);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_RESTART);
    store_rollback(rd);
    assert_int_equal(store__checkpoint(w, &err), 0);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_NONE);
    /* Started over: the file, held back past its length, is cut back to it, not shorter
     * (the next pass writes inside it again). */
    assert_true(wal_len > keep);
    insert_blobs(w, 1);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_NONE);
    assert_int_equal(file_size(wal), keep);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM big"), 1500 * 7 + 2);

    /* In the WAL's last quarter (from 3,072 pages) a copy is due from 64 uncopied pages, not
     * 1,024: the writer's own copy at the restart stays short. */
    insert_blobs(w, 3100);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_AHEAD);
    /* A reader of the WAL keeps it, copied, from starting over, as the writer's next commits
     * would under load. */
    assert_int_equal(store_begin_read(rd, &err), 0);
    assert_int_equal(store_exec_script(rd, "SELECT count(*) FROM big", &err), 0);
    assert_int_equal(store__checkpoint(bg, &err), 0);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_NONE);
    insert_blobs(w, 100);
    assert_int_equal(store__checkpoint_due(w), STORE_CKPT_AHEAD);
    store_rollback(rd);

    store_conn_close(rd);
    store_conn_close(bg);
    store_conn_close(w);
    store_close(s);
}

/* The writer's cache is filled at start with assignments_cur, the index random adds read:
 * every current entry while they fit, none of the closed ones (the index is partial), and
 * nothing with 0 MB. */
static void test_warm_writer(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *w;
    struct tg_err err;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    w = store_conn_open(s, true, &err);
    assert_non_null(w);
    assert_int_equal(store_exec_script(w,
                                       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                                       " WHERE i < 5000) INSERT INTO assignments(resource_id, tag_id,"
                                       " added_at, valid_from, valid_to) SELECT i / 10, i % 10, 1, 1,"
                                       " CASE WHEN i % 5 = 0 THEN 2 END FROM n",
                                       &err),
                     0);
    assert_int_equal(store__warm_writer(w, 0), 0);
    assert_int_equal(store__warm_writer(w, 1), 4000);
    store_conn_close(w);
    store_close(s);
}

/* opts.exclusive: one process per SQLite file. A second exclusive open is refused with the
 * holder's pid before it reads the file; a plain open (tests, tools) is not; the lock goes
 * with store_close. create_dir makes the store's directory. */
static void test_exclusive_store_is_locked(void **state)
{
    struct tmp *t = *state;
    struct store_open_opts ex = {.exclusive = true, .create_dir = true};
    struct store *s = NULL, *again = NULL;
    struct tg_err err;
    char want[64], url[200];
    struct stat sb;

    assert_int_equal(store_open(t->url, &ex, &s, &err), 0);
    tg_err_clear(&err);
    assert_int_equal(store_open(t->url, &ex, &again, &err), TG_EBUSY);
    snprintf(want, sizeof(want), "in use by another tagd (pid %ld)", (long)getpid());
    if (strstr(err.msg, want) == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(store_open(t->url, NULL, &again, &err), 0);
    store_close(again);
    store_close(s);
    assert_int_equal(store_open(t->url, &ex, &s, &err), 0);
    store_close(s);
    /* A missing directory is made (0700) only when asked. */
    snprintf(url, sizeof(url), "sqlite:%s/sub/t.db", t->dir);
    ex.create_dir = false;
    assert_true(store_open(url, &ex, &s, &err) < 0);
    ex.create_dir = true;
    assert_int_equal(store_open(url, &ex, &s, &err), 0);
    snprintf(url, sizeof(url), "%s/sub", t->dir);
    assert_int_equal(stat(url, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    store_close(s);
}

/* store_writer_open runs the store's own threads for the writer (a 1 MB WAL: copies due
 * within a few hundred pages; deferred syncs): commits are copied and flushed without the
 * caller's help but for store_writer_idle, and closing the writer stops the threads, so that
 * store_close returns. */
static void test_writer_threads(void **state)
{
    struct tmp *t = *state;
    struct store_open_opts o = {.wal_mb = 1, .defer_sync = true};
    struct store *s = NULL;
    struct store_conn *w, *r;
    struct tg_err err;
    uint64_t syncs0 = store_stat(STORE_STAT_WAL_SYNCS);

    assert_int_equal(store_open(t->url, &o, &s, &err), 0);
    w = store_writer_open(s, &err);
    assert_non_null(w);
    r = store_conn_open(s, false, &err);
    assert_non_null(r);
    assert_int_equal(store_exec_script(w, "CREATE TABLE big(x BLOB)", &err), 0);
    for (int i = 0; i < 20; i++) {
        insert_blobs(w, 50);
        store_writer_idle(w);
    }
    /* The syncers flushed what was committed: a reader's begin has nothing left to wait for. */
    for (int i = 0; i < 2000 && store__syncs(w) == 0; i++)
        usleep(1000);
    assert_true(store__syncs(w) > 0);
    assert_true(store_stat(STORE_STAT_WAL_SYNCS) > syncs0);
    assert_int_equal(store_begin_read(r, &err), 0);
    store_rollback(r);
    /* The checkpointer copied into the database file: far more than its first pages. */
    for (int i = 0; i < 2000 && file_size(t->path) < 1000L * 3000; i++)
        usleep(1000);
    assert_true(file_size(t->path) >= 1000L * 3000);
    store_conn_close(r);
    store_conn_close(w);
    store_close(s);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM big"), 1000);
}

static void *sync_loop(void *arg)
{
    intptr_t n = 0;
    while (store__sync_next(arg))
        n++;
    return (void *)n;
}

/* Deferred syncs: a commit no longer waits for the WAL's fsync, and nothing it wrote can be
 * read before one ran: a reader's begin does it, or waits for the syncer's. */
static void test_deferred_sync(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *w, *r;
    struct tg_err err;
    pthread_t syncer;
    void *loops;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    w = store_conn_open(s, true, &err);
    r = store_conn_open(s, false, &err);
    assert_true(store__defer_checkpoints(w, 256));
    assert_int_equal(store_exec_script(w, "CREATE TABLE big(x BLOB)", &err), 0);
    assert_true(store__defer_sync(w));
    insert_blobs(w, 3);
    assert_int_equal(store__syncs(w), 0); /* the commit did not sync */
    /* The reader's snapshot holds the commit: its begin syncs first. */
    assert_int_equal(store_begin_read(r, &err), 0);
    assert_int_equal(store__syncs(w), 1);
    store_rollback(r);
    /* Nothing new: no sync. */
    assert_int_equal(store_begin_read(r, &err), 0);
    assert_int_equal(store__syncs(w), 1);
    store_rollback(r);
    /* An early read does not wait; its wait does. */
    insert_blobs(w, 1);
    assert_int_equal(store_begin_read_early(r, &err), 0);
    assert_int_equal(store__syncs(w), 1);
    store_wait_durable(r);
    assert_int_equal(store__syncs(w), 2);
    store_wait_durable(r);
    assert_int_equal(store__syncs(w), 2);
    store_rollback(r);
    /* The syncer thread flushes what was written, and stops when told (after a last one). */
    assert_int_equal(pthread_create(&syncer, NULL, sync_loop, w), 0);
    insert_blobs(w, 1);
    for (int i = 0; i < 2000 && store__syncs(w) < 3; i++)
        usleep(1000);
    assert_int_equal(store__syncs(w), 3);
    assert_int_equal(store_begin_read(r, &err), 0); /* durable already: no wait, no sync */
    assert_int_equal(store__syncs(w), 3);
    store_rollback(r);
    store__sync_stop(w);
    assert_int_equal(pthread_join(syncer, &loops), 0);
    assert_true((intptr_t)loops >= 1);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM big"), 5);

    store_conn_close(r);
    store_conn_close(w);
    store_close(s);
}

/* Regression: a statement left stepped (not reset) by a request must not pin the reader's
 * snapshot for the next request (seen as freshly issued tokens answering 401). */
static void test_unreset_statement_does_not_pin_snapshot(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *w, *r;
    struct store_stmt *st;
    struct tg_err err;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    w = store_conn_open(s, true, &err);
    r = store_conn_open(s, false, &err);
    assert_int_equal(store_begin_write(w, &err), 0);
    assert_int_equal(rev_insert(w, 1, &err), 0);
    assert_int_equal(rev_insert(w, 2, &err), 0);
    assert_int_equal(store_commit(w, &err), 0);
    /* A request reads one row of a two-row answer and forgets to reset. */
    assert_int_equal(store_begin_read(r, &err), 0);
    st = st_get(r, SQL_REV_AT_TIME, &err);
    assert_non_null(st);
    st_int(st, 1, INT64_MAX);
    assert_int_equal(st_step(st, &err), 1);
    store_rollback(r);
    assert_int_equal(store_begin_write(w, &err), 0);
    assert_int_equal(rev_insert(w, 3, &err), 0);
    assert_int_equal(store_commit(w, &err), 0);
    assert_int_equal(store_begin_read(r, &err), 0);
    assert_int_equal(rev_current(r), 3);
    store_rollback(r);
    store_conn_close(r);
    store_conn_close(w);
    store_close(s);
}

static void test_errors_map_to_codes(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *w, *r;
    struct tg_err err;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    w = store_conn_open(s, true, &err);
    r = store_conn_open(s, false, &err);
    assert_int_equal(store_begin_write(w, &err), 0);
    assert_int_equal(rev_insert(w, 1, &err), 0);
    /* A unique violation is TG_EEXISTS, and the statement is usable again afterwards. */
    tg_err_clear(&err);
    assert_int_equal(rev_insert(w, 1, &err), TG_EEXISTS);
    assert_int_equal(rev_insert(w, 2, &err), 0);
    assert_int_equal(store_commit(w, &err), 0);

    /* A reader connection refuses to write. */
    assert_int_equal(store_begin_read(r, &err), 0);
    tg_err_clear(&err);
    assert_true(rev_insert(r, 3, &err) < 0);
    store_rollback(r);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM revisions"), 2);

    store_conn_close(r);
    store_conn_close(w);
    store_close(s);
}

static void test_statements_are_cached(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *c;
    struct store_stmt *a, *b;
    struct tg_err err;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    c = store_conn_open(s, true, &err);
    a = st_get(c, SQL_REV_AT_TIME, &err);
    st_int(a, 1, 12345);
    b = st_get(c, SQL_REV_AT_TIME, &err);
    /* Same prepared statement, bindings cleared: NULL compares to nothing, so 0 comes back. */
    assert_ptr_equal(a, b);
    assert_int_equal(st_step(b, &err), 1);
    assert_int_equal(col_int(b, 0), 0);
    assert_false(col_null(b, 0));
    st_reset(b);
    store_conn_close(c);
    store_close(s);
}

static void test_locked_store_is_busy(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *w;
    struct tg_err err;
    sqlite3 *other = NULL;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    w = store_conn_open(s, true, &err);
    /* Fault: another process holds the write lock past the busy timeout. */
    assert_int_equal(sqlite3_open(t->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    tg_err_clear(&err);
    assert_int_equal(store_begin_write(w, &err), TG_EBUSY);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    /* And the connection works once the lock is gone. */
    assert_int_equal(store_begin_write(w, &err), 0);
    assert_int_equal(rev_insert(w, 1, &err), 0);
    assert_int_equal(store_commit(w, &err), 0);
    store_conn_close(w);
    store_close(s);
}

static void test_history_and_changes_rows(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *c;
    struct core_ctx cx;
    struct tag_input in;
    struct tag tag, out;
    struct arena a;
    struct tg_err err;
    char *gen = NULL;
    int64_t rev1, rev2;

    secret_init();
    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    c = store_conn_open(s, true, &err);
    assert_int_equal(core_bootstrap(c, "store-token", NULL, &gen, &err), 0);
    xfree(gen);
    arena_init(&a);

    core_ctx_init(&cx, c, &a, true);
    assert_int_equal(store_begin_write(c, &err), 0);
    assert_int_equal(core_auth_token(&cx, "store-token", &err), 0);
    memset(&in, 0, sizeof(in));
    in.name = "Hist";
    assert_int_equal(core_tag_create(&cx, &in, &tag, &err), 0);
    rev1 = cx.rev;
    assert_int_equal(store_commit(c, &err), 0);

    core_ctx_init(&cx, c, &a, true);
    assert_int_equal(store_begin_write(c, &err), 0);
    assert_int_equal(core_auth_token(&cx, "store-token", &err), 0);
    memset(&in, 0, sizeof(in));
    in.has_description = true;
    in.description = "second version";
    assert_int_equal(core_tag_update(&cx, tag.id, &in, 1, &out, &err), 0);
    rev2 = cx.rev;
    assert_int_equal(out.version, 2);
    assert_int_equal(store_commit(c, &err), 0);
    assert_true(rev2 == rev1 + 1);

    /* Two versions in history: [rev1, rev2) and [rev2, open). */
    assert_int_equal(peek(t->path, "SELECT count(*) FROM tags_hist WHERE name = 'Hist'"), 2);
    assert_int_equal(peek(t->path, "SELECT valid_to FROM tags_hist WHERE name = 'Hist'"
                                   " ORDER BY valid_from LIMIT 1"),
                     rev2);
    assert_int_equal(peek(t->path, "SELECT valid_from FROM tags_hist WHERE name = 'Hist'"
                                   " AND valid_to IS NULL"),
                     rev2);
    /* One change record per write, under its revision. */
    assert_int_equal(peek(t->path, "SELECT count(*) FROM changes WHERE entity = 'tag'"), 2);
    {
        char buf[64];
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT op FROM changes WHERE entity = 'tag' AND rev = %lld",
                 (long long)rev2);
        peek_text(t->path, sql, buf, sizeof(buf));
        assert_string_equal(buf, "update");
    }
    /* A rolled-back write leaves neither history nor changes. */
    core_ctx_init(&cx, c, &a, true);
    assert_int_equal(store_begin_write(c, &err), 0);
    assert_int_equal(core_auth_token(&cx, "store-token", &err), 0);
    memset(&in, 0, sizeof(in));
    in.name = "Gone";
    assert_int_equal(core_tag_create(&cx, &in, &tag, &err), 0);
    store_rollback(c);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM tags_hist WHERE name = 'Gone'"), 0);
    assert_int_equal(peek(t->path, "SELECT count(*) FROM changes WHERE rev > 0 AND entity = 'tag'"),
                     2);
    assert_int_equal(peek(t->path, "SELECT max(rev) FROM revisions"), rev2);

    arena_release(&a);
    store_conn_close(c);
    store_close(s);
}

/* The authentication cache relies on this: every statement writing what a token check reads
 * moves the epoch at commit, and nothing else does. */
static void test_auth_writes_are_recognized(void **state)
{
    (void)state;
    assert_true(store_sql_writes_auth(SQL_TOKEN_INSERT));
    assert_true(store_sql_writes_auth(SQL_TOKEN_REVOKE));
    assert_true(store_sql_writes_auth(SQL_TOKEN_UNREVOKE));
    assert_true(store_sql_writes_auth(SQL_USER_INSERT));
    assert_true(store_sql_writes_auth(SQL_ORG_INSERT));
    assert_true(store_sql_writes_auth(SQL_WS_INSERT));
    assert_false(store_sql_writes_auth(SQL_TOKEN_BY_HASH));
    assert_false(store_sql_writes_auth(SQL_USER_NAME));
    assert_false(store_sql_writes_auth(SQL_TAG_INSERT));
    assert_false(store_sql_writes_auth(SQL_ASG_INSERT));
}

static void test_auth_epoch_moves_at_commit_only(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *c;
    struct tg_err err;
    uint64_t e0 = store_auth_epoch();
    struct store_stmt *st;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    c = store_conn_open(s, true, &err);
    assert_non_null(c);
    assert_int_equal(store_begin_write(c, &err), 0);
    st = st_get(c, SQL_ORG_INSERT, &err);
    assert_non_null(st);
    st_text(st, 1, "epoch-org");
    st_int(st, 2, 1);
    assert_int_equal(st_step(st, &err), 1);
    st_reset(st);
    assert_true(store_auth_dirty(c));
    assert_int_equal(store_auth_epoch(), e0); /* not before the commit */
    assert_int_equal(store_commit(c, &err), 0);
    assert_int_equal(store_auth_epoch(), e0 + 1);
    assert_false(store_auth_dirty(c));
    /* A rolled-back write and a plain read leave it. */
    assert_int_equal(store_begin_write(c, &err), 0);
    st = st_get(c, SQL_ORG_INSERT, &err);
    st_text(st, 1, "gone-org");
    st_int(st, 2, 1);
    assert_int_equal(st_step(st, &err), 1);
    st_reset(st);
    store_rollback(c);
    assert_int_equal(store_begin_write(c, &err), 0);
    st = st_get(c, SQL_REV_CURRENT, &err);
    assert_int_equal(st_step(st, &err), 1);
    st_reset(st);
    assert_int_equal(store_commit(c, &err), 0);
    assert_int_equal(store_auth_epoch(), e0 + 1);
    store_conn_close(c);
    store_close(s);
}

/* A lazy read begins at its first statement, and ending one that never began is harmless. */
static void test_lazy_read(void **state)
{
    struct tmp *t = *state;
    struct store *s;
    struct store_conn *c;
    struct tg_err err;
    struct store_stmt *st;

    assert_int_equal(store_open(t->url, NULL, &s, &err), 0);
    c = store_conn_open(s, false, &err);
    assert_non_null(c);
    store_begin_read_lazy(c);
    assert_false(store_read_begun(c));
    store_rollback(c);
    assert_true(store_read_begun(c));
    store_begin_read_lazy(c);
    st = st_get(c, SQL_REV_CURRENT, &err);
    assert_non_null(st);
    assert_true(store_read_begun(c));
    assert_int_equal(st_step(st, &err), 1);
    st_reset(st);
    store_rollback(c);
    /* A second lazy read sees a commit made meanwhile: the first one really ended. */
    {
        struct store_conn *w = store_conn_open(s, true, &err);
        assert_int_equal(store_begin_write(w, &err), 0);
        assert_int_equal(rev_insert(w, 7, &err), 0);
        assert_int_equal(store_commit(w, &err), 0);
        store_conn_close(w);
    }
    store_begin_read_lazy(c);
    assert_int_equal(rev_current(c), 7);
    store_rollback(c);
    store_conn_close(c);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_migrates_once, setup, teardown),
        cmocka_unit_test(test_auth_writes_are_recognized),
        cmocka_unit_test_setup_teardown(test_auth_epoch_moves_at_commit_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_and_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warm_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_store_is_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreset_statement_does_not_pin_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_map_to_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statements_are_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_store_is_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_and_changes_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
