/* store/store.c: the public store.h functions, forwarded to the backend the URL names.
 *
 * sqlite:PATH (or a plain path) selects store/sqlite.c, postgres:// or postgresql:// selects
 * store/postgres.c. Everything else is a thin indirection through struct store_backend. */
#include "store/backend.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* ---- which statements write what authentication reads ---- */

#define STORE_SQL_ID(id, sql) sql,
static const char *const sql_texts[] = {
#include "store/sql_all.h"
};
#undef STORE_SQL_ID

static bool auth_writes[SQL__COUNT];
static pthread_once_t classify_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t auth_epoch = 1;

/* "INSERT INTO tokens(", "UPDATE users SET", "DELETE FROM orgs WHERE" …: decided from the text
 * so that a statement added later is covered without anyone remembering to list it. */
static bool writes_auth(const char *sql)
{
    static const char *const verbs[] = {"INSERT INTO ", "UPDATE ", "DELETE FROM "};
    static const char *const tables[] = {"tokens", "users", "orgs", "workspaces"};

    while (*sql == ' ')
        sql++;
    for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
        size_t vl = strlen(verbs[v]);
        if (strncmp(sql, verbs[v], vl) != 0)
            continue;
        for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
            size_t tl = strlen(tables[t]);
            char next = sql[vl + tl];
            if (strncmp(sql + vl, tables[t], tl) == 0 &&
                !(next == '_' || (next >= 'a' && next <= 'z') || (next >= '0' && next <= '9')))
                return true;
        }
    }
    return false;
}

static void classify(void)
{
    for (int i = 0; i < SQL__COUNT; i++)
        auth_writes[i] = writes_auth(sql_texts[i]);
}

static atomic_int_fast64_t auth_rev = INT64_MAX;

int64_t store_auth_rev(void) { return atomic_load(&auth_rev); }
void store_auth_rev_set(int64_t rev) { atomic_store(&auth_rev, rev); }
uint64_t store_auth_epoch(void) { return atomic_load(&auth_epoch); }
void store_auth_epoch_bump(void) { atomic_fetch_add(&auth_epoch, 1); }
bool store_auth_dirty(const struct store_conn *c) { return c->auth_dirty; }
bool store_sql_writes_auth(enum store_sql id)
{
    pthread_once(&classify_once, classify);
    return auth_writes[id];
}

static atomic_uint_fast64_t stats[STORE_STAT__COUNT];
static atomic_int_fast64_t hold_timeout_ms = 2000;

void store_stat_add(enum store_stat s, uint64_t n) { atomic_fetch_add(&stats[s], n); }
uint64_t store_stat(enum store_stat s) { return atomic_load(&stats[s]); }

void store_stats_get(struct store_stats *out)
{
    out->reconnects = store_stat(STORE_STAT_RECONNECTS);
    out->unavailable = store_stat(STORE_STAT_UNAVAILABLE);
    out->commit_committed = store_stat(STORE_STAT_COMMIT_COMMITTED);
    out->commit_aborted = store_stat(STORE_STAT_COMMIT_ABORTED);
    out->commit_unknown = store_stat(STORE_STAT_COMMIT_UNKNOWN);
    out->lock_waits = store_stat(STORE_STAT_LOCK_WAITS);
    out->lock_wait_us = store_stat(STORE_STAT_LOCK_WAIT_US);
    out->wal_syncs = store_stat(STORE_STAT_WAL_SYNCS);
}
void store_set_hold_timeout_ms(int64_t ms) { atomic_store(&hold_timeout_ms, ms); }
int64_t store_hold_timeout_ms(void) { return atomic_load(&hold_timeout_ms); }

static int wake_pipe[2] = {-1, -1};
static pthread_once_t wake_once = PTHREAD_ONCE_INIT;

static void wake_init(void)
{
    if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        wake_pipe[0] = wake_pipe[1] = -1;
}

int store_wake_fd(void)
{
    pthread_once(&wake_once, wake_init);
    return wake_pipe[0];
}

void store_wake_drain(void)
{
    char buf[64];
    if (store_wake_fd() >= 0)
        while (read(wake_pipe[0], buf, sizeof(buf)) > 0) {
        }
}

void store_wake_tailer(void)
{
    /* A full pipe already wakes the tailer: a failed write loses nothing. */
    if (store_wake_fd() >= 0 && write(wake_pipe[1], "w", 1) < 0) {
    }
}

static const struct store_backend *backend_for(const char *url)
{
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return &store_pg_backend;
    if (strncmp(url, "sqlite:", 7) == 0 || strstr(url, "://") == NULL)
        return &store_sqlite_backend;
    return NULL;
}

int store_open(const char *url, const struct store_open_opts *o, struct store **out,
               struct tg_err *err)
{
    static const struct store_open_opts defaults = {.check = STORE_CHECK_AUTO};
    const struct store_backend *be = backend_for(url);
    if (be == NULL)
        return tg_err_set(err, TG_EINVAL, "store", "unsupported store url '%s'", url);
    return be->open(url, o ? o : &defaults, out, err);
}

