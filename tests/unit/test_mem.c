/* tests/unit/test_mem.c: the request arena and secrets (util/arena.c, util/secret.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/arena.h"
#include "util/secret.h"

static void test_arena(void **state)
{
    struct arena a;
    char *big, *s;
    (void)state;
    arena_init(&a);
    s = arena_strdup(&a, "hello");
    big = arena_alloc(&a, 100000);
    memset(big, 1, 100000);
    assert_string_equal(s, "hello");
    for (int i = 0; i < 10000; i++)
        assert_non_null(arena_printf(&a, "%d", i));
    assert_string_equal(arena_printf(&a, "%s-%d", "x", 7), "x-7");
    assert_int_equal(((uintptr_t)arena_alloc(&a, 3)) % 16, 0);
    arena_release(&a);
}

static void test_secret(void **state)
{
    char t1[80], t2[80], h1[SECRET_HASH_HEX], h2[SECRET_HASH_HEX], pw[SECRET_PW_MAX];
    (void)state;
    assert_int_equal(secret_init(), 0);
    secret_token(t1, sizeof(t1), "tgd_");
    secret_token(t2, sizeof(t2), "tgd_");
    assert_true(strncmp(t1, "tgd_", 4) == 0);
    assert_string_not_equal(t1, t2);
    secret_hash(t1, strlen(t1), h1);
    secret_hash(t1, strlen(t1), h2);
    assert_string_equal(h1, h2);
    assert_int_equal(strlen(h1), 64);
    /* Stored hashes must stay what they were: keyed BLAKE2b-256 in lower-case hex, as Python's
     * hashlib.blake2b(b"tagd_abc", digest_size=32, key=b"tagd-token-hash-v1") gives. */
    secret_hash("tagd_abc", 8, h1);
    assert_string_equal(h1, "d05353633187bc853f851d4636f9d3ba3193b406179d1d0dad7d1be659b97895");
    assert_int_equal(secret_pw_hash("correct horse", pw), 0);
    assert_true(strncmp(pw, "$argon2id$", 10) == 0);
    assert_true(secret_pw_verify(pw, "correct horse"));
    assert_false(secret_pw_verify(pw, "wrong horse"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
