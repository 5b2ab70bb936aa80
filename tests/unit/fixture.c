/* tests/unit/fixture.c: see fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "engine/engine.h"
#include "util/mem.h"
#include "util/secret.h"

int fixture_setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct tg_err err;
    char url[300], *gen = NULL;

    secret_init();
    snprintf(f->dir, sizeof(f->dir), "/tmp/tagd-unit-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", f->dir);
    if (store_open(url, NULL, &f->store, &err) != 0)
        return -1;
    f->conn = store_conn_open(f->store, true, &err);
    if (f->conn == NULL)
        return -1;
    if (core_bootstrap(f->conn, "unit-token", "unit-password", &gen, &err) != 0)
        return -1;
    xfree(gen);
    arena_init(&f->a);
    core_ctx_init(&f->cx, f->conn, &f->a, true);
    if (store_begin_write(f->conn, &err) != 0 || core_auth_token(&f->cx, "unit-token", &err) != 0)
        return -1;
    *state = f;
    return 0;
}

void fixture_next_txn(struct fixture *f)
{
    fixture_next_txn_engine(f, NULL, false);
}

void fixture_next_txn_engine(struct fixture *f, struct engine **e, bool catch_up)
{
    struct tg_err err;
    struct principal who = f->cx.who;
    int64_t org = f->cx.org_id, ws = f->cx.ws_id;
    struct engine *kept = f->cx.engine;

    assert_int_equal(store_commit(f->conn, &err), 0);
    if (e && *e == NULL)
        assert_int_equal(engine_open(f->conn, e, &err), 0);
    else if (e && catch_up && engine_catch_up(*e, f->conn, &err) != 0)
        fail_msg("catch up: %s", err.msg);
    core_ctx_init(&f->cx, f->conn, &f->a, true);
    f->cx.who = who;
    f->cx.authed = true;
    f->cx.org_id = org;
    f->cx.ws_id = ws;
    f->cx.engine = e ? *e : kept; /* the context's engine stays until a test drops it */
    assert_int_equal(store_begin_write(f->conn, &err), 0);
}

int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[300];

    store_rollback(f->conn);
    store_conn_close(f->conn);
    store_close(f->store);
    arena_release(&f->a);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    xfree(f);
    return 0;
}
