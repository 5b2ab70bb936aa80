/* tests/unit/test_core_lifecycle.c: tag states, their transitions and who may assign them;
 * expiring assignments, their sweep, and the engine after it (core/lifecycle.c).
 *
 * The clock is core_ctx.now (fixed per request) and the `now` a sweep is given, so every time
 * here is set by the test, never read from the wall. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_int.h"
#include "fixture.h"

static struct tag make(struct fixture *f, const char *name, const char *state)
{
    struct tag_input in;
    struct tag t;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    in.name = name;
    in.state = state;
    in.has_state = state != NULL;
    if (core_tag_create(&f->cx, &in, &t, &err) != 0)
        fail_msg("create %s: %s", name, err.msg);
    return t;
}

static int set_state(struct fixture *f, int64_t id, const char *state, const char *replaced_by,
                     struct tag *out, struct tg_err *err)
{
    struct tag_input in;

    memset(&in, 0, sizeof(in));
    in.state = state;
    in.has_state = state != NULL;
    in.replaced_by = replaced_by;
    in.has_replaced_by = replaced_by != NULL;
    return core_tag_update(&f->cx, id, &in, 0, out, err);
}

static struct resource put(struct fixture *f, const char *kind, const char *key,
                           const char *pkind, const char *pkey)
{
    struct resource_input in;
    struct resource r;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    if (pkind) {
        in.has_parent = true;
        in.parent_kind = pkind;
        in.parent_key = pkey;
    }
    assert_int_equal(core_resource_put(&f->cx, kind, key, &in, &r, NULL, &err), 0);
    return r;
}

/* Every transition from each state: draft goes anywhere, nothing returns to draft, the other
 * three move freely. */
static void test_transitions(void **state)
{
    static const struct {
        const char *from, *to;
        int rc;
    } cases[] = {
        /* 1 */ {"draft", "draft", 0},
        /* 2 */ {"draft", "active", 0},
        /* 3 */ {"draft", "deprecated", 0},
        /* 4 */ {"draft", "archived", 0},
        /* 5 */ {"active", "draft", TG_ERULE},
        /* 6 */ {"active", "deprecated", 0},
        /* 7 */ {"active", "archived", 0},
        /* 8 */ {"deprecated", "active", 0},
        /* 9 */ {"deprecated", "draft", TG_ERULE},
        /* 10 */ {"deprecated", "archived", 0},
        /* 11 */ {"archived", "active", 0},
        /* 12 */ {"archived", "deprecated", 0},
        /* 13 */ {"archived", "draft", TG_ERULE},
        /* 14 */ {"active", "retired", TG_EINVAL},
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char name[32];
        struct tag t, out;
        struct tg_err err;
        int rc;

        snprintf(name, sizeof(name), "T%zu", i + 1);
        t = make(f, name, cases[i].from);
        assert_string_equal(tag_state_name(t.state), cases[i].from);
        assert_int_equal(t.archived, strcmp(cases[i].from, "archived") == 0);
        tg_err_clear(&err);
        rc = set_state(f, t.id, cases[i].to, NULL, &out, &err);
        if (rc != cases[i].rc)
            fail_msg("transition-%zu %s -> %s: %d (%s)", i + 1, cases[i].from, cases[i].to, rc,
                     err.msg);
        assert_int_equal(core_tag_get(&f->cx, t.id, &out, &err), 0);
        /* Refused: nothing changed. */
        assert_string_equal(tag_state_name(out.state), rc ? cases[i].from : cases[i].to);
        assert_int_equal(out.archived, out.state == TAG_ARCHIVED);
    }
}

/* The older `archived` flag is the archived state, both ways. */
static void test_archived_flag_is_a_state(void **state)
{
    struct fixture *f = *state;
    struct tag t = make(f, "Flagged", NULL), out;
    struct tag_input in;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    in.has_archived = true;
    in.archived = true;
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 0, &out, &err), 0);
    assert_int_equal(out.state, TAG_ARCHIVED);
    in.archived = false;
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 0, &out, &err), 0);
    assert_int_equal(out.state, TAG_ACTIVE);
    assert_int_equal(out.archived, false);
    /* Both, contradicting each other. */
    in.archived = true;
    in.has_state = true;
    in.state = "active";
    assert_int_equal(core_tag_update(&f->cx, t.id, &in, 0, &out, &err), TG_EINVAL);
}

