/* tests/unit/test_secret.c: signed values (util/secret.c), which easydb's unstored sessions
 * are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/secret.h"

static const unsigned char MSG[42] = "a session: org, times, language, nonce ..";

static void test_round_trip(void **state)
{
    char key[SECRET_KEY_HEX], out[256];
    unsigned char got[sizeof(MSG)];

    (void)state;
    secret_key_new(key);
    assert_int_equal(strlen(key), SECRET_KEY_HEX - 1);
    assert_int_equal(secret_sign(key, MSG, sizeof(MSG), "tgd_", out, sizeof(out)), 0);
    assert_memory_equal(out, "tgd_", 4);
    /* URL-safe: it travels as a query parameter. */
    assert_int_equal(strspn(out + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_"),
                     strlen(out + 4));
    memset(got, 0, sizeof(got));
    assert_true(secret_verify(key, out, "tgd_", got, sizeof(got)));
    assert_memory_equal(got, MSG, sizeof(MSG));
}

/* Any changed character, a cut or an extended value, another key, prefix or length: refused. */
static void test_tampering_is_refused(void **state)
{
    char key[SECRET_KEY_HEX], key2[SECRET_KEY_HEX], out[256], bad[260];
    unsigned char got[sizeof(MSG)];
    size_t n;

    (void)state;
    secret_key_new(key);
    secret_key_new(key2);
    assert_int_equal(secret_sign(key, MSG, sizeof(MSG), "tgd_", out, sizeof(out)), 0);
    n = strlen(out);
    for (size_t i = 0; i < n; i++) {
        memcpy(bad, out, n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_false(secret_verify(key, bad, "tgd_", got, sizeof(got)));
    }
    memcpy(bad, out, n + 1);
    bad[n - 1] = '\0';
    assert_false(secret_verify(key, bad, "tgd_", got, sizeof(got)));
    snprintf(bad, sizeof(bad), "%sA", out);
    assert_false(secret_verify(key, bad, "tgd_", got, sizeof(got)));
    assert_false(secret_verify(key2, out, "tgd_", got, sizeof(got)));
    assert_false(secret_verify(key, out, "tgs_", got, sizeof(got)));
    assert_false(secret_verify(key, out, "tgd_", got, sizeof(got) - 1));
    assert_false(secret_verify("not-a-key", out, "tgd_", got, sizeof(got)));
    assert_false(secret_verify(key, "", "tgd_", got, sizeof(got)));
}

static void test_sign_refuses_bad_input(void **state)
{
    char key[SECRET_KEY_HEX], out[256];
    unsigned char big[200] = {0};

    (void)state;
    secret_key_new(key);
    assert_int_equal(secret_sign("zz", MSG, sizeof(MSG), "tgd_", out, sizeof(out)), -1);
    assert_int_equal(secret_sign(key, MSG, sizeof(MSG), "tgd_", out, 20), -1);
    assert_int_equal(secret_sign(key, big, sizeof(big), "tgd_", out, sizeof(out)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tampering_is_refused),
        cmocka_unit_test(test_sign_refuses_bad_input),
    };
    if (secret_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
