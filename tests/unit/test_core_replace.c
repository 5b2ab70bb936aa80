/* tests/unit/test_core_replace.c: the full replace of grouped tags (core/replace.c) and the
 * session rules (core/sessions.c) on a real SQLite store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/replace.h"
#include "core/sessions.h"
#include "fixture.h"

static struct replace_tag tg(const char *en)
{
    struct replace_tag t;
    memset(&t, 0, sizeof(t));
    t.l10n = en;
    return t;
}

static struct replace_group gr(const char *l10n, struct replace_tag *tags, size_t n)
{
    struct replace_group g;
    memset(&g, 0, sizeof(g));
    g.l10n = l10n;
    g.tags = tags;
    g.ntags = n;
    return g;
}

/* Ids of the current groups, and of the tags of group `gi`, in order. */
static size_t group_ids(struct fixture *f, int64_t *out)
{
    struct group *g;
    size_t n;
    struct tg_err err;
    assert_int_equal(core_group_list(&f->cx, &g, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        out[i] = g[i].id;
    return n;
}

static size_t tag_ids(struct fixture *f, int64_t gid, int64_t *out)
{
    struct tag *t;
    size_t n;
    struct tg_err err;
    assert_int_equal(core_group_tags(&f->cx, gid, &t, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        out[i] = t[i].id;
    return n;
}

static void seed(struct fixture *f, struct replace_group *g, struct replace_tag *a,
                 struct replace_tag *b)
{
    struct replace_result res;
    struct tg_err err;

    a[0] = tg("{\"en-US\":\"new\",\"de-DE\":\"neu\"}");
    a[1] = tg("{\"en-US\":\"published\"}");
    b[0] = tg("{\"en-US\":\"red\"}");
    g[0] = gr("{\"en-US\":\"Processing state\"}", a, 2);
    g[0].exclusive = true;
    g[1] = gr("{\"en-US\":\"Colour\"}", b, 1);
    assert_int_equal(core_replace(&f->cx, g, 2, 0, &res, &err), 0);
    assert_int_equal(res.created, 5);
    fixture_next_txn(f);
}

static void test_create_in_order(void **state)
{
    struct fixture *f = *state;
    struct replace_tag a[2], b[1];
    struct replace_group g[2];
    int64_t ids[8];
    struct group grp;
    struct tag t;
    struct tg_err err;

    seed(f, g, a, b);
    assert_int_equal(group_ids(f, ids), 2);
    assert_int_equal(ids[0], g[0].out_id);
    assert_int_equal(ids[1], g[1].out_id);
    assert_int_equal(core_group_get(&f->cx, g[0].out_id, &grp, &err), 0);
    assert_true(grp.exclusive);
    assert_string_equal(grp.name, "Processing state");
    assert_int_equal(tag_ids(f, g[0].out_id, ids), 2);
    assert_int_equal(ids[0], a[0].out_id);
    assert_int_equal(ids[1], a[1].out_id);
    assert_int_equal(core_tag_get(&f->cx, a[0].out_id, &t, &err), 0);
    assert_string_equal(t.name, "new");
    assert_string_equal(t.display_name, "new");
}

static void test_reorder_update_delete(void **state)
{
    struct fixture *f = *state;
    struct replace_tag a[2], b[1], na[2];
    struct replace_group g[2], ng[1];
    struct replace_result res;
    int64_t ids[8];
    struct tag t;
    struct tg_err err;

    seed(f, g, a, b);
    /* Keep only the first group, tags swapped and one renamed; the other group goes. */
    na[0] = tg("{\"en-US\":\"published\"}");
    na[0].id = a[1].out_id;
    na[1] = tg("{\"en-US\":\"brand new\"}");
    na[1].id = a[0].out_id;
    ng[0] = gr("{\"en-US\":\"Processing state\"}", na, 2);
    ng[0].id = g[0].out_id;
    ng[0].exclusive = true;
    assert_int_equal(core_replace(&f->cx, ng, 1, 0, &res, &err), 0);
    assert_int_equal(res.deleted, 2); /* the tag "red" and the group "Colour" */
    assert_int_equal(res.unchanged, 1); /* the group; both tags moved */
    assert_int_equal(res.updated, 2);
    assert_int_equal(group_ids(f, ids), 1);
    assert_int_equal(tag_ids(f, g[0].out_id, ids), 2);
    assert_int_equal(ids[0], a[1].out_id);
    assert_int_equal(ids[1], a[0].out_id);
    assert_int_equal(core_tag_get(&f->cx, a[0].out_id, &t, &err), 0);
    assert_string_equal(t.name, "new"); /* names stay stable */
    assert_string_equal(t.display_name, "brand new");
    assert_int_equal(core_tag_get(&f->cx, b[0].out_id, &t, &err), 0);
    assert_true(t.deleted);
}

static void test_invalid_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct replace_tag a[2], b[1], x[2];
    struct replace_group g[2], ng[2];
    struct replace_result res;
    struct tg_err err;
    int64_t rev = 0;

    seed(f, g, a, b);
    rev = core_current_rev(&f->cx);
    /* An unknown id. */
    x[0] = tg("{\"en-US\":\"x\"}");
    x[0].id = 999;
    ng[0] = gr("{\"en-US\":\"A\"}", x, 1);
    assert_int_equal(core_replace(&f->cx, ng, 1, 0, &res, &err), TG_ENOTFOUND);
    assert_int_equal(res.bad_id, 999);
    /* The same display name twice in one group. */
    x[0] = tg("{\"en-US\":\"x\"}");
    x[1] = tg("{\"en-US\":\"x\",\"de-DE\":\"y\"}");
    ng[0] = gr("{\"en-US\":\"A\"}", x, 2);
    assert_int_equal(core_replace(&f->cx, ng, 1, 0, &res, &err), TG_EEXISTS);
    assert_string_equal(err.field, "tag.l10n");
    /* ... but the same name in two groups is fine, and so is checked for groups. */
    ng[1] = gr("{\"en-US\":\"A\"}", NULL, 0);
    x[1] = tg("{\"en-US\":\"z\"}");
    assert_int_equal(core_replace(&f->cx, ng, 2, 0, &res, &err), TG_EEXISTS);
    assert_string_equal(err.field, "group.l10n");
    /* Empty display names. */
    x[0] = tg("{\"en-US\":\"\",\"de-DE\":null}");
    ng[0] = gr("{\"en-US\":\"A\"}", x, 1);
    assert_int_equal(core_replace(&f->cx, ng, 1, 0, &res, &err), TG_EINVAL);
    assert_string_equal(err.field, "l10n");
    /* Two defaults in a choice group. */
    x[0] = tg("{\"en-US\":\"x\"}");
    x[1] = tg("{\"en-US\":\"y\"}");
    x[0].is_default = x[1].is_default = true;
    ng[0] = gr("{\"en-US\":\"A\"}", x, 2);
    ng[0].exclusive = true;
    assert_int_equal(core_replace(&f->cx, ng, 1, 0, &res, &err), TG_ERULE);
    /* An id listed twice. */
    x[0] = tg("{\"en-US\":\"x\"}");
    x[1] = tg("{\"en-US\":\"y\"}");
    x[0].id = x[1].id = a[0].out_id;
    ng[0].exclusive = false;
    assert_int_equal(core_replace(&f->cx, ng, 1, 0, &res, &err), TG_EINVAL);
    assert_string_equal(err.field, "id");
    assert_int_equal(core_current_rev(&f->cx), rev);
    assert_int_equal(f->cx.rev, 0);
}

static void test_confirm_assigned(void **state)
{
    struct fixture *f = *state;
    struct replace_tag a[2], b[1], na[1];
    struct replace_group g[2], ng[1];
    struct replace_result res;
    struct resource r;
    struct assignment *as;
    size_t n;
    struct tg_err err;
    int64_t id;

    seed(f, g, a, b);
    assert_int_equal(core_resource_ensure(&f->cx, "doc", "1", &r, &err), 0);
    id = a[1].out_id;
    assert_int_equal(core_assign_add(&f->cx, r.id, &id, 1, "manual", NULL, NULL, &err), 0);
    fixture_next_txn(f);
    na[0] = tg("{\"en-US\":\"new\",\"de-DE\":\"neu\"}");
    na[0].id = a[0].out_id;
    ng[0] = gr("{\"en-US\":\"Processing state\"}", na, 1);
    ng[0].id = g[0].out_id;
    ng[0].exclusive = true;
    assert_int_equal(core_replace(&f->cx, ng, 1, 0, &res, &err), TG_ECONFIRM);
    assert_int_equal(res.need, REPLACE_CONFIRM_DELETE_USED);
    assert_int_equal(res.used_tags, 1);
    assert_int_equal(res.assignments, 1);
    assert_int_equal(f->cx.rev, 0); /* nothing written */
    assert_int_equal(core_replace(&f->cx, ng, 1, REPLACE_CONFIRM_DELETE_USED, &res, &err), 0);
    assert_int_equal(core_assign_list(&f->cx, r.id, false, &as, &n, &err), 0);
    assert_int_equal(n, 0);
}

static void test_confirm_grants(void **state)
{
    struct fixture *f = *state;
    struct replace_tag a[1], na[1];
    struct replace_group g[1], ng[1];
    struct replace_result res;
    struct resource r;
    struct tg_err err;
    int64_t id;

    a[0] = tg("{\"en-US\":\"secret\"}");
    a[0].extra = "{\"acl\":[{\"rights\":{\"read\":{}}}]}";
    g[0] = gr("{\"en-US\":\"G\"}", a, 1);
    assert_int_equal(core_replace(&f->cx, g, 1, 0, &res, &err), 0);
    assert_int_equal(core_resource_ensure(&f->cx, "doc", "1", &r, &err), 0);
    id = a[0].out_id;
    assert_int_equal(core_assign_add(&f->cx, r.id, &id, 1, "manual", NULL, NULL, &err), 0);
    fixture_next_txn(f);
    na[0] = tg("{\"en-US\":\"other\"}");
    ng[0] = gr("{\"en-US\":\"G\"}", na, 1);
    ng[0].id = g[0].out_id;
    assert_int_equal(core_replace(&f->cx, ng, 1, 0, &res, &err), TG_ECONFIRM);
    assert_int_equal(res.need, REPLACE_CONFIRM_DELETE_USED | REPLACE_CONFIRM_REVOKE);
    assert_int_equal(res.grant_tags, 1);
    assert_int_equal(core_replace(&f->cx, ng, 1, REPLACE_CONFIRM_DELETE_USED, &res, &err),
                     TG_ECONFIRM);
    assert_int_equal(core_replace(&f->cx, ng, 1, REPLACE_CONFIRM_REVOKE, &res, &err), 0);
}

static void test_names_suffix_and_extra_merge(void **state)
{
    struct fixture *f = *state;
    struct replace_tag a[1], b[1];
    struct replace_group g[2];
    struct replace_result res;
    struct tag t;
    struct tg_err err;

    a[0] = tg("{\"de-DE\":\"v1.0, final\"}");
    a[0].extra = "{\"easydb\":{\"sticky\":true}}";
    b[0] = tg("{\"de-DE\":\"v1.0, final\"}");
    g[0] = gr("{\"en-US\":\"A\"}", a, 1);
    g[1] = gr("{\"en-US\":\"B\"}", b, 1);
    assert_int_equal(core_replace(&f->cx, g, 2, 0, &res, &err), 0);
    assert_int_equal(core_tag_get(&f->cx, a[0].out_id, &t, &err), 0);
    assert_string_equal(t.name, "v1_0_ final");
    assert_int_equal(core_tag_get(&f->cx, b[0].out_id, &t, &err), 0);
    assert_string_equal(t.name, "v1_0_ final (2)");
    /* Other keys of extra survive an update. */
    struct tag_input in;
    memset(&in, 0, sizeof(in));
    in.extra = "{\"easydb\":{\"sticky\":true},\"other\":1}";
    in.has_extra = true;
    assert_int_equal(core_tag_update(&f->cx, a[0].out_id, &in, 0, &t, &err), 0);
    a[0].id = a[0].out_id;
    a[0].extra = "{\"easydb\":{\"sticky\":false}}";
    b[0].id = b[0].out_id;
    g[0].id = g[0].out_id;
    g[1].id = g[1].out_id;
    assert_int_equal(core_replace(&f->cx, g, 2, 0, &res, &err), 0);
    assert_int_equal(core_tag_get(&f->cx, a[0].out_id, &t, &err), 0);
    assert_string_equal(t.extra, "{\"easydb\":{\"sticky\":false},\"other\":1}");
    assert_int_equal(res.updated, 1);
    assert_int_equal(res.unchanged, 3);
}

static void test_sessions(void **state)
{
    struct fixture *f = *state;
    struct session s, o;
    struct user u;
    const char *secret;
    struct tg_err err;

    assert_int_equal(core_user_create(&f->cx, "ed", "password1", RIGHT_READ | RIGHT_WRITE, NULL, &u,
                                      &err),
                     0);
    assert_int_equal(core_session_create(&f->cx, 0, "xx", &secret, &s, &err), TG_EINVAL);
    assert_int_equal(core_session_create(&f->cx, 0, NULL, &secret, &s, &err), 0);
    assert_int_equal(core_session_open(&f->cx, secret, &o, &err), 0);
    assert_false(f->cx.authed);
    assert_int_equal(o.user_id, 0);
    assert_string_equal(o.language, "en-US");
    assert_int_equal(core_session_authenticate(&f->cx, &o, "ed", "wrong-pw", &err), TG_EAUTH);
    assert_int_equal(core_session_authenticate(&f->cx, &o, "ed", "", &err), TG_EINVAL);
    assert_int_equal(core_session_authenticate(&f->cx, &o, "ed", "password1", &err), 0);
    assert_int_equal(core_session_open(&f->cx, secret, &o, &err), 0);
    assert_true(f->cx.authed);
    assert_int_equal(o.user_id, u.id);
    assert_int_equal(f->cx.who.rights, RIGHT_READ | RIGHT_WRITE);
    assert_int_equal(core_session_set_language(&f->cx, &o, "de-DE", &err), 0);
    assert_int_equal(core_session_deauthenticate(&f->cx, &o, &err), 0);
    assert_int_equal(core_session_open(&f->cx, secret, &o, &err), 0);
    assert_false(f->cx.authed);
    assert_string_equal(o.language, "de-DE");
    /* Expiry. */
    f->cx.now = o.expires_at;
    assert_int_equal(core_session_open(&f->cx, secret, &o, &err), TG_ENOTFOUND);
    assert_int_equal(core_session_open(&f->cx, "nope", &o, &err), TG_ENOTFOUND);
    /* A native token is no session. */
    assert_int_equal(core_session_open(&f->cx, "unit-token", &o, &err), TG_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_in_order, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reorder_update_delete, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_writes_nothing, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_confirm_assigned, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_confirm_grants, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_names_suffix_and_extra_merge, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sessions, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
