/* store/backup.c: `tagd backup`, an online copy of a SQLite store (store.h, store_backup), and
 * `tagd restore`, which puts such a copy in place of a stopped tagd's store (store_restore).
 *
 * SQLite's backup API in a single step: the whole copy runs in one read transaction of the
 * source, so it is the store as of one commit however many writes the serving tagd commits
 * meanwhile (WAL mode: the writer never waits for this reader, nor it for the writer). Copying
 * step by step instead would restart at every commit of the other process and, under a steady
 * write load, might never finish. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define STORE_SQL_ID(id, sql) sql,
static const char *const sql_text[] = {
#include "store/sql_all.h"
};
#undef STORE_SQL_ID

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC), rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* The copy's revision, and that it is whole: what a start on it will find. */
static int check_copy(const char *tmp, int64_t *rev, struct tg_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        rc = tg_err_set(err, TG_EINTERNAL, "store", "the copy fails quick_check: %s",
                        (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, sql_text[SQL_REV_CURRENT], -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        *rev = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_OK)
        rc = SQLITE_ERROR;
    if (rc != SQLITE_OK && rc != TG_EINTERNAL)
        rc = tg_err_set(err, TG_EINTERNAL, "store", "cannot read the copy: %s",
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int store_backup(const char *url, const char *dest, int64_t *rev, int64_t *bytes,
                 struct tg_err *err)
{
    const char *src = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    char tmp[4200], dir[4200];
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b;
    struct stat sb;
    int rc;

    if (strstr(url, "://") != NULL)
        return tg_err_set(err, TG_EINVAL, "store",
                          "tagd backup copies a SQLite store; for PostgreSQL use pg_dump "
                          "(docs/operations.md, \"Backups\")");
    if (stat(dest, &sb) == 0 || errno != ENOENT)
        return tg_err_set(err, TG_EEXISTS, "store", "%s exists: a backup goes to a new file",
                          dest);
    if (stat(src, &sb) != 0 || sb.st_size == 0)
        return tg_err_set(err, TG_ENOTFOUND, "store", "no store at %s", src);
    if (snprintf(tmp, sizeof(tmp), "%s.partial-%ld", dest, (long)getpid()) >= (int)sizeof(tmp))
        return tg_err_set(err, TG_EINVAL, "store", "destination path too long");
    /* Read-write but never created: a read-only connection could not make the -shm a WAL
     * reader needs when no tagd runs. query_only keeps it from writing anything. */
    rc = sqlite3_open_v2(src, &from, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        /* Nor does closing it checkpoint the WAL when no tagd runs (a change to the file). */
        sqlite3_db_config(from, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        sqlite3_busy_timeout(from, 10000);
        rc = sqlite3_exec(from, "PRAGMA query_only=1", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = tg_err_set(err, TG_EINTERNAL, "store", "cannot open %s: %s", to ? tmp : src,
                        sqlite3_errmsg(to ? to : from));
        goto out;
    }
    b = sqlite3_backup_init(to, "main", from, "main");
    if (b == NULL) {
        rc = tg_err_set(err, TG_EINTERNAL, "store", "backup: %s", sqlite3_errmsg(to));
        goto out;
    }
    do {
        rc = sqlite3_backup_step(b, -1); /* -1: every page, in one read transaction */
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(50);
    } while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        rc = tg_err_set(err, TG_EINTERNAL, "store", "backup of %s: %s", src, sqlite3_errstr(rc));
        goto out;
    }
    /* One self-contained file: the copy keeps the source's WAL mode, whose WAL it must not
     * need beside it once moved. */
    rc = sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = tg_err_set(err, TG_EINTERNAL, "store", "backup: %s", sqlite3_errmsg(to));
        goto out;
    }
    sqlite3_close(to);
    to = NULL;
    rc = check_copy(tmp, rev, err);
    if (rc)
        goto out;
    snprintf(dir, sizeof(dir), "%s", dest);
    /* link() rather than rename(): a file made at `dest` meanwhile is never replaced. */
    if (fsync_path(tmp, O_RDONLY) != 0 || link(tmp, dest) != 0 ||
        fsync_path(dirname(dir), O_RDONLY | O_DIRECTORY) != 0) {
        rc = tg_err_set(err, errno == EEXIST ? TG_EEXISTS : TG_EINTERNAL, "store",
                        "cannot write %s: %s", dest, strerror(errno));
        goto out;
    }
    *bytes = stat(dest, &sb) == 0 ? (int64_t)sb.st_size : 0;
out:
    sqlite3_close(to);
    sqlite3_close(from);
    unlink(tmp);
    return rc;
}

int store_restore(const char *url, const char *backup, char *aside, size_t aside_len,
                  int64_t *rev, struct tg_err *err)
{
    const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
    char lock[4200], staged[4200], from[4200], dir[4200], a_wal[4300], wal[4200], shm[4200];
    int64_t bytes = 0;
    struct stat sb;
    int lfd, rc;

    aside[0] = '\0';
    if (strstr(url, "://") != NULL)
        return tg_err_set(err, TG_EINVAL, "store",
                          "tagd restore puts a SQLite copy in place; for PostgreSQL use "
                          "pg_restore (docs/operations.md, \"Backups\")");
    if (stat(backup, &sb) != 0)
        return tg_err_set(err, TG_ENOTFOUND, "backup", "cannot read %s: %s", backup,
                          strerror(errno));
    snprintf(lock, sizeof(lock), "%s.lock", path);
    snprintf(staged, sizeof(staged), "%s.restoring", path);
    snprintf(from, sizeof(from), "sqlite:%s", backup);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    /* The lock a serving tagd holds (store_open_opts.exclusive): held here until the copy is
     * in place, so no tagd starts on a half-restored store either. */
    lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0)
        return tg_err_set(err, TG_EINTERNAL, "store", "cannot open %s: %s", lock, strerror(errno));
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        close(lfd);
        return tg_err_set(err, TG_EBUSY, "store", "a tagd serves %s: stop it first", path);
    }
    /* The copy is checked (quick_check) and synced before anything is moved. */
    unlink(staged);
    rc = store_backup(from, staged, rev, &bytes, err);
    if (rc)
        goto out;
    if (stat(path, &sb) == 0) {
        /* The store being replaced is kept, with its WAL (commits not yet copied into it). */
        snprintf(aside, aside_len, "%s.before-restore-%lld", path, (long long)time(NULL));
        snprintf(a_wal, sizeof(a_wal), "%s-wal", aside);
        if (rename(path, aside) != 0 || (stat(wal, &sb) == 0 && rename(wal, a_wal) != 0)) {
            rc = tg_err_set(err, TG_EINTERNAL, "store", "cannot move %s aside: %s", path,
                            strerror(errno));
            goto out;
        }
    }
    unlink(shm);
    if (rename(staged, path) != 0) {
        rc = tg_err_set(err, TG_EINTERNAL, "store", "cannot put the copy in place as %s: %s", path,
                        strerror(errno));
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    if (fsync_path(dirname(dir), O_RDONLY | O_DIRECTORY) != 0)
        rc = tg_err_set(err, TG_EINTERNAL, "store", "cannot sync the directory of %s: %s", path,
                        strerror(errno));
out:
    if (rc)
        unlink(staged);
    close(lfd); /* releases the lock */
    return rc;
}
