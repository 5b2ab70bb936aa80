/* http/server.h: runs the HTTP server until SIGTERM or SIGINT, then drains and returns. */
#ifndef TAGD_HTTP_SERVER_H
#define TAGD_HTTP_SERVER_H

#include "http/config.h"

struct store;

/** What SIGHUP runs, on the main thread between two turns of its event loop: reads the
 * configuration again, applies what it may, and publishes the result with server_set_config. */
typedef void server_reload_fn(void);

/** Serves until a stop signal; returns the process exit code (0 after a clean drain). `cfg` is
 * copied. `reload` (may be NULL: SIGHUP is then ignored) runs on each SIGHUP. */
int server_run(const struct tagd_config *cfg, struct store *store, server_reload_fn *reload);

/** The configuration the server runs with now (borrowed, immutable; valid until server_run
 * returns). */
const struct tagd_config *server_config(void);

/** Publishes `cfg` (copied) for every loop's next request. Main thread only. */
void server_set_config(const struct tagd_config *cfg);

#endif /* TAGD_HTTP_SERVER_H */
