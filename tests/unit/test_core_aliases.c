/* tests/unit/test_core_aliases.c: the rules of core/aliases.c on a real SQLite store: a rename
 * keeps old names as aliases, lookups resolve them, an alias never shadows a live tag, and a
 * merge moves assignments, collapses duplicates, leaves aliases and refuses to break an
 * exclusive group before it writes anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/query.h"
#include "engine/engine.h"
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

static struct tag rename_to(struct fixture *f, int64_t id, const char *name, int want)
{
    struct tag_input in;
    struct tag t;
    struct tg_err err;
    memset(&in, 0, sizeof(in));
    memset(&t, 0, sizeof(t));
    in.name = name;
    assert_int_equal(core_tag_update(&f->cx, id, &in, 0, &t, &err), want);
    return t;
}

static int64_t res(struct fixture *f, const char *key, const struct tag *tags, size_t n)
{
    struct resource r;
    struct tg_err err;
    assert_int_equal(core_resource_ensure(&f->cx, "file", key, &r, &err), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(core_assign_add(&f->cx, r.id, &tags[i].id, 1, NULL, NULL, NULL, &err),
                         0);
    return r.id;
}

/* The names of the resource's tags, joined by ',' in name order. */
static const char *names(struct fixture *f, int64_t rid)
{
    struct assignment *a;
    size_t n;
    struct tg_err err;
    static char buf[256];
    size_t len = 0;

    assert_int_equal(core_assign_list_brief(&f->cx, rid, &a, &n, &err), 0);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "",
                                a[i].tag.name);
    return buf;
}

