/* tests/unit/test_core_resources.c: resources, inheritance, assignments and their rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "fixture.h"

static int64_t tag_id(struct fixture *f, const char *name)
{
    struct tag t;
    struct tg_err err;
    assert_int_equal(core_tag_ensure(&f->cx, name, &t, &err), 0);
    return t.id;
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

static void test_inheritance(void **state)
{
    struct fixture *f = *state;
    struct resource top = put(f, "folder", "top", NULL, NULL);
    struct resource sub = put(f, "folder", "sub", "folder", "top");
    struct resource file = put(f, "file", "a.txt", "folder", "sub");
    int64_t t1 = tag_id(f, "Secret"), t2 = tag_id(f, "Project.X"), t3 = tag_id(f, "Mine");
    struct assignment *as;
    struct tg_err err;
    size_t n;

    assert_int_equal(core_assign_add(&f->cx, top.id, &t1, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, sub.id, &t2, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, file.id, &t3, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, file.id, &t1, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_list(&f->cx, file.id, false, &as, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(core_assign_list(&f->cx, file.id, true, &as, &n, &err), 0);
    /* Secret is direct and inherited: listed once, as direct. */
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        if (as[i].tag.id == t2) {
            assert_int_equal(as[i].inherited_from, sub.id);
            assert_string_equal(as[i].from_key, "sub");
        } else {
            assert_int_equal(as[i].inherited_from, 0);
        }
    }
}

/* The brief list (the answer of a write) holds what the full list holds, in the same order. */
static void test_brief_list(void **state)
{
    struct fixture *f = *state;
    struct resource r = put(f, "file", "b.txt", NULL, NULL);
    /* Inserted out of order, and with name_key order differing from id order. */
    int64_t ids[4] = {tag_id(f, "zeta"), tag_id(f, "Alpha"), tag_id(f, "mid.Sub"),
                      tag_id(f, "beta")};
    struct assignment *full, *brief;
    struct tg_err err;
    size_t nf, nb;

    assert_int_equal(core_assign_add(&f->cx, r.id, ids, 4, "auto", NULL, NULL, &err), 0);
    assert_int_equal(core_assign_list(&f->cx, r.id, false, &full, &nf, &err), 0);
    assert_int_equal(core_assign_list_brief(&f->cx, r.id, &brief, &nb, &err), 0);
    assert_int_equal(nb, 4);
    assert_int_equal(nf, nb);
    for (size_t i = 0; i < nb; i++) {
        assert_int_equal(brief[i].id, full[i].id);
        assert_int_equal(brief[i].resource_id, r.id);
        assert_int_equal(brief[i].tag.id, full[i].tag.id);
        assert_string_equal(brief[i].tag.name, full[i].tag.name);
        assert_string_equal(brief[i].tag.name_key, full[i].tag.name_key);
        assert_string_equal(brief[i].context, "auto");
        assert_int_equal(brief[i].added_at, full[i].added_at);
        assert_int_equal(brief[i].inherited_from, 0);
        if (i > 0)
            assert_true(strcmp(brief[i - 1].tag.name_key, brief[i].tag.name_key) < 0);
    }
    assert_string_equal(brief[0].tag.name, "Alpha");
    assert_string_equal(brief[3].tag.name, "zeta");
    /* An empty resource lists nothing. */
    r = put(f, "file", "empty", NULL, NULL);
    assert_int_equal(core_assign_list_brief(&f->cx, r.id, &brief, &nb, &err), 0);
    assert_int_equal(nb, 0);
}

static void test_ensure_id(void **state)
{
    struct fixture *f = *state;
    struct resource r = put(f, "file", "known", NULL, NULL), got;
    struct tg_err err;
    int64_t id = 0, id2 = 0;

    assert_int_equal(core_resource_ensure_id(&f->cx, "file", "known", &id, &err), 0);
    assert_int_equal(id, r.id);
    /* Missing: created bare, as core_resource_ensure does. */
    assert_int_equal(core_resource_ensure_id(&f->cx, "file", "new", &id, &err), 0);
    assert_true(id > r.id);
    assert_int_equal(core_resource_get(&f->cx, "file", "new", &got, &err), 0);
    assert_int_equal(got.id, id);
    assert_int_equal(core_resource_ensure_id(&f->cx, "file", "new", &id2, &err), 0);
    assert_int_equal(id2, id);
    /* The same checks of kind and key. */
    assert_int_equal(core_resource_ensure_id(&f->cx, "", "x", &id, &err), TG_EINVAL);
}

