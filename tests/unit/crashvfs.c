/* tests/unit/crashvfs.c: see crashvfs.h. The idea is SQLite's own crash tests' (a VFS that
 * knows what the last sync made durable and throws the rest away, whole or in sectors); the
 * code is this project's.
 *
 * State: one struct track per file path SQLite opens as a main database, WAL or rollback
 * journal (several connections open the same file; the track is shared). A track keeps its
 * own descriptor of the file (to read what a sector held, to find the file by inode for an
 * fdatasync from outside SQLite, and to put the file back at the cut), the file's length at
 * its last sync, and the sectors changed since, each with the bytes it held then. Invariant:
 * for every sector not in `dirty`, the file's current bytes are durable; for every one in it,
 * `old` is what the disk holds for sure. Everything below `mu`. */
#include "crashvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/mem.h"

#define SECTOR 512
#define BUCKETS 1024

struct dirty {
    struct dirty *next;
    int64_t sector;
    unsigned char old[SECTOR]; /* the durable bytes (zeros past the synced length) */
};

struct track {
    struct track *next;
    char *path;
    int fd;              /* ours; -1 once the file was deleted */
    dev_t dev;
    ino_t ino;
    int64_t synced_size; /* the file's length at its last sync */
    uint64_t writes, syncs; /* since install, for the cut's report */
    struct dirty *dirty[BUCKETS];
    size_t ndirty;
};

