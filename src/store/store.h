/* store/store.h: the persistence interface.
 *
 * core/ speaks to storage only through this header. Statements are named (enum store_sql, from
 * the X-macro lists in sql_*.h) and written once in portable SQL with numbered parameters (?1);
 * each backend prepares them once per connection and translates the placeholder syntax where it
 * must. store/ never decides anything: it binds, steps and reports constraint violations as
 * tg_codes (a unique violation is TG_EEXISTS).
 *
 * Threads: a struct store is shared; a struct store_conn belongs to one thread at a time. The
 * writer connection is used only by the writer thread; every event loop has a reader. */
#ifndef TAGD_STORE_STORE_H
#define TAGD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

#define STORE_SQL_ID(id, sql) id,
enum store_sql {
#include "store/sql_all.h"
    SQL__COUNT
};
#undef STORE_SQL_ID

struct store;
struct store_conn;
struct store_stmt;
struct progress;

/** How store_open checks a SQLite file that a store was created in before (the marker
 * PATH.state beside it says so; docs/operations.md, "Start-up checks"). Whatever the mode, a
 * file that held a store and now holds none (truncated, deleted, replaced) is refused. */
enum store_check {
    /* PRAGMA quick_check when the last session did not close the store (a crash or a power
     * loss) or the file changed since it did (size, mtime or inode). */
    STORE_CHECK_AUTO,
    STORE_CHECK_QUICK, /* PRAGMA quick_check at every open */
    STORE_CHECK_FULL,  /* PRAGMA integrity_check at every open (indexes against tables too) */
};

/* What a backend does beyond SQL is configured here, once: the server's write pipeline sees
 * only store_writer_open, store_writer_idle and the durability waits below. PostgreSQL ignores
 * every option (its server checks, locks and flushes its own files). */
struct store_open_opts {
    enum store_check check;
    /* A store that is gone or damaged is started over, empty, instead of refused; a file
     * that is there is kept as PATH.damaged-YYYYMMDDTHHMMSSZ (with its WAL), never deleted. */
    bool reinit;
    /* `tagd migrate`'s source: the file must hold a store, marker or not. */
    bool must_exist;
    /* This process is the file's only writer until store_close: SQLite takes an exclusive
     * lock on PATH.lock (which names the holder's pid) and refuses the store with TG_EBUSY
     * when another process holds it. One tagd per SQLite file: its writer assumes it is the
     * file's only writer (the engine answers the writer's reads, the WAL is sized and copied
     * by it alone). */
    bool exclusive;
    bool create_dir; /* SQLite: PATH's directory is made (0700) when it is missing */
    /* For the connection store_writer_open makes (SQLite; docs/operations.md). */
    int wal_mb;         /* the WAL's length before it starts over (its copies then run on a
                         * checkpointer thread of the store's); 0: SQLite's own checkpoints */
    int write_cache_mb; /* the writer's page cache, filled at open with the index random adds
                         * read; 0: SQLite's 64 MB, nothing read */
    bool defer_sync;    /* with wal_mb: commits leave the WAL's fsync to syncer threads of the
                         * store's, and readers wait for it (store_begin_read) */
};

/**
 * Opens the store named by `url` ("sqlite:PATH", a plain path, or "postgres://user@host:port/db"
 * / "postgresql://...", any libpq URI) and applies every pending migration, with the options
 * `o` (NULL: the defaults, STORE_CHECK_AUTO and nothing else). A SQLite store that existed and
 * is now empty, missing or fails the check returns TG_EPRECOND with `err` saying what was
 * found; nothing was written then. Returns 0 and an owned *out, or a tg_code with `err` set.
 */
int store_open(const char *url, const struct store_open_opts *o, struct store **out,
               struct tg_err *err);
void store_close(struct store *s);
/** Short description of the backend for logs ("sqlite /path/tagd.db"). Borrowed. */
/** SQLite: the WAL file's length now, in bytes; -1 for a store without one (PostgreSQL). */
int64_t store_wal_bytes(const struct store *s);
const char *store_describe(const struct store *s);

/** Opens a connection (writer or read-only). Returns owned or NULL with `err` set. */
struct store_conn *store_conn_open(struct store *s, bool writer, struct tg_err *err);
void store_conn_close(struct store_conn *c);
/** Says that `c` is about to read (on) or has read (off) most of the store in one go, outside
 * any transaction: the engine's load at start. SQLite maps the file into memory meanwhile
 * (no system call and copy per page read; the mapping is dropped after, as its pages would
 * count in the process's resident memory); a no-op elsewhere. */
void store_conn_bulk(struct store_conn *c, bool on);

/* Transactions. begin_write takes the write lock up front (BEGIN IMMEDIATE), so a write never
 * fails half-way for lock reasons; begin_read opens a snapshot for a consistent read. */
