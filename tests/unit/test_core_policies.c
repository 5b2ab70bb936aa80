/* tests/unit/test_core_policies.c: tag policies (core/policies.c): what a policy may say, which
 * assignment writes enforce mode refuses and audit mode lets through, the request's copy of
 * the policies following a rename, and the violations the engine counts (engine/count.c)
 * agreeing with a count over the store's assignments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/policies.h"
#include "engine/engine.h"
#include "fixture.h"

static struct tag make(struct fixture *f, const char *name)
{
    struct tag t;
    struct tg_err err;

    if (core_tag_ensure(&f->cx, name, &t, &err) != 0)
        fail_msg("tag %s: %s", name, err.msg);
    return t;
}

static struct resource put(struct fixture *f, const char *kind, const char *key)
{
    struct resource_input in;
    struct resource r;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    assert_int_equal(core_resource_put(&f->cx, kind, key, &in, &r, NULL, &err), 0);
    return r;
}

static struct policy required(struct fixture *f, const char *subtree, const char *kind, int min,
                              int max, const char *mode)
{
    struct policy_input in;
    struct policy p;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    in.kind = "required";
    in.has_kind = true;
    in.subtree = subtree;
    in.has_subtree = true;
    in.resource_kind = kind;
    in.has_resource_kind = kind != NULL;
    in.min = min;
    in.has_min = true;
    in.max = max;
    in.has_max = true;
    in.mode = mode;
    in.has_mode = true;
    if (core_policy_create(&f->cx, &in, &p, &err) != 0)
        fail_msg("policy: %s", err.msg);
    return p;
}

static struct policy allowed(struct fixture *f, const char *const *subtrees, size_t n,
                             const char *kind, const char *mode)
{
    struct policy_input in;
    struct policy p;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    in.kind = "allowed";
    in.has_kind = true;
    in.subtrees = subtrees;
    in.nsubtrees = n;
    in.has_subtrees = true;
    in.resource_kind = kind;
    in.has_resource_kind = kind != NULL;
    in.mode = mode;
    in.has_mode = true;
    if (core_policy_create(&f->cx, &in, &p, &err) != 0)
        fail_msg("policy: %s", err.msg);
    return p;
}

/* What a policy may say: each row a create and its result. */
static void test_validation(void **state)
{
    struct fixture *f = *state;
    static const char *const env[] = {"Val.*"}, *const none[] = {"Nope.*"};
    static const struct {
        const char *kind, *subtree, *mode, *rkind;
        const char *const *subtrees;
        size_t nsub;
        int64_t min, max;
        bool has_min, has_max;
        int rc;
        const char *field;
    } cases[] = {
        /* 1 */ {"required", "Val.*", "enforce", "file", NULL, 0, 1, 1, true, true, 0, ""},
        /* 2 */ {"required", "Val", NULL, NULL, NULL, 0, 0, 0, false, false, 0, ""},
        /* 3 */ {NULL, "Val.*", NULL, NULL, NULL, 0, 0, 0, false, false, TG_EINVAL, "kind"},
        /* 4 */ {"exclusive", "Val.*", NULL, NULL, NULL, 0, 0, 0, false, false, TG_EINVAL, "kind"},
        /* 5 */ {"required", NULL, NULL, NULL, NULL, 0, 0, 0, false, false, TG_EINVAL, "subtree"},
        /* 6 */ {"required", "Val.*", "loud", NULL, NULL, 0, 0, 0, false, false, TG_EINVAL, "mode"},
        /* 7 */ {"required", "Val.*", NULL, NULL, NULL, 0, 3, 2, true, true, TG_ERULE, "min"},
        /* 8 */ {"required", "Val.*", NULL, NULL, NULL, 0, 0, -1, true, true, TG_ERULE, "min"},
        /* 9 */ {"required", "Val.*", NULL, NULL, NULL, 0, 0, 0, false, true, TG_EINVAL, "max"},
        /* 10 */ {"required", "Val.*", NULL, NULL, NULL, 0, 101, 0, true, false, TG_EINVAL, "min"},
        /* 11 */ {"required", "Nope.*", NULL, NULL, NULL, 0, 0, 0, false, false, TG_ERULE,
                  "subtree"},
        /* 12 */ {"required", "V*l", NULL, NULL, NULL, 0, 0, 0, false, false, TG_EINVAL, "subtree"},
        /* 13 */ {"required", "Val.*", NULL, "Bad Kind", NULL, 0, 0, 0, false, false, TG_EINVAL,
                  "resource_kind"},
        /* 14 */ {"required", NULL, NULL, NULL, env, 1, 0, 0, false, false, TG_EINVAL, "subtrees"},
        /* 15 */ {"allowed", NULL, NULL, "env", env, 1, 0, 0, false, false, 0, ""},
        /* 16 */ {"allowed", NULL, NULL, NULL, env, 0, 0, 0, false, false, TG_EINVAL, "subtrees"},
        /* 17 */ {"allowed", NULL, NULL, NULL, none, 1, 0, 0, false, false, TG_ERULE,
                  "subtrees[0]"},
        /* 18 */ {"allowed", NULL, NULL, NULL, env, 1, 1, 0, true, false, TG_EINVAL, "min"},
        /* 19 */ {"allowed", "Val.*", NULL, NULL, env, 1, 0, 0, false, false, TG_EINVAL,
                  "subtree"},
    };

    make(f, "Val.x");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_input in;
        struct policy p;
        struct tg_err err;
        int rc;
        memset(&in, 0, sizeof(in));
        tg_err_clear(&err);
        in.kind = cases[i].kind;
        in.has_kind = cases[i].kind != NULL;
        in.subtree = cases[i].subtree;
        in.has_subtree = cases[i].subtree != NULL;
        in.subtrees = cases[i].subtrees;
        in.nsubtrees = cases[i].nsub;
        in.has_subtrees = cases[i].subtrees != NULL;
        in.mode = cases[i].mode;
        in.has_mode = cases[i].mode != NULL;
        in.resource_kind = cases[i].rkind;
        in.has_resource_kind = cases[i].rkind != NULL;
        in.min = cases[i].min;
        in.has_min = cases[i].has_min;
        in.max = cases[i].max;
        in.has_max = cases[i].has_max;
        rc = core_policy_create(&f->cx, &in, &p, &err);
        if (rc != cases[i].rc || strcmp(err.field, cases[i].field) != 0)
            fail_msg("validation-%zu: rc %d field '%s' (%s), want %d '%s'", i + 1, rc, err.field,
                     err.msg, cases[i].rc, cases[i].field);
    }
}

