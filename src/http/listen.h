/* http/listen.h: the --listen address, parsed and checked before anything is written. */
#ifndef TAGD_HTTP_LISTEN_H
#define TAGD_HTTP_LISTEN_H

#include <netinet/in.h>

#include "http/config.h"

/** "ADDR:PORT" ("*" or "" any address, "localhost") into `sa`; 0, or -1 when malformed. */
int parse_listen(const char *s, struct sockaddr_in *sa);
/** 1 when nobody holds the address's port (a plain bind succeeds), else 0. */
int port_is_free(const struct sockaddr_in *sa);
/** Before the store is opened: the listen address parses and its port is free. A port that
 * is in use must stop tagd before a first start makes (and prints) an admin token that would
 * belong to nobody. Returns 0, or the process exit code having logged why. */
int listen_preflight(const struct tagd_config *cfg);

#endif /* TAGD_HTTP_LISTEN_H */
