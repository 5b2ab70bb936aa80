/* tests/unit/test_jpatch.c: JSON Patch, Merge Patch and Pointer (util/jpatch.c) against the
 * examples of RFC 6902 appendix A, RFC 7386 appendix A and RFC 6901 section 5, plus the edges a
 * client can reach through LaunchDarkly's PATCH routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/jpatch.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
    if (v == NULL)
        fail_msg("bad test JSON %s: %s", s, e.text);
    return v;
}

/* Applies `patch` to `doc`; with want != NULL the result must equal it. Returns the code. */
static int patch(const char *doc, const char *ops, const char *want)
{
    json_t *d = J(doc), *o = J(ops);
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    rc = jpatch_apply(&d, o, &err);
    if (rc == 0 && want) {
        json_t *w = J(want);
        if (!json_equal(d, w)) {
            char *got = json_dumps(d, JSON_SORT_KEYS | JSON_ENCODE_ANY);
            print_error("got %s want %s\n", got, want);
            free(got);
            fail();
        }
        json_decref(w);
    }
    json_decref(d);
    json_decref(o);
    return rc;
}

static void test_rfc6902_examples(void **state)
{
    (void)state;
    /* A.1-A.2: add an object member, insert into an array. */
    assert_int_equal(patch("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
                           "{\"baz\":\"qux\",\"foo\":\"bar\"}"), 0);
    assert_int_equal(patch("{\"foo\":[\"bar\",\"baz\"]}",
                           "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
                           "{\"foo\":[\"bar\",\"qux\",\"baz\"]}"), 0);
    /* A.3-A.5: remove a member and an element, replace a value. */
    assert_int_equal(patch("{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
                           "{\"foo\":\"bar\"}"), 0);
    assert_int_equal(patch("{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
                           "{\"foo\":[\"bar\",\"baz\"]}"), 0);
    assert_int_equal(patch("{\"baz\":\"qux\",\"foo\":\"bar\"}",
                           "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
                           "{\"baz\":\"boo\",\"foo\":\"bar\"}"), 0);
    /* A.6-A.7: move a value and an array element. */
    assert_int_equal(patch("{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
                           "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
                           "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}"), 0);
    assert_int_equal(patch("{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
                           "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
                           "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}"), 0);
    /* A.8-A.9: a test that holds and one that fails. */
    assert_int_equal(patch("{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
                           "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
                           "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]", NULL), 0);
    assert_int_equal(patch("{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
                           NULL), TG_EPRECOND);
    /* A.10: add a nested member; A.12: adding to a missing parent fails. */
    assert_int_equal(patch("{\"foo\":\"bar\"}",
                           "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
                           "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}"), 0);
    assert_int_equal(patch("{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
                           NULL), TG_EINVAL);
    /* A.14: escapes; A.15: 10 is not "10"; A.16: an array value is added whole. */
    assert_int_equal(patch("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]", NULL), 0);
    assert_int_equal(patch("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]",
                           NULL), TG_EPRECOND);
    assert_int_equal(patch("{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
                           "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}"), 0);
}

