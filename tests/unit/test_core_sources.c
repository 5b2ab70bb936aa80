/* tests/unit/test_core_sources.c: external tag sources (parse, apply, refresh with savepoints,
 * config list) and the Immuta rules in core/sources.c (models, POST /tag, search, profiles). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/immuta_rules.h"
#include "core/sources.h"
#include "fixture.h"

static struct src_tag *parse_ok(struct fixture *f, const char *doc, size_t *n)
{
    struct src_tag *tags;
    struct tg_err err;
    int rc = core_src_parse(&f->cx, doc, strlen(doc), &tags, n, &err);
    if (rc)
        fail_msg("parse failed: %s", err.msg);
    return tags;
}

static int parse_rc(struct fixture *f, const char *doc, struct tg_err *err)
{
    struct src_tag *tags;
    size_t n;
    return core_src_parse(&f->cx, doc, strlen(doc), &tags, &n, err);
}

static struct tag get(struct fixture *f, const char *name)
{
    struct tag t;
    struct tg_err err;
    assert_int_equal(core_tag_find(&f->cx, name, &t, &err), 0);
    return t;
}

static bool exists_live(struct fixture *f, const char *name)
{
    struct tag t;
    struct tg_err err;
    return core_tag_find(&f->cx, name, &t, &err) == 0 && !t.deleted;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_parse_formats(void **state)
{
    struct fixture *f = *state;
    struct src_tag *t;
    size_t n;

    t = parse_ok(f, "[\"b.c\", \"a\"]", &n);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].name, "a");
    assert_string_equal(t[1].name, "b");
    assert_true(t[1].implied);
    assert_string_equal(t[2].name, "b.c");
    assert_false(t[2].implied);

    /* A listed parent wins over the implied one; repeated names count once. */
    t = parse_ok(f, "{\"tags\": [{\"name\": \"P.x\", \"description\": \"d\", \"assignments\":"
                    " [{\"modelType\": \"column\", \"modelId\": \"4_a_b\"}]},"
                    " {\"name\": \"P\", \"description\": \"top\"}, \"P.x\"]}",
                 &n);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].name, "P");
    assert_false(t[0].implied);
    assert_string_equal(t[0].description, "top");
    assert_string_equal(t[1].description, "d");
    assert_int_equal(t[1].nmodels, 1);
    assert_string_equal(t[1].models[0].id, "4_a_b");

    /* The Immuta REST catalog shape: a map of names to objects. */
    t = parse_ok(f, "{\"tag.one\": {\"id\": 1}, \"tag.two\": {\"id\": \"2\", \"assignments\":"
                    " [{\"modelType\": \"datasource\", \"modelId\": 9}]}}",
                 &n);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].name, "tag");
    assert_string_equal(t[2].models[0].id, "9");
    assert_string_equal(t[2].models[0].type, "datasource");
}

static void test_parse_errors(void **state)
{
    struct fixture *f = *state;
    struct tg_err err;

    assert_int_equal(parse_rc(f, "[\"a", &err), TG_EINVAL);
    assert_non_null(strstr(err.msg, "not a JSON document"));
    assert_int_equal(parse_rc(f, "[\"a..b\"]", &err), TG_EINVAL);
    assert_non_null(strstr(err.msg, "a..b"));
    assert_int_equal(parse_rc(f, "[5]", &err), TG_EINVAL);
    assert_int_equal(parse_rc(f, "{\"tags\": 5}", &err), TG_EINVAL);
    assert_int_equal(parse_rc(f, "[{\"name\": \"a\", \"description\": 3}]", &err), TG_EINVAL);
    assert_int_equal(parse_rc(f, "[{\"name\": \"a\", \"assignments\": [{\"modelType\": \"table\","
                                 " \"modelId\": \"1\"}]}]",
                              &err),
                     TG_EINVAL);
    assert_non_null(strstr(err.msg, "tag 'a': modelType"));
    assert_int_equal(parse_rc(f, "[{\"name\": \"a\", \"assignments\": [{\"modelType\": \"column\","
                                 " \"modelId\": \"7\"}]}]",
                              &err),
                     TG_EINVAL);
}

static void apply(struct fixture *f, const char *source, const char *doc,
                  struct src_result *res)
{
    struct src_tag *tags;
    struct tg_err err;
    size_t n;

