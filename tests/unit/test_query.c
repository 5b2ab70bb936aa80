/* tests/unit/test_query.c: the tag query parser: precedence, every term form, and the column
 * and message of every kind of syntax error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "engine/query.h"

static void ok(const char *src, const char *want)
{
    struct arena a;
    struct qnode *q;
    struct qerr e;

    arena_init(&a);
    if (query_parse(&a, src, strlen(src), &q, &e) != 0)
        fail_msg("'%s' failed at column %d: %s", src, e.col, e.msg);
    assert_string_equal(query_sexpr(&a, q), want);
    arena_release(&a);
}

static void bad(const char *src, int col, const char *msg_part)
{
    struct arena a;
    struct qnode *q;
    struct qerr e;

    arena_init(&a);
    assert_int_equal(query_parse(&a, src, strlen(src), &q, &e), -1);
    assert_null(q);
    if (e.col != col || strstr(e.msg, msg_part) == NULL)
        fail_msg("'%s': got column %d '%s', want column %d '%s'", src, e.col, e.msg, col,
                 msg_part);
    arena_release(&a);
}

static void test_terms(void **state)
{
    (void)state;
    ok("Confidential", "(tag Confidential)");
    ok("Country.*", "(subtree Country)");
    ok("Address.Email", "(tag Address.Email)");
    ok("has:Country", "(has Country)");
    ok("HAS:Country", "(has Country)");
    ok("kind:file", "(kind file)");
    ok("\"Data Owner\"", "(tag Data Owner)");
    ok("\"Data Owner\".*", "(subtree Data Owner)");
    ok("has:\"Data Owner\"", "(has Data Owner)");
    ok("\"say \\\"hi\\\" \\\\ bye\"", "(tag say \"hi\" \\ bye)");
    ok("\"and\"", "(tag and)");
    ok("Äpfel.Grün", "(tag Äpfel.Grün)");
    ok("a:b", "(tag a:b)");
    ok("  \tA \n", "(tag A)");
}

static void test_precedence(void **state)
{
    (void)state;
    ok("A and B or C", "(or (and (tag A) (tag B)) (tag C))");
    ok("A or B and C", "(or (tag A) (and (tag B) (tag C)))");
    ok("A or B or C", "(or (or (tag A) (tag B)) (tag C))");
    ok("not A and B", "(and (not (tag A)) (tag B))");
    ok("not (A and B)", "(not (and (tag A) (tag B)))");
    ok("not not A", "(not (not (tag A)))");
    ok("Country.* and not Confidential", "(and (subtree Country) (not (tag Confidential)))");
    ok("(A or B) and not (C and (D or kind:file))",
       "(and (or (tag A) (tag B)) (not (and (tag C) (or (tag D) (kind file)))))");
    ok("A AND B Or C", "(or (and (tag A) (tag B)) (tag C))");
    ok("(A)and(B)", "(and (tag A) (tag B))");
}

static void test_errors(void **state)
{
    (void)state;
    bad("", 1, "empty");
    bad("   ", 4, "empty");
    bad("A and", 6, "expected a tag name, 'not' or '(', found the end of the query");
    bad("A B", 3, "expected 'and', 'or' or the end of the query, found 'B'");
    bad("(A or B", 8, "expected ')' to close the '(' at column 1");
    bad("A)", 2, "found ')'");
    bad("and A", 1, "found 'and'");
    bad("()", 2, "found ')'");
    bad("Country.*.*", 9, "'*' is only allowed at the end");
    bad("*", 1, "'*' is only allowed");
    bad(".*", 1, "needs a tag name");
    bad("A and C*x", 8, "'*' is only allowed");
    bad("kind:", 6, "needs a resource kind");
    bad("has: A", 5, "needs a tag name");
    bad("A or \"unterminated", 6, "unterminated");
    bad("\"\"", 1, "empty quoted name");
    bad("\"bad \\x\"", 6, "backslash");
    bad("\"A\"B", 4, "after a quoted name");
    bad("\"A\"\"B\"", 4, "between two quoted names");
    /* Columns count characters, not bytes. */
    bad("Äpfel Birnen", 7, "found 'Birnen'");
    bad("A and \x01", 7, "control character");
}

static void test_limits(void **state)
{
    struct arena a;
    struct qnode *q;
    struct qerr e;
    char buf[QUERY_MAX_BYTES + 16];
    size_t i, n = 0;

    (void)state;
    arena_init(&a);
    for (i = 0; i < QUERY_MAX_DEPTH + 1; i++)
        buf[n++] = '(';
    buf[n++] = 'A';
    for (i = 0; i < QUERY_MAX_DEPTH + 1; i++)
        buf[n++] = ')';
    assert_int_equal(query_parse(&a, buf, n, &q, &e), -1);
    assert_int_equal(e.col, QUERY_MAX_DEPTH + 1);
    assert_non_null(strstr(e.msg, "nests deeper"));
    /* Exactly at the limit parses. */
    assert_int_equal(query_parse(&a, buf + 1, n - 2, &q, &e), 0);

    n = 0;
    for (i = 0; i < QUERY_MAX_DEPTH + 1; i++) {
        memcpy(buf + n, "not ", 4);
        n += 4;
    }
    buf[n++] = 'A';
    assert_int_equal(query_parse(&a, buf, n, &q, &e), -1);
    assert_non_null(strstr(e.msg, "nests deeper"));

    n = 0;
    for (i = 0; i < QUERY_MAX_TERMS + 1; i++) {
        memcpy(buf + n, "A or ", 5);
        n += 5;
    }
    buf[n++] = 'A';
    assert_int_equal(query_parse(&a, buf, n, &q, &e), -1);
    assert_non_null(strstr(e.msg, "more than 256 terms"));

    memset(buf, 'A', QUERY_MAX_BYTES + 1);
    assert_int_equal(query_parse(&a, buf, QUERY_MAX_BYTES + 1, &q, &e), -1);
    assert_non_null(strstr(e.msg, "longer than"));
    /* Input that is not NUL-terminated is read only up to n. */
    memcpy(buf, "A and BXYZ", 10);
    assert_int_equal(query_parse(&a, buf, 7, &q, &e), 0);
    assert_string_equal(query_sexpr(&a, q), "(and (tag A) (tag B))");
    arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terms),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
