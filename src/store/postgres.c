/* store/postgres.c: the shared backend of store.h on PostgreSQL 15 through libpq.
 *
 * Several tagd instances may use one database. One PGconn per store_conn (never shared between
 * threads); every statement of sql_all.h is prepared once per connection, with ?N rewritten to
 * $N, and prepared again after a reconnect. Text parameters and text results: the server infers
 * each parameter's type from the statement, so the shared SQL casts where that is ambiguous.
 *
 * Revision order across instances: begin_write locks the single row of revision_counter
 * (SELECT ... FOR UPDATE) before anything else, so write transactions of all instances run one
 * after the other in READ COMMITTED, and every statement after the lock sees every earlier
 * commit. SQL_REV_NEXT increments that row inside the transaction, so revisions are gap-free
 * (a rolled-back request rolls its increment back) and ordered like the commits: a tailer that
 * has read revision N never later finds a new N-1. The same lock makes check-then-write rules
 * (exclusive groups, per-resource limits, unique names) race-free between instances.
 *
 * Round trips: a read's BEGIN travels with its first statement (pipeline mode) and its
 * ROLLBACK is not waited for (its answer is read before the connection's next use); a write
 * sends BEGIN with the counter lock, and NOTIFY with COMMIT.
 *
 * Migrations: the SQL of migrations.h is written for SQLite; translate_ddl() rewrites the few
 * types that differ (INTEGER PRIMARY KEY to an identity column, INTEGER to BIGINT, TEXT to TEXT
 * COLLATE "C" so that ordering is bytewise as on SQLite) and pg_extra[] adds what only
 * PostgreSQL needs. Instances starting together serialize on LOCK TABLE schema_version. */
#include "store/backend.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/migrations.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/sbuf.h"

#define STORE_SQL_ID(id, sql) sql,
static const char *const sql_text[] = {
#include "store/sql_all.h"
};
#undef STORE_SQL_ID
#define STORE_SQL_ID(id, sql) #id,
static const char *const sql_name[] = {
#include "store/sql_all.h"
};
#undef STORE_SQL_ID

#define PG_RETRIES 5
#define READ_BEGIN "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
#define NOTIFY_CHANNEL "tagd_changes"

/* What PostgreSQL needs beyond the translated migration of the same number (index = number). */
static const char *const pg_extra[] = {
    [1] = "CREATE TABLE revision_counter(id BIGINT PRIMARY KEY, rev BIGINT NOT NULL);"
          "INSERT INTO revision_counter(id, rev) SELECT 1, coalesce(max(rev), 0) FROM revisions;"
          /* SQLite's instr(); strpos has the same meaning. */
          "CREATE OR REPLACE FUNCTION instr(text, text) RETURNS integer LANGUAGE sql IMMUTABLE"
          " AS 'SELECT strpos($1, $2)';",
};

/* Statements whose PostgreSQL text must differ from the shared SQL. */
static const char *pg_override(enum store_sql id)
{
    switch (id) {
    case SQL_REV_NEXT:
        return "UPDATE revision_counter SET rev = rev + 1 WHERE id = 1 RETURNING rev";
    case SQL_XCHG_ASG_INSERT_BULK:
        return XCHG_ASG_INSERT_BULK_PG;
    case SQL_XCHG_CHANGE_INSERT_BULK:
        return XCHG_CHANGE_INSERT_BULK_PG;
    case SQL_XCHG_RES_INSERT_BULK:
        return XCHG_RES_INSERT_BULK_PG;
    case SQL_XCHG_RES_HIST_BULK:
        return XCHG_RES_HIST_BULK_PG;
    default:
        return NULL;
    }
}

struct pg_store {
    struct store base;
    char *url;
    char *desc;
    char *sql[SQL__COUNT];
    int nparams[SQL__COUNT];
};

struct pg_conn;

struct pg_stmt {
    struct store_stmt base;
    struct pg_conn *c;
    int id;
    int nparams;
    char **vals;  /* owned buffers, reused; vals[i] is passed when set[i] */
    size_t *caps;
    bool *set;
    const char **args;
    PGresult *res;
    int row, nrows;
};

struct pg_conn {
    struct store_conn base;
    struct pg_store *s;
    PGconn *pg;
    bool writer;
    bool listening;
    bool no_listen; /* LISTEN refused (CockroachDB, YugabyteDB by default): poll only */
    bool no_xid;    /* no txid_current(): a commit's lost answer stays unknown */
    bool retry;     /* serialization failure or deadlock in this transaction */
    bool rev_taken; /* this transaction allocated a revision: NOTIFY at commit */
    bool pending;   /* a read's ROLLBACK was sent and its result not read yet */
    bool begin_pending; /* a read's BEGIN waits to go out with its first statement */
    int64_t changes;
    /* The open write transaction's id (txid_current), "" when there is none: after a
     * connection lost during COMMIT, txid_status tells whether it committed. */
    char xid[24];
    struct pg_stmt *stmts[SQL__COUNT];
};

#define PS(x) ((struct pg_store *)(x))
#define PC(x) ((struct pg_conn *)(x))
#define PT(x) ((struct pg_stmt *)(x))

/* ---- text helpers ---- */

