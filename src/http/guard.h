/* http/guard.h: checks the framing of chunked request bodies as their bytes arrive. */
#ifndef TAGD_HTTP_GUARD_H
#define TAGD_HTTP_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>

struct guard;

/**
 * Starts guarding an HTTP/1 connection that h2o_accept() just took. http/conns.c owns the
 * socket's callbacks and calls guard_before_read() before each of h2o's reads and
 * guard_after() after each of h2o's callbacks, so every byte the client sends passes
 * guard_feed() before h2o's parser sees it. A chunk size that is not 1*HEXDIG (h2o reads
 * "0xbe" as 0 with the extension "xbe", and what follows as the next request) is answered 400,
 * and a chunk that alone or with the chunks before it exceeds `max_body` is answered 413 as
 * soon as its size line arrives, instead of the connection being held until the idle timeout.
 * Either answer closes the connection. `ctx` is borrowed: the loop's context, which outlives
 * its connections. Loop thread only.
 */
struct guard *guard_new(h2o_context_t *ctx, int64_t max_body);
void guard_free(struct guard *g);
/** Before h2o's read callback, with the bytes just read in sock->input: feeds the new ones,
 *  and cuts the input where a chunk line is bad (nothing from there on reaches h2o). */
void guard_before_read(struct guard *g, h2o_socket_t *sock);
/** After any of h2o's callbacks on the socket, which is still open: answers the refused
 *  request once h2o has reached it, and notes how much input h2o left. */
void guard_after(struct guard *g, h2o_socket_t *sock);

/* ---- the parser, without h2o (for tests) ---- */

enum guard_state {
    GUARD_HEAD_START, /* before a request line; empty lines are skipped */
    GUARD_HEAD,       /* in a request head */
    GUARD_BODY,       /* in a body framed by Content-Length */
    GUARD_CHUNK_SIZE, /* in a chunk-size line: digits, then BWS, extensions, CRLF */
    GUARD_CHUNK_DATA, /* in a chunk's data */
    GUARD_CHUNK_END,  /* the CRLF after a chunk's data */
    GUARD_TRAILER,    /* trailer lines after the last chunk */
    GUARD_PASS,       /* stopped checking: h2o answers, or the connection is closing */
};

#define GUARD_MAX_CHUNK_LINE 4096

/* The state of one connection's byte stream. Invariant: `state` says what the next byte is;
 * the other fields belong to the state that uses them and are reset when it is entered. */
struct guard_parse {
    enum guard_state state;
    int64_t max_body;
    /* GUARD_HEAD */
    bool first_line, te;
    int64_t cl; /* -1: no Content-Length; -2: one h2o refuses */
    char line[64];
    size_t line_len; /* of the whole line, also beyond what `line` keeps */
    /* GUARD_CHUNK_* and GUARD_BODY */
    int phase;  /* in GUARD_CHUNK_SIZE: 0 digits, 1 BWS, 2 extension, 3 after CR */
    int ndigits;
    uint64_t size, left, body;
};

void guard_parse_init(struct guard_parse *p, int64_t max_body);

/**
 * Feeds `n` bytes that arrived. Returns 0 while the framing is sound, 400 for a malformed chunk
 * line or chunk end, 413 for a chunk beyond max_body; then *bad_at_out is the offset in `bytes`
 * from which nothing must reach h2o (the start of the offending line, or 0 when it began in an
 * earlier feed) and the parser is in GUARD_PASS.
 */
int guard_feed(struct guard_parse *p, const char *bytes, size_t n, size_t *bad_at_out);

#endif /* TAGD_HTTP_GUARD_H */
