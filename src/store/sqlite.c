/* store/sqlite.c: the embedded default backend of store.h (see store/backend.h).
 *
 * WAL with synchronous=FULL, a busy timeout, one writer connection (used only by the writer
 * thread, which groups requests into one transaction) and one read-only connection per event
 * loop. Every statement of sql_all.h is prepared once per connection with
 * SQLITE_PREPARE_PERSISTENT and reset after use.
 *
 * Around the writer (store_writer_open, configured by store_open's options) the store runs
 * threads of its own: a checkpointer that copies the WAL into the database file on its own
 * connection, and, with deferred syncs, two syncers that fdatasync the WAL after each group
 * of commits. They stop when the writer's connection is closed. With `exclusive` the store
 * holds PATH.lock until store_close, so that one tagd alone writes the file. */
#include "store/backend.h"
#include "store/sqlite.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/migrations.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeu.h"

/* fdatasyncs of the WAL that may run at once (see wait_durable), and the syncer threads: a
 * flush of the commits written since may start while the other runs. */
#define SYNCERS 2

#define STORE_SQL_ID(id, sql) sql,
static const char *const sql_text[] = {
#include "store/sql_all.h"
};
#undef STORE_SQL_ID

/* SQLite gives a new row the largest rowid + 1, so the id of a purged tag, or of a deleted
 * resource or group, went to the next one made when it had been the largest: a client holding
 * the id, the history and the change feed then found another object under it. These inserts
 * take the next id above every id the table or its history (kept for good) has held; both are
 * the last entry of an index. PostgreSQL's identity columns never hand an id out twice. */
#define NEXT_ID(table, hist, col)                                                                  \
    "(SELECT max(coalesce((SELECT max(id) FROM " table "), 0),"                                    \
    " coalesce((SELECT max(" col ") FROM " hist "), 0)) + 1)"

static const char *sq_sql(enum store_sql id)
{
    switch (id) {
    case SQL_TAG_INSERT:
        return "INSERT INTO tags(id, " TAG_INSERT_COLS ") VALUES("
               NEXT_ID("tags", "tags_hist", "tag_id") ", " TAG_INSERT_VALS ") RETURNING id";
    case SQL_RES_INSERT:
        return "INSERT INTO resources(id, " RES_INSERT_COLS ") VALUES("
               NEXT_ID("resources", "resources_hist", "resource_id") ", " RES_INSERT_VALS
               ") RETURNING id";
    case SQL_GROUP_INSERT:
        return "INSERT INTO groups(id, " GROUP_INSERT_COLS ") VALUES("
               NEXT_ID("groups", "groups_hist", "group_id") ", " GROUP_INSERT_VALS
               ") RETURNING id";
    default:
        return sql_text[id];
    }
}

struct sq_store {
    struct store base;
    char *path;
    char *marker_path; /* PATH.state: see "start-up checks" */
    int64_t created_ms; /* when the store was created, as the marker says */
    char *desc;
    atomic_int wal_frames; /* the WAL's length after the last commit, with deferred checkpoints */
    atomic_int wal_copied; /* of those, the frames the last checkpoint copied */
    /* Copies racing the writer never let the WAL start over (SQLite restarts it only at a
     * write transaction that finds it completely copied): at restart_frames the writer copies
     * the rest itself, between two transactions, and the WAL starts over. Once ckpt_frames are
     * not copied yet, the background checkpointer copies them. A long WAL copies a page the
     * writes keep changing (the tails of the tables, the hot index pages) once for many
     * commits: with 1,000 and 8,000 pages the copies were a sixth of tagd's CPU per add. */
    int ckpt_frames, restart_frames;
    /* Deferred WAL sync (store__defer_sync): commits are counted, and no reader may see one
     * before an fdatasync of the WAL made it durable. Guarded by sync_mu. */
    bool deferred_sync;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    uint64_t visible;  /* commits that readers may see: counted before COMMIT */
    uint64_t written;  /* commits whose COMMIT returned: their frames are in the WAL file */
    uint64_t durable;  /* commits an fdatasync of the WAL covered */
    int syncing;       /* fdatasyncs running (at most SYNCERS) */
    uint64_t syncing_upto; /* the highest commit a running or finished fdatasync covers */
    atomic_ullong syncs; /* fdatasyncs of the WAL done (store__syncs) */
    bool sync_stop;    /* store_sync_stop: the syncer returns */
    int wal_fd;        /* -1 until the first sync */
    char *wal_path;
    struct store_open_opts opts; /* as store_open got them */
    int lock_fd;       /* PATH.lock, flock'ed (opts.exclusive), or -1 */
    /* The writer's connection of store_writer_open (NULL when none is open) and the threads
     * that work for it: each runs only while `writer` is open, which store_writer_open and
     * its conn_close pair up. bg_ckpt: the checkpointer runs (on ckpt_conn); its request flag
     * and stop are guarded by ckpt_mu. bg_sync: SYNCERS syncer threads run. */
    struct sq_conn *writer;
    bool bg_ckpt, bg_sync;
    struct sq_conn *ckpt_conn;
    pthread_t ckpt_tid, sync_tid[SYNCERS];
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    bool ckpt_wanted, ckpt_stop;
};

/* Transaction control runs once or twice per request: prepared once per connection, not parsed
 * by sqlite3_exec each time (that parse showed up in the writer's profile). */
enum sq_ctl { CTL_BEGIN, CTL_BEGIN_IMMEDIATE, CTL_COMMIT, CTL_ROLLBACK, CTL_SAVEPOINT,
              CTL_RELEASE, CTL_ROLLBACK_TO, CTL_SNAPSHOT, CTL__COUNT };
static const char *const ctl_text[CTL__COUNT] = {
    "BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT req", "RELEASE req",
    "ROLLBACK TO req",
    /* Any read takes the transaction's snapshot; this one reads one page. */
    "SELECT 1 FROM schema_version LIMIT 1",
};

struct sq_conn {
    struct store_conn base;
    struct sq_store *store;
    sqlite3 *db;
    bool writer;
    bool wal_owner; /* the writer whose commits defer their checkpoints */
    /* Another writing connection, set up at its first write transaction (sq_begin_write):
     * `joined`; its commits defer their sync like the writer's: `deferred`. */
    bool joined, deferred;
    bool early;     /* the next begin_read does not wait (store_begin_read_early) */
    uint64_t seen;  /* deferred syncs: the commits the read's snapshot may see */
    /* The writer's connection while a thread fills its page cache (store__warm_writer, beside
     * the engine's load at start): whoever uses the connection next joins that thread first
     * (warm_join). Like the connection, read and written by its one user at a time. */
    bool warming;
    pthread_t warm_tid;
    struct sq_stmt *stmts[SQL__COUNT];
    sqlite3_stmt *ctl[CTL__COUNT];
};

