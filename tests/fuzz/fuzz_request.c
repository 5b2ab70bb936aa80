/* tests/fuzz/fuzz_request.c: libFuzzer target for the whole request path below h2o: router
 * matching and percent-decoding, query-string parsing, header handling, and every route's
 * body decoding and validation, on a real (temporary) SQLite store.
 *
 * Input format: "METHOD PATH[?QUERY]\n", then header lines "name: value\n", a blank line, and
 * the body. An admin Authorization header is added unless the input brings its own. Each input
 * runs inside a savepoint that is rolled back, so inputs do not depend on each other. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/core.h"
#include "http/router.h"
#include "util/mem.h"
#include "util/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct store_conn *conn;

/* /metrics reads the write pipeline's stats (txn/), which this harness leaves out. */
enum api_result api_metrics_render(struct hreq *r, struct core_ctx *cx)
{
    (void)cx;
    r->status = 200;
    return API_ANSWER;
}

static void setup(void)
{
    char dir[] = "/tmp/tagd-fuzz-XXXXXX", url[64], *gen = NULL;
    struct tg_err err;

    secret_init();
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(url, sizeof(url), "sqlite:%s/f.db", dir);
    if (store_open(url, NULL, &store, &err) != 0)
        abort();
    conn = store_conn_open(store, true, &err);
    if (conn == NULL || core_bootstrap(conn, "fuzz-token", "fuzz-password", &gen, &err) != 0)
        abort();
    xfree(gen);
    router_init();
}

static const char *line(struct arena *a, const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *e = nl ? nl : end;
    char *out = arena_strndup(a, *p, (size_t)(e - *p));
    *p = nl ? nl + 1 : end;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *first, *sp, *q;
    struct hreq *r;
    struct core_ctx cx;
    enum api_result res;
    struct tg_err err;
    struct kv hdrs[32];
    size_t nh = 0;
    bool has_auth = false;
    int index;

    if (store == NULL)
        setup();
    if (size > 65536 || memchr(data, '\0', size))
        return 0;
    r = xcalloc(1, sizeof(*r));
    arena_init(&r->a);
    sbuf_init(&r->out, 0);
    first = line(&r->a, &p, end);
    sp = strchr(first, ' ');
    if (sp == NULL)
        goto out;
    r->method = arena_strndup(&r->a, first, (size_t)(sp - first));
    q = strchr(sp + 1, '?');
    r->path = q ? arena_strndup(&r->a, sp + 1, (size_t)(q - sp - 1)) : sp + 1;
    r->query = q ? q + 1 : "";
    while (p < end && nh < 31) {
        const char *h = line(&r->a, &p, end), *colon;
        char *name;
        if (*h == '\0')
            break;
        colon = strchr(h, ':');
        if (colon == NULL)
            continue;
        name = arena_strndup(&r->a, h, (size_t)(colon - h));
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        hdrs[nh].name = name;
        hdrs[nh].value = colon[1] == ' ' ? colon + 2 : colon + 1;
        has_auth |= strcmp(name, "authorization") == 0;
        nh++;
    }
    if (!has_auth) {
        hdrs[nh].name = "authorization";
        hdrs[nh].value = "Bearer fuzz-token";
        nh++;
    }
    r->headers = hdrs;
    r->nheaders = nh;
    r->body = p;
    r->body_len = (size_t)(end - p);
    r->request_id = "fuzz";
    r->d = api_dialect_for_path(r->path);
    if (router_match(r, &index) != ROUTER_OK)
        goto out;
    r->d = r->route->d ? r->route->d : r->d;
    if (store_begin_write(conn, &err) != 0)
        abort();
    core_ctx_init(&cx, conn, &r->a, true);
    res = r->route->fn(r, &cx);
    store_rollback(conn);
    if (r->status < 100 || r->status > 599)
        abort(); /* every request must end with a real status */
    /* ... and a result that agrees with it: every error rolls back, no success does. */
    if ((res == API_ROLLBACK && r->status < 300) || (res == API_ANSWER && r->status >= 400) ||
        (res == API_RENDER_LATER && r->status >= 300))
        abort();
out:
    sbuf_release(&r->out);
    arena_release(&r->a);
    xfree(r);
    return 0;
}
