/* http/server.h: runs the HTTP server until SIGTERM or SIGINT, then drains and returns. */
#ifndef TAGD_HTTP_SERVER_H
#define TAGD_HTTP_SERVER_H

#include "http/config.h"

struct store;

/** Serves until a stop signal; returns the process exit code (0 after a clean drain). */
int server_run(const struct tagd_config *cfg, struct store *store);

#endif /* TAGD_HTTP_SERVER_H */
