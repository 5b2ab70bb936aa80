/* api/console.c: the web console (docs/console.md) and the one native read it needs that the
 * rest of /v1 lacked (GET /v1/me, now in api/native/admin.c).
 *
 * The console is a single-page application bundled from ui/ by esbuild and embedded in the
 * binary at build time (tools/console2c.py writes console_assets.h), so it works without
 * internet and is always the console of this server's API. It is served at /ui/: the bundle's
 * files have their content hash in their names and are cached for a year; index.html, which
 * names them, is never cached, so a new server is picked up at the next load. Each asset is
 * embedded as it is and gzipped, answered gzipped to clients that accept it, with a strong
 * ETag per representation and 304 on If-None-Match. Any other /ui/ path without a dot is one
 * of the console's own pages (/ui/query?q=...), answered with index.html; the console routes it.
 * */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"

/* One embedded file. Invariant: gz holds raw gzipped, and both ETags differ, because the
 * two representations differ byte for byte (RFC 9110 8.8.3). */
struct console_asset {
    const char *name;   /* the path under /ui/ */
    const char *type;   /* Content-Type */
    const char *etag;   /* strong ETag of raw, quoted */
    const char *gz_etag; /* strong ETag of gz, quoted */
    const char *raw;
    size_t raw_len;
    const char *gz;
    size_t gz_len;
    bool immutable; /* hashed name: cacheable for a year */
};

#include "console_assets.h"

/* The console loads only its own files and talks only to this origin; inline script and
 * style are not needed (styles set from script go through CSSOM, which style-src allows). */
#define CONSOLE_CSP                                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "               \
    "frame-ancestors 'none'"

static const struct console_asset *asset_find(const char *name)
{
    for (size_t i = 0; i < sizeof(console_assets) / sizeof(console_assets[0]); i++)
        if (strcmp(console_assets[i].name, name) == 0)
            return &console_assets[i];
    return NULL;
}

/* True when Accept-Encoding lists gzip (or *) with a q-value other than 0. */
static bool accepts_gzip(const char *ae)
{
    const char *p = ae;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t tok;
        const char *q;

        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        tok = strcspn(p, " \t;,");
        if (tok > len)
            tok = len;
        if ((tok == 4 && strncasecmp(p, "gzip", 4) == 0) || (tok == 1 && *p == '*')) {
            q = memchr(p, ';', len);
            if (q == NULL)
                return true;
            /* "q=0", "q=0.0", "q=0.000" refuse it; anything else accepts. */
            q++;
            while (*q == ' ')
                q++;
            if (strncasecmp(q, "q=", 2) != 0)
                return true;
            q += 2;
            if (*q != '0')
                return true;
            q++;
            if (*q == '.')
                q++;
            while (*q == '0')
                q++;
            return !(*q == '\0' || *q == ',' || *q == ' ' || *q == ';');
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* True when If-None-Match names `etag` (weak comparison, RFC 9110 13.1.2) or is "*". */
static bool etag_matches(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = inm;

    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, elen) == 0 && (p[elen] == '\0' || p[elen] == ',' ||
                                           p[elen] == ' ' || p[elen] == '\t'))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

/* Answers with the asset (or 304 Not Modified, an answer too, as is GET /'s 302). */
static enum api_result serve(struct hreq *r, const struct console_asset *a)
{
    bool gz = accepts_gzip(api_header(r, "accept-encoding"));
    const char *etag = gz ? a->gz_etag : a->etag;
    const char *inm = api_header(r, "if-none-match");

    api_set_header(r, "Vary", "Accept-Encoding");
    api_set_header(r, "ETag", etag);
    api_set_header(r, "Cache-Control",
                   a->immutable ? "public, max-age=31536000, immutable" : "no-store");
    if (strcmp(a->type, "text/html; charset=utf-8") == 0) {
        api_set_header(r, "Content-Security-Policy", CONSOLE_CSP);
        api_set_header(r, "Referrer-Policy", "no-referrer");
    }
    if (inm && etag_matches(inm, etag)) {
        r->status = 304;
        return API_ANSWER;
    }
    r->status = 200;
    r->content_type = a->type;
    if (gz) {
        api_set_header(r, "Content-Encoding", "gzip");
        sbuf_add(&r->out, a->gz, a->gz_len);
    } else {
        sbuf_add(&r->out, a->raw, a->raw_len);
    }
    return API_ANSWER;
}

static enum api_result h_ui_index(struct hreq *r, struct core_ctx *cx)
{
    (void)cx;
    return serve(r, asset_find("index.html"));
}

static enum api_result h_ui_file(struct hreq *r, struct core_ctx *cx)
{
    const struct console_asset *a = asset_find(r->params[0]);

    (void)cx;
    if (a == NULL && strchr(r->params[0], '.') == NULL)
        a = asset_find("index.html"); /* one of the console's pages */
    if (a == NULL)
        return api_failf(r, TG_ENOTFOUND, "path", "no such file of the console");
    return serve(r, a);
}

static enum api_result h_root(struct hreq *r, struct core_ctx *cx)
{
    (void)cx;
    r->status = 302;
    api_set_header(r, "Location", "/ui/");
    api_set_header(r, "Cache-Control", "no-store");
    return API_ANSWER;
}

#define R(m, p, f, fl) {m, p, f, fl, &console_dialect, NULL, NULL}
const struct route console_routes[] = {
    R("GET", "/", h_root, ROUTE_NOLIMIT),
    R("GET", "/ui", h_ui_index, ROUTE_NOLIMIT),
    R("GET", "/ui/{file}", h_ui_file, ROUTE_NOLIMIT),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R

/* Errors under /ui are the native API's: the console is a client of /v1. */
static const char *const console_paths[] = {"/ui", NULL};

const struct dialect console_dialect = {
    .name = "console",
    .error = api_native_error,
    .paths = console_paths,
    .routes = console_routes,
};
