/* tests/unit/test_engine.c: the in-memory engine against the store: loading, queries, catching
 * up after commits, snapshot isolation, and a randomized cross-check against core's SQL reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/history.h"
#include "engine/engine.h"
#include "engine/engine_int.h"
#include <roaring/containers/containers.h>
#include "util/sbuf.h"
#include "fixture.h"

/* Commits the fixture's transaction, brings the engine up to date (opening it when *e is
 * NULL) and starts the next transaction. */
static void apply(struct fixture *f, struct engine **e)
{
    fixture_next_txn_engine(f, e, true);
}

static int64_t tag(struct fixture *f, const char *name)
{
    struct tag t;
    struct tg_err err;
    assert_int_equal(core_tag_ensure(&f->cx, name, &t, &err), 0);
    return t.id;
}

static int64_t res(struct fixture *f, const char *kind, const char *key, const char *pkey)
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
    return r.id;
}

static void add(struct fixture *f, int64_t r, int64_t t)
{
    struct tg_err err;
    assert_int_equal(core_assign_add(&f->cx, r, &t, 1, NULL, NULL, NULL, &err), 0);
}

/* Runs `src` on a fresh snapshot; returns the ids as "1,2,3" (arena) or "error@COL". */
static const char *run_snap(struct fixture *f, const struct eng_snap *s, const char *src,
                            bool effective)
{
    struct eng_query o;
    struct eng_result res;
    struct qnode *q;
    struct qerr qe;
    struct tg_err err;
    char buf[4096];
    size_t len = 0;

    memset(&o, 0, sizeof(o));
    o.ws_id = f->cx.ws_id;
    o.effective = effective;
    o.archived = true;
    o.limit = 1000;
    if (query_parse(&f->a, src, strlen(src), &q, &qe) != 0 ||
        eng_query_run(s, &f->a, q, &o, &res, &qe, &err) != 0)
        return arena_printf(&f->a, "error@%d", qe.col);
    assert_int_equal(res.total, res.n);
    buf[0] = '\0';
    for (size_t i = 0; i < res.n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%lld", i ? "," : "",
                                (long long)res.ids[i]);
    return arena_strdup(&f->a, buf);
}

static const char *run(struct fixture *f, struct engine *e, const char *src, bool effective)
{
    const struct eng_snap *s = engine_acquire(e);
    const char *out = run_snap(f, s, src, effective);
    engine_release(e, s);
    return out;
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

static void test_load_and_query(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    int64_t top = res(f, "folder", "top", NULL), a = res(f, "file", "a", "top"),
            b = res(f, "file", "b", NULL), c = res(f, "column", "c", NULL);
    int64_t de = tag(f, "Country.DE"), fr = tag(f, "Country.FR"), conf = tag(f, "Confidential");
    int64_t country = tag(f, "Country"), sp = tag(f, "Data Owner");

    add(f, a, de);
    add(f, b, fr);
    add(f, b, conf);
    add(f, c, country);
    add(f, top, conf);
    add(f, c, sp);
    apply(f, &e);

    assert_string_equal(run(f, e, "Confidential", false), ids(f, 2, top, b));
    assert_string_equal(run(f, e, "Country", false), ids(f, 1, c));
    assert_string_equal(run(f, e, "Country.*", false), ids(f, 3, a, b, c));
    assert_string_equal(run(f, e, "has:country", false), ids(f, 3, a, b, c));
    assert_string_equal(run(f, e, "Country.* and not Confidential", false), ids(f, 2, a, c));
    assert_string_equal(run(f, e, "not Confidential and Country.*", false), ids(f, 2, a, c));
    assert_string_equal(run(f, e, "not Confidential", false), ids(f, 2, a, c));
    assert_string_equal(run(f, e, "country.de or COUNTRY.FR", false), ids(f, 2, a, b));
    assert_string_equal(run(f, e, "kind:file", false), ids(f, 2, a, b));
    assert_string_equal(run(f, e, "kind:nothing", false), "");
    assert_string_equal(run(f, e, "kind:file and not (Country.FR or Confidential)", false),
                        ids(f, 1, a));
    assert_string_equal(run(f, e, "\"Data Owner\"", false), ids(f, 1, c));
    assert_string_equal(run(f, e, "not not Confidential", false), ids(f, 2, top, b));
    /* Effective: a inherits Confidential from top. */
    assert_string_equal(run(f, e, "Confidential", true), ids(f, 3, top, a, b));
    assert_string_equal(run(f, e, "Country.* and not Confidential", true), ids(f, 1, c));
    /* Unknown and invalid names point at their column. */
    assert_string_equal(run(f, e, "Confidential and Nope", false), "error@18");
    assert_string_equal(run(f, e, "Country.DE.", false), "error@1");
    /* A scope keeps the resource and its subtree only. */
    {
        const struct eng_snap *snap = engine_acquire(e);
        struct eng_query o;
        struct eng_result r;
        struct qnode *q;
        struct qerr qe;
        struct tg_err err;
        memset(&o, 0, sizeof(o));
        o.ws_id = f->cx.ws_id;
        o.limit = 10;
        o.within = top;
        assert_int_equal(query_parse(&f->a, "Country.* or Confidential", 25, &q, &qe), 0);
        assert_int_equal(eng_query_run(snap, &f->a, q, &o, &r, &qe, &err), 0);
        assert_int_equal(r.total, 2);
        assert_int_equal(r.ids[0], top);
        assert_int_equal(r.ids[1], a);
        o.within = c;
        assert_int_equal(eng_query_run(snap, &f->a, q, &o, &r, &qe, &err), 0);
        assert_int_equal(r.total, 1);
        assert_int_equal(r.ids[0], c);
        engine_release(e, snap);
    }
    (void)fr;
    engine_free(e);
}

static void test_catch_up_and_isolation(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    struct tg_err err;
    const struct eng_snap *old;
    int64_t x = res(f, "file", "x", NULL), y = res(f, "file", "y", NULL);
    int64_t t1 = tag(f, "P.One"), t2 = tag(f, "P.Two");
    int64_t z, t3;

    apply(f, &e); /* empty assignments */
    assert_string_equal(run(f, e, "P.*", false), "");
    add(f, x, t1);
    add(f, y, t2);
    apply(f, &e);
    assert_string_equal(run(f, e, "P.*", false), ids(f, 2, x, y));
    /* A reader's snapshot does not move under it. */
    old = engine_acquire(e);
    add(f, x, t2);
    t3 = tag(f, "P.Three.Deep");
    z = res(f, "folder", "z", NULL);
    add(f, z, t3);
    apply(f, &e);
    assert_string_equal(run_snap(f, old, "P.Two", false), ids(f, 1, y));
    assert_string_equal(run_snap(f, old, "P.Three.Deep", false), "error@1");
    engine_release(e, old);
    assert_string_equal(run(f, e, "P.Two", false), ids(f, 2, x, y));
    assert_string_equal(run(f, e, "P.Three.*", false), ids(f, 1, z));
    assert_string_equal(run(f, e, "P.*", false), ids(f, 3, x, y, z));
    /* Removing one of two tags of P keeps the resource in P.* */
    assert_int_equal(core_assign_remove(&f->cx, x, t1, &err), 0);
    apply(f, &e);
    assert_string_equal(run(f, e, "P.One", false), "");
    assert_string_equal(run(f, e, "P.*", false), ids(f, 3, x, y, z));
    assert_int_equal(core_assign_remove(&f->cx, x, t2, &err), 0);
    apply(f, &e);
    assert_string_equal(run(f, e, "P.*", false), ids(f, 2, y, z));
    /* Soft delete hides the tag and takes it out of its parent's subtree; restore is exact. */
    assert_int_equal(core_tag_delete(&f->cx, t2, false, false, 0, &err), 0);
    apply(f, &e);
    assert_string_equal(run(f, e, "P.Two", false), "error@1");
    assert_string_equal(run(f, e, "P.*", false), ids(f, 1, z));
    {
        struct tag t;
        assert_int_equal(core_tag_restore(&f->cx, t2, &t, &err), 0);
    }
    apply(f, &e);
    assert_string_equal(run(f, e, "P.*", false), ids(f, 2, y, z));
    /* Rename moves the name in the dictionary; the old one stays an alias (core/aliases.c). */
    {
        struct tag_input in;
        struct tag t;
        memset(&in, 0, sizeof(in));
        in.name = "P.Zwei";
        assert_int_equal(core_tag_update(&f->cx, t2, &in, 0, &t, &err), 0);
    }
    apply(f, &e);
    assert_string_equal(run(f, e, "P.Two", false), ids(f, 1, y));
    assert_string_equal(run(f, e, "P.Zwei", false), ids(f, 1, y));
    /* Deleting a resource removes it everywhere; purging a tag too. */
    assert_int_equal(core_resource_delete(&f->cx, "file", "y", &err), 0);
    apply(f, &e);
    assert_string_equal(run(f, e, "P.*", false), ids(f, 1, z));
    assert_string_equal(run(f, e, "kind:file", false), ids(f, 1, x));
    assert_int_equal(core_tag_delete(&f->cx, t3, false, true, 0, &err), 0);
    apply(f, &e);
    assert_string_equal(run(f, e, "P.Three.Deep", false), "error@1");
    assert_string_equal(run(f, e, "P.*", false), "");
    {
        const struct eng_snap *s = engine_acquire(e);
        struct eng_stats st;
        eng_snap_stats(s, &st);
        assert_int_equal(st.assignments, 0);
        assert_int_equal(st.resources, 2);
        assert_int_equal(st.rev, core_current_rev(&f->cx));
        engine_release(e, s);
    }
    /* A catch-up with nothing new keeps the snapshot. */
    assert_int_equal(store_commit(f->conn, &err), 0);
    old = engine_acquire(e);
    assert_int_equal(engine_catch_up(e, f->conn, &err), 0);
    {
        const struct eng_snap *s = engine_acquire(e);
        assert_ptr_equal(s, old);
        engine_release(e, s);
    }
    engine_release(e, old);
    assert_int_equal(store_begin_write(f->conn, &err), 0);
    engine_free(e);
}

static void test_paging_and_filters(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    struct eng_query o;
    struct eng_result r;
    struct qnode *q;
    struct qerr qe;
    struct tg_err err;
    int64_t t = tag(f, "Many"), first = 0;
    const struct eng_snap *s;

    for (int i = 0; i < 25; i++) {
        char key[16];
        int64_t id;
        snprintf(key, sizeof(key), "r%02d", i);
        id = res(f, i % 2 ? "file" : "folder", key, NULL);
        if (i == 0)
            first = id;
        add(f, id, t);
    }
    {
        struct resource_input in;
        struct resource out;
        memset(&in, 0, sizeof(in));
        in.has_archived = true;
        in.archived = true;
        assert_int_equal(core_resource_put(&f->cx, "folder", "r00", &in, &out, NULL, &err), 0);
    }
    apply(f, &e);
    s = engine_acquire(e);
    assert_int_equal(query_parse(&f->a, "Many", 4, &q, &qe), 0);
    memset(&o, 0, sizeof(o));
    o.ws_id = f->cx.ws_id;
    o.limit = 10;
    assert_int_equal(eng_query_run(s, &f->a, q, &o, &r, &qe, &err), 0);
    assert_int_equal(r.total, 24); /* the archived one is left out */
    assert_int_equal(r.n, 10);
    assert_true(r.more);
    assert_int_equal(r.ids[0], first + 1);
    o.after_id = r.ids[9];
    assert_int_equal(eng_query_run(s, &f->a, q, &o, &r, &qe, &err), 0);
    assert_int_equal(r.n, 10);
    assert_int_equal(r.ids[0], first + 11);
    o.after_id = r.ids[9];
    assert_int_equal(eng_query_run(s, &f->a, q, &o, &r, &qe, &err), 0);
    assert_int_equal(r.n, 4);
    assert_false(r.more);
    o.after_id = 0;
    o.archived = true;
    o.kind = "folder";
    o.limit = 0;
    assert_int_equal(eng_query_run(s, &f->a, q, &o, &r, &qe, &err), 0);
    assert_int_equal(r.total, 13);
    assert_int_equal(r.n, 0);
    /* Another workspace sees none of it. */
    o.ws_id = f->cx.ws_id + 1000;
    assert_int_equal(eng_query_run(s, &f->a, q, &o, &r, &qe, &err), TG_EINVAL);
    engine_release(e, s);
    engine_free(e);
}

/* A reading context of the fixture's principal; the engine answers when `e` is set (it
 * travels in the context, as the server's do). */
static void read_ctx(struct fixture *f, struct engine *e, struct core_ctx *cx)
{
    core_ctx_init(cx, f->conn, &f->a, false);
    cx->who = f->cx.who;
    cx->authed = true;
    cx->org_id = f->cx.org_id;
    cx->ws_id = f->cx.ws_id;
    cx->engine = e;
}

/* core_tag_usage answered with the engine, paged by 3, as "1,2,3". */
static const char *usage_str(struct fixture *f, struct engine *e, const struct tag *t, bool desc)
{
    struct core_ctx cx;
    char buf[1024];
    size_t len = 0;
    int64_t after = 0;
    bool more = true;

    buf[0] = '\0';
    read_ctx(f, e, &cx);
    while (more) {
        struct resource *items;
        struct tg_err err;
        size_t n;
        assert_int_equal(core_tag_usage(&cx, t, desc, after, 3, &items, &n, &more, &err), 0);
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%lld", len ? "," : "",
                                    (long long)items[i].id);
        if (n)
            after = items[n - 1].id;
    }
    core_ctx_done(&cx);
    return arena_strdup(&f->a, buf);
}

