/* store/backend.h: what a storage backend implements (private to src/store/).
 *
 * store.c owns the public functions of store.h and forwards each call through the backend's
 * vtable, which it finds in the first member of every object a backend hands out: a backend's
 * own store, connection and statement structs begin with struct store, struct store_conn and
 * struct store_stmt below. The backend is chosen by the URL's scheme in store_open. */
#ifndef TAGD_STORE_BACKEND_H
#define TAGD_STORE_BACKEND_H

#include "store/store.h"

struct store_backend;

struct store {
    const struct store_backend *be;
};

struct store_conn {
    const struct store_backend *be;
    bool lazy;       /* store_begin_read_lazy: the read begins at the first statement */
    bool auth_dirty; /* the transaction wrote a table authentication reads */
};

struct store_stmt {
    const struct store_backend *be;
};

struct store_backend {
    const char *name;
    /* Called with the URL as given and the options (never NULL); returns 0 and an owned *out
     * or a tg_code. */
    int (*open)(const char *url, const struct store_open_opts *o, struct store **out,
                struct tg_err *err);
    void (*close)(struct store *s);
    const char *(*describe)(const struct store *s);
    struct store_conn *(*conn_open)(struct store *s, bool writer, struct tg_err *err);
    void (*conn_close)(struct store_conn *c);
    int (*begin_write)(struct store_conn *c, struct tg_err *err);
    int (*begin_read)(struct store_conn *c, struct tg_err *err);
    int (*commit)(struct store_conn *c, struct tg_err *err);
    void (*rollback)(struct store_conn *c);
    int (*savepoint)(struct store_conn *c, struct tg_err *err);
    int (*savepoint_release)(struct store_conn *c, struct tg_err *err);
    void (*savepoint_rollback)(struct store_conn *c);
    int (*ping)(struct store_conn *c, struct tg_err *err);
    int (*exec_script)(struct store_conn *c, const char *sql, struct tg_err *err);
    int (*wait_notify)(struct store_conn *c, int timeout_ms);
    bool (*retry_pending)(struct store_conn *c);
    /* Optional: NULL opens a plain writing connection and has no upkeep. */
    struct store_conn *(*writer_open)(struct store *s, struct tg_err *err);
    void (*writer_idle)(struct store_conn *writer);
    /* Optional, where commits may be visible before they are durable: begin_read_early falls
     * back on begin_read, the waits on returning at once. */
    int (*begin_read_early)(struct store_conn *c, struct tg_err *err);
    void (*wait_durable)(struct store_conn *c);
    void (*wait_all_durable)(struct store_conn *c);
    struct store_stmt *(*st_get)(struct store_conn *c, enum store_sql id, struct tg_err *err);
    void (*st_int)(struct store_stmt *st, int i, int64_t v);
    void (*st_textn)(struct store_stmt *st, int i, const char *s, size_t n);
    void (*st_null)(struct store_stmt *st, int i);
    int (*st_step)(struct store_stmt *st, struct tg_err *err);
    int64_t (*col_int)(struct store_stmt *st, int i);
    const char *(*col_text)(struct store_stmt *st, int i);
    bool (*col_null)(struct store_stmt *st, int i);
    int (*col_count)(struct store_stmt *st);
    void (*st_reset)(struct store_stmt *st);
    int64_t (*changes)(struct store_conn *c);
    /* For `tagd migrate` (store/copy.c) only: ad-hoc statements over a table list. */
    const char *tables_sql; /* one column: the names of the application's tables */
    struct store_stmt *(*adhoc)(struct store_conn *c, const char *sql, struct tg_err *err);
    void (*adhoc_free)(struct store_stmt *st);
    const char *(*col_name)(struct store_stmt *st, int i);
    /* After rows were copied in with their ids: move id generators and counters past them. */
    int (*after_copy)(struct store_conn *c, struct tg_err *err);
    /* The write-ahead log's length in bytes now (metrics); NULL where tagd sees no such file. */
    int64_t (*wal_bytes)(const struct store *s);
    /* Optional: store_conn_bulk (store.h). */
    void (*conn_bulk)(struct store_conn *c, bool on);
};

/* The read end of store_wake_tailer's pipe (non-blocking; -1 if it could not be made): a
 * backend's wait_notify also wakes when it is readable, and drains it. */
int store_wake_fd(void);
void store_wake_drain(void);

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

#endif /* TAGD_STORE_BACKEND_H */