static bool ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Rewrites ?N to $N outside string literals; *maxp gets the highest N. Owned result. */
static char *translate_params(const char *sql, int *maxp)
{
    struct sbuf b;
    bool quoted = false;
    const char *p = sql;

    sbuf_init(&b, 0);
    *maxp = 0;
    while (*p) {
        if (*p == '\'') {
            quoted = !quoted;
            sbuf_addc(&b, *p++);
        } else if (!quoted && *p == '?' && p[1] >= '0' && p[1] <= '9') {
            int n = 0;
            sbuf_addc(&b, '$');
            p++;
            while (*p >= '0' && *p <= '9') {
                n = n * 10 + (*p - '0');
                sbuf_addc(&b, *p++);
            }
            if (n > *maxp)
                *maxp = n;
        } else {
            sbuf_addc(&b, *p++);
        }
    }
    return sbuf_detach(&b, NULL);
}

static bool word_at(const char *p, const char *w)
{
    size_t n = strlen(w);
    return strncasecmp(p, w, n) == 0 && !ident_char(p[n]);
}

/* The SQLite dialect of migrations.h made PostgreSQL's. Owned result. */
static char *translate_ddl(const char *sql)
{
    struct sbuf b;
    const char *p = sql;
    char prev[32] = "";

    sbuf_init(&b, 0);
    while (*p) {
        if (*p == '\'') {
            const char *q = strchr(p + 1, '\'');
            size_t n = q ? (size_t)(q - p) + 1 : strlen(p);
            sbuf_add(&b, p, n);
            p += n;
            continue;
        }
        if (!ident_char(*p) || (p > sql && ident_char(p[-1]))) {
            sbuf_addc(&b, *p++);
            continue;
        }
        if (word_at(p, "INTEGER")) {
            const char *q = p + 7;
            while (*q == ' ')
                q++;
            if (word_at(q, "PRIMARY"))
                sbuf_adds(&b, "BIGINT GENERATED BY DEFAULT AS IDENTITY");
            else
                sbuf_adds(&b, "BIGINT");
            p += 7;
        } else if (word_at(p, "AUTOINCREMENT")) {
            p += 13;
        } else if (word_at(p, "BLOB")) {
            sbuf_adds(&b, "BYTEA");
            p += 4;
        } else if (word_at(p, "REAL")) {
            sbuf_adds(&b, "DOUBLE PRECISION");
            p += 4;
        } else if (word_at(p, "TEXT") && strcasecmp(prev, "AS") != 0) {
            sbuf_adds(&b, "TEXT COLLATE \"C\"");
            p += 4;
        } else {
            size_t n = 0;
            while (ident_char(p[n]))
                n++;
            snprintf(prev, sizeof(prev), "%.*s", (int)(n < 31 ? n : 31), p);
            sbuf_add(&b, p, n);
            p += n;
            continue;
        }
        prev[0] = '\0';
    }
    return sbuf_detach(&b, NULL);
}

/* ---- errors ---- */

/* Whether the last contact with the server failed: the log says so once per outage, not once
 * per request, and says when it is over. */
static atomic_bool server_down;

/* The server cannot be reached or the connection was lost. A client is told only that (a
 * 503): the host, the port and libpq's words are for the log. */
static int unreachable(struct tg_err *err, const char *what, const char *detail)
{
    if (!atomic_exchange(&server_down, true))
        log_warn("store: postgres unreachable (%s): %s", what, detail);
    store_stat_add(STORE_STAT_UNAVAILABLE, 1);
    return tg_err_set(err, TG_EBUSY, "store", "the store is unavailable; try again");
}

static void reachable(void)
{
    if (atomic_exchange(&server_down, false))
        log_info("store: postgres reachable again");
}

static int pg_fail(struct pg_conn *c, PGconn *pg, const PGresult *res, struct tg_err *err,
                   const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *msg = primary ? primary : res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    char buf[512];
    size_t n;

    snprintf(buf, sizeof(buf), "%s", msg ? msg : "");
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (pg && PQstatus(pg) == CONNECTION_BAD)
        return unreachable(err, what, buf);
    if (state) {
        if (strcmp(state, "23505") == 0)
            return tg_err_set(err, TG_EEXISTS, "", "already exists");
        if (strncmp(state, "23", 2) == 0)
            return tg_err_set(err, TG_ECONFLICT, "", "constraint violated: %s", buf);
        if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
            if (c)
                c->retry = true;
            return tg_err_set(err, TG_EBUSY, "store", "the store had a conflict; try again");
        }
        /* The server is going away or refuses connections (shutdown, crash recovery), or
         * ended this session (idle in a transaction too long: see connect_url). */
        if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0 ||
            strcmp(state, "25P03") == 0)
            return unreachable(err, what, buf);
        if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
            strncmp(state, "53", 2) == 0) {
            log_warn("store: postgres is busy (%s): %s", what, buf);
            return tg_err_set(err, TG_EBUSY, "store", "the store is busy; try again");
        }
    }
    return tg_err_set(err, TG_EINTERNAL, "", "%s: %s", what, buf);
}

/* Reads the result of a ROLLBACK sent without waiting (pg_rollback), before the next use. */
static void settle(struct pg_conn *c)
{
    PGresult *res;
    if (c == NULL || !c->pending)
        return;
    c->pending = false;
    while ((res = PQgetResult(c->pg)) != NULL)
        PQclear(res);
}

