/* tests/unit/test_api_dialects.c: the registry of dialects (api/dialects.c): which dialect's
 * error format answers a path no route matches, and that the router's tables are the
 * dialects' own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"

static void test_dialect_for_path(void **state)
{
    static const struct {
        const char *path, *dialect;
    } cases[] = {
        {"/api/v1", "easydb"},
        {"/api/v1/", "easydb"},
        {"/api/v1/session", "easydb"},
        {"/api/v1x", "native"},
        {"/api/v2/flags", "launchdarkly"},
        {"/api/v2", "native"},
        {"/tag", "immuta"},
        {"/tag/refresh", "immuta"},
        {"/tags", "native"},
        {"/bim/apikey/authenticate", "immuta"},
        {"/bim", "native"},
        {"/documents/x", "oracle"},
        {"/documents", "native"},
        {"/v1/organizations/o/knowledge/k", "aitronos"},
        {"/v1/organizations/o/workspaces", "native"},
        {"/v1/organizations", "native"},
        {"/v1/tags", "native"},
        {"/", "native"},
        {"", "native"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct dialect *d = api_dialect_for_path(cases[i].path);
        if (strcmp(d->name, cases[i].dialect) != 0)
            fail_msg("dialect-path-%zu: %s is %s's, not %s's", i + 1, cases[i].path, d->name,
                     cases[i].dialect);
    }
}

static void test_registry_tables(void **state)
{
    size_t n = 0;

    (void)state;
    for (; api_dialects[n]; n++) {
        assert_ptr_equal(api_dialects[n]->routes, api_route_tables[n]);
        /* Every route of a dialect's table renders its errors with that dialect. */
        for (const struct route *r = api_route_tables[n]; r->method; r++)
            if (r->d != api_dialects[n])
                fail_msg("%s %s is listed by %s but names %s", r->method, r->pattern,
                         api_dialects[n]->name, r->d ? r->d->name : "no dialect");
    }
    assert_null(api_route_tables[n]);
    assert_ptr_equal(api_dialects[0], &native_dialect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dialect_for_path),
        cmocka_unit_test(test_registry_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
