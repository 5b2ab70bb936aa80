/* tests/unit/test_core_conflicts.c: exclusive groups' policies for inheritance conflicts
 * (core/conflicts.c): the engine's effective tags and effective queries under each policy,
 * the writes `reject` refuses, and a differential test that the engine and the store (as of
 * the current revision) hold the same effective sets on random trees, under every policy,
 * across moves and with expiring assignments swept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/history.h"
#include "core/query.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include "engine/query.h"
#include "fixture.h"

static struct tag make(struct fixture *f, const char *name)
{
    struct tag_input in;
    struct tag t;
    struct tg_err err;

    memset(&in, 0, sizeof(in));
    in.name = name;
    if (core_tag_create(&f->cx, &in, &t, &err) != 0)
        fail_msg("create %s: %s", name, err.msg);
    return t;
}

static struct group make_group(struct fixture *f, const char *name, const struct tag *tags,
                               size_t n)
{
    struct group_input in;
    struct group g;
    struct tg_err err;
    int64_t ids[8];

    memset(&in, 0, sizeof(in));
    in.name = name;
    in.exclusive = in.has_exclusive = true;
    if (core_group_create(&f->cx, &in, &g, &err) != 0)
        fail_msg("group %s: %s", name, err.msg);
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        ids[i] = tags[i].id;
    if (core_group_set_tags(&f->cx, g.id, ids, n, &err) != 0)
        fail_msg("group tags %s: %s", name, err.msg);
    return g;
}

static int set_policy(struct fixture *f, int64_t group, const char *conflict,
                      struct tg_err *err)
{
    struct group_input in;
    struct group g;

    memset(&in, 0, sizeof(in));
    in.conflict = conflict;
    in.has_conflict = true;
    return core_group_update(&f->cx, group, &in, 0, &g, err);
}

static struct resource put(struct fixture *f, const char *kind, const char *key,
                           const char *pkey, int *rc_out)
{
    struct resource_input in;
    struct resource r;
    struct tg_err err;
    int rc;

    memset(&in, 0, sizeof(in));
    memset(&r, 0, sizeof(r));
    in.has_parent = true;
    if (pkey) {
        in.parent_kind = "folder";
        in.parent_key = pkey;
    }
    rc = core_resource_put(&f->cx, kind, key, &in, &r, NULL, &err);
    if (rc_out)
        *rc_out = rc;
    else if (rc)
        fail_msg("put %s: %s", key, err.msg);
    return r;
}

static void assign(struct fixture *f, int64_t rid, int64_t tag)
{
    struct tg_err err;
    if (core_assign_add(&f->cx, rid, &tag, 1, NULL, NULL, NULL, &err) != 0)
        fail_msg("assign: %s", err.msg);
}

/* The engine's effective tags of `rid` as "id,id" sorted by id. */
static const char *eng_eff(struct fixture *f, struct engine *e, int64_t rid)
{
    const struct eng_snap *s = engine_acquire(e);
    struct eng_asg *ea;
    int64_t ids[64];
    char buf[512];
    size_t k, len = 0;

    assert_true(eng_assignments(s, &f->a, f->cx.ws_id, rid, true, 65, &ea, &k));
    assert_true(k < 64);
    for (size_t i = 0; i < k; i++)
        ids[i] = ea[i].tag->id;
    engine_release(e, s);
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            int64_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    buf[0] = '\0';
    for (size_t i = 0; i < k; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%lld", i ? "," : "",
                                (long long)ids[i]);
    return arena_strdup(&f->a, buf);
}

/* The store's effective tags of `rid` at revision `rev`, as eng_eff writes them. */
static const char *store_eff(struct fixture *f, int64_t rev, int64_t rid)
{
    struct assignment *as;
    struct resource r;
    struct tg_err err;
    int64_t ids[64];
    char buf[512];
    size_t k, len = 0;

    if (core_asof_resource_get_id(&f->cx, rev, rid, &r, &err) != 0 ||
        core_asof_assign_list(&f->cx, rev, &r, true, &as, &k, &err) != 0)
        fail_msg("as of: %s", err.msg);
    assert_true(k < 64);
    for (size_t i = 0; i < k; i++)
        ids[i] = as[i].tag.id;
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            int64_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    buf[0] = '\0';
    for (size_t i = 0; i < k; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%lld", i ? "," : "",
                                (long long)ids[i]);
    return arena_strdup(&f->a, buf);
}