/* Runs a command string (possibly several statements); 0 or a tg_code. */
static int pg_exec(struct pg_conn *c, PGconn *pg, const char *sql, struct tg_err *err)
{
    PGresult *res;
    ExecStatusType st;
    int rc = 0;

    settle(c);
    if (c && c->begin_pending) {
        /* Something other than a statement comes first: BEGIN on its own. */
        c->begin_pending = false;
        rc = pg_exec(c, pg, READ_BEGIN, err);
        if (rc)
            return rc;
    }
    res = PQexec(pg, sql);
    st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(c, pg, res, err, "exec");
    PQclear(res);
    return rc;
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* ---- connections ---- */

/* `writer`: the connection takes the revision counter's lock. Its session may sit idle inside
 * a transaction only for store_hold_timeout_ms (the server then ends it and the lock is
 * free): a frozen instance (SIGSTOP, a VM paused, a stuck host) holds the writers of every
 * other instance up that long at most, not until statement_timeout. tagd's writer runs
 * between two statements for microseconds, so only such an instance meets the limit. */
static PGconn *connect_url(const char *url, bool writer, struct tg_err *err)
{
    char set[320];
    /* Defaults first, the URL last: what the URL says wins (libpq processes in order). */
    const char *keys[] = {"connect_timeout", "application_name", "keepalives_idle",
                          "tcp_user_timeout", "dbname", NULL};
    const char *vals[] = {"10", "tagd", "30", "30000", url, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);

    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", pg ? PQerrorMessage(pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        unreachable(err, "connect", msg);
        PQfinish(pg);
        return NULL;
    }
    reachable();
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    snprintf(set, sizeof(set),
             "SET client_min_messages = warning; SET statement_timeout = '30s';"
             "SET idle_in_transaction_session_timeout = '%lldms';"
             "SET default_transaction_isolation = 'read committed'",
             writer ? (long long)store_hold_timeout_ms() : 60000LL);
    if (pg_exec(NULL, pg, set, err) != 0) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static void stmt_clear_result(struct pg_stmt *st)
{
    if (st->res) {
        PQclear(st->res);
        st->res = NULL;
    }
    st->row = -1;
    st->nrows = 0;
}

static int prepare_all(struct pg_conn *c, struct tg_err *err)
{
    char name[16];

    for (int i = 0; i < SQL__COUNT; i++) {
        PGresult *res;
        snprintf(name, sizeof(name), "s%d", i);
        res = PQprepare(c->pg, name, c->s->sql[i], 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            char what[160];
            int rc;
            snprintf(what, sizeof(what), "prepare %s", sql_name[i]);
            rc = pg_fail(c, c->pg, res, err, what);
            PQclear(res);
            return rc;
        }
        PQclear(res);
    }
    return 0;
}

/* After a lost connection: connect again and prepare again. */
static int reconnect(struct pg_conn *c, struct tg_err *err)
{
    for (int i = 0; i < SQL__COUNT; i++)
        if (c->stmts[i])
            stmt_clear_result(c->stmts[i]);
    PQfinish(c->pg);
    c->pending = false;
    c->begin_pending = false;
    c->listening = false;
    c->pg = connect_url(c->s->url, c->writer, err);
    if (c->pg == NULL)
        return TG_EBUSY;
    if (!c->writer)
        pg_exec(c, c->pg, "SET default_transaction_read_only = on", NULL);
    if (prepare_all(c, err) != 0) {
        /* Half prepared is not usable: start over at the next use. */
        PQfinish(c->pg);
        c->pg = NULL;
        return err ? err->code : TG_EBUSY;
    }
    store_stat_add(STORE_STAT_RECONNECTS, 1);
    return 0;
}

static int ensure_conn(struct pg_conn *c, struct tg_err *err)
{
    settle(c);
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return 0;
    return reconnect(c, err);
}

/* ---- migrations ---- */

static int migrate(PGconn *pg, struct tg_err *err)
{
    size_t n = sizeof(store_migrations) / sizeof(store_migrations[0]);
    char bump[128];
    int rc;

    /* Two instances creating it at once: one of them sees a duplicate; the table exists. */
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = pg_exec(NULL, pg, "CREATE TABLE IF NOT EXISTS schema_version(v BIGINT NOT NULL)", err);
        if (rc == 0)
            break;
    }
    if (rc)
        return rc;
    for (;;) {
        PGresult *res;
        long version;

        rc = pg_exec(NULL, pg,
                     "BEGIN; LOCK TABLE schema_version IN ACCESS EXCLUSIVE MODE", err);
        if (rc)
            return rc;
        res = PQexec(pg, "SELECT coalesce(max(v), 0) FROM schema_version");
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_fail(NULL, pg, res, err, "schema version");
            PQclear(res);
            pg_exec(NULL, pg, "ROLLBACK", NULL);
            return rc;
        }
        version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if (version < 0 || (size_t)version > n) {
            pg_exec(NULL, pg, "ROLLBACK", NULL);
            return tg_err_set(err, TG_EINTERNAL, "store",
                              "database schema %ld is newer than this tagd (%zu)", version, n);
        }
        if ((size_t)version == n)
            return pg_exec(NULL, pg, "COMMIT", err);
        {
            char *ddl = translate_ddl(store_migrations[version]);
            size_t num = (size_t)version + 1;
            rc = pg_exec(NULL, pg, ddl, err);
            xfree(ddl);
            if (rc == 0 && num < sizeof(pg_extra) / sizeof(pg_extra[0]) && pg_extra[num])
                rc = pg_exec(NULL, pg, pg_extra[num], err);
            if (rc == 0) {
                snprintf(bump, sizeof(bump), "INSERT INTO schema_version(v) VALUES(%zu)", num);
                rc = pg_exec(NULL, pg, bump, err);
            }
        }
        if (rc == 0)
            rc = pg_exec(NULL, pg, "COMMIT", err);
        if (rc) {
            pg_exec(NULL, pg, "ROLLBACK", NULL);
            return rc;
        }
    }
}

