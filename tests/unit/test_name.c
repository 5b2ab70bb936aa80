/* tests/unit/test_name.c: name rules and normalization (util/name.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/name.h"

static const struct {
    const char *in;
    int rc;
    const char *nfc;
    const char *key;
} cases[] = {
    /* 1 */ {"Address.email", 0, "Address.email", "address.email"},
    /* 2 */ {"a", 0, "a", "a"},
    /* 3 */ {"", TG_EINVAL, NULL, NULL},
    /* 4 */ {"a..b", TG_EINVAL, NULL, NULL},
    /* 5 */ {".a", TG_EINVAL, NULL, NULL},
    /* 6 */ {"a.", TG_EINVAL, NULL, NULL},
    /* 7 */ {"a,b", TG_EINVAL, NULL, NULL},
    /* 8 */ {"a\tb", TG_EINVAL, NULL, NULL},
    /* 9 */ {"Stra\xc3\x9f" "e", 0, "Stra\xc3\x9f" "e", "strasse"},
    /* 10 */ {"e\xcc\x81", 0, "\xc3\xa9", "\xc3\xa9"}, /* e + combining acute -> NFC é */
    /* 11 */ {"\xff\xfe", TG_EINVAL, NULL, NULL},
    /* 12 */ {"a.b.c.d.e.f.g.h.i.j", 0, "a.b.c.d.e.f.g.h.i.j", "a.b.c.d.e.f.g.h.i.j"},
    /* 13 */ {"a.b.c.d.e.f.g.h.i.j.k", TG_EINVAL, NULL, NULL},
    /* 14 */ {" a", TG_EINVAL, NULL, NULL},
    /* 15 */ {"With Space", 0, "With Space", "with space"},
    /* 16 */ {"x\xc2\x85y", TG_EINVAL, NULL, NULL}, /* C1 control NEL */
};

static void test_cases(void **state)
{
    struct arena a;
    (void)state;
    arena_init(&a);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *nfc = NULL, *key = NULL;
        struct tg_err err;
        int rc = name_normalize(&a, cases[i].in, strlen(cases[i].in), true, "name", &nfc, &key,
                                &err);
        print_message("name-%zu\n", i + 1);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_string_equal(nfc, cases[i].nfc);
            assert_string_equal(key, cases[i].key);
        } else {
            assert_string_equal(err.field, "name");
            assert_true(strlen(err.msg) > 0);
        }
    }
    arena_release(&a);
}

static void test_segment_length(void **state)
{
    struct arena a;
    char buf[80];
    char *nfc, *key;
    struct tg_err err;
    (void)state;
    arena_init(&a);
    memset(buf, 'x', 64);
    buf[64] = '\0';
    assert_int_equal(name_normalize(&a, buf, 64, true, "name", &nfc, &key, &err), 0);
    buf[64] = 'x';
    buf[65] = '\0';
    assert_int_equal(name_normalize(&a, buf, 65, true, "name", &nfc, &key, &err), TG_EINVAL);
    /* 64 two-byte characters are 64 characters, not 128. */
    for (int i = 0; i < 32; i++)
        memcpy(buf + 2 * i, "\xc3\xa4", 2);
    buf[64] = '\0';
    assert_int_equal(name_normalize(&a, buf, 64, true, "name", &nfc, &key, &err), 0);
    arena_release(&a);
}

static void test_flat_names_keep_dots(void **state)
{
    struct arena a;
    char *nfc, *key;
    struct tg_err err;
    (void)state;
    arena_init(&a);
    assert_int_equal(name_normalize(&a, "v1.2", 4, false, "name", &nfc, &key, &err), 0);
    assert_string_equal(nfc, "v1.2");
    assert_int_equal(name_levels("a.b.c"), 3);
    assert_true(name_is_clean_utf8("abc", 3));
    assert_false(name_is_clean_utf8("a\0c", 3));
    assert_string_equal(name_fold(&a, "ABC"), "abc");
    arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_segment_length),
        cmocka_unit_test(test_flat_names_keep_dots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
