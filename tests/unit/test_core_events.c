/* tests/unit/test_core_events.c: the change stream's cursor, tag patterns and filters with
 * the subscriber's scope (core/events.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/events.h"
#include "fixture.h"

static void test_cursor(void **state)
{
    struct event_cursor c;
    char buf[48];

    (void)state;
    assert_true(event_cursor_parse("42", &c));
    assert_int_equal(c.rev, 42);
    assert_true(c.seq == EVENT_SEQ_ALL);
    assert_true(event_cursor_parse("42-3", &c));
    assert_int_equal(c.rev, 42);
    assert_int_equal(c.seq, 3);
    assert_true(event_after(&c, 42, 4));
    assert_false(event_after(&c, 42, 3));
    assert_false(event_after(&c, 41, 9));
    assert_true(event_after(&c, 43, 1));
    assert_true(event_cursor_parse("0", &c));
    for (size_t i = 0; i < 8; i++) {
        const char *bad[] = {"", "-1", "x", "4-", "4-x", "4-3-2", " 4", "99999999999999999999"};
        assert_false(event_cursor_parse(bad[i], &c));
    }
    assert_false(event_cursor_parse(NULL, &c));
    event_cursor_format(7, 2, buf, sizeof(buf));
    assert_string_equal(buf, "7-2");
    assert_true(event_cursor_parse(buf, &c));
    assert_true(c.rev == 7 && c.seq == 2);
}

static void test_tag_patterns(void **state)
{
    (void)state;
    assert_true(event_tag_match("PII.*", "PII"));
    assert_true(event_tag_match("PII.*", "PII.email"));
    assert_true(event_tag_match("PII.*", "pii.Email.work"));
    assert_false(event_tag_match("PII.*", "PIIX"));
    assert_false(event_tag_match("PII.*", "PIIX.a"));
    assert_false(event_tag_match("PII.*", NULL));
    assert_true(event_tag_match("PII.email", "pii.EMAIL"));
    assert_false(event_tag_match("PII.email", "PII.email.work"));
}

static struct resource put(struct fixture *f, const char *kind, const char *key, const char *pkey)
{
    struct resource_input in;
    struct resource r;
    struct tg_err err;
    memset(&in, 0, sizeof(in));
    if (pkey) {
        in.has_parent = true;
        in.parent_kind = "folder";
        in.parent_key = pkey;
    }
    assert_int_equal(core_resource_put(&f->cx, kind, key, &in, &r, NULL, &err), 0);
    return r;
}

static void test_filters_and_scope(void **state)
{
    struct fixture *f = *state;
    struct resource top = put(f, "folder", "top", NULL);
    struct resource in = put(f, "doc", "in", "top");
    struct resource out = put(f, "doc", "out", NULL);
    struct event_filter flt;
    struct change res_in = {.entity = "resource", .entity_id = in.id, .op = "create",
                            .after = "{\"kind\":\"doc\",\"name\":\"in\"}"};
    struct change res_out = {.entity = "resource", .entity_id = out.id, .op = "create",
                             .after = "{\"kind\":\"doc\"}"};
    struct change tag = {.entity = "tag", .entity_id = 1, .op = "create",
                         .after = "{\"name\":\"PII.email\"}"};
    struct change asg = {.entity = "assignment", .entity_id = in.id, .op = "add",
                         .after = "{\"resource_id\":1,\"tag\":\"pii.email\"}"};

    memset(&flt, 0, sizeof(flt));
    assert_true(event_match(&f->cx, &flt, &tag));
    assert_true(event_match(&f->cx, &flt, &res_out));
    flt.entity[flt.nentity++] = "resource";
    assert_false(event_match(&f->cx, &flt, &tag));
    assert_true(event_match(&f->cx, &flt, &res_in));
    flt.kind[flt.nkind++] = "folder";
    assert_false(event_match(&f->cx, &flt, &res_in));
    flt.kind[flt.nkind++] = "doc";
    assert_true(event_match(&f->cx, &flt, &res_in));
    memset(&flt, 0, sizeof(flt));
    flt.tag[flt.ntag++] = "PII.*";
    assert_true(event_match(&f->cx, &flt, &tag));
    assert_true(event_match(&f->cx, &flt, &asg));
    assert_false(event_match(&f->cx, &flt, &res_in));
    memset(&flt, 0, sizeof(flt));
    flt.resource = top.id;
    assert_true(event_match(&f->cx, &flt, &res_in));
    assert_true(event_match(&f->cx, &flt, &asg));
    assert_false(event_match(&f->cx, &flt, &res_out));
    assert_false(event_match(&f->cx, &flt, &tag));
    /* Who made it: exact names, any of the list; a record without a principal passes none. */
    memset(&flt, 0, sizeof(flt));
    assert_false(event_filter_any(&flt));
    tag.principal = "etl";
    res_in.principal = "alice";
    flt.principal[flt.nprincipal++] = "etl";
    assert_true(event_filter_any(&flt));
    assert_true(event_match(&f->cx, &flt, &tag));
    assert_false(event_match(&f->cx, &flt, &res_in));
    assert_false(event_match(&f->cx, &flt, &res_out));
    flt.principal[flt.nprincipal++] = "alice";
    assert_true(event_match(&f->cx, &flt, &res_in));
    flt.tag[flt.ntag++] = "PII.*";
    assert_true(event_match(&f->cx, &flt, &tag));
    assert_false(event_match(&f->cx, &flt, &res_in));
    /* A subscriber scoped to the subtree: nothing outside it, no organization-wide record. */
    memset(&flt, 0, sizeof(flt));
    f->cx.who.resource_id = top.id;
    assert_true(event_match(&f->cx, &flt, &res_in));
    assert_false(event_match(&f->cx, &flt, &res_out));
    assert_false(event_match(&f->cx, &flt, &tag));
    f->cx.who.resource_id = 0;
}