/* ---- the backend ---- */

static void pg_close(struct store *st)
{
    struct pg_store *s = PS(st);
    for (int i = 0; i < SQL__COUNT; i++)
        xfree(s->sql[i]);
    xfree(s->url);
    xfree(s->desc);
    xfree(s);
}

static int pg_open(const char *url, const struct store_open_opts *opts, struct store **out,
                   struct tg_err *err)
{
    struct pg_store *s;
    PGconn *pg;
    const char *at, *host;
    int rc;

    (void)opts; /* PostgreSQL checks its own files */
    pg = connect_url(url, false, err);
    if (pg == NULL)
        return TG_EBUSY;
    rc = migrate(pg, err);
    PQfinish(pg);
    if (rc)
        return rc;
    s = xcalloc(1, sizeof(*s));
    s->base.be = &store_pg_backend;
    s->url = xstrdup(url);
    /* Describe without the password: "postgres host:port/db". */
    host = strstr(url, "://") + 3;
    at = strchr(host, '@');
    if (at && (strchr(host, '/') == NULL || at < strchr(host, '/')))
        host = at + 1;
    s->desc = xmalloc(strlen(host) + 16);
    snprintf(s->desc, strlen(host) + 16, "postgres %s", host);
    for (int i = 0; i < SQL__COUNT; i++) {
        const char *o = pg_override((enum store_sql)i);
        s->sql[i] = translate_params(o ? o : sql_text[i], &s->nparams[i]);
    }
    *out = &s->base;
    return 0;
}

static const char *pg_describe(const struct store *s)
{
    return ((const struct pg_store *)s)->desc;
}

static struct store_conn *pg_conn_open(struct store *s, bool writer, struct tg_err *err)
{
    struct pg_conn *c = xcalloc(1, sizeof(*c));

    c->base.be = &store_pg_backend;
    c->s = PS(s);
    c->writer = writer;
    c->pg = connect_url(c->s->url, c->writer, err);
    if (c->pg == NULL || prepare_all(c, err) != 0) {
        PQfinish(c->pg);
        xfree(c);
        return NULL;
    }
    if (!writer)
        pg_exec(c, c->pg, "SET default_transaction_read_only = on", NULL);
    return &c->base;
}

static void stmt_free(struct pg_stmt *st)
{
    stmt_clear_result(st);
    for (int i = 0; i < st->nparams; i++)
        xfree(st->vals[i]);
    xfree(st->vals);
    xfree(st->caps);
    xfree(st->set);
    xfree(st->args);
    xfree(st);
}

static void pg_conn_close(struct store_conn *cc)
{
    struct pg_conn *c = PC(cc);
    for (int i = 0; i < SQL__COUNT; i++)
        if (c->stmts[i])
            stmt_free(c->stmts[i]);
    PQfinish(c->pg);
    xfree(c);
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* BEGIN and the lock that orders writers of every instance (see the header), in one round
 * trip, which also learns the transaction's id. When the server went away since the last use
 * (a restart, a failover), connect again and retry once: nothing has happened in this
 * transaction yet. The round trip's time is the wait for the lock (metrics). */
static int begin_locked(struct pg_conn *c, struct tg_err *err)
{
    for (int attempt = 0;; attempt++) {
        PGresult *res;
        const char *state;
        int64_t t0 = mono_us(), waited;
        int rc = 0;

        settle(c);
        res = PQexec(c->pg, c->no_xid ? "BEGIN ISOLATION LEVEL READ COMMITTED;"
                                        " SELECT rev, '' FROM revision_counter"
                                        " WHERE id = 1 FOR UPDATE"
                                      : "BEGIN ISOLATION LEVEL READ COMMITTED;"
                                        " SELECT rev, txid_current() FROM revision_counter"
                                        " WHERE id = 1 FOR UPDATE");
        waited = mono_us() - t0;
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (PQresultStatus(res) != PGRES_TUPLES_OK && !c->no_xid &&
            PQstatus(c->pg) == CONNECTION_OK && state && strcmp(state, "42883") == 0) {
            /* An engine without it (undefined_function): write without knowing the id. */
            PQclear(res);
            pg_exec(c, c->pg, "ROLLBACK", NULL);
            c->no_xid = true;
            log_warn("store: the server has no txid_current(): the outcome of a commit whose"
                     " answer is lost cannot be found out");
            attempt--;
            continue;
        }
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            snprintf(c->xid, sizeof(c->xid), "%s", PQgetvalue(res, 0, 1));
            store_stat_add(STORE_STAT_LOCK_WAIT_US, (uint64_t)waited);
            if (waited > 100000)
                store_stat_add(STORE_STAT_LOCK_WAITS, 1);
        } else {
            rc = pg_fail(c, c->pg, res, err, "begin");
        }
        PQclear(res);
        if (rc && attempt == 0 && PQstatus(c->pg) == CONNECTION_BAD && reconnect(c, err) == 0)
            continue;
        return rc;
    }
}

