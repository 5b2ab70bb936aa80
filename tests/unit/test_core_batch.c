/* tests/unit/test_core_batch.c: batches of writes (core/batch.c) and idempotency keys
 * (core/idempotency.c) on a real SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/batch.h"
#include "core/idempotency.h"
#include "fixture.h"

static struct batch_op create_tag(const char *name)
{
    struct batch_op op;
    memset(&op, 0, sizeof(op));
    op.kind = BATCH_CREATE_TAG;
    op.tag.name = name;
    return op;
}

static struct batch_op put_resource(const char *kind, const char *key)
{
    struct batch_op op;
    memset(&op, 0, sizeof(op));
    op.kind = BATCH_PUT_RESOURCE;
    op.res_kind = kind;
    op.res_key = key;
    return op;
}

static struct batch_op assign(enum batch_kind k, const char *kind, const char *key,
                              struct batch_tag_ref *tags, size_t n)
{
    struct batch_op op;
    memset(&op, 0, sizeof(op));
    op.kind = k;
    op.res_kind = kind;
    op.res_key = key;
    op.tags = tags;
    op.ntags = n;
    return op;
}

static bool tag_exists(struct fixture *f, const char *name)
{
    struct tag t;
    struct tg_err err;
    return core_tag_find(&f->cx, name, &t, &err) == 0 && !t.deleted;
}

static void test_atomic_stops_at_the_first_failure(void **state)
{
    struct fixture *f = *state;
    struct batch_op ops[3] = {create_tag("A"), create_tag("A"), create_tag("B")};
    struct batch_result res[3];
    struct tg_err err;
    size_t failed = 99;
    int rc;

    tg_err_clear(&err);
    rc = core_batch_run(&f->cx, ops, 3, BATCH_ATOMIC, false, res, &failed, &err);
    assert_int_equal(rc, TG_EEXISTS);
    assert_int_equal(failed, 1);
    assert_int_equal(strncmp(err.field, "operations[1]", 13), 0);
    assert_non_null(strstr(err.msg, "operations[1] (create_tag): "));
    /* The third was never run; the caller rolls the first back with the request. */
    assert_false(tag_exists(f, "B"));
}

static void test_partial_reports_each_and_shares_one_revision(void **state)
{
    struct fixture *f = *state;
    struct batch_op ops[3] = {create_tag("A"), create_tag("A"), put_resource("file", "x")};
    struct batch_result res[3];
    struct change *ch;
    struct tg_err err;
    size_t failed, n;

    tg_err_clear(&err);
    assert_int_equal(core_batch_run(&f->cx, ops, 3, BATCH_PARTIAL, false, res, &failed, &err), 0);
    assert_int_equal(res[0].effect, BATCH_CREATED);
    assert_int_equal(res[1].effect, BATCH_FAILED);
    assert_int_equal(res[1].rc, TG_EEXISTS);
    assert_int_equal(res[2].effect, BATCH_CREATED);
    assert_string_equal(res[2].res.key, "x");
    assert_true(tag_exists(f, "A"));
    assert_true(f->cx.rev > 0);
    assert_int_equal(core_changes_list(&f->cx, f->cx.rev - 1, 100, &ch, &n, &err), 0);
    assert_true(n >= 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ch[i].rev, f->cx.rev);
}

static void test_unchanged_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct batch_op ops[2] = {create_tag("C"), put_resource("file", "y")};
    struct batch_result res[2];
    struct tg_err err;
    size_t failed;
    int seq;

    tg_err_clear(&err);
    assert_int_equal(core_batch_run(&f->cx, ops, 2, BATCH_ATOMIC, false, res, &failed, &err), 0);
    fixture_next_txn(f);
    ops[0].kind = BATCH_UPDATE_TAG;
    ops[0].target.name = "C";
    ops[0].tag.name = NULL;
    ops[0].tag.color = "#112233";
    ops[0].tag.has_color = true;
    assert_int_equal(core_batch_run(&f->cx, ops, 2, BATCH_ATOMIC, false, res, &failed, &err), 0);
    assert_int_equal(res[0].effect, BATCH_CHANGED);
    assert_int_equal(res[1].effect, BATCH_UNCHANGED);
    fixture_next_txn(f);
    /* The same again: nothing changes, no revision, no change record. */
    assert_int_equal(core_batch_run(&f->cx, ops, 2, BATCH_ATOMIC, false, res, &failed, &err), 0);
    assert_int_equal(res[0].effect, BATCH_UNCHANGED);
    assert_int_equal(res[1].effect, BATCH_UNCHANGED);
    assert_int_equal(f->cx.rev, 0);
    seq = f->cx.seq;
    assert_int_equal(seq, 0);
}