enum op { ADD, REMOVE, REPLACE };

/* The writes enforce mode refuses, one after the other on one resource: each row a write and
 * its result (a refused write changes nothing, as its caller rolls it back; the rows after
 * it assume the write did not happen). */
static void test_required_enforced(void **state)
{
    struct fixture *f = *state;
    struct tag low = make(f, "Cls.low"), high = make(f, "Cls.high"),
               top = make(f, "Cls.high.top"), other = make(f, "Other");
    struct resource file = put(f, "file", "a"), folder = put(f, "folder", "a");
    const struct {
        enum op op;
        int64_t res_id;
        int64_t tags[3];
        size_t n;
        int rc;
    } cases[] = {
        /* 1: other tags come freely, also below min */
        {ADD, file.id, {other.id}, 1, 0},
        /* 2 */ {ADD, file.id, {low.id}, 1, 0},
        /* 3: a second of the subtree (a grandchild counts) is over max */
        {ADD, file.id, {top.id}, 1, TG_ERULE},
        /* 4 */ {ADD, file.id, {high.id, low.id}, 2, TG_ERULE},
        /* 5: taking the only one off is under min */
        {REMOVE, file.id, {low.id}, 1, TG_ERULE},
        /* 6 */ {REPLACE, file.id, {other.id}, 1, TG_ERULE},
        /* 7: a swap in one replace is fine */
        {REPLACE, file.id, {high.id, other.id}, 2, 0},
        /* 8 */ {REMOVE, file.id, {other.id}, 1, 0},
        /* 9: the folder is of another kind */
        {ADD, folder.id, {low.id, high.id}, 2, 0},
        /* 10 */ {REMOVE, folder.id, {low.id}, 1, 0},
    };

    struct tg_err rerr;

    (void)required(f, "Cls.*", "file", 1, 1, "enforce");
    /* The revision outside the savepoints the rows roll back. */
    assert_int_equal(core_rev(&f->cx, &rerr), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_err err;
        int rc;
        tg_err_clear(&err);
        assert_int_equal(store_savepoint(f->conn, &err), 0);
        switch (cases[i].op) {
        case ADD:
            rc = core_assign_add(&f->cx, cases[i].res_id, cases[i].tags, cases[i].n, NULL, NULL,
                                 NULL, &err);
            break;
        case REMOVE:
            rc = core_assign_remove(&f->cx, cases[i].res_id, cases[i].tags[0], &err);
            break;
        default:
            rc = core_assign_replace(&f->cx, cases[i].res_id, cases[i].tags, cases[i].n, NULL,
                                     NULL, NULL, &err);
            break;
        }
        if (rc != cases[i].rc)
            fail_msg("required-%zu: rc %d (%s), want %d", i + 1, rc, err.msg, cases[i].rc);
        if (rc) {
            assert_non_null(strstr(err.msg, "policy "));
            assert_string_equal(err.field, "tags");
            store_savepoint_rollback(f->conn);
        } else {
            assert_int_equal(store_savepoint_release(f->conn, &err), 0);
        }
    }
}

