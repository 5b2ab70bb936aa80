/* tests/unit/test_jw.c: the JSON writer and bounded JSON decoding (util/jw.c, util/json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/json.h"
#include "util/jw.h"

static void test_writer(void **state)
{
    struct sbuf b;
    struct jw w;
    (void)state;
    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "s", "a\"b\\c\n\x01");
    jw_kint(&w, "big", INT64_MAX);
    jw_kbool(&w, "t", true);
    jw_knull(&w, "n");
    jw_key(&w, "arr");
    jw_arr(&w);
    jw_int(&w, 1);
    jw_int(&w, 0);
    jw_int(&w, -42);
    jw_int(&w, INT64_MIN);
    jw_str(&w, NULL);
    jw_obj(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    assert_string_equal(sbuf_str(&b),
                        "{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"big\":9223372036854775807,\"t\":true,"
                        "\"n\":null,\"arr\":[1,0,-42,-9223372036854775808,null,{}]}");
    /* A literal key (jw_key) and a key from data (jw_keys) write the same; a key from data
     * is escaped. */
    sbuf_reset(&b);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kint(&w, "a", 1);
    jw_keys(&w, "a");
    jw_int(&w, 2);
    jw_keys(&w, "q\"k");
    jw_null(&w);
    jw_key(&w, "o");
    jw_obj(&w);
    jw_key(&w, "in");
    jw_str(&w, "v");
    jw_obj_end(&w);
    jw_obj_end(&w);
    assert_string_equal(sbuf_str(&b), "{\"a\":1,\"a\":2,\"q\\\"k\":null,\"o\":{\"in\":\"v\"}}");
    sbuf_release(&b);
}

static void test_roundtrip_with_jansson(void **state)
{
    struct sbuf b;
    struct jw w;
    json_t *v;
    struct tg_err err;
    (void)state;
    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "name", "Gr\xc3\xbc\xc3\x9f" "e\t\"x\"");
    jw_obj_end(&w);
    v = json_parse(sbuf_str(&b), b.len, 32, &err);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "name")),
                        "Gr\xc3\xbc\xc3\x9f" "e\t\"x\"");
    json_decref(v);
    sbuf_release(&b);
}

static void test_parse_limits(void **state)
{
    struct tg_err err;
    char deep[200];
    json_t *v;
    (void)state;
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(json_depth(deep, 200), 100);
    assert_null(json_parse(deep, 200, 32, &err));
    assert_int_equal(err.code, TG_EINVAL);
    assert_non_null(v = json_parse(deep + 70, 60, 32, &err));
    json_decref(v);
    /* Brackets inside strings do not count. */
    assert_int_equal(json_depth("{\"a\":\"[[[[\"}", 12), 1);
    assert_null(json_parse("{\"a\":1,\"a\":2}", 13, 32, &err));
    assert_null(json_parse("{\"a\":1} x", 9, 32, &err));
    assert_null(json_parse("", 0, 32, &err));
    assert_null(json_parse("{\"a\":\"\\u0000\"}", 14, 32, &err));
}

static void test_sbuf_ceiling(void **state)
{
    struct sbuf b;
    (void)state;
    sbuf_init(&b, 8);
    assert_int_equal(sbuf_adds(&b, "1234"), 0);
    assert_int_equal(sbuf_adds(&b, "56789"), TG_ELIMIT);
    assert_int_equal(b.len, 0);
    assert_int_equal(sbuf_adds(&b, "x"), TG_ELIMIT);
    sbuf_release(&b);
}

/* The escape table: every control byte escaped, DEL and UTF-8 bytes left alone; times unquoted
 * inside their quotes. */