static int pg_begin_write(struct store_conn *cc, struct tg_err *err)
{
    struct pg_conn *c = PC(cc);
    int rc = ensure_conn(c, err);

    if (rc)
        return rc;
    c->rev_taken = false;
    for (int attempt = 0;; attempt++) {
        bool again;
        c->retry = false;
        c->xid[0] = '\0';
        rc = begin_locked(c, err);
        if (rc == 0)
            return 0;
        again = c->retry && attempt < PG_RETRIES;
        c->retry = false;
        if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            pg_exec(c, c->pg, "ROLLBACK", NULL);
        if (!again)
            return rc;
    }
}

static int pg_begin_read(struct store_conn *cc, struct tg_err *err)
{
    struct pg_conn *c = PC(cc);
    int rc = ensure_conn(c, err);
    if (rc)
        return rc;
    /* One snapshot for the whole request, as SQLite's read transaction gives. The BEGIN goes
     * out with the first statement (exec_first). */
    c->begin_pending = true;
    return 0;
}

/* A read's deferred BEGIN and its first statement in one round trip (pipeline mode). Returns
 * the statement's result; when the pipeline fails (a lost connection), reconnects if needed
 * and runs BEGIN and the statement one after the other. NULL with *rc set on failure. */
static PGresult *exec_first(struct pg_conn *c, const char *name, int n, const char *const *args,
                            struct tg_err *err, int *rc)
{
    PGresult *res, *first = NULL, *second = NULL;
    bool synced = false;
    int got = 0, nulls = 0;

    c->begin_pending = false;
    *rc = 0;
    if (PQenterPipelineMode(c->pg) == 1) {
        if (PQsendQueryParams(c->pg, READ_BEGIN, 0, NULL, NULL, NULL, NULL, 0) &&
            PQsendQueryPrepared(c->pg, name, n, args, NULL, NULL, 0) && PQpipelineSync(c->pg)) {
            for (;;) {
                res = PQgetResult(c->pg);
                if (res == NULL) {
                    /* NULL ends each query's results; several in a row: nothing comes. */
                    if (PQstatus(c->pg) == CONNECTION_BAD || ++nulls > 3)
                        break;
                    continue;
                }
                nulls = 0;
                if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
                    PQclear(res);
                    synced = true;
                    break;
                }
                if (got == 0)
                    first = res;
                else if (got == 1)
                    second = res;
                else
                    PQclear(res);
                got++;
            }
        }
        if (synced)
            synced = PQexitPipelineMode(c->pg) == 1;
        if (synced && first && PQresultStatus(first) == PGRES_COMMAND_OK && second) {
            PQclear(first);
            return second;
        }
    }
    PQclear(first);
    PQclear(second);
    if (!synced || PQstatus(c->pg) != CONNECTION_OK)
        *rc = reconnect(c, err);
    else if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        pg_exec(c, c->pg, "ROLLBACK", NULL);
    if (*rc == 0)
        *rc = pg_exec(c, c->pg, READ_BEGIN, err);
    if (*rc)
        return NULL;
    return PQexecPrepared(c->pg, name, n, args, NULL, NULL, 0);
}

#define RESOLVE_US 5000000 /* how long a commit of unknown outcome is looked into */

/* The connection was lost after the COMMIT was sent: the transaction may have committed (the
 * answer was lost) or not (the server never got it, or died first). A new connection asks
 * the server (txid_status), so that the requests are answered what really happened: 0 when
 * it committed, TG_EBUSY when it surely did not. When the server cannot tell within
 * RESOLVE_US (still unreachable), TG_EINTERNAL: the client must not take a 503 for "nothing
 * happened" then. */
