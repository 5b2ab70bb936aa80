/* store/sqlite.h: the SQLite backend's own steps around its writer.
 *
 * Only for src/store/sqlite.c and the unit tests that drive these steps one at a time
 * (tests/unit/test_store.c, test_powerloss.c). Everyone else configures them through
 * store_open's options and store_writer_open, which runs them on the store's own threads. */
#ifndef TAGD_STORE_SQLITE_H
#define TAGD_STORE_SQLITE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct store_conn;

/**
 * Commits on the writer connection `writer` stop copying the WAL into the database file
 * themselves (SQLite's automatic checkpoint, which the commit call waits for); the caller runs
 * store__checkpoint when it suits it. The WAL grows to `wal_mb` MB before it starts over (a
 * quarter of it uncopied makes a checkpoint due). False when the pragmas fail.
 */
bool store__defer_checkpoints(struct store_conn *writer, int wal_mb);
/**
 * Gives the writer connection a page cache of `cache_mb` MB and fills it with the index that
 * assignment writes touch at random (assignments_cur), as far as it fits. Returns the number
 * of index entries read; 0 MB leaves SQLite's cache as it is and reads nothing.
 */
int64_t store__warm_writer(struct store_conn *writer, int cache_mb);
/**
 * After store__defer_checkpoints: the writer's commits stop waiting for the WAL's fsync, so
 * that it runs the next transaction while the disk flushes. Durability moves to the readers:
 * beginning a read transaction (any connection of the store) waits until every commit its
 * snapshot may see is durable, running the fdatasync itself when no other thread is. So
 * nothing is read, by the engine's catch-up or by anyone else, that a power loss could still
 * take back; the server answers a write only after such a read.
 */
bool store__defer_sync(struct store_conn *writer);
/** With deferred syncs: waits until a commit is written but not durable, makes it durable and
 * returns true; false once store__sync_stop was called (after a last sync). A thread looping
 * on it flushes each group of commits as soon as the last flush is done, while the readers
 * that wait for them (the engine's catch-up first) do other work. */
bool store__sync_next(struct store_conn *writer);
void store__sync_stop(struct store_conn *writer);
/** Deferred syncs: the fdatasyncs of the WAL done so far on this connection's store. */
uint64_t store__syncs(struct store_conn *c);

/** What the WAL needs after the writer's last commit (store__defer_checkpoints). */
enum store_ckpt {
    STORE_CKPT_NONE,
    /* SQLite's usual threshold (1000 pages) are not copied yet: a checkpoint on another
     * writing connection copies them without holding the writer up. */
    STORE_CKPT_AHEAD,
    /* The WAL is long (8000 pages): copies racing the writer's commits never let it start
     * over, which SQLite does only at a write transaction that finds it completely copied.
     * The writer copies the rest itself, between its transactions. */
    STORE_CKPT_RESTART,
};
enum store_ckpt store__checkpoint_due(struct store_conn *writer);
/** Copies committed WAL into the database file, as far as no reader still needs it (never
 * waits for one); 0 when done, or when another checkpoint is running. `c` is the deferring
 * writer (between its transactions) or another writing connection. */
int store__checkpoint(struct store_conn *c, struct tg_err *err);

#endif /* TAGD_STORE_SQLITE_H */