/* Random operations; after each commit every tag query must equal core's SQL answer. */
static void test_random_against_sql(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    static const char *const names[] = {"A", "A.B", "A.B.C", "A.D", "E", "E.F", "E.F.G", "H"};
    enum { NT = sizeof(names) / sizeof(names[0]), NR = 24 };
    int64_t tags[NT], rids[NR];
    struct tg_err err;
    unsigned seed = 12345;

    for (int i = 0; i < NT; i++)
        tags[i] = tag(f, names[i]);
    for (int i = 0; i < NR; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        rids[i] = res(f, i % 3 ? "file" : "folder", key, NULL);
    }
    apply(f, &e);
    for (int round = 0; round < 60; round++) {
        for (int op = 0; op < 8; op++) {
            int r = rand_r(&seed) % NR, t = rand_r(&seed) % NT, what = rand_r(&seed) % 10;
            struct tag tg;
            tg_err_clear(&err);
            if (core_tag_get(&f->cx, tags[t], &tg, &err) != 0)
                continue;
            if (what < 5 && !tg.deleted) {
                core_assign_add(&f->cx, rids[r], &tags[t], 1, NULL, NULL, NULL, &err);
            } else if (what < 8) {
                core_assign_remove(&f->cx, rids[r], tags[t], &err);
            } else if (what == 8 && !tg.deleted && t != 0) {
                core_tag_delete(&f->cx, tags[t], true, false, 0, &err);
            } else if (what == 9 && tg.deleted) {
                core_tag_restore(&f->cx, tags[t], &tg, &err);
            }
        }
        apply(f, &e);
        for (int t = 0; t < NT; t++) {
            struct tag tg;
            for (int desc = 0; desc < 2; desc++) {
                struct resource *items;
                size_t n;
                bool more;
                char want[1024], src[64];
                size_t len = 0;
                assert_int_equal(core_tag_get(&f->cx, tags[t], &tg, &err), 0);
                snprintf(src, sizeof(src), desc ? "%s.*" : "%s", names[t]);
                if (tg.deleted) {
                    assert_string_equal(run(f, e, src, false), "error@1");
                    continue;
                }
                assert_int_equal(
                    core_tag_usage(&f->cx, &tg, desc, 0, 1000, &items, &n, &more, &err), 0);
                want[0] = '\0';
                for (size_t i = 0; i < n; i++)
                    len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%lld",
                                            i ? "," : "", (long long)items[i].id);
                if (strcmp(run(f, e, src, false), want) != 0)
                    fail_msg("round %d '%s': engine %s, sql %s", round, src,
                             run(f, e, src, false), want);
                if (strcmp(usage_str(f, e, &tg, desc), want) != 0)
                    fail_msg("round %d usage '%s': engine %s, sql %s", round, src,
                             usage_str(f, e, &tg, desc), want);
                /* The list's total, from SQL and from the engine. */
                {
                    struct core_ctx cx;
                    int64_t total = -1;
                    assert_int_equal(core_tag_usage_total(&f->cx, &tg, desc, &total, &err), 0);
                    assert_int_equal(total, (int64_t)n);
                    read_ctx(f, e, &cx);
                    total = -1;
                    assert_int_equal(core_tag_usage_total(&cx, &tg, desc, &total, &err), 0);
                    assert_int_equal(total, (int64_t)n);
                    core_ctx_done(&cx);
                }
            }
        }
    }
    engine_free(e);
}

/* Every page of core_tag_list under filter `tf`, as text: each record in full, the cursors and
 * the totals. With `e` the engine answers, without it SQL does. */
static const char *list_all(struct fixture *f, struct engine *e, struct tag_filter tf)
{
    struct core_ctx cx;
    struct sbuf out;
    const char *res;

    sbuf_init(&out, 0);
    read_ctx(f, e, &cx);
    tf.limit = 3;
    for (int page = 0; page < 100; page++) {
        struct tag *ts;
        const char *next;
        int64_t total = -1;
        size_t n;
        struct tg_err err;
        int rc = core_tag_list(&cx, &tf, &ts, &n, &next, &total, &err);
        if (rc) {
            sbuf_printf(&out, "error %d\n", rc);
            break;
        }
        sbuf_printf(&out, "page total=%lld\n", (long long)total);
        for (size_t i = 0; i < n; i++)
            sbuf_printf(&out, " %s|%s|%s|%lld|%lld|%s|%s\n", core_tag_json(&cx, &ts[i]),
                        ts[i].name_key, ts[i].display_name ? ts[i].display_name : "-",
                        (long long)ts[i].created_at, (long long)ts[i].updated_at,
                        ts[i].created_by ? ts[i].created_by : "-",
                        ts[i].source ? ts[i].source : "-");
        if (next == NULL)
            break;
        tf.cursor = next;
    }
    core_ctx_done(&cx);
    res = arena_strdup(&f->a, sbuf_str(&out));
    sbuf_release(&out);
    return res;
}

/* Random taxonomy edits; after each commit every tag list filter must read the same from the
 * engine as from SQL, page by page. */
static void test_tag_lists_against_sql(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    static const char *const names[] = {"Geo", "Geo.Land", "Geo.Land.Stadt", "Geo.Meer",
                                        "Farbe", "Farbe.Rot", "farbig", "Ümlaut.Ä",
                                        "PII", "PII.Email", "PII.Phone", "Zeta"};
    enum { NT = sizeof(names) / sizeof(names[0]) };
    static const char *const colors[] = {NULL, "#112233", "#ABCDEF"};
    static const char *const sources[] = {"curated", "ext", "other"};
    int64_t tags[NT], group, rf, rd;
    struct tg_err err;
    unsigned seed = 777;

    for (int i = 0; i < NT; i++)
        tags[i] = tag(f, names[i]);
    {
        struct group_input gi;
        struct group g;
        memset(&gi, 0, sizeof(gi));
        gi.name = "Palette";
        assert_int_equal(core_group_create(&f->cx, &gi, &g, &err), 0);
        group = g.id;
    }
    rf = res(f, "file", "f1", NULL);
    rd = res(f, "folder", "d1", NULL);
    apply(f, &e);
    for (int round = 0; round < 40; round++) {
        for (int op = 0; op < 6; op++) {
            int t = rand_r(&seed) % NT, what = rand_r(&seed) % 9;
            struct tag_input in;
            struct tag tg;
            char nn[64];
            tg_err_clear(&err);
            memset(&in, 0, sizeof(in));
            if (core_tag_get(&f->cx, tags[t], &tg, &err) != 0)
                continue;
            switch (what) {
            case 0:
                in.has_color = true;
                in.color = colors[rand_r(&seed) % 3];
                in.has_description = true;
                in.description = rand_r(&seed) % 2 ? "some words" : NULL;
                break;
            case 1:
                in.has_archived = true;
                in.archived = !tg.archived;
                break;
            case 2:
                in.has_source = true;
                in.source = sources[rand_r(&seed) % 3];
                break;
            case 3:
                in.has_group = true;
                in.group_id = rand_r(&seed) % 2 ? group : 0;
                in.has_display_name = true;
                in.display_name = rand_r(&seed) % 2 ? "Shown" : NULL;
                break;
            case 4:
                core_assign_add(&f->cx, rand_r(&seed) % 2 ? rf : rd, &tags[t], 1, NULL, NULL, NULL, &err);
                continue;
            case 5:
                core_assign_remove(&f->cx, rand_r(&seed) % 2 ? rf : rd, tags[t], &err);
                continue;
            case 6:
                if (tg.deleted)
                    core_tag_restore(&f->cx, tags[t], &tg, &err);
                else
                    core_tag_delete(&f->cx, tags[t], true, false, 0, &err);
                continue;
            case 7:
                in.has_l10n = true;
                in.l10n = rand_r(&seed) % 2 ? "{\"de-DE\":\"Wort\"}" : NULL;
                break;
            default: {
                /* Rename within the same parent: the subtree follows. */
                snprintf(nn, sizeof(nn), "%s%d", tg.name, round);
                if (strlen(nn) > 40 || strchr(tg.name, '.') != NULL)
                    continue;
                in.name = nn;
                break;
            }
            }
            if (!tg.deleted)
                core_tag_update(&f->cx, tags[t], &in, 0, &tg, &err);
        }
        apply(f, &e);
        {
            struct tag_filter fl[12];
            memset(fl, 0, sizeof(fl));
            fl[1].prefix = "geo";
            fl[2].q = "RB";
            fl[3].source = "ext";
            fl[4].excluded_source = "curated";
            fl[5].group_id = group;
            fl[6].archived = 2;
            fl[7].deleted = 1;
            fl[7].archived = 1;
            fl[8].deleted = 2;
            fl[9].kind = "file";
            fl[10].kind = "folder";
            fl[10].prefix = "PII.";
            fl[11].parent_id = tags[0];
            for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
                const char *sql = list_all(f, NULL, fl[i]), *eng = list_all(f, e, fl[i]);
                if (strcmp(sql, eng) != 0)
                    fail_msg("round %d filter %zu:\nengine:\n%s\nsql:\n%s", round, i, eng, sql);
            }
        }
    }
    engine_free(e);
}