/* event_scope keeps what a scoped token sees; event_effects reads a record's "inherited" and
 * keeps the resources the subscriber sees, or a summary where the record lists none. */
static void test_scope_and_effects(void **state)
{
    struct fixture *f = *state;
    struct resource top = put(f, "folder", "top", NULL);
    struct resource mid = put(f, "folder", "mid", "top");
    struct resource leaf = put(f, "doc", "leaf", "mid");
    struct resource out = put(f, "doc", "out", NULL);
    struct event_filter flt;
    struct event_effect x;
    struct change c[3] = {
        {.entity = "resource", .entity_id = out.id, .op = "create", .after = "{}"},
        {.entity = "tag", .entity_id = 1, .op = "create", .after = "{\"name\":\"A\"}"},
        {.entity = "resource", .entity_id = leaf.id, .op = "create", .after = "{}"},
    };
    char *doc = arena_printf(&f->a,
                             "{\"resource_id\":%lld,\"tag_id\":0,\"tag\":\"a\","
                             "\"inherited\":{\"root\":%lld,\"self\":true,\"descendants\":2,"
                             "\"resources\":[%lld,%lld]}}",
                             (long long)top.id, (long long)top.id, (long long)mid.id,
                             (long long)leaf.id);
    struct change asg = {.entity = "assignment", .entity_id = top.id, .op = "add", .after = doc};
    struct change big = asg, leafonly = {.entity = "assignment", .entity_id = leaf.id,
                                         .op = "remove",
                                         .before = "{\"resource_id\":1,\"tag_id\":0}"};

    /* A scoped principal sees the records that touch its subtree, and no tag record. */
    memset(&flt, 0, sizeof(flt));
    for (int i = 0; i < 3; i++)
        assert_true(event_match(&f->cx, &flt, &c[i]));
    f->cx.who.resource_id = top.id;
    assert_false(event_match(&f->cx, &flt, &c[0]));
    assert_false(event_match(&f->cx, &flt, &c[1]));
    assert_true(event_match(&f->cx, &flt, &c[2]));
    f->cx.who.resource_id = 0;

    assert_false(event_effects(&f->cx, &flt, &asg, &x)); /* not asked for */
    flt.effective = true;
    flt.resource = mid.id;
    assert_true(event_effects(&f->cx, &flt, &asg, &x));
    assert_true(x.add && x.root == top.id && x.descendants == 2 && !x.truncated);
    assert_int_equal(x.nids, 2);
    assert_true(x.ids[0] == mid.id && x.ids[1] == leaf.id);
    assert_string_equal(x.tag, "a");
    flt.tag[flt.ntag++] = "B.*";
    assert_false(event_effects(&f->cx, &flt, &asg, &x));
    flt.ntag = 0;
    flt.entity[flt.nentity++] = "tag";
    assert_false(event_effects(&f->cx, &flt, &asg, &x));
    flt.entity[flt.nentity++] = "effective";
    assert_true(event_effects(&f->cx, &flt, &asg, &x));
    flt.nentity = 0;
    /* Without the ids (beyond the cap): a summary, where the subtrees overlap. */
    big.after = arena_printf(&f->a,
                             "{\"resource_id\":%lld,\"tag_id\":0,\"inherited\":{\"root\":%lld,"
                             "\"self\":false,\"descendants\":9000}}",
                             (long long)top.id, (long long)top.id);
    assert_true(event_effects(&f->cx, &flt, &big, &x));
    assert_true(x.truncated && x.nids == 0 && x.descendants == 9000);
    flt.resource = out.id;
    assert_false(event_effects(&f->cx, &flt, &big, &x));
    /* A record without "inherited": its resource alone. */
    flt.resource = top.id;
    assert_true(event_effects(&f->cx, &flt, &leafonly, &x));
    assert_true(!x.add && x.nids == 1 && x.ids[0] == leaf.id && x.descendants == 0);
    f->cx.who.resource_id = out.id; /* a scope elsewhere sees none of it */
    assert_false(event_effects(&f->cx, &flt, &leafonly, &x));
    assert_false(event_effects(&f->cx, &flt, &asg, &x));
    f->cx.who.resource_id = 0;
}