static void test_dry_run_foretells_and_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct batch_tag_ref refs[1] = {{0, "D.e"}};
    struct batch_op ops[2] = {create_tag("Z"), assign(BATCH_ADD_TAGS, "file", "z", refs, 1)};
    struct batch_result dry[2], real[2];
    struct tg_err err;
    size_t failed;

    ops[1].create_missing = true;
    tg_err_clear(&err);
    assert_int_equal(core_batch_run(&f->cx, ops, 2, BATCH_ATOMIC, true, dry, &failed, &err), 0);
    assert_int_equal(dry[0].effect, BATCH_CREATED);
    assert_int_equal(dry[1].effect, BATCH_CHANGED);
    assert_int_equal(dry[1].nadded, 1);
    assert_string_equal(dry[1].added[0], "D.e");
    assert_int_equal(f->cx.rev, 0);
    assert_false(tag_exists(f, "Z"));
    assert_false(tag_exists(f, "D.e"));
    assert_int_equal(core_batch_run(&f->cx, ops, 2, BATCH_ATOMIC, false, real, &failed, &err), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(real[i].effect, dry[i].effect);
    assert_int_equal(real[1].nadded, 1);
    assert_string_equal(real[1].added[0], "D.e");
    assert_true(tag_exists(f, "D.e"));
    fixture_next_txn(f);
    /* Replacing with nothing removes it. */
    ops[1] = assign(BATCH_REPLACE_TAGS, "file", "z", refs, 0);
    assert_int_equal(core_batch_run(&f->cx, &ops[1], 1, BATCH_ATOMIC, false, real, &failed, &err),
                     0);
    assert_int_equal(real[0].effect, BATCH_CHANGED);
    assert_int_equal(real[0].nremoved, 1);
    assert_string_equal(real[0].removed[0], "D.e");
}

static void test_limit_and_rights(void **state)
{
    struct fixture *f = *state;
    struct batch_op ops[3] = {create_tag("R"), put_resource("file", "r"), create_tag("S")};
    struct batch_result res[3];
    struct tg_err err;
    size_t failed;
    int max = batch_limits.max_ops;

    tg_err_clear(&err);
    batch_limits.max_ops = 2;
    assert_int_equal(core_batch_run(&f->cx, ops, 3, BATCH_PARTIAL, false, res, &failed, &err),
                     TG_ELIMIT);
    batch_limits.max_ops = max;
    /* Only the right to assign: the tags are refused, the resource is put. */
    f->cx.who.rights = RIGHT_READ | RIGHT_ASSIGN;
    assert_int_equal(core_batch_run(&f->cx, ops, 3, BATCH_PARTIAL, false, res, &failed, &err), 0);
    assert_int_equal(res[0].effect, BATCH_FAILED);
    assert_int_equal(res[0].rc, TG_EFORBIDDEN);
    assert_int_equal(res[1].effect, BATCH_CREATED);
    assert_int_equal(res[2].rc, TG_EFORBIDDEN);
    assert_false(tag_exists(f, "R"));
    /* A parse error is the operation's own failure. */
    ops[1].parse_rc = TG_EINVAL;
    tg_err_set(&ops[1].parse_err, TG_EINVAL, "kind", "bad");
    assert_int_equal(core_batch_run(&f->cx, ops, 3, BATCH_ATOMIC, false, res, &failed, &err),
                     TG_EFORBIDDEN);
    assert_int_equal(failed, 0);
}

static void test_scoped_token_stays_in_its_subtree(void **state)
{
    struct fixture *f = *state;
    struct batch_op ops[4] = {put_resource("folder", "in"), put_resource("file", "inner"),
                              put_resource("file", "outside"), create_tag("Scoped")};
    struct batch_result res[4];
    struct resource folder;
    struct tg_err err;
    size_t failed;

    tg_err_clear(&err);
    assert_int_equal(core_batch_run(&f->cx, ops, 1, BATCH_ATOMIC, false, res, &failed, &err), 0);
    folder = res[0].res;
    f->cx.who.resource_id = folder.id;
    ops[1].res.has_parent = true;
    ops[1].res.parent_kind = "folder";
    ops[1].res.parent_key = "in";
    assert_int_equal(core_batch_run(&f->cx, ops, 4, BATCH_PARTIAL, false, res, &failed, &err), 0);
    assert_int_equal(res[0].effect, BATCH_UNCHANGED);
    assert_int_equal(res[1].effect, BATCH_CREATED);
    assert_int_equal(res[2].rc, TG_EFORBIDDEN); /* made outside: undone */
    assert_int_equal(res[3].rc, TG_EFORBIDDEN); /* no taxonomy */
    assert_int_equal(core_resource_get(&f->cx, "file", "outside", &folder, &err), TG_ENOTFOUND);
    f->cx.who.resource_id = 0;
}