int store_begin_write(struct store_conn *c, struct tg_err *err);
int store_begin_read(struct store_conn *c, struct tg_err *err);
int store_commit(struct store_conn *c, struct tg_err *err);
void store_rollback(struct store_conn *c);
int store_savepoint(struct store_conn *c, struct tg_err *err);
int store_savepoint_release(struct store_conn *c, struct tg_err *err);
void store_savepoint_rollback(struct store_conn *c);
/** Cheap liveness check for /readyz. */
int store_ping(struct store_conn *c, struct tg_err *err);
/** True when the store is shared by several instances (PostgreSQL): another process may
 * commit revisions, so an instance learns about them by tailing (store_wait_notify). */
bool store_is_shared(const struct store *s);
/**
 * Waits up to `timeout_ms` for a hint that another instance committed (PostgreSQL
 * LISTEN/NOTIFY on a connection used for nothing else). Returns 1 on a hint, 0 on timeout,
 * a negative tg_code when the connection failed (the caller polls and calls again; the
 * backend reconnects). A hint is never the truth: callers read the revisions after it.
 * SQLite has no other writers and simply sleeps.
 */
int store_wait_notify(struct store_conn *c, int timeout_ms);
/** Makes the current or next store_wait_notify return at once (0), from any thread: a read
 * found the store ahead of what the tailer applied, so there is something to tail now. */
void store_wake_tailer(void);
/**
 * True when the current write transaction hit a serialization failure or a deadlock
 * (PostgreSQL 40001/40P01): the whole transaction must be rolled back and run again.
 */
bool store_retry_pending(struct store_conn *c);
/**
 * Opens the connection of the one thread that commits the server's writes, with whatever the
 * backend does around such a writer as store_open's options asked: SQLite sizes its WAL,
 * warms its page cache, and starts a checkpointer thread (and, with defer_sync, syncer
 * threads) that stop when this connection is closed. At most one per store at a time.
 * Returns owned or NULL with `err` set.
 */
struct store_conn *store_writer_open(struct store *s, struct tg_err *err);
/** The writer between two transactions, after handing its last commit on: the backend's
 * upkeep (SQLite: a due copy of the WAL starts on the checkpointer, or, once the WAL is at its
 * length, the writer copies the rest itself so that the WAL starts over). */
void store_writer_idle(struct store_conn *writer);
/** store_begin_read without waiting for durability: the snapshot may hold commits that are
 * not durable yet (SQLite with defer_sync). Whoever reads so must call store_wait_durable
 * before anything read leaves the thread (the engine's catch-up builds its next snapshot
 * meanwhile, and publishes it after). Elsewhere the same as store_begin_read. */
int store_begin_read_early(struct store_conn *c, struct tg_err *err);
/** Waits until what the last read begun on `c` may see is durable; after a read that failed
 * to begin, until every commit made so far is (an answer that leaves all the same must not
 * show, or report, a commit a power loss could take back). At once where every commit is
 * durable when it returns. */
void store_wait_durable(struct store_conn *c);
/** Waits until every commit made so far, on any connection, is durable (an answer that read
 * nothing of its own may still show an earlier commit). At once where every commit is
 * durable when it returns. */
void store_wait_all_durable(struct store_conn *c);
/**
 * `tagd migrate`: copies every table of the store at `from` into the store at `to`, which must
 * hold no rows yet. Ids, revisions, the change log and every history table keep their values;
 * both stores are first migrated to this tagd's schema. Afterwards every table must have the
 * same number of rows on both sides. Writes one line per table to `report`. Tells `prog`
 * (borrowed, may be NULL; its total is set here) the rows copied as it goes. 0 or a tg_code.
 */
int store_copy(const char *from, const char *to, FILE *report, struct progress *prog,
               struct tg_err *err);

/**
 * `tagd backup`: a consistent copy of the SQLite store at `url` into the new file `dest`,
 * taken while a tagd serves it and writes go on (one read transaction: the copy is the store
 * as of one commit). `dest` must not exist; it appears only once complete and checked
 * (quick_check), fsync'd with its directory. Sets *rev to the copy's revision, *bytes to its
 * size. PostgreSQL stores are refused (TG_EINVAL): pg_dump does that. 0 or a tg_code.
 */
int store_backup(const char *url, const char *dest, int64_t *rev, int64_t *bytes,
                 struct tg_err *err);

/**
 * `tagd restore`: puts a copy of the SQLite file `backup` in place of the store at `url`, which
 * no tagd may serve meanwhile (its lock is taken; TG_EBUSY otherwise). The copy is made beside
 * the store and checked (quick_check) before anything moves; the store it replaces, if any, is
 * kept with its WAL as PATH.before-restore-TIME, named in `aside` ("" when there was none).
 * Sets *rev to the restored revision. PostgreSQL: TG_EINVAL. 0 or a tg_code.
 */
