/* engine/query.c: lexer and recursive-descent parser of the tag query language.
 *
 * Grammar (docs/query.md):
 *   query    = or_expr END
 *   or_expr  = and_expr { "or" and_expr }
 *   and_expr = not_expr { "and" not_expr }
 *   not_expr = "not" not_expr | primary
 *   primary  = "(" or_expr ")" | name [".*"] | "has:" name | "kind:" word
 *   name     = bare word | '"' chars with \" and \\ escapes '"'
 * Keywords are case-insensitive. A bare word runs until whitespace, a parenthesis or a quote.
 * The lexer produces one token at a time; the parser never backtracks. */
#include "engine/query.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/name.h"
#include "util/sbuf.h"

enum tok_kind { T_END, T_LPAREN, T_RPAREN, T_AND, T_OR, T_NOT, T_NAME, T_SUBTREE, T_HAS, T_KIND };

struct tok {
    enum tok_kind kind;
    size_t off;       /* byte offset where the token starts */
    const char *text; /* names: unescaped, in the arena */
};

struct parser {
    struct arena *a;
    const char *s;
    size_t n, pos;
    struct tok t; /* the current (lookahead) token */
    int depth, terms;
    struct qerr *e;
    bool failed;
};

int query_column(const char *src, size_t off)
{
    int col = 1;
    for (size_t i = 0; i < off; i++)
        if (((unsigned char)src[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static void fail_at(struct parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(struct parser *p, size_t off, const char *fmt, ...)
{
    va_list ap;
    if (p->failed)
        return;
    p->failed = true;
    p->e->col = query_column(p->s, off > p->n ? p->n : off);
    va_start(ap, fmt);
    vsnprintf(p->e->msg, sizeof(p->e->msg), fmt, ap);
    va_end(ap);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool ends_word(char c)
{
    return is_space(c) || c == '(' || c == ')' || c == '"';
}

/* Reads a quoted name starting at the opening quote; returns false after an error. */
static bool lex_quoted(struct parser *p, const char **out)
{
    size_t start = p->pos, i;
    char *buf = arena_alloc(p->a, p->n - start + 1);
    size_t len = 0;

    for (i = start + 1; i < p->n; i++) {
        char c = p->s[i];
        if (c == '"')
            break;
        if (c == '\\') {
            if (i + 1 < p->n && (p->s[i + 1] == '"' || p->s[i + 1] == '\\')) {
                buf[len++] = p->s[++i];
                continue;
            }
            fail_at(p, i, "a backslash in a quoted name must be followed by '\"' or '\\'");
            return false;
        }
        if (c == '\0') {
            fail_at(p, i, "unexpected NUL byte");
            return false;
        }
        buf[len++] = c;
    }
    if (i >= p->n) {
        fail_at(p, start, "unterminated quoted name: missing closing '\"'");
        return false;
    }
    if (len == 0) {
        fail_at(p, start, "empty quoted name");
        return false;
    }
    buf[len] = '\0';
    *out = buf;
    p->pos = i + 1;
    return true;
}

static bool word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(w, kw, n) == 0;
}

/* Moves to the next token. */
static void next(struct parser *p)
{
    size_t start, end, i;
    const char *w;

    while (p->pos < p->n && is_space(p->s[p->pos]))
        p->pos++;
    p->t.off = p->pos;
    p->t.text = NULL;
    if (p->pos >= p->n) {
        p->t.kind = T_END;
        return;
    }
    switch (p->s[p->pos]) {
    case '(':
        p->t.kind = T_LPAREN;
        p->pos++;
        return;
    case ')':
        p->t.kind = T_RPAREN;
        p->pos++;
        return;
    case '"':
        p->t.kind = T_NAME;
        if (!lex_quoted(p, &p->t.text))
            return;
        /* "Some name".* */
        if (p->pos + 1 < p->n && p->s[p->pos] == '.' && p->s[p->pos + 1] == '*') {
            p->t.kind = T_SUBTREE;
            p->pos += 2;
        }
        if (p->pos < p->n && !ends_word(p->s[p->pos]))
            fail_at(p, p->pos, "expected a space or ')' after a quoted name");
        else if (p->pos < p->n && p->s[p->pos] == '"')
            fail_at(p, p->pos, "expected a space between two quoted names");
        return;
    default:
        break;
    }
    start = p->pos;
    for (end = start; end < p->n && !ends_word(p->s[end]); end++) {
        unsigned char c = (unsigned char)p->s[end];
        if (c < 0x20 || c == 0x7f) {
            fail_at(p, end, "unexpected control character");
            return;
        }
    }
    w = p->s + start;
    p->pos = end;
    if (word_is(w, end - start, "and")) {
        p->t.kind = T_AND;
        return;
    }
    if (word_is(w, end - start, "or")) {
        p->t.kind = T_OR;
        return;
    }
    if (word_is(w, end - start, "not")) {
        p->t.kind = T_NOT;
        return;
    }
    if ((end - start >= 4 && strncasecmp(w, "has:", 4) == 0) ||
        (end - start >= 5 && strncasecmp(w, "kind:", 5) == 0)) {
        bool has = (w[0] | 0x20) == 'h';
        size_t skip = has ? 4 : 5;
        p->t.kind = has ? T_HAS : T_KIND;
        if (end - start == skip) {
            /* has:"Some name" */
            if (end < p->n && p->s[end] == '"') {
                if (!lex_quoted(p, &p->t.text))
                    return;
                if (p->pos < p->n && !ends_word(p->s[p->pos]))
                    fail_at(p, p->pos, "expected a space or ')' after a quoted name");
                return;
            }
            fail_at(p, end, "'%s' needs a %s right after the colon", has ? "has:" : "kind:",
                    has ? "tag name" : "resource kind");
            return;
        }
        start += skip;
        w += skip;
    } else {
        p->t.kind = T_NAME;
    }
    for (i = start; i < end; i++) {
        if (p->s[i] != '*')
            continue;
        if (p->t.kind == T_NAME && i == end - 1 && i >= start + 1 && p->s[i - 1] == '.') {
            p->t.kind = T_SUBTREE;
            end -= 2;
            break;
        }
        fail_at(p, i, "'*' is only allowed at the end, as 'Name.*'");
        return;
    }
    if (end == start) {
        fail_at(p, start, "'.*' needs a tag name before it");
        return;
    }
    p->t.text = arena_strndup(p->a, w, end - start);
}

static const char *describe(struct parser *p, const struct tok *t)
{
    size_t len;
    switch (t->kind) {
    case T_END: return "the end of the query";
    case T_LPAREN: return "'('";
    case T_RPAREN: return "')'";
    case T_AND: return "'and'";
    case T_OR: return "'or'";
    case T_NOT: return "'not'";
    default: break;
    }
    len = p->pos - t->off;
    if (len > 40)
        return arena_printf(p->a, "'%.40s...'", p->s + t->off);
    return arena_printf(p->a, "'%.*s'", (int)len, p->s + t->off);
}

static struct qnode *node(struct parser *p, enum qnode_kind k, size_t off)
{
    struct qnode *q = arena_zalloc(p->a, sizeof(*q));
    q->kind = k;
    q->col = query_column(p->s, off);
    return q;
}

static struct qnode *or_expr(struct parser *p);

static struct qnode *primary(struct parser *p)
{
    struct qnode *q;
    struct tok t = p->t;

    if (p->failed)
        return NULL;
    switch (t.kind) {
    case T_LPAREN:
        if (++p->depth > QUERY_MAX_DEPTH) {
            fail_at(p, t.off, "the query nests deeper than %d levels", QUERY_MAX_DEPTH);
            return NULL;
        }
        next(p);
        q = or_expr(p);
        if (p->failed)
            return NULL;
        if (p->t.kind != T_RPAREN) {
            fail_at(p, p->t.off, "expected ')' to close the '(' at column %d, found %s",
                    query_column(p->s, t.off), describe(p, &p->t));
            return NULL;
        }
        p->depth--;
        next(p);
        return q;
    case T_NAME:
    case T_SUBTREE:
    case T_HAS:
    case T_KIND:
        if (++p->terms > QUERY_MAX_TERMS) {
            fail_at(p, t.off, "the query has more than %d terms", QUERY_MAX_TERMS);
            return NULL;
        }
        q = node(p, t.kind == T_NAME      ? QN_TAG
                    : t.kind == T_SUBTREE ? QN_SUBTREE
                    : t.kind == T_HAS     ? QN_HAS
                                          : QN_KIND,
                 t.off);
        q->name = t.text;
        next(p);
        return q;
    default:
        fail_at(p, t.off, "expected a tag name, 'not' or '(', found %s", describe(p, &t));
        return NULL;
    }
}

static struct qnode *not_expr(struct parser *p)
{
    struct qnode *q;
    size_t off = p->t.off;

    if (p->failed)
        return NULL;
    if (p->t.kind != T_NOT)
        return primary(p);
    if (++p->depth > QUERY_MAX_DEPTH) {
        fail_at(p, off, "the query nests deeper than %d levels", QUERY_MAX_DEPTH);
        return NULL;
    }
    next(p);
    q = node(p, QN_NOT, off);
    q->a = not_expr(p);
    p->depth--;
    return p->failed ? NULL : q;
}

static struct qnode *binary(struct parser *p, enum tok_kind op, struct qnode *(*sub)(struct parser *))
{
    struct qnode *l = sub(p);

    while (!p->failed && p->t.kind == op) {
        struct qnode *q = node(p, op == T_AND ? QN_AND : QN_OR, p->t.off);
        next(p);
        q->a = l;
        q->b = sub(p);
        l = q;
    }
    return p->failed ? NULL : l;
}

static struct qnode *and_expr(struct parser *p)
{
    return binary(p, T_AND, not_expr);
}

static struct qnode *or_expr(struct parser *p)
{
    return binary(p, T_OR, and_expr);
}

int query_parse(struct arena *a, const char *src, size_t n, struct qnode **out, struct qerr *e)
{
    struct parser p;
    struct qnode *q;

    memset(&p, 0, sizeof(p));
    memset(e, 0, sizeof(*e));
    p.a = a;
    p.s = src ? src : "";
    p.n = src ? n : 0;
    p.e = e;
    *out = NULL;
    if (p.n > QUERY_MAX_BYTES) {
        e->col = query_column(p.s, QUERY_MAX_BYTES);
        snprintf(e->msg, sizeof(e->msg), "the query is longer than %d bytes", QUERY_MAX_BYTES);
        return -1;
    }
    next(&p);
    if (!p.failed && p.t.kind == T_END) {
        fail_at(&p, p.t.off, "the query is empty");
        return -1;
    }
    q = or_expr(&p);
    if (!p.failed && p.t.kind != T_END)
        fail_at(&p, p.t.off, "expected 'and', 'or' or the end of the query, found %s",
                describe(&p, &p.t));
    if (p.failed)
        return -1;
    *out = q;
    return 0;
}

void query_normalize(struct arena *a, struct qnode *q)
{
    struct tg_err err;
    char *nfc, *key;

    if (q->a)
        query_normalize(a, q->a);
    if (q->b)
        query_normalize(a, q->b);
    if (q->kind != QN_TAG && q->kind != QN_SUBTREE && q->kind != QN_HAS)
        return;
    tg_err_clear(&err);
    if (name_normalize(a, q->name, strlen(q->name), true, "query", &nfc, &key, &err) == 0) {
        q->nfc = nfc;
        q->key = key;
    }
}

static void sexpr(struct sbuf *b, const struct qnode *q)
{
    static const char *const names[] = {"tag", "subtree", "has", "kind", "and", "or", "not"};
    sbuf_printf(b, "(%s", names[q->kind]);
    if (q->name)
        sbuf_printf(b, " %s", q->name);
    if (q->a) {
        sbuf_addc(b, ' ');
        sexpr(b, q->a);
    }
    if (q->b) {
        sbuf_addc(b, ' ');
        sexpr(b, q->b);
    }
    sbuf_addc(b, ')');
}

const char *query_sexpr(struct arena *a, const struct qnode *q)
{
    struct sbuf b;
    const char *out;

    sbuf_init(&b, 0);
    if (q)
        sexpr(&b, q);
    out = arena_strndup(a, b.len ? sbuf_str(&b) : "", b.len);
    sbuf_release(&b);
    return out;
}