/* core_assign_list for one resource, as text, with the engine (e) or from SQL (NULL). */
static const char *asg_str(struct fixture *f, struct engine *e, int64_t rid, bool effective)
{
    struct core_ctx cx;
    struct sbuf out;
    struct assignment *as;
    struct tg_err err;
    const char *res;
    size_t n;
    int rc;

    sbuf_init(&out, 0);
    read_ctx(f, e, &cx);
    rc = core_assign_list(&cx, rid, effective, &as, &n, &err);
    if (rc)
        sbuf_printf(&out, "error %d", rc);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* seq is the id from SQL and a rank from the engine: compare the order it gives. */
        int rank = 0;
        for (size_t j = 0; j < n; j++)
            rank += as[j].inherited_from == as[i].inherited_from && as[j].seq < as[i].seq;
        sbuf_printf(&out, "%d:%s/%s|%s|%s|%lld|r%lld|from %lld %s/%s|%s\n",
                    rank, as[i].tag.name, as[i].tag.name_key,
                    as[i].context ? as[i].context : "-", as[i].added_by ? as[i].added_by : "-",
                    (long long)as[i].added_at, (long long)as[i].resource_id,
                    (long long)as[i].inherited_from, as[i].from_kind ? as[i].from_kind : "-",
                    as[i].from_key ? as[i].from_key : "-", as[i].tag.color ? as[i].tag.color : "-");
    }
    core_ctx_done(&cx);
    res = arena_strdup(&f->a, sbuf_str(&out));
    sbuf_release(&out);
    return res;
}

/* core_tag_names_in_use (now), with the engine or from SQL, every page of 2 as one line. */
static const char *names_str(struct fixture *f, struct engine *e, const char *const *kinds,
                             size_t nkinds, bool archived, const char *prefix)
{
    struct core_ctx cx;
    struct sbuf out;
    struct tag_use_filter tf;
    const char *res;

    memset(&tf, 0, sizeof(tf));
    tf.kinds = kinds;
    tf.nkinds = nkinds;
    tf.archived = archived;
    tf.prefix = prefix;
    tf.limit = 2;
    sbuf_init(&out, 0);
    read_ctx(f, e, &cx);
    for (;; tf.offset += 2) {
        const char **names;
        size_t n;
        int64_t total;
        struct tg_err err;
        assert_int_equal(core_tag_names_in_use(&cx, &tf, &names, &n, &total, &err), 0);
        sbuf_printf(&out, "[%lld]", (long long)total);
        for (size_t i = 0; i < n; i++)
            sbuf_printf(&out, " %s", names[i]);
        if (n < 2)
            break;
    }
    core_ctx_done(&cx);
    res = arena_strdup(&f->a, sbuf_str(&out));
    sbuf_release(&out);
    return res;
}

/* A three-level resource tree under random assigning, moving, tag edits and deletions: after
 * each commit every resource's direct and effective assignments read the same from the engine
 * as from SQL, field by field and in order. */
static void test_assignments_against_sql(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    static const char *const names[] = {"A", "A.B", "a.c", "D", "D.E", "F", "G.H"};
    static const char *const contexts[] = {"manual", "external", "rule"};
    enum { NT = sizeof(names) / sizeof(names[0]), NR = 18 };
    int64_t tags[NT], rids[NR];
    char keys[NR][16];
    bool gone[NR] = {false};
    struct tg_err err;
    unsigned seed = 4242;

    for (int i = 0; i < NT; i++)
        tags[i] = tag(f, names[i]);
    for (int i = 0; i < NR; i++) {
        /* 0-2 top folders, 3-8 subfolders, the rest files under subfolders */
        const char *kind = i < 9 ? "folder" : "file";
        const char *parent = NULL;
        snprintf(keys[i], sizeof(keys[i]), "%s%d", i < 9 ? "d" : "f", i);
        if (i >= 3)
            parent = keys[i < 9 ? i % 3 : 3 + i % 6];
        rids[i] = res(f, kind, keys[i], parent);
    }
    add(f, res(f, "folder", "arch", NULL), tag(f, "Z.only")); /* used on nothing else */
    apply(f, &e);
    for (int round = 0; round < 50; round++) {
        for (int op = 0; op < 8; op++) {
            int r = rand_r(&seed) % NR, t = rand_r(&seed) % NT, what = rand_r(&seed) % 12;
            tg_err_clear(&err);
            f->cx.who.name = contexts[rand_r(&seed) % 3]; /* varies added_by */
            if (gone[r])
                continue;
            if (what < 5) {
                core_assign_add(&f->cx, rids[r], &tags[t], 1, contexts[what % 3], NULL, NULL, &err);
            } else if (what < 7) {
                core_assign_remove(&f->cx, rids[r], tags[t], &err);
            } else if (what == 7 && round % 7 == 3) {
                /* Purged, then made again under a new id: a purge in the same commit as adds
                 * of the tag must leave none of them behind. */
                if (core_tag_delete(&f->cx, tags[t], true, true, 0, &err) == 0)
                    for (int i = 0; i < NT; i++)
                        tags[i] = tag(f, names[i]);
            } else if (what == 7) {
                struct tag tg;
                if (core_tag_get(&f->cx, tags[t], &tg, &err) == 0) {
                    if (tg.deleted)
                        core_tag_restore(&f->cx, tags[t], &tg, &err);
                    else
                        core_tag_delete(&f->cx, tags[t], true, false, 0, &err);
                }
            } else if (what == 8) {
                struct tag_input in;
                struct tag tg;
                memset(&in, 0, sizeof(in));
                in.has_color = true;
                in.color = rand_r(&seed) % 2 ? "#ABCDEF" : NULL;
                core_tag_update(&f->cx, tags[t], &in, 0, &tg, &err);
            } else if (what == 9 && r >= 3) {
                /* Move under another top folder (a subfolder) or subfolder (a file). */
                struct resource_input in;
                struct resource out;
                memset(&in, 0, sizeof(in));
                in.has_parent = true;
                in.parent_kind = "folder";
                in.parent_key = keys[r < 9 ? rand_r(&seed) % 3 : 3 + rand_r(&seed) % 6];
                if (!gone[r < 9 ? 0 : 3])
                    core_resource_put(&f->cx, r < 9 ? "folder" : "file", keys[r], &in, &out,
                                      NULL, &err);
            } else if (what == 10 && r >= 9 && round % 5 == 4) {
                if (core_resource_delete(&f->cx, "file", keys[r], &err) == 0)
                    gone[r] = true;
            } else {
                int64_t two[2] = {tags[t], tags[(t + 3) % NT]};
                core_assign_replace(&f->cx, rids[r], two, 2, "manual", NULL, NULL, &err);
            }
        }
        {
            /* A folder whose tag is used nowhere else goes archived and back. */
            struct resource_input in;
            struct resource out;
            memset(&in, 0, sizeof(in));
            in.has_archived = true;
            in.archived = round % 2;
            assert_int_equal(core_resource_put(&f->cx, "folder", "arch", &in, &out, NULL, &err), 0);
        }
        apply(f, &e);
        {
            static const char *const k1[] = {"file"}, *const k2[] = {"folder", "file"};
            static const char *const k3[] = {"nothing"};
            for (int arch = 0; arch < 2; arch++) {
                const char *cases[][2] = {
                    {names_str(f, NULL, NULL, 0, arch, NULL), names_str(f, e, NULL, 0, arch, NULL)},
                    {names_str(f, NULL, k1, 1, arch, NULL), names_str(f, e, k1, 1, arch, NULL)},
                    {names_str(f, NULL, k2, 2, arch, "A"), names_str(f, e, k2, 2, arch, "A")},
                    {names_str(f, NULL, k3, 1, arch, NULL), names_str(f, e, k3, 1, arch, NULL)},
                };
                for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
                    if (strcmp(cases[c][0], cases[c][1]) != 0)
                        fail_msg("round %d names case %zu archived %d: engine %s, sql %s", round,
                                 c, arch, cases[c][1], cases[c][0]);
            }
        }
        for (int r = 0; r < NR; r++) {
            if (gone[r])
                continue;
            for (int eff = 0; eff < 2; eff++) {
                const char *sql = asg_str(f, NULL, rids[r], eff), *eng = asg_str(f, e, rids[r], eff);
                if (strcmp(sql, eng) != 0)
                    fail_msg("round %d resource %s effective %d:\nengine:\n%s\nsql:\n%s", round,
                             keys[r], eff, eng, sql);
            }
        }
    }
    engine_free(e);
}

/* Adds and removals are applied from their change records without reading the resources'
 * rows again, whatever order the resources' ids and the assignments' ids come in; what they
 * give reads the same as SQL. */