/* An effective query through the engine ("1,2" ids) or as of `rev` (rev > 0). */
static const char *query(struct fixture *f, int64_t rev, const char *text)
{
    struct core_query q = {.text = text, .effective = true, .archived = true, .limit = 1000};
    struct core_query_result res;
    struct core_query_err qe;
    struct tg_err err;
    char buf[4096];
    size_t len = 0;
    int rc = rev ? core_asof_query(&f->cx, rev, &q, &res, &qe, &err)
                 : core_query_resources(&f->cx, &q, &res, &qe, &err);

    if (rc)
        fail_msg("query %s: %s", text, err.msg);
    buf[0] = '\0';
    for (size_t i = 0; i < res.n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%lld", i ? "," : "",
                                (long long)res.ids[i]);
    return arena_strdup(&f->a, buf);
}

static const char *ids(struct fixture *f, int n, ...)
{
    va_list ap;
    char buf[1024];
    size_t len = 0;
    buf[0] = '\0';
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%lld", i ? "," : "",
                                (long long)va_arg(ap, int64_t));
    va_end(ap);
    return arena_strdup(&f->a, buf);
}

static int64_t snap_rev(struct engine *e)
{
    const struct eng_snap *s = engine_acquire(e);
    int64_t rev = eng_snap_rev(s);
    engine_release(e, s);
    return rev;
}

/* root (Lv.a, Free) > mid (Lv.b) > leaf (Lv.c), and sib below root: each policy's effective
 * tags and queries in the engine, the same as of now from the store, and the maintained
 * effective bitmaps untouched (eng__effective_check). */
static void test_engine_policies(void **state)
{
    struct fixture *f = *state;
    struct resource root = put(f, "folder", "root", NULL, NULL);
    struct resource mid = put(f, "folder", "mid", "root", NULL);
    struct resource leaf = put(f, "file", "leaf", "mid", NULL);
    struct resource sib = put(f, "file", "sib", "root", NULL);
    struct tag t[3] = {make(f, "Lv.a"), make(f, "Lv.b"), make(f, "Lv.c")};
    struct tag fr = make(f, "Free");
    struct group g = make_group(f, "Lv", t, 3);
    struct engine *e = NULL;
    struct tg_err err;
    /* Rows: policy; effective tags of leaf, mid; queries Lv.a, Lv.b, Lv.c, Lv.* */
    static const struct {
        const char *policy;
        int leaf[5], mid[5]; /* indexes into t (3: Free), -1 ends */
        int qa[5], qb[5], qc[5];
    } rows[] = {
        {"union", {0, 1, 2, 3, -1}, {0, 1, 3, -1}, {0, 1, 2, 3, -1}, {1, 2, -1}, {2, -1}},
        {"child-wins", {2, 3, -1}, {1, 3, -1}, {0, 3, -1}, {1, -1}, {2, -1}},
        {"parent-wins", {0, 3, -1}, {0, 3, -1}, {0, 1, 2, 3, -1}, {-1}, {-1}},
    };
    const struct resource *res[4] = {&root, &mid, &leaf, &sib};
    const struct tag *tt[4] = {&t[0], &t[1], &t[2], &fr};

    assign(f, root.id, t[0].id);
    assign(f, root.id, fr.id);
    assign(f, mid.id, t[1].id);
    assign(f, leaf.id, t[2].id);
    fixture_next_txn_engine(f, &e, false);
    for (size_t row = 0; row < sizeof(rows) / sizeof(rows[0]); row++) {
        char want[256], msg[256];
        const int *lists[5] = {rows[row].leaf, rows[row].mid, rows[row].qa, rows[row].qb,
                               rows[row].qc};
        const char *got[5];
        int64_t rev;

        if (set_policy(f, g.id, rows[row].policy, &err) != 0)
            fail_msg("policy %s: %s", rows[row].policy, err.msg);
        fixture_next_txn_engine(f, &e, true);
        rev = snap_rev(e);
        got[0] = eng_eff(f, e, leaf.id);
        got[1] = eng_eff(f, e, mid.id);
        got[2] = query(f, 0, "Lv.a");
        got[3] = query(f, 0, "Lv.b");
        got[4] = query(f, 0, "Lv.c");
        for (int k = 0; k < 5; k++) {
            size_t len = 0;
            want[0] = '\0';
            for (int i = 0; lists[k][i] >= 0 && i < 5; i++)
                len += (size_t)snprintf(
                    want + len, sizeof(want) - len, "%s%lld", i ? "," : "",
                    (long long)(k < 2 ? tt[lists[k][i]]->id : res[lists[k][i]]->id));
            if (strcmp(want, got[k]) != 0)
                fail_msg("row %zu (%s), list %d: want %s, got %s", row, rows[row].policy, k,
                         want, got[k]);
        }
        /* Every resource holds some tag of the group whatever the policy. */
        assert_string_equal(query(f, 0, "Lv.*"), ids(f, 4, root.id, mid.id, leaf.id, sib.id));
        assert_string_equal(query(f, 0, "Lv.* and not Lv.b"),
                            strcmp(rows[row].policy, "union") == 0
                                ? ids(f, 2, root.id, sib.id)
                                : strcmp(rows[row].policy, "child-wins") == 0
                                      ? ids(f, 3, root.id, leaf.id, sib.id)
                                      : ids(f, 4, root.id, mid.id, leaf.id, sib.id));
        /* The store agrees as of the same revision. */
        assert_string_equal(store_eff(f, rev, leaf.id), got[0]);
        assert_string_equal(store_eff(f, rev, mid.id), got[1]);
        assert_string_equal(query(f, rev, "Lv.a"), got[2]);
        assert_string_equal(query(f, rev, "Lv.b"), got[3]);
        assert_string_equal(query(f, rev, "Lv.c"), got[4]);
        assert_string_equal(query(f, rev, "Lv.* and not Lv.b"), query(f, 0, "Lv.* and not Lv.b"));
        {
            const struct eng_snap *s = engine_acquire(e);
            assert_int_equal(eng__effective_check(s, msg, sizeof(msg)), 0);
            engine_release(e, s);
        }
    }
    f->cx.engine = NULL;
    engine_free(e);
}

