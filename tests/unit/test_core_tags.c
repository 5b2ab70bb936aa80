/* tests/unit/test_core_tags.c: the taxonomy rules of core/tags.c on a real SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"

static struct tag mk(struct fixture *f, const char *name)
{
    struct tag_input in;
    struct tag t;
    struct tg_err err;
    memset(&in, 0, sizeof(in));
    in.name = name;
    assert_int_equal(core_tag_create(&f->cx, &in, &t, &err), 0);
    return t;
}

static void test_create_makes_parents(void **state)
{
    struct fixture *f = *state;
    struct tag t = mk(f, "Country.DE.Berlin"), p;
    struct tg_err err;

    assert_string_equal(t.name, "Country.DE.Berlin");
    assert_int_equal(core_tag_find(&f->cx, "country.de", &p, &err), 0);
    assert_int_equal(p.id, t.parent_id);
    assert_int_equal(core_tag_find(&f->cx, "COUNTRY", &p, &err), 0);
    assert_string_equal(p.name, "Country");
    assert_int_equal(p.parent_id, 0);
}

static void test_unique_case_insensitive(void **state)
{
    struct fixture *f = *state;
    struct tag_input in;
    struct tag t;
    struct tg_err err;

    mk(f, "Address.email");
    memset(&in, 0, sizeof(in));
    in.name = "ADDRESS.EMAIL";
    assert_int_equal(core_tag_create(&f->cx, &in, &t, &err), TG_EEXISTS);
    assert_string_equal(err.field, "name");
}

static void test_rename_subtree(void **state)
{
    struct fixture *f = *state;
    struct tag a = mk(f, "A"), t;
    struct tag_input in;
    struct tg_err err;

    mk(f, "A.b.c");
    mk(f, "A.d");
    memset(&in, 0, sizeof(in));
    in.name = "Z.A2";
    assert_int_equal(core_tag_update(&f->cx, a.id, &in, 0, &t, &err), 0);
    assert_string_equal(t.name, "Z.A2");
    assert_int_equal(core_tag_find(&f->cx, "Z.A2.b.c", &t, &err), 0);
    assert_int_equal(core_tag_find(&f->cx, "Z.A2.d", &t, &err), 0);
    /* The old names are aliases of the tags they became (test_core_aliases.c). */
    assert_int_equal(core_tag_find(&f->cx, "A.b", &t, &err), 0);
    assert_string_equal(t.name, "Z.A2.b");
    assert_int_equal(core_tag_find(&f->cx, "A.x", &t, &err), TG_ENOTFOUND);
    assert_int_equal(core_tag_find(&f->cx, "Z", &t, &err), 0);
    /* A tag cannot move below itself. */
    in.name = "Z.A2.b.x";
    assert_int_equal(core_tag_update(&f->cx, a.id, &in, 0, &t, &err), TG_ERULE);
}

static void test_rename_conflict(void **state)
{
    struct fixture *f = *state;
    struct tag a = mk(f, "P.x"), t;
    struct tag_input in;
    struct tg_err err;

    mk(f, "Q.x");
    memset(&in, 0, sizeof(in));
    in.name = "q.X";
    assert_int_equal(core_tag_update(&f->cx, a.id, &in, 0, &t, &err), TG_EEXISTS);
}

static void test_delete_restore(void **state)
{
    struct fixture *f = *state;
    struct tag p = mk(f, "D"), c, t;
    struct tg_err err;

    c = mk(f, "D.child");
    assert_int_equal(core_tag_delete(&f->cx, p.id, false, false, 0, &err), TG_ECONFLICT);
    assert_int_equal(core_tag_delete(&f->cx, p.id, true, false, 0, &err), 0);
    assert_int_equal(core_tag_get(&f->cx, c.id, &t, &err), 0);
    assert_true(t.deleted);
    /* Restoring a child brings its parent back. */
    assert_int_equal(core_tag_restore(&f->cx, c.id, &t, &err), 0);
    assert_false(t.deleted);
    assert_int_equal(core_tag_get(&f->cx, p.id, &t, &err), 0);
    assert_false(t.deleted);
}

static void test_versions_and_protected(void **state)
{
    struct fixture *f = *state;
    struct tag t = mk(f, "V"), out;
    struct tag_input in;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    in.has_description = true;
    in.description = "one";
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 2, &out, &err), TG_EPRECOND);
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 1, &out, &err), 0);
    assert_int_equal(out.version, 2);
    memset(&in, 0, sizeof(in));
    in.has_protected = true;
    in.protected_ = true;
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 0, &out, &err), 0);
    memset(&in, 0, sizeof(in));
    in.has_color = true;
    in.color = "#112233";
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 0, &out, &err), TG_ERULE);
    assert_int_equal(core_tag_delete(&f->cx, t.id, false, false, 0, &err), TG_ERULE);
    in.color = "red";
    in.force = true;
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 0, &out, &err), TG_EINVAL);
    assert_string_equal(err.field, "color");
}

static void test_list_pages_and_changes(void **state)
{
    struct fixture *f = *state;
    struct tag_filter flt;
    struct tag *items;
    const char *next = NULL;
    int64_t total = 0, rev1;
    size_t n, seen = 0;
    struct tg_err err;
    struct change *ch;
    char name[16];

    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof(name), "L.t%02d", i);
        mk(f, name);
    }
    fixture_next_txn(f);
    rev1 = core_current_rev(&f->cx);
    assert_true(rev1 > 0);
    memset(&flt, 0, sizeof(flt));
    flt.prefix = "l.";
    flt.limit = 10;
    do {
        flt.cursor = next;
        assert_int_equal(core_tag_list(&f->cx, &flt, &items, &n, &next, &total, &err), 0);
        seen += n;
    } while (next);
    assert_int_equal(seen, 25);
    assert_int_equal(total, 25);
    assert_int_equal(core_changes_list(&f->cx, 0, 1000, &ch, &n, &err), 0);
    assert_true(n >= 26);
    assert_string_equal(ch[n - 1].entity, "tag");
    assert_string_equal(ch[n - 1].op, "create");
    assert_int_equal(ch[n - 1].rev, rev1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_makes_parents, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_unique_case_insensitive, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rename_subtree, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rename_conflict, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delete_restore, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_versions_and_protected, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_list_pages_and_changes, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