static void test_escape_table_and_time(void **state)
{
    struct sbuf b;
    struct jw w;
    char all[33];
    (void)state;
    for (int i = 0; i < 32; i++)
        all[i] = (char)(i + 1 < 32 ? i + 1 : 0x7f);
    all[32] = '\0';
    sbuf_init(&b, 0);
    jw_escape(&b, all, 32);
    for (int i = 1; i < 32; i++) {
        char want[8];
        if (i == '\n' || i == '\r' || i == '\t')
            snprintf(want, sizeof(want), "\\%c", i == '\n' ? 'n' : i == '\r' ? 'r' : 't');
        else
            snprintf(want, sizeof(want), "\\u%04x", i);
        assert_non_null(strstr(sbuf_str(&b), want));
    }
    assert_int_equal(sbuf_str(&b)[b.len - 1], 0x7f);
    sbuf_reset(&b);
    jw_escape(&b, "caf\xc3\xa9 \"q\" \\", 11);
    assert_string_equal(sbuf_str(&b), "caf\xc3\xa9 \\\"q\\\" \\\\");
    sbuf_reset(&b);
    jw_init(&w, &b);
    jw_arr(&w);
    jw_time(&w, 1795434896123LL);
    jw_time(&w, 0);
    jw_arr_end(&w);
    assert_string_equal(sbuf_str(&b), "[\"2026-11-23T11:54:56.123Z\",\"1970-01-01T00:00:00.000Z\"]");
    sbuf_release(&b);
}

/* jw_str and jw_keys check plain strings eight bytes at a time: every byte value, at every
 * position of a word and of the tail, must come out as the byte-by-byte escaper writes it. */
static void test_quoting_every_byte_everywhere(void **state)
{
    struct sbuf b, want;
    struct jw w;
    char s[140];
    (void)state;
    sbuf_init(&b, 0);
    sbuf_init(&want, 0);
    for (size_t len = 1; len <= 20; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (int c = 1; c < 256; c++) {
                memset(s, 'a', len);
                s[pos] = (char)c;
                sbuf_reset(&b);
                jw_init(&w, &b);
                jw_strn(&w, s, len);
                sbuf_reset(&want);
                sbuf_addc(&want, '"');
                jw_escape(&want, s, len);
                sbuf_addc(&want, '"');
                assert_int_equal(b.len, want.len);
                assert_memory_equal(b.buf, want.buf, want.len);
                sbuf_reset(&b);
                jw_init(&w, &b);
                jw_obj(&w);
                jw_keyn(&w, s, len);
                jw_int(&w, 1);
                sbuf_add(&want, ":1", 2);
                assert_int_equal(b.len - 1, want.len);
                assert_memory_equal(b.buf + 1, want.buf, want.len);
            }
        }
    }
    /* Longer than the stack copy: the escaping path. */
    memset(s, 'x', sizeof(s));
    s[135] = '"';
    sbuf_reset(&b);
    jw_init(&w, &b);
    jw_strn(&w, s, sizeof(s));
    assert_int_equal(b.len, sizeof(s) + 3);
    assert_memory_equal(b.buf + 136, "\\\"", 2);
    sbuf_release(&b);
    sbuf_release(&want);
}

/* sbuf_repeat copies a piece the buffer holds, also when the buffer has to grow (it moves)
 * and never past the ceiling or outside what was written. */
static void test_sbuf_repeat(void **state)
{
    struct sbuf b;
    (void)state;
    sbuf_init(&b, 0);
    sbuf_adds(&b, "abc");
    assert_int_equal(sbuf_repeat(&b, 1, 2), 0);
    assert_string_equal(sbuf_str(&b), "abcbc");
    for (int i = 0; i < 12; i++)
        assert_int_equal(sbuf_repeat(&b, 0, b.len), 0); /* doubles: grows every time */
    assert_int_equal(b.len, 5u << 12);
    assert_memory_equal(b.buf + b.len - 5, "abcbc", 5);
    assert_int_equal(sbuf_repeat(&b, b.len - 2, 3), TG_ELIMIT);
    assert_int_equal(sbuf_repeat(&b, b.len + 1, 0), TG_ELIMIT);
    sbuf_release(&b);
    sbuf_init(&b, 8);
    sbuf_adds(&b, "12345");
    assert_int_equal(sbuf_repeat(&b, 0, 3), 0);
    assert_string_equal(sbuf_str(&b), "12345123");
    assert_int_equal(sbuf_repeat(&b, 0, 1), TG_ELIMIT);
    assert_int_equal(b.len, 0);
    sbuf_release(&b);
}

