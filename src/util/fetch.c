/* util/fetch.c: http(s) GET with libcurl, a deadline, a size ceiling and an SSRF guard
 * (fetch.h). */
#include "util/fetch.h"

#include <assert.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

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