static void test_rename_keeps_old_names(void **state)
{
    struct fixture *f = *state;
    struct tag a = mk(f, "Dept.Eng"), web = mk(f, "Dept.Eng.Web"), t;
    struct tag_alias *al;
    size_t n;
    struct tg_err err;

    rename_to(f, a.id, "Org.Engineering", 0);
    f->cx.alias_hits = NULL;
    assert_int_equal(core_tag_find(&f->cx, "dept.eng", &t, &err), 0);
    assert_int_equal(t.id, a.id);
    assert_string_equal(t.name, "Org.Engineering");
    assert_non_null(f->cx.alias_hits);
    assert_string_equal(f->cx.alias_hits->alias, "Dept.Eng");
    assert_string_equal(f->cx.alias_hits->tag, "Org.Engineering");
    /* Each descendant's old name too. */
    assert_int_equal(core_tag_resolve(&f->cx, "Dept.Eng.Web", &t, &err), 0);
    assert_int_equal(t.id, web.id);
    assert_string_equal(t.name, "Org.Engineering.Web");
    assert_int_equal(core_alias_list(&f->cx, a.id, &al, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(al[0].name, "Dept.Eng");
    assert_string_equal(al[0].reason, "rename");
    /* Ensure (assignment by name with create) takes the tag, not a new one. */
    assert_int_equal(core_tag_ensure(&f->cx, "DEPT.ENG", &t, &err), 0);
    assert_int_equal(t.id, a.id);
    /* A second rename keeps both old names. */
    rename_to(f, a.id, "Org.Eng2", 0);
    assert_int_equal(core_alias_list(&f->cx, a.id, &al, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(core_tag_find(&f->cx, "Org.Engineering", &t, &err), 0);
    assert_int_equal(t.id, a.id);
    /* A case change keeps the key: no alias of it. */
    rename_to(f, a.id, "ORG.ENG2", 0);
    assert_int_equal(core_alias_list(&f->cx, a.id, &al, &n, &err), 0);
    assert_int_equal(n, 2);
}

static void test_alias_cannot_be_shadowed(void **state)
{
    struct fixture *f = *state;
    struct tag a = mk(f, "Old"), b = mk(f, "Other"), t;
    struct tag_input in;
    struct tg_err err;

    rename_to(f, a.id, "New", 0);
    memset(&in, 0, sizeof(in));
    in.name = "old";
    assert_int_equal(core_tag_create(&f->cx, &in, &t, &err), TG_EEXISTS);
    assert_string_equal(err.field, "name");
    assert_non_null(strstr(err.msg, "alias"));
    /* Neither by a rename of another tag. */
    rename_to(f, b.id, "OLD", TG_EEXISTS);
    /* Removed, the name is free; the old name then names the new tag. */
    assert_int_equal(core_alias_remove(&f->cx, b.id, "Old", &err), TG_ENOTFOUND);
    assert_int_equal(core_alias_remove(&f->cx, a.id, "oLD", &err), 0);
    t = mk(f, "Old");
    assert_true(t.id != a.id);
    assert_int_equal(core_tag_find(&f->cx, "Old", &t, &err), 0);
    assert_true(t.id != a.id);
    /* A rename back to an old name takes it back from the alias. */
    rename_to(f, b.id, "Other2", 0);
    rename_to(f, b.id, "Other", 0);
    assert_int_equal(core_tag_find(&f->cx, "Other2", &t, &err), 0);
    assert_int_equal(t.id, b.id);
    {
        struct tag_alias *al;
        size_t n;
        assert_int_equal(core_alias_list(&f->cx, b.id, &al, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(al[0].name, "Other2");
    }
}

static void test_merge_moves_and_collapses(void **state)
{
    struct fixture *f = *state;
    struct tag a = mk(f, "Colour"), b = mk(f, "Color"), t;
    struct merge_opts o = {.into = "Color"};
    struct merge_result m, dry;
    int64_t r1, r2, r3;
    struct tg_err err;

    r1 = res(f, "r1", &a, 1);
    r2 = res(f, "r2", (struct tag[]){a, b}, 2);
    r3 = res(f, "r3", &b, 1);
    rename_to(f, a.id, "Colour2", 0); /* an alias that must follow the merge */
    /* A principal limited to a subtree of resources cannot move assignments everywhere. */
    f->cx.who.resource_id = r1;
    assert_int_equal(core_tag_merge(&f->cx, a.id, &o, &dry, &err), TG_EFORBIDDEN);
    f->cx.who.resource_id = 0;
    o.dry_run = true;
    assert_int_equal(core_tag_merge(&f->cx, a.id, &o, &dry, &err), 0);
    assert_int_equal(dry.npairs, 1);
    assert_int_equal(dry.moved, 1);
    assert_int_equal(dry.collapsed, 1);
    assert_int_equal(dry.pairs[0].aliases, 1);
    /* The dry run changed nothing. */
    assert_string_equal(names(f, r1), "Colour2");
    assert_int_equal(core_tag_get(&f->cx, a.id, &t, &err), 0);
    assert_false(t.deleted);
    o.dry_run = false;
    assert_int_equal(core_tag_merge(&f->cx, a.id, &o, &m, &err), 0);
    assert_int_equal(m.moved, dry.moved);
    assert_int_equal(m.collapsed, dry.collapsed);
    assert_string_equal(names(f, r1), "Color");
    assert_string_equal(names(f, r2), "Color");
    assert_string_equal(names(f, r3), "Color");
    assert_int_equal(core_tag_get(&f->cx, a.id, &t, &err), 0);
    assert_true(t.deleted); /* its row and history stay */
    /* Both the merged name and its older alias name the target now. */
    assert_int_equal(core_tag_find(&f->cx, "Colour2", &t, &err), 0);
    assert_int_equal(t.id, b.id);
    assert_int_equal(core_tag_find(&f->cx, "Colour", &t, &err), 0);
    assert_int_equal(t.id, b.id);
    /* The merged tag cannot come back while its name is an alias. */
    assert_int_equal(core_tag_restore(&f->cx, a.id, &t, &err), TG_EEXISTS);
    /* Merging into itself or into its own subtree is refused. */
    t = mk(f, "Color.dark");
    o.into = "Color.dark";
    assert_int_equal(core_tag_merge(&f->cx, b.id, &o, &m, &err), TG_ERULE);
    o.into = "Color";
    assert_int_equal(core_tag_merge(&f->cx, b.id, &o, &m, &err), TG_ERULE);
}

static void test_merge_subtree(void **state)
{
    struct fixture *f = *state;
    struct tag src = mk(f, "Src"), sx = mk(f, "Src.x"), sy = mk(f, "Src.y"), dx = mk(f, "Dst.x");
    struct merge_opts o = {.into = "Dst"};
    struct merge_result m;
    int64_t r1;
    struct tg_err err;
    struct tag t;

    r1 = res(f, "s1", (struct tag[]){sx, sy, dx}, 3);
    /* Child tags need subtree. */
    assert_int_equal(core_tag_merge(&f->cx, src.id, &o, &m, &err), TG_ECONFLICT);
    assert_string_equal(err.field, "subtree");
    o.subtree = true;
    o.dry_run = true;
    assert_int_equal(core_tag_merge(&f->cx, src.id, &o, &m, &err), 0);
    assert_int_equal(m.npairs, 3);
    assert_string_equal(m.pairs[2].into.name, "Dst.y");
    assert_true(m.pairs[2].created);
    assert_int_equal(m.moved, 1);
    assert_int_equal(m.collapsed, 1);
    o.dry_run = false;
    assert_int_equal(core_tag_merge(&f->cx, src.id, &o, &m, &err), 0);
    assert_string_equal(names(f, r1), "Dst.x,Dst.y");
    assert_int_equal(core_tag_find(&f->cx, "Src.y", &t, &err), 0);
    assert_string_equal(t.name, "Dst.y");
    assert_int_equal(core_tag_find(&f->cx, "src", &t, &err), 0);
    assert_string_equal(t.name, "Dst");
}

static void test_merge_exclusive_conflict_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct tag a = mk(f, "Tmp"), g1 = mk(f, "Env.prod"), g2 = mk(f, "Env.dev"), t;
    struct group_input gi;
    struct group g;
    struct tag_input in;
    struct merge_opts o = {.into = "Env.prod"};
    struct merge_result m;
    int64_t r1;
    int64_t rev;
    struct tg_err err;

    memset(&gi, 0, sizeof(gi));
    gi.name = "Env";
    gi.exclusive = gi.has_exclusive = true;
    assert_int_equal(core_group_create(&f->cx, &gi, &g, &err), 0);
    memset(&in, 0, sizeof(in));
    in.has_group = true;
    in.group_id = g.id;
    assert_int_equal(core_tag_update(&f->cx, g1.id, &in, 0, &t, &err), 0);
    assert_int_equal(core_tag_update(&f->cx, g2.id, &in, 0, &t, &err), 0);
    r1 = res(f, "x1", (struct tag[]){a, g2}, 2);
    fixture_next_txn(f);
    rev = f->cx.rev;
    assert_int_equal(core_tag_merge(&f->cx, a.id, &o, &m, &err), TG_ECONFLICT);
    assert_int_equal(m.nconflicts, 1);
    assert_int_equal(m.conflicts[0].resource_id, r1);
    assert_string_equal(m.conflicts[0].group, "Env");
    assert_int_equal(m.conflicts[0].ntags, 2);
    assert_non_null(strstr(err.msg, "exclusive"));
    /* Nothing was written: no revision taken, the tags where they were. */
    assert_int_equal(f->cx.rev, rev);
    assert_string_equal(names(f, r1), "Env.dev,Tmp");
    /* A dry run reports the same conflict. */
    o.dry_run = true;
    assert_int_equal(core_tag_merge(&f->cx, a.id, &o, &m, &err), TG_ECONFLICT);
    assert_int_equal(m.nconflicts, 1);
    /* Into the tag the resource has, the group keeps one: no conflict. */
    o.dry_run = false;
    o.into = "Env.dev";
    assert_int_equal(core_tag_merge(&f->cx, a.id, &o, &m, &err), 0);
    assert_int_equal(m.collapsed, 1);
    assert_string_equal(names(f, r1), "Env.dev");
}

/* The query language resolves aliases in the engine: loaded with the index, and read again
 * when a change record of entity "alias" is caught up. */
static void test_engine_resolves_aliases(void **state)
{
    struct fixture *f = *state;
    struct tag t = mk(f, "Q.old"), other = mk(f, "Q.other");
    struct core_query q = {.text = "Q.old", .limit = 10};
    struct core_query_result qr;
    struct core_query_err qe;
    struct merge_opts o = {.into = "Q.new"};
    struct merge_result m;
    struct engine *e = NULL;
    struct tg_err err;
    int64_t r1, r2;

    r1 = res(f, "q1", &t, 1);
    r2 = res(f, "q2", &other, 1);
    rename_to(f, t.id, "Q.new", 0);
    fixture_next_txn_engine(f, &e, false);
    f->cx.writing = false;
    assert_int_equal(core_query_resources(&f->cx, &q, &qr, &qe, &err), 0);
    assert_int_equal(qr.total, 1);
    assert_int_equal(qr.ids[0], r1);
    q.text = "Q.old and Q.new";
    assert_int_equal(core_query_resources(&f->cx, &q, &qr, &qe, &err), 0);
    assert_int_equal(qr.total, 1);
    /* A merge moves Q.other's resource into Q.new's bitmap, and its name follows. */
    f->cx.writing = true;
    assert_int_equal(core_tag_merge(&f->cx, other.id, &o, &m, &err), 0);
    fixture_next_txn_engine(f, &e, true);
    f->cx.writing = false;
    q.text = "Q.other";
    assert_int_equal(core_query_resources(&f->cx, &q, &qr, &qe, &err), 0);
    assert_int_equal(qr.total, 2);
    assert_int_equal(qr.ids[0], r1);
    assert_int_equal(qr.ids[1], r2);
    /* A removed alias names nothing once the engine caught up. */
    f->cx.writing = true;
    assert_int_equal(core_alias_remove(&f->cx, t.id, "Q.old", &err), 0);
    fixture_next_txn_engine(f, &e, true);
    f->cx.writing = false;
    q.text = "Q.old";
    assert_int_equal(core_query_resources(&f->cx, &q, &qr, &qe, &err), TG_EINVAL);
    assert_non_null(strstr(qe.msg, "unknown tag"));
    core_ctx_done(&f->cx);
    f->cx.engine = NULL;
    engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rename_keeps_old_names, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_alias_cannot_be_shadowed, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_merge_moves_and_collapses, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_merge_subtree, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_merge_exclusive_conflict_changes_nothing,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_engine_resolves_aliases, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
