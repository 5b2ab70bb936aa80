/* tagctl/client.c: HTTP to tagd's native API with libcurl.
 *
 * One easy handle for the whole run, so that a listing of many pages and an import of many
 * chunks reuse one connection. Every answer is read into a capped buffer and parsed; an answer
 * that is not 2xx is turned into a message on stderr (the server's error code, message and
 * request id, docs/api.md "Errors") and into tagctl's exit code for its status. --debug prints
 * each request and answer on stderr with the token hidden. */
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "tagctl/tagctl.h"
#include "util/mem.h"

/* The largest answer read: a page is at most 1000 items, far below this. */
#define RESP_MAX (256u << 20)

struct tc_client {
    CURL *curl;
    const struct tc_config *cfg;
    bool debug;
    long timeout_s;
    char errbuf[CURL_ERROR_SIZE];
};

bool tc_color_err;
const char *client_if_match;

int tc_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs(tc_color_err ? "\033[31mtagctl:\033[0m " : "tagctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

long client_timeout(const struct tc_client *c) { return c->timeout_s; }

struct tc_client *client_new(const struct tc_config *cfg, bool debug, long timeout_s)
{
    struct tc_client *c = xcalloc(1, sizeof(*c));
    c->cfg = cfg;
    c->debug = debug;
    c->timeout_s = timeout_s;
    c->curl = curl_easy_init();
    if (c->curl == NULL)
        TG_BUG("curl_easy_init failed");
    return c;
}

void client_free(struct tc_client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    xfree(c);
}

void resp_release(struct tc_resp *r)
{
    json_decref(r->body);
    r->body = NULL;
    sbuf_release(&r->raw);
}

int client_exit_code(long status)
{
    if (status >= 200 && status < 300)
        return TC_OK;
    switch (status) {
    case 400:
        return TC_USAGE;
    case 401:
    case 403:
        return TC_AUTH;
    case 404:
        return TC_NOTFOUND;
    case 409:
    case 412:
    case 422:
        return TC_CONFLICT;
    default:
        return TC_ERROR;
    }
}

void url_escape(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            sbuf_addc(b, (char)*p);
        } else {
            sbuf_addc(b, '%');
            sbuf_addc(b, hex[*p >> 4]);
            sbuf_addc(b, hex[*p & 15]);
        }
    }
}

void url_query(struct sbuf *b, const char *name, const char *value)
{
    if (value == NULL)
        return;
    sbuf_addc(b, strchr(sbuf_str(b), '?') ? '&' : '?');
    sbuf_adds(b, name);
    sbuf_addc(b, '=');
    url_escape(b, value);
}

/* Where a download goes (client_download), for the one transfer under way. */
struct sink {
    struct tc_resp *r;
    CURL *curl;
    FILE *f;
    long long *bytes;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink *k = ud;
    struct tc_resp *r = k->r;
    if (k->f) {
        long status = 0;
        curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            /* A 2xx body goes to the file as it comes: an export may be larger than memory. */
            if (fwrite(p, 1, size * n, k->f) != size * n)
                return 0;
            *k->bytes += (long long)(size * n);
            return size * n;
        }
    }
    if (sbuf_add(&r->raw, p, size * n))
        return 0; /* over the cap: curl stops with CURLE_WRITE_ERROR */
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct tc_resp *r = ud;
    size_t len = size * n;
    if (len > 14 && strncasecmp(p, "X-Request-Id:", 13) == 0) {
        const char *v = p + 13;
        size_t vl = len - 13;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof(r->request_id))
            vl = sizeof(r->request_id) - 1;
        memcpy(r->request_id, v, vl);
        r->request_id[vl] = '\0';
    } else if (len > 16 && strncasecmp(p, "X-Tagd-Revision:", 16) == 0) {
        r->revision = strtoll(p + 16, NULL, 10);
    }
    return len;
}

void client_print_error(struct tc_client *c, const struct tc_resp *r)
{
    json_t *e = r->body ? json_object_get(r->body, "error") : NULL;
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(json_object_get(e, "details"), "field"));
    (void)c;
    if (code && msg) {
        tc_fail(0, "error: %s: %s%s%s%s (HTTP %ld, request id %s)", code, msg,
                field ? " [field " : "", field ? field : "", field ? "]" : "", r->status,
                r->request_id[0] ? r->request_id : "none");
    } else {
        /* Not the native error shape: a proxy's page, or another dialect's error. */
        tc_fail(0, "error: HTTP %ld: %.300s (request id %s)", r->status,
                r->raw.len ? sbuf_str(&r->raw) : "(empty answer)",
                r->request_id[0] ? r->request_id : "none");
    }
}