static void test_cycles_refused(void **state)
{
    struct fixture *f = *state;
    struct resource_input in;
    struct resource r;
    struct tg_err err;

    put(f, "folder", "a", NULL, NULL);
    put(f, "folder", "b", "folder", "a");
    memset(&in, 0, sizeof(in));
    in.has_parent = true;
    in.parent_kind = "folder";
    in.parent_key = "b";
    assert_int_equal(core_resource_put(&f->cx, "folder", "a", &in, &r, NULL, &err), TG_ERULE);
    in.parent_key = "a";
    assert_int_equal(core_resource_put(&f->cx, "folder", "a", &in, &r, NULL, &err), TG_ERULE);
    assert_int_equal(core_resource_ref_check("Folder", "x", &err), TG_EINVAL);
    assert_int_equal(core_resource_ref_check("folder", "", &err), TG_EINVAL);
}

static void same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* An add or a replace answers with the resource's tags without reading them back: the answer
 * must be what core_assign_list_brief reads after it, field by field and in order, through
 * duplicates, tags already there, removals, exclusive groups, deleted tags and the limit.
 * These are the rounds; with `engine`, the writer reads resources'
 * tags from an engine that is caught up after some commits and not after others, and tags
 * change now and then: whenever the engine answers, it must answer what the store would. */