static int resolve_commit(struct pg_conn *c, struct tg_err *err)
{
    int64_t deadline = mono_us() + RESOLVE_US;
    char xid[24];

    snprintf(xid, sizeof(xid), "%s", c->xid);
    c->xid[0] = '\0';
    if (xid[0]) /* else nothing to ask about: the server has no txid_current() */
        log_warn("store: connection lost during COMMIT of transaction %s: asking whether it "
                 "committed", xid);
    while (xid[0]) {
        if (reconnect(c, NULL) == 0) {
            const char *args[1] = {xid};
            PGresult *res = PQexecParams(c->pg, "SELECT txid_status($1::bigint)", 1, NULL,
                                         args, NULL, NULL, 0);
            const char *st = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                                     !PQgetisnull(res, 0, 0)
                                 ? PQgetvalue(res, 0, 0)
                                 : "";
            bool committed = strcmp(st, "committed") == 0, aborted = strcmp(st, "aborted") == 0;
            PQclear(res);
            if (committed) {
                store_stat_add(STORE_STAT_COMMIT_COMMITTED, 1);
                log_warn("store: transaction %s had committed; its requests are answered so",
                         xid);
                return 0;
            }
            if (aborted) {
                store_stat_add(STORE_STAT_COMMIT_ABORTED, 1);
                log_warn("store: transaction %s had not committed; its requests answer 503",
                         xid);
                return tg_err_set(err, TG_EBUSY, "store",
                                  "the store connection was lost before the write committed;"
                                  " nothing of it was committed: try again");
            }
            /* "in progress": the old session has not noticed it lost its client yet. */
        }
        if (mono_us() >= deadline)
            break;
        {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    store_stat_add(STORE_STAT_COMMIT_UNKNOWN, 1);
    log_error("store: whether transaction %s committed is unknown: the store did not say",
              xid[0] ? xid : "(no id)");
    return tg_err_set(err, TG_EINTERNAL, "store",
                      "the store connection was lost during the commit; whether the write was"
                      " committed is unknown");
}

static int pg_commit(struct store_conn *cc, struct tg_err *err)
{
    struct pg_conn *c = PC(cc);
    int rc;

    settle(c);
    if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        pg_exec(c, c->pg, "ROLLBACK", NULL);
        return tg_err_set(err, c->retry ? TG_EBUSY : TG_EINTERNAL, "",
                          "transaction failed and was rolled back");
    }
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        /* Lost before the COMMIT left: the server rolled the transaction back. */
        c->rev_taken = false;
        c->xid[0] = '\0';
        return unreachable(err, "commit", "connection lost before COMMIT");
    }
    /* NOTIFY is delivered at commit, or not at all: a wake-up hint for other instances. It
     * goes with the COMMIT in one round trip; an error stops the rest of the string. */
    {
        PGresult *res =
            PQexec(c->pg, c->rev_taken ? "NOTIFY " NOTIFY_CHANNEL "; COMMIT" : "COMMIT");
        const char *tag = PQcmdStatus(res);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQstatus(c->pg) == CONNECTION_BAD) {
            PQclear(res);
            c->rev_taken = false;
            return resolve_commit(c, err);
        }
        c->xid[0] = '\0';
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = pg_fail(c, c->pg, res, err, "commit");
            PQclear(res);
            if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
                pg_exec(c, c->pg, "ROLLBACK", NULL);
            c->rev_taken = false;
            return rc;
        }
        rc = (tag && strcmp(tag, "COMMIT") != 0)
                 ? tg_err_set(err, TG_EINTERNAL, "", "commit rolled back")
                 : 0;
        PQclear(res);
    }
    c->rev_taken = false;
    return rc;
}

static void pg_rollback(struct store_conn *cc)
{
    struct pg_conn *c = PC(cc);
    PGTransactionStatusType ts;

    for (int i = 0; i < SQL__COUNT; i++)
        if (c->stmts[i])
            stmt_clear_result(c->stmts[i]);
    settle(c);
    c->rev_taken = false;
    c->begin_pending = false; /* nothing ran: nothing to end */
    ts = c->pg ? PQtransactionStatus(c->pg) : PQTRANS_UNKNOWN;
    if (ts == PQTRANS_IDLE || ts == PQTRANS_UNKNOWN)
        return;
    /* A read-only transaction has nothing to undo: end it without waiting for the answer,
     * which the next use of the connection reads (settle). Saves a round trip per read. */
    if (!c->writer && PQsendQuery(c->pg, "ROLLBACK")) {
        c->pending = true;
        return;
    }
    pg_exec(c, c->pg, "ROLLBACK", NULL);
}

static int pg_savepoint(struct store_conn *c, struct tg_err *err)
{
    return pg_exec(PC(c), PC(c)->pg, "SAVEPOINT req", err);
}

static int pg_savepoint_release(struct store_conn *c, struct tg_err *err)
{
    return pg_exec(PC(c), PC(c)->pg, "RELEASE SAVEPOINT req", err);
}

static void pg_savepoint_rollback(struct store_conn *c)
{
    pg_exec(PC(c), PC(c)->pg, "ROLLBACK TO SAVEPOINT req; RELEASE SAVEPOINT req", NULL);
}

/* Ready means what a request would find: a connection that died since its last use (a
 * restart, terminated backends) is opened again, as begin() does, before saying no. */
static int pg_ping(struct store_conn *cc, struct tg_err *err)
{
    struct pg_conn *c = PC(cc);
    int rc = ensure_conn(c, err);
    if (rc == 0)
        rc = pg_exec(c, c->pg, "SELECT 1", err);
    if (rc && (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD)) {
        rc = reconnect(c, err);
        if (rc == 0)
            rc = pg_exec(c, c->pg, "SELECT 1", err);
    }
    return rc;
}

static int pg_exec_script(struct store_conn *c, const char *sql, struct tg_err *err)
{
    int rc = ensure_conn(PC(c), err);
    return rc ? rc : pg_exec(PC(c), PC(c)->pg, sql, err);
}

