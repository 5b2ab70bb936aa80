/* http/guard.c: checks the framing of chunked request bodies before h2o's parser reads them.
 *
 * h2o 2.2.5 decodes a chunked body with picohttpparser, which reads a chunk size as the longest
 * run of hex digits and everything after it up to the line end as an extension: "0xbe" is the
 * last chunk (size 0, extension "xbe"), and the chunk's bytes become the next request on the
 * connection, which a proxy in front that reads 0xbe as 190 never sees (request smuggling). A
 * size of 7fffffffffffffff is waited for until the idle timeout, holding the connection. h2o
 * decodes in place, in the socket's input buffer, before tagd's request handler runs, so the
 * raw chunk lines are gone by then: the check has to see the bytes as they arrive.
 *
 * http/conns.c, which owns each connection's socket callbacks, calls guard_before_read() before
 * every read reaches h2o and guard_after() after each of h2o's callbacks (conns.c explains how
 * its wrappers stay in front of the callbacks h2o installs again).
 * A small state machine (guard_feed) follows the connection's byte stream: request heads (for
 * Content-Length and Transfer-Encoding), bodies, chunk lines and trailers. What the request head
 * itself may not hold (obs-fold, two Host headers, an unknown HTTP version) is checked on the
 * complete head in server.c.
 *
 * When a chunk line is bad, the bytes from that line on never reach h2o: the input is cut
 * there, h2o reads what came before (requests pipelined before it, the head and the good
 * chunks), and once h2o has answered the requests before it and waits for the rest of the
 * offending body, the guard answers on h2o's request as h2o's own entity reader does for a body
 * that is too large (h2o_send_error with the connection closed after it).
 *
 * Per connection state lives in `struct guard`, which conns.c frees with the connection. */
#include "http/guard.h"

#include <h2o/http1.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"

struct guard {
    struct guard_parse parse;
    h2o_context_t *ctx;
    size_t seen;   /* sock->input's bytes already fed; only reads append to it */
    int refused;   /* 400 or 413 once a chunk line was bad: nothing more is read */
    bool answered; /* the refusal was sent (or h2o answers itself) */
};

/* ---- the parser ---- */

void guard_parse_init(struct guard_parse *p, int64_t max_body)
{
    memset(p, 0, sizeof(*p));
    p->state = GUARD_HEAD_START;
    p->max_body = max_body;
    p->cl = -1;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One header line of a request head (without its CR LF; `line` may be cut at sizeof). */
static void head_line(struct guard_parse *p)
{
    size_t n = p->line_len < sizeof(p->line) ? p->line_len : sizeof(p->line);
    const char *colon = memchr(p->line, ':', n), *v, *end = p->line + n;

    if (colon == NULL || p->line[0] == ' ' || p->line[0] == '\t')
        return; /* h2o refuses it, or server.c does (obs-fold) */
    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++) {
    }
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (colon - p->line == 17 && strncasecmp(p->line, "transfer-encoding", 17) == 0) {
        /* h2o takes a chunked body for it, and refuses any other coding itself. */
        p->te = true;
        if (!(end - v == 7 && strncasecmp(v, "chunked", 7) == 0))
            p->cl = -2;
    } else if (colon - p->line == 14 && strncasecmp(p->line, "content-length", 14) == 0 &&
               p->cl == -1) {
        /* h2o keeps the first one (server.c refuses a different second one). */
        int64_t cl = 0;
        if (p->line_len > sizeof(p->line) || v == end)
            cl = -2;
        for (; v < end && cl >= 0; v++)
            cl = *v >= '0' && *v <= '9' && cl < INT64_MAX / 10 - 9 ? cl * 10 + (*v - '0') : -2;
        p->cl = cl;
    }
}

/* The head ended: what comes next is its body. */
static void head_end(struct guard_parse *p)
{
    if (p->cl == -2) {
        p->state = GUARD_PASS; /* h2o answers 400 and closes */
    } else if (p->te) {
        p->state = GUARD_CHUNK_SIZE;
        p->phase = p->ndigits = 0;
        p->size = p->body = 0;
        p->line_len = 0;
    } else if (p->cl > 0) {
        p->state = GUARD_BODY;
        p->left = (uint64_t)p->cl;
    } else {
        p->state = GUARD_HEAD_START;
    }
}

