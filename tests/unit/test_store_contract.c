/* tests/unit/test_store_contract.c: what every store backend must do the same way.
 *
 * Runs the same cases against SQLite (a fresh file) and, when TAGD_TEST_STORE names a
 * PostgreSQL database (scripts/test starts one with tests/pg/start), against PostgreSQL too.
 * On PostgreSQL each run creates its own database on that cluster and drops it afterwards. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/core.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/mem.h"
#include "util/timeu.h"

struct env {
    char dir[64];
    char url[512];
    char suffix[32];
    char db[64];        /* PostgreSQL: the database made for this run */
    char base[512];     /* PostgreSQL: the URL TAGD_TEST_STORE names, to create and drop it */
    struct store *s;
};

static struct env *env_open(const char *url)
{
    struct env *e = xcalloc(1, sizeof(*e));
    struct tg_err err;

    snprintf(e->suffix, sizeof(e->suffix), "%ld-%lld", (long)getpid(),
             (long long)time_mono_us());
    if (url == NULL) {
        snprintf(e->dir, sizeof(e->dir), "/tmp/tagd-contract-XXXXXX");
        assert_non_null(mkdtemp(e->dir));
        snprintf(e->url, sizeof(e->url), "sqlite:%s/t.db", e->dir);
    } else {
        /* A new database per run, so that the schema is exactly this build's. */
        const char *slash = strrchr(url, '/');
        char cmd[1024];
        assert_non_null(slash);
        snprintf(e->db, sizeof(e->db), "contract_%ld_%lld", (long)getpid(),
                 (long long)time_mono_us());
        snprintf(e->base, sizeof(e->base), "%s", url);
        snprintf(cmd, sizeof(cmd), "psql -Xq '%s' -c 'CREATE DATABASE %s'", url, e->db);
        if (system(cmd) != 0)
            fail_msg("%s failed", cmd);
        snprintf(e->url, sizeof(e->url), "%.*s/%s", (int)(slash - url), url, e->db);
    }
    tg_err_clear(&err);
    if (store_open(e->url, NULL, &e->s, &err) != 0)
        fail_msg("store_open %s: %s", e->url, err.msg);
    return e;
}

static void env_close(struct env *e)
{
    char cmd[1024];
    store_close(e->s);
    if (e->base[0]) {
        snprintf(cmd, sizeof(cmd), "psql -Xq '%s' -c 'DROP DATABASE %s WITH (FORCE)'", e->base,
                 e->db);
        assert_int_equal(system(cmd), 0);
    }
    if (e->dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
        assert_int_equal(system(cmd), 0);
    }
    xfree(e);
}

static int setup_sqlite(void **state)
{
    *state = env_open(NULL);
    return 0;
}

static int setup_pg(void **state)
{
    const char *url = getenv("TAGD_TEST_STORE");
    *state = env_open(url);
    return 0;
}

static int teardown(void **state)
{
    env_close(*state);
    return 0;
}

static struct store_conn *conn(struct env *e, bool writer)
{
    struct tg_err err;
    struct store_conn *c;
    tg_err_clear(&err);
    c = store_conn_open(e->s, writer, &err);
    if (c == NULL)
        fail_msg("store_conn_open: %s", err.msg);
    return c;
}

static int64_t insert_org(struct store_conn *c, const char *name, int64_t at, struct tg_err *err)
{
    struct store_stmt *st = st_get(c, SQL_ORG_INSERT, err);
    int64_t id = -1;
    int rc;
    assert_non_null(st);
    st_text(st, 1, name);
    st_int(st, 2, at);
    rc = st_step(st, err);
    if (rc == 1)
        id = col_int(st, 0);
    st_reset(st);
    return rc == 1 ? id : rc;
}

/* Every named statement of every topic prepares on this backend. */
static void every_statement_prepares(void **state)
{
    struct env *e = *state;
    struct store_conn *c = conn(e, true);
    struct tg_err err;

    for (int i = 0; i < SQL__COUNT; i++) {
        tg_err_clear(&err);
        if (st_get(c, (enum store_sql)i, &err) == NULL)
            fail_msg("statement %d: %s", i, err.msg);
    }
    store_conn_close(c);
}