static int drain_notifies(PGconn *pg)
{
    PGnotify *n;
    int got = 0;
    while ((n = PQnotifies(pg)) != NULL) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

static int pg_wait_notify(struct store_conn *cc, int timeout_ms)
{
    struct pg_conn *c = PC(cc);
    struct pollfd pfd[2];
    struct tg_err err;
    int got;

    tg_err_clear(&err);
    settle(c);
    if (ensure_conn(c, &err) != 0) {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return TG_EBUSY;
    }
    /* TAGD_PG_NO_LISTEN=1 behaves like an engine without LISTEN (tests the polling path). */
    if (!c->listening && !c->no_listen && getenv("TAGD_PG_NO_LISTEN"))
        c->no_listen = true;
    if (!c->listening && !c->no_listen) {
        if (pg_exec(c, c->pg, "LISTEN " NOTIFY_CHANNEL, &err) == 0)
            c->listening = true;
        else if (PQstatus(c->pg) == CONNECTION_OK)
            c->no_listen = true;
    }
    pfd[1].fd = store_wake_fd();
    pfd[1].events = POLLIN;
    pfd[1].revents = 0;
    if (!c->listening) {
        /* Polling is the fallback: the caller reads the revisions after the timeout (or
         * when woken: store_wake_tailer). */
        poll(&pfd[1], 1, timeout_ms);
        store_wake_drain();
        return 0;
    }
    if (PQconsumeInput(c->pg) == 0)
        return TG_EBUSY;
    got = drain_notifies(c->pg);
    if (got)
        return 1;
    pfd[0].fd = PQsocket(c->pg);
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
    if (poll(pfd, 2, timeout_ms) < 0 && errno != EINTR)
        return TG_EBUSY;
    store_wake_drain();
    if (pfd[0].revents && PQconsumeInput(c->pg) == 0)
        return TG_EBUSY;
    return drain_notifies(c->pg);
}

static bool pg_retry_pending(struct store_conn *c)
{
    return PC(c)->retry;
}

static struct store_stmt *pg_st_get(struct store_conn *cc, enum store_sql id, struct tg_err *err)
{
    struct pg_conn *c = PC(cc);
    struct pg_stmt *st = c->stmts[id];

    if (st == NULL) {
        int n = c->s->nparams[id];
        st = xcalloc(1, sizeof(*st));
        st->base.be = &store_pg_backend;
        st->c = c;
        st->id = (int)id;
        st->nparams = n;
        st->vals = xcalloc((size_t)n + 1, sizeof(char *));
        st->caps = xcalloc((size_t)n + 1, sizeof(size_t));
        st->set = xcalloc((size_t)n + 1, sizeof(bool));
        st->args = xcalloc((size_t)n + 1, sizeof(char *));
        c->stmts[id] = st;
    }
    (void)err;
    stmt_clear_result(st);
    for (int i = 0; i < st->nparams; i++)
        st->set[i] = false;
    if (id == SQL_REV_NEXT)
        c->rev_taken = true;
    return &st->base;
}

static void bind_copy(struct pg_stmt *st, int i, const char *s, size_t n)
{
    if (i < 1 || i > st->nparams)
        return;
    i--;
    if (st->caps[i] < n + 1) {
        st->vals[i] = xrealloc(st->vals[i], n + 1);
        st->caps[i] = n + 1;
    }
    memcpy(st->vals[i], s, n);
    st->vals[i][n] = '\0';
    st->set[i] = true;
}

static void pg_st_int(struct store_stmt *st, int i, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
    bind_copy(PT(st), i, buf, (size_t)n);
}

static void pg_st_textn(struct store_stmt *st, int i, const char *s, size_t n)
{
    /* PostgreSQL text cannot hold NUL; SQLite would keep the bytes up to it anyway. */
    const char *z = memchr(s, '\0', n);
    bind_copy(PT(st), i, s, z ? (size_t)(z - s) : n);
}

static void pg_st_null(struct store_stmt *st, int i)
{
    if (i >= 1 && i <= PT(st)->nparams)
        PT(st)->set[i - 1] = false;
}

static int pg_st_step(struct store_stmt *sst, struct tg_err *err)
{
    struct pg_stmt *st = PT(sst);
    struct pg_conn *c = st->c;

    if (st->res == NULL) {
        char name[16];
        ExecStatusType status;
        PGresult *res;

        settle(c);
        for (int i = 0; i < st->nparams; i++)
            st->args[i] = st->set[i] ? st->vals[i] : NULL;
        snprintf(name, sizeof(name), "s%d", st->id);
        if (c->begin_pending) {
            int rc;
            res = exec_first(c, name, st->nparams, st->args, err, &rc);
            if (res == NULL)
                return rc;
        } else {
            res = PQexecPrepared(c->pg, name, st->nparams, st->args, NULL, NULL, 0);
        }
        status = PQresultStatus(res);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            int rc = pg_fail(c, c->pg, res, err, "step");
            PQclear(res);
            return rc;
        }
        st->res = res;
        st->row = -1;
        st->nrows = status == PGRES_TUPLES_OK ? PQntuples(res) : 0;
        {
            const char *tag = PQcmdStatus(res);
            if (tag && (strncmp(tag, "INSERT", 6) == 0 || strncmp(tag, "UPDATE", 6) == 0 ||
                        strncmp(tag, "DELETE", 6) == 0))
                c->changes = strtoll(PQcmdTuples(res), NULL, 10);
        }
    }
    if (st->row + 1 < st->nrows) {
        st->row++;
        return 1;
    }
    st->row = st->nrows;
    return 0;
}

static bool in_row(const struct pg_stmt *st, int i)
{
    return st->res && st->row >= 0 && st->row < st->nrows && i >= 0 && i < PQnfields(st->res);
}