static void test_adds_applied_from_records(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    struct tg_err err;
    int64_t r1 = res(f, "file", "f1", NULL), r2 = res(f, "file", "f2", NULL);
    int64_t a = tag(f, "A"), b = tag(f, "B"), c = tag(f, "C");
    uint64_t applied0, reread0, applied, reread, ranged;

    add(f, r1, a);
    add(f, r2, a);
    apply(f, &e);
    engine_catch_up_stats(e, &applied0, &reread0, &ranged);
    /* The later resource first: its assignment id is the smaller one. */
    add(f, r2, b);
    add(f, r1, b);
    add(f, r1, c);
    assert_int_equal(core_assign_remove(&f->cx, r2, a, &err), 0);
    apply(f, &e);
    engine_catch_up_stats(e, &applied, &reread, &ranged);
    assert_int_equal(applied - applied0, 2);
    assert_int_equal(reread - reread0, 0);
    for (int i = 0; i < 2; i++) {
        int64_t rid = i ? r2 : r1;
        assert_string_equal(asg_str(f, e, rid, false), asg_str(f, NULL, rid, false));
    }
    /* A tag purged in the range: its resources are read again. */
    add(f, r2, c);
    assert_int_equal(core_tag_delete(&f->cx, c, true, true, 0, &err), 0);
    apply(f, &e);
    engine_catch_up_stats(e, &applied0, &reread0, &ranged);
    assert_int_equal(reread0 - reread, 1);
    for (int i = 0; i < 2; i++) {
        int64_t rid = i ? r2 : r1;
        assert_string_equal(asg_str(f, e, rid, false), asg_str(f, NULL, rid, false));
    }
    /* A removal keeps its data in `before`; one written before that, in `after`, still
     * applies from its record. */
    assert_int_equal(core_assign_remove(&f->cx, r1, a, &err), 0);
    assert_int_equal(store_exec_script(f->conn,
                                       "UPDATE changes SET after = before, before = NULL"
                                       " WHERE op = 'remove' AND before IS NOT NULL;",
                                       &err),
                     0);
    apply(f, &e);
    engine_catch_up_stats(e, &applied, &reread, &ranged);
    assert_int_equal(applied - applied0, 1);
    assert_int_equal(reread - reread0, 0);
    assert_string_equal(asg_str(f, e, r1, false), asg_str(f, NULL, r1, false));
    /* Contexts the record's own scanner leaves to jansson (escapes, longer than its buffer)
     * and plain ones: each applied from its record, read as SQL reads it. */
    {
        static const char *const ctxs[] = {"say \"hi\" \\ \u00e9\t", "plain", NULL, ""};
        char big[400];
        int64_t d = tag(f, "D"), g = tag(f, "G"), h = tag(f, "H"), k = tag(f, "K"),
                l = tag(f, "L");
        int64_t ts[] = {d, g, h, k};
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        apply(f, &e);
        engine_catch_up_stats(e, &applied0, &reread0, &ranged);
        for (int i = 0; i < 4; i++)
            assert_int_equal(core_assign_add(&f->cx, i % 2 ? r1 : r2, &ts[i], 1,
                                             i == 2 ? big : ctxs[i], NULL, NULL, &err),
                             0);
        assert_int_equal(core_assign_add(&f->cx, r1, &l, 1, ctxs[3], NULL, NULL, &err), 0);
        apply(f, &e);
        engine_catch_up_stats(e, &applied, &reread, &ranged);
        assert_int_equal(applied - applied0, 2);
        assert_int_equal(reread - reread0, 0);
        for (int i = 0; i < 2; i++) {
            int64_t rid = i ? r2 : r1;
            assert_string_equal(asg_str(f, e, rid, false), asg_str(f, NULL, rid, false));
        }
    }
    engine_free(e);
}

/* Resources made in one catch-up with ids in a run (an import's chunk) are read in two ranged
 * statements, not two each: with parents among them, one deleted in the middle of the run, and
 * tags on parents and children, the engine reads as SQL does, direct and effective tags. */
static void test_new_resources_read_in_ranges(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    struct tg_err err;
    int64_t a = tag(f, "A"), b = tag(f, "B"), rid[5];
    uint64_t ap0, re0, rg0, ap, re, rg;

    res(f, "file", "before", NULL);
    apply(f, &e);
    engine_catch_up_stats(e, &ap0, &re0, &rg0);
    rid[0] = res(f, "folder", "top", NULL);
    rid[1] = res(f, "folder", "mid", "top");
    rid[2] = res(f, "file", "gone", "mid");
    rid[3] = res(f, "file", "leaf", "mid");
    rid[4] = res(f, "dataset", "d", NULL);
    for (int i = 1; i < 5; i++)
        assert_int_equal(rid[i], rid[0] + i);
    add(f, rid[0], a);
    add(f, rid[1], b);
    add(f, rid[2], a);
    add(f, rid[3], b);
    add(f, rid[4], a);
    add(f, rid[4], b);
    assert_int_equal(core_resource_delete(&f->cx, "file", "gone", &err), 0);
    apply(f, &e);
    engine_catch_up_stats(e, &ap, &re, &rg);
    assert_int_equal(rg - rg0, 5);
    assert_int_equal(re - re0, 0);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(asg_str(f, e, rid[i], false), asg_str(f, NULL, rid[i], false));
        assert_string_equal(asg_str(f, e, rid[i], true), asg_str(f, NULL, rid[i], true));
    }
    {
        const struct eng_snap *s = engine_acquire(e);
        assert_string_equal(run_snap(f, s, "A", true),
                            arena_printf(&f->a, "%lld,%lld,%lld,%lld", (long long)rid[0],
                                         (long long)rid[1], (long long)rid[3],
                                         (long long)rid[4]));
        engine_release(e, s);
    }
    engine_free(e);
}

/* A tag made in the commit that puts it on a folder, with the folder and its file made in the
 * same catch-up (split 0), in an earlier one (1), or each in its own, as a tailer applies
 * another instance's commits one by one (2): queries find the folder and its file at once. */
static void test_new_tag_found_by_queries_at_once(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    int64_t all[6];

    apply(f, &e);
    for (int split = 0; split < 3; split++) {
        char dk[16], ck[16], name[16];
        int64_t d, c;
        snprintf(dk, sizeof(dk), "d%d", split);
        snprintf(ck, sizeof(ck), "c%d", split);
        snprintf(name, sizeof(name), "New.t%d", split);
        d = res(f, "folder", dk, NULL);
        if (split == 2)
            apply(f, &e);
        c = res(f, "file", ck, dk);
        if (split >= 1)
            apply(f, &e);
        add(f, d, tag(f, name));
        apply(f, &e);
        assert_string_equal(run(f, e, name, true), ids(f, 2, d, c));
        assert_string_equal(run(f, e, name, false), ids(f, 1, d));
        all[2 * split] = d;
        all[2 * split + 1] = c;
    }
    assert_string_equal(run(f, e, "New.*", true),
                        ids(f, 6, all[0], all[1], all[2], all[3], all[4], all[5]));
    engine_free(e);
}

/* A tag purged and made again under its name in one commit. It once got the purged tag's id
 * back (SQLite reused the largest rowid); now it gets a new one (store/sqlite.c, NEXT_ID). The
 * engine must not keep the old tag's resources under either, nor apply an add of the old tag
 * from that commit to the new one. */
static void test_purged_id_reused(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    struct tg_err err;
    int64_t r1 = res(f, "file", "f1", NULL), r2 = res(f, "file", "f2", NULL), x, again;
    const char *sql, *eng;

    add(f, r1, tag(f, "Keep"));
    x = tag(f, "X");
    add(f, r1, x);
    apply(f, &e);
    add(f, r2, x); /* in the same commit as the purge */
    assert_int_equal(core_tag_delete(&f->cx, x, true, true, 0, &err), 0);
    again = tag(f, "X");
    assert_true(again > x); /* ids are never handed out twice */
    apply(f, &e);
    for (int i = 0; i < 2; i++) {
        int64_t rid = i ? r2 : r1;
        sql = asg_str(f, NULL, rid, false);
        eng = asg_str(f, e, rid, false);
        assert_string_equal(eng, sql);
    }
    assert_string_equal(names_str(f, e, NULL, 0, false, NULL),
                        names_str(f, NULL, NULL, 0, false, NULL));
    /* And the new tag is applied as any other. */
    add(f, r2, again);
    apply(f, &e);
    assert_string_equal(asg_str(f, e, r2, false), asg_str(f, NULL, r2, false));
    assert_string_equal(names_str(f, e, NULL, 0, false, NULL),
                        names_str(f, NULL, NULL, 0, false, NULL));
    engine_free(e);
}

/* Resources by key: found after loading and after catching up (past several table rebuilds),
 * gone once deleted, and a key deleted and created again names the new id. Old snapshots keep
 * answering for their own revision. */
static void test_resource_keys(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    const struct eng_snap *old;
    struct tg_err err;
    int64_t first = res(f, "folder", "root", NULL), again;
    int64_t ids[3000];
    char key[32];

    apply(f, &e);
    old = engine_acquire(e);
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ids[i] = res(f, i % 2 ? "file" : "folder", key, i % 3 ? "root" : NULL);
        if (i % 500 == 499)
            apply(f, &e);
    }
    apply(f, &e);
    {
        const struct eng_snap *s = engine_acquire(e);
        assert_int_equal(eng_resource_by_key(s, f->cx.ws_id, "folder", "root"), first);
        for (int i = 0; i < 3000; i++) {
            snprintf(key, sizeof(key), "k%d", i);
            assert_int_equal(eng_resource_by_key(s, f->cx.ws_id, i % 2 ? "file" : "folder", key),
                             ids[i]);
            /* the same key under the other kind, or in another workspace, is not it */
            assert_int_equal(eng_resource_by_key(s, f->cx.ws_id, i % 2 ? "folder" : "file", key),
                             0);
            assert_int_equal(eng_resource_by_key(s, f->cx.ws_id + 1, i % 2 ? "file" : "folder",
                                                 key),
                             0);
        }
        engine_release(e, s);
    }
    /* The snapshot taken before knows only what it knew. */
    assert_int_equal(eng_resource_by_key(old, f->cx.ws_id, "folder", "root"), first);
    assert_int_equal(eng_resource_by_key(old, f->cx.ws_id, "file", "k1"), 0);
    engine_release(e, old);
    assert_int_equal(core_resource_delete(&f->cx, "file", "k1", &err), 0);
    apply(f, &e);
    old = engine_acquire(e);
    assert_int_equal(eng_resource_by_key(old, f->cx.ws_id, "file", "k1"), 0);
    again = res(f, "file", "k1", NULL);
    assert_true(again != ids[1]);
    apply(f, &e);
    {
        const struct eng_snap *s = engine_acquire(e);
        assert_int_equal(eng_resource_by_key(s, f->cx.ws_id, "file", "k1"), again);
        engine_release(e, s);
    }
    assert_int_equal(eng_resource_by_key(old, f->cx.ws_id, "file", "k1"), 0);
    engine_release(e, old);
    engine_free(e);
}