static void test_replaced_by(void **state)
{
    struct fixture *f = *state;
    struct tag old = make(f, "Old", NULL), neu = make(f, "New", NULL);
    struct tag draft = make(f, "Draft", "draft"), out;
    struct tg_err err;
    char ref[32];

    /* Only a deprecated tag has a successor, an active one other than itself. */
    assert_int_equal(set_state(f, old.id, "active", "New", &out, &err), TG_EINVAL);
    assert_int_equal(set_state(f, old.id, "deprecated", "Old", &out, &err), TG_EINVAL);
    assert_int_equal(set_state(f, old.id, "deprecated", "Draft", &out, &err), TG_EINVAL);
    assert_int_equal(set_state(f, old.id, "deprecated", "Nope", &out, &err), TG_EINVAL);
    snprintf(ref, sizeof(ref), "tag_%lld", (long long)neu.id);
    assert_int_equal(set_state(f, old.id, "deprecated", ref, &out, &err), 0);
    assert_int_equal(out.replaced_by, neu.id);
    assert_int_equal(core_tag_get(&f->cx, old.id, &out, &err), 0);
    assert_int_equal(out.replaced_by, neu.id);
    /* Leaving deprecated forgets it. */
    assert_int_equal(set_state(f, old.id, "active", NULL, &out, &err), 0);
    assert_int_equal(out.replaced_by, 0);
    (void)draft;
}

