/* tests/unit/test_core_links.c: applinks and public links: creation checks, authentication,
 * subtree scope, roles, expiry, revocation and access codes (core/links.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/links.h"
#include "fixture.h"

static struct resource put(struct fixture *f, const char *kind, const char *key,
                           const char *pkey)
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

/* A fresh, unauthenticated context on the fixture's connection, as a new request. */
static struct core_ctx anon(struct fixture *f)
{
    struct core_ctx cx;
    core_ctx_init(&cx, f->conn, &f->a, true);
    return cx;
}

static void test_create_checks(void **state)
{
    struct fixture *f = *state;
    const char *tok;
    struct link l;
    struct tg_err err;
    int role = 0;

    put(f, "folder", "top", NULL);
    assert_int_equal(core_link_role_parse("viewer", &role, &err), 0);
    assert_int_equal(role, LINK_VIEWER);
    assert_int_equal(core_link_role_parse("contributor", &role, &err), 0);
    assert_int_equal(role, LINK_CONTRIBUTOR);
    assert_int_equal(core_link_role_parse("manager", &role, &err), TG_EINVAL);
    assert_int_equal(core_link_role_parse(NULL, &role, &err), TG_EINVAL);
    assert_int_equal(core_link_create(&f->cx, LINK_APP, "folder", "nope", LINK_VIEWER, NULL, 0,
                                      &l, &tok, &err),
                     TG_ERULE);
    assert_int_equal(core_link_create(&f->cx, LINK_APP, "folder", "top", LINK_VIEWER,
                                      "12345678", 0, &l, &tok, &err),
                     TG_EINVAL);
    assert_int_equal(core_link_create(&f->cx, LINK_PUBLIC, "folder", "top", LINK_VIEWER,
                                      "1234567", 0, &l, &tok, &err),
                     TG_EINVAL);
    assert_int_equal(core_link_create(&f->cx, LINK_APP, "folder", "top", LINK_VIEWER, NULL,
                                      f->cx.now - 1, &l, &tok, &err),
                     TG_EINVAL);
    assert_int_equal(core_link_create(&f->cx, LINK_APP, "folder", "top", 7, NULL, 0, &l, &tok,
                                      &err),
                     TG_EINVAL);
    assert_int_equal(core_link_create(&f->cx, LINK_PUBLIC, "folder", "top", LINK_VIEWER, NULL,
                                      0, &l, &tok, &err),
                     0);
    assert_null(tok);
    assert_true(strncmp(l.id, "PL", 2) == 0);
    assert_false(l.protected_);
}

static void test_applink_scope_and_roles(void **state)
{
    struct fixture *f = *state;
    struct resource top = put(f, "folder", "top", NULL);
    struct resource a = put(f, "folder", "a", "top");
    struct resource b = put(f, "folder", "b", "top");
    struct resource deep = put(f, "folder", "deep", "a");
    struct resource fa = put(f, "file", "fa", "deep");
    struct resource fb = put(f, "file", "fb", "b");
    struct core_ctx cx;
    const char *tok, *tok2;
    struct link l, l2;
    struct tg_err err;

    assert_int_equal(core_link_create(&f->cx, LINK_APP, "folder", "a", LINK_VIEWER, NULL, 0, &l,
                                      &tok, &err),
                     0);
    assert_non_null(tok);
    assert_int_equal(l.resource_id, a.id);
    cx = anon(f);
    assert_int_equal(core_link_require(&cx, a.id, RIGHT_READ, &err), TG_EAUTH);
    assert_int_equal(core_link_auth_app(&cx, l.id, tok, &err), 0);
    assert_true(core_link_principal(&cx));
    assert_int_equal(core_link_require(&cx, a.id, RIGHT_READ, &err), 0);
    assert_int_equal(core_link_require(&cx, deep.id, RIGHT_READ, &err), 0);
    assert_int_equal(core_link_require(&cx, fa.id, RIGHT_READ, &err), 0);
    /* The sibling folder, its file and the parent stay out of reach. */
    assert_int_equal(core_link_require(&cx, b.id, RIGHT_READ, &err), TG_EFORBIDDEN);
    assert_int_equal(core_link_require(&cx, fb.id, RIGHT_READ, &err), TG_EFORBIDDEN);
    assert_int_equal(core_link_require(&cx, top.id, RIGHT_READ, &err), TG_EFORBIDDEN);
    /* A viewer does not assign. */
    assert_int_equal(core_link_require(&cx, fa.id, RIGHT_ASSIGN, &err), TG_EFORBIDDEN);

    assert_int_equal(core_link_create(&f->cx, LINK_APP, "file", "fb", LINK_CONTRIBUTOR, NULL, 0,
                                      &l2, &tok2, &err),
                     0);
    cx = anon(f);
    assert_int_equal(core_link_auth_app(&cx, l2.id, tok2, &err), 0);
    assert_int_equal(core_link_require(&cx, fb.id, RIGHT_ASSIGN, &err), 0);
    assert_int_equal(core_link_require(&cx, b.id, RIGHT_READ, &err), TG_EFORBIDDEN);

    /* Tokens are bound to their link, and the secrets are no bearer tokens. */
    cx = anon(f);
    assert_int_equal(core_link_auth_app(&cx, l.id, tok2, &err), TG_EAUTH);
    assert_int_equal(core_link_auth_app(&cx, l2.id, tok, &err), TG_EAUTH);
    assert_int_equal(core_link_auth_app(&cx, "ALnothing", tok, &err), TG_EAUTH);
    assert_int_equal(core_link_auth_app(&cx, l.id, NULL, &err), TG_EAUTH);
    assert_int_equal(core_link_auth_public(&cx, l.id, NULL, &err), TG_EAUTH);
    assert_int_equal(core_auth_token(&cx, tok, &err), TG_EAUTH);
    assert_false(cx.authed);
}