/* How many resources carry `tagname` in snapshot s. */
static uint64_t snap_count(struct fixture *f, const struct eng_snap *s, const char *tagname)
{
    struct eng_query o;
    struct eng_result res;
    struct qnode *q;
    struct qerr qe;
    struct tg_err err;

    memset(&o, 0, sizeof(o));
    o.ws_id = f->cx.ws_id;
    o.archived = true;
    assert_int_equal(query_parse(&f->a, tagname, strlen(tagname), &q, &qe), 0);
    assert_int_equal(eng_query_run(s, &f->a, q, &o, &res, &qe, &err), 0);
    return res.total;
}

/* Bitmaps shared by container between snapshots: a tag spread over three containers (one a
 * bitset, which removals turn back into an array) changes over many commits while every
 * snapshot taken on the way is held; each keeps answering its own count, and releasing them out
 * of order frees everything exactly once (ASan and LSan watch this test). */
static void test_snapshots_share_containers(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    struct tg_err err;
    const struct eng_snap *held[12];
    uint64_t want[12], now;
    int64_t t, ids[4300];
    bool on[4300];
    int nheld = 0;
    char key[32];

    /* Resource ids in containers 0, 1 and 2 of the bitmaps (id >> 16). */
    for (int i = 0; i < 4200; i++) {
        snprintf(key, sizeof(key), "c0-%d", i);
        ids[i] = res(f, "file", key, NULL);
    }
    assert_int_equal(store_exec_script(f->conn,
                                       "INSERT INTO resources(id, ws_id, kind, key, created_at,"
                                       " updated_at) SELECT 70000, ws_id, kind, 'c1-x', 0, 0"
                                       " FROM resources LIMIT 1;"
                                       "INSERT INTO resources(id, ws_id, kind, key, created_at,"
                                       " updated_at) SELECT 140000, ws_id, kind, 'c2-x', 0, 0"
                                       " FROM resources LIMIT 1;",
                                       &err),
                     0);
    for (int i = 4200; i < 4300; i++) {
        snprintf(key, sizeof(key), "c2-%d", i);
        ids[i] = res(f, "file", key, NULL);
    }
    assert_true(ids[4299] > 140000);
    t = tag(f, "Shared.Tag");
    for (int i = 0; i < 4300; i++) {
        add(f, ids[i], t);
        on[i] = true;
    }
    now = 4300;
    apply(f, &e);
    for (int round = 0; round < 12; round++) {
        held[nheld] = engine_acquire(e);
        want[nheld] = now;
        assert_int_equal(snap_count(f, held[nheld], "Shared.Tag"), now);
        nheld++;
        /* Each round: take 30 members out of container 0 (4200 -> under 4096 turns the bitset
         * into an array), put some back, and take one out of container 2; container 1 stays
         * shared by every snapshot. */
        for (int k = 0; k < 30; k++) {
            int i = (round * 30 + k) % 4200;
            assert_int_equal(core_assign_remove(&f->cx, ids[i], t, &err), 0);
            on[i] = false;
            now--;
        }
        if (round % 3 == 2) {
            for (int k = 0; k < 10; k++) {
                int i = (round * 30 + k) % 4200;
                add(f, ids[i], t);
                on[i] = true;
                now++;
            }
        }
        assert_int_equal(core_assign_remove(&f->cx, ids[4200 + round], t, &err), 0);
        on[4200 + round] = false;
        now--;
        apply(f, &e);
    }
    for (int i = 0; i < nheld; i++)
        assert_int_equal(snap_count(f, held[i], "Shared.Tag"), want[i]);
    /* Out of order: the middle ones first, then the rest. */
    for (int i = 3; i < 9; i++)
        engine_release(e, held[i]);
    assert_int_equal(snap_count(f, held[0], "Shared.Tag"), want[0]);
    for (int i = 0; i < 3; i++)
        engine_release(e, held[i]);
    for (int i = 9; i < nheld; i++)
        engine_release(e, held[i]);
    add(f, ids[0], t); /* one more commit: it reclaims what the released snapshots kept */
    if (!on[0])
        now++;
    apply(f, &e);
    {
        /* Tag usage pages of 100 (rows fetched in several statements of 32 ids): the engine's
         * pages equal the SQL ones. */
        struct tag tg;
        int64_t after[2] = {0, 0};
        assert_int_equal(core_tag_get(&f->cx, t, &tg, &err), 0);
        for (int page = 0; page < 3; page++) {
            struct resource *items[2];
            size_t n[2];
            bool more[2];
            for (int w = 0; w < 2; w++) {
                struct core_ctx cx;
                read_ctx(f, w ? e : NULL, &cx);
                assert_int_equal(core_tag_usage(&cx, &tg, false, after[w], 100, &items[w], &n[w],
                                                &more[w], &err),
                                 0);
                core_ctx_done(&cx);
                after[w] = n[w] ? items[w][n[w] - 1].id : 0;
            }
            assert_int_equal(n[0], 100);
            assert_int_equal(n[1], n[0]);
            assert_int_equal(more[1], more[0]);
            for (size_t i = 0; i < n[0]; i++) {
                assert_int_equal(items[1][i].id, items[0][i].id);
                assert_string_equal(items[1][i].key, items[0][i].key);
            }
        }
    }
    {
        const struct eng_snap *s = engine_acquire(e);
        assert_int_equal(snap_count(f, s, "Shared.Tag"), now);
        engine_release(e, s);
    }
    engine_free(e);
}

/* Puts resource (kind, key) under folder `pkey` (NULL: detached); errors (a cycle) are ignored. */
static void put_under(struct fixture *f, const char *kind, const char *key, const char *pkey,
                      int archived)
{
    struct resource_input in;
    struct resource r;
    struct tg_err err;
    memset(&in, 0, sizeof(in));
    in.has_parent = true;
    in.parent_kind = pkey ? "folder" : NULL;
    in.parent_key = pkey;
    if (archived >= 0) {
        in.has_archived = true;
        in.archived = archived != 0;
    }
    tg_err_clear(&err);
    core_resource_put(&f->cx, kind, key, &in, &r, NULL, &err);
}

/* Whether resource x is in eff(T) with rid's own membership in direct(T) flipped (0: none):
 * the definition (engine_int.h, struct etag) walked up the tree. */
static bool eff_flipped(const struct eng_snap *s, uint32_t x, const struct etag *t, uint32_t flip)
{
    for (int d = 0; x && d < 4096; d++) {
        const struct eres *r = eng__res_at(s, x);
        bool in = t && roaring_bitmap_contains(t->direct, x);
        if (x == flip)
            in = !in;
        if (in)
            return true;
        if (r == NULL || !(r->flags & R_EXISTS))
            return false;
        x = r->parent;
    }
    return false;
}

static bool strictly_under(const struct eng_snap *s, uint32_t x, uint32_t anc)
{
    const struct eres *r = eng__res_at(s, x);
    for (int d = 0; r && (r->flags & R_EXISTS) && r->parent && d < 4096; d++) {
        if (r->parent == anc)
            return true;
        r = eng__res_at(s, r->parent);
    }
    return false;
}

/* eng_inherited (what a tag put on or taken off a resource changes below it) against the
 * definition: for every resource and tag, the resources whose effective membership differs
 * once the resource's own direct membership flips. */
static void check_inherited(const struct eng_snap *s, const int64_t *tags, int nt, int round)
{
    int64_t ids[256], want[256];
    for (uint32_t rid = 1; rid < 400; rid++) {
        const struct eres *r = eng__res_at(s, rid);
        if (r == NULL || !(r->flags & R_EXISTS))
            continue;
        for (int k = 0; k < nt; k++) {
            const struct etag *t = eng__tag_at(s, tags[k]);
            struct eng_inherited in;
            size_t nw = 0;
            bool self = eff_flipped(s, rid, t, 0) != eff_flipped(s, rid, t, rid);
            for (uint32_t x = 1; x < 400; x++) {
                const struct eres *rx = eng__res_at(s, x);
                if (rx && (rx->flags & R_EXISTS) && strictly_under(s, x, rid) &&
                    eff_flipped(s, x, t, 0) != eff_flipped(s, x, t, rid))
                    want[nw++] = x;
            }
            assert_true(eng_inherited(s, rid, tags[k], &in, ids, 256));
            if (in.self != self || in.descendants != (int64_t)nw || in.nids != nw ||
                (nw && memcmp(ids, want, nw * sizeof(*ids)) != 0))
                fail_msg("round %d resource %u tag %lld: self %d/%d descendants %lld/%zu",
                         round, rid, (long long)tags[k], in.self, self,
                         (long long)in.descendants, nw);
            assert_int_equal(in.has_children,
                             r->children && !roaring_bitmap_is_empty(r->children));
        }
    }
}

/* Whether resource x carries live tag t effectively with rid's parent taken to be `to`. */
static bool eff_moved(const struct eng_snap *s, uint32_t x, const struct etag *t, uint32_t rid,
                      uint32_t to)
{
    for (int d = 0; x && d < 4096; d++) {
        const struct eres *r = eng__res_at(s, x);
        if (r == NULL || !(r->flags & R_EXISTS))
            return false;
        if (roaring_bitmap_contains(t->direct, x))
            return true;
        x = x == rid ? to : r->parent;
    }
    return false;
}

/* eng_moved (what re-parenting a resource changes in effective tags) against the definition:
 * for every resource and a few new parents outside its subtree, each resource of its subtree
 * whose effective membership of some live tag differs once the parent is replaced. */