static void write_answer_rounds(struct fixture *f, bool engine)
{
    static const char *const contexts[] = {"manual", "auto", "sync"};
    struct resource rs[2] = {put(f, "file", "w1", NULL, NULL), put(f, "file", "w2", NULL, NULL)};
    int64_t ids[7];
    struct group_input gi;
    struct tag_input ti;
    struct group g;
    struct tag t;
    struct tg_err err;
    unsigned seed = 20261123;
    int saved = core_limits.max_tags_per_resource, ok = 0, failed = 0, from_engine = 0;
    struct engine *e = NULL;

    memset(&ti, 0, sizeof(ti));
    ti.name = "Colored";
    ti.display_name = "Shown name";
    ti.has_display_name = true;
    ti.color = "#AA0011";
    ti.has_color = true;
    assert_int_equal(core_tag_create(&f->cx, &ti, &t, &err), 0);
    ids[0] = t.id;
    ids[1] = tag_id(f, "zulu");
    ids[2] = tag_id(f, "Alpha.beta");
    ids[3] = tag_id(f, "Ex.one");
    ids[4] = tag_id(f, "Ex.two");
    ids[5] = tag_id(f, "gone");
    ids[6] = tag_id(f, "mike");
    memset(&gi, 0, sizeof(gi));
    gi.name = "Exclusive";
    gi.has_exclusive = true;
    gi.exclusive = true;
    assert_int_equal(core_group_create(&f->cx, &gi, &g, &err), 0);
    assert_int_equal(core_group_set_tags(&f->cx, g.id, &ids[3], 2, &err), 0);
    assert_int_equal(core_tag_delete(&f->cx, ids[5], false, false, 0, &err), 0);
    core_limits.max_tags_per_resource = 4;
    if (engine) {
        fixture_next_txn_engine(f, &e, false);
        f->cx.engine = e;
        core_writer_engine(true);
    }
    for (int round = 0; round < 400; round++) {
        struct resource *r = &rs[rand_r(&seed) % 2];
        int64_t want[4];
        size_t n = (size_t)(rand_r(&seed) % 4), nout = 0, nread = 0;
        struct assignment *out = NULL, *read = NULL;
        bool replace = rand_r(&seed) % 3 == 0;
        int rc;
        for (size_t i = 0; i < n; i++)
            want[i] = ids[rand_r(&seed) % 7];
        if (!replace && n == 0)
            n = 1, want[0] = ids[0];
        /* Each round is one request, with a revision of its own, as the writer runs them: a
         * revision taken by a request that was rolled back is taken again by the next. */
        f->cx.rev = 0;
        f->cx.seq = 0;
        if (engine) {
            const struct eng_snap *snap = core_writer_snap(&f->cx, r->id);
            if (snap) {
                from_engine++;
                engine_release(e, snap);
            }
        }
        assert_int_equal(store_savepoint(f->conn, &err), 0);
        rc = replace ? core_assign_replace(&f->cx, r->id, want, n, contexts[round % 3], &out,
                                           &nout, &err)
                     : core_assign_add(&f->cx, r->id, want, n, contexts[round % 3], &out, &nout,
                                       &err);
        if (rc) {
            /* Only the rules may refuse: the exclusive group, the deleted tag, the limit. */
            if (!(rc == TG_ECONFLICT || rc == TG_ENOTFOUND || rc == TG_ERULE))
                fail_msg("round %d: %d %s", round, rc, err.msg);
            assert_true(rc == TG_ECONFLICT || rc == TG_ENOTFOUND || rc == TG_ERULE);
            failed++;
            store_savepoint_rollback(f->conn);
            continue;
        }
        ok++;
        assert_int_equal(store_savepoint_release(f->conn, &err), 0);
        assert_int_equal(core_assign_list_brief(&f->cx, r->id, &read, &nread, &err), 0);
        assert_int_equal(nout, nread);
        for (size_t i = 0; i < nout; i++) {
            if (!engine) {
                /* The engine keeps ranks, not ids: with it only the order is compared. */
                assert_int_equal(out[i].id, read[i].id);
                assert_int_equal(out[i].seq, read[i].seq);
            }
            assert_int_equal(out[i].resource_id, read[i].resource_id);
            assert_int_equal(out[i].added_at, read[i].added_at);
            assert_int_equal(out[i].tag.id, read[i].tag.id);
            same_str(out[i].context, read[i].context);
            same_str(out[i].added_by, read[i].added_by);
            same_str(out[i].tag.name, read[i].tag.name);
            same_str(out[i].tag.display_name, read[i].tag.display_name);
            same_str(out[i].tag.color, read[i].tag.color);
            same_str(out[i].tag.name_key, read[i].tag.name_key);
        }
        if (engine) {
            /* The order by seq is the order of assigning, as read from the store by id. */
            for (size_t i = 0; i < nout; i++)
                for (size_t j = 0; j < nout; j++)
                    assert_int_equal(out[i].seq < out[j].seq, read[i].seq < read[j].seq);
            if (round % 40 == 39) {
                /* A tag changed: the engine is stale for every resource until caught up. */
                struct tag_input ci;
                struct tag ct;
                memset(&ci, 0, sizeof(ci));
                ci.has_color = true;
                ci.color = round % 80 == 39 ? "#00AA11" : "#AA0011";
                assert_int_equal(core_tag_update(&f->cx, ids[0], &ci, 0, &ct, &err), 0);
            }
            fixture_next_txn_engine(f, &e, rand_r(&seed) % 2);
        } else if (round % 50 == 49) {
            fixture_next_txn(f);
        }
    }
    core_limits.max_tags_per_resource = saved;
    /* Both paths were taken many times. */
    assert_true(ok > 150);
    assert_true(failed > 30);
    if (engine) {
        assert_true(from_engine > 60);
        assert_true(from_engine < 340);
        core_writer_engine(false);
        f->cx.engine = NULL;
        engine_free(e);
    }
}

/* The writer finds a resource by key in the engine only while nothing changed it since the
 * engine's snapshot: deleted in the writer's transaction, or committed but not yet applied,
 * the key names the resource made again, not the deleted one. */
