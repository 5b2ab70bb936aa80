/* tests/unit/test_core_query.c: core_query_resources: the rights a query obeys (tags:read, a
 * token's subtree scope), its errors, paging and an engine that is missing or behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/query.h"
#include "engine/engine.h"
#include "fixture.h"

static struct resource put(struct fixture *f, const char *kind, const char *key,
                           const char *pkind, const char *pkey, const char *tag)
{
    struct resource_input in;
    struct resource r;
    struct tag t;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    if (pkind) {
        in.has_parent = true;
        in.parent_kind = pkind;
        in.parent_key = pkey;
    }
    assert_int_equal(core_resource_put(&f->cx, kind, key, &in, &r, NULL, &err), 0);
    if (tag) {
        assert_int_equal(core_tag_ensure(&f->cx, tag, &t, &err), 0);
        assert_int_equal(core_assign_add(&f->cx, r.id, &t.id, 1, NULL, NULL, NULL, &err), 0);
    }
    return r;
}

/* Two folders with a tagged file each, committed and loaded into the engine, which becomes
 * the process's engine; the context then reads (the engine answers reads only). */
static struct engine *load(struct fixture *f, struct resource *a, struct resource *b)
{
    struct engine *e = NULL;

    put(f, "folder", "one", NULL, NULL, NULL);
    put(f, "folder", "two", NULL, NULL, NULL);
    *a = put(f, "file", "a", "folder", "one", "Secret");
    *b = put(f, "file", "b", "folder", "two", "Secret");
    fixture_next_txn_engine(f, &e, false);
    f->cx.engine = e;
    f->cx.writing = false;
    return e;
}

static void unload(struct fixture *f, struct engine *e)
{
    core_ctx_done(&f->cx);
    f->cx.engine = NULL;
    engine_free(e);
}

static void test_scope_and_rights(void **state)
{
    struct fixture *f = *state;
    struct core_query q = {.text = "Secret", .limit = 10};
    struct core_query_result res;
    struct core_query_err qe;
    struct resource a, b, one;
    struct tg_err err;
    struct engine *e = load(f, &a, &b);

    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), 0);
    assert_int_equal(res.total, 2);
    assert_int_equal(res.n, 2);
    /* A token scoped to folder "one" sees only what lies below it. */
    assert_int_equal(core_resource_get(&f->cx, "folder", "one", &one, &err), 0);
    f->cx.who.resource_id = one.id;
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), 0);
    assert_int_equal(res.total, 1);
    assert_int_equal(res.n, 1);
    assert_int_equal(res.ids[0], a.id);
    f->cx.who.resource_id = 0;
    /* Without tags:read nothing is evaluated. */
    f->cx.who.rights = RIGHT_WRITE;
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), TG_EFORBIDDEN);
    f->cx.who.rights = RIGHT_ALL;
    unload(f, e);
}

static void test_errors_pages_and_engine(void **state)
{
    struct fixture *f = *state;
    struct core_query q = {.text = "Secret", .limit = 1};
    struct core_query_result res;
    struct core_query_err qe;
    struct resource a, b;
    struct tg_err err;
    struct engine *e = load(f, &a, &b);

    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), 0);
    assert_int_equal(res.n, 1);
    assert_int_equal(res.ids[0], a.id);
    assert_non_null(res.next_cursor);
    q.cursor = res.next_cursor;
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), 0);
    assert_int_equal(res.n, 1);
    assert_int_equal(res.ids[0], b.id);
    assert_null(res.next_cursor);
    q.cursor = "not a cursor";
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), TG_EINVAL);
    assert_int_equal(qe.fault, CORE_QUERY_INPUT);
    assert_string_equal(err.field, "cursor");
    q.cursor = NULL;
    q.text = "Secret and";
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), TG_EINVAL);
    assert_int_equal(qe.fault, CORE_QUERY_SYNTAX);
    assert_int_equal(qe.col, 11);
    q.text = "Nowhere";
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), TG_EINVAL);
    assert_int_equal(qe.fault, CORE_QUERY_EVAL);
    assert_int_equal(qe.col, 1);
    q.text = NULL;
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), TG_EINVAL);
    assert_string_equal(err.field, "query");
    /* A revision the engine has not applied: the caller answers "not yet". */
    q.text = "Secret";
    f->cx.min_rev = res.rev + 1000;
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), 0);
    assert_true(res.behind);
    f->cx.min_rev = 0;
    unload(f, e);
    assert_int_equal(core_query_resources(&f->cx, &q, &res, &qe, &err), TG_EBUSY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scope_and_rights, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_errors_pages_and_engine, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
