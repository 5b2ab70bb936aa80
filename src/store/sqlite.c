/* store/sqlite.c: the embedded default backend of store.h.
 *
 * WAL with synchronous=FULL, a busy timeout, one writer connection (used only by the writer
 * thread, which groups requests into one transaction) and one read-only connection per event
 * loop. Every statement of sql_all.h is prepared once per connection with
 * SQLITE_PREPARE_PERSISTENT and reset after use. */
#include "store/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/migrations.h"
#include "util/mem.h"

#define STORE_SQL_ID(id, sql) sql,
static const char *const sql_text[] = {
#include "store/sql_all.h"
};
#undef STORE_SQL_ID

struct store {
    char *path;
    char *desc;
};

struct store_conn {
    sqlite3 *db;
    bool writer;
    struct store_stmt *stmts[SQL__COUNT];
};

struct store_stmt {
    sqlite3_stmt *s;
    struct store_conn *c;
};

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

int store_open(const char *url, struct store **out, struct tg_err *err)
{
    struct store *s;
    sqlite3 *db;
    const char *path = url;
    int rc;

    if (strncmp(url, "sqlite:", 7) == 0)
        path = url + 7;
    else if (strstr(url, "://"))
        return tg_err_set(err, TG_EINVAL, "store", "unsupported store url '%s'", url);
    if (sqlite3_threadsafe() == 0)
        return tg_err_set(err, TG_EINTERNAL, "store", "sqlite built without threads");
    rc = open_db(path, true, &db, err);
    if (rc)
        return rc;
    rc = migrate(db, err);
    sqlite3_close(db);
    if (rc)
        return rc;
    s = xcalloc(1, sizeof(*s));
    s->path = xstrdup(path);
    s->desc = xmalloc(strlen(path) + 16);
    snprintf(s->desc, strlen(path) + 16, "sqlite %s", path);
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    xfree(s->path);
    xfree(s->desc);
    xfree(s);
}

const char *store_describe(const struct store *s)
{
    return s->desc;
}

struct store_conn *store_conn_open(struct store *s, bool writer, struct tg_err *err)
{
    struct store_conn *c;
    sqlite3 *db;

    if (open_db(s->path, writer, &db, err))
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->db = db;
    c->writer = writer;
    return c;
}

void store_conn_close(struct store_conn *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < SQL__COUNT; i++) {
        if (c->stmts[i]) {
            sqlite3_finalize(c->stmts[i]->s);
            xfree(c->stmts[i]);
        }
    }
    sqlite3_close(c->db);
    xfree(c);
}

int store_begin_write(struct store_conn *c, struct tg_err *err)
{
    return exec(c->db, "BEGIN IMMEDIATE", err);
}

int store_begin_read(struct store_conn *c, struct tg_err *err)
{
    return exec(c->db, "BEGIN", err);
}

int store_commit(struct store_conn *c, struct tg_err *err)
{
    int rc = exec(c->db, "COMMIT", err);
    if (rc)
        exec(c->db, "ROLLBACK", NULL);
    return rc;
}

void store_rollback(struct store_conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        exec(c->db, "ROLLBACK", NULL);
}

int store_savepoint(struct store_conn *c, struct tg_err *err)
{
    return exec(c->db, "SAVEPOINT req", err);
}

int store_savepoint_release(struct store_conn *c, struct tg_err *err)
{
    return exec(c->db, "RELEASE req", err);
}

void store_savepoint_rollback(struct store_conn *c)
{
    exec(c->db, "ROLLBACK TO req; RELEASE req", NULL);
}

int store_ping(struct store_conn *c, struct tg_err *err)
{
    return exec(c->db, "SELECT 1 FROM schema_version LIMIT 1", err);
}

struct store_stmt *st_get(struct store_conn *c, enum store_sql id, struct tg_err *err)
{
    struct store_stmt *st = c->stmts[id];
    sqlite3_stmt *s;
    int rc;

    if (st) {
        sqlite3_reset(st->s);
        sqlite3_clear_bindings(st->s);
        return st;
    }
    rc = sqlite3_prepare_v3(c->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
        tg_err_set(err, TG_EINTERNAL, "", "prepare statement %d: %s", (int)id,
                   sqlite3_errmsg(c->db));
        return NULL;
    }
    st = xcalloc(1, sizeof(*st));
    st->s = s;
    st->c = c;
    c->stmts[id] = st;
    return st;
}

void st_int(struct store_stmt *st, int i, int64_t v) { sqlite3_bind_int64(st->s, i, v); }
void st_bool(struct store_stmt *st, int i, bool v) { sqlite3_bind_int(st->s, i, v ? 1 : 0); }
void st_null(struct store_stmt *st, int i) { sqlite3_bind_null(st->s, i); }

void st_text(struct store_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st->s, i);
    else
        sqlite3_bind_text(st->s, i, s, -1, SQLITE_TRANSIENT);
}

void st_textn(struct store_stmt *st, int i, const char *s, size_t n)
{
    sqlite3_bind_text(st->s, i, s, (int)n, SQLITE_TRANSIENT);
}

int st_step(struct store_stmt *st, struct tg_err *err)
{
    int rc = sqlite3_step(st->s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    rc = db_err(st->c->db, rc, err, "step");
    sqlite3_reset(st->s);
    return rc;
}

int st_exec(struct store_stmt *st, struct tg_err *err)
{
    int rc;
    for (;;) {
        rc = st_step(st, err);
        if (rc != 1)
            break;
    }
    sqlite3_reset(st->s);
    return rc;
}

int64_t col_int(struct store_stmt *st, int i) { return sqlite3_column_int64(st->s, i); }
bool col_null(struct store_stmt *st, int i) { return sqlite3_column_type(st->s, i) == SQLITE_NULL; }
const char *col_text(struct store_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st->s, i);
}
void st_reset(struct store_stmt *st) { sqlite3_reset(st->s); }
int64_t store_changes(struct store_conn *c) { return sqlite3_changes64(c->db); }