/* reject: an assignment above or below another tag of the group, a move bringing two
 * together, a tag joining the group and the switch itself are refused while they conflict. */
static void test_reject(void **state)
{
    struct fixture *f = *state;
    struct resource top = put(f, "folder", "rtop", NULL, NULL);
    struct resource sub = put(f, "folder", "rsub", "rtop", NULL);
    struct resource other = put(f, "folder", "rother", NULL, NULL);
    struct tag t[2] = {make(f, "Rj.a"), make(f, "Rj.b")};
    struct tag late = make(f, "Rj.late");
    struct group g = make_group(f, "Rj", t, 2);
    struct tag_input tin;
    struct tag out;
    struct tg_err err;
    int rc;

    assert_int_equal(set_policy(f, g.id, "reject", &err), 0);
    assign(f, top.id, t[0].id);
    rc = core_assign_add(&f->cx, sub.id, &t[1].id, 1, NULL, NULL, NULL, &err);
    assert_int_equal(rc, TG_ECONFLICT);
    assert_non_null(strstr(err.msg, "Rj.a"));
    assign(f, sub.id, t[0].id); /* the same tag again is no conflict */
    assign(f, other.id, t[1].id);
    /* Moving `other` below `top` would bring Rj.b under Rj.a. */
    put(f, "folder", "rother", "rtop", &rc);
    assert_int_equal(rc, TG_ECONFLICT);
    /* A tag with assignments joining the group. */
    assign(f, sub.id, late.id);
    memset(&tin, 0, sizeof(tin));
    tin.has_group = true;
    tin.group_id = g.id;
    assert_int_equal(core_tag_update(&f->cx, late.id, &tin, 0, &out, &err), TG_ECONFLICT);
    fixture_next_txn(f);
    /* Switching a group with conflicts to reject names how many resources have one. */
    assert_int_equal(set_policy(f, g.id, "union", &err), 0);
    assert_int_equal(core_tag_update(&f->cx, late.id, &tin, 0, &out, &err), 0);
    rc = set_policy(f, g.id, "reject", &err);
    assert_int_equal(rc, TG_ECONFLICT);
    assert_non_null(strstr(err.msg, "1 resource"));
    /* Bad names are bad input. */
    assert_int_equal(set_policy(f, g.id, "nearest", &err), TG_EINVAL);
}

/* ---- the engine and the store agree ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33) % n;
}

#define NRES 48
#define NTAGS 8

/* Random trees, assignments (some expiring), moves and policies: after every round the
 * engine's effective tags and effective queries equal the store's as of the same revision.
 * Tags 0-2 are one exclusive group, 3-5 another (with a subtree: Dg.x.*), 6-7 in none. */