/* A move's record (core/resources.c, moved): one effect with the tags per resource, seen from
 * the side it left and the side it joined, none from elsewhere; the tag filter keeps its tags.
 * A resource record passes a subtree filter when its parent before or after lies in it. */
static void test_move_effects(void **state)
{
    struct fixture *f = *state;
    struct resource a = put(f, "folder", "ma", NULL);
    struct resource b = put(f, "folder", "mb", NULL);
    struct resource m = put(f, "folder", "mm", "mb"); /* moved from ma to mb */
    struct resource k = put(f, "doc", "mk", "mm");
    struct resource z = put(f, "folder", "mz", NULL);
    struct event_filter flt;
    struct event_effect x;
    char *doc = arena_printf(&f->a,
                             "{\"id\":%lld,\"parent_id\":%lld,\"inherited\":{\"root\":%lld,"
                             "\"from\":%lld,\"to\":%lld,\"self\":true,\"descendants\":1,"
                             "\"tags\":[{\"tag_id\":0,\"tag\":\"p.new\",\"op\":\"add\","
                             "\"self\":true,\"descendants\":1,\"resources\":[%lld]},"
                             "{\"tag_id\":0,\"tag\":\"q.old\",\"op\":\"remove\","
                             "\"self\":false,\"descendants\":0,\"resources\":[]}]}}",
                             (long long)m.id, (long long)b.id, (long long)m.id, (long long)a.id,
                             (long long)b.id, (long long)k.id);
    struct change mv = {.entity = "resource", .entity_id = m.id, .op = "update",
                        .before = arena_printf(&f->a, "{\"parent_id\":%lld}", (long long)a.id),
                        .after = doc};

    memset(&flt, 0, sizeof(flt));
    flt.resource = a.id; /* the side it left */
    assert_true(event_match(&f->cx, &flt, &mv));
    flt.resource = z.id;
    assert_false(event_match(&f->cx, &flt, &mv));
    flt.effective = true;
    assert_false(event_effects(&f->cx, &flt, &mv, &x));
    for (int side = 0; side < 2; side++) {
        flt.resource = side ? b.id : a.id;
        assert_true(event_effects(&f->cx, &flt, &mv, &x));
        assert_string_equal(x.op, "move");
        assert_true(x.root == m.id && x.from == a.id && x.to == b.id && !x.truncated);
        assert_int_equal(x.ntags, 2);
        assert_int_equal(x.nids, 2);
        assert_true(x.ids[0] == m.id && x.ids[1] == k.id);
        assert_true(x.tags[0].add && !x.tags[1].add);
        /* m gains p.new (q.old's self is false: it holds q.old itself), k gains p.new. */
        assert_true(x.changed[0] && !x.changed[1] && x.changed[2] && !x.changed[3]);
    }
    flt.tag[flt.ntag++] = "q.*";
    assert_false(event_effects(&f->cx, &flt, &mv, &x)); /* q.old changes no one */
    flt.tag[0] = "p.*";
    assert_true(event_effects(&f->cx, &flt, &mv, &x));
    assert_int_equal(x.ntags, 1);
    flt.ntag = 0;
    flt.resource = k.id; /* below the root: its own resources only */
    assert_true(event_effects(&f->cx, &flt, &mv, &x));
    assert_true(x.nids == 1 && x.ids[0] == k.id);

    /* A tag's deletion (core/tags.c): every holder, those in the subtree for this stream. */
    {
        struct change td = {.entity = "tag", .entity_id = 0, .op = "delete",
                            .after = arena_printf(&f->a,
                                                  "{\"name\":\"Gone\",\"inherited\":{"
                                                  "\"op\":\"remove\",\"count\":3,"
                                                  "\"resources\":[%lld,%lld,%lld]}}",
                                                  (long long)m.id, (long long)k.id,
                                                  (long long)z.id)};
        flt.resource = b.id;
        assert_false(event_match(&f->cx, &flt, &td)); /* organization-wide */
        assert_true(event_effects(&f->cx, &flt, &td, &x));
        assert_true(!x.add && x.root == 0 && x.nids == 2 && x.ids[0] == m.id && x.ids[1] == k.id);
        assert_string_equal(x.tag, "Gone");
        flt.tag[flt.ntag++] = "Other";
        assert_false(event_effects(&f->cx, &flt, &td, &x));
        flt.ntag = 0;
        flt.entity[flt.nentity++] = "assignment";
        assert_false(event_effects(&f->cx, &flt, &td, &x));
        flt.nentity = 0;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_tag_patterns),
        cmocka_unit_test_setup_teardown(test_filters_and_scope, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_scope_and_effects, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_move_effects, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
