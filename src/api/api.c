/* api/api.c: request and response helpers shared by every dialect. */
#include "api/api.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/json.h"
#include "util/timeu.h"

struct api_config api_config = {
    .max_body = 1 << 20,
    .max_json_depth = 32,
    .max_header_bytes = 16384,
    .rate_per_sec = 0,
    .rate_burst = 0,
    .min_rev_wait_ms = 2000,
    .changes_max_wait_s = 60,
    .events_heartbeat_ms = 15000,
    .events_stall_ms = 30000,
    .events_max_lag = 100000,
};

const char *api_header(struct hreq *r, const char *lname)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[i].name, lname) == 0)
            return r->headers[i].value;
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *api_url_decode(struct arena *a, const char *s, size_t n, bool plus_is_space)
{
    char *out = arena_alloc(a, n + 1), *o = out;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n)
                return NULL;
            h = hexval(s[i + 1]);
            l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return NULL;
            c = (char)(h * 16 + l);
            if (c == '\0')
                return NULL;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

void api_url_encode(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            sbuf_addc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sbuf_add(b, e, 3);
        }
    }
}

static void parse_query(struct hreq *r)
{
    const char *p = r->query;
    size_t cap = 8;

    r->qparsed = true;
    r->qv = arena_alloc(&r->a, cap * sizeof(*r->qv));
    r->nqv = 0;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        char *k, *v;
        if (len) {
            k = api_url_decode(&r->a, p, eq ? (size_t)(eq - p) : len, true);
            v = eq ? api_url_decode(&r->a, eq + 1, len - (size_t)(eq - p) - 1, true)
                   : arena_strdup(&r->a, "");
            if (k && v) {
                if (r->nqv == cap) {
                    struct kv *n = arena_alloc(&r->a, cap * 2 * sizeof(*n));
                    memcpy(n, r->qv, cap * sizeof(*n));
                    r->qv = n;
                    cap *= 2;
                }
                r->qv[r->nqv].name = k;
                r->qv[r->nqv].value = v;
                r->nqv++;
            }
        }
        if (!amp)
            break;
        p = amp + 1;
    }
}

const char *api_query(struct hreq *r, const char *name)
{
    if (!r->qparsed)
        parse_query(r);
    for (size_t i = 0; i < r->nqv; i++)
        if (strcmp(r->qv[i].name, name) == 0)
            return r->qv[i].value;
    return NULL;
}

bool api_query_has(struct hreq *r, const char *name)
{
    return api_query(r, name) != NULL;
}

size_t api_query_all(struct hreq *r, const char *name, const char ***out)
{
    size_t n = 0;
    if (!r->qparsed)
        parse_query(r);
    *out = arena_alloc(&r->a, (r->nqv + 1) * sizeof(char *));
    for (size_t i = 0; i < r->nqv; i++)
        if (strcmp(r->qv[i].name, name) == 0)
            (*out)[n++] = r->qv[i].value;
    return n;
}

const char *api_cookie(struct hreq *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *p;
        if (strcmp(r->headers[i].name, "cookie") != 0)
            continue;
        p = r->headers[i].value;
        while (*p) {
            const char *semi = strchr(p, ';');
            size_t len = semi ? (size_t)(semi - p) : strlen(p);
            while (len && *p == ' ') {
                p++;
                len--;
            }
            if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
                return arena_strndup(&r->a, p + nl + 1, len - nl - 1);
            if (!semi)
                break;
            p = semi + 1;
        }
    }
    return NULL;
}

const char *api_form_value(struct hreq *r, const char *name)
{
    const char *p = r->body, *end = r->body + r->body_len;
    size_t nl = strlen(name);

    if (r->body == NULL || r->body_len > api_config.max_body)
        return NULL;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq) {
            char *k = api_url_decode(&r->a, p, (size_t)(eq - p), true);
            if (k && strlen(k) == nl && strcmp(k, name) == 0)
                return api_url_decode(&r->a, eq + 1, (size_t)(stop - eq - 1), true);
        }
        p = stop + 1;
    }
    return NULL;
}

