/* tests/unit/test_core_history.c: tag names in use, now and as of past revisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/history.h"
#include "fixture.h"

static int64_t tag_id(struct fixture *f, const char *name)
{
    struct tag t;
    struct tg_err err;
    assert_int_equal(core_tag_ensure(&f->cx, name, &t, &err), 0);
    return t.id;
}

static int64_t put(struct fixture *f, const char *kind, const char *key, bool archived)
{
    struct resource_input in;
    struct resource r;
    struct tg_err err;
    memset(&in, 0, sizeof(in));
    in.has_archived = true;
    in.archived = archived;
    assert_int_equal(core_resource_put(&f->cx, kind, key, &in, &r, NULL, &err), 0);
    return r.id;
}

static void add(struct fixture *f, int64_t res, const char *tag)
{
    struct tg_err err;
    int64_t id = tag_id(f, tag);
    assert_int_equal(core_assign_add(&f->cx, res, &id, 1, NULL, NULL, NULL, &err), 0);
}

/* Ends the transaction and returns the revision it wrote. */
static int64_t commit(struct fixture *f)
{
    int64_t rev = f->cx.rev;
    assert_true(rev > 0);
    fixture_next_txn(f);
    return rev;
}

/* The names as one comma-joined string, for compact assertions. */
static const char *names(struct fixture *f, const struct tag_use_filter *flt, int64_t *total)
{
    const char **v;
    size_t n;
    int64_t t;
    struct tg_err err;
    struct sbuf b;
    const char *out;

    assert_int_equal(core_tag_names_in_use(&f->cx, flt, &v, &n, total ? total : &t, &err), 0);
    sbuf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_addc(&b, ',');
        sbuf_adds(&b, v[i]);
    }
    out = arena_strdup(&f->a, sbuf_str(&b));
    sbuf_release(&b);
    return out;
}

static void test_now_kinds_prefix_archived_paging(void **state)
{
    struct fixture *f = *state;
    static const char *const flag[] = {"flag"};
    static const char *const two[] = {"segment", "project"};
    struct tag_use_filter flt;
    int64_t total;
    int64_t f1 = put(f, "flag", "f1", false), f2 = put(f, "flag", "old", true);
    int64_t s1 = put(f, "segment", "s1", false), d1 = put(f, "folder", "d", false);

    add(f, f1, "ops");
    add(f, f1, "Beta");
    add(f, s1, "ops");
    add(f, s1, "seg");
    add(f, f2, "legacy");
    add(f, d1, "folder-only");
    tag_id(f, "unused");
    commit(f);

    memset(&flt, 0, sizeof(flt));
    assert_string_equal(names(f, &flt, &total), "Beta,folder-only,ops,seg");
    assert_int_equal(total, 4);
    flt.kinds = flag;
    flt.nkinds = 1;
    assert_string_equal(names(f, &flt, NULL), "Beta,ops");
    flt.archived = true;
    assert_string_equal(names(f, &flt, NULL), "Beta,legacy,ops");
    flt.kinds = two;
    flt.nkinds = 2;
    assert_string_equal(names(f, &flt, NULL), "ops,seg");
    flt.nkinds = 0;
    flt.prefix = "o";
    assert_string_equal(names(f, &flt, NULL), "ops");
    flt.prefix = "O";
    assert_string_equal(names(f, &flt, &total), "");
    assert_int_equal(total, 0);
    flt.prefix = NULL;
    flt.limit = 2;
    flt.offset = 1;
    assert_string_equal(names(f, &flt, &total), "folder-only,legacy");
    assert_int_equal(total, 5);
    flt.offset = 5;
    assert_string_equal(names(f, &flt, &total), "");
    assert_int_equal(total, 5);
}

static void test_as_of(void **state)
{
    struct fixture *f = *state;
    struct tag_use_filter flt;
    struct tag_input in;
    struct tag t, out;
    struct tg_err err;
    int64_t r1, r2, r3, total;
    int64_t v = put(f, "view", "v", false), m = put(f, "metric", "m", false);

    add(f, v, "one");
    add(f, v, "two");
    add(f, m, "gone");
    r1 = commit(f);

    /* r2: a new assignment, a removal, a rename, an archived resource. */
    add(f, v, "three");
    assert_int_equal(core_tag_find(&f->cx, "one", &t, &err), 0);
    assert_int_equal(core_assign_remove(&f->cx, v, t.id, &err), 0);
    assert_int_equal(core_tag_find(&f->cx, "two", &t, &err), 0);
    memset(&in, 0, sizeof(in));
    in.name = "2";
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 0, &t, &err), 0);
    put(f, "metric", "m", true);
    r2 = commit(f);

    /* r3: a deleted tag and a deleted resource. */
    add(f, m, "kept");
    put(f, "metric", "m", false);
    r3 = commit(f);
    assert_int_equal(core_tag_find(&f->cx, "kept", &out, &err), 0);
    assert_int_equal(core_tag_delete(&f->cx, out.id, false, false, 0, &err), 0);
    assert_int_equal(core_resource_delete(&f->cx, "view", "v", &err), 0);
    commit(f);

    memset(&flt, 0, sizeof(flt));
    flt.as_of = true;
    flt.rev = r1;
    assert_string_equal(names(f, &flt, &total), "gone,one,two");
    assert_int_equal(total, 3);
    flt.rev = r2;
    assert_string_equal(names(f, &flt, NULL), "2,three");
    flt.archived = true;
    assert_string_equal(names(f, &flt, NULL), "2,gone,three");
    flt.archived = false;
    flt.rev = r3;
    assert_string_equal(names(f, &flt, NULL), "2,gone,kept,three");
    flt.limit = 1;
    flt.offset = 2;
    assert_string_equal(names(f, &flt, &total), "kept");
    assert_int_equal(total, 4);
    flt.limit = 0;
    flt.offset = 0;
    /* Before every revision: nothing. */
    flt.rev = 0;
    assert_string_equal(names(f, &flt, &total), "");
    assert_int_equal(total, 0);
    /* Now, by revision and by the current tables, agree. */
    flt.rev = core_current_rev(&f->cx);
    assert_string_equal(names(f, &flt, NULL), "gone");
    flt.as_of = false;
    assert_string_equal(names(f, &flt, NULL), "gone");
}

static void test_rev_at_time(void **state)
{
    struct fixture *f = *state;
    int64_t r, cur;

    put(f, "flag", "clock", false);
    r = commit(f);
    cur = core_current_rev(&f->cx);
    assert_int_equal(cur, r);
    assert_int_equal(core_rev_at_time(&f->cx, 0), 0);
    assert_int_equal(core_rev_at_time(&f->cx, INT64_MAX / 2), cur);
}

static void test_bad_filter(void **state)
{
    struct fixture *f = *state;
    static const char *const many[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    struct tag_use_filter flt;
    const char **v;
    size_t n;
    int64_t total;
    struct tg_err err;

    memset(&flt, 0, sizeof(flt));
    flt.kinds = many;
    flt.nkinds = 9;
    assert_int_equal(core_tag_names_in_use(&f->cx, &flt, &v, &n, &total, &err), TG_EINVAL);
    flt.nkinds = 8;
    assert_int_equal(core_tag_names_in_use(&f->cx, &flt, &v, &n, &total, &err), 0);
    flt.offset = -1;
    assert_int_equal(core_tag_names_in_use(&f->cx, &flt, &v, &n, &total, &err), TG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_now_kinds_prefix_archived_paging, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_as_of, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rev_at_time, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_filter, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