    tags = parse_ok(f, doc, &n);
    if (core_src_apply(&f->cx, source, tags, n, res, &err) != 0)
        fail_msg("apply failed: %s", err.msg);
}

static void test_apply_cycle(void **state)
{
    struct fixture *f = *state;
    struct src_result res;
    struct tag_input in;
    struct tag t, child;
    struct tg_err err;
    int64_t gone_id;

    memset(&in, 0, sizeof(in));
    in.name = "Own.curated";
    assert_int_equal(core_tag_create(&f->cx, &in, &t, &err), 0);

    apply(f, "crm", "[{\"name\": \"Crm.a\", \"description\": \"one\"}, \"Crm.b\", \"Crm.c\","
                    " \"Own.curated\", \"Own.new\"]",
          &res);
    assert_true(res.ok);
    assert_int_equal(res.created, 5); /* Crm, Crm.a, Crm.b, Crm.c, Own.new */
    assert_int_equal(res.nconflicts, 2);
    assert_string_equal(res.conflicts[0], "Own");
    assert_string_equal(res.conflicts[1], "Own.curated");
    t = get(f, "Crm.a");
    assert_string_equal(t.source, "crm");
    assert_true(t.protected_);
    assert_false(t.system_created);
    assert_string_equal(t.description, "one");
    assert_string_equal(get(f, "Own.curated").source, "curated");
    assert_string_equal(get(f, "Own.new").source, "crm");

    /* Someone hangs a curated tag below Crm.c, which then vanishes from the document. */
    memset(&in, 0, sizeof(in));
    in.name = "Crm.c.mine";
    assert_int_equal(core_tag_create(&f->cx, &in, &child, &err), 0);
    gone_id = get(f, "Crm.b").id;
    fixture_next_txn(f);
    apply(f, "crm", "[{\"name\": \"Crm.a\", \"description\": \"two\"}, \"Crm.d\"]", &res);
    assert_int_equal(res.created, 1);
    assert_int_equal(res.updated, 1);
    assert_int_equal(res.deleted, 2); /* Crm.b, Own.new (Own is curated) */
    assert_int_equal(res.nconflicts, 1);
    assert_string_equal(res.conflicts[0], "Crm.c");
    assert_string_equal(get(f, "Crm.a").description, "two");
    assert_true(get(f, "Crm.b").deleted);
    assert_true(exists_live(f, "Crm.c"));
    assert_true(exists_live(f, "Crm.c.mine"));

    /* Back again: the same row returns. */
    fixture_next_txn(f);
    apply(f, "crm", "[{\"name\": \"Crm.a\", \"description\": \"two\"}, \"Crm.d\", \"Crm.b\"]",
          &res);
    assert_int_equal(res.created, 1);
    assert_int_equal(res.unchanged, 3); /* Crm, Crm.a, Crm.d */
    t = get(f, "Crm.b");
    assert_int_equal(t.id, gone_id);
    assert_false(t.deleted);

    /* Another source cannot take over crm's names. */
    apply(f, "other", "[\"Crm.a\"]", &res);
    assert_int_equal(res.created, 0);
    assert_int_equal(res.nconflicts, 2);
    assert_string_equal(get(f, "Crm.a").source, "crm");
}

/* A refresh from documents fetched ahead (by the server's fetch thread): it applies what was
 * fetched then, not what the source holds now, and a source added or moved since fails alone
 * instead of being fetched by the writer. */
