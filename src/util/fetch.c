/* util/fetch.c: http(s) GET with libcurl, a deadline, a size ceiling and an SSRF guard
 * (fetch.h). */
#include "util/fetch.h"

#include <assert.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "util/sbuf.h"

static bool curl_ready;

int fetch_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    curl_ready = true;
    return 0;
}

void fetch_global_release(void)
{
    if (curl_ready)
        curl_global_cleanup();
    curl_ready = false;
}

struct fetch_buf {
    struct sbuf b;
    bool too_big;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct fetch_buf *f = arg;
    size_t n = size * nmemb;
    if (sbuf_add(&f->b, p, n) != 0) {
        f->too_big = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

/* True for addresses a tenant must not make tagd reach: loopback, private, link-local,
 * unspecified, multicast, and their IPv4-mapped IPv6 forms. */
static bool private_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 0 || (a >> 24) == 127 || (a >> 24) == 10 ||
               (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168) ||
               (a >> 16) == (169u << 8 | 254) || (a >> 22) == (100u << 2 | 1) ||
               (a >> 28) >= 14;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        const uint8_t *b = a6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            struct sockaddr_in v4;
            memset(&v4, 0, sizeof(v4));
            v4.sin_family = AF_INET;
            memcpy(&v4.sin_addr, b + 12, 4);
            return private_addr((const struct sockaddr *)&v4);
        }
        return IN6_IS_ADDR_LOOPBACK(a6) || IN6_IS_ADDR_UNSPECIFIED(a6) ||
               IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_MULTICAST(a6) || (b[0] & 0xfe) == 0xfc;
    }
    return true;
}

/* libcurl asks before every connect, after DNS: the resolved address is what is checked, so a
 * public name that resolves to a private address is refused too. */
static curl_socket_t open_public_only(void *clientp, curlsocktype purpose,
                                      struct curl_sockaddr *address)
{
    bool *refused = clientp;
    (void)purpose;
    if (private_addr(&address->addr)) {
        *refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

int fetch_http(struct arena *a, const char *url, const struct fetch_limits *lim,
               const char **text, size_t *len, struct tg_err *err)
{
    bool refused = false;
    struct fetch_buf f;
    char errbuf[CURL_ERROR_SIZE];
    CURL *c;
    CURLcode cc;
    long status = 0;
    int rc = 0;

    assert(lim->max_bytes > 0 && lim->timeout_ms > 0);
    c = curl_easy_init();
    if (c == NULL)
        return tg_err_set(err, TG_EINTERNAL, "url", "cannot start an HTTP client");
    sbuf_init(&f.b, lim->max_bytes);
    f.too_big = false;
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    /* Any thread may fetch: no signals, a hard deadline, http(s) only, even on redirect. */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)lim->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)lim->timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)lim->max_bytes);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tagd/" TAGD_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (lim->public_only) {
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_public_only);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &refused);
    }
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (refused)
        rc = tg_err_set(err, TG_ERULE, "url", "may not reach private addresses");
    else if (f.too_big || cc == CURLE_FILESIZE_EXCEEDED)
        rc = tg_err_set(err, TG_EINVAL, "url", "document is larger than %zu bytes",
                        lim->max_bytes);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = tg_err_set(err, TG_EINVAL, "url", "no answer within %lld ms",
                        (long long)lim->timeout_ms);
    else if (cc != CURLE_OK)
        rc = tg_err_set(err, TG_EINVAL, "url", "%s",
                        errbuf[0] ? errbuf : curl_easy_strerror(cc));
    else if (status >= 400 || status < 200)
        rc = tg_err_set(err, TG_EINVAL, "url", "HTTP status %ld", status);
    if (rc == 0) {
        *text = arena_strndup(a, sbuf_str(&f.b), f.b.len);
        *len = f.b.len;
    }
    sbuf_release(&f.b);
    curl_easy_cleanup(c);
    return rc;
}

/* ---- POST (webhook deliveries) ---- */

struct post_buf {
    struct sbuf b;
    size_t max;
    bool truncated;
    const _Atomic bool *stop;
};

static size_t on_reply(char *p, size_t size, size_t nmemb, void *arg)
{
    struct post_buf *f = arg;
    size_t n = size * nmemb, room = f->max - f->b.len;

    if (n > room) {
        /* Enough read: what a receiver answers is only shown to operators. */
        sbuf_add(&f->b, p, room);
        f->truncated = true;
        return 0;
    }
    sbuf_add(&f->b, p, n);
    return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const struct post_buf *f = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    return f->stop && atomic_load(f->stop) ? 1 : 0;
}

