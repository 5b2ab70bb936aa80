/* txn/txn.h: the write pipeline, between the request layers and core.
 *
 * Every write of the server passes three stages, each a thread of its own:
 *   fetch      the job's slow part that needs no write transaction (fetching a source), in a
 *              read transaction of its own; only jobs submitted with `prepare`;
 *   writer     group commit: up to TXN_BATCH jobs in one write transaction, each in its own
 *              savepoint, so that a job that is undone is rolled back alone; a transaction the
 *              store spoils (serialization failure, deadlock) runs again from the start;
 *   publisher  once committed: catches the engine up with every batch waiting (one read
 *              snapshot), waits until the commits are durable, and only then hands the jobs
 *              back. No answer leaves before its commit is durable and in the engine.
 * With a store other instances write too (PostgreSQL), a tailer thread applies their
 * revisions to the engine.
 *
 * txn/ knows no HTTP: a job is a struct txn_job embedded in the caller's own, and the caller
 * runs it through the callbacks of struct txn_ops, given once at txn_open. So the arrows
 * point down (http/ submits, txn/ calls core/, engine/ and store/) and the one call back up,
 * to run a request's handler and to hand its answer back, goes through that table.
 *
 * Threads: txn_open, txn_start and txn_stop are called by one thread (the server's main);
 * txn_submit, txn_seen_rev, txn_note_rev and txn_stats_get from any thread. */
#ifndef TAGD_TXN_TXN_H
#define TAGD_TXN_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

struct arena;
struct core_ctx;
struct engine;

/* Jobs one write transaction takes at most. */
#define TXN_BATCH 64
#define TXN_NBATCH_BUCKETS 7 /* batch size histogram: 1 2 4 8 16 32 TXN_BATCH */

/* Where a job is: it moves forward only, and each stage asserts it got a job from the one
 * before. */
enum txn_stage {
    TXN_NEW,       /* not submitted yet */
    TXN_FETCHING,  /* queued for, or in, the fetch step */
    TXN_WRITING,   /* queued for, or in, the writer */
    TXN_PUBLISHING, /* committed (or failed), on its way out */
    TXN_DONE,      /* handed back with ops->done: the caller's again */
};

/**
 * One write, embedded in the caller's job (the callbacks get this member back; the caller
 * finds its job around it). The caller zeroes it, then submits it; from txn_submit until
 * ops->done it belongs to the pipeline, which alone writes these fields.
 * Invariant: revision > 0 only if kept; kept only from the writer on.
 */
struct txn_job {
    struct arena *a;      /* the job's memory, for its contexts: set by the caller, borrowed */
    struct txn_job *next; /* the stage's queue (or the batch) this job is in */
    enum txn_stage stage;
    bool kept;        /* the writer released its savepoint (cleared again if the commit fails) */
    bool sweep;       /* the pipeline's own job that removes expired assignments (txn.c) */
    int64_t revision; /* the revision its answer reflects when kept; 0 otherwise */
};

/* What a job's handler wants done with what it wrote. */
enum txn_outcome {
    TXN_KEEP, /* release the savepoint: it commits with the batch */
    TXN_UNDO, /* roll the savepoint back: the job answered an error */
};

/* How the pipeline runs the caller's jobs; every callback borrows the job. */
struct txn_ops {
    /** Writer thread, inside the job's savepoint of the batch's transaction: runs the job in
     * cx (writing, with the engine). A job that has already been run is reset first. */
    enum txn_outcome (*run)(struct txn_job *j, struct core_ctx *cx);
    /** Fetch thread, inside a read transaction of its own: the job's part that needs no
     * write. Its answer, if it gave one, is dropped (reset follows). */
    void (*prepare)(struct txn_job *j, struct core_ctx *cx);
    /** Drops the job's answer, so that it runs again from the start or is answered anew. */
    void (*reset)(struct txn_job *j);
    /** Answers the job with an error (a tg_code and its details): its savepoint or its
     * transaction could not be had, or its commit failed. */
    void (*fail)(struct txn_job *j, int code, const struct tg_err *err);
    /** Publisher thread: the job leaves the pipeline, committed and durable and in the engine
     * (or failed); the caller owns it again. Must not block. */
    void (*done)(struct txn_job *j);
};

/**
 * Opens the pipeline's store connections on `s` (the writer's through store_writer_open),
 * loads the engine through the publisher's connection, and reads the store's revision.
 * `ops` is borrowed for the pipeline's life; `tail_poll_ms` bounds how long the tailer waits
 * for a hint of another instance's commit. No thread runs yet. 0, or a tg_code with `err`
 * set, having logged why; call txn_stop either way.
 */