struct cv_file {
    sqlite3_file base;
    struct track *t;    /* NULL: not tracked (temporary files) */
    bool readonly;      /* opened by a read-only connection (crashvfs_fail_reads) */
    sqlite3_file *real; /* the unix VFS's file, in the same allocation, after this struct */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_vfs *real_vfs;
static sqlite3_vfs cv_vfs;
static struct track *tracks;
static bool installed;
static uint64_t ops, cut_at;
static enum crashvfs_mode cut_mode;
static uint64_t rng;
static unsigned fail_reads_per_mille;
static uint64_t fail_rng;
static struct crashvfs_stats stats;

static uint64_t next_rand(void)
{
    /* splitmix64, as bench/gen.c: small and the same everywhere. */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void die(const char *what)
{
    fprintf(stderr, "crashvfs: %s: %s\n", what, strerror(errno));
    _exit(3);
}

static int64_t file_size(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        die("fstat");
    return (int64_t)sb.st_size;
}

static void forget_dirty(struct track *t)
{
    for (int b = 0; b < BUCKETS; b++) {
        struct dirty *d = t->dirty[b], *next;
        for (; d; d = next) {
            next = d->next;
            xfree(d);
        }
        t->dirty[b] = NULL;
    }
    t->ndirty = 0;
}

/* Everything in the file now is durable. */
static void synced_locked(struct track *t)
{
    if (t->fd < 0)
        return;
    t->syncs++;
    forget_dirty(t);
    t->synced_size = file_size(t->fd);
}

/* Notes what sector `s` holds on disk before it changes, unless already noted. */
static void note_sector(struct track *t, int64_t s)
{
    struct dirty *d;
    int64_t off = s * SECTOR;
    ssize_t n = 0;

    for (d = t->dirty[s % BUCKETS]; d; d = d->next)
        if (d->sector == s)
            return;
    d = xcalloc(1, sizeof(*d));
    d->sector = s;
    if (off < t->synced_size) {
        n = pread(t->fd, d->old, SECTOR, off);
        if (n < 0)
            die("pread");
        /* Past the synced length the disk holds nothing: zeros, should the length survive. */
        if (off + n > t->synced_size)
            n = (ssize_t)(t->synced_size - off);
        memset(d->old + n, 0, (size_t)(SECTOR - n));
    }
    d->next = t->dirty[s % BUCKETS];
    t->dirty[s % BUCKETS] = d;
    t->ndirty++;
}

static void note_range(struct track *t, int64_t off, int64_t len)
{
    if (t == NULL || t->fd < 0 || len <= 0)
        return;
    for (int64_t s = off / SECTOR; s <= (off + len - 1) / SECTOR; s++)
        note_sector(t, s);
}

/* The power cut (crashvfs.h). Called with `mu` held; never returns, so no other thread gets
 * to write again. */
static _Noreturn void cut_locked(void)
{
    /* How likely an unsynced sector reached the disk (tear): a frame of SQLite's WAL spans
     * nine sectors, so with even odds nearly every tear cuts at the first unsynced frame;
     * mostly-arrived writes with a hole or two are what also reorders commits. */
    static const unsigned per_mille[] = {500, 900, 990};
    unsigned keep = per_mille[next_rand() % 3];
    uint64_t dropped = 0, kept = 0;
    char files[512];
    size_t len = 0;

    files[0] = '\0';
    for (struct track *t = tracks; t; t = t->next) {
        int64_t now, final;
        const char *base = strrchr(t->path, '/');
        if (len < sizeof(files))
            len += (size_t)snprintf(files + len, sizeof(files) - len, "; %s: %llu writes, %llu syncs",
                                    base ? base + 1 : t->path, (unsigned long long)t->writes,
                                    (unsigned long long)t->syncs);
        if (t->fd < 0)
            continue;
        now = file_size(t->fd);
        final = cut_mode == CRASHVFS_DROP   ? t->synced_size
                : cut_mode == CRASHVFS_KEEP ? now
                : (next_rand() & 1)         ? t->synced_size
                                            : now;
        for (int b = 0; b < BUCKETS; b++) {
            for (struct dirty *d = t->dirty[b]; d; d = d->next) {
                bool lost = cut_mode == CRASHVFS_DROP   ? true
                            : cut_mode == CRASHVFS_KEEP ? false
                                                        : next_rand() % 1000 >= keep;
                int64_t off = d->sector * SECTOR, n = SECTOR;
                if (!lost) {
                    kept++;
                    continue;
                }
                dropped++;
                if (off >= final)
                    continue; /* gone with the length */
                if (off + n > final)
                    n = final - off;
                if (pwrite(t->fd, d->old, (size_t)n, off) != n)
                    die("pwrite");
            }
        }
        if (ftruncate(t->fd, final) != 0)
            die("ftruncate");
    }
    if (getenv("POWERLOSS_VERBOSE"))
        fprintf(stderr, "crashvfs: power cut after %llu operations (%s): %llu unsynced sectors "
                    "lost, %llu kept%s\n",
            (unsigned long long)ops,
            cut_mode == CRASHVFS_DROP ? "drop" : cut_mode == CRASHVFS_TEAR ? "tear" : "keep",
            (unsigned long long)dropped, (unsigned long long)kept, files);
    _exit(CRASHVFS_EXIT);
}

/* One write, truncate or sync done: the cut may be due. */
static void tick_locked(void)
{
    ops++;
    if (cut_at && ops >= cut_at)
        cut_locked();
}

static struct track *track_for(const char *path)
{
    struct track *t;
    struct stat sb;

    for (t = tracks; t; t = t->next)
        if (strcmp(t->path, path) == 0)
            break;
    if (t == NULL) {
        t = xcalloc(1, sizeof(*t));
        t->path = xstrdup(path);
        t->fd = -1;
        t->next = tracks;
        tracks = t;
    }
    /* A file deleted and made again (a WAL after the last connection closed) is new. */
    if (t->fd >= 0 && (stat(path, &sb) != 0 || sb.st_ino != t->ino || sb.st_dev != t->dev)) {
        close(t->fd);
        t->fd = -1;
    }
    if (t->fd < 0) {
        forget_dirty(t);
        t->fd = open(path, O_RDWR | O_CLOEXEC);
        if (t->fd < 0)
            die(path);
        if (fstat(t->fd, &sb) != 0)
            die("fstat");
        t->dev = sb.st_dev;
        t->ino = sb.st_ino;
        /* What a file holds when the test starts tracking it counts as on disk. */
        t->synced_size = (int64_t)sb.st_size;
    }
    return t;
}

/* ---- the file methods: tracked ones first, the rest forwarded ---- */

#define REAL(f) (((struct cv_file *)(f))->real)

static int cv_close(sqlite3_file *f)
{
    int rc = REAL(f)->pMethods->xClose(REAL(f));
    f->pMethods = NULL;
    return rc;
}

/* Reads take the lock too: once the cut began putting the files back, no thread may see
 * them (it would take the disk's state after the power loss for a running store's, and fail
 * where only the restart should look). */
static int cv_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    int rc;
    pthread_mutex_lock(&mu);
    rc = REAL(f)->pMethods->xRead(REAL(f), buf, amt, off);
    pthread_mutex_unlock(&mu);
    return rc;
}

static int cv_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    struct cv_file *cf = (struct cv_file *)f;
    int rc;

