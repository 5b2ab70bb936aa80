/* tests/unit/test_tagctl.c: tagctl's command line, configuration precedence and rendering
 * (src/tagctl/args.c, config.c, out.c), without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tagctl/tagctl.h"
#include "util/mem.h"

/* ---- args ---- */

/* A tiny splitter: words separated by single spaces (no quoting needed by these cases). */
static int split_parse(struct tc_args *a, const char *line, char **argv, char *buf, size_t n)
{
    int argc = 0;
    snprintf(buf, n, "tagctl %s", line);
    argv[argc++] = buf;
    for (char *p = buf; *p; p++) {
        if (*p == ' ') {
            *p = '\0';
            argv[argc++] = p + 1;
        }
    }
    return args_parse(argc, argv, a);
}

static void test_args_globals_anywhere(void **state)
{
    struct tc_args a;
    char *argv[64], buf[512];
    (void)state;
    assert_int_equal(split_parse(&a, "-o json tags list --prefix Ad -q --url=http://x:1", argv,
                                 buf, sizeof(buf)),
                     TC_OK);
    assert_string_equal(a.output, "json");
    assert_string_equal(a.url, "http://x:1");
    assert_true(a.quiet);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[0], "tags");
    assert_string_equal(a.pos[1], "list");
    assert_string_equal(args_get(&a, "prefix"), "Ad");
    assert_int_equal(args_check(&a, "prefix search"), TC_OK);
}

