/* tests/unit/fixture.h: a fresh SQLite store in a temporary directory, bootstrapped, with a
 * core context acting as the admin of the default organization. */
#ifndef TAGD_TEST_FIXTURE_H
#define TAGD_TEST_FIXTURE_H

#include "core/core.h"

struct fixture {
    char dir[256];
    struct store *store;
    struct store_conn *conn;
    struct arena a;
    struct core_ctx cx;
};

/** cmocka setup/teardown: *state becomes a struct fixture with an open write transaction. */
int fixture_setup(void **state);
int fixture_teardown(void **state);
/** Commits the current transaction and starts the next one (new revision). */
void fixture_next_txn(struct fixture *f);
struct engine;
/** The same, and between the two opens the engine into *e when it is NULL, else catches it
 * up when `catch_up` (if not, it lags behind the store). */
void fixture_next_txn_engine(struct fixture *f, struct engine **e, bool catch_up);

#endif /* TAGD_TEST_FIXTURE_H */
