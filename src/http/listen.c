/* http/listen.c: the start-up check of the listen address (listen.h). */
#include "http/listen.h"

#include "util/log.h"

int listen_preflight(const struct tagd_config *cfg)
{
    struct sockaddr_in sa;

    if (parse_listen(cfg->listen, &sa) != 0) {
        log_error("cannot parse --listen '%s' (want ADDR:PORT)", cfg->listen);
        return 2;
    }
    /* The same words as server_run's own check, which still guards the race between the two. */
    if (sa.sin_port != 0 && !port_is_free(&sa)) {
        log_error("cannot listen on %s: address already in use", cfg->listen);
        return 2;
    }
    return 0;
}