static void test_args_rows(void **state)
{
    /* Numbered rows: the command line, the result, a piece of the message. */
    static const struct {
        const char *line;
        int rc;
        const char *err;
    } rows[] = {
        /* 1 */ {"tags list --bogus", TC_USAGE, "unknown flag '--bogus'"},
        /* 2 */ {"tags list -z", TC_USAGE, "unknown flag '-z'"},
        /* 3 */ {"tags list --output", TC_USAGE, "--output needs a value"},
        /* 4 */ {"tags list --quiet=maybe", TC_USAGE, "takes no value"},
        /* 5 */ {"tags list -qx", TC_USAGE, "-q takes no value"},
        /* 6 */ {"tags list -ojson", TC_OK, NULL},
        /* 7 */ {"tags list --quiet=false", TC_OK, NULL},
        /* 8 */ {"tags delete -- -weird", TC_OK, NULL},
        /* 9 */ {"changes --follow=no --since 3", TC_OK, NULL},
        /* 10 */ {"import -", TC_OK, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tc_args a;
        char *argv[64], buf[512];
        int rc = split_parse(&a, rows[i].line, argv, buf, sizeof(buf));
        if (rc != rows[i].rc || (rows[i].err && strstr(a.err, rows[i].err) == NULL))
            fail_msg("args-%zu: '%s': rc %d err '%s'", i + 1, rows[i].line, rc, a.err);
    }
}

static void test_args_values(void **state)
{
    struct tc_args a;
    char *argv[64], buf[512];
    bool b;
    (void)state;
    assert_int_equal(split_parse(&a, "tags delete -- -weird --recursive", argv, buf, sizeof(buf)),
                     TC_OK);
    assert_int_equal(a.npos, 4); /* after --, flags are words */
    assert_string_equal(a.pos[3], "--recursive");

    assert_int_equal(split_parse(&a, "changes --follow=no --since 3 --since 4", argv, buf,
                                 sizeof(buf)),
                     TC_OK);
    assert_true(args_has(&a, "follow"));
    assert_false(args_bool(&a, "follow"));
    assert_string_equal(args_get(&a, "since"), "4"); /* the last one wins */

    assert_int_equal(split_parse(&a, "tags list -ojson --quiet=false", argv, buf, sizeof(buf)),
                     TC_OK);
    assert_string_equal(a.output, "json");
    assert_false(a.quiet);

    /* A flag the table knows but the command does not take. */
    assert_int_equal(split_parse(&a, "tags list --follow", argv, buf, sizeof(buf)), TC_OK);
    assert_int_equal(args_check(&a, "prefix search"), TC_USAGE);
    assert_non_null(strstr(a.err, "--follow"));
    /* A prefix of an allowed name is not allowed. */
    assert_int_equal(split_parse(&a, "tags list --pre x", argv, buf, sizeof(buf)), TC_USAGE);

    assert_true(args_parse_bool("YES", &b) && b);
    assert_true(args_parse_bool("off", &b) && !b);
    assert_false(args_parse_bool("maybe", &b));
}

static void test_cmd_find(void **state)
{
    const char *words[] = {"tags", "list", "extra"};
    int used;
    const struct tc_cmd *c;
    (void)state;
    c = cmd_find(words, 3, &used);
    assert_non_null(c);
    assert_string_equal(c->name, "tags list");
    assert_int_equal(used, 2);
    c = cmd_find(words, 1, &used);
    assert_string_equal(c->name, "tags");
    assert_null(c->fn);
    words[0] = "frobnicate";
    assert_null(cmd_find(words, 1, &used));
}

static void test_split_ref(void **state)
{
    char *kind;
    const char *key;
    (void)state;
    assert_true(cmd_split_ref("file/a/b.pdf", &kind, &key));
    assert_string_equal(kind, "file");
    assert_string_equal(key, "a/b.pdf");
    xfree(kind);
    assert_false(cmd_split_ref("file", &kind, &key));
    assert_false(cmd_split_ref("/x", &kind, &key));
    assert_false(cmd_split_ref("file/", &kind, &key));
}

/* ---- config ---- */

static const char *fake_env_url, *fake_env_token;

static const char *fake_getenv(const char *name)
{
    if (strcmp(name, "TAGD_URL") == 0)
        return fake_env_url;
    if (strcmp(name, "TAGD_TOKEN") == 0)
        return fake_env_token;
    return NULL;
}

static void test_config_precedence(void **state)
{
    struct tc_args a;
    struct tc_profile file = {0};
    struct tc_config c;
    (void)state;
    memset(&a, 0, sizeof(a));

    config_resolve(&a, &file, fake_getenv, &c);
    assert_string_equal(c.url, "http://127.0.0.1:8080");
    assert_int_equal(c.url_src, SRC_DEFAULT);
    assert_null(c.token);

    file.url = "http://profile";
    file.token = "tok-profile";
    config_resolve(&a, &file, fake_getenv, &c);
    assert_string_equal(c.url, "http://profile");
    assert_int_equal(c.token_src, SRC_PROFILE);

    fake_env_url = "http://env";
    fake_env_token = ""; /* empty is unset */
    config_resolve(&a, &file, fake_getenv, &c);
    assert_string_equal(c.url, "http://env");
    assert_int_equal(c.url_src, SRC_ENV);
    assert_string_equal(c.token, "tok-profile");

    a.url = "http://flag";
    a.token = "tok-flag";
    config_resolve(&a, &file, fake_getenv, &c);
    assert_string_equal(c.url, "http://flag");
    assert_int_equal(c.url_src, SRC_FLAG);
    assert_string_equal(c.token, "tok-flag");
    fake_env_url = fake_env_token = NULL;
}

static char *tmp_config(const char *text)
{
    char tmpl[] = "/tmp/tagctl-unit-XXXXXX";
    char *dir = mkdtemp(tmpl);
    struct sbuf p;
    FILE *f;
    assert_non_null(dir);
    sbuf_init(&p, 0);
    sbuf_printf(&p, "%s/tagctl/config", dir);
    if (text) {
        char sub[600];
        snprintf(sub, sizeof(sub), "%s/tagctl", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        f = fopen(sbuf_str(&p), "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        chmod(sbuf_str(&p), 0600);
    }
    return sbuf_detach(&p, NULL);
}

static void rm_config(char *path)
{
    char *slash;
    unlink(path);
    slash = strrchr(path, '/');
    *slash = '\0';
    rmdir(path);
    slash = strrchr(path, '/');
    *slash = '\0';
    rmdir(path);
    xfree(path);
}

static void test_config_load_profiles(void **state)
{
    char err[256];
    struct tc_profile p;
    char *path = tmp_config("# comment\n[default]\nurl = http://a\ntoken = t1\n\n"
                            "[work]\n  url=http://b  \ntoken = t2\norg = org_2\n");
    (void)state;
    assert_int_equal(config_load(path, "default", &p, err, sizeof(err)), TC_OK);
    assert_string_equal(p.url, "http://a");
    assert_string_equal(p.token, "t1");
    assert_null(p.org);
    config_profile_release(&p);
    assert_int_equal(config_load(path, "work", &p, err, sizeof(err)), TC_OK);
    assert_string_equal(p.url, "http://b");
    assert_string_equal(p.org, "org_2");
    config_profile_release(&p);
    assert_int_equal(config_load(path, "none", &p, err, sizeof(err)), TC_OK);
    assert_null(p.url);
    rm_config(path);

    path = tmp_config("[default]\ncolour = red\n");
    assert_int_equal(config_load(path, "default", &p, err, sizeof(err)), TC_USAGE);
    assert_non_null(strstr(err, ":2: unknown setting 'colour'"));
    rm_config(path);
    path = tmp_config("[default\n");
    assert_int_equal(config_load(path, "default", &p, err, sizeof(err)), TC_USAGE);
    rm_config(path);

    /* No file: an empty profile. */
    path = tmp_config(NULL);
    assert_int_equal(config_load(path, "default", &p, err, sizeof(err)), TC_OK);
    assert_null(p.url);
    rm_config(path);
}

static void test_config_store_keeps_others_and_mode(void **state)
{
    char err[256];
    struct tc_profile p;
    struct stat st;
    char *path = tmp_config("[other]\nurl = http://o\ntoken = keep\n[ci]\nurl = http://old\n"
                            "token = old\norg = org_3\n");
    (void)state;
    chmod(path, 0644);
    assert_int_equal(config_store(path, "ci", "http://new", "tnew", err, sizeof(err)), TC_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(config_load(path, "ci", &p, err, sizeof(err)), TC_OK);
    assert_string_equal(p.url, "http://new");
    assert_string_equal(p.token, "tnew");
    assert_string_equal(p.org, "org_3"); /* other settings of the profile stay */
    config_profile_release(&p);
    assert_int_equal(config_load(path, "other", &p, err, sizeof(err)), TC_OK);
    assert_string_equal(p.token, "keep");
    config_profile_release(&p);
    /* A new profile is appended. */
    assert_int_equal(config_store(path, "fresh", "http://f", "tf", err, sizeof(err)), TC_OK);
    assert_int_equal(config_load(path, "fresh", &p, err, sizeof(err)), TC_OK);
    assert_string_equal(p.url, "http://f");
    config_profile_release(&p);
    /* A token with a newline would inject a line. */
    assert_int_equal(config_store(path, "x", "http://f", "a\nurl = evil", err, sizeof(err)),
                     TC_USAGE);
    rm_config(path);
}

/* ---- out ---- */

/* Renders `items` (a JSON text) with `fmt` and returns what was written (owned). */
static char *render(enum out_fmt fmt, bool quiet, int width, const char *items,
                    const struct out_col *cols)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct out o = {0};
    json_error_t je;
    json_t *arr = json_loads(items, 0, &je), *it;
    size_t i;
    assert_non_null(arr);
    o.f = f;
    o.fmt = fmt;
    o.quiet = quiet;
    o.width = width;
    o.cols = cols;
    o.id_path = "id";
    out_begin(&o);
    json_array_foreach(arr, i, it)
        out_item(&o, it);
    out_end(&o);
    fclose(f);
    json_decref(arr);
    return buf;
}

static const struct out_col cols[] = {{"ID", "id"}, {"NAME", "name"}, {"PARENT", "parent"},
                                      {"TAGS", "tags"}, {NULL, NULL}};
static const char items[] =
    "[{\"id\": 1, \"name\": \"a,b \\\"c\\\"\", \"parent\": {\"kind\": \"folder\", \"key\": \"x/y\"},"
    "  \"tags\": [\"T1\", \"T2\"]},"
    " {\"id\": 22, \"name\": \"tab\\there\\nline\", \"parent\": null, \"tags\": []}]";

static void test_out_table(void **state)
{
    char *s = render(OUT_TABLE, false, 0, items, cols);
    (void)state;
    assert_string_equal(s, "ID  NAME           PARENT      TAGS\n"
                           "1   a,b \"c\"        folder/x/y  T1,T2\n"
                           "22  tab?here?line  -\n");
    xfree(s);
}

static void test_out_table_fits_width(void **state)
{
    char *s = render(OUT_TABLE, false, 30, items, cols);
    char *line, *save = NULL;
    (void)state;
    for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* Display cells: the ellipsis is 3 bytes and one cell. */
        size_t cells = 0;
        for (const unsigned char *p = (const unsigned char *)line; *p; p++)
            cells += (*p & 0xC0) != 0x80;
        if (cells > 30)
            fail_msg("line over 30 cells: '%s'", line);
    }
    xfree(s);
}

static void test_out_fit(void **state)
{
    size_t w[3] = {4, 40, 10}, fl[3] = {2, 12, 12};
    (void)state;
    out_fit(w, fl, 3, 40); /* 4 + 40 + 10 + 4 separators = 58 */
    assert_int_equal(w[0] + w[1] + w[2] + 4, 40);
    assert_int_equal(w[0], 4);  /* the widest gave way */
    assert_int_equal(w[1], 22);
    assert_int_equal(w[2], 10);
    out_fit(w, fl, 3, 10); /* cannot fit: floors hold */
    assert_int_equal(w[1], 12);
    assert_int_equal(w[2], 10);
}

static void test_out_csv_tsv(void **state)
{
    char *s = render(OUT_CSV, false, 0, items, cols);
    (void)state;
    assert_string_equal(s, "id,name,parent,tags\n"
                           "1,\"a,b \"\"c\"\"\",folder/x/y,\"T1,T2\"\r\n"
                           "22,\"tab\there\nline\",,\r\n");
    xfree(s);
    s = render(OUT_TSV, false, 0, items, cols);
    assert_string_equal(s, "id\tname\tparent\ttags\n"
                           "1\ta,b \"c\"\tfolder/x/y\tT1,T2\n"
                           "22\ttab\\there\\nline\t\t\n");
    xfree(s);
}

static void test_out_json_jsonl_quiet(void **state)
{
    json_error_t je;
    char *s = render(OUT_JSON, false, 0, items, cols);
    json_t *back = json_loads(s, 0, &je), *orig = json_loads(items, 0, &je);
    (void)state;
    assert_non_null(back);
    assert_true(json_equal(back, orig));
    json_decref(back);
    xfree(s);
    s = render(OUT_JSON, false, 0, "[]", cols);
    assert_string_equal(s, "[]\n");
    xfree(s);
    s = render(OUT_JSONL, false, 0, items, cols);
    assert_non_null(strchr(s, '\n'));
    assert_int_equal(s[strlen(s) - 1], '\n');
    assert_null(strchr(strchr(s, '\n') + 1, '\n') + 1 == s + strlen(s) ? NULL : "two lines");
    back = json_loads(strchr(s, '\n') + 1, 0, &je);
    assert_true(json_equal(back, json_array_get(orig, 1)));
    json_decref(back);
    xfree(s);
    s = render(OUT_JSONL, true, 0, items, cols);
    assert_string_equal(s, "1\n22\n");
    xfree(s);
    json_decref(orig);
}

static void test_out_yaml(void **state)
{
    static const struct {
        const char *json;
        const char *yaml;
    } rows[] = {
        /* 1 */ {"{\"a\": 1, \"b\": \"plain text\"}", "a: 1\nb: plain text\n"},
        /* 2 */ {"{\"s\": \"yes\"}", "s: \"yes\"\n"},
        /* 3 */ {"{\"s\": \"2026-12-07T11:50:52.115Z\"}", "s: \"2026-12-07T11:50:52.115Z\"\n"},
        /* 4 */ {"{\"s\": \"a: b\"}", "s: \"a: b\"\n"},
        /* 5 */ {"{\"s\": \"#1E90FF\"}", "s: \"#1E90FF\"\n"},
        /* 6 */ {"{\"s\": \"two\\nlines\"}", "s: \"two\\nlines\"\n"},
        /* 7 */ {"{\"n\": null, \"e\": {}, \"l\": []}", "\"n\": null\ne: {}\nl: []\n"}, /* n: no */
        /* 8 */ {"{\"o\": {\"k\": \"v\"}, \"l\": [1, {\"x\": true}]}",
                 "o:\n  k: v\nl:\n  - 1\n  - x: true\n"},
        /* 9 */ {"{\"\": \"\"}", "\"\": \"\"\n"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        json_error_t je;
        json_t *v = json_loads(rows[i].json, JSON_PRESERVE_ORDER, &je);
        struct sbuf b;
        sbuf_init(&b, 0);
        out_yaml(&b, v, 0);
        if (strcmp(sbuf_str(&b), rows[i].yaml) != 0)
            fail_msg("yaml-%zu: got '%s' want '%s'", i + 1, sbuf_str(&b), rows[i].yaml);
        sbuf_release(&b);
        json_decref(v);
    }
}

static void test_out_fmt_and_escape(void **state)
{
    enum out_fmt f;
    struct sbuf b;
    (void)state;
    assert_true(out_parse_fmt("yaml", &f) && f == OUT_YAML);
    assert_false(out_parse_fmt("xml", &f));
    sbuf_init(&b, 0);
    url_escape(&b, "web/checkout ä?&");
    assert_string_equal(sbuf_str(&b), "web%2Fcheckout%20%C3%A4%3F%26");
    sbuf_reset(&b);
    sbuf_adds(&b, "/v1/tags");
    url_query(&b, "prefix", "A B");
    url_query(&b, "q", NULL);
    url_query(&b, "limit", "3");
    assert_string_equal(sbuf_str(&b), "/v1/tags?prefix=A%20B&limit=3");
    sbuf_release(&b);
    assert_int_equal(client_exit_code(200), TC_OK);
    assert_int_equal(client_exit_code(400), TC_USAGE);
    assert_int_equal(client_exit_code(401), TC_AUTH);
    assert_int_equal(client_exit_code(403), TC_AUTH);
    assert_int_equal(client_exit_code(404), TC_NOTFOUND);
    assert_int_equal(client_exit_code(409), TC_CONFLICT);
    assert_int_equal(client_exit_code(412), TC_CONFLICT);
    assert_int_equal(client_exit_code(422), TC_CONFLICT);
    assert_int_equal(client_exit_code(503), TC_ERROR);
}

static void test_asof_parse(void **state)
{
    long long rev;
    int64_t ms;
    (void)state;
    assert_true(asof_parse("42", &rev, &ms));
    assert_int_equal(rev, 42);
    assert_int_equal(ms, -1);
    assert_true(asof_parse("2026-12-07T10:00:00Z", &rev, &ms));
    assert_int_equal(rev, -1);
    assert_true(ms > 0);
    assert_false(asof_parse("yesterday", &rev, &ms));
    assert_false(asof_parse("", &rev, &ms));
    assert_false(asof_parse("99999999999999999999", &rev, &ms));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_globals_anywhere),
        cmocka_unit_test(test_args_rows),
        cmocka_unit_test(test_args_values),
        cmocka_unit_test(test_cmd_find),
        cmocka_unit_test(test_split_ref),
        cmocka_unit_test(test_config_precedence),
        cmocka_unit_test(test_config_load_profiles),
        cmocka_unit_test(test_config_store_keeps_others_and_mode),
        cmocka_unit_test(test_out_table),
        cmocka_unit_test(test_out_table_fits_width),
        cmocka_unit_test(test_out_fit),
        cmocka_unit_test(test_out_csv_tsv),
        cmocka_unit_test(test_out_json_jsonl_quiet),
        cmocka_unit_test(test_out_yaml),
        cmocka_unit_test(test_out_fmt_and_escape),
        cmocka_unit_test(test_asof_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