/* Ends a transfer once SIGINT or SIGTERM came: a hung request must not hold Ctrl-C for the
 * whole --timeout. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)ud;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return tc_stop ? 1 : 0;
}

/* The request body as --debug shows it: a password is replaced, never printed. */
static char *debug_body(json_t *body)
{
    json_t *copy;
    char *s;
    if (!json_is_object(body) || json_object_get(body, "password") == NULL)
        return json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    copy = json_copy(body);
    json_object_set_new(copy, "password", json_string("(hidden)"));
    s = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    return s;
}

/* A body other than JSON (client_send), or a download's file (client_download). */
struct raw {
    const char *ctype;
    const char *data;
    size_t len;
    FILE *out;
    long long *bytes;
};

static int call_raw(struct tc_client *c, const char *method, const char *path, json_t *body,
                    const struct raw *raw, struct tc_resp *r, bool quiet)
{
    struct curl_slist *h = NULL;
    struct sbuf url, auth;
    struct sink sink;
    char *data = NULL;
    CURLcode cc;
    int rc;

    memset(r, 0, sizeof(*r));
    r->revision = -1;
    sbuf_init(&r->raw, RESP_MAX);
    sbuf_init(&url, 0);
    sbuf_init(&auth, 0);
    sbuf_adds(&url, c->cfg->url);
    while (url.len && url.buf[url.len - 1] == '/')
        url.buf[--url.len] = '\0';
    sbuf_adds(&url, path);

    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_URL, sbuf_str(&url));
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    sink.r = r;
    sink.curl = c->curl;
    sink.f = raw ? raw->out : NULL;
    sink.bytes = raw ? raw->bytes : NULL;
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &sink);
    if (sink.f) {
        /* A download lasts as long as it has to: only a stalled one ends. */
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 0L);
        curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, c->timeout_s);
    }
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "tagctl/" TAGD_VERSION);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
    if (c->cfg->token) {
        sbuf_printf(&auth, "Authorization: Bearer %s", c->cfg->token);
        h = curl_slist_append(h, sbuf_str(&auth));
    }
    h = curl_slist_append(h, "Accept: application/json");
    if (c->cfg->workspace) {
        /* The server acts in that workspace of the token's organization (docs/api.md). */
        sbuf_reset(&auth);
        sbuf_printf(&auth, "X-Tagd-Workspace: %s", c->cfg->workspace);
        h = curl_slist_append(h, sbuf_str(&auth));
    }
    if (client_if_match) {
        sbuf_reset(&auth);
        if (client_if_match[0] == '"' || strncmp(client_if_match, "W/", 2) == 0 ||
            strcmp(client_if_match, "*") == 0)
            sbuf_printf(&auth, "If-Match: %s", client_if_match);
        else
            sbuf_printf(&auth, "If-Match: \"%s\"", client_if_match);
        h = curl_slist_append(h, sbuf_str(&auth));
    }
    if (raw && raw->data) {
        sbuf_reset(&auth);
        sbuf_printf(&auth, "Content-Type: %s", raw->ctype);
        h = curl_slist_append(h, sbuf_str(&auth));
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, raw->data);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)raw->len);
    } else if (body) {
        data = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(data));
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    if (c->debug) {
        char *shown = body ? debug_body(body) : NULL;
        fprintf(stderr, "> %s %s\n> Authorization: %s\n%s%s%s", method, sbuf_str(&url),
                c->cfg->token ? "Bearer (hidden)" : "(none)", shown ? "> " : "",
                shown ? shown : "", shown ? "\n" : "");
        xfree(shown); /* jansson allocates with malloc */
    }
    c->errbuf[0] = '\0';
    cc = curl_easy_perform(c->curl);
    curl_slist_free_all(h);
    xfree(data); /* jansson allocates with malloc */
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = TC_ERROR; /* interrupted; the caller decides what that means */
        goto out;
    }
    if (cc != CURLE_OK) {
        bool overflow = cc == CURLE_WRITE_ERROR && r->raw.overflow;
        rc = overflow ? TC_ERROR : TC_UNREACHABLE;
        if (!quiet)
            tc_fail(0, "error: %s: %s", sbuf_str(&url),
                    overflow ? "the answer is too large"
                             : (c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc)));
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->raw.len) {
        json_error_t je;
        r->body = json_loadb(r->raw.buf, r->raw.len, JSON_DECODE_ANY, &je);
    }
    if (c->debug)
        fprintf(stderr, "< %ld (request id %s, revision %lld)\n< %s\n", r->status,
                r->request_id[0] ? r->request_id : "-", r->revision, sbuf_str(&r->raw));
    rc = client_exit_code(r->status);
    if (rc == TC_OK && r->raw.len && r->body == NULL) {
        tc_fail(0, "error: %s answered %ld with a body that is not JSON", sbuf_str(&url),
                r->status);
        rc = TC_ERROR;
    } else if (rc && !quiet) {
        client_print_error(c, r);
    }
