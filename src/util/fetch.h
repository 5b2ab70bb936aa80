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

/* What fetch_post got back. */
struct fetch_reply {
    long status;         /* the HTTP status; 0 when none came */
    const char *body;    /* the answer's first max_bytes bytes, NUL-ended (arena) */
    size_t len;
    bool truncated;      /* the answer was longer: the rest was not read */
    int64_t latency_us;  /* from the start of the transfer to its end */
};

/**
 * POSTs `body` (`len` bytes, Content-Type: application/json) to `url` (http:// or https://;
 * redirects are not followed) with the extra header lines `headers` (NULL-terminated,
 * "Name: value", borrowed). Reads at most lim->max_bytes of the answer into the arena; a longer
 * answer is cut there (reply->truncated) and its status still counts. `stop` (may be NULL) is
 * polled during the transfer: once it is true the transfer ends with TG_EBUSY. 0 when an answer
 * came, whatever its status (in reply->status); TG_ERULE when public_only refused the address;
 * TG_EINVAL (field "url") when nothing came within timeout_ms or the connection failed, with
 * the reason; TG_EINTERNAL when no client could be made.
 */
int fetch_post(struct arena *a, const char *url, const char *const *headers, const void *body,
               size_t len, const struct fetch_limits *lim, const _Atomic bool *stop,
               struct fetch_reply *reply, struct tg_err *err);
/* How far fetch_url_check looks at a URL's host. */
enum fetch_check {
    FETCH_CHECK_SYNTAX,  /* http(s), a host: any address */
    FETCH_CHECK_LITERAL, /* ... and no private address written as such (an IP literal,
                          * "localhost"): no lookup, so it may run where blocking may not */
    FETCH_CHECK_RESOLVE, /* ... and no private address the host resolves to (getaddrinfo) */
};
/**
 * Checks a URL a tenant gives the server to call: http:// or https://, a host, at most 2048
 * bytes (TG_EINVAL, field "url", otherwise), and as `how` says, that it names no loopback,
 * private, link-local, unspecified or multicast address (TG_ERULE, field "url"). fetch_post's
 * public_only applies the same rule again at every connect: a name may resolve differently
 * later.
 */
int fetch_url_check(const char *url, enum fetch_check how, struct tg_err *err);

#endif /* TAGD_UTIL_FETCH_H */