static void values_round_trip(void **state)
{
    struct env *e = *state;
    struct store_conn *c = conn(e, true);
    struct tg_err err;
    struct store_stmt *st;
    char name[96];
    int64_t id;

    snprintf(name, sizeof(name), "Zürich ✓ '%s'", e->suffix);
    assert_int_equal(store_begin_write(c, &err), 0);
    id = insert_org(c, name, INT64_MAX - 7, &err);
    assert_true(id > 0);
    st = st_get(c, SQL_ORG_GET, &err);
    st_int(st, 1, id);
    assert_int_equal(st_step(st, &err), 1);
    assert_int_equal(col_int(st, 0), id);
    assert_string_equal(col_text(st, 1), name);
    assert_true(col_int(st, 2) == INT64_MAX - 7);
    assert_true(col_null(st, 3)); /* no default workspace */
    assert_null(col_text(st, 3));
    assert_int_equal(col_count(st), 4);
    assert_int_equal(st_step(st, &err), 0);
    st_reset(st);
    assert_int_equal(store_commit(c, &err), 0);
    store_conn_close(c);
}

/* A unique violation is TG_EEXISTS, and the transaction goes on after a savepoint rollback
 * (PostgreSQL aborts the whole transaction on an error unless the savepoint is undone). */
static void unique_violation_and_savepoint(void **state)
{
    struct env *e = *state;
    struct store_conn *c = conn(e, true);
    struct tg_err err;
    struct store_stmt *st;
    char key[64], val[64];

    snprintf(key, sizeof(key), "contract-%s", e->suffix);
    assert_int_equal(store_begin_write(c, &err), 0);
    assert_int_equal(store_savepoint(c, &err), 0);
    st = st_get(c, SQL_USER_INSERT, &err);
    for (int round = 0; round < 2; round++) {
        int rc;
        st = st_get(c, SQL_USER_INSERT, &err);
        st_int(st, 1, 1);
        st_text(st, 2, key);
        st_text(st, 3, key);
        st_text(st, 4, "x");
        st_text(st, 5, "read");
        st_null(st, 6);
        st_int(st, 7, 1);
        rc = st_step(st, &err);
        st_reset(st);
        if (round == 0) {
            assert_int_equal(rc, 1);
        } else {
            assert_int_equal(rc, TG_EEXISTS);
        }
    }
    store_savepoint_rollback(c);
    /* Usable again; and the first insert went with the savepoint. */
    assert_int_equal(store_savepoint(c, &err), 0);
    st = st_get(c, SQL_META_SET, &err);
    st_text(st, 1, key);
    st_text(st, 2, "v1");
    assert_int_equal(st_exec(st, &err), 0);
    assert_int_equal(store_changes(c), 1);
    assert_int_equal(store_savepoint_release(c, &err), 0);
    assert_int_equal(store_commit(c, &err), 0);

    st = st_get(c, SQL_USER_BY_LOGIN, &err);
    st_int(st, 1, 1);
    st_text(st, 2, key);
    assert_int_equal(st_step(st, &err), 0);
    st_reset(st);
    st = st_get(c, SQL_META_GET, &err);
    st_text(st, 1, key);
    assert_int_equal(st_step(st, &err), 1);
    snprintf(val, sizeof(val), "%s", col_text(st, 0));
    st_reset(st);
    assert_string_equal(val, "v1");
    store_conn_close(c);
}

/* A revision taken in a rolled-back savepoint is taken again: no gaps. */
static void revisions_gap_free(void **state)
{
    struct env *e = *state;
    struct store_conn *c = conn(e, true);
    struct tg_err err;
    struct arena a;
    struct core_ctx cx;
    int64_t before, r1, r2;

    arena_init(&a);
    assert_int_equal(store_begin_write(c, &err), 0);
    core_ctx_init(&cx, c, &a, true);
    before = core_current_rev(&cx);
    assert_int_equal(store_savepoint(c, &err), 0);
    assert_int_equal(core_rev(&cx, &err), 0);
    r1 = cx.rev;
    assert_int_equal(r1, before + 1);
    store_savepoint_rollback(c);
    core_ctx_init(&cx, c, &a, true);
    assert_int_equal(store_savepoint(c, &err), 0);
    assert_int_equal(core_rev(&cx, &err), 0);
    r2 = cx.rev;
    assert_int_equal(store_savepoint_release(c, &err), 0);
    assert_int_equal(store_commit(c, &err), 0);
    assert_int_equal(r2, r1);
    core_ctx_init(&cx, c, &a, false);
    assert_int_equal(core_current_rev(&cx), r2);
    arena_release(&a);
    store_conn_close(c);
}

/* A read transaction keeps its snapshot while a writer commits. */
static void read_snapshot(void **state)
{
    struct env *e = *state;
    struct store_conn *w = conn(e, true), *r = conn(e, false);
    struct tg_err err;
    struct arena a;
    struct core_ctx rc, wc;
    int64_t seen;

    arena_init(&a);
    assert_int_equal(store_begin_read(r, &err), 0);
    core_ctx_init(&rc, r, &a, false);
    seen = core_current_rev(&rc);
    assert_int_equal(store_begin_write(w, &err), 0);
    core_ctx_init(&wc, w, &a, true);
    assert_int_equal(core_rev(&wc, &err), 0);
    assert_int_equal(store_commit(w, &err), 0);
    assert_int_equal(core_current_rev(&rc), seen);
    store_rollback(r);
    assert_int_equal(store_begin_read(r, &err), 0);
    assert_int_equal(core_current_rev(&rc), wc.rev);
    store_rollback(r);
    arena_release(&a);
    store_conn_close(w);
    store_conn_close(r);
}