static void check_moved(const struct eng_snap *s, int round)
{
    for (uint32_t rid = 1; rid < 400; rid++) {
        const struct eres *r = eng__res_at(s, rid);
        if (r == NULL || !(r->flags & R_EXISTS))
            continue;
        for (uint32_t to = 0; to < 400; to += 37) {
            struct eng_moved m;
            int64_t nchanged = 0;
            bool self = false;
            const struct eres *rt = to ? eng__res_at(s, to) : NULL;
            if (to && (rt == NULL || !(rt->flags & R_EXISTS) || to == rid ||
                       strictly_under(s, to, rid)))
                continue;
            assert_true(eng_moved(s, rid, r->parent, to, 100000, false, &m));
            for (uint32_t x = 1; x < 400; x++) {
                const struct eres *rx = eng__res_at(s, x);
                bool changed = false;
                if (rx == NULL || !(rx->flags & R_EXISTS) ||
                    (x != rid && !strictly_under(s, x, rid)))
                    continue;
                for (uint32_t tid = 1; tid < s->ntags; tid++) {
                    const struct etag *t = eng__tag_at(s, tid);
                    bool was, now, listed = false;
                    size_t k;
                    if (t == NULL || t->rec->deleted)
                        continue;
                    was = eff_moved(s, x, t, rid, r->parent);
                    now = eff_moved(s, x, t, rid, to);
                    for (k = 0; k < m.ntags && m.tags[k].tag_id != tid; k++)
                        ;
                    if (k < m.ntags) {
                        if (x == rid) {
                            listed = m.tags[k].self;
                        } else {
                            for (int64_t i = 0; i < m.tags[k].descendants && !listed; i++)
                                listed = m.tags[k].ids[i] == x;
                        }
                    }
                    if (listed != (was != now) || (listed && m.tags[k].add != now))
                        fail_msg("round %d: resource %u moved under %u: %u tag %u %d->%d, "
                                 "listed %d", round, rid, to, x, tid, was, now, listed);
                    changed = changed || was != now;
                }
                if (changed && x == rid)
                    self = true;
                else if (changed)
                    nchanged++;
            }
            assert_int_equal(m.self, self);
            assert_int_equal(m.descendants, nchanged);
            assert_true(m.listed);
            eng_moved_release(&m);
        }
    }
}

/* The effective bitmaps (engine_int.h, struct etag) after random batches of every change the
 * engine applies: adds, removals, resources made, moved, archived and deleted (children
 * detached), tags deleted, restored, moved to another parent, purged and made again. After
 * each commit every tag's eff and esub must equal a walk of the resource tree from its direct
 * and subtree bitmaps (eng__effective_check), and an effective query must read them; and
 * what a change at one resource does below it must agree with them (check_inherited). */
static void test_effective_random(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    static const char *const names[] = {"A", "A.B", "A.B.C", "A.D", "E", "E.F", "E.F.G", "H",
                                        "H.I"};
    enum { NT = sizeof(names) / sizeof(names[0]), NF = 10, NR = 40 };
    int64_t tags[NT], mover;
    struct tg_err err;
    unsigned seed = 20261207;
    int mover_under_e = 0, nmade = 0;
    char key[32], pkey[32];

    for (int i = 0; i < NT; i++)
        tags[i] = tag(f, names[i]);
    mover = tag(f, "A.M");
    (void)tag(f, "A.M.N");
    /* Folders f0..f9 in a random forest, files k0..k39 under random folders. */
    for (int i = 0; i < NF; i++) {
        snprintf(key, sizeof(key), "f%d", i);
        snprintf(pkey, sizeof(pkey), "f%d", i ? rand_r(&seed) % i : 0);
        put_under(f, "folder", key, i ? pkey : NULL, -1);
    }
    for (int i = 0; i < NR; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(pkey, sizeof(pkey), "f%d", rand_r(&seed) % NF);
        put_under(f, "file", key, rand_r(&seed) % 5 ? pkey : NULL, -1);
    }
    apply(f, &e);
    for (int round = 0; round < 150; round++) {
        for (int op = 0; op < 10; op++) {
            int what = rand_r(&seed) % 100, t = rand_r(&seed) % NT;
            bool folder = rand_r(&seed) % 3 == 0;
            int n = folder ? NF : NR;
            const char *kind = folder ? "folder" : "file";
            int64_t rid;
            struct tag tg;
            snprintf(key, sizeof(key), "%s%d", folder ? "f" : "k", rand_r(&seed) % n);
            snprintf(pkey, sizeof(pkey), "f%d", rand_r(&seed) % NF);
            tg_err_clear(&err);
            if (core_resource_id(&f->cx, kind, key, &rid, &err) != 0)
                rid = 0;
            if (core_tag_get(&f->cx, tags[t], &tg, &err) != 0) {
                /* Purged: made again (maybe with the old id). */
                tags[t] = tag(f, names[t]);
                continue;
            }
            if (what < 40 && rid && !tg.deleted) {
                core_assign_add(&f->cx, rid, &tags[t], 1, NULL, NULL, NULL, &err);
            } else if (what < 65 && rid) {
                core_assign_remove(&f->cx, rid, tags[t], &err);
            } else if (what < 75) {
                /* Moved, made (a missing key is created there) or detached. */
                put_under(f, kind, key, rand_r(&seed) % 4 ? pkey : NULL, -1);
            } else if (what < 78) {
                snprintf(key, sizeof(key), "new%d", nmade++);
                put_under(f, rand_r(&seed) % 2 ? "folder" : "file", key, pkey, -1);
            } else if (what < 82 && rid) {
                core_resource_delete(&f->cx, kind, key, &err);
            } else if (what < 85) {
                put_under(f, kind, key, NULL, rand_r(&seed) % 2);
            } else if (what < 90 && !tg.deleted && t != 0 && t != 4) {
                core_tag_delete(&f->cx, tags[t], true, false, 0, &err);
            } else if (what < 94 && tg.deleted) {
                core_tag_restore(&f->cx, tags[t], &tg, &err);
            } else if (what < 97) {
                /* A.M (with its child) moves between A and E: both subtrees change. */
                struct tag_input in;
                struct tag out;
                memset(&in, 0, sizeof(in));
                mover_under_e = !mover_under_e;
                in.name = mover_under_e ? "E.M" : "A.M";
                core_tag_update(&f->cx, mover, &in, 0, &out, &err);
            } else if (t == 2 || t == 6 || t == 8) {
                /* A leaf purged, its assignments closed. */
                core_tag_delete(&f->cx, tags[t], false, true, 0, &err);
            }
        }
        apply(f, &e);
        {
            const struct eng_snap *s = engine_acquire(e);
            char msg[200];
            int bad = eng__effective_check(s, msg, sizeof(msg));
            if (bad)
                fail_msg("round %d: %d effective bitmaps differ; %s", round, bad, msg);
            if (round % 10 == 0) {
                check_inherited(s, tags, NT, round);
                check_moved(s, round);
            }
            engine_release(e, s);
        }
    }
    /* The queries read them: a file under a folder tagged A (only) is found by A and A.*. */
    put_under(f, "folder", "qa", NULL, -1);
    put_under(f, "file", "qa-1", "qa", -1);
    add(f, res(f, "folder", "qa", NULL), tags[0]);
    apply(f, &e);
    {
        int64_t fid = res(f, "file", "qa-1", "qa"), pid = res(f, "folder", "qa", NULL);
        char want[64];
        snprintf(want, sizeof(want), ",%lld,", (long long)fid);
        apply(f, &e);
        assert_non_null(strstr(arena_printf(&f->a, ",%s,", run(f, e, "A", true)), want));
        assert_non_null(strstr(arena_printf(&f->a, ",%s,", run(f, e, "A.*", true)), want));
        assert_null(strstr(arena_printf(&f->a, ",%s,", run(f, e, "A", false)), want));
        snprintf(want, sizeof(want), ",%lld,", (long long)pid);
        assert_non_null(strstr(arena_printf(&f->a, ",%s,", run(f, e, "A", false)), want));
    }
    engine_free(e);
}

/* Two snapshots hold the same index: tags with their four bitmaps, resources with their
 * assignment blocks (assigners compared as strings: each engine interns its own), children,
 * kinds by name, and the alias table. */
static void same_index(const struct eng_snap *x, const struct eng_snap *y)
{
    uint32_t nt = x->ntags > y->ntags ? x->ntags : y->ntags;
    uint32_t nr = (x->nchunks > y->nchunks ? x->nchunks : y->nchunks) << CHUNK_BITS;

    assert_int_equal(x->nres, y->nres);
    assert_int_equal(x->nasg, y->nasg);
    for (uint32_t id = 0; id < nt; id++) {
        const struct etag *a = id < x->ntags ? x->tags[id] : NULL;
        const struct etag *b = id < y->ntags ? y->tags[id] : NULL;
        if (a == NULL || b == NULL) {
            assert_true(a == b);
            continue;
        }
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->deleted, b->deleted);
        assert_int_equal(a->parent_id, b->parent_id);
        assert_true(roaring_bitmap_equals(a->direct, b->direct));
        assert_true(roaring_bitmap_equals(a->eff, b->eff));
        assert_true((a->sub == NULL) == (b->sub == NULL));
        assert_true((a->esub == NULL) == (b->esub == NULL));
        if (a->sub)
            assert_true(roaring_bitmap_equals(a->sub, b->sub));
        if (a->esub)
            assert_true(roaring_bitmap_equals(a->esub, b->esub));
    }
    for (uint32_t id = 1; id < nr; id++) {
        const struct eres *a = eng__res_at(x, id), *b = eng__res_at(y, id);
        bool ax = a && (a->flags & R_EXISTS), bx = b && (b->flags & R_EXISTS);
        uint32_t an = a ? a->ntags : 0, bn = b ? b->ntags : 0;
        assert_int_equal(ax, bx);
        assert_int_equal(an, bn);
        if (ax) {
            assert_int_equal(a->flags, b->flags);
            assert_int_equal(a->parent, b->parent);
            assert_int_equal(a->ws, b->ws);
            assert_string_equal(x->kinds[a->kind], y->kinds[b->kind]);
            assert_string_equal(a->key, b->key);
            assert_true((a->children == NULL) == (b->children == NULL));
            if (a->children)
                assert_true(roaring_bitmap_equals(a->children, b->children));
        }
        for (uint32_t i = 0; i < an; i++) {
            const struct who *wa = eng__who_at(x->who_dir, B_WHO(a->tags, an)[i]);
            const struct who *wb = eng__who_at(y->who_dir, B_WHO(b->tags, bn)[i]);
            assert_int_equal(a->tags[i], b->tags[i]);
            assert_string_equal(wa->context ? wa->context : "(null)",
                                wb->context ? wb->context : "(null)");
            assert_string_equal(wa->added_by ? wa->added_by : "(null)",
                                wb->added_by ? wb->added_by : "(null)");
            assert_int_equal(B_AT(a->tags, an)[i], B_AT(b->tags, bn)[i]);
            /* Ranks order the assignments (by id); catching up leaves gaps where a removal
             * was, so only the order must agree. */
            for (uint32_t j = 0; j < an; j++)
                assert_int_equal(B_ORD(a->tags, an)[i] < B_ORD(a->tags, an)[j],
                                 B_ORD(b->tags, bn)[i] < B_ORD(b->tags, bn)[j]);
        }
    }
    assert_int_equal(x->aliases ? x->aliases->n : 0, y->aliases ? y->aliases->n : 0);
    for (size_t i = 0; x->aliases && i < x->aliases->n; i++) {
        assert_int_equal(x->aliases->e[i].id, y->aliases->e[i].id);
        assert_string_equal(x->aliases->e[i].key, y->aliases->e[i].key);
    }
}

