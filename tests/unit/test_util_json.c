/* tests/unit/test_util_json.c: the bounded JSON reader's edges and its typed getters
 * (util/json.c), which every dialect uses to validate request bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/json.h"

static json_t *parse(const char *s)
{
    struct tg_err err;
    tg_err_clear(&err);
    return json_parse(s, strlen(s), 32, &err);
}

static void test_depth_edges(void **state)
{
    (void)state;
    assert_int_equal(json_depth("", 0), 0);
    assert_int_equal(json_depth("42", 2), 0);
    assert_int_equal(json_depth("{}", 2), 1);
    assert_int_equal(json_depth("[{},[[]]]", 9), 3);
    /* An escaped quote does not end the string, so the brackets after it do not count. */
    assert_int_equal(json_depth("[\"a\\\"[[[[\"]", 11), 1);
    /* An escaped backslash does end before the quote. */
    assert_int_equal(json_depth("[\"\\\\\",[[]]]", 11), 3);
    /* Only the first n bytes are looked at. */
    assert_int_equal(json_depth("[[[[", 2), 2);
}

static void test_parse_errors_name_the_body(void **state)
{
    struct tg_err err;
    char buf[4000];
    (void)state;

    tg_err_clear(&err);
    assert_null(json_parse("{\"a\": }", 7, 32, &err));
    assert_int_equal(err.code, TG_EINVAL);
    assert_string_equal(err.field, "body");
    assert_non_null(strstr(err.msg, "malformed json at line 1"));

    tg_err_clear(&err);
    assert_null(json_parse("[[[", 3, 2, &err));
    assert_non_null(strstr(err.msg, "deeper than 2"));

    /* Closing brackets first cannot hide a deep document from the depth check's purpose:
     * the parser stops at the first stray bracket, long before any depth. */
    memset(buf, ']', 1000);
    memset(buf + 1000, '[', 3000);
    tg_err_clear(&err);
    assert_null(json_parse(buf, sizeof(buf), 32, &err));
    assert_int_equal(err.code, TG_EINVAL);

    /* A NUL byte inside the body is malformed, not a shorter document. */
    tg_err_clear(&err);
    assert_null(json_parse("{}\0{}", 5, 32, &err));
    assert_int_equal(err.code, TG_EINVAL);

    /* A body is an object or an array; a bare scalar is refused. */
    assert_null(parse("\"x\""));
    assert_null(parse("42"));
}

static void test_get_str(void **state)
{
    json_t *o = parse("{\"s\":\"v\",\"n\":null,\"i\":3}");
    struct tg_err err;
    const char *out = "untouched";
    bool present = false;
    (void)state;

    assert_int_equal(json_get_str(o, "missing", &out, &err), 0);
    assert_string_equal(out, "untouched");
    assert_int_equal(json_get_str(o, "s", &out, &err), 0);
    assert_string_equal(out, "v");
    tg_err_clear(&err);
    assert_int_equal(json_get_str(o, "i", &out, &err), TG_EINVAL);
    assert_string_equal(err.field, "i");
    assert_non_null(strstr(err.msg, "must be a string"));
    tg_err_clear(&err);
    assert_int_equal(json_get_str(o, "n", &out, &err), TG_EINVAL);

    out = "untouched";
    assert_int_equal(json_get_str_or_null(o, "missing", &out, &present, &err), 0);
    assert_false(present);
    assert_string_equal(out, "untouched");
    assert_int_equal(json_get_str_or_null(o, "n", &out, &present, &err), 0);
    assert_true(present);
    assert_null(out);
    present = false;
    assert_int_equal(json_get_str_or_null(o, "s", &out, &present, &err), 0);
    assert_true(present);
    assert_string_equal(out, "v");
    tg_err_clear(&err);
    assert_int_equal(json_get_str_or_null(o, "i", &out, NULL, &err), TG_EINVAL);
    assert_string_equal(err.field, "i");
    json_decref(o);
}

static void test_get_int_and_bool(void **state)
{
    json_t *o = parse("{\"i\":-7,\"big\":9223372036854775807,\"f\":1.5,\"s\":\"3\","
                      "\"t\":true,\"z\":false,\"n\":null}");
    struct tg_err err;
    int64_t i = 99;
    bool b = false, present = false;
    (void)state;

    assert_int_equal(json_get_int(o, "missing", &i, &present, &err), 0);
    assert_int_equal(i, 99);
    assert_false(present);
    assert_int_equal(json_get_int(o, "i", &i, &present, &err), 0);
    assert_int_equal(i, -7);
    assert_true(present);
    assert_int_equal(json_get_int(o, "big", &i, NULL, &err), 0);
    assert_true(i == INT64_MAX);
    tg_err_clear(&err);
    assert_int_equal(json_get_int(o, "f", &i, NULL, &err), TG_EINVAL);
    assert_string_equal(err.field, "f");
    assert_int_equal(json_get_int(o, "s", &i, NULL, &err), TG_EINVAL);
    assert_int_equal(json_get_int(o, "n", &i, NULL, &err), TG_EINVAL);

    present = false;
    assert_int_equal(json_get_bool(o, "missing", &b, &present, &err), 0);
    assert_false(present);
    assert_int_equal(json_get_bool(o, "t", &b, &present, &err), 0);
    assert_true(b);
    assert_true(present);
    assert_int_equal(json_get_bool(o, "z", &b, NULL, &err), 0);
    assert_false(b);
    tg_err_clear(&err);
    assert_int_equal(json_get_bool(o, "i", &b, NULL, &err), TG_EINVAL);
    assert_string_equal(err.field, "i");
    assert_int_equal(json_get_bool(o, "s", &b, NULL, &err), TG_EINVAL);
    json_decref(o);
}

static void test_to_arena_is_canonical(void **state)
{
    struct arena a;
    json_t *x = parse("{ \"b\" : [1, 2], \"a\" : {\"d\":null, \"c\":\"\\u00fc\"} }");
    json_t *y = parse("{\"a\":{\"c\":\"\xc3\xbc\",\"d\":null},\"b\":[1,2]}");
    (void)state;

    arena_init(&a);
    /* Sorted keys, no spaces: equal documents give equal text (l10n is stored this way). */
    assert_string_equal(json_to_arena(&a, x), "{\"a\":{\"c\":\"\xc3\xbc\",\"d\":null},\"b\":[1,2]}");
    assert_string_equal(json_to_arena(&a, x), json_to_arena(&a, y));
    assert_string_equal(json_to_arena(&a, json_object_get(x, "b")), "[1,2]");
    {
        json_t *s = json_string("q\"");
        assert_string_equal(json_to_arena(&a, s), "\"q\\\"\"");
        json_decref(s);
    }
    json_decref(x);
    json_decref(y);
    arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_edges),
        cmocka_unit_test(test_parse_errors_name_the_body),
        cmocka_unit_test(test_get_str),
        cmocka_unit_test(test_get_int_and_bool),
        cmocka_unit_test(test_to_arena_is_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