int txn_open(struct store *s, const struct txn_ops *ops, int tail_poll_ms, struct tg_err *err);
/** Starts the threads (and, on a shared store, the tailer). 0, or a tg_code with `err` set,
 * having logged why. */
int txn_start(struct tg_err *err);
/**
 * Drains and stops: each stage finishes what it holds and hands it to the next (the fetch
 * step to the writer, the writer to the publisher), then the tailer stops, the connections
 * close and the engine is freed. Safe after a failed txn_open or without txn_start.
 */
void txn_stop(void);

/** Queues a job (stage TXN_NEW) for the fetch step (`prepare`) or straight for the writer. */
void txn_submit(struct txn_job *j, bool prepare);

/** The engine loaded at txn_open (NULL before, or after txn_stop); borrowed. */
struct engine *txn_engine(void);

/**
 * The newest revision this instance knows to be committed: raised by the publisher for each
 * answer, by the tailer for other instances' commits, and by readers that saw a newer one.
 */
int64_t txn_seen_rev(void);
/** Raises txn_seen_rev to `rev` (never lowers it). */
void txn_note_rev(int64_t rev);

/**
 * Whether an assignment has expired that the engine and the store may still hold: a read
 * must then wait (park) until the writer's sweep is published, so that no read at time t sees
 * an assignment that expired at t (txn.c, "expiry"). One atomic load and a clock read.
 */
bool txn_expiry_pending(void);

/* ---- reads, on the caller's thread (an event loop) ----
 *
 * A read runs in a transaction of the loop's own read-only connection that begins at its
 * first statement, so that a read answered from memory never touches the store. */

/** A read-only connection to the pipeline's store, for one thread (owned). NULL with `err`. */
struct store_conn *txn_reader_open(struct tg_err *err);
void txn_reader_close(struct store_conn *reader);
/** Prepares cx for a read on `reader` with the engine; nothing is read yet. */
void txn_read_begin(struct core_ctx *cx, struct store_conn *reader, struct arena *a);
/**
 * The revision an answered read reflects (X-Tagd-Revision). From memory alone, its engine
 * snapshot's. From the store, whose snapshot may hold commits the engine has not applied yet
 * (the tailer's delay, the publisher's), the engine's newest revision when that is older, so
 * that the next read, which the engine may serve, says no older one (a client saw 1396, then
 * 1395); never below cx->min_rev (what the instance answered before, or what the client
 * asked), never above the store's snapshot.
 */
int64_t txn_read_rev(struct core_ctx *cx);
/** Ends the read (its engine snapshot, its transaction if it began). */
void txn_read_end(struct core_ctx *cx);
/** A read found the store ahead of txn_seen_rev: the tailer tails now, not at its next poll. */
void txn_wake_tailer(void);
/** The store, for logs ("sqlite /path/tagd.db"); borrowed. */
const char *txn_store_describe(void);

/* What the pipeline counted, for /metrics, with the counts of the two parts it drives (the
 * store's, the engine's), so that the layers above see them through this one struct. */
struct txn_stats {
    struct store_stats store;
    uint64_t commits;   /* batches committed */
    uint64_t rollbacks; /* jobs undone alone (their savepoint rolled back) */
    uint64_t failures;  /* batches whose commit failed */
    bool engine;        /* an engine is loaded: the two counts below mean something */
    uint64_t engine_applied; /* resources the engine brought up to date from change records */
    uint64_t engine_reread;  /* ... and from reading their rows again */
    uint64_t engine_ranged;  /* ... in ranged reads of runs of ids */
    /* The engine's newest snapshot: its revision and sizes (when `engine`). */
    int64_t engine_rev;
    size_t engine_tags, engine_resources, engine_assignments, engine_bitmap_bytes;
    int64_t fetch_queue, write_queue, publish_queue; /* jobs waiting at each stage now */
    int batch_le[TXN_NBATCH_BUCKETS];      /* upper bounds of the batch size buckets */
    uint64_t batches[TXN_NBATCH_BUCKETS];  /* batches the writer took, by size (not cumulative) */
    uint64_t batch_jobs;                   /* jobs in all of them */
    int64_t wal_bytes; /* SQLite: the WAL file's length now; -1 where there is none */
    uint64_t import_rows_bulk, import_rows_single; /* core_assign_bulk_stats */
    uint64_t import_resources_bulk; /* core_resource_bulk_stats */
};
void txn_stats_get(struct txn_stats *out);

#endif /* TAGD_TXN_TXN_H */