static void test_ensure_id_from_the_engine(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    struct resource r = put(f, "file", "k1", NULL, NULL);
    struct tg_err err;
    int64_t id = 0, again = 0;

    put(f, "file", "k2", NULL, NULL); /* k1's id is not the largest: SQLite would reuse it */
    fixture_next_txn_engine(f, &e, false);
    f->cx.engine = e;
    core_writer_engine(true);
    assert_int_equal(core_resource_ensure_id(&f->cx, "file", "k1", &id, &err), 0);
    assert_int_equal(id, r.id);
    assert_int_equal(core_resource_delete(&f->cx, "file", "k1", &err), 0);
    assert_int_equal(core_resource_ensure_id(&f->cx, "file", "k1", &again, &err), 0);
    assert_true(again > 0 && again != r.id);
    /* Committed; the engine still maps k1 to the deleted one. */
    fixture_next_txn_engine(f, &e, false);
    assert_int_equal(core_resource_ensure_id(&f->cx, "file", "k1", &id, &err), 0);
    assert_int_equal(id, again);
    fixture_next_txn_engine(f, &e, true);
    assert_int_equal(core_resource_ensure_id(&f->cx, "file", "k1", &id, &err), 0);
    assert_int_equal(id, again);
    core_writer_engine(false);
    f->cx.engine = NULL;
    engine_free(e);
}

static void test_write_answer_is_read_back(void **state)
{
    write_answer_rounds(*state, false);
}

static void test_write_answer_from_the_engine(void **state)
{
    write_answer_rounds(*state, true);
}

static void test_exclusive_group(void **state)
{
    struct fixture *f = *state;
    struct group_input gi;
    struct group g;
    struct tg_err err;
    struct resource r = put(f, "flag", "f1", NULL, NULL);
    int64_t ids[2] = {tag_id(f, "Env.prod"), tag_id(f, "Env.dev")};

    memset(&gi, 0, sizeof(gi));
    gi.name = "Environment";
    gi.has_exclusive = true;
    gi.exclusive = true;
    assert_int_equal(core_group_create(&f->cx, &gi, &g, &err), 0);
    assert_int_equal(core_group_set_tags(&f->cx, g.id, ids, 2, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, r.id, &ids[0], 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, r.id, &ids[1], 1, NULL, NULL, NULL, &err), TG_ECONFLICT);
    /* Replacing switches within the group. */
    assert_int_equal(core_assign_replace(&f->cx, r.id, &ids[1], 1, NULL, NULL, NULL, &err), 0);
}

static void test_limit_and_remove(void **state)
{
    struct fixture *f = *state;
    struct resource r = put(f, "file", "many", NULL, NULL);
    int64_t ids[4] = {tag_id(f, "m1"), tag_id(f, "m2"), tag_id(f, "m3"), tag_id(f, "m4")};
    struct tg_err err;
    int saved = core_limits.max_tags_per_resource;

    core_limits.max_tags_per_resource = 3;
    /* The writer wraps each request in a savepoint; a failed request is rolled back whole. */
    assert_int_equal(store_savepoint(f->conn, &err), 0);
    assert_int_equal(core_assign_add(&f->cx, r.id, ids, 4, NULL, NULL, NULL, &err), TG_ERULE);
    store_savepoint_rollback(f->conn);
    core_limits.max_tags_per_resource = saved;
    assert_int_equal(core_assign_remove(&f->cx, r.id, ids[0], &err), TG_ENOTFOUND);
}

static void test_delete_detaches(void **state)
{
    struct fixture *f = *state;
    struct resource p = put(f, "folder", "p", NULL, NULL), c;
    struct resource kid = put(f, "file", "k", "folder", "p");
    int64_t t = tag_id(f, "T");
    struct tg_err err;

    assert_int_equal(core_assign_add(&f->cx, p.id, &t, 1, NULL, NULL, NULL, &err), 0);
    assert_int_equal(core_resource_delete(&f->cx, "folder", "p", &err), 0);
    assert_int_equal(core_resource_get(&f->cx, "folder", "p", &c, &err), TG_ENOTFOUND);
    assert_int_equal(core_resource_get(&f->cx, "file", "k", &c, &err), 0);
    assert_int_equal(c.parent_id, 0);
    (void)kid;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inheritance, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_brief_list, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_answer_from_the_engine, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_id_from_the_engine, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_answer_is_read_back, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_ensure_id, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cycles_refused, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_exclusive_group, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_limit_and_remove, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_delete_detaches, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