/* Only active tags are assigned anew; what is on a resource stays whatever the state. */
static void test_assignable(void **state)
{
    struct fixture *f = *state;
    struct resource r = put(f, "file", "life.txt", NULL, NULL);
    struct tag act = make(f, "A", NULL), drf = make(f, "D", "draft"), arc = make(f, "R", "archived");
    struct tag dep = make(f, "P", NULL), succ = make(f, "S", NULL), out;
    struct assignment *as;
    struct tg_err err;
    size_t n;

    assert_int_equal(core_assign_add(&f->cx, r.id, &dep.id, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(set_state(f, dep.id, "deprecated", "S", &out, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, r.id, &act.id, 1, NULL, NULL, NULL, &err), 0);
    tg_err_clear(&err);
    assert_int_equal(core_assign_add(&f->cx, r.id, &drf.id, 1, NULL, NULL, NULL, &err), TG_ERULE);
    assert_non_null(strstr(err.msg, "draft"));
    assert_int_equal(core_assign_add(&f->cx, r.id, &arc.id, 1, NULL, NULL, NULL, &err), TG_ERULE);
    assert_non_null(strstr(err.msg, "archived"));
    /* Already there: no new assignment, no refusal. */
    assert_int_equal(core_assign_add(&f->cx, r.id, &dep.id, 1, NULL, NULL, NULL, &err), 0);
    {
        int64_t keep[2] = {dep.id, succ.id};
        assert_int_equal(core_assign_replace(&f->cx, r.id, keep, 2, NULL, NULL, NULL, &err), 0);
    }
    assert_int_equal(core_assign_list(&f->cx, r.id, false, &as, &n, &err), 0);
    assert_int_equal(n, 2);
    /* Taken off, a deprecated tag cannot come back; the refusal names its successor. */
    assert_int_equal(core_assign_remove(&f->cx, r.id, dep.id, &err), 0);
    tg_err_clear(&err);
    assert_int_equal(core_assign_add(&f->cx, r.id, &dep.id, 1, NULL, NULL, NULL, &err), TG_ERULE);
    assert_non_null(strstr(err.msg, "use 'S'"));
}

static void test_expiry_parse(void **state)
{
    static const struct {
        const char *at;
        int64_t ttl;
        int rc;
        int64_t want; /* ms after now; 0: never */
    } cases[] = {
        /* 1 */ {NULL, -1, 0, 0},
        /* 2 */ {NULL, 2, 0, 2000},
        /* 3 */ {NULL, 0, TG_EINVAL, 0},
        /* 4 */ {"1000000005000", -1, 0, 5000},
        /* 5 */ {"2001-09-09T01:46:45Z", -1, 0, 5000},
        /* 6 */ {"1000000000000", -1, TG_EINVAL, 0}, /* now: not ahead */
        /* 7 */ {"soon", -1, TG_EINVAL, 0},
        /* 8 */ {"1000000005000", 5, TG_EINVAL, 0}, /* both */
        /* 9 */ {NULL, 400000000, TG_EINVAL, 0}, /* over ten years */
    };
    struct fixture *f = *state;

    f->cx.now = 1000000000000; /* 2001-09-09T01:46:40Z */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_err err;
        int64_t at = -1;
        int rc = core_expiry_parse(&f->cx, cases[i].at, cases[i].ttl, &at, &err);
        if (rc != cases[i].rc)
            fail_msg("expiry-parse-%zu: %d", i + 1, rc);
        if (rc == 0)
            assert_int_equal(at, cases[i].want ? f->cx.now + cases[i].want : 0);
    }
}

/* A sweep removes what is due at its `now`, logs it as "system", and the engine that catches
 * up with it answers what the store answers: the expired tag is gone from direct and
 * inherited sets. */
static void test_expiry_sweep(void **state)
{
    struct fixture *f = *state;
    struct resource top = put(f, "folder", "exp", NULL, NULL);
    struct resource file = put(f, "file", "exp/a", "folder", "exp");
    struct tag keep = make(f, "Keep", NULL), temp = make(f, "Temp", NULL);
    struct engine *e = NULL;
    struct core_ctx sys;
    struct assignment *as;
    struct change *ch;
    struct eng_asg *ea;
    struct tg_err err;
    int64_t now = f->cx.now, next, rev;
    size_t n, k;
    int removed;
    bool saw = false;

    assert_int_equal(core_assign_add(&f->cx, top.id, &keep.id, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add_until(&f->cx, top.id, &temp.id, 1, NULL, now + 1000, NULL,
                                           NULL, &err), 0);
    assert_int_equal(f->cx.expiry_added, now + 1000);
    assert_int_equal(core_expiry_next(&f->cx, &next, &err), 0);
    assert_int_equal(next, now + 1000);
    fixture_next_txn_engine(f, &e, false);
    {
        const struct eng_snap *s = engine_acquire(e);
        assert_true(eng_assignments(s, &f->a, f->cx.ws_id, file.id, true, 64, &ea, &k));
        assert_int_equal(k, 2);
        engine_release(e, s);
    }

    core_ctx_init(&sys, f->conn, &f->a, true);
    sys.now = now + 999;
    assert_int_equal(core_expiry_sweep(&sys, sys.now, 100, &removed, &err), 0);
    assert_int_equal(removed, 0);
    sys.now = now + 1000;
    assert_int_equal(core_expiry_sweep(&sys, sys.now, 100, &removed, &err), 0);
    assert_int_equal(removed, 1);
    rev = sys.rev;
    assert_int_equal(core_expiry_next(&sys, &next, &err), 0);
    assert_int_equal(next, INT64_MAX);
    fixture_next_txn_engine(f, &e, true);

    /* The store. */
    assert_int_equal(core_assign_list(&f->cx, file.id, true, &as, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(as[0].tag.id, keep.id);
    /* The engine, caught up. */
    {
        const struct eng_snap *s = engine_acquire(e);
        char msg[256];
        assert_true(eng_assignments(s, &f->a, f->cx.ws_id, file.id, true, 64, &ea, &k));
        assert_int_equal(k, 1);
        assert_int_equal(ea[0].tag->id, keep.id);
        assert_true(eng_assignments(s, &f->a, f->cx.ws_id, top.id, false, 1, &ea, &k));
        assert_int_equal(k, 1);
        assert_int_equal(eng__effective_check(s, msg, sizeof(msg)), 0);
        engine_release(e, s);
    }
    /* Logged by the system in the resource's organization. */
    assert_int_equal(core_changes_list(&f->cx, rev - 1, 100, &ch, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        if (ch[i].rev == rev && strcmp(ch[i].op, "remove") == 0) {
            assert_string_equal(ch[i].principal, "system");
            assert_int_equal(ch[i].entity_id, top.id);
            saw = true;
        }
    assert_true(saw);
    f->cx.engine = NULL;
    engine_free(e);
}

/* A sweep takes at most `limit`, earliest first; the rest stays due. */
static void test_expiry_sweep_limit(void **state)
{
    struct fixture *f = *state;
    struct resource r = put(f, "file", "many", NULL, NULL);
    struct tag a = make(f, "E1", NULL), b = make(f, "E2", NULL), c = make(f, "E3", NULL);
    int64_t now = f->cx.now, next;
    struct core_ctx sys;
    struct tg_err err;
    int removed;

    assert_int_equal(core_assign_add_until(&f->cx, r.id, &c.id, 1, NULL, now + 30, NULL, NULL,
                                           &err), 0);
    assert_int_equal(core_assign_add_until(&f->cx, r.id, &a.id, 1, NULL, now + 10, NULL, NULL,
                                           &err), 0);
    assert_int_equal(core_assign_add_until(&f->cx, r.id, &b.id, 1, NULL, now + 20, NULL, NULL,
                                           &err), 0);
    core_ctx_init(&sys, f->conn, &f->a, true);
    assert_int_equal(core_expiry_sweep(&sys, now + 100, 2, &removed, &err), 0);
    assert_int_equal(removed, 2);
    assert_int_equal(core_expiry_next(&sys, &next, &err), 0);
    assert_int_equal(next, now + 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transitions, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_archived_flag_is_a_state, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_replaced_by, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_assignable, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_parse, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_sweep, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_sweep_limit, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