/* A one-row "INSERT ... RETURNING id" runs without its RETURNING (rowid_only): SQLite makes
 * RETURNING a trigger, and a statement with a trigger opens a statement journal, which inside
 * the writer's request savepoint is an in-memory file SQLite walks from its start at the end
 * of every such statement: the longer the request, the dearer each insert (an import chunk's
 * thousands of resources spent half the writer's time there). The row it would return is
 * given from sqlite3_last_insert_rowid instead: the one column `id`, the row's rowid (every
 * such table's id is its INTEGER PRIMARY KEY). phase: 0 not stepped, 1 its row given, 2 done. */
struct sq_stmt {
    struct store_stmt base;
    sqlite3_stmt *s;
    struct sq_conn *c;
    bool rowid_only;
    int phase;
    int64_t rowid;
};

#define RETURNING_ID " RETURNING id"

/* Whether `sql` is a one-row insert whose RETURNING id sq_stmt may give itself: no conflict
 * clause (an upsert's update sets no rowid), one VALUES row. */
static bool rowid_only_ok(const char *sql)
{
    size_t n = strlen(sql), k = strlen(RETURNING_ID);

    return strncmp(sql, "INSERT INTO ", 12) == 0 && n > k &&
           strcmp(sql + n - k, RETURNING_ID) == 0 && strstr(sql, "ON CONFLICT") == NULL &&
           strstr(sql, "), (") == NULL && strstr(sql, "),(") == NULL;
}

#define SQ(x) ((struct sq_store *)(x))
#define SC(x) ((struct sq_conn *)(x))
#define SS(x) ((struct sq_stmt *)(x))

static int db_err(sqlite3 *db, int rc, struct tg_err *err, const char *what)
{
    int ext = db ? sqlite3_extended_errcode(db) : rc;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return tg_err_set(err, TG_EEXISTS, "", "already exists");
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return tg_err_set(err, TG_ECONFLICT, "", "constraint violated: %s", msg);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return tg_err_set(err, TG_EBUSY, "", "store busy: %s", msg);
    if ((rc & 0xff) == SQLITE_FULL)
        return tg_err_set(err, TG_EBUSY, "", "store full: %s", msg);
    return tg_err_set(err, TG_EINTERNAL, "", "%s: %s", what, msg);
}

