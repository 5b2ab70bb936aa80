/* tests/unit/test_time.c: ISO-8601 formatting and parsing (util/timeu.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "util/timeu.h"

static void test_format(void **state)
{
    char buf[32];
    (void)state;
    time_iso(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    time_iso(1795434896123LL, buf);
    assert_string_equal(buf, "2026-11-23T11:54:56.123Z");
    time_iso(951782400000LL, buf); /* leap day 2000 */
    assert_string_equal(buf, "2000-02-29T00:00:00.000Z");
    time_iso(-1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    time_iso(253402300800000LL, buf); /* year 10000: past the digit-by-digit path */
    assert_string_equal(buf, "10000-01-01T00:00:00.000Z");
}

/* The hand-written formatting against gmtime_r over years 0..9999, milliseconds included. */
static void test_format_matches_gmtime(void **state)
{
    unsigned seed = 99;
    (void)state;
    for (int i = 0; i < 200000; i++) {
        int64_t lo = -62167219200000LL, hi = 253402300799999LL; /* 0000-01-01 .. 9999-12-31 */
        int64_t ms = lo + (int64_t)(((uint64_t)rand_r(&seed) << 31 ^ (uint64_t)rand_r(&seed)) %
                                    (uint64_t)(hi - lo));
        int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
        time_t t = (time_t)secs;
        struct tm tm;
        char want[64], got[32];
        gmtime_r(&t, &tm);
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms - secs * 1000));
        time_iso(ms, got);
        if (strcmp(want, got) != 0)
            fail_msg("%lld: %s, want %s", (long long)ms, got, want);
    }
}

static const struct {
    const char *in;
    bool ok;
    int64_t ms;
} cases[] = {
    {"2026-11-23T11:54:56.123Z", true, 1795434896123LL},
    {"2026-11-23T11:54:56Z", true, 1795434896000LL},
    {"2026-11-23T12:54:56+01:00", true, 1795434896000LL},
    {"2026-11-23", true, 1795392000000LL},
    {"1795434896123", true, 1795434896123LL},
    {"2026-13-01", false, 0},
    {"yesterday", false, 0},
    {"2026-11-23T11:54:56Zjunk", false, 0},
    {"", false, 0},
};

/* Dates that do not exist are refused, not rolled over into the next month (issue 24:
 * 2030-02-31 was stored as March 3rd); the last day of each month still parses. */
static void test_parse_rejects_impossible_dates(void **state)
{
    static const char *bad[] = {
        "2030-02-31T00:00:00Z", "2030-02-29", "2030-02-30T12:00:00+02:00", "2100-02-29",
        "2030-04-31", "2030-06-31T00:00:00Z", "2030-09-31", "2030-11-31T23:59:59Z",
        "2030-01-01T00:00:00+24:00", "2030-01-01T00:00:00+01:60",
    };
    static const char *good[] = {
        "2030-01-31", "2028-02-29T00:00:00Z", "2000-02-29", "2030-02-28", "2030-04-30",
        "2030-12-31T23:59:59Z", "2030-01-01T00:00:00+23:59",
    };
    int64_t ms;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("bad %s\n", bad[i]);
        assert_false(time_parse(bad[i], &ms));
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        print_message("good %s\n", good[i]);
        assert_true(time_parse(good[i], &ms));
    }
    assert_true(time_parse("2028-02-29T00:00:00Z", &ms));
    assert_int_equal(ms, 1835395200000LL);
}

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        print_message("time-%zu\n", i + 1);
        assert_int_equal(time_parse(cases[i].in, &ms), cases[i].ok);
        if (cases[i].ok)
            assert_int_equal(ms, cases[i].ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_matches_gmtime),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_rejects_impossible_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