static void test_engine_and_store_agree(void **state)
{
    struct fixture *f = *state;
    static const char *const names[NTAGS] = {"Dg.p.a", "Dg.p.b", "Dg.p.c", "Dg.x.a",
                                             "Dg.x.b", "Dg.x.c", "Df.a",   "Df.b"};
    static const char *const policies[] = {"union", "child-wins", "parent-wins", "reject"};
    static const char *const queries[] = {"Dg.p.a", "Dg.p.b", "Dg.p.c", "Dg.x.a",
                                          "Dg.x.b", "Dg.x.c", "Df.a",   "Dg.p.*",
                                          "Dg.x.*", "Dg.*",   "Dg.p.a or Dg.x.b",
                                          "Df.* and not Dg.p.b", "not Dg.x.a"};
    struct tag t[NTAGS];
    struct group g[2];
    struct resource r[NRES];
    int parent[NRES];
    struct engine *e = NULL;
    struct tg_err err;
    int64_t t0 = f->cx.now;

    rng_state = 20261207;
    for (int i = 0; i < NTAGS; i++)
        t[i] = make(f, names[i]);
    g[0] = make_group(f, "DgP", t, 3);
    g[1] = make_group(f, "DgX", t + 3, 3);
    for (int i = 0; i < NRES; i++) {
        char key[16];
        parent[i] = i == 0 || rnd(6) == 0 ? -1 : (int)rnd((uint32_t)i);
        snprintf(key, sizeof(key), "d%d", i);
        r[i] = put(f, "folder", key, parent[i] >= 0 ? r[parent[i]].key : NULL, NULL);
    }
    fixture_next_txn_engine(f, &e, false);
    for (int round = 0; round < 12; round++) {
        struct core_ctx sys;
        int64_t rev;
        int removed;

        /* Assignments: refusals (exclusive, reject) are part of the game. */
        for (int k = 0; k < 30; k++) {
            int64_t tag = t[rnd(NTAGS)].id;
            int64_t rid = r[rnd(NRES)].id;
            int64_t until = rnd(3) == 0 ? t0 + 1000 * (round + 1 + (int64_t)rnd(4)) : 0;
            core_assign_add_until(&f->cx, rid, &tag, 1, NULL, until, NULL, NULL, &err);
        }
        for (int k = 0; k < 4; k++) {
            int64_t rid = r[rnd(NRES)].id;
            core_assign_remove(&f->cx, rid, t[rnd(NTAGS)].id, &err);
        }
        /* Moves keep parents below their children's ids, so no cycle can form. */
        for (int k = 0; k < 3; k++) {
            int i = 1 + (int)rnd(NRES - 1), p = rnd(4) == 0 ? -1 : (int)rnd((uint32_t)i), rc;
            put(f, "folder", r[i].key, p >= 0 ? r[p].key : NULL, &rc);
            if (rc == 0)
                parent[i] = p;
            else
                assert_int_equal(rc, TG_ECONFLICT);
        }
        set_policy(f, g[0].id, policies[rnd(4)], &err);
        set_policy(f, g[1].id, policies[rnd(4)], &err);
        fixture_next_txn_engine(f, &e, true);
        /* Time passes: what is due is swept, as the pipeline does before the next batch. */
        core_ctx_init(&sys, f->conn, &f->a, true);
        sys.now = t0 + 1000 * (round + 1);
        assert_int_equal(core_expiry_sweep(&sys, sys.now, 1000, &removed, &err), 0);
        fixture_next_txn_engine(f, &e, true);
        rev = snap_rev(e);
        for (int i = 0; i < NRES; i++) {
            const char *a = eng_eff(f, e, r[i].id), *b = store_eff(f, rev, r[i].id);
            if (strcmp(a, b) != 0)
                fail_msg("round %d, resource %d: engine %s, store %s", round, i, a, b);
        }
        for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
            const char *a = query(f, 0, queries[k]), *b = query(f, rev, queries[k]);
            if (strcmp(a, b) != 0)
                fail_msg("round %d, query %s: engine %s, store %s", round, queries[k], a, b);
            eng__fused = false;
            a = query(f, 0, queries[k]);
            eng__fused = true;
            if (strcmp(a, b) != 0)
                fail_msg("round %d, query %s unfused: engine %s, store %s", round, queries[k],
                         a, b);
        }
    }
    f->cx.engine = NULL;
    engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine_policies, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reject, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_engine_and_store_agree, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