static void test_patch_edges(void **state)
{
    (void)state;
    /* Copy, numbers equal by value, the root replaced. */
    assert_int_equal(patch("{\"a\":[1]}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"}]",
                           "{\"a\":[1],\"b\":[1]}"), 0);
    assert_int_equal(patch("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1.0}]", NULL), 0);
    assert_int_equal(patch("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[2]}]", "[2]"), 0);
    /* Indexes: past the end, leading zeros, "-" outside add, negative. */
    assert_int_equal(patch("[1,2]", "[{\"op\":\"add\",\"path\":\"/3\",\"value\":0}]", NULL), TG_EINVAL);
    assert_int_equal(patch("[1,2]", "[{\"op\":\"add\",\"path\":\"/2\",\"value\":0}]", "[1,2,0]"), 0);
    assert_int_equal(patch("[1,2]", "[{\"op\":\"remove\",\"path\":\"/01\"}]", NULL), TG_EINVAL);
    assert_int_equal(patch("[1,2]", "[{\"op\":\"remove\",\"path\":\"/-\"}]", NULL), TG_EINVAL);
    assert_int_equal(patch("[1,2]", "[{\"op\":\"replace\",\"path\":\"/-1\",\"value\":0}]", NULL), TG_EINVAL);
    /* Malformed: no op, unknown op, no value, bad escape, a path without its slash, not an
     * array, moving into a child of itself, removing the root. */
    assert_int_equal(patch("{}", "[{\"path\":\"/a\"}]", NULL), TG_EINVAL);
    assert_int_equal(patch("{}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", NULL), TG_EINVAL);
    assert_int_equal(patch("{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", NULL), TG_EINVAL);
    assert_int_equal(patch("{\"a\":{}}", "[{\"op\":\"add\",\"path\":\"/a~2/b\",\"value\":1}]", NULL), TG_EINVAL);
    assert_int_equal(patch("{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", NULL), TG_EINVAL);
    assert_int_equal(patch("{}", "{\"op\":\"add\"}", NULL), TG_EINVAL);
    assert_int_equal(patch("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", NULL),
                     TG_EINVAL);
    assert_int_equal(patch("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", NULL), TG_EINVAL);
    /* A value added is a copy: changing it later leaves the patch itself alone. */
    assert_int_equal(patch("{}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":[]},"
                                 "{\"op\":\"add\",\"path\":\"/a/-\",\"value\":1},"
                                 "{\"op\":\"add\",\"path\":\"/b\",\"value\":[]}]",
                           "{\"a\":[1],\"b\":[]}"), 0);
    /* Replacing a missing member fails; an overlong pointer is refused, not overrun. */
    assert_int_equal(patch("{}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":1}]", NULL), TG_EINVAL);
    {
        char ops[3000], path[2100];
        memset(path, 'x', sizeof(path) - 1);
        path[0] = '/';
        path[sizeof(path) - 1] = '\0';
        snprintf(ops, sizeof(ops), "[{\"op\":\"add\",\"path\":\"%s\",\"value\":1}]", path);
        assert_int_equal(patch("{}", ops, NULL), TG_EINVAL);
    }
}

static void merge(const char *doc, const char *p, const char *want)
{
    json_t *d = J(doc), *m = J(p), *w = J(want);

    jpatch_merge(&d, m);
    if (!json_equal(d, w)) {
        char *got = json_dumps(d, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        print_error("merge %s into %s: got %s want %s\n", p, doc, got, want);
        free(got);
        fail();
    }
    json_decref(d);
    json_decref(m);
    json_decref(w);
}

static void test_rfc7386_examples(void **state)
{
    (void)state;
    merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    merge("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    merge("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}");
    merge("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    merge("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    merge("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    merge("{\"a\":\"foo\"}", "null", "null");
    merge("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    merge("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}

static void test_rfc6901_pointers(void **state)
{
    json_t *d = J("{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,"
                  "\"i\\\\j\":5,\"k\\\"l\":6,\" \":7,\"m~n\":8}");
    (void)state;
    assert_ptr_equal(jpatch_get(d, ""), d);
    assert_string_equal(json_string_value(jpatch_get(d, "/foo/0")), "bar");
    assert_int_equal(json_integer_value(jpatch_get(d, "/")), 0);
    assert_int_equal(json_integer_value(jpatch_get(d, "/a~1b")), 1);
    assert_int_equal(json_integer_value(jpatch_get(d, "/c%d")), 2);
    assert_int_equal(json_integer_value(jpatch_get(d, "/i\\j")), 5);
    assert_int_equal(json_integer_value(jpatch_get(d, "/ ")), 7);
    assert_int_equal(json_integer_value(jpatch_get(d, "/m~0n")), 8);
    assert_null(jpatch_get(d, "/foo/2"));
    assert_null(jpatch_get(d, "/foo/-"));
    assert_null(jpatch_get(d, "foo"));
    assert_null(jpatch_get(d, "/m~2n"));
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6902_examples),
        cmocka_unit_test(test_patch_edges),
        cmocka_unit_test(test_rfc7386_examples),
        cmocka_unit_test(test_rfc6901_pointers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