/* Integers of every width and sign, as values and after keys, against printf. */
static void test_integers_every_width(void **state)
{
    (void)state;
    int64_t vals[80];
    size_t n = 0;
    int64_t p = 1;
    for (int d = 0; d < 19; d++) {
        vals[n++] = p;
        vals[n++] = p - 1;
        vals[n++] = -p;
        vals[n++] = -(p - 1) - 1;
        if (d < 18)
            p *= 10; /* 10^18 is the last power of ten an int64_t holds */
    }
    vals[n++] = INT64_MAX;
    vals[n++] = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        struct sbuf b, want;
        struct jw w;
        sbuf_init(&b, 0);
        sbuf_init(&want, 0);
        jw_init(&w, &b);
        jw_arr(&w);
        jw_int(&w, vals[i]);
        jw_int(&w, vals[i]);
        jw_obj(&w);
        jw_kint(&w, "k", vals[i]);
        jw_obj_end(&w);
        jw_arr_end(&w);
        sbuf_printf(&want, "[%lld,%lld,{\"k\":%lld}]", (long long)vals[i], (long long)vals[i],
                    (long long)vals[i]);
        assert_string_equal(sbuf_str(&b), sbuf_str(&want));
        sbuf_release(&b);
        sbuf_release(&want);
    }
}

/* jw_ints writes what a jw_int per value writes, across its kilobyte flushes (300 values of up
 * to 20 bytes) and after a key. */
static void test_ints_as_jw_int_writes_them(void **state)
{
    (void)state;
    int64_t vals[300];
    struct sbuf a, b;
    struct jw wa, wb;
    uint64_t x = 88172645463325252ULL;

    for (size_t i = 0; i < 300; i++) {
        x ^= x << 13; /* xorshift: every width, both signs */
        x ^= x >> 7;
        x ^= x << 17;
        vals[i] = (int64_t)(x >> (i % 64));
    }
    vals[0] = INT64_MIN;
    vals[1] = 0;
    /* Ascending runs, as pages of ids are: the digits carried into, and growing a digit. */
    {
        static const int64_t asc[] = {1,   2,   9,   10,  11,   99,   100,  101,
                                      998, 1001, 1999, 2000, 9999, 10000, 10999, 11998,
                                      INT64_MAX - 5, INT64_MAX};
        int64_t from = 99990;
        for (size_t i = 0; i < sizeof(asc) / sizeof(asc[0]); i++)
            vals[100 + i] = asc[i];
        for (size_t i = 150; i < 300; i++) {
            from += (int64_t)(i % 7 == 0 ? 997 : i % 5);
            vals[i] = from; /* through 100,000; equal neighbours too */
        }
        vals[200] = -3;
        vals[201] = -1;
    }
    sbuf_init(&a, 0);
    sbuf_init(&b, 0);
    jw_init(&wa, &a);
    jw_init(&wb, &b);
    jw_obj(&wa);
    jw_obj(&wb);
    jw_key(&wa, "ids");
    jw_key(&wb, "ids");
    jw_arr(&wa);
    jw_arr(&wb);
    for (size_t i = 0; i < 300; i++)
        jw_int(&wa, vals[i]);
    jw_ints(&wb, vals, 300);
    jw_ints(&wb, vals, 0);
    jw_arr_end(&wa);
    jw_arr_end(&wb);
    jw_kint(&wa, "n", 1);
    jw_kint(&wb, "n", 1);
    jw_obj_end(&wa);
    jw_obj_end(&wb);
    assert_string_equal(sbuf_str(&b), sbuf_str(&a));
    {
        static const char head[] = "{\"ids\":[-9223372036854775808,0,";
        assert_true(strncmp(sbuf_str(&b), head, sizeof(head) - 1) == 0);
    }
    sbuf_release(&a);
    sbuf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table_and_time),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_integers_every_width),
        cmocka_unit_test(test_roundtrip_with_jansson),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_sbuf_ceiling),
        cmocka_unit_test(test_quoting_every_byte_everywhere),
        cmocka_unit_test(test_sbuf_repeat),
        cmocka_unit_test(test_ints_as_jw_int_writes_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
