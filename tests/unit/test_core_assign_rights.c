/* tests/unit/test_core_assign_rights.c: who may assign what (core/assign_rights.c): the
 * patterns, the decision, the parsing of lists, and the check at the assignment writes with
 * restricted subtrees, nested ones, and a scoped principal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"

/* Folded patterns against name keys. */
static void test_pattern_covers(void **state)
{
    static const struct {
        const char *pattern, *key;
        bool covers;
    } cases[] = {
        /* 1 */ {"team.*", "team", true},
        /* 2 */ {"team.*", "team.x", true},
        /* 3 */ {"team.*", "team.x.y", true},
        /* 4 */ {"team.*", "teams", false},
        /* 5 */ {"team.*", "teams.x", false},
        /* 6 */ {"team", "team", true},
        /* 7 */ {"team", "team.x", false},
        /* 8 */ {"env.prod", "env.prod", true},
        /* 9 */ {"env.prod", "env", false},
        /* 10 */ {"*", "anything.at.all", true},
        /* 11 */ {"a.b.*", "a", false},
        /* 12 */ {"a.b.*", "a.bc", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (core_assign_pattern_covers(cases[i].pattern, cases[i].key) != cases[i].covers)
            fail_msg("covers-1.%zu: %s over %s", i + 1, cases[i].pattern, cases[i].key);
    }
}

/* The decision: lists, no list, and restricted subtrees (explicit patterns only). */
static void test_decide(void **state)
{
    static const char *const team[] = {"team.*", "env.prod"};
    static const char *const star[] = {"*"};
    static const char *const pii[] = {"pii.*"};
    static const char *const piimail[] = {"pii.email"};
    static const char *const health[] = {"pii.health.*"};
    static const char *const above[] = {"org.*"};
    static const struct {
        const char *const *pats;
        size_t n;
        bool limited;
        const char *key, *root;
        bool ok;
    } cases[] = {
        /* 1 */ {NULL, 0, false, "env.y", NULL, true},       /* no list: anything free */
        /* 2 */ {team, 2, true, "team.x", NULL, true},
        /* 3 */ {team, 2, true, "env.y", NULL, false},
        /* 4 */ {team, 2, true, "env.prod", NULL, true},
        /* 5 */ {NULL, 0, true, "team.x", NULL, false},      /* an empty list allows nothing */
        /* 6 */ {star, 1, true, "env.y", NULL, true},
        /* 7 */ {NULL, 0, false, "pii.email", "pii", false}, /* no list: not explicit */
        /* 8 */ {star, 1, true, "pii.email", "pii", false},  /* "*" is not explicit */
        /* 9 */ {pii, 1, true, "pii.email", "pii", true},
        /* 10 */ {pii, 1, true, "pii", "pii", true},
        /* 11 */ {piimail, 1, true, "pii.email", "pii", true},
        /* 12 */ {piimail, 1, true, "pii.phone", "pii", false},
        /* 13 */ {health, 1, true, "pii.health.x", "pii", true}, /* inside the subtree */
        /* 14 */ {health, 1, true, "pii.email", "pii", false},
        /* 15 */ {pii, 1, true, "pii.health.x", "pii.health", false}, /* the innermost decides */
        /* 16 */ {health, 1, true, "pii.health.x", "pii.health", true},
        /* 17 */ {above, 1, true, "org.pii.x", "org.pii", false}, /* above the root */
        /* 18 */ {above, 1, true, "org.open", NULL, true},
        /* 19 */ {pii, 1, true, "piix.a", NULL, false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool ok = core_assign_decide(cases[i].pats, cases[i].n, cases[i].limited, cases[i].key,
                                     cases[i].root);
        if (ok != cases[i].ok)
            fail_msg("decide-2.%zu: %s under %s: %d", i + 1, cases[i].key,
                     cases[i].root ? cases[i].root : "(none)", ok);
    }
}

/* Lists are checked and kept in their canonical text; bad ones name the field. */
static void test_parse(void **state)
{
    static const char *const good[] = {"Team.*", "Env.prod", "*"};
    static const char *const bad[][1] = {{"Team.*.x"}, {"*.x"}, {".*"}, {""}, {"a..b"}, {NULL}};
    const char *many[101];
    struct fixture *f = *state;
    struct tg_err err;
    const char *out;

    assert_int_equal(core_assign_parse(&f->cx, good, 3, &out, &err), 0);
    assert_string_equal(out, "[\"Team.*\",\"Env.prod\",\"*\"]");
    assert_int_equal(core_assign_parse(&f->cx, NULL, 0, &out, &err), 0);
    assert_string_equal(out, "[]");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tg_err_clear(&err);
        if (core_assign_parse(&f->cx, bad[i], 1, &out, &err) != TG_EINVAL ||
            strcmp(err.field, "assign") != 0)
            fail_msg("parse-3.%zu: %s accepted", i + 1, bad[i][0] ? bad[i][0] : "(null)");
    }
    for (size_t i = 0; i < 101; i++)
        many[i] = "Team.*";
    assert_int_equal(core_assign_parse(&f->cx, many, 101, &out, &err), TG_EINVAL);
}

static struct tag make(struct fixture *f, const char *name, bool restricted)
{
    struct tag_input in;
    struct tag t;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    in.name = name;
    in.assign_restricted = restricted;
    in.has_assign_restricted = restricted;
    if (core_tag_create(&f->cx, &in, &t, &err) != 0)
        fail_msg("create %s: %s", name, err.msg);
    return t;
}

static int64_t res(struct fixture *f, const char *key, const char *parent)
{
    struct resource_input in;
    struct resource r;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    if (parent) {
        in.has_parent = true;
        in.parent_kind = "folder";
        in.parent_key = parent;
    }
    assert_int_equal(core_resource_put(&f->cx, parent ? "file" : "folder", key, &in, &r, NULL,
                                       &err),
                     0);
    return r.id;
}

/* The check at the writes: adds, removals and what a replace drops, for a principal with a
 * list, inside nested restricted subtrees, and for a scoped one; the server's own work passes. */
static void test_writes(void **state)
{
    struct fixture *f = *state;
    struct principal admin = f->cx.who;
    struct tag team = make(f, "Team.x", false), env = make(f, "Env.y", false);
    struct tag pii = make(f, "PII", true), email = make(f, "PII.email", false);
    struct tag hroot = make(f, "PII.health", true), hx = make(f, "PII.health.x", false);
    int64_t folder = res(f, "in", NULL), inside = res(f, "in/a", "in"), outside = res(f, "out", NULL);
    struct tg_err err;

    (void)pii;
    (void)hroot;

    /* The admin without a list: free tags yes, restricted ones no. */
    assert_int_equal(core_assign_add(&f->cx, inside, &env.id, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, inside, &email.id, 1, NULL, NULL, NULL, &err),
                     TG_EFORBIDDEN);
    assert_string_equal(err.field, "tags");

    /* A list of Team.* and PII.*: not Env, not the nested PII.health. */
    f->cx.who.assign = "[\"Team.*\",\"PII.*\"]";
    assert_int_equal(core_assign_add(&f->cx, inside, &team.id, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, inside, &email.id, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, inside, &hx.id, 1, NULL, NULL, NULL, &err),
                     TG_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "'PII.health'")); /* the innermost restriction */
    assert_int_equal(core_assign_remove(&f->cx, inside, env.id, &err), TG_EFORBIDDEN);
    assert_int_equal(core_assign_replace(&f->cx, inside, &team.id, 1, NULL, NULL, NULL, &err),
                     TG_EFORBIDDEN); /* it would drop Env.y */

    /* Changing the list within the request is seen (the parsed list follows who.assign). */
    f->cx.who.assign = "[\"Env.*\",\"PII.health.*\"]";
    assert_int_equal(core_assign_add(&f->cx, inside, &hx.id, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, inside, &team.id, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_remove(&f->cx, inside, team.id, &err), TG_EFORBIDDEN);

    /* Scoped to the folder: the resource side applies as well as the tag side. */
    f->cx.who.resource_id = folder;
    assert_int_equal(core_assign_add(&f->cx, outside, &env.id, 1, NULL, NULL, NULL, &err),
                     TG_EFORBIDDEN);
    assert_string_equal(err.field, "resource");
    assert_int_equal(core_assign_remove(&f->cx, inside, env.id, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, folder, &env.id, 1, NULL, NULL, NULL, &err), 0);

    /* The server's own work is not checked. */
    f->cx.who.resource_id = 0;
    f->cx.who.assign = "[]";
    f->cx.assign_unchecked = true;
    assert_int_equal(core_assign_add(&f->cx, outside, &email.id, 1, NULL, NULL, NULL, &err), 0);
    f->cx.assign_unchecked = false;
    assert_int_equal(core_assign_remove(&f->cx, outside, email.id, &err), TG_EFORBIDDEN);
    f->cx.who = admin;
}

/* Only an admin sets or clears the restriction, or moves a tag across its boundary. */
static void test_restriction_is_the_admins(void **state)
{
    struct fixture *f = *state;
    struct principal admin = f->cx.who;
    struct tag_input in;
    struct tag sec = make(f, "Sec", true), key = make(f, "Sec.key", false), open = make(f, "Open.a", false);
    struct tag out;
    struct tg_err err;

    assert_true(sec.assign_restricted && !key.assign_restricted);
    f->cx.who.rights = RIGHT_READ | RIGHT_WRITE;
    memset(&in, 0, sizeof(in));
    in.has_assign_restricted = true;
    in.assign_restricted = false;
    assert_int_equal(core_tag_update(&f->cx, sec.id, &in, 0, &out, &err), TG_EFORBIDDEN);
    memset(&in, 0, sizeof(in));
    in.name = "Open.key";
    assert_int_equal(core_tag_update(&f->cx, key.id, &in, 0, &out, &err), TG_EFORBIDDEN);
    assert_string_equal(err.field, "assign_restricted");
    in.name = "Sec.a";
    assert_int_equal(core_tag_update(&f->cx, open.id, &in, 0, &out, &err), TG_EFORBIDDEN);
    f->cx.who = admin;
    in.name = "Secure";
    assert_int_equal(core_tag_update(&f->cx, sec.id, &in, 0, &out, &err), 0); /* it moves along */
    assert_true(out.assign_restricted);
    memset(&in, 0, sizeof(in));
    in.has_assign_restricted = true;
    assert_int_equal(core_tag_update(&f->cx, out.id, &in, 0, &out, &err), 0);
    assert_false(out.assign_restricted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_covers),
        cmocka_unit_test(test_decide),
        cmocka_unit_test_setup_teardown(test_parse, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_writes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_restriction_is_the_admins, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