/* engine_open reads the assignments on a second thread in batches (load.c) and computes the
 * effective bitmaps from a bit array on two threads: what it loads from a store with history
 * (removed and added again), deleted and purged tags, a renamed tag's alias, archived and
 * deleted resources in a three-level tree and 40 distinct assigners must equal what catching
 * up built commit by commit. Batches of 3 rows put most resources' rows in two batches, so a
 * block cut at a batch's end, or a row given the wrong assigner, fails it. */
static void test_load_equals_catch_up(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL, *loaded = NULL;
    static const char *const names[] = {"A", "A.B", "A.B.C", "D", "D.E", "F", "G"};
    enum { NT = sizeof(names) / sizeof(names[0]), NF = 8, NR = 60 };
    int64_t tags[NT];
    struct principal who = f->cx.who;
    struct tg_err err;
    unsigned seed = 20261208;
    size_t batch = eng__load_batch;
    char key[32], pkey[32], ctx[32], name[32];

    apply(f, &e);
    for (int i = 0; i < NT; i++)
        tags[i] = tag(f, names[i]);
    for (int i = 0; i < NF; i++) {
        snprintf(key, sizeof(key), "f%d", i);
        snprintf(pkey, sizeof(pkey), "f%d", i / 3);
        put_under(f, "folder", key, i ? pkey : NULL, -1);
    }
    for (int i = 0; i < NR; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(pkey, sizeof(pkey), "f%d", rand_r(&seed) % NF);
        put_under(f, i % 2 ? "file" : "doc", key, rand_r(&seed) % 6 ? pkey : NULL,
                  i % 9 == 0);
    }
    apply(f, &e);
    for (int round = 0; round < 6; round++) {
        for (int op = 0; op < 60; op++) {
            bool folder = rand_r(&seed) % 4 == 0;
            int k = rand_r(&seed) % (folder ? NF : NR), t = rand_r(&seed) % NT;
            int64_t rid = 0;
            snprintf(key, sizeof(key), "%s%d", folder ? "f" : "k", k);
            tg_err_clear(&err);
            if (core_resource_id(&f->cx, folder ? "folder" : k % 2 ? "file" : "doc", key, &rid,
                                 &err) != 0)
                continue;
            snprintf(ctx, sizeof(ctx), "ctx%d", rand_r(&seed) % 8);
            snprintf(name, sizeof(name), "user%d", rand_r(&seed) % 5);
            f->cx.who.name = name;
            if (rand_r(&seed) % 4)
                core_assign_add(&f->cx, rid, &tags[t], 1, rand_r(&seed) % 5 ? ctx : NULL, NULL,
                                NULL, &err);
            else
                core_assign_remove(&f->cx, rid, tags[t], &err);
        }
        f->cx.who = who;
        apply(f, &e);
    }
    {
        struct tag_input in;
        struct tag out;
        memset(&in, 0, sizeof(in));
        in.name = "A.B.R"; /* A.B.C's old name stays as an alias */
        assert_int_equal(core_tag_update(&f->cx, tags[2], &in, 0, &out, &err), 0);
    }
    assert_int_equal(core_tag_delete(&f->cx, tags[4], false, false, 0, &err), 0); /* D.E */
    assert_int_equal(core_tag_delete(&f->cx, tags[6], false, true, 0, &err), 0);  /* G */
    assert_int_equal(core_resource_delete(&f->cx, "file", "k1", &err), 0);
    apply(f, &e);

    eng__load_batch = 3;
    fixture_next_txn_engine(f, &loaded, false);
    eng__load_batch = batch;
    {
        const struct eng_snap *x = engine_acquire(e), *y = engine_acquire(loaded);
        char msg[200];
        assert_true(y->nasg > 100);
        assert_true(y->aliases != NULL && y->aliases->n > 0);
        same_index(x, y);
        if (eng__effective_check(y, msg, sizeof(msg)) != 0)
            fail_msg("loaded: %s", msg);
        engine_release(loaded, y);
        engine_release(e, x);
    }
    f->cx.engine = NULL;
    engine_free(loaded);
    engine_free(e);
}

/* The queries' own bitmap operations (eval.c, bm_op) against roaring's, on random bitmaps
 * whose containers are of every kind: sparse (arrays), dense (bitsets, with results on either
 * side of the array limit), runs, absent on one side. */
static void test_bitmap_ops(void **state)
{
    unsigned seed = 7;
    (void)state;
    for (int round = 0; round < 60; round++) {
        roaring_bitmap_t *b[2];
        for (int k = 0; k < 2; k++) {
            b[k] = roaring_bitmap_create();
            for (uint32_t key = 0; key < 6; key++) {
                int kind = rand_r(&seed) % 5;
                uint32_t base = key << 16;
                if (kind == 0)
                    continue;
                if (kind == 1) { /* sparse */
                    for (int i = 0; i < 100; i++)
                        roaring_bitmap_add(b[k], base + (uint32_t)(rand_r(&seed) % 65536));
                } else if (kind == 2 || kind == 3) { /* dense: about 1/2 or 1/8 */
                    int every = kind == 2 ? 2 : 8;
                    for (uint32_t v = 0; v < 65536; v++)
                        if (rand_r(&seed) % every == 0)
                            roaring_bitmap_add(b[k], base + v);
                } else { /* runs */
                    uint32_t lo = (uint32_t)(rand_r(&seed) % 30000);
                    roaring_bitmap_add_range(b[k], base + lo, base + lo + 20000);
                    roaring_bitmap_run_optimize(b[k]);
                }
            }
        }
        for (int op = 0; op < 3; op++) {
            roaring_bitmap_t *want = op == 0   ? roaring_bitmap_and(b[0], b[1])
                                     : op == 1 ? roaring_bitmap_andnot(b[0], b[1])
                                               : roaring_bitmap_or(b[0], b[1]);
            roaring_bitmap_t *got = eng__bm_op(b[0], b[1], "&-|"[op]);
            uint64_t n = roaring_bitmap_get_cardinality(want);
            uint32_t *wv = calloc(n + 1, sizeof(*wv)), *gv = calloc(n + 1, sizeof(*gv));
            bool same = roaring_bitmap_get_cardinality(got) == n;
            /* by members and count: got's containers may be of another kind */
            roaring_bitmap_to_uint32_array(want, wv);
            if (same)
                roaring_bitmap_to_uint32_array(got, gv);
            same = same && memcmp(wv, gv, n * sizeof(*wv)) == 0;
            free(wv);
            free(gv);
            if (!same)
                fail_msg("round %d op %c: %llu members, want %llu", round, "&-|"[op],
                         (unsigned long long)roaring_bitmap_get_cardinality(got),
                         (unsigned long long)roaring_bitmap_get_cardinality(want));
            /* no empty containers, as roaring keeps none */
            for (int32_t i = 0; i < got->high_low_container.size; i++)
                assert_true(container_nonzero_cardinality(got->high_low_container.containers[i],
                                                          got->high_low_container.typecodes[i]));
            roaring_bitmap_free(want);
            roaring_bitmap_free(got);
        }
        roaring_bitmap_free(b[0]);
        roaring_bitmap_free(b[1]);
    }
}

/* One query's answer as text: total, more and ids. */
static const char *answer(struct fixture *f, const struct eng_snap *s, const char *src,
                          const struct eng_query *o)
{
    struct eng_result res;
    struct qnode *q;
    struct qerr qe;
    struct tg_err err;
    struct sbuf b;
    const char *out;

    if (query_parse(&f->a, src, strlen(src), &q, &qe) != 0 ||
        eng_query_run(s, &f->a, q, o, &res, &qe, &err) != 0)
        return arena_printf(&f->a, "error@%d", qe.col);
    /* A whole answer lists as many ids as it counts: the count (popcount, in words) checked
     * against the members read one by one, on both paths. */
    if (o->limit > 0 && o->after_id == 0 && !res.more)
        assert_int_equal(res.total, res.n);
    sbuf_init(&b, 0);
    sbuf_printf(&b, "total=%llu more=%d:", (unsigned long long)res.total, res.more);
    for (size_t i = 0; i < res.n; i++)
        sbuf_printf(&b, " %lld", (long long)res.ids[i]);
    out = arena_strdup(&f->a, sbuf_str(&b));
    sbuf_release(&b);
    return out;
}

/* Expressions with operators are evaluated key by key (eval.c, fused_run); the answers must
 * be those of the bitmap-per-operation path, for every option, on resources in two containers
 * (ids below and above 65536), with array, bitset and run containers among the leaves. */