out:
    sbuf_release(&url);
    sbuf_release(&auth);
    return rc;
}

static int call(struct tc_client *c, const char *method, const char *path, json_t *body,
                struct tc_resp *r, bool quiet)
{
    return call_raw(c, method, path, body, NULL, r, quiet);
}

int client_call(struct tc_client *c, const char *method, const char *path, json_t *body,
                struct tc_resp *r)
{
    return call(c, method, path, body, r, false);
}

int client_call_quiet(struct tc_client *c, const char *method, const char *path, json_t *body,
                      struct tc_resp *r)
{
    return call(c, method, path, body, r, true);
}

int client_send(struct tc_client *c, const char *method, const char *path, const char *ctype,
                const char *data, size_t len, struct tc_resp *r)
{
    struct raw raw = {.ctype = ctype, .data = data ? data : "", .len = len};
    return call_raw(c, method, path, NULL, &raw, r, true);
}

int client_download(struct tc_client *c, const char *path, FILE *out, long long *bytes,
                    struct tc_resp *r)
{
    struct raw raw = {.out = out, .bytes = bytes};
    *bytes = 0;
    return call_raw(c, "GET", path, NULL, &raw, r, false);
}

int client_download_quiet(struct tc_client *c, const char *path, FILE *out, long long *bytes,
                          struct tc_resp *r)
{
    struct raw raw = {.out = out, .bytes = bytes};
    *bytes = 0;
    return call_raw(c, "GET", path, NULL, &raw, r, true);
}

int client_list(struct tc_client *c, const char *path, long cap, tc_item_fn *fn, void *ctx,
                long long *total)
{
    struct sbuf p;
    char *cursor = NULL;
    long seen = 0;
    int rc = TC_OK;

    if (total)
        *total = -1;
    sbuf_init(&p, 0);
    for (;;) {
        struct tc_resp r;
        json_t *items, *it, *next;
        size_t i;
        long page = 1000;

        sbuf_reset(&p);
        sbuf_adds(&p, path);
        if (cap > 0 && cap - seen < page)
            page = cap - seen;
        if (strstr(path, "limit=") == NULL) {
            char lim[24];
            snprintf(lim, sizeof(lim), "%ld", page);
            url_query(&p, "limit", lim);
        }
        url_query(&p, "cursor", cursor);
        rc = client_call(c, "GET", sbuf_str(&p), NULL, &r);
        if (rc) {
            resp_release(&r);
            break;
        }
        items = json_object_get(r.body, "items");
        if (total && *total < 0 && json_is_integer(json_object_get(r.body, "total")))
            *total = json_integer_value(json_object_get(r.body, "total"));
        json_array_foreach(items, i, it) {
            if (cap > 0 && seen >= cap)
                break;
            seen++;
            rc = fn(ctx, it);
            if (rc)
                break;
        }
        next = json_object_get(r.body, "next_cursor");
        xfree(cursor);
        cursor = json_is_string(next) && *json_string_value(next) ? xstrdup(json_string_value(next))
                                                                  : NULL;
        resp_release(&r);
        if (rc || cursor == NULL || (cap > 0 && seen >= cap) || tc_stop)
            break;
    }
    xfree(cursor);
    sbuf_release(&p);
    return rc;
}