static void test_expiry_and_revocation(void **state)
{
    struct fixture *f = *state;
    struct core_ctx cx;
    const char *tok;
    struct link l, *all;
    struct tg_err err;
    size_t n;

    put(f, "folder", "top", NULL);
    assert_int_equal(core_link_create(&f->cx, LINK_APP, "folder", "top", LINK_VIEWER, NULL,
                                      f->cx.now + 1000, &l, &tok, &err),
                     0);
    cx = anon(f);
    assert_int_equal(core_link_auth_app(&cx, l.id, tok, &err), 0);
    cx = anon(f);
    cx.now += 1000;
    assert_int_equal(core_link_auth_app(&cx, l.id, tok, &err), TG_EAUTH);

    assert_int_equal(core_link_list(&f->cx, LINK_APP, &all, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(all[0].id, l.id);
    assert_int_equal(core_link_list(&f->cx, LINK_PUBLIC, &all, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(core_link_delete(&f->cx, LINK_PUBLIC, l.id, &err), TG_ENOTFOUND);
    assert_int_equal(core_link_delete(&f->cx, LINK_APP, l.id, &err), 0);
    assert_int_equal(core_link_delete(&f->cx, LINK_APP, l.id, &err), TG_ENOTFOUND);
    assert_int_equal(core_link_list(&f->cx, LINK_APP, &all, &n, &err), 0);
    assert_int_equal(n, 0);
    cx = anon(f);
    assert_int_equal(core_link_auth_app(&cx, l.id, tok, &err), TG_EAUTH);
}

static void test_public_link_access_code(void **state)
{
    struct fixture *f = *state;
    struct resource file = put(f, "file", "doc", NULL);
    struct core_ctx cx;
    const char *tok;
    struct link l;
    struct tg_err err;

    assert_int_equal(core_link_create(&f->cx, LINK_PUBLIC, "file", "doc", LINK_CONTRIBUTOR,
                                      "the-right-code", 0, &l, &tok, &err),
                     0);
    assert_true(l.protected_);
    cx = anon(f);
    assert_int_equal(core_link_auth_public(&cx, l.id, NULL, &err), TG_EFORBIDDEN);
    assert_int_equal(core_link_auth_public(&cx, l.id, "the-wrong-code", &err), TG_EAUTH);
    assert_false(cx.authed);
    assert_int_equal(core_link_auth_public(&cx, l.id, "the-right-code", &err), 0);
    assert_int_equal(core_link_require(&cx, file.id, RIGHT_ASSIGN, &err), 0);
    /* The link id alone is no bearer token either. */
    cx = anon(f);
    assert_int_equal(core_auth_token(&cx, l.id, &err), TG_EAUTH);
}

static void test_deleted_resource_revokes_reach(void **state)
{
    struct fixture *f = *state;
    struct core_ctx cx;
    const char *tok;
    struct link l;
    struct tg_err err;

    put(f, "folder", "gone", NULL);
    assert_int_equal(core_link_create(&f->cx, LINK_APP, "folder", "gone", LINK_VIEWER, NULL, 0,
                                      &l, &tok, &err),
                     0);
    assert_int_equal(core_resource_delete(&f->cx, "folder", "gone", &err), 0);
    /* Same kind and key again (and, in SQLite, possibly the same row id): still refused. */
    f->cx.now += 5;
    put(f, "folder", "gone", NULL);
    cx = anon(f);
    assert_int_equal(core_link_auth_app(&cx, l.id, tok, &err), TG_EAUTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_checks, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_applink_scope_and_roles, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_revocation, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_public_link_access_code, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_resource_revokes_reach, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