int guard_feed(struct guard_parse *p, const char *bytes, size_t n, size_t *bad_at_out)
{
    size_t i = 0, mark = 0; /* mark: where the current chunk line began in `bytes` */
    int status = 0;

    while (i < n && status == 0) {
        char c = bytes[i];
        switch (p->state) {
        case GUARD_PASS:
            return 0;
        case GUARD_HEAD_START:
            if (c != '\r' && c != '\n') {
                p->state = GUARD_HEAD;
                p->first_line = true;
                p->te = false;
                p->cl = -1;
                p->line_len = 0;
                continue; /* the byte is the head's first */
            }
            break;
        case GUARD_HEAD:
            if (c != '\n') {
                if (p->line_len < sizeof(p->line))
                    p->line[p->line_len] = c;
                p->line_len++;
                break;
            }
            if (p->line_len > 0 && p->line_len <= sizeof(p->line) &&
                p->line[p->line_len - 1] == '\r')
                p->line_len--;
            if (p->first_line)
                p->first_line = false;
            else if (p->line_len == 0)
                head_end(p);
            else
                head_line(p);
            p->line_len = 0;
            if (p->state == GUARD_CHUNK_SIZE)
                mark = i + 1;
            break;
        case GUARD_BODY: {
            size_t take = n - i < p->left ? n - i : (size_t)p->left;
            p->left -= take;
            i += take;
            if (p->left == 0)
                p->state = GUARD_HEAD_START;
            continue;
        }
        case GUARD_CHUNK_SIZE:
            if (++p->line_len > GUARD_MAX_CHUNK_LINE) {
                status = 400;
                break;
            }
            if (p->phase == 0 && hex(c) >= 0) {
                p->ndigits++;
                p->size = p->size * 16 + (uint64_t)hex(c);
                /* Refused as soon as it is too large: nothing is waited for. */
                if (p->size > (uint64_t)p->max_body || p->body + p->size > (uint64_t)p->max_body)
                    status = 413;
                break;
            }
            if (p->phase == 0 && p->ndigits == 0) {
                status = 400; /* "x", " ", "+", "-", ";" or the line end before any digit */
                break;
            }
            if ((p->phase == 3 && c != '\n') ||
                (p->phase == 1 && c != ' ' && c != '\t' && c != ';')) {
                status = 400; /* a bare CR, or BWS that no ';' follows */
                break;
            }
            if (c == '\n') {
                if (p->size == 0) {
                    p->state = GUARD_TRAILER;
                    p->line_len = 0;
                } else {
                    p->body += p->size;
                    p->left = p->size;
                    p->state = GUARD_CHUNK_DATA;
                }
                break;
            }
            if (c == '\r')
                p->phase = 3;
            else if (p->phase == 2)
                ; /* inside an extension, anything up to the line end */
            else if (c == ';')
                p->phase = 2;
            else if (c == ' ' || c == '\t')
                p->phase = 1; /* BWS: only before a ';' */
            else
                status = 400; /* "0xbe": a digit run followed by anything else */
            break;
        case GUARD_CHUNK_DATA: {
            size_t take = n - i < p->left ? n - i : (size_t)p->left;
            p->left -= take;
            i += take;
            if (p->left == 0) {
                p->state = GUARD_CHUNK_END;
                mark = i;
            }
            continue;
        }
        case GUARD_CHUNK_END:
            /* h2o accepts CRs before the LF; anything else is a chunk longer than it said. */
            if (c == '\n') {
                p->state = GUARD_CHUNK_SIZE;
                p->phase = p->ndigits = 0;
                p->size = 0;
                p->line_len = 0;
                mark = i + 1;
            } else if (c != '\r') {
                status = 400;
            }
            break;
        case GUARD_TRAILER:
            if (c == '\n') {
                if (p->line_len == 0)
                    p->state = GUARD_HEAD_START;
                p->line_len = 0;
            } else if (c != '\r') {
                p->line_len++;
            }
            break;
        }
        if (status == 0)
            i++;
    }
    if (status) {
        p->state = GUARD_PASS;
        *bad_at_out = mark;
    }
    return status;
}

/* ---- the h2o glue (driven by http/conns.c) ---- */

struct find {
    h2o_socket_t *sock;
    h2o_req_t *req;
};

static int find_req(h2o_req_t *req, void *data)
{
    struct find *f = data;
    if (req->conn->callbacks->get_socket && req->conn->callbacks->get_socket(req->conn) == f->sock) {
        f->req = req;
        return 1;
    }
    return 0;
}

/* Answers g->refused on the offending request and closes the connection after it. Requests
 * before it on the connection (pipelined) are answered first: h2o reaches the offending one
 * only after their answers were written, and then waits for the rest of its body, which never
 * comes. So this runs after every callback until that state is seen: the connection's
 * request has its head parsed, was not handed to a handler yet, and has no answer; and no
 * write is in progress (h2o's "100 Continue"). */
static void refuse(struct guard *g, h2o_socket_t *sock)
{
    struct find f = {sock, NULL};
    int status = g->refused;

    if (g->answered || h2o_socket_is_writing(sock))
        return;
    H2O_HTTP1_CALLBACKS.foreach_request(g->ctx, find_req, &f);
    if (f.req == NULL || f.req->version == 0 || f.req->processed_at.at.tv_sec != 0 ||
        f.req->res.status != 0)
        return;
    g->answered = true;
    if (sock->_cb.read != NULL)
        h2o_socket_read_stop(sock);
    f.req->http1_is_persistent = 0;
    if (status == 413)
        h2o_send_error_generic(f.req, 413, "Payload Too Large",
                               "a chunk of the request body is larger than --max-body",
                               H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION);
    else
        h2o_send_error_generic(f.req, 400, "Bad Request", "malformed chunk in the request body",
                               H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION);
}

struct guard *guard_new(h2o_context_t *ctx, int64_t max_body)
{
    struct guard *g = xcalloc(1, sizeof(*g));
    guard_parse_init(&g->parse, max_body);
    g->ctx = ctx;
    return g;
}

void guard_free(struct guard *g)
{
    xfree(g);
}

void guard_before_read(struct guard *g, h2o_socket_t *sock)
{
    size_t bad_at = 0;
    int status;

    if (g->refused) {
        sock->input->size = g->seen < sock->input->size ? g->seen : sock->input->size;
    } else if (g->parse.state != GUARD_PASS) {
        if (sock->input->size < g->seen) {
            g->parse.state = GUARD_PASS; /* out of step with h2o: stop rather than misjudge */
        } else {
            status = guard_feed(&g->parse, sock->input->bytes + g->seen,
                                sock->input->size - g->seen, &bad_at);
            if (status) {
                sock->input->size = g->seen + bad_at;
                g->refused = status;
            }
        }
    }
}

void guard_after(struct guard *g, h2o_socket_t *sock)
{
    if (g->refused)
        refuse(g, sock);
    g->seen = sock->input->size;
}