void store_close(struct store *s)
{
    if (s)
        s->be->close(s);
}

const char *store_describe(const struct store *s) { return s->be->describe(s); }
void store_conn_bulk(struct store_conn *c, bool on)
{
    if (c->be->conn_bulk)
        c->be->conn_bulk(c, on);
}

int64_t store_wal_bytes(const struct store *s)
{
    return s->be->wal_bytes ? s->be->wal_bytes(s) : -1;
}
bool store_is_shared(const struct store *s) { return s->be == &store_pg_backend; }

struct store_conn *store_conn_open(struct store *s, bool writer, struct tg_err *err)
{
    return s->be->conn_open(s, writer, err);
}

void store_conn_close(struct store_conn *c)
{
    if (c)
        c->be->conn_close(c);
}

int store_begin_write(struct store_conn *c, struct tg_err *err) { return c->be->begin_write(c, err); }
int store_begin_read(struct store_conn *c, struct tg_err *err) { return c->be->begin_read(c, err); }

void store_begin_read_lazy(struct store_conn *c) { c->lazy = true; }
bool store_read_begun(const struct store_conn *c) { return !c->lazy; }

int store_commit(struct store_conn *c, struct tg_err *err)
{
    int rc = c->be->commit(c, err);
    /* After the commit: a reader that took the epoch before this bump also read before the
     * commit, so what it cached is dropped. */
    if (rc == 0 && c->auth_dirty)
        store_auth_epoch_bump();
    c->auth_dirty = false;
    return rc;
}

void store_rollback(struct store_conn *c)
{
    c->auth_dirty = false;
    if (c->lazy) {
        c->lazy = false; /* never begun: nothing to end */
        return;
    }
    c->be->rollback(c);
}
int store_savepoint(struct store_conn *c, struct tg_err *err) { return c->be->savepoint(c, err); }
int store_savepoint_release(struct store_conn *c, struct tg_err *err)
{
    return c->be->savepoint_release(c, err);
}
void store_savepoint_rollback(struct store_conn *c) { c->be->savepoint_rollback(c); }
int store_ping(struct store_conn *c, struct tg_err *err) { return c->be->ping(c, err); }
int store_wait_notify(struct store_conn *c, int timeout_ms) { return c->be->wait_notify(c, timeout_ms); }
bool store_retry_pending(struct store_conn *c) { return c->be->retry_pending(c); }
struct store_conn *store_writer_open(struct store *s, struct tg_err *err)
{
    return s->be->writer_open ? s->be->writer_open(s, err) : s->be->conn_open(s, true, err);
}
void store_writer_idle(struct store_conn *writer)
{
    if (writer->be->writer_idle)
        writer->be->writer_idle(writer);
}
int store_begin_read_early(struct store_conn *c, struct tg_err *err)
{
    return c->be->begin_read_early ? c->be->begin_read_early(c, err) : c->be->begin_read(c, err);
}
void store_wait_durable(struct store_conn *c)
{
    if (c->be->wait_durable)
        c->be->wait_durable(c);
}
void store_wait_all_durable(struct store_conn *c)
{
    if (c->be->wait_all_durable)
        c->be->wait_all_durable(c);
}
int store_exec_script(struct store_conn *c, const char *sql, struct tg_err *err)
{
    return c->be->exec_script(c, sql, err);
}
int64_t store_changes(struct store_conn *c) { return c->be->changes(c); }

struct store_stmt *st_get(struct store_conn *c, enum store_sql id, struct tg_err *err)
{
    if (c->lazy) {
        c->lazy = false;
        if (c->be->begin_read(c, err) != 0)
            return NULL;
    }
    if (store_sql_writes_auth(id))
        c->auth_dirty = true;
    return c->be->st_get(c, id, err);
}

void st_int(struct store_stmt *st, int i, int64_t v) { st->be->st_int(st, i, v); }
void st_bool(struct store_stmt *st, int i, bool v) { st->be->st_int(st, i, v ? 1 : 0); }
void st_null(struct store_stmt *st, int i) { st->be->st_null(st, i); }

void st_text(struct store_stmt *st, int i, const char *s)
{
    if (s == NULL)
        st->be->st_null(st, i);
    else
        st->be->st_textn(st, i, s, strlen(s));
}

void st_textn(struct store_stmt *st, int i, const char *s, size_t n)
{
    st->be->st_textn(st, i, s, n);
}

int st_step(struct store_stmt *st, struct tg_err *err) { return st->be->st_step(st, err); }

int st_exec(struct store_stmt *st, struct tg_err *err)
{
    int rc;
    for (;;) {
        rc = st->be->st_step(st, err);
        if (rc != 1)
            break;
    }
    st->be->st_reset(st);
    return rc;
}

int64_t col_int(struct store_stmt *st, int i) { return st->be->col_int(st, i); }
const char *col_text(struct store_stmt *st, int i) { return st->be->col_text(st, i); }
bool col_null(struct store_stmt *st, int i) { return st->be->col_null(st, i); }
int col_count(struct store_stmt *st) { return st->be->col_count(st); }
void st_reset(struct store_stmt *st) { st->be->st_reset(st); }