    pthread_mutex_lock(&mu);
    note_range(cf->t, off, amt);
    rc = REAL(f)->pMethods->xWrite(REAL(f), buf, amt, off);
    stats.writes++;
    if (cf->t)
        cf->t->writes++;
    if (cf->t)
        tick_locked();
    pthread_mutex_unlock(&mu);
    return rc;
}

static int cv_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct cv_file *cf = (struct cv_file *)f;
    int rc;

    pthread_mutex_lock(&mu);
    if (cf->t && cf->t->fd >= 0) {
        int64_t now = file_size(cf->t->fd);
        if (size < now)
            note_range(cf->t, size, now - size);
    }
    rc = REAL(f)->pMethods->xTruncate(REAL(f), size);
    stats.truncates++;
    if (cf->t)
        tick_locked();
    pthread_mutex_unlock(&mu);
    return rc;
}

static int cv_sync(sqlite3_file *f, int flags)
{
    struct cv_file *cf = (struct cv_file *)f;

    (void)flags;
    pthread_mutex_lock(&mu);
    if (cf->t) {
        synced_locked(cf->t);
        stats.syncs++;
        tick_locked();
    }
    pthread_mutex_unlock(&mu);
    return SQLITE_OK;
}

static int cv_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc;
    pthread_mutex_lock(&mu);
    rc = REAL(f)->pMethods->xFileSize(REAL(f), size);
    pthread_mutex_unlock(&mu);
    return rc;
}

static int cv_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int cv_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int cv_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

/* The unix VFS's size hints extend a file with zeros outside xWrite: nothing to note, as a
 * sector past the synced length counts as zeros on disk anyway. */
static int cv_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int cv_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int cv_device_characteristics(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int cv_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int cv_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    /* A read transaction of a read-only connection begins with a shared lock on one of the
     * WAL's read marks: failing it fails the read's first statement. */
    if (((struct cv_file *)f)->readonly && fail_reads_per_mille &&
        flags == (SQLITE_SHM_LOCK | SQLITE_SHM_SHARED)) {
        bool fail;
        pthread_mutex_lock(&mu);
        fail_rng = fail_rng * 6364136223846793005ULL + 1442695040888963407ULL;
        fail = (fail_rng >> 33) % 1000 < fail_reads_per_mille;
        if (fail)
            stats.failed_reads++;
        pthread_mutex_unlock(&mu);
        if (fail)
            return SQLITE_IOERR;
    }
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void cv_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int cv_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* No memory-mapped reads: every read goes through xRead (SQLite never writes through a map). */
static int cv_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    (void)f;
    (void)off;
    (void)amt;
    *pp = NULL;
    return SQLITE_OK;
}

static int cv_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    (void)f;
    (void)off;
    (void)p;
    return SQLITE_OK;
}

static const sqlite3_io_methods cv_io = {
    3,
    cv_close,
    cv_read,
    cv_write,
    cv_truncate,
    cv_sync,
    cv_file_size,
    cv_lock,
    cv_unlock,
    cv_check_reserved,
    cv_file_control,
    cv_sector_size,
    cv_device_characteristics,
    cv_shm_map,
    cv_shm_lock,
    cv_shm_barrier,
    cv_shm_unmap,
    cv_fetch,
    cv_unfetch,
};

/* ---- the VFS methods ---- */