static int64_t pg_col_int(struct store_stmt *sst, int i)
{
    struct pg_stmt *st = PT(sst);
    const char *v;

    if (!in_row(st, i) || PQgetisnull(st->res, st->row, i))
        return 0;
    v = PQgetvalue(st->res, st->row, i);
    if (v[0] == 't' && v[1] == '\0')
        return 1;
    if (v[0] == 'f' && v[1] == '\0')
        return 0;
    return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct store_stmt *sst, int i)
{
    struct pg_stmt *st = PT(sst);
    if (!in_row(st, i) || PQgetisnull(st->res, st->row, i))
        return NULL;
    return PQgetvalue(st->res, st->row, i);
}

static bool pg_col_null(struct store_stmt *sst, int i)
{
    struct pg_stmt *st = PT(sst);
    return !in_row(st, i) || PQgetisnull(st->res, st->row, i);
}

static int pg_col_count(struct store_stmt *sst)
{
    struct pg_stmt *st = PT(sst);
    return st->res ? PQnfields(st->res) : 0;
}

static void pg_st_reset(struct store_stmt *st)
{
    stmt_clear_result(PT(st));
}

static int64_t pg_changes(struct store_conn *c)
{
    return PC(c)->changes;
}

static struct store_stmt *pg_adhoc(struct store_conn *cc, const char *sql, struct tg_err *err)
{
    static _Atomic int serial;
    struct pg_conn *c = PC(cc);
    struct pg_stmt *st;
    PGresult *res;
    char *text;
    int n, id = 100000 + serial++;
    char name[16];

    settle(c);
    if (ensure_conn(c, err) != 0)
        return NULL;
    text = translate_params(sql, &n);
    snprintf(name, sizeof(name), "s%d", id);
    res = PQprepare(c->pg, name, text, 0, NULL);
    xfree(text);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(c, c->pg, res, err, "prepare");
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    st = xcalloc(1, sizeof(*st));
    st->base.be = &store_pg_backend;
    st->c = c;
    st->id = id;
    st->nparams = n;
    st->vals = xcalloc((size_t)n + 1, sizeof(char *));
    st->caps = xcalloc((size_t)n + 1, sizeof(size_t));
    st->set = xcalloc((size_t)n + 1, sizeof(bool));
    st->args = xcalloc((size_t)n + 1, sizeof(char *));
    st->row = -1;
    return &st->base;
}

static void pg_adhoc_free(struct store_stmt *sst)
{
    struct pg_stmt *st = PT(sst);
    char sql[48];
    if (st == NULL)
        return;
    snprintf(sql, sizeof(sql), "DEALLOCATE s%d", st->id);
    pg_exec(st->c, st->c->pg, sql, NULL);
    stmt_free(st);
}

static const char *pg_col_name(struct store_stmt *sst, int i)
{
    struct pg_stmt *st = PT(sst);
    return st->res && i >= 0 && i < PQnfields(st->res) ? PQfname(st->res, i) : NULL;
}

/* An id is never handed out twice, as SQLite's NEXT_ID: a purged tag or a deleted resource
 * or group lives on in its history table (tags_hist.tag_id, ...), so each identity starts
 * above the ids of its table and of the table's history (T_hist, column T minus its final
 * s, then _id), where there is one. */
static int pg_after_copy(struct store_conn *c, struct tg_err *err)
{
    return pg_exec(PC(c), PC(c)->pg,
                   "DO $$ DECLARE r record; top bigint; h bigint; hcol text; BEGIN"
                   " FOR r IN SELECT table_name, column_name FROM information_schema.columns"
                   "  WHERE table_schema = current_schema() AND is_identity = 'YES' LOOP"
                   "  EXECUTE format('SELECT coalesce(max(%I), 0) FROM %I', r.column_name,"
                   "   r.table_name) INTO top;"
                   "  hcol := regexp_replace(r.table_name, 's$', '') || '_id';"
                   "  IF EXISTS (SELECT 1 FROM information_schema.columns"
                   "   WHERE table_schema = current_schema()"
                   "    AND table_name = r.table_name || '_hist' AND column_name = hcol) THEN"
                   "   EXECUTE format('SELECT coalesce(max(%I), 0) FROM %I', hcol,"
                   "    r.table_name || '_hist') INTO h;"
                   "   top := greatest(top, h);"
                   "  END IF;"
                   "  PERFORM setval(pg_get_serial_sequence(quote_ident(r.table_name),"
                   "   r.column_name), top + 1, false);"
                   " END LOOP;"
                   " UPDATE revision_counter SET rev = (SELECT coalesce(max(rev), 0)"
                   "  FROM revisions) WHERE id = 1;"
                   " END $$",
                   err);
}

const struct store_backend store_pg_backend = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .describe = pg_describe,
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .begin_write = pg_begin_write,
    .begin_read = pg_begin_read,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .savepoint_release = pg_savepoint_release,
    .savepoint_rollback = pg_savepoint_rollback,
    .ping = pg_ping,
    .exec_script = pg_exec_script,
    .wait_notify = pg_wait_notify,
    .retry_pending = pg_retry_pending,
    .st_get = pg_st_get,
    .st_int = pg_st_int,
    .st_textn = pg_st_textn,
    .st_null = pg_st_null,
    .st_step = pg_st_step,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_null = pg_col_null,
    .col_count = pg_col_count,
    .st_reset = pg_st_reset,
    .changes = pg_changes,
    .tables_sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                  " ORDER BY tablename",
    .adhoc = pg_adhoc,
    .adhoc_free = pg_adhoc_free,
    .col_name = pg_col_name,
    .after_copy = pg_after_copy,
};