int fetch_post(struct arena *a, const char *url, const char *const *headers, const void *body,
               size_t len, const struct fetch_limits *lim, const _Atomic bool *stop,
               struct fetch_reply *reply, struct tg_err *err)
{
    struct curl_slist *hl = NULL;
    bool refused = false;
    struct post_buf f;
    char errbuf[CURL_ERROR_SIZE];
    int64_t t0 = 0;
    CURL *c;
    CURLcode cc;
    int rc = 0;

    assert(lim->max_bytes > 0 && lim->timeout_ms > 0);
    memset(reply, 0, sizeof(*reply));
    c = curl_easy_init();
    if (c == NULL)
        return tg_err_set(err, TG_EINTERNAL, "url", "cannot start an HTTP client");
    /* The ceiling is ours (on_reply), one byte above for the NUL. */
    sbuf_init(&f.b, lim->max_bytes + 1);
    f.max = lim->max_bytes;
    f.truncated = false;
    f.stop = stop;
    errbuf[0] = '\0';
    hl = curl_slist_append(hl, "Content-Type: application/json");
    /* No "100 continue" round trip before the body. */
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)lim->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)lim->timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* A redirect is an answer like any other (not 2xx): following it would send the body,
     * signed, somewhere the webhook's owner did not name. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tagd/" TAGD_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &f);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (lim->public_only) {
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_public_only);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &refused);
    }
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    }
    cc = curl_easy_perform(c);
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        reply->latency_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - t0;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
    if (refused)
        rc = tg_err_set(err, TG_ERULE, "url", "may not reach private addresses");
    else if (cc == CURLE_ABORTED_BY_CALLBACK)
        rc = tg_err_set(err, TG_EBUSY, "url", "stopped: the server is shutting down");
    else if (cc == CURLE_WRITE_ERROR && f.truncated && reply->status > 0)
        rc = 0; /* cut on purpose, with a status */
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = tg_err_set(err, TG_EINVAL, "url", "no answer within %lld ms",
                        (long long)lim->timeout_ms);
    else if (cc != CURLE_OK)
        rc = tg_err_set(err, TG_EINVAL, "url", "%s",
                        errbuf[0] ? errbuf : curl_easy_strerror(cc));
    if (rc == 0) {
        reply->body = arena_strndup(a, f.b.len ? sbuf_str(&f.b) : "", f.b.len);
        reply->len = f.b.len;
        reply->truncated = f.truncated;
    } else {
        reply->status = 0;
    }
    sbuf_release(&f.b);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc;
}

int fetch_url_check(const char *url, enum fetch_check how, struct tg_err *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char *host = NULL, *scheme = NULL;
    CURLU *u;
    size_t hl;
    int rc = 0;

    if (strlen(url) > 2048)
        return tg_err_set(err, TG_EINVAL, "url", "url is longer than 2048 bytes");
    u = curl_url();
    if (u == NULL)
        return tg_err_set(err, TG_EINTERNAL, "url", "cannot parse URLs");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        rc = tg_err_set(err, TG_EINVAL, "url", "url must be an absolute http:// or https:// URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = tg_err_set(err, TG_EINVAL, "url", "url must be http:// or https://, not %s://",
                        scheme);
        goto out;
    }
    if (how == FETCH_CHECK_SYNTAX)
        goto out;
    hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2); /* an IPv6 literal, without its brackets */
        host[hl - 2] = '\0';
    }
    {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
        size_t n = strlen(host);
        bool priv = false, literal = true;
        memset(&v4, 0, sizeof(v4));
        memset(&v6, 0, sizeof(v6));
        v4.sin_family = AF_INET;
        v6.sin6_family = AF_INET6;
        if (inet_pton(AF_INET, host, &v4.sin_addr) == 1)
            priv = private_addr((const struct sockaddr *)&v4);
        else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1)
            priv = private_addr((const struct sockaddr *)&v6);
        else if (strcasecmp(host, "localhost") == 0 ||
                 (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0))
            priv = true;
        else
            literal = false;
        if (priv) {
            rc = tg_err_set(err, TG_ERULE, "url",
                            "may not reach private, loopback or link-local addresses "
                            "(--webhooks-allow-local)");
            goto out;
        }
        if (literal || how == FETCH_CHECK_LITERAL)
            goto out;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        rc = tg_err_set(err, TG_EINVAL, "url", "cannot resolve host '%.200s'", host);
        goto out;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (private_addr(ai->ai_addr)) {
            rc = tg_err_set(err, TG_ERULE, "url",
                            "may not reach private, loopback or link-local addresses "
                            "(--webhooks-allow-local)");
            break;
        }
    }
    freeaddrinfo(res);
out:
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}