int store_restore(const char *url, const char *backup, char *aside, size_t aside_len,
                  int64_t *rev, struct tg_err *err);
/**
 * A read transaction that begins at the first st_get, so that a request answered wholly from
 * memory never touches the store; store_rollback ends it either way.
 */
void store_begin_read_lazy(struct store_conn *c);
/** False while a lazy read has not run a statement yet. */
bool store_read_begun(const struct store_conn *c);
/**
 * The authentication epoch: moves after every commit that wrote tokens, users, orgs or
 * workspaces (recognized from the statements' SQL), and when another instance's commits are
 * applied. A cached authentication is good only under the epoch it was read in.
 */
uint64_t store_auth_epoch(void);
void store_auth_epoch_bump(void);
/**
 * The revision up to which the epoch has taken in every instance's changes to authentication
 * (this instance's commits bump it at once, another's when the tailer applies them; the tailer
 * sets this after its bump). A read that names a newer revision (X-Tagd-Min-Revision) checks
 * its token in the store, not in a cache. Unlimited (INT64_MAX) where no other instance
 * writes.
 */
int64_t store_auth_rev(void);
void store_auth_rev_set(int64_t rev);
/** True when the open transaction wrote such a table (not yet visible in the epoch). */
bool store_auth_dirty(const struct store_conn *c);
bool store_sql_writes_auth(enum store_sql id);
/**
 * What the store went through, for /metrics and the operator (PostgreSQL; SQLite counts
 * only its WAL's syncs). Process-wide counters, added to from any thread.
 */
enum store_stat {
    STORE_STAT_RECONNECTS,       /* connections opened again after one was lost */
    STORE_STAT_UNAVAILABLE,      /* operations that failed because the store was unreachable */
    STORE_STAT_COMMIT_COMMITTED, /* commits whose answer was lost, found committed */
    STORE_STAT_COMMIT_ABORTED,   /* commits whose answer was lost, found not committed */
    STORE_STAT_COMMIT_UNKNOWN,   /* commits whose answer was lost and could not be found out */
    STORE_STAT_LOCK_WAITS,       /* write transactions that waited over 100 ms for the lock */
    STORE_STAT_LOCK_WAIT_US,     /* microseconds write transactions waited for it in all */
    STORE_STAT_WAL_SYNCS,        /* SQLite: fdatasyncs of the WAL by the deferred syncs */
    STORE_STAT__COUNT
};
void store_stat_add(enum store_stat s, uint64_t n);
uint64_t store_stat(enum store_stat s);
/* All of them at once, for /metrics (the fields name the enum's members). */
struct store_stats {
    uint64_t reconnects, unavailable;
    uint64_t commit_committed, commit_aborted, commit_unknown;
    uint64_t lock_waits, lock_wait_us;
    uint64_t wal_syncs;
};
void store_stats_get(struct store_stats *out);
/**
 * The longest one instance may hold the others up (PostgreSQL): a session that sits idle
 * inside a transaction longer than this (its instance frozen, its host gone) is ended by the
 * server, which releases the revision counter's lock. Set before connections are opened.
 */
void store_set_hold_timeout_ms(int64_t ms);
int64_t store_hold_timeout_ms(void);
/** Runs a script of SQL outside the named statements (tools only: `tagd migrate`). */
int store_exec_script(struct store_conn *c, const char *sql, struct tg_err *err);

/**
 * Returns the prepared statement `id` of this connection, reset and with bindings cleared, or
 * NULL with `err` set. The statement stays owned by the connection; the caller binds, steps and
 * (optionally) calls st_reset. Only one use of a given statement may be open at a time.
 */
struct store_stmt *st_get(struct store_conn *c, enum store_sql id, struct tg_err *err);
void st_int(struct store_stmt *st, int i, int64_t v);
void st_text(struct store_stmt *st, int i, const char *s); /* NULL binds NULL; copies */
void st_textn(struct store_stmt *st, int i, const char *s, size_t n);
void st_null(struct store_stmt *st, int i);
void st_bool(struct store_stmt *st, int i, bool v);
/** Steps: returns 1 when a row is ready, 0 when done, or a negative tg_code with `err` set. */
int st_step(struct store_stmt *st, struct tg_err *err);
/** Steps until done; returns 0 or a tg_code. */
int st_exec(struct store_stmt *st, struct tg_err *err);
int64_t col_int(struct store_stmt *st, int i);
/** Columns of the current result. */
int col_count(struct store_stmt *st);
/** Borrowed until the next step or reset; NULL for SQL NULL. */
const char *col_text(struct store_stmt *st, int i);
bool col_null(struct store_stmt *st, int i);
void st_reset(struct store_stmt *st);
/** Rows changed by the last statement on this connection. */
int64_t store_changes(struct store_conn *c);

#endif /* TAGD_STORE_STORE_H */