static void test_allowed_and_audit(void **state)
{
    struct fixture *f = *state;
    static const char *const envs[] = {"Env.*", "Shared"};
    struct tag prod = make(f, "Env.prod"), shared = make(f, "Shared"), team = make(f, "Team.a"),
               below = make(f, "Shared.below");
    struct resource e = put(f, "environment", "e1"), s = put(f, "service", "s1");
    struct tg_err err;
    int64_t ids[2] = {prod.id, shared.id};

    (void)allowed(f, envs, 2, "environment", "enforce");
    /* An audit policy refuses nothing. */
    (void)required(f, "Env.*", NULL, 2, 2, "audit");
    assert_int_equal(core_assign_add(&f->cx, e.id, ids, 2, NULL, NULL, NULL, &err), 0);
    /* "Shared" is the tag alone, not its subtree. */
    assert_int_equal(core_assign_add(&f->cx, e.id, &below.id, 1, NULL, NULL, NULL, &err),
                     TG_ERULE);
    assert_int_equal(core_assign_add(&f->cx, e.id, &team.id, 1, NULL, NULL, NULL, &err),
                     TG_ERULE);
    assert_non_null(strstr(err.msg, "tag 'Team.a' is not allowed on environment/e1"));
    assert_int_equal(core_assign_add(&f->cx, s.id, &team.id, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_remove(&f->cx, e.id, prod.id, &err), 0);
}

/* The request reads the policies once; a rename of a tag they name in the same request (a
 * batch) makes it read them again, so the new names are matched. */
static void test_cache_follows_rename(void **state)
{
    struct fixture *f = *state;
    struct tag a = make(f, "Grp.a"), b = make(f, "Grp.b"), root;
    struct resource r = put(f, "file", "c");
    struct tag_input in;
    struct tg_err err;

    assert_int_equal(core_tag_find(&f->cx, "Grp", &root, &err), 0);
    (void)required(f, "Grp.*", "file", 0, 1, "enforce");
    fixture_next_txn(f);
    assert_int_equal(core_assign_add(&f->cx, r.id, &a.id, 1, NULL, NULL, NULL, &err), 0);
    assert_non_null(f->cx.policies);
    memset(&in, 0, sizeof(in));
    in.name = "Group";
    assert_int_equal(core_tag_update(&f->cx, root.id, &in, 0, &root, &err), 0);
    assert_null(f->cx.policies);
    assert_int_equal(core_assign_add(&f->cx, r.id, &b.id, 1, NULL, NULL, NULL, &err), TG_ERULE);
    assert_non_null(strstr(err.msg, "Group.*"));
}

/* A small deterministic generator (tests must not depend on rand()'s implementation). */
static uint32_t rng(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

/* The engine's violations (every page) against a count over each resource's tags as the store
 * lists them, for random assignments and a required and an allowed policy. */
static void test_violations_agree_with_the_store(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {"Lvl.a", "Lvl.b", "Lvl.b.c", "Misc.x", "Misc.y", "Lvl"};
    static const char *const allow[] = {"Lvl.b.*", "Misc.x"};
    struct tag tags[6];
    struct resource res[60];
    struct engine *e = NULL;
    struct policy req, alw, aud;
    uint64_t seed = 42;
    int64_t expect = 0;
    const char *cursor = NULL;
    size_t seen = 0, pages = 0;

    for (size_t i = 0; i < 6; i++)
        tags[i] = make(f, names[i]);
    for (size_t i = 0; i < 60; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%zu", i);
        res[i] = put(f, i % 3 ? "file" : "dir", key);
        for (size_t k = 0; k < 6; k++) {
            struct tg_err err;
            if (rng(&seed) % 3 == 0)
                assert_int_equal(core_assign_add(&f->cx, res[i].id, &tags[k].id, 1, NULL, NULL,
                                                 NULL, &err), 0);
        }
    }
    req = required(f, "Lvl.*", "file", 2, 3, "audit");
    alw = allowed(f, allow, 2, "dir", "enforce");
    aud = required(f, "Misc.y", NULL, 1, 1, "audit");
    for (size_t i = 0; i < 60; i++) {
        struct assignment *as;
        size_t n, lvl = 0, outside = 0, y = 0;
        struct tg_err err;
        assert_int_equal(core_assign_list(&f->cx, res[i].id, false, &as, &n, &err), 0);
        for (size_t k = 0; k < n; k++) {
            const char *nm = as[k].tag.name;
            lvl += strncmp(nm, "Lvl", 3) == 0;
            outside += !(strncmp(nm, "Lvl.b.", 6) == 0 || strcmp(nm, "Lvl.b") == 0 ||
                         strcmp(nm, "Misc.x") == 0);
            y += strcmp(nm, "Misc.y") == 0;
        }
        expect += strcmp(res[i].kind, "file") == 0 && (lvl < 2 || lvl > 3);
        expect += strcmp(res[i].kind, "dir") == 0 && outside > 0;
        expect += y != 1;
    }
    fixture_next_txn_engine(f, &e, false);
    f->cx.writing = false; /* a read: core_snap answers from the engine */
    do {
        struct policy_violation *v;
        const char *next;
        int64_t total;
        size_t n;
        bool behind;
        struct tg_err err;
        assert_int_equal(core_policy_violations(&f->cx, 0, cursor, 7, &v, &n, &next, &total,
                                                &behind, &err), 0);
        assert_false(behind);
        assert_int_equal(total, expect);
        for (size_t i = 0; i < n; i++) {
            /* Each one really is out of its policy, by the store's count. */
            struct assignment *as;
            size_t k, cnt = 0;
            assert_int_equal(core_assign_list(&f->cx, v[i].resource_id, false, &as, &k, &err),
                             0);
            if (v[i].policy->id == alw.id) {
                assert_int_equal(v[i].reason, POLICY_NOT_ALLOWED);
                assert_true(v[i].ntags > 0);
            } else {
                const char *pre = v[i].policy->id == req.id ? "Lvl" : "Misc.y";
                for (size_t j = 0; j < k; j++)
                    cnt += strncmp(as[j].tag.name, pre, strlen(pre)) == 0;
                assert_int_equal(cnt, v[i].ntags);
                assert_true(v[i].policy->id == aud.id ? cnt != 1 : cnt < 2 || cnt > 3);
            }
        }
        seen += n;
        pages++;
        cursor = next;
    } while (cursor);
    assert_int_equal(seen, (size_t)expect);
    assert_true(pages > 1);
    core_ctx_done(&f->cx);
    f->cx.writing = true;
    f->cx.engine = NULL;
    engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validation, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_required_enforced, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_allowed_and_audit, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cache_follows_rename, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_violations_agree_with_the_store, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