static void test_fused_like_bitmaps(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    static const char *const names[] = {"A", "A.B", "A.C", "D", "E", "E.F", "Big"};
    static const char *const exprs[] = {
        "A or D", "A and not D", "not D and A", "not (A or E.*)", "A.* and (D or E.F)",
        "(A or (A.B and (E.* or D))) and not A.C", "Big and not A", "Big or E", "not Big",
        "kind:folder or A", "not not D", "(D and not E) or (A.B and not A.C)",
        "Big and A and D", "E.* or A.* or D", "(not D and A.*) or (E and not Big)"};
    enum { NT = sizeof(names) / sizeof(names[0]), NE = sizeof(exprs) / sizeof(exprs[0]) };
    int64_t tags[NT], rids[4600];
    int nr = 0;
    unsigned seed = 4242;
    struct tg_err err;
    char key[32];

    for (int i = 0; i < NT; i++)
        tags[i] = tag(f, names[i]);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "d%d", i);
        rids[nr++] = res(f, "folder", key, NULL);
    }
    for (int i = 0; i < 4200; i++) {
        char pkey[16];
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(pkey, sizeof(pkey), "d%d", i % 20);
        rids[nr++] = res(f, i % 7 ? "file" : "column", key, i % 3 ? pkey : NULL);
    }
    assert_int_equal(store_exec_script(f->conn,
                                       "INSERT INTO resources(id, ws_id, kind, key, created_at,"
                                       " updated_at) SELECT 70000, ws_id, 'file', 'hi-x', 0, 0"
                                       " FROM resources LIMIT 1;",
                                       &err),
                     0);
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "h%d", i);
        rids[nr++] = res(f, "file", key, i % 2 ? "d3" : NULL);
    }
    for (int i = 0; i < nr; i++) {
        int64_t ts[NT];
        size_t n = 0;
        for (int t = 0; t < NT - 1; t++)
            if (rand_r(&seed) % 4 == 0)
                ts[n++] = tags[t];
        if (i < 4200 || i % 2)
            ts[n++] = tags[NT - 1]; /* Big: a bitset in the first container */
        assert_int_equal(core_assign_add(&f->cx, rids[i], ts, n, NULL, NULL, NULL, &err), 0);
        if (i % 11 == 0) {
            struct resource_input in;
            struct resource r;
            memset(&in, 0, sizeof(in));
            in.has_archived = true;
            in.archived = true;
            snprintf(key, sizeof(key), "%s%d", i < 20 ? "d" : i < 4220 ? "k" : "h",
                     i < 20 ? i : i < 4220 ? i - 20 : i - 4220);
            core_resource_put(&f->cx, i < 20 ? "folder" : i < 4220 && (i - 20) % 7 == 0 ? "column" : "file",
                              key, &in, &r, NULL, &err);
        }
    }
    apply(f, &e);
    {
        const struct eng_snap *s = engine_acquire(e);
        for (int round = 0; round < 400; round++) {
            struct eng_query o;
            const char *want, *got, *src = exprs[round % NE];
            memset(&o, 0, sizeof(o));
            o.ws_id = f->cx.ws_id;
            o.effective = rand_r(&seed) % 2;
            o.archived = rand_r(&seed) % 2;
            o.limit = (int[]){0, 1, 7, 100, 5000}[rand_r(&seed) % 5];
            o.after_id = rand_r(&seed) % 3 ? 0 : (int64_t)(rand_r(&seed) % 71000);
            o.kind = (const char *[]){NULL, NULL, "file", "column", "nothing"}[rand_r(&seed) % 5];
            o.within = rand_r(&seed) % 4 ? 0 : rids[rand_r(&seed) % 20];
            eng__fused = false;
            want = answer(f, s, src, &o);
            eng__fused = true;
            got = answer(f, s, src, &o);
            if (strcmp(want, got) != 0)
                fail_msg("round %d '%s' (effective %d archived %d limit %d after %lld kind %s"
                         " within %lld):\n bitmaps %.300s\n fused   %.300s",
                         round, src, o.effective, o.archived, o.limit, (long long)o.after_id,
                         o.kind ? o.kind : "-", (long long)o.within, want, got);
        }
        engine_release(e, s);
    }
    engine_free(e);
}

/* Queries keep dense copies of array containers between runs (eval.c, dense_words), named by
 * bitmap and generation. After each commit of random adds and removals (tags of 150 to 1,500
 * resources: array and run containers above the copies' threshold and runs below it, which
 * writes replace and free),
 * every fused answer must still be the bitmap path's, on the snapshot of that commit; half of
 * the trees come with their names normalized ahead (query_normalize, core's parse cache). */
static void test_fused_across_writes(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    static const char *const names[] = {"X", "Y", "Z", "Z.W"};
    static const char *const exprs[] = {"X or Y", "X and not Y", "(X or Z.*) and not Y",
                                        "not X and Z", "(Y or (X and (Z.* or Z.W))) and not Z"};
    enum { NT = 4, NR = 3000, NE = sizeof(exprs) / sizeof(exprs[0]) };
    int64_t tags[NT], rids[NR];
    unsigned seed = 777;
    struct tg_err err;
    char key[32];

    for (int i = 0; i < NT; i++)
        tags[i] = tag(f, names[i]);
    for (int i = 0; i < NR; i++) {
        snprintf(key, sizeof(key), "r%d", i);
        rids[i] = res(f, "file", key, i >= 100 && i % 10 ? "r1" : NULL);
    }
    for (int i = 0; i < NR; i++) {
        int64_t ts[3];
        size_t n = 0;
        if (rand_r(&seed) % 4 == 0)
            ts[n++] = tags[i % 2];
        if (i % 37 <= 20) /* 81 runs off word boundaries: a run container copied dense */
            ts[n++] = tags[2];
        if (i % 500 <= 130) /* 6 runs: a run container spread in place */
            ts[n++] = tags[3];
        if (n)
            assert_int_equal(core_assign_add(&f->cx, rids[i], ts, n, NULL, NULL, NULL, &err), 0);
    }
    assert_int_equal(core_assign_add(&f->cx, rids[1], &tags[0], 1, NULL, NULL, NULL, &err), 0);
    apply(f, &e);
    for (int round = 0; round < 40; round++) {
        for (int op = 0; op < 150; op++) {
            int r = rand_r(&seed) % NR, t = rand_r(&seed) % NT;
            tg_err_clear(&err);
            if (rand_r(&seed) % 2)
                core_assign_add(&f->cx, rids[r], &tags[t], 1, NULL, NULL, NULL, &err);
            else
                core_assign_remove(&f->cx, rids[r], tags[t], &err);
        }
        apply(f, &e);
        const struct eng_snap *s = engine_acquire(e);
        for (int q = 0; q < 2 * NE; q++) {
            struct eng_query o;
            struct eng_result res;
            struct qnode *tree;
            struct qerr qe;
            struct sbuf b;
            const char *want, *src = exprs[q % NE];
            memset(&o, 0, sizeof(o));
            o.ws_id = f->cx.ws_id;
            o.effective = q >= NE;
            o.limit = 50;
            eng__fused = false;
            want = answer(f, s, src, &o);
            eng__fused = true;
            assert_int_equal(query_parse(&f->a, src, strlen(src), &tree, &qe), 0);
            if (round % 2)
                query_normalize(&f->a, tree);
            assert_int_equal(eng_query_run(s, &f->a, tree, &o, &res, &qe, &err), 0);
            sbuf_init(&b, 0);
            sbuf_printf(&b, "total=%llu more=%d:", (unsigned long long)res.total, res.more);
            for (size_t i = 0; i < res.n; i++)
                sbuf_printf(&b, " %lld", (long long)res.ids[i]);
            if (strcmp(want, sbuf_str(&b)) != 0)
                fail_msg("round %d '%s' effective %d:\n bitmaps %.300s\n fused   %.300s", round,
                         src, o.effective, want, sbuf_str(&b));
            sbuf_release(&b);
        }
        /* One leaf is counted from a per-thread cache of counts named likewise: as the same
         * leaf or'ed with itself, which the fused path counts word by word. */
        for (int t = 0; t < 2 * NT; t++) {
            struct eng_query o;
            char one[16], two[40];
            memset(&o, 0, sizeof(o));
            o.ws_id = f->cx.ws_id;
            o.effective = t >= NT;
            o.limit = 3;
            snprintf(one, sizeof(one), "%s%s", names[t % NT], t % 2 ? ".*" : "");
            snprintf(two, sizeof(two), "%s or %s", one, one);
            assert_string_equal(answer(f, s, one, &o), answer(f, s, two, &o));
        }
        engine_release(e, s);
    }
    engine_free(e);
    eng_thread_done();
}

/* A one-leaf query reads its page straight from the containers (eval.c, page_read): every
 * page, from every starting point (on a member, between members, before and past all), must
 * be the slice of the whole answer, for an array, a bitset and a run container. */
static void test_pages_from_every_container_kind(void **state)
{
    struct fixture *f = *state;
    struct engine *e = NULL;
    static const char *const names[] = {"Sparse", "Dense", "Runs"};
    int64_t tags[3], rids[8000];
    struct tg_err err;
    char key[16];

    for (int t = 0; t < 3; t++)
        tags[t] = tag(f, names[t]);
    for (int i = 0; i < 8000; i++) {
        int64_t ts[3];
        size_t n = 0;
        snprintf(key, sizeof(key), "p%d", i);
        rids[i] = res(f, "file", key, NULL);
        if (i % 7 == 3)
            ts[n++] = tags[0]; /* 1,143: an array */
        if (i % 3 != 0)
            ts[n++] = tags[1]; /* 5,333 in 2,667 runs: a bitset */
        if ((i >= 1000 && i < 1999) || (i >= 3070 && i < 3300))
            ts[n++] = tags[2]; /* two runs (the load optimizes them) */
        if (n)
            assert_int_equal(core_assign_add(&f->cx, rids[i], ts, n, NULL, NULL, NULL, &err), 0);
    }
    apply(f, &e);
    const struct eng_snap *s = engine_acquire(e);
    for (int t = 0; t < 3; t++) {
        struct eng_query o;
        struct eng_result all, page;
        struct qnode *q;
        struct qerr qe;
        memset(&o, 0, sizeof(o));
        o.ws_id = f->cx.ws_id;
        o.limit = 8000;
        assert_int_equal(query_parse(&f->a, names[t], strlen(names[t]), &q, &qe), 0);
        assert_int_equal(eng_query_run(s, &f->a, q, &o, &all, &qe, &err), 0);
        assert_int_equal(all.n, all.total);
        for (int from = -1; from < 8000; from += 61) {
            int64_t after = from < 0 ? 0 : rids[from] - (from % 2); /* on one, or just before */
            for (int limit = 1; limit <= 100; limit += 33) {
                size_t k = 0;
                o.after_id = after;
                o.limit = limit;
                assert_int_equal(eng_query_run(s, &f->a, q, &o, &page, &qe, &err), 0);
                while (k < all.n && all.ids[k] <= after)
                    k++;
                assert_int_equal(page.total, all.total);
                assert_int_equal(page.n, all.n - k < (size_t)limit ? all.n - k : (size_t)limit);
                assert_int_equal(page.more, all.n - k > (size_t)limit);
                for (size_t i = 0; i < page.n; i++)
                    assert_int_equal(page.ids[i], all.ids[k + i]);
            }
        }
    }
    engine_release(e, s);
    engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_and_query, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fused_across_writes, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_pages_from_every_container_kind, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_catch_up_and_isolation, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_paging_and_filters, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_random_against_sql, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tag_lists_against_sql, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_assignments_against_sql, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_adds_applied_from_records, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_new_resources_read_in_ranges, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_new_tag_found_by_queries_at_once, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_purged_id_reused, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_resource_keys, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_share_containers, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_effective_random, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_load_equals_catch_up, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_bitmap_ops),
        cmocka_unit_test_setup_teardown(test_fused_like_bitmaps, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
