/* tests/unit/test_http_guard.c: the chunked framing check (http/guard.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "http/guard.h"

#define POST "POST /v1/tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
#define MAX_BODY 1000

/* Each case is a connection's bytes; status is what guard_feed answers, bad the offset from
 * which nothing may reach h2o (only when status != 0). */
static const struct {
    const char *in;
    int status;
    const char *bad; /* the bytes from bad_at on */
} cases[] = {
    /* 1 */ {POST "5\r\nhello\r\n0\r\n\r\n", 0, NULL},
    /* 2 */ {POST "0xbe\r\nGET / HTTP/1.1\r\n\r\n", 400, "0xbe\r\nGET / HTTP/1.1\r\n\r\n"},
    /* 3 */ {POST "5\r\nhello\r\n0x0\r\n\r\n", 400, "0x0\r\n\r\n"},
    /* 4 */ {POST "7fffffffffffffff\r\n", 413, "7fffffffffffffff\r\n"},
    /* 5 */ {POST "3e9\r\n", 413, "3e9\r\n"},         /* 1001 > MAX_BODY */
    /* 6 */ {POST "3e8\r\n", 0, NULL},                /* 1000: allowed */
    /* 7 */ {POST "200\r\n", 0, NULL},
    /* 8 */ {POST "1F4\r\n" "", 0, NULL},             /* 500 */
    /* 9 */ {POST "a ; ext=1\r\n0123456789\r\n0;x\r\nT: v\r\n\r\n", 0, NULL},
    /* 10 */ {POST "a \r\n", 400, "a \r\n"},           /* BWS only before ';' */
    /* 11 */ {POST "\r\n", 400, "\r\n"},
    /* 12 */ {POST ";x\r\n", 400, ";x\r\n"},
    /* 13 */ {POST "5\r\nhello!!\r\n", 400, "!!\r\n"}, /* a chunk longer than it said */
    /* 14 */ {POST "5\rX\n", 400, "5\rX\n"},
    /* 15 */ {"GET / HTTP/1.1\r\nHost: x\r\n\r\n" POST "0xbe\r\n", 400, "0xbe\r\n"},
    /* 16 */ {"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n0xbe\r\n0xbe\r\n" POST "0\r\n\r\n", 0, NULL},
    /* 17 */ {POST "0\r\n\r\n" POST "fff\r\n", 413, "fff\r\n"},
    /* 18 */ {POST "1f4\r\n", 0, NULL},
    /* 19 */ {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n0xbe\r\n", 0, NULL}, /* h2o 400s */
    /* 20 */ {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n+1\r\n", 400, "+1\r\n"},
};

/* Two chunks of 400 each, then one of 300: 1100 in all. */
static void test_body_total_is_bounded(void **state)
{
    struct guard_parse p;
    const char *in = POST "190\r\n";
    size_t bad = 99;
    char chunk[400];

    (void)state;
    memset(chunk, 'x', sizeof(chunk));
    guard_parse_init(&p, MAX_BODY);
    assert_int_equal(guard_feed(&p, in, strlen(in), &bad), 0);
    assert_int_equal(guard_feed(&p, chunk, sizeof(chunk), &bad), 0);
    assert_int_equal(guard_feed(&p, "\r\n190\r\n", 7, &bad), 0);
    assert_int_equal(guard_feed(&p, chunk, sizeof(chunk), &bad), 0);
    assert_int_equal(guard_feed(&p, "\r\n12c\r\n", 7, &bad), 413);
    assert_int_equal(bad, 2);
    assert_int_equal(p.state, GUARD_PASS);
}

static void run(const char *in, size_t step, int *status, size_t *bad)
{
    struct guard_parse p;
    size_t n = strlen(in), off = 0;

    guard_parse_init(&p, MAX_BODY);
    *status = 0;
    while (off < n && *status == 0) {
        size_t k = n - off < step ? n - off : step, b = 0;
        *status = guard_feed(&p, in + off, k, &b);
        /* What a feed cuts is relative to it; a line begun earlier is cut at its start. */
        *bad = off + b;
        off += k;
    }
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        static const size_t steps[] = {1 << 20, 1, 2, 3, 7};
        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            int status;
            size_t bad = 0, n = strlen(cases[i].in);
            run(cases[i].in, steps[s], &status, &bad);
            if (status != cases[i].status)
                fail_msg("guard-%zu (step %zu): status %d, want %d", i + 1, steps[s], status,
                         cases[i].status);
            if (status == 0)
                continue;
            /* Whole: exactly the bad line on. Split: what earlier feeds passed on is h2o's
             * already (a part of the line, which it cannot act on without the line end). */
            if (steps[s] > n && strcmp(cases[i].in + bad, cases[i].bad) != 0)
                fail_msg("guard-%zu: cut at \"%s\", want \"%s\"", i + 1, cases[i].in + bad,
                         cases[i].bad);
            if (bad < n - strlen(cases[i].bad) || bad > n)
                fail_msg("guard-%zu (step %zu): cut at %zu", i + 1, steps[s], bad);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_body_total_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
