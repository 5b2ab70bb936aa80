/* tests/unit/crashvfs.h: an SQLite VFS for tests that loses power.
 *
 * A shim over the default unix VFS. Writes go through to the files at once, as the kernel's
 * page cache takes them; what a power loss could still take back is tracked per file: every
 * 512-byte sector written, truncated or extended since the file's last sync, with what the
 * sector held at that sync. A sync (SQLite's xSync, or an fdatasync of the file by tagd's own
 * syncer thread, which the test binary routes here with -Wl,--wrap=fdatasync) makes
 * everything written to the file before it durable, at that instant. No real sync is run:
 * durability is what this model says it is.
 *
 * Power is cut after the Nth write, truncate or sync (crashvfs_arm), or when asked
 * (crashvfs_cut_now). The cut, under the lock every tracked operation takes, puts every file
 * in a state a disk could have been left in, then ends the process with _exit(CRASHVFS_EXIT):
 *   - CRASHVFS_DROP: nothing written since the last sync reached the disk (each file back to
 *     its synced contents and length);
 *   - CRASHVFS_TEAR: each unsynced sector, independently, either reached the disk or not (so
 *     a write arrives in pieces, in any order), and the file has its synced or its current
 *     length;
 *   - CRASHVFS_KEEP: everything arrived (what a SIGKILL leaves).
 * Bytes outside what was written are never touched (SQLite's powersafe-overwrite assumption,
 * which the unix VFS declares). Directory entries are taken as durable at once.
 *
 * Only for test binaries; one process-wide instance. */
#ifndef TAGD_TESTS_CRASHVFS_H
#define TAGD_TESTS_CRASHVFS_H

#include <stdint.h>

#define CRASHVFS_EXIT 42

enum crashvfs_mode { CRASHVFS_DROP, CRASHVFS_TEAR, CRASHVFS_KEEP };

/** Registers the VFS as SQLite's default (before any database is opened). */
int crashvfs_install(void);
/** Cuts power after `ops` more writes, truncates and syncs of tracked files (0: never, until
 * crashvfs_cut_now), choosing among the sectors with `seed`. */
void crashvfs_arm(uint64_t ops, enum crashvfs_mode mode, uint64_t seed);
/** Fails (SQLITE_IOERR) about `per_mille` in 1,000 of the read transactions that read-only
 * connections begin, from the next one on: a read that cannot begin, as I/O errors or a
 * lock that cannot be had make it. */
void crashvfs_fail_reads(unsigned per_mille, uint64_t seed);
/** Cuts power now. Does not return. */
_Noreturn void crashvfs_cut_now(void);
/** Counters since install: writes, syncs (both kinds), and at the cut the sectors dropped and
 * kept (printed on stderr by the cut). */
struct crashvfs_stats {
    uint64_t writes, syncs, fdatasyncs, truncates, failed_reads;
};
void crashvfs_stats(struct crashvfs_stats *out);

#endif /* TAGD_TESTS_CRASHVFS_H */