static void test_refresh_from_a_prefetch(void **state)
{
    struct fixture *f = *state;
    char one[300], two[300];
    struct src_prefetch pre;
    struct src_result *res;
    struct source s;
    struct tg_err err;
    size_t n;

    snprintf(one, sizeof(one), "%s/one.json", f->dir);
    snprintf(two, sizeof(two), "%s/two.json", f->dir);
    write_file(one, "[\"Pre.fetched\"]");
    write_file(two, "[\"Pre.two\"]");
    assert_int_equal(core_src_create(&f->cx, "one", one, &s, &err), 0);
    assert_int_equal(core_src_prefetch(&f->cx, NULL, &pre, &err), 0);
    assert_int_equal(pre.n, 1);
    assert_true(pre.v[0].ok);
    write_file(one, "[\"Pre.later\"]");
    assert_int_equal(core_src_create(&f->cx, "two", two, &s, &err), 0);
    assert_int_equal(core_src_refresh(&f->cx, NULL, &pre, &res, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(res[0].name, "one");
    assert_true(res[0].ok);
    assert_string_equal(res[1].name, "two");
    assert_false(res[1].ok);
    assert_non_null(strstr(res[1].error, "changed during the refresh"));
    assert_true(exists_live(f, "Pre.fetched"));
    assert_false(exists_live(f, "Pre.later"));
    assert_false(exists_live(f, "Pre.two"));
    /* A fetch that failed ahead fails the same way in the refresh. */
    assert_int_equal(core_src_delete(&f->cx, "two", &err), 0);
    unlink(one);
    assert_int_equal(core_src_prefetch(&f->cx, NULL, &pre, &err), 0);
    assert_false(pre.v[0].ok);
    assert_int_equal(core_src_refresh(&f->cx, NULL, &pre, &res, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_false(res[0].ok);
    assert_non_null(strstr(res[0].error, "cannot read"));
    assert_true(exists_live(f, "Pre.fetched"));
    assert_int_equal(core_src_delete(&f->cx, "one", &err), 0);
}

static void test_refresh_rolls_back_a_failing_source(void **state)
{
    struct fixture *f = *state;
    char good[300], bad[300], spec[700];
    struct src_result *res;
    struct source s;
    struct tg_err err;
    size_t n;
    int saved = core_limits.max_tags_per_resource;

    snprintf(good, sizeof(good), "%s/good.json", f->dir);
    snprintf(bad, sizeof(bad), "%s/bad.json", f->dir);
    write_file(good, "[\"Good.one\"]");
    /* Applying fails on the second assignment (limit 1 per resource), after Bad.a was made. */
    write_file(bad, "[{\"name\": \"Bad.a\", \"assignments\": [{\"modelType\": \"project\","
                    " \"modelId\": \"1\"}]}, {\"name\": \"Bad.b\", \"assignments\":"
                    " [{\"modelType\": \"project\", \"modelId\": \"1\"}]}]");
    snprintf(spec, sizeof(spec), "good=file://%s", good);
    assert_int_equal(core_src_configure(spec, &err), 0);
    assert_int_equal(core_src_create(&f->cx, "bad", bad, &s, &err), 0);
    assert_int_equal(core_src_create(&f->cx, "missing", "/nonexistent/x.json", &s, &err), 0);
    assert_int_equal(core_src_create(&f->cx, "good", bad, &s, &err), TG_EEXISTS);
    core_limits.max_tags_per_resource = 1;
    assert_int_equal(core_src_refresh(&f->cx, NULL, NULL, &res, &n, &err), 0);
    core_limits.max_tags_per_resource = saved;
    assert_int_equal(n, 3);
    assert_string_equal(res[0].name, "good");
    assert_true(res[0].ok);
    assert_string_equal(res[1].name, "bad");
    assert_false(res[1].ok);
    assert_non_null(strstr(res[1].error, "Bad.b"));
    assert_string_equal(res[2].name, "missing");
    assert_false(res[2].ok);
    assert_non_null(strstr(res[2].error, "cannot read"));
    assert_true(exists_live(f, "Good.one"));
    assert_false(exists_live(f, "Bad.a"));
    assert_false(exists_live(f, "Bad"));
    {
        struct source *all;
        size_t k;
        assert_int_equal(core_src_list(&f->cx, &all, &k, &err), 0);
        assert_int_equal(k, 3);
        assert_string_equal(all[0].origin, "config");
        assert_string_equal(all[1].name, "bad");
        assert_non_null(all[1].last_error);
        assert_true(all[1].refreshed_at > 0);
    }
    assert_int_equal(core_src_delete(&f->cx, "good", &err), TG_ERULE);
    assert_int_equal(core_src_delete(&f->cx, "bad", &err), 0);
    assert_int_equal(core_src_delete(&f->cx, "bad", &err), TG_ENOTFOUND);
    assert_int_equal(core_src_configure("", &err), 0);
}

static void test_config_shadows_stored(void **state)
{
    struct fixture *f = *state;
    char path[300], spec[400];
    struct src_result *res;
    struct source s;
    struct tg_err err;
    size_t n;

    snprintf(path, sizeof(path), "%s/dup.json", f->dir);
    write_file(path, "[\"Dup.one\"]");
    assert_int_equal(core_src_create(&f->cx, "dup", path, &s, &err), 0);
    snprintf(spec, sizeof(spec), "dup=%s", path);
    assert_int_equal(core_src_configure(spec, &err), 0);
    assert_int_equal(core_src_refresh(&f->cx, NULL, NULL, &res, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(res[0].ok);
    assert_int_equal(res[0].created, 2);
    assert_false(res[1].ok);
    assert_non_null(strstr(res[1].error, "config-file source"));
    assert_int_equal(core_src_configure(NULL, &err), 0);
}

static void test_configure(void **state)
{
    struct fixture *f = *state;
    struct source *all;
    struct tg_err err;
    size_t n;

    assert_int_equal(core_src_configure("a=/x.json  b=https://h/t.json\n", &err), 0);
    assert_int_equal(core_src_list(&f->cx, &all, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(all[1].url, "https://h/t.json");
    assert_int_equal(core_src_configure("a=/x a=/y", &err), TG_EINVAL);
    assert_int_equal(core_src_configure("novalue", &err), TG_EINVAL);
    assert_int_equal(core_src_configure("a=ftp://x", &err), TG_EINVAL);
    assert_int_equal(core_src_configure("curated=/x", &err), TG_EINVAL);
    /* A failed configuration leaves the earlier list as it was (a reload is refused whole). */
    assert_int_equal(core_src_list(&f->cx, &all, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(all[0].name, "a");
    assert_int_equal(core_src_configure("", &err), 0);
    assert_int_equal(core_src_list(&f->cx, &all, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(core_src_check("ok", "relative.json", &err), TG_EINVAL);
    assert_int_equal(core_src_check("ok", "file:///abs.json", &err), 0);
}

static void test_models(void **state)
{
    struct fixture *f = *state;
    struct resource r, ds;
    struct tg_err err;

    assert_int_equal(core_immuta_model(&f->cx, "column", "6_country_code", false, &r, &err),
                     TG_ENOTFOUND);
    assert_int_equal(core_immuta_model(&f->cx, "column", "6_country_code", true, &r, &err), 0);
    assert_string_equal(r.kind, "column");
    assert_string_equal(r.key, "6_country_code");
    assert_string_equal(r.parent_kind, "datasource");
    assert_string_equal(r.parent_key, "6");
    assert_int_equal(core_immuta_model(&f->cx, "datasource", "6", false, &ds, &err), 0);
    assert_int_equal(r.parent_id, ds.id);
    assert_int_equal(core_immuta_model(&f->cx, "table", "6", true, &r, &err), TG_EINVAL);
    assert_int_equal(core_immuta_model(&f->cx, "datasource", "x6", true, &r, &err), TG_EINVAL);
    assert_int_equal(core_immuta_model(&f->cx, "column", "x_6", true, &r, &err), TG_EINVAL);
    assert_int_equal(core_immuta_model(&f->cx, "column", "6_", true, &r, &err), TG_EINVAL);
}

static void test_tags_write(void **state)
{
    struct fixture *f = *state;
    struct immuta_item items[3] = {{"Address.email", 0}, {"Address.work", 0}, {"Address.home", 0}};
    struct immuta_root root = {"Address", NULL, false};
    struct tag out[3];
    struct tg_err err;
    int64_t ids[3];

    assert_int_equal(core_immuta_tags_write(&f->cx, items, 3, NULL, out, &err), 0);
    for (int i = 0; i < 3; i++)
        ids[i] = out[i].id;
    assert_int_equal(core_immuta_tags_write(&f->cx, items, 1, NULL, out, &err), TG_EEXISTS);
    assert_non_null(strstr(err.msg, "overlap with existing hierarchies"));

    struct immuta_item ren[2] = {{"Address.state", ids[0]}, {"Address.city", ids[1]}};
    assert_int_equal(core_immuta_tags_write(&f->cx, ren, 2, &root, out, &err), 0);
    assert_string_equal(out[0].name, "Address.state");
    assert_int_equal(out[0].id, ids[0]);
    assert_true(exists_live(f, "Address.home"));

    /* deleteHierarchy: home goes, state is kept by id, a new child comes. */
    root.delete_hierarchy = true;
    struct immuta_item rep[2] = {{"Address.state", ids[0]}, {"Address.zip", 0}};
    assert_int_equal(core_immuta_tags_write(&f->cx, rep, 2, &root, out, &err), 0);
    assert_false(exists_live(f, "Address.home"));
    assert_false(exists_live(f, "Address.city"));
    assert_true(exists_live(f, "Address.zip"));
    assert_true(exists_live(f, "Address.state"));

    /* A deleted child named again is revived under deleteHierarchy. */
    struct immuta_item again[1] = {{"Address.zip", 0}};
    assert_int_equal(core_immuta_tags_write(&f->cx, again, 1, &root, out, &err), 0);
    assert_false(exists_live(f, "Address.state"));
    assert_true(exists_live(f, "Address.zip"));

    /* Renaming a tag away frees its name (and its subtree's) for a creation. */
    struct immuta_item swap[2] = {{"Address.zip", 0}, {"Address.postcode", out[0].id}};
    assert_int_equal(core_immuta_tags_write(&f->cx, swap, 2, NULL, out, &err), 0);
    assert_string_equal(out[1].name, "Address.postcode");
    assert_true(out[0].id != out[1].id);
    assert_true(exists_live(f, "Address.zip"));

    struct immuta_item outside[1] = {{"Other.x", 0}};
    assert_int_equal(core_immuta_tags_write(&f->cx, outside, 1, &root, out, &err), TG_EINVAL);
    /* A rootTag that does not exist is made with the tags below it; above, outside is checked
     * against it all the same. */
    root.name = "Nope";
    assert_int_equal(core_immuta_tags_write(&f->cx, outside, 1, &root, out, &err), TG_EINVAL);
    assert_false(exists_live(f, "Nope"));
    root.name = "Other";
    assert_int_equal(core_immuta_tags_write(&f->cx, outside, 1, &root, out, &err), 0);
    assert_true(exists_live(f, "Other"));
    assert_true(exists_live(f, "Other.x"));
    root.name = "Address";
    root.source = "crm";
    assert_int_equal(core_immuta_tags_write(&f->cx, again, 1, &root, out, &err), TG_EINVAL);
}

static void mk(struct fixture *f, const char *name, bool system)
{
    struct tag_input in;
    struct tag t;
    struct tg_err err;
    memset(&in, 0, sizeof(in));
    in.name = name;
    in.system_created = system;
    assert_int_equal(core_tag_create(&f->cx, &in, &t, &err), 0);
}

static size_t search(struct fixture *f, struct immuta_search *q, struct tag **out)
{
    struct tg_err err;
    size_t n;
    assert_int_equal(core_immuta_search(&f->cx, q, out, &n, &err), 0);
    return n;
}

static void test_search(void **state)
{
    struct fixture *f = *state;
    const char *ex[] = {"discovered.country"};
    struct immuta_search q;
    struct tag *t;
    struct tg_err err;

    mk(f, "Discovered", true);
    mk(f, "Discovered.Country", true);
    mk(f, "Discovered.Country.Canada", true);
    mk(f, "Discovered.Old", true);
    mk(f, "Mine", false);
    mk(f, "Mine.gone", false);
    assert_int_equal(core_tag_delete(&f->cx, get(f, "Discovered.Old").id, false, false, 0, &err),
                     0);
    assert_int_equal(core_tag_delete(&f->cx, get(f, "Mine.gone").id, false, false, 0, &err), 0);

    memset(&q, 0, sizeof(q));
    q.system = 2;
    assert_int_equal(search(f, &q, &t), 4);
    assert_string_equal(t[0].name, "Discovered");
    assert_string_equal(t[3].name, "Mine");
    q.system = 1;
    assert_int_equal(search(f, &q, &t), 5); /* Discovered.Old (deleted, system) too */
    q.system = 0;
    assert_int_equal(search(f, &q, &t), 1);
    assert_string_equal(t[0].name, "Mine");
    q.system = 2;
    q.text = "COUNTRY";
    assert_int_equal(search(f, &q, &t), 2);
    q.text = NULL;
    q.excluded = ex;
    q.nexcluded = 1;
    assert_int_equal(search(f, &q, &t), 2);
    q.limit = 1;
    assert_int_equal(search(f, &q, &t), 1);
    assert_string_equal(t[0].name, "Discovered");
}

static void test_profile(void **state)
{
    struct fixture *f = *state;
    struct user u;
    struct tag t;
    struct tg_err err;

    assert_int_equal(core_user_create(&f->cx, "alice", "alice-password", RIGHT_ALL, NULL, &u, &err), 0);
    f->cx.who.name = "alice";
    assert_int_equal(core_tag_ensure(&f->cx, "ByAlice", &t, &err), 0);
    assert_int_equal(core_immuta_profile(&f->cx, t.created_by), u.id);
    assert_true(u.id > 0 && u.id < CORE_PRINCIPAL_TOKEN_BASE);
    /* The env admin token is the bootstrap's first token row. */
    assert_int_equal(core_immuta_profile(&f->cx, "TAGD_ADMIN_TOKEN"),
                     CORE_PRINCIPAL_TOKEN_BASE + 1);
    assert_int_equal(core_immuta_profile(&f->cx, NULL), 0);
    assert_int_equal(core_immuta_profile(&f->cx, "system"), 0);
    assert_int_equal(core_immuta_profile(&f->cx, "nobody-of-that-name"), 0);
}

/* Tokens: the first token recorded under a name (a token without a name records "token"),
 * links as "<kind>:<id>"; the same number after the rows are read again. */
static void test_profile_tokens(void **state)
{
    struct fixture *f = *state;
    struct token a, b, c, d;
    struct tg_err err;
    const char *secret;

    assert_int_equal(core_token_create(&f->cx, 0, "api", "ci", RIGHT_ALL, 0, 0, 0, NULL, NULL, &secret,
                                       &a, &err), 0);
    assert_int_equal(core_token_create(&f->cx, 0, "api", "ci", RIGHT_READ, 0, 0, 0, NULL, NULL, &secret,
                                       &b, &err), 0);
    assert_int_equal(core_token_create(&f->cx, 0, "api", NULL, RIGHT_READ, 0, 0, 0, NULL, NULL, &secret,
                                       &c, &err), 0);
    assert_int_equal(core_token_create(&f->cx, 0, "applink", "link", 0, 0, 0, 0, NULL, NULL, &secret,
                                       &d, &err), 0);
    assert_int_equal(core_principal_id(&f->cx, "ci"), CORE_PRINCIPAL_TOKEN_BASE + a.id);
    assert_int_equal(core_principal_id(&f->cx, "token"), CORE_PRINCIPAL_TOKEN_BASE + c.id);
    assert_int_equal(core_principal_id(&f->cx, arena_printf(f->cx.a, "applink:%lld",
                                                            (long long)d.id)),
                     CORE_PRINCIPAL_TOKEN_BASE + d.id);
    /* A link's own name is no principal name, nor another kind's id. */
    assert_int_equal(core_principal_id(&f->cx, "link"), 0);
    assert_int_equal(core_principal_id(&f->cx, arena_printf(f->cx.a, "publiclink:%lld",
                                                            (long long)d.id)),
                     0);
    assert_int_equal(core_principal_id(&f->cx, "applink:x"), 0);
    (void)b;
}

/* Immuta's API-key login: the token stands for its key and works only where logins are
 * accepted; it ends with the key. */
static void test_apikey_login(void **state)
{
    struct fixture *f = *state;
    struct core_ctx cx;
    struct token k;
    struct tg_err err;
    const char *secret, *key, *again;
    int64_t expires;

    core_ctx_init(&cx, f->conn, &f->a, true);
    assert_int_equal(core_apikey_login(&cx, "unit-token", &secret, &expires, &err), 0);
    assert_int_equal(expires, cx.now + core_limits.login_ttl_ms);
    core_ctx_init(&cx, f->conn, &f->a, true);
    assert_int_equal(core_auth_token(&cx, secret, &err), TG_EAUTH);
    assert_false(cx.authed);
    assert_int_equal(core_auth_token_login(&cx, secret, &err), 0);
    assert_string_equal(cx.who.kind, "login");
    assert_string_equal(cx.who.name, "TAGD_ADMIN_TOKEN");
    assert_int_equal(cx.who.token_id, 1);
    assert_int_equal(cx.who.rights & RIGHT_ADMIN, RIGHT_ADMIN);
    /* A login token is no key. */
    core_ctx_init(&cx, f->conn, &f->a, true);
    assert_int_equal(core_apikey_login(&cx, secret, &again, &expires, &err), TG_EAUTH);
    assert_false(cx.authed);
    assert_int_equal(core_apikey_login(&cx, "wrong", &again, &expires, &err), TG_EAUTH);
    assert_false(cx.authed);

    /* A key that expires sooner than the login's lifetime takes the login with it. */
    assert_int_equal(core_token_create(&f->cx, 0, "api", "short", RIGHT_READ, 0, 0,
                                       f->cx.now + 5000, NULL, NULL, &key, &k, &err), 0);
    core_ctx_init(&cx, f->conn, &f->a, true);
    assert_int_equal(core_apikey_login(&cx, key, &secret, &expires, &err), 0);
    assert_int_equal(expires, k.expires_at);
    core_ctx_init(&cx, f->conn, &f->a, true);
    assert_int_equal(core_auth_token_login(&cx, secret, &err), 0);
    assert_int_equal(cx.who.token_id, k.id);
    assert_int_equal(cx.who.rights, RIGHT_READ);
    assert_int_equal(core_token_revoke(&f->cx, k.id, &err), 0);
    core_ctx_init(&cx, f->conn, &f->a, true);
    assert_int_equal(core_auth_token_login(&cx, secret, &err), TG_EAUTH);
}

static void test_attach_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    struct immuta_attach items[2] = {{"Confidential", "curated"}, {"Missing", NULL}};
    struct assignment out[2];
    struct resource r;
    struct tg_err err;
    struct tag t;

    assert_int_equal(core_tag_ensure(&f->cx, "Confidential", &t, &err), 0);
    assert_int_equal(core_immuta_attach(&f->cx, "project", "2", items, 2, out, &err),
                     TG_ENOTFOUND);
    assert_int_equal(core_immuta_model(&f->cx, "project", "2", false, &r, &err), TG_ENOTFOUND);
    items[1].name = "Confidential";
    items[1].source = "crm";
    assert_int_equal(core_immuta_attach(&f->cx, "project", "2", items, 2, out, &err), TG_EINVAL);
    assert_int_equal(core_immuta_attach(&f->cx, "project", "2", items, 1, out, &err), 0);
    assert_string_equal(out[0].context, "manual");
    assert_string_equal(out[0].tag.name, "Confidential");
    assert_int_equal(core_immuta_detach(&f->cx, "project", "2", "Confidential", &out[0], &err),
                     0);
    assert_int_equal(core_immuta_detach(&f->cx, "project", "2", "Confidential", &out[0], &err),
                     TG_ENOTFOUND);
}

/* API-registered sources may not read local files unless the operator allows it. */
static void test_api_sources_restricted(void **state)
{
    struct fixture *f = *state;
    struct source out;
    struct tg_err err;
    const char *text;
    size_t len;

    src_limits.allow_local = false;
    assert_int_equal(core_src_create(&f->cx, "local", "/etc/hostname", &out, &err), TG_ERULE);
    assert_int_equal(core_src_create(&f->cx, "local", "file:///etc/hostname", &out, &err), TG_ERULE);
    assert_int_equal(core_src_fetch(&f->cx, "/etc/hostname", true, &text, &len, &err), TG_ERULE);
    assert_int_equal(core_src_fetch(&f->cx, "http://127.0.0.1:1/x", true, &text, &len, &err),
                     TG_ERULE);
    assert_int_equal(core_src_create(&f->cx, "remote", "https://example.invalid/t.json", &out, &err), 0);
    src_limits.allow_local = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_formats, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_parse_errors, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_apply_cycle, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_from_a_prefetch, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_refresh_rolls_back_a_failing_source, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_configure, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_config_shadows_stored, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_models, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tags_write, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_search, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_apikey_login, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_profile_tokens, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_profile, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_attach_all_or_nothing, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_api_sources_restricted, fixture_setup,
                                        fixture_teardown),
    };
    int rc;

    /* These tests register local files as sources, as an operator allowing it would. */
    src_limits.allow_local = true;
    core_src_global_init();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    core_src_global_release();
    return rc;
}