const char *api_bearer(struct hreq *r)
{
    const char *h = api_header(r, "authorization");
    if (h == NULL)
        return NULL;
    if (strncasecmp(h, "bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

void api_set_header(struct hreq *r, const char *name, const char *value)
{
    for (int i = 0; i < r->nres_headers; i++) {
        if (strcasecmp(r->res_headers[i].name, name) == 0) {
            r->res_headers[i].value = arena_strdup(&r->a, value);
            return;
        }
    }
    if (r->nres_headers < API_MAX_RES_HEADERS) {
        r->res_headers[r->nres_headers].name = arena_strdup(&r->a, name);
        r->res_headers[r->nres_headers].value = arena_strdup(&r->a, value);
        r->nres_headers++;
    }
}

void api_json_begin(struct hreq *r, int status, struct jw *w)
{
    sbuf_reset(&r->out);
    /* One allocation for a typical answer instead of doubling from 256 bytes. */
    sbuf_reserve(&r->out, 8192);
    r->status = status;
    r->content_type = "application/json; charset=utf-8";
    jw_init(w, &r->out);
}

void api_no_content(struct hreq *r)
{
    sbuf_reset(&r->out);
    r->status = 204;
    r->content_type = NULL;
}

void api_reset_answer(struct hreq *r)
{
    sbuf_reset(&r->out);
    r->status = 0;
    r->content_type = NULL;
    r->nres_headers = 0;
    r->revision = 0;
}

enum api_result api_not_yet(struct hreq *r, int64_t rev)
{
    api_set_header(r, "Retry-After", "1");
    api_failf(r, TG_EBUSY, "X-Tagd-Min-Revision", "revision %lld is not available yet",
              (long long)rev);
    return API_NOT_YET;
}

enum api_result api_wait(struct hreq *r, int64_t rev, int64_t ms)
{
    assert(rev > 0 && ms > 0 && !r->wait_over);
    api_reset_answer(r);
    r->wait_rev = rev;
    r->wait_ms = ms;
    return API_WAIT;
}

enum api_result api_stream(struct hreq *r, api_stream_fill fill, void *arg)
{
    api_reset_answer(r);
    r->status = 200;
    r->content_type = "text/event-stream";
    api_set_header(r, "Cache-Control", "no-cache");
    /* nginx buffers a response unless told not to; a stream must pass at once. */
    api_set_header(r, "X-Accel-Buffering", "no");
    r->stream_fill = fill;
    r->stream_arg = arg;
    return API_ANSWER;
}

enum api_result api_stream_raw(struct hreq *r, const char *content_type, api_stream_fill fill,
                               void *arg)
{
    api_stream(r, fill, arg);
    r->content_type = content_type;
    r->stream_raw = true;
    return API_ANSWER;
}

enum api_result api_render_later(struct hreq *r, int status,
                                 void (*fn)(struct hreq *r, void *arg), void *arg)
{
    assert(status >= 200 && status < 300 && fn != NULL);
    sbuf_reset(&r->out);
    r->status = status;
    r->render = fn;
    r->render_arg = arg;
    return API_RENDER_LATER;
}

int api_code(int code, const struct tg_err *err)
{
    /* core answers TG_EINTERNAL when it could not get or run a statement; when the store said
     * it was unreachable or busy, that is what the client hears (a 503 it may retry). */
    if (code == TG_EINTERNAL && err && err->code == TG_EBUSY)
        return TG_EBUSY;
    return code;
}

enum api_result api_fail(struct hreq *r, int code, const struct tg_err *err)
{
    const struct dialect *d = r->d ? r->d : &native_dialect;
    struct tg_err def;

    if (err == NULL || err->code == 0) {
        tg_err_clear(&def);
        tg_err_set(&def, code, "", "%s", tg_code_slug(code));
        err = &def;
    }
    d->error(r, api_code(code, err), err);
    /* Every error rolls back; a dialect that rendered a success for one is a bug. */
    assert(r->status >= 300);
    return API_ROLLBACK;
}

enum api_result api_failf(struct hreq *r, int code, const char *field, const char *fmt, ...)
{
    struct tg_err err;
    va_list ap;

    tg_err_clear(&err);
    err.code = code;
    snprintf(err.field, sizeof(err.field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
    va_end(ap);
    return api_fail(r, code, &err);
}

void api_native_error(struct hreq *r, int code, const struct tg_err *err)
{
    struct jw w;

    api_json_begin(r, tg_code_status(code), &w);
    if (code == TG_EAUTH)
        api_set_header(r, "WWW-Authenticate", "Bearer realm=\"tagd\"");
    jw_obj(&w);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_kstr(&w, "code", tg_code_slug(code));
    jw_kstr(&w, "message", code == TG_EINTERNAL ? "internal error" : err->msg);
    jw_key(&w, "details");
    jw_obj(&w);
    if (err->field[0])
        jw_kstr(&w, "field", err->field);
    jw_obj_end(&w);
    jw_kstr(&w, "request_id", r->request_id);
    jw_obj_end(&w);
    jw_obj_end(&w);
}

json_t *api_body_json(struct hreq *r)
{
    struct tg_err err;
    const char *ct = api_header(r, "content-type");
    json_t *v;

    tg_err_clear(&err);
    if (ct && strncasecmp(ct, "application/json", 16) != 0 && strstr(ct, "json") == NULL) {
        api_failf(r, TG_EMEDIA, "content-type", "content type must be application/json");
        return NULL;
    }
    if (r->body_len > api_config.max_body) {
        api_failf(r, TG_ELIMIT, "body", "body is larger than %zu bytes", api_config.max_body);
        return NULL;
    }
    v = json_parse(r->body ? r->body : "", r->body_len, api_config.max_json_depth, &err);
    if (v == NULL)
        api_fail(r, TG_EINVAL, &err);
    return v;
}

int api_query_int(struct hreq *r, const char *name, int64_t def, int64_t min, int64_t max,
                  int64_t *out)
{
    const char *v = api_query(r, name);
    char *end;
    long long n;

    if (v == NULL || *v == '\0') {
        *out = def;
        return 0;
    }
    n = strtoll(v, &end, 10);
    if (*end != '\0' || !(isdigit((unsigned char)*v) || *v == '-') || n < min || n > max) {
        api_failf(r, TG_EINVAL, name, "'%s' must be an integer from %lld to %lld", name,
                  (long long)min, (long long)max);
        return -1;
    }
    *out = n;
    return 0;
}

int api_query_bool(struct hreq *r, const char *name, bool def, bool *out)
{
    const char *v = api_query(r, name);
    if (v == NULL || *v == '\0') {
        *out = def;
        return 0;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return 0;
    }
    api_failf(r, TG_EINVAL, name, "'%s' must be true or false", name);
    return -1;
}

void api_time_or_null(struct jw *w, int64_t ms)
{
    if (ms)
        jw_time(w, ms);
    else
        jw_null(w);
}

const char *api_iso(struct hreq *r, int64_t ms)
{
    char buf[32];
    time_iso(ms, buf);
    return arena_strdup(&r->a, buf);
}
