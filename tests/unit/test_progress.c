/* tests/unit/test_progress.c: the progress lines of util/progress.c (share, rate, time left)
 * and when they are due (a second passed or a tenth crossed), on a FILE for PROGRESS_LINES. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/progress.h"

/* progress-1: a known total gives the share, the rate and the time left. */
static void test_format_total(void **state)
{
    struct progress p;
    char buf[256];
    (void)state;
    progress_init(&p, "loading", "rows", 1000, PROGRESS_LINES, stderr);
    progress_format(&p, 250, 2000000, "250 resources", buf, sizeof(buf));
    assert_string_equal(buf, "loading: 250 of 1000 rows (25%), 250 resources, 125/s, 6.0 s left");
    progress_format(&p, 100, 1000000, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "loading: 100 of 1000 rows (10%), 100/s, 9.0 s left");
    progress_format(&p, 1000, 1000000, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "loading: 1000 of 1000 rows (100%), 1000/s");
}

/* progress-2: without a total, no share and no time left; no time yet, no rate. */
static void test_format_unknown(void **state)
{
    struct progress p;
    char buf[256];
    (void)state;
    progress_init(&p, "copying", "rows", 0, PROGRESS_LINES, stderr);
    progress_format(&p, 5000, 0, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "copying: 5000 rows, 0/s");
}

/* progress-3: a line per tenth crossed even within the second, none between, one at the end;
 * lines are plain (no bar, no '\r') when the output is not a terminal. */
static void test_due(void **state)
{
    struct progress p;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int lines = 0;
    (void)state;
    assert_non_null(f);
    progress_init(&p, "copying", "rows", 100, progress_mode_for(f), f);
    assert_int_equal(p.mode, PROGRESS_LINES);
    for (int i = 1; i <= 100; i++)
        progress_update(&p, i, NULL);
    progress_end(&p, 100, NULL);
    fclose(f);
    for (char *c = text; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 11); /* 10%, 20% ... 100%, then "done" */
    assert_null(strchr(text, '\r'));
    assert_non_null(strstr(text, "copying: 10 of 100 rows (10%)"));
    assert_non_null(strstr(text, "copying: 100 rows done in "));
    free(text); /* open_memstream's buffer is the C library's */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_total),
        cmocka_unit_test(test_format_unknown),
        cmocka_unit_test(test_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