static int cv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    struct cv_file *cf = (struct cv_file *)f;
    int rc;

    (void)vfs;
    memset(cf, 0, sizeof(*cf));
    cf->real = (sqlite3_file *)(cf + 1);
    rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->pMethods = NULL;
        return rc;
    }
    cf->readonly = (flags & SQLITE_OPEN_READONLY) != 0;
    if (name &&
        (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0) {
        pthread_mutex_lock(&mu);
        cf->t = track_for(name);
        pthread_mutex_unlock(&mu);
    }
    f->pMethods = &cv_io;
    return SQLITE_OK;
}

static int cv_delete(sqlite3_vfs *vfs, const char *name, int dir_sync)
{
    (void)vfs;
    pthread_mutex_lock(&mu);
    for (struct track *t = tracks; t; t = t->next) {
        if (strcmp(t->path, name) == 0 && t->fd >= 0) {
            forget_dirty(t);
            close(t->fd);
            t->fd = -1;
        }
    }
    pthread_mutex_unlock(&mu);
    return real_vfs->xDelete(real_vfs, name, dir_sync);
}

static int cv_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int cv_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *cv_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void cv_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*cv_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void cv_dl_close(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, h);
}

static int cv_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int cv_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int cv_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int cv_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int cv_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

int crashvfs_install(void)
{
    if (installed)
        return 0;
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL || real_vfs->iVersion < 2)
        return -1;
    cv_vfs.iVersion = 2;
    cv_vfs.szOsFile = (int)sizeof(struct cv_file) + real_vfs->szOsFile;
    cv_vfs.mxPathname = real_vfs->mxPathname;
    cv_vfs.zName = "crashvfs";
    cv_vfs.xOpen = cv_open;
    cv_vfs.xDelete = cv_delete;
    cv_vfs.xAccess = cv_access;
    cv_vfs.xFullPathname = cv_full_pathname;
    cv_vfs.xDlOpen = cv_dl_open;
    cv_vfs.xDlError = cv_dl_error;
    cv_vfs.xDlSym = cv_dl_sym;
    cv_vfs.xDlClose = cv_dl_close;
    cv_vfs.xRandomness = cv_randomness;
    cv_vfs.xSleep = cv_sleep;
    cv_vfs.xCurrentTime = cv_current_time;
    cv_vfs.xGetLastError = cv_last_error;
    cv_vfs.xCurrentTimeInt64 = cv_current_time64;
    if (sqlite3_vfs_register(&cv_vfs, 1) != SQLITE_OK)
        return -1;
    installed = true;
    return 0;
}

void crashvfs_arm(uint64_t n, enum crashvfs_mode mode, uint64_t seed)
{
    pthread_mutex_lock(&mu);
    cut_at = n ? ops + n : 0;
    cut_mode = mode;
    rng = seed;
    pthread_mutex_unlock(&mu);
}

void crashvfs_fail_reads(unsigned per_mille, uint64_t seed)
{
    pthread_mutex_lock(&mu);
    fail_reads_per_mille = per_mille;
    fail_rng = seed;
    pthread_mutex_unlock(&mu);
}

_Noreturn void crashvfs_cut_now(void)
{
    pthread_mutex_lock(&mu);
    cut_locked();
}

void crashvfs_stats(struct crashvfs_stats *out)
{
    pthread_mutex_lock(&mu);
    *out = stats;
    pthread_mutex_unlock(&mu);
}

/* tagd's syncer flushes the WAL with fdatasync on a descriptor of its own (store/sqlite.c);
 * the test binary is linked with -Wl,--wrap=fdatasync so that the flush lands here. Without
 * the VFS (or for a file it does not track) it is the real one. */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_fdatasync(int fd)
{
    struct stat sb;
    bool found = false;

    if (!installed)
        return __real_fdatasync(fd);
    if (fstat(fd, &sb) != 0)
        return -1;
    pthread_mutex_lock(&mu);
    for (struct track *t = tracks; t; t = t->next) {
        if (t->fd >= 0 && t->dev == sb.st_dev && t->ino == sb.st_ino) {
            synced_locked(t);
            found = true;
        }
    }
    if (found) {
        stats.fdatasyncs++;
        tick_locked();
    }
    pthread_mutex_unlock(&mu);
    return found ? 0 : __real_fdatasync(fd);
}
