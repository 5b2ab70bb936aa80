/* util/fetch.h: fetching a document over http(s) with libcurl, with a deadline, a size ceiling
 * and, on request, a guard against server-side request forgery (only public addresses).
 *
 * Threads: fetch_global_init runs once before any thread fetches, fetch_global_release once at
 * exit; fetch_http may then run on any thread and blocks it for at most timeout_ms. */
#ifndef TAGD_UTIL_FETCH_H
#define TAGD_UTIL_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

struct fetch_limits {
    int64_t timeout_ms; /* the whole transfer, redirects included */
    size_t max_bytes;   /* largest body */
    /* Refuse loopback, private, link-local, unspecified and multicast addresses (IPv4, IPv6
     * and IPv4-mapped IPv6), checked on the address each connect resolved to, redirects
     * included. */
    bool public_only;
};

/** Initializes libcurl's global state. 0, or -1 when libcurl cannot start. */
int fetch_global_init(void);
/** Frees libcurl's global state (nothing when fetch_global_init did not succeed). */
void fetch_global_release(void);
/**
 * GETs `url` (http:// or https://; redirects to those only, at most 3) into *text, NUL-ended,
 * in arena `a` (returns arena), its length in *len. Errors, all with field "url": TG_ERULE when
 * public_only refused an address; TG_EINVAL when the body is larger than max_bytes, nothing
 * came within timeout_ms, the transfer failed or the status is not 2xx/3xx; TG_EINTERNAL when
 * no client could be made.
 */
int fetch_http(struct arena *a, const char *url, const struct fetch_limits *lim,
               const char **text, size_t *len, struct tg_err *err);

#endif /* TAGD_UTIL_FETCH_H */