struct racer {
    struct env *e;
    int64_t rev;
    int64_t began_us;
};

static void *second_writer(void *p)
{
    struct racer *x = p;
    struct store_conn *c = conn(x->e, true);
    struct tg_err err;
    struct arena a;
    struct core_ctx cx;

    arena_init(&a);
    if (store_begin_write(c, &err) == 0) {
        x->began_us = time_mono_us();
        core_ctx_init(&cx, c, &a, true);
        if (core_rev(&cx, &err) == 0 && store_commit(c, &err) == 0)
            x->rev = cx.rev;
        else
            store_rollback(c);
    }
    arena_release(&a);
    store_conn_close(c);
    return NULL;
}

/* Two writers (two instances): the second waits for the first to commit and takes the next
 * revision, so revision order is commit order. */
static void writers_serialize(void **state)
{
    struct env *e = *state;
    struct store_conn *c = conn(e, true);
    struct tg_err err;
    struct arena a;
    struct core_ctx cx;
    struct racer x = {e, 0, 0};
    pthread_t t;
    int64_t committed_us;
    struct timespec ts = {0, 300 * 1000000L};

    arena_init(&a);
    assert_int_equal(store_begin_write(c, &err), 0);
    core_ctx_init(&cx, c, &a, true);
    assert_int_equal(core_rev(&cx, &err), 0);
    assert_int_equal(pthread_create(&t, NULL, second_writer, &x), 0);
    nanosleep(&ts, NULL);
    committed_us = time_mono_us();
    assert_int_equal(store_commit(c, &err), 0);
    pthread_join(t, NULL);
    assert_true(x.began_us >= committed_us);
    assert_int_equal(x.rev, cx.rev + 1);
    arena_release(&a);
    store_conn_close(c);
}

struct waker {
    struct env *e;
};

static void *commit_later(void *p)
{
    struct waker *wk = p;
    struct store_conn *c = conn(wk->e, true);
    struct tg_err err;
    struct arena a;
    struct core_ctx cx;
    struct timespec ts = {0, 200 * 1000000L};

    nanosleep(&ts, NULL);
    arena_init(&a);
    if (store_begin_write(c, &err) == 0) {
        core_ctx_init(&cx, c, &a, true);
        if (core_rev(&cx, &err) != 0 || store_commit(c, &err) != 0)
            store_rollback(c);
    }
    arena_release(&a);
    store_conn_close(c);
    return NULL;
}

/* PostgreSQL: a commit elsewhere wakes a waiting listener well before its timeout. */
static void notify_wakes_listener(void **state)
{
    struct env *e = *state;
    struct store_conn *l = conn(e, false);
    struct waker wk = {e};
    pthread_t t;
    int64_t start;
    int got = 0;

    assert_true(store_wait_notify(l, 0) >= 0); /* starts listening */
    assert_int_equal(pthread_create(&t, NULL, commit_later, &wk), 0);
    start = time_mono_us();
    while (!got && time_mono_us() - start < 5000000)
        got = store_wait_notify(l, 5000) == 1;
    pthread_join(t, NULL);
    assert_true(got);
    assert_true(time_mono_us() - start < 4000000);
    store_conn_close(l);
}

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(every_statement_prepares),
        cmocka_unit_test(values_round_trip),
        cmocka_unit_test(unique_violation_and_savepoint),
        cmocka_unit_test(revisions_gap_free),
        cmocka_unit_test(read_snapshot),
        cmocka_unit_test(writers_serialize),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(every_statement_prepares),
        cmocka_unit_test(values_round_trip),
        cmocka_unit_test(unique_violation_and_savepoint),
        cmocka_unit_test(revisions_gap_free),
        cmocka_unit_test(read_snapshot),
        cmocka_unit_test(writers_serialize),
        cmocka_unit_test(notify_wakes_listener),
    };
    const char *pg = getenv("TAGD_TEST_STORE");
    int failed = cmocka_run_group_tests_name("store_contract_sqlite", sqlite_tests, setup_sqlite,
                                             teardown);
    if (pg && (strncmp(pg, "postgres://", 11) == 0 || strncmp(pg, "postgresql://", 13) == 0))
        failed += cmocka_run_group_tests_name("store_contract_postgres", pg_tests, setup_pg,
                                              teardown);
    return failed ? 1 : 0;
}