static int exec(sqlite3 *db, const char *sql, struct tg_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rc = db_err(db, rc, err, msg ? msg : "exec");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static void warm_join(struct sq_conn *c)
{
    if (c->warming) {
        pthread_join(c->warm_tid, NULL);
        c->warming = false;
    }
}

/* Runs one transaction-control statement on `c`; errors as exec() reports them. */
static int ctl(struct sq_conn *c, enum sq_ctl which, struct tg_err *err)
{
    sqlite3_stmt *st = c->ctl[which];
    int rc;

    warm_join(c);

    if (st == NULL) {
        rc = sqlite3_prepare_v3(c->db, ctl_text[which], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return db_err(c->db, rc, err, ctl_text[which]);
        c->ctl[which] = st;
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    /* CTL_SNAPSHOT reads a row; the others return none. */
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_err(c->db, rc, err, ctl_text[which]);
    return 0;
}

static int open_db(const char *path, bool writer, sqlite3 **out, struct tg_err *err)
{
    int flags = SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                              : SQLITE_OPEN_READONLY);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);

    if (rc != SQLITE_OK) {
        rc = tg_err_set(err, TG_EINTERNAL, "store", "cannot open %s: %s", path,
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_extended_result_codes(db, 1);
    rc = exec(db,
              writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                       "PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit=67108864;"
                       /* The writer re-reads the index pages of every resource a batch
                        * touches: 64 MB keeps them instead of 2 MB (a pread per miss). */
                       "PRAGMA cache_size=-65536;"
                     : "PRAGMA query_only=1; PRAGMA temp_store=MEMORY;",
              err);
    if (rc) {
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

static int migrate(sqlite3 *db, struct tg_err *err)
{
    sqlite3_stmt *st = NULL;
    int version = 0, rc;
    size_t i, n = sizeof(store_migrations) / sizeof(store_migrations[0]);
    char bump[128];

    rc = exec(db, "CREATE TABLE IF NOT EXISTS schema_version(v INTEGER NOT NULL);", err);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db, "SELECT max(v) FROM schema_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if ((size_t)version > n)
        return tg_err_set(err, TG_EINTERNAL, "store",
                          "database schema %d is newer than this tagd (%zu)", version, n);
    for (i = (size_t)version; i < n; i++) {
        rc = exec(db, "BEGIN IMMEDIATE", err);
        if (rc)
            return rc;
        rc = exec(db, store_migrations[i], err);
        if (rc == 0) {
            snprintf(bump, sizeof(bump), "INSERT INTO schema_version(v) VALUES(%zu)", i + 1);
            rc = exec(db, bump, err);
        }
        if (rc) {
            exec(db, "ROLLBACK", NULL);
            return rc;
        }
        rc = exec(db, "COMMIT", err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- start-up checks ----
 *
 * SQLite creates an empty database wherever it finds no file, or an empty one: a tagd.db
 * truncated to 0 bytes, deleted or replaced came up as a new store, every organization and
 * token gone, and nothing said so. The marker PATH.state says that a store was created in
 * PATH and how its last session ended:
 *
 *     created 1796000000000                 (ms since the epoch)
 *     open                                  (a session has the store open, or crashed)
 *     closed SIZE MTIME_NS INODE            (the last session closed it; the file as it left it)
 *
 * Invariants: the marker exists only once PATH held tagd's schema; it says "open", durably
 * (fsync'd file and directory), before a session's first write, and "closed" only after every
 * connection of the session was closed. It is replaced by rename, so it is one or the other.
 * With a marker, a PATH that is missing or holds no schema is refused (TG_EPRECOND); so is one
 * that fails PRAGMA quick_check, which runs when the store was not closed (a crash or a power
 * loss: SQLite survives both, a disk that lies about its flushes does not) or the file changed
 * since it was closed. A clean start skips quick_check: 0.19 s per million assignments with
 * the file in the page cache, about 1 s from a cold disk (docs/operations.md). A store made
 * before the marker existed gets one at its first open. */

struct marker {
    bool exists;
    bool closed;
    int64_t created_ms;
    long long size, mtime_ns, ino; /* valid when closed */
};

static void marker_read(const char *mpath, struct marker *m)
{
    char buf[512], *line, *save = NULL;
    ssize_t n;
    int fd = open(mpath, O_RDONLY | O_CLOEXEC);

    memset(m, 0, sizeof(*m));
    if (fd < 0) {
        /* Only a marker known to be absent means a new store: one that cannot be read (EACCES,
         * EIO) is taken as there and telling nothing, so the file gets checked. */
        m->exists = errno != ENOENT;
        return;
    }
    m->exists = true;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long created;
        if (sscanf(line, "created %lld", &created) == 1)
            m->created_ms = created;
        else if (sscanf(line, "closed %lld %lld %lld", &m->size, &m->mtime_ns, &m->ino) == 3)
            m->closed = true;
    }
}

/* Replaces the marker: PATH.state.tmp, written and renamed over it. `durable`: both the file
 * and the directory entry are fsync'd first (an "open" must not be lost to a power loss, or
 * the next start would skip the check; a lost "closed" only costs a check). */
static int marker_write(const char *mpath, int64_t created_ms, const struct stat *closed,
                        bool durable, struct tg_err *err)
{
    char tmp[4200], text[256], dir[4200], *slash;
    int fd, len, rc = 0;

    if (closed)
        len = snprintf(text, sizeof(text), "created %lld\nclosed %lld %lld %lld\n",
                       (long long)created_ms, (long long)closed->st_size,
                       (long long)closed->st_mtim.tv_sec * 1000000000LL + closed->st_mtim.tv_nsec,
                       (long long)closed->st_ino);
    else
        len = snprintf(text, sizeof(text), "created %lld\nopen\n", (long long)created_ms);
    snprintf(tmp, sizeof(tmp), "%s.tmp", mpath);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, (size_t)len) != len || (durable && fsync(fd) != 0))
        rc = -1;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, mpath) != 0)
        rc = -1;
    if (rc == 0 && durable) {
        snprintf(dir, sizeof(dir), "%s", mpath);
        slash = strrchr(dir, '/');
        if (slash == NULL)
            snprintf(dir, sizeof(dir), ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0)
            rc = -1;
        if (fd >= 0)
            close(fd);
    }
    if (rc)
        return tg_err_set(err, TG_EINTERNAL, "store", "cannot write %s: %s", mpath,
                          strerror(errno));
    return 0;
}

/* Runs PRAGMA `check` (quick_check or integrity_check) up to its first finding: "ok" or the
 * first problem in `out`. */
static int run_check(sqlite3 *db, const char *check, char *out, size_t outsz)
{
    sqlite3_stmt *st = NULL;
    char sql[64];
    int rc;

    snprintf(sql, sizeof(sql), "PRAGMA %s(1)", check);
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(st, 0));
    else
        snprintf(out, outsz, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Whether PATH holds the store the marker speaks of (see the block comment). Reads only (the
 * connection may recover the WAL into the -shm index, as any reader does). 0, or TG_EPRECOND
 * with what was found in `err`. */
static int check_existing(const char *path, const struct marker *m,
                          const struct store_open_opts *o, struct tg_err *err)
{
    char since[64] = "", found[200];
    const char *check = NULL;
    sqlite3_stmt *st = NULL;
    sqlite3 *db = NULL;
    struct stat sb;
    int64_t tables = -1, t0;
    int rc = SQLITE_OK;

    if (m->exists && m->created_ms > 0) {
        char iso[32];
        time_iso(m->created_ms, iso);
        snprintf(since, sizeof(since), " (created %.10s)", iso);
    }
    if (stat(path, &sb) != 0) {
        if (!m->exists)
            return tg_err_set(err, TG_EPRECOND, "store", "no store in %s: %s", path,
                              strerror(errno));
        return tg_err_set(err, TG_EPRECOND, "store",
                          "the store %s is missing (%s), but %s.state says a store was made "
                          "there%s",
                          path, strerror(errno), path, since);
    }
    /* Before SQLite opens it: on a file of no pages SQLite deletes the WAL beside it, which
     * may hold the last commits (--reinit-store keeps it aside). */
    if (sb.st_size == 0)
        tables = 0;
    else
        rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK && db) {
        sqlite3_busy_timeout(db, 5000);
        rc = sqlite3_prepare_v2(db,
                                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                " AND name = 'schema_version'",
                                -1, &st, NULL);
    }
    if (rc == SQLITE_OK && st) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            tables = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        snprintf(found, sizeof(found), "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return tg_err_set(err, TG_EPRECOND, "store", "the store %s is damaged: %s", path,
                          found);
    }
    if (tables == 0) {
        sqlite3_close(db);
        if (!m->exists)
            return tg_err_set(err, TG_EPRECOND, "store", "no store in %s (%lld bytes)", path,
                              (long long)sb.st_size);
        return tg_err_set(err, TG_EPRECOND, "store",
                          "the store %s is empty (%lld bytes), but %s.state says a store was "
                          "made there%s",
                          path, (long long)sb.st_size, path, since);
    }
    if (o->check == STORE_CHECK_FULL)
        check = "integrity_check";
    else if (o->check == STORE_CHECK_QUICK || !m->closed || m->size != (long long)sb.st_size ||
             m->ino != (long long)sb.st_ino ||
             m->mtime_ns != (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec)
        check = "quick_check";
    if (check) {
        t0 = time_mono_us();
        /* The check reads every page: mapped, without a system call and a copy each (as the
         * engine's load, sq_conn_bulk); the map goes with the connection below. */
        sqlite3_exec(db, "PRAGMA mmap_size=1099511627776", NULL, NULL, NULL);
        rc = run_check(db, check, found, sizeof(found));
        log_info("store: %s of %s: %s (%.3f s; %s)", check, path, found,
                 (double)(time_mono_us() - t0) / 1e6,
                 o->check != STORE_CHECK_AUTO ? "asked for"
                 : m->closed                  ? "the file changed since tagd closed it"
                                              : "the last session did not close the store");
        if (rc != 0 || strcmp(found, "ok") != 0) {
            sqlite3_close(db);
            return tg_err_set(err, TG_EPRECOND, "store", "the store %s is damaged: %s: %s",
                              path, check, found);
        }
    }
    sqlite3_close(db);
    return 0;
}

/* --reinit-store: keeps what is at PATH (and its WAL) under PATH.damaged-TIME, so that a new
 * store can be made there; SQLite's shared-memory index goes with it. */
static int move_aside(const char *path, struct tg_err *err)
{
    char iso[32], stamp[32], to[4200], from_wal[4200], to_wal[4300], shm[4200];
    size_t j = 0;

    time_iso(time_now_ms(), iso);
    for (size_t i = 0; iso[i] && iso[i] != '.' && j < sizeof(stamp) - 2; i++)
        if (iso[i] != '-' && iso[i] != ':')
            stamp[j++] = iso[i];
    stamp[j++] = 'Z';
    stamp[j] = '\0';
    snprintf(to, sizeof(to), "%s.damaged-%s", path, stamp);
    snprintf(from_wal, sizeof(from_wal), "%s-wal", path);
    snprintf(to_wal, sizeof(to_wal), "%s-wal", to);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    if (rename(path, to) != 0 && errno != ENOENT)
        return tg_err_set(err, TG_EINTERNAL, "store", "cannot move %s aside: %s", path,
                          strerror(errno));
    if (rename(from_wal, to_wal) != 0 && errno != ENOENT)
        return tg_err_set(err, TG_EINTERNAL, "store", "cannot move %s aside: %s", from_wal,
                          strerror(errno));
    unlink(shm);
    log_warn("store: starting over with an empty store in %s (--reinit-store); what was there "
             "is kept as %s",
             path, to);
    return 0;
}

/* Before SQLite's first use. Its allocation statistics (on by default) take a global mutex
 * around every malloc and free, which every connection's thread then contends for: the
 * writer's lock and unlock calls were a twentieth of its time. tagd does not read them. */
static void sq_configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* --- one tagd per file (opts.exclusive) ---
 *
 * An exclusive flock on PATH.lock, held until store_close (the kernel drops it with the
 * process, so a crash leaves no stale lock); the file says which pid holds it. Taken before
 * anything reads or writes PATH: a second tagd must not check, migrate or write a file in
 * use. Returns the descriptor, or -1 with `err` set. */
static int lock_file(const char *path, bool create_dir, struct tg_err *err)
{
    char lpath[4200], pid[32] = "", dir[4200], *slash;
    int fd;

    if (create_dir) {
        snprintf(dir, sizeof(dir), "%s", path);
        slash = strrchr(dir, '/');
        if (slash != NULL && slash != dir) {
            *slash = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                tg_err_set(err, TG_EINTERNAL, "store", "cannot create data directory %s: %s",
                           dir, strerror(errno));
                return -1;
            }
        }
    }
    snprintf(lpath, sizeof(lpath), "%s.lock", path);
    fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        tg_err_set(err, TG_EINTERNAL, "store", "cannot open %s: %s", lpath, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        tg_err_set(err, TG_EBUSY, "store",
                   "the store %s is in use by another tagd (pid %s); stop it first", path,
                   pid[0] ? pid : "unknown");
        return -1;
    }
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("store: cannot write %s: %s", lpath, strerror(errno));
    return fd;
}

/* sq_open's checks, migrations and marker, under the lock when there is one. */
static int sq_open_locked(const char *path, const struct store_open_opts *o, struct marker *mp,
                          char *mpath, size_t mpath_sz, struct tg_err *err)
{
    struct marker m;
    sqlite3 *db = NULL;
    int rc;

    snprintf(mpath, mpath_sz, "%s.state", path);
    marker_read(mpath, &m);
    if (m.exists || o->must_exist) {
        rc = check_existing(path, &m, o, err);
        if (rc == TG_EPRECOND && o->reinit) {
            log_error("store: %s", err->msg);
            rc = move_aside(path, err);
            memset(&m, 0, sizeof(m));
        }
        if (rc)
            return rc;
    }
    rc = open_db(path, true, &db, err);
    if (rc)
        return rc;
    rc = migrate(db, err);
    sqlite3_close(db);
    if (rc)
        return rc;
    if (m.created_ms <= 0)
        m.created_ms = time_now_ms();
    /* Said before the session writes anything (see "start-up checks"). */
    rc = marker_write(mpath, m.created_ms, NULL, true, err);
    *mp = m;
    return rc;
}

static int sq_open(const char *url, const struct store_open_opts *o, struct store **out,
                   struct tg_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct sq_store *s;
    struct marker m;
    const char *path = url;
    char mpath[4200];
    int rc, lock_fd = -1;

    pthread_once(&once, sq_configure);
    if (strncmp(url, "sqlite:", 7) == 0)
        path = url + 7;
    if (sqlite3_threadsafe() == 0)
        return tg_err_set(err, TG_EINTERNAL, "store", "sqlite built without threads");
    if (o->exclusive) {
        lock_fd = lock_file(path, o->create_dir && !o->must_exist, err);
        if (lock_fd < 0)
            return err->code;
    }
    rc = sq_open_locked(path, o, &m, mpath, sizeof(mpath), err);
    if (rc) {
        if (lock_fd >= 0)
            close(lock_fd);
        return rc;
    }
    s = xcalloc(1, sizeof(*s));
    s->base.be = &store_sqlite_backend;
    s->opts = *o;
    s->lock_fd = lock_fd;
    s->path = xstrdup(path);
    s->marker_path = xstrdup(mpath);
    s->created_ms = m.created_ms;
    s->wal_path = xmalloc(strlen(path) + 5);
    snprintf(s->wal_path, strlen(path) + 5, "%s-wal", path);
    s->wal_fd = -1;
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_cond_init(&s->sync_cv, NULL);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    s->desc = xmalloc(strlen(path) + 16);
    snprintf(s->desc, strlen(path) + 16, "sqlite %s", path);
    *out = &s->base;
    return 0;
}

static void sq_close(struct store *st)
{
    struct sq_store *s = SQ(st);
    struct stat sb;
    struct tg_err err;

    if (s->wal_fd >= 0)
        close(s->wal_fd);
    /* The callers close every connection first, so this is how the file stays until the next
     * open (the marker's invariant); what is left in the WAL is SQLite's to replay, as after
     * any stop. */
    if (stat(s->path, &sb) == 0 && marker_write(s->marker_path, s->created_ms, &sb, false, &err))
        log_warn("store: %s", err.msg);
    xfree(s->marker_path);
    assert(s->writer == NULL); /* its threads wait on these */
    pthread_mutex_destroy(&s->sync_mu);
    pthread_cond_destroy(&s->sync_cv);
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cv);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* last: the marker says "closed" before another may open */
    xfree(s->path);
    xfree(s->wal_path);
    xfree(s->desc);
    xfree(s);
}

static const char *sq_describe(const struct store *s)
{
    return ((const struct sq_store *)s)->desc;
}

/* Measured at 10M assignments (a 1.2 GB file): the load read every page through pread, a
 * quarter of its CPU time in the kernel (5.5 of 21.4 s on a loaded machine; 2.4 of 14.9 s
 * mapped). SQLite caps the size at its compile-time limit (2 GB in Debian's build) and reads
 * past it as before; 0 unmaps, which SQLite does only with no statement running. */
static void sq_conn_bulk(struct store_conn *cc, bool on)
{
    struct tg_err err;
    if (exec(SC(cc)->db, on ? "PRAGMA mmap_size=1099511627776" : "PRAGMA mmap_size=0", &err))
        log_warn("store: cannot %s the file: %s", on ? "map" : "unmap", err.msg);
}

static int64_t sq_wal_bytes(const struct store *s)
{
    struct stat sb;
    return stat(((const struct sq_store *)s)->wal_path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static struct store_conn *sq_conn_open(struct store *s, bool writer, struct tg_err *err)
{
    struct sq_conn *c;
    sqlite3 *db = NULL;

    if (open_db(SQ(s)->path, writer, &db, err))
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->base.be = &store_sqlite_backend;
    c->store = SQ(s);
    c->db = db;
    c->writer = writer;
    return &c->base;
}

static void writer_stop(struct sq_store *s);

static void sq_conn_close(struct store_conn *cc)
{
    struct sq_conn *c = SC(cc);
    warm_join(c);
    if (c == c->store->writer)
        writer_stop(c->store);
    for (int i = 0; i < SQL__COUNT; i++) {
        if (c->stmts[i]) {
            sqlite3_finalize(c->stmts[i]->s);
            xfree(c->stmts[i]);
        }
    }
    for (int i = 0; i < CTL__COUNT; i++)
        sqlite3_finalize(c->ctl[i]);
    sqlite3_close(c->db);
    xfree(c);
}

static int sq_begin_write(struct store_conn *cc, struct tg_err *err)
{
    struct sq_conn *c = SC(cc);

    /* Another writing connection (the webhook deliverer's) works around the writer's WAL as
     * the writer does, from its first write transaction on. Its commits ran a checkpoint each
     * (SQLite's own, at 1,000 pages: the writer's WAL is longer) and, with deferred syncs,
     * fsynced the WAL while they held the write lock; the writer waited for them in BEGIN
     * IMMEDIATE's busy handler, which sleeps 1, 2, 5 ms and more: with 10 webhooks, half of
     * its time (bench/results/2026-12-07-webhooks.md). Copies are the checkpointer's; commits
     * are counted like the writer's, so that readers wait for their flush, and whoever needs
     * one durable calls store_wait_all_durable. */
    if (c->writer && !c->wal_owner && !c->joined) {
        if (c->store->restart_frames > 0)
            sqlite3_wal_autocheckpoint(c->db, 0);
        if (c->store->deferred_sync) {
            int rc = exec(c->db, "PRAGMA synchronous=NORMAL", err);
            if (rc)
                return rc;
            c->deferred = true;
        }
        c->joined = true;
    }
    return ctl(c, CTL_BEGIN_IMMEDIATE, err);
}

/* The WAL's descriptor for fdatasync, our own: SQLite's is private to the writer's connection.
 * The WAL keeps its inode while connections are open (SQLite truncates it, never replaces it);
 * the check reopens it should that ever change. Called under sync_mu; `alone` (no flush
 * running) is when the descriptor may be replaced, as no other thread is using it. */
static int wal_fd_locked(struct sq_store *st, bool alone)
{
    struct stat a, b;

    if (alone && st->wal_fd >= 0 &&
        (fstat(st->wal_fd, &a) != 0 || stat(st->wal_path, &b) != 0 || a.st_ino != b.st_ino ||
         a.st_dev != b.st_dev)) {
        close(st->wal_fd);
        st->wal_fd = -1;
    }
    if (st->wal_fd < 0)
        st->wal_fd = open(st->wal_path, O_RDWR | O_CLOEXEC);
    return st->wal_fd;
}


/* Returns once every commit up to `want` is durable, syncing the WAL itself when fewer than
 * SYNCERS threads are. A failed fdatasync leaves the WAL's state on disk unknown (the kernel
 * may have dropped the dirty pages): like PostgreSQL on a failed fsync, stop, and let recovery
 * start from what is on disk, rather than go on answering as if the writes were durable. */
static void wait_durable(struct sq_store *st, uint64_t want)
{
    pthread_mutex_lock(&st->sync_mu);
    while (st->durable < want) {
        /* A second fdatasync may start while one runs, for commits written since: when it
         * returns, everything written before it began is on disk (it waits for the pages the
         * first one is writing), so a commit waits for one flush, not for the rest of another
         * first. */
        if (st->syncing < SYNCERS && st->written >= want && st->written > st->syncing_upto) {
            uint64_t upto = st->written;
            int fd = wal_fd_locked(st, st->syncing == 0), rc = 0;
            st->syncing++;
            st->syncing_upto = upto;
            pthread_mutex_unlock(&st->sync_mu);
            if (fd < 0)
                rc = EBADF; /* the WAL could not be opened */
            else if (fdatasync(fd) != 0)
                rc = errno ? errno : EIO;
            atomic_fetch_add(&st->syncs, 1);
            store_stat_add(STORE_STAT_WAL_SYNCS, 1);
            if (rc) {
                log_error("store: fdatasync of %s failed: %s; stopping", st->wal_path,
                          strerror(rc));
                abort();
            }
            pthread_mutex_lock(&st->sync_mu);
            st->syncing--;
            if (upto > st->durable)
                st->durable = upto;
            pthread_cond_broadcast(&st->sync_cv);
        } else {
            pthread_cond_wait(&st->sync_cv, &st->sync_mu);
        }
    }
    pthread_mutex_unlock(&st->sync_mu);
}

bool store__sync_next(struct store_conn *cc)
{
    struct sq_store *st = SC(cc)->store;
    uint64_t want;
    bool stop;

    pthread_mutex_lock(&st->sync_mu);
    while (!st->sync_stop && st->written <= st->syncing_upto)
        pthread_cond_wait(&st->sync_cv, &st->sync_mu);
    want = st->written;
    stop = st->sync_stop;
    pthread_mutex_unlock(&st->sync_mu);
    wait_durable(st, want); /* also after the stop: what was written becomes durable */
    return !stop;
}

void store__sync_stop(struct store_conn *cc)
{
    struct sq_store *st = SC(cc)->store;
    pthread_mutex_lock(&st->sync_mu);
    st->sync_stop = true;
    pthread_cond_broadcast(&st->sync_cv);
    pthread_mutex_unlock(&st->sync_mu);
}

static int sq_begin_read(struct store_conn *cc, struct tg_err *err)
{
    struct sq_conn *c = SC(cc);
    struct sq_store *st = c->store;
    uint64_t seen;
    int rc = ctl(c, CTL_BEGIN, err);

    if (!st->deferred_sync)
        return rc;
    /* Take the snapshot now, then wait until everything it may hold is durable: every commit
     * it can see was counted in `visible` before it became visible. (The read's snapshot
     * outlives the statement: it lasts until the transaction ends.) */
    if (rc == 0)
        rc = ctl(c, CTL_SNAPSHOT, err);
    if (rc) {
        /* The caller may answer all the same (the server's publisher does: the batch
         * committed): store_wait_durable then waits for every commit made so far. Without
         * this it went by the last read that began, and a write was answered unflushed
         * (tests/unit/test_powerloss.c, test_wait_durable_after_a_failed_read). */
        if (!sqlite3_get_autocommit(c->db))
            ctl(c, CTL_ROLLBACK, NULL);
        pthread_mutex_lock(&st->sync_mu);
        c->seen = st->visible;
        pthread_mutex_unlock(&st->sync_mu);
        return rc;
    }
    pthread_mutex_lock(&st->sync_mu);
    seen = st->visible;
    pthread_mutex_unlock(&st->sync_mu);
    c->seen = seen;
    if (!c->early)
        wait_durable(st, seen);
    return 0;
}

static int sq_begin_read_early(struct store_conn *cc, struct tg_err *err)
{
    int rc;
    SC(cc)->early = true;
    rc = sq_begin_read(cc, err);
    SC(cc)->early = false;
    return rc;
}

uint64_t store__syncs(struct store_conn *cc)
{
    return atomic_load(&SC(cc)->store->syncs);
}

static void sq_wait_durable(struct store_conn *cc)
{
    struct sq_conn *c = SC(cc);
    if (c->store->deferred_sync)
        wait_durable(c->store, c->seen);
}

static int sq_commit(struct store_conn *cc, struct tg_err *err)
{
    struct sq_conn *c = SC(cc);
    struct sq_store *st = c->store;
    bool counted = st->deferred_sync && (c->wal_owner || c->deferred);
    uint64_t seq = 0;
    int rc;

    if (counted) {
        pthread_mutex_lock(&st->sync_mu);
        seq = ++st->visible;
        pthread_mutex_unlock(&st->sync_mu);
    }
    rc = ctl(c, CTL_COMMIT, err);
    if (rc && !sqlite3_get_autocommit(c->db))
        ctl(c, CTL_ROLLBACK, NULL);
    if (counted) {
        pthread_mutex_lock(&st->sync_mu);
        /* Another connection may have taken the lock and committed since this COMMIT
         * released it: `written` never goes back (its frames come after these). */
        if (seq > st->written)
            st->written = seq;
        pthread_cond_broadcast(&st->sync_cv);
        pthread_mutex_unlock(&st->sync_mu);
    }
    return rc;
}

bool store__defer_sync(struct store_conn *cc)
{
    struct sq_conn *c = SC(cc);
    /* WAL + NORMAL: a commit writes its frames without fsync; checkpoints still sync. */
    if (!c->wal_owner || exec(c->db, "PRAGMA synchronous=NORMAL", NULL) != 0)
        return false;
    c->store->deferred_sync = true;
    return true;
}

/* A statement stepped but never reset keeps its read snapshot open after ROLLBACK: the next
 * request on this connection would read the past (a token issued since would look unknown).
 * The end of every request therefore resets whatever a caller left running. */
static void reset_busy(sqlite3 *db)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st))
        if (sqlite3_stmt_busy(st))
            sqlite3_reset(st);
}

static void sq_rollback(struct store_conn *c)
{
    reset_busy(SC(c)->db);
    if (!sqlite3_get_autocommit(SC(c)->db))
        ctl(SC(c), CTL_ROLLBACK, NULL);
}

static int sq_savepoint(struct store_conn *c, struct tg_err *err)
{
    return ctl(SC(c), CTL_SAVEPOINT, err);
}

static int sq_savepoint_release(struct store_conn *c, struct tg_err *err)
{
    return ctl(SC(c), CTL_RELEASE, err);
}

static void sq_savepoint_rollback(struct store_conn *c)
{
    if (ctl(SC(c), CTL_ROLLBACK_TO, NULL) == 0)
        ctl(SC(c), CTL_RELEASE, NULL);
}


/* Replaces the automatic checkpoint (itself a WAL hook): only note the WAL's length. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    atomic_store(&((struct sq_store *)arg)->wal_frames, frames);
    return SQLITE_OK;
}

/* Gives the WAL file `len` bytes, allocated, once. Frames written past a file's end cost the
 * kernel far more than frames written inside it (ext4 with large folios zeroes the rest of a
 * new folio on every partial write; a WAL frame is a page plus 24 bytes, so every write is
 * partial): a first pass of frames over a new 256 MB file took 6x the CPU of the second.
 * The new bytes read as zeros, which SQLite takes for the end of the WAL (no valid frame
 * header), as it takes an earlier pass's frames with their old salts. Only beyond the file's
 * end, at start, before the writer appends anything. */
static void wal_presize(struct sq_store *st, int64_t len)
{
    struct stat sb;
    int fd = open(st->wal_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0)
        return;
    if (fstat(fd, &sb) == 0 && sb.st_size < len &&
        fallocate(fd, 0, sb.st_size, len - sb.st_size) != 0 && ftruncate(fd, len) != 0)
        log_warn("store: cannot size %s to %lld bytes: %s", st->wal_path, (long long)len,
                 strerror(errno));
    close(fd);
}

bool store__defer_checkpoints(struct store_conn *cc, int wal_mb)
{
    struct sq_conn *c = SC(cc);
    sqlite3_stmt *st = NULL;
    int64_t page = 4096, keep;
    bool wal = false;
    char sql[80];

    if (sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
        page = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    c->store->restart_frames = (int)((int64_t)wal_mb * 1048576 / page);
    c->store->ckpt_frames = c->store->restart_frames / 4;
    /* The WAL file keeps its length when it starts over, so that its frames always land
     * inside the file (wal_presize): its length at the restart (a frame is a page and a
     * 24-byte header) and a quarter more for the commits that go on while the restart waits
     * for a reader. Without that room SQLite cut the tail off at every start-over and the
     * next pass grew the file again. */
    keep = 32 + (int64_t)c->store->restart_frames * (page + 24);
    keep += keep / 4;
    snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld", (long long)keep);
    if (exec(c->db, sql, NULL) != 0)
        return false;
    if (wal)
        wal_presize(c->store, keep);
    sqlite3_wal_hook(c->db, on_wal_commit, c->store);
    c->wal_owner = true;
    return true;
}

/* The writer's page cache holds the pages its transactions read. Nearly all of them are hot
 * (the tails of the tables and of each tag's index range) except the leaves of
 * assignments_cur, which an add to a random resource reads at random. Left to the OS, those
 * pages go cold while reads are served from the engine: on the benchmark machine the page
 * cache gave a file back within minutes, and an add that had to read its leaf from disk
 * stalled the writer and every request behind it (figure 4 after the read figures: 8,600
 * adds/s instead of 15,400). As PostgreSQL keeps its indexes in shared_buffers, the writer
 * keeps this one in its own cache, read once at start, as many entries as fit (an entry with
 * its share of the page is about 17 bytes). */
int64_t store__warm_writer(struct store_conn *cc, int cache_mb)
{
    struct sq_conn *c = SC(cc);
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    char sql[64];

    if (cache_mb <= 0)
        return 0;
    snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", cache_mb * 1024);
    if (exec(c->db, sql, NULL) != 0)
        return 0;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT count(*) FROM (SELECT resource_id FROM assignments"
                           " INDEXED BY assignments_cur WHERE valid_to IS NULL"
                           " AND resource_id >= 0 LIMIT ?1)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)cache_mb * 1048576 / 17);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

enum store_ckpt store__checkpoint_due(struct store_conn *cc)
{
    struct sq_store *st = SC(cc)->store;
    int frames = atomic_load(&st->wal_frames), copied = atomic_load(&st->wal_copied);

    if (copied > frames)
        copied = 0; /* the WAL started over since */
    if (frames >= st->restart_frames)
        return STORE_CKPT_RESTART;
    /* In the WAL's last quarter the background copies follow the commits closely, so that
     * the writer's own copy at the restart is short (it stalls every write meanwhile). */
    if (frames >= st->restart_frames - st->restart_frames / 4)
        return frames - copied >= st->ckpt_frames / 16 ? STORE_CKPT_AHEAD : STORE_CKPT_NONE;
    return frames - copied >= st->ckpt_frames ? STORE_CKPT_AHEAD : STORE_CKPT_NONE;
}

int store__checkpoint(struct store_conn *cc, struct tg_err *err)
{
    struct sq_conn *c = SC(cc);
    int nlog = 0, ndone = 0, rc;

    /* PASSIVE: copies what no reader still needs, never waits for a reader. */
    rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &ndone);
    if (rc == SQLITE_BUSY)
        return 0; /* another checkpoint runs: it does the work, the next call the rest */
    if (rc != SQLITE_OK)
        return db_err(c->db, rc, err, "checkpoint");
    if (nlog < 0)
        return 0; /* not in WAL mode */
    if (c->wal_owner && ndone == nlog) {
        /* Between the writer's transactions nothing was appended meanwhile: the copy is
         * complete and the next write transaction starts the WAL over. */
        atomic_store(&c->store->wal_frames, 0);
        atomic_store(&c->store->wal_copied, 0);
    } else {
        atomic_store(&c->store->wal_copied, ndone);
    }
    return 0;
}

static int sq_ping(struct store_conn *c, struct tg_err *err)
{
    warm_join(SC(c));
    return exec(SC(c)->db, "SELECT 1 FROM schema_version LIMIT 1", err);
}

static int sq_exec_script(struct store_conn *c, const char *sql, struct tg_err *err)
{
    warm_join(SC(c));
    return exec(SC(c)->db, sql, err);
}

/* One process writes a SQLite file: nothing to wait for but the time. */
static int sq_wait_notify(struct store_conn *c, int timeout_ms)
{
    (void)c;
    if (timeout_ms > 0)
        sqlite3_sleep(timeout_ms);
    return 0;
}

static bool sq_retry_pending(struct store_conn *c)
{
    (void)c;
    return false;
}

static struct store_stmt *sq_st_get(struct store_conn *cc, enum store_sql id, struct tg_err *err)
{
    struct sq_conn *c = SC(cc);
    struct sq_stmt *st = c->stmts[id];
    sqlite3_stmt *s;
    int rc;

    warm_join(c);
    const char *sql = sq_sql(id);
    bool rowid_only = rowid_only_ok(sql);

    if (st) {
        sqlite3_reset(st->s);
        sqlite3_clear_bindings(st->s);
        st->phase = 0;
        return &st->base;
    }
    rc = sqlite3_prepare_v3(c->db, sql,
                            rowid_only ? (int)(strlen(sql) - strlen(RETURNING_ID)) : -1,
                            SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        tg_err_set(err, TG_EINTERNAL, "", "prepare statement %d: %s", (int)id,
                   sqlite3_errmsg(c->db));
        return NULL;
    }
    st = xcalloc(1, sizeof(*st));
    st->base.be = &store_sqlite_backend;
    st->s = s;
    st->c = c;
    st->rowid_only = rowid_only;
    c->stmts[id] = st;
    return &st->base;
}

static void sq_st_int(struct store_stmt *st, int i, int64_t v) { sqlite3_bind_int64(SS(st)->s, i, v); }
static void sq_st_null(struct store_stmt *st, int i) { sqlite3_bind_null(SS(st)->s, i); }

static void sq_st_textn(struct store_stmt *st, int i, const char *s, size_t n)
{
    sqlite3_bind_text(SS(st)->s, i, s, (int)n, SQLITE_TRANSIENT);
}

static int sq_st_step(struct store_stmt *st, struct tg_err *err)
{
    struct sq_stmt *q = SS(st);
    int rc;

    if (q->rowid_only && q->phase > 0) {
        q->phase = 2;
        return 0;
    }
    rc = sqlite3_step(q->s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        if (!q->rowid_only)
            return 0;
        q->rowid = sqlite3_last_insert_rowid(q->c->db);
        q->phase = 1;
        return 1;
    }
    rc = db_err(q->c->db, rc, err, "step");
    sqlite3_reset(q->s);
    q->phase = 0;
    return rc;
}

static int64_t sq_col_int(struct store_stmt *st, int i)
{
    if (SS(st)->rowid_only) {
        assert(i == 0 && SS(st)->phase == 1);
        return SS(st)->rowid;
    }
    return sqlite3_column_int64(SS(st)->s, i);
}
static bool sq_col_null(struct store_stmt *st, int i)
{
    if (SS(st)->rowid_only)
        return false;
    return sqlite3_column_type(SS(st)->s, i) == SQLITE_NULL;
}
static const char *sq_col_text(struct store_stmt *st, int i)
{
    if (SS(st)->rowid_only)
        return NULL; /* its one column is an integer */
    return (const char *)sqlite3_column_text(SS(st)->s, i);
}
static int sq_col_count(struct store_stmt *st)
{
    return SS(st)->rowid_only ? 1 : sqlite3_column_count(SS(st)->s);
}
static void sq_st_reset(struct store_stmt *st)
{
    sqlite3_reset(SS(st)->s);
    SS(st)->phase = 0;
}
static int64_t sq_changes(struct store_conn *c) { return sqlite3_changes64(SC(c)->db); }

static struct store_stmt *sq_adhoc(struct store_conn *cc, const char *sql, struct tg_err *err)
{
    struct sq_stmt *st;
    sqlite3_stmt *s;

    if (sqlite3_prepare_v2(SC(cc)->db, sql, -1, &s, NULL) != SQLITE_OK) {
        tg_err_set(err, TG_EINTERNAL, "", "prepare: %s", sqlite3_errmsg(SC(cc)->db));
        return NULL;
    }
    st = xcalloc(1, sizeof(*st));
    st->base.be = &store_sqlite_backend;
    st->s = s;
    st->c = SC(cc);
    return &st->base;
}

static void sq_adhoc_free(struct store_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_finalize(SS(st)->s);
    xfree(st);
}

static const char *sq_col_name(struct store_stmt *st, int i)
{
    return sqlite3_column_name(SS(st)->s, i);
}

/* INTEGER PRIMARY KEY takes max(id) + 1 by itself. */
static int sq_after_copy(struct store_conn *c, struct tg_err *err)
{
    (void)c;
    (void)err;
    return 0;
}

/* ---- the writer's threads (store_writer_open) ---- */

/* Copying the WAL into the database file ends in an fsync of that file: on the writer it held
 * up every batch behind it (a fifth of the writer's time under 64 writing clients). */
static void *ckpt_main(void *arg)
{
    struct sq_store *s = arg;

    for (;;) {
        struct tg_err err;
        pthread_mutex_lock(&s->ckpt_mu);
        while (!s->ckpt_wanted && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
        if (s->ckpt_stop) {
            pthread_mutex_unlock(&s->ckpt_mu);
            break;
        }
        s->ckpt_wanted = false;
        pthread_mutex_unlock(&s->ckpt_mu);
        tg_err_clear(&err);
        if (store__checkpoint(&s->ckpt_conn->base, &err) != 0)
            log_error("store: checkpoint: %s", err.msg);
    }
    return NULL;
}

/* Flushes the WAL group by group (deferred syncs): the publisher's read of a batch waits for
 * its flush, and meanwhile catches up the batch before it. */
static void *syncer_main(void *arg)
{
    struct sq_store *s = arg;
    while (store__sync_next(&s->writer->base)) {
    }
    return NULL;
}

/* Fills the writer's page cache (store__warm_writer) on a thread of its own: at start it
 * overlaps the engine's load, which reads through another connection. Measured at 10M
 * assignments: 1.5-4.5 s before the load began, on a loaded 2-core machine. */
static void *warm_main(void *arg)
{
    struct store_conn *w = arg;
    int64_t t0 = time_mono_us(), n = store__warm_writer(w, SC(w)->store->opts.write_cache_mb);
    if (n > 0)
        log_info("store: the writer's cache holds %lld index entries (%lld ms)", (long long)n,
                 (long long)(time_mono_us() - t0) / 1000);
    return NULL;
}

static struct store_conn *sq_writer_open(struct store *ss, struct tg_err *err)
{
    struct sq_store *s = SQ(ss);
    struct store_conn *w;

    assert(s->writer == NULL); /* one writer per store: the WAL's counters are its own */
    w = sq_conn_open(ss, true, err);
    if (w == NULL)
        return NULL;
    s->bg_ckpt = s->opts.wal_mb > 0 && store__defer_checkpoints(w, s->opts.wal_mb);
    if (s->bg_ckpt) {
        s->ckpt_conn = SC(sq_conn_open(ss, true, err));
        if (s->ckpt_conn == NULL) {
            s->bg_ckpt = false;
            sq_conn_close(w);
            return NULL;
        }
        s->bg_sync = s->opts.defer_sync && store__defer_sync(w);
    }
    s->writer = SC(w);
    /* Each thread is named for `top -H` and /proc/PID/task/TID/comm: an operator sees which
     * role spends the CPU. */
    s->ckpt_stop = false;
    if (s->bg_ckpt) {
        pthread_create(&s->ckpt_tid, NULL, ckpt_main, s);
        pthread_setname_np(s->ckpt_tid, "tagd-checkpoint");
    }
    if (s->bg_sync)
        for (int k = 0; k < SYNCERS; k++) {
            pthread_create(&s->sync_tid[k], NULL, syncer_main, s);
            pthread_setname_np(s->sync_tid[k], "tagd-sync");
        }
    /* Last: from here the thread alone uses the connection until warm_join. */
    if (s->opts.write_cache_mb > 0 && pthread_create(&SC(w)->warm_tid, NULL, warm_main, w) == 0) {
        pthread_setname_np(SC(w)->warm_tid, "tagd-warm");
        SC(w)->warming = true;
    }
    return w;
}

/* Before the writer's connection closes: the checkpointer first (it copies on a connection
 * of its own), then the syncers, after a last flush of what was written. */
static void writer_stop(struct sq_store *s)
{
    if (s->bg_ckpt) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
        pthread_join(s->ckpt_tid, NULL);
        sq_conn_close(&s->ckpt_conn->base);
        s->ckpt_conn = NULL;
        s->bg_ckpt = false;
    }
    if (s->bg_sync) {
        store__sync_stop(&s->writer->base);
        for (int k = 0; k < SYNCERS; k++)
            pthread_join(s->sync_tid[k], NULL);
        s->bg_sync = false;
    }
    s->writer = NULL;
}

/* After a batch is handed over, while the publisher answers. */
static void sq_writer_idle(struct store_conn *cc)
{
    struct sq_conn *c = SC(cc);
    struct sq_store *s = c->store;
    struct tg_err err;

    assert(c == s->writer);
    warm_join(c);
    if (!s->bg_ckpt)
        return;
    switch (store__checkpoint_due(cc)) {
    case STORE_CKPT_NONE:
        break;
    case STORE_CKPT_AHEAD:
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_wanted = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
        break;
    case STORE_CKPT_RESTART:
        /* The background copies did most of it: what is left is the tail since the last. */
        tg_err_clear(&err);
        if (store__checkpoint(cc, &err) != 0)
            log_error("store: checkpoint: %s", err.msg);
        break;
    }
}

static void sq_wait_all_durable(struct store_conn *cc)
{
    struct sq_conn *c = SC(cc);
    struct sq_store *st = c->store;

    if (!st->deferred_sync)
        return;
    pthread_mutex_lock(&st->sync_mu);
    c->seen = st->visible;
    pthread_mutex_unlock(&st->sync_mu);
    wait_durable(st, c->seen);
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .describe = sq_describe,
    .wal_bytes = sq_wal_bytes,
    .conn_bulk = sq_conn_bulk,
    .conn_open = sq_conn_open,
    .conn_close = sq_conn_close,
    .begin_write = sq_begin_write,
    .begin_read = sq_begin_read,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .savepoint_release = sq_savepoint_release,
    .savepoint_rollback = sq_savepoint_rollback,
    .ping = sq_ping,
    .exec_script = sq_exec_script,
    .wait_notify = sq_wait_notify,
    .retry_pending = sq_retry_pending,
    .writer_open = sq_writer_open,
    .writer_idle = sq_writer_idle,
    .begin_read_early = sq_begin_read_early,
    .wait_durable = sq_wait_durable,
    .wait_all_durable = sq_wait_all_durable,
    .st_get = sq_st_get,
    .st_int = sq_st_int,
    .st_textn = sq_st_textn,
    .st_null = sq_st_null,
    .st_step = sq_st_step,
    .col_int = sq_col_int,
    .col_text = sq_col_text,
    .col_null = sq_col_null,
    .col_count = sq_col_count,
    .st_reset = sq_st_reset,
    .changes = sq_changes,
    .tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
                  " AND name NOT LIKE 'sqlite_%' ORDER BY name",
    .adhoc = sq_adhoc,
    .adhoc_free = sq_adhoc_free,
    .col_name = sq_col_name,
    .after_copy = sq_after_copy,
};
