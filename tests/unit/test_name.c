/* tests/unit/test_name.c: name rules and normalization (util/name.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdlib.h>
#include <unicase.h>
#include <uninorm.h>

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

/* name_check_visible: Cf characters refused, joiners kept where writing needs them. */
static const struct {
    const char *in;
    int rc;
} visible_cases[] = {
    /* 1 */ {"Confidential", 0},
    /* 2 */ {"Conf\xe2\x80\xaeidential", TG_EINVAL},           /* U+202E RLO */
    /* 3 */ {"Confidential\xe2\x80\x8d", TG_EINVAL},           /* ZWJ at the end */
    /* 4 */ {"Conf\xe2\x80\x8didential", TG_EINVAL},           /* ZWJ between letters */
    /* 5 */ {"Conf\xe2\x80\x8bidential", TG_EINVAL},           /* U+200B ZWSP */
    /* 6 */ {"a\xe2\x81\xa6" "b\xe2\x81\xa9", TG_EINVAL},      /* U+2066 LRI ... PDI */
    /* 7 */ {"a\xe2\x80\x8f" "b", TG_EINVAL},                    /* U+200F RLM */
    /* 8 */ {"a\xd8\x9c" "b", TG_EINVAL},                         /* U+061C ALM */
    /* 9 */ {"\xef\xbb\xbf" "a", TG_EINVAL},                  /* U+FEFF */
    /* 10 */ {"Con\xc2\xad" "fidential", TG_EINVAL},          /* U+00AD soft hyphen */
    /* 11 */ {"a\xe2\x81\xa0" "b", TG_EINVAL},                /* U+2060 word joiner */
    /* 12 */ {"\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb", 0}, /* woman technologist */
    /* 13 */ {"\xf0\x9f\x91\xa8\xf0\x9f\x8f\xbd\xe2\x80\x8d\xf0\x9f\x9a\x80", 0}, /* + skin tone */
    /* 14 */ {"\xe2\x9d\xa4\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x94\xa5", 0}, /* heart on fire */
    /* 15 */ {"\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7", 0}, /* Devanagari k+virama+ZWJ+ss */
    /* 16 */ {"\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87\xd9\x85", 0}, /* Persian ZWNJ */
    /* 17 */ {"a\xe2\x80\x8c" "b", TG_EINVAL},               /* ZWNJ between Latin letters */
    /* 18 */ {"\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8c\xe0\xa4\xb7", 0}, /* ZWNJ after a virama */
    /* 19 */ {"\xf0\x9f\x91\xa9\xe2\x80\x8d" "a", TG_EINVAL}, /* emoji ZWJ letter */
    /* 20 */ {"\xf0\x9f\x8f\xb4\xf3\xa0\x81\xa7\xf3\xa0\x81\xa2\xf3\xa0\x81\xbf", TG_EINVAL}, /* tag chars */
    /* 21 */ {"caf\xc3\xa9 \xf0\x9f\x98\x80", 0},
    /* 22 */ {"\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a", 0},      /* Arabic letters */
};

static void test_check_visible(void **state)
{
    struct tg_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(visible_cases) / sizeof(visible_cases[0]); i++) {
        const char *in = visible_cases[i].in;
        int rc;
        tg_err_clear(&err);
        rc = name_check_visible(in, strlen(in), "name", &err);
        if (rc != visible_cases[i].rc)
            fail_msg("visible-%zu: rc %d, want %d (%s)", i + 1, rc, visible_cases[i].rc, err.msg);
        if (rc)
            assert_string_equal(err.field, "name");
    }
    tg_err_clear(&err);
    name_check_visible("a\xe2\x80\xae" "b", 5, "name", &err);
    assert_string_equal(err.msg, "name contains the bidirectional control character U+202E");
}

/* name-ascii: ASCII names take a path of their own (no libunistring); for random ASCII input
 * it must give what normalizing and folding with libunistring gives, errors included. */
static void test_ascii_like_unicode(void **state)
{
    static const char alphabet[] = "aZ.. ,\t\x7f" "09Kk-_~!\"\\" "AzqQ";
    unsigned seed = 99;
    struct arena a;
    (void)state;
    arena_init(&a);
    for (int round = 0; round < 20000; round++) {
        char in[24], *nfc = NULL, *key = NULL;
        size_t n = 1 + (size_t)(rand_r(&seed) % 20), nlen = 0, flen = 0;
        struct tg_err err;
        uint8_t *norm, *fold;
        int rc;
        for (size_t i = 0; i < n; i++)
            in[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        in[n] = '\0';
        rc = name_normalize(&a, in, n, round % 2 == 0, "name", &nfc, &key, &err);
        /* The Unicode path on the same input: a 'é' appended and taken off again would
         * change nothing, so compare with libunistring directly. */
        norm = u8_normalize(UNINORM_NFC, (const uint8_t *)in, n, NULL, &nlen);
        fold = u8_casefold(norm, nlen, NULL, UNINORM_NFC, NULL, &flen);
        assert_int_equal(nlen, n);
        assert_memory_equal(norm, in, n);
        if (rc == 0) {
            assert_int_equal(strlen(key), flen);
            assert_memory_equal(key, fold, flen);
            assert_string_equal(nfc, in);
        }
        free(norm);
        free(fold);
    }
    arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_visible),
        cmocka_unit_test(test_ascii_like_unicode),
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_segment_length),
        cmocka_unit_test(test_flat_names_keep_dots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