static void test_idem_key_check(void **state)
{
    /* tn: key, expected code */
    static const struct {
        const char *key;
        int rc;
    } cases[] = {
        /* 1 */ {"", TG_EINVAL},
        /* 2 */ {"a b", TG_EINVAL},
        /* 3 */ {"abc-123_XYZ:/.", 0},
        /* 4 */ {"\x01", TG_EINVAL},
    };
    char longkey[IDEM_KEY_MAX + 2];
    struct tg_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("idem-key-%zu\n", i + 1);
        assert_int_equal(core_idem_key_check(cases[i].key, &err), cases[i].rc);
    }
    memset(longkey, 'k', sizeof(longkey));
    longkey[IDEM_KEY_MAX] = '\0';
    assert_int_equal(core_idem_key_check(longkey, &err), 0);
    longkey[IDEM_KEY_MAX] = 'k';
    longkey[IDEM_KEY_MAX + 1] = '\0';
    assert_int_equal(core_idem_key_check(longkey, &err), TG_EINVAL);
}

static void test_idem_replay_mismatch_inflight_expiry(void **state)
{
    struct fixture *f = *state;
    const char *me = f->cx.who.name;
    struct idem_answer ans, got;
    struct tg_err err;
    bool found = true;

    tg_err_clear(&err);
    assert_int_equal(core_idem_begin(&f->cx, "k1", "h1", &got, &found, &err), 0);
    assert_false(found);
    /* Claimed, not answered yet: in flight. */
    assert_int_equal(core_idem_begin(&f->cx, "k1", "h1", &got, &found, &err), TG_ECONFLICT);
    memset(&ans, 0, sizeof(ans));
    ans.status = 201;
    ans.content_type = "application/json";
    ans.headers = "[[\"ETag\",\"\\\"1\\\"\"]]";
    ans.body = "{\"id\":1}";
    ans.body_len = strlen(ans.body);
    assert_int_equal(core_idem_finish(&f->cx, "k1", &ans, &err), 0);
    fixture_next_txn(f);
    assert_int_equal(core_idem_begin(&f->cx, "k1", "h1", &got, &found, &err), 0);
    assert_true(found);
    assert_int_equal(got.status, 201);
    assert_string_equal(got.body, "{\"id\":1}");
    assert_string_equal(got.headers, ans.headers);
    assert_int_equal(core_idem_begin(&f->cx, "k1", "h2", &got, &found, &err), TG_ERULE);
    /* Another principal has keys of its own. */
    f->cx.who.name = "someone-else";
    assert_int_equal(core_idem_begin(&f->cx, "k1", "h2", &got, &found, &err), 0);
    assert_false(found);
    f->cx.who.name = me;
    /* Past its time the key is free again. */
    f->cx.now += idem_limits.ttl_ms + 1;
    assert_int_equal(core_idem_begin(&f->cx, "k1", "h2", &got, &found, &err), 0);
    assert_false(found);
}

static void test_idem_bound_per_organization(void **state)
{
    struct fixture *f = *state;
    struct idem_answer ans, got;
    struct tg_err err;
    int64_t max = idem_limits.max_keys;
    bool found;
    char key[16];

    memset(&ans, 0, sizeof(ans));
    ans.status = 204;
    tg_err_clear(&err);
    idem_limits.max_keys = 3;
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "b%d", i);
        f->cx.now += 1; /* each its own moment, so that the oldest goes first */
        assert_int_equal(core_idem_begin(&f->cx, key, "h", &got, &found, &err), 0);
        assert_false(found);
        assert_int_equal(core_idem_finish(&f->cx, key, &ans, &err), 0);
    }
    /* b0 and b1 made room; b4 is kept. */
    assert_int_equal(core_idem_begin(&f->cx, "b4", "h", &got, &found, &err), 0);
    assert_true(found);
    f->cx.now += 1;
    assert_int_equal(core_idem_begin(&f->cx, "b0", "h", &got, &found, &err), 0);
    assert_false(found);
    idem_limits.max_keys = max;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_atomic_stops_at_the_first_failure, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_partial_reports_each_and_shares_one_revision,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_writes_nothing, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_foretells_and_changes_nothing,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_limit_and_rights, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_scoped_token_stays_in_its_subtree, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_idem_key_check),
        cmocka_unit_test_setup_teardown(test_idem_replay_mismatch_inflight_expiry,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_idem_bound_per_organization, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
