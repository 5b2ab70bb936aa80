/* util/turtle.c: the strict Turtle subset of util/turtle.h, a recursive-descent reader over
 * the bytes, one statement at a time. Prefixes live in a small list in the arena (vocabularies
 * declare a handful); every string the callback sees is copied into the arena. */
#include "util/turtle.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/sbuf.h"

#define TTL_MAX_PREFIXES 256
#define TTL_MAX_TERM (1u << 20) /* the longest IRI or literal taken */

struct ttl_prefix {
    const char *name; /* without the ':' ("" for the empty prefix) */
    const char *iri;
};

struct ttl {
    struct arena *a;
    const char *p, *end;
    const char *line_start;
    int line;
    const char *base;
    struct ttl_prefix prefixes[TTL_MAX_PREFIXES];
    int nprefixes;
    ttl_triple_fn fn;
    void *arg;
    struct tg_err *err;
};

static int fail(struct ttl *t, const char *fmt, const char *what)
{
    int col = (int)(t->p - t->line_start) + 1;

    return tg_err_set(t->err, TG_EINVAL, "body", "Turtle, line %d, column %d: %s%s", t->line,
                      col, fmt, what ? what : "");
}

static bool at_end(const struct ttl *t)
{
    return t->p >= t->end;
}

static int peek(const struct ttl *t)
{
    return at_end(t) ? -1 : (unsigned char)*t->p;
}

static void newline(struct ttl *t)
{
    t->line++;
    t->line_start = t->p;
}

static void skip_ws(struct ttl *t)
{
    while (!at_end(t)) {
        char c = *t->p;
        if (c == '\n') {
            t->p++;
            newline(t);
        } else if (c == ' ' || c == '\t' || c == '\r') {
            t->p++;
        } else if (c == '#') {
            while (!at_end(t) && *t->p != '\n')
                t->p++;
        } else {
            break;
        }
    }
}

static bool is_pn_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c >= 0x80;
}

/* Appends code point `cp` as UTF-8. */
static int put_utf8(struct ttl *t, struct sbuf *b, uint32_t cp)
{
    char u[4];
    size_t n;

    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return fail(t, "escape names no allowed character", NULL);
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sbuf_add(b, u, n);
    return 0;
}

/* \uXXXX or \UXXXXXXXX, t->p on the 'u' or 'U'. */
static int unicode_escape(struct ttl *t, struct sbuf *b)
{
    int digits = *t->p == 'u' ? 4 : 8;
    uint32_t cp = 0;

    t->p++;
    for (int i = 0; i < digits; i++) {
        int c = peek(t), v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return fail(t, "expected a hex digit of a \\u escape", NULL);
        cp = cp * 16 + (uint32_t)v;
        t->p++;
    }
    return put_utf8(t, b, cp);
}

/* True when `s` (n bytes) is UTF-8 without NUL and without overlong forms or surrogates. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        uint32_t cp;
        int k;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + (size_t)k >= n)
            return false;
        for (int j = 1; j <= k; j++) {
            if ((s[i + (size_t)j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + (size_t)j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += (size_t)k + 1;
    }
    return true;
}

/* Copies a finished buffer into the arena; refuses what is not UTF-8 or holds NUL. */
static int take(struct ttl *t, struct sbuf *b, const char **out)
{
    if (b->overflow) {
        sbuf_release(b);
        return fail(t, "term longer than 1 MiB", NULL);
    }
    if (!valid_utf8((const unsigned char *)sbuf_str(b), b->len)) {
        sbuf_release(b);
        return fail(t, "term is not valid UTF-8", NULL);
    }
    *out = arena_strndup(t->a, sbuf_str(b), b->len);
    sbuf_release(b);
    return 0;
}

static bool has_scheme(const char *s)
{
    const char *c = strchr(s, ':');
    if (c == NULL || c == s)
        return false;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (const char *q = s; q < c; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '+' || *q == '-' || *q == '.'))
            return false;
    return true;
}

/* <...>, t->p on '<'. */
static int iri_ref(struct ttl *t, const char **out)
{
    struct sbuf b;
    const char *iri;
    int rc;

    sbuf_init(&b, TTL_MAX_TERM);
    t->p++;
    for (;;) {
        int c = peek(t);
        if (c < 0 || c == '\n')
            return sbuf_release(&b), fail(t, "unterminated IRI (expected '>')", NULL);
        if (c == '>') {
            t->p++;
            break;
        }
        if (c <= 0x20 || c == '<' || c == '"' || c == '{' || c == '}' || c == '|' || c == '^' ||
            c == '`')
            return sbuf_release(&b), fail(t, "character not allowed in an IRI", NULL);
        if (c == '\\') {
            t->p++;
            if (peek(t) != 'u' && peek(t) != 'U')
                return sbuf_release(&b), fail(t, "only \\u escapes are allowed in an IRI", NULL);
            rc = unicode_escape(t, &b);
            if (rc)
                return sbuf_release(&b), rc;
            continue;
        }
        sbuf_addc(&b, (char)c);
        t->p++;
    }
    rc = take(t, &b, &iri);
    if (rc)
        return rc;
    if (!has_scheme(iri)) {
        if (t->base == NULL)
            return fail(t, "relative IRI without a base: ", iri);
        iri = arena_printf(t->a, "%s%s", t->base, iri);
    }
    *out = iri;
    return 0;
}

/* prefix:local, t->p on its first character. */
static int pname(struct ttl *t, const char **out)
{
    const char *s = t->p, *colon;
    struct sbuf b;
    const char *local;
    int rc;

    /* The prefix: name characters up to the colon (is_pn_char excludes ':'). */
    while (!at_end(t) && is_pn_char((unsigned char)*t->p))
        t->p++;
    if (peek(t) != ':')
        return fail(t, "expected a prefixed name (prefix:local), an IRI or a literal", NULL);
    colon = t->p;
    t->p++;
    sbuf_init(&b, TTL_MAX_TERM);
    for (;;) {
        int c = peek(t);
        if (c == '\\') {
            t->p++;
            c = peek(t);
            if (c < 0 || strchr("_~.-!$&'()*+,;=/?#@%", c) == NULL)
                return sbuf_release(&b), fail(t, "bad escape in a local name", NULL);
            sbuf_addc(&b, (char)c);
            t->p++;
            continue;
        }
        if (c == '%') {
            /* Kept as written: percent escapes are part of the IRI. */
            if (t->p + 2 >= t->end)
                return sbuf_release(&b), fail(t, "bad percent escape in a local name", NULL);
            sbuf_add(&b, t->p, 3);
            t->p += 3;
            continue;
        }
        if (c == '.') {
            /* A dot ends the statement unless a name character follows. */
            if (t->p + 1 < t->end && (is_pn_char((unsigned char)t->p[1]) || t->p[1] == ':') &&
                t->p[1] != '.') {
                sbuf_addc(&b, '.');
                t->p++;
                continue;
            }
            break;
        }
        if (c < 0 || !(is_pn_char(c) || c == ':'))
            break;
        sbuf_addc(&b, (char)c);
        t->p++;
    }
    rc = take(t, &b, &local);
    if (rc)
        return rc;
    for (int i = 0; i < t->nprefixes; i++) {
        const struct ttl_prefix *pf = &t->prefixes[i];
        if (strlen(pf->name) == (size_t)(colon - s) && memcmp(pf->name, s, (size_t)(colon - s)) == 0) {
            *out = arena_printf(t->a, "%s%s", pf->iri, local);
            return 0;
        }
    }
    t->p = s;
    return fail(t, "undeclared prefix: ", arena_strndup(t->a, s, (size_t)(colon - s + 1)));
}

/* An IRI or a prefixed name. */
static int iri(struct ttl *t, const char **out)
{
    if (peek(t) == '<')
        return iri_ref(t, out);
    if (peek(t) == '_' && t->p + 1 < t->end && t->p[1] == ':')
        return fail(t, "blank nodes are not supported (name the node with an IRI)", NULL);
    return pname(t, out);
}

static int literal(struct ttl *t, struct ttl_term *o)
{
    char q = *t->p;
    bool lng = t->p + 2 < t->end && t->p[1] == q && t->p[2] == q;
    struct sbuf b;
    int rc;

    t->p += lng ? 3 : 1;
    sbuf_init(&b, TTL_MAX_TERM);
    for (;;) {
        int c = peek(t);
        if (c < 0)
            return sbuf_release(&b), fail(t, "unterminated string", NULL);
        if (!lng && (c == '\n' || c == '\r'))
            return sbuf_release(&b), fail(t, "newline in a string (use \"\"\" for long ones)", NULL);
        if (c == q) {
            if (!lng) {
                t->p++;
                break;
            }
            if (t->p + 2 < t->end && t->p[1] == q && t->p[2] == q) {
                /* """a"""" ends after the last three quotes. */
                while (t->p + 3 < t->end && t->p[3] == q) {
                    sbuf_addc(&b, q);
                    t->p++;
                }
                t->p += 3;
                break;
            }
        }
        if (c == '\\') {
            t->p++;
            c = peek(t);
            switch (c) {
            case 't': sbuf_addc(&b, '\t'); break;
            case 'b': sbuf_addc(&b, '\b'); break;
            case 'n': sbuf_addc(&b, '\n'); break;
            case 'r': sbuf_addc(&b, '\r'); break;
            case 'f': sbuf_addc(&b, '\f'); break;
            case '"': sbuf_addc(&b, '"'); break;
            case '\'': sbuf_addc(&b, '\''); break;
            case '\\': sbuf_addc(&b, '\\'); break;
            case 'u':
            case 'U':
                rc = unicode_escape(t, &b);
                if (rc)
                    return sbuf_release(&b), rc;
                continue;
            default:
                return sbuf_release(&b), fail(t, "unknown escape in a string", NULL);
            }
            t->p++;
            continue;
        }
        if (c == '\n') {
            sbuf_addc(&b, '\n');
            t->p++;
            newline(t);
            continue;
        }
        sbuf_addc(&b, (char)c);
        t->p++;
    }
    rc = take(t, &b, &o->value);
    if (rc)
        return rc;
    o->kind = TTL_LITERAL;
    o->lang = NULL;
    o->datatype = NULL;
    if (peek(t) == '@') {
        const char *s = ++t->p;
        while (!at_end(t) && ((*t->p >= 'a' && *t->p <= 'z') || (*t->p >= 'A' && *t->p <= 'Z') ||
                              (t->p > s && ((*t->p >= '0' && *t->p <= '9') || *t->p == '-'))))
            t->p++;
        if (t->p == s || t->p[-1] == '-')
            return fail(t, "bad language tag", NULL);
        o->lang = arena_strndup(t->a, s, (size_t)(t->p - s));
    } else if (peek(t) == '^') {
        if (t->p + 1 >= t->end || t->p[1] != '^')
            return fail(t, "expected '^^' before a datatype", NULL);
        t->p += 2;
        return iri(t, &o->datatype);
    }
    return 0;
}

static int number(struct ttl *t, struct ttl_term *o)
{
    const char *s = t->p;
    const char *type = TTL_XSD "integer";

    if (*t->p == '+' || *t->p == '-')
        t->p++;
    while (!at_end(t) && *t->p >= '0' && *t->p <= '9')
        t->p++;
    if (peek(t) == '.' && t->p + 1 < t->end && t->p[1] >= '0' && t->p[1] <= '9') {
        type = TTL_XSD "decimal";
        t->p++;
        while (!at_end(t) && *t->p >= '0' && *t->p <= '9')
            t->p++;
    }
    if (peek(t) == 'e' || peek(t) == 'E') {
        type = TTL_XSD "double";
        t->p++;
        if (peek(t) == '+' || peek(t) == '-')
            t->p++;
        if (!(peek(t) >= '0' && peek(t) <= '9'))
            return fail(t, "bad exponent", NULL);
        while (!at_end(t) && *t->p >= '0' && *t->p <= '9')
            t->p++;
    }
    if (t->p == s || (t->p == s + 1 && (*s == '+' || *s == '-')))
        return fail(t, "bad number", NULL);
    o->kind = TTL_LITERAL;
    o->value = arena_strndup(t->a, s, (size_t)(t->p - s));
    o->lang = NULL;
    o->datatype = type;
    return 0;
}

static bool word_is(const struct ttl *t, const char *w, bool icase)
{
    size_t n = strlen(w);
    if ((size_t)(t->end - t->p) < n)
        return false;
    if (icase ? strncasecmp(t->p, w, n) != 0 : strncmp(t->p, w, n) != 0)
        return false;
    return t->p + n == t->end || !(is_pn_char((unsigned char)t->p[n]) || t->p[n] == ':');
}

static int object(struct ttl *t, struct ttl_term *o)
{
    int c = peek(t);

    if (c == '"' || c == '\'')
        return literal(t, o);
    if ((c >= '0' && c <= '9') || c == '+' || c == '-' ||
        (c == '.' && t->p + 1 < t->end && t->p[1] >= '0' && t->p[1] <= '9'))
        return number(t, o);
    if (c == '[' || c == '(')
        return fail(t, "blank nodes and collections are not supported", NULL);
    if (word_is(t, "true", false) || word_is(t, "false", false)) {
        bool v = *t->p == 't';
        t->p += v ? 4 : 5;
        o->kind = TTL_LITERAL;
        o->value = v ? "true" : "false";
        o->lang = NULL;
        o->datatype = TTL_XSD "boolean";
        return 0;
    }
    o->kind = TTL_IRI;
    o->lang = o->datatype = NULL;
    return iri(t, &o->value);
}

/* @prefix p: <iri> .  |  PREFIX p: <iri>  (likewise base). */
static int directive(struct ttl *t, bool sparql)
{
    bool is_base;
    const char *name, *s, *value;
    int rc;

    is_base = word_is(t, sparql ? "BASE" : "@base", sparql);
    t->p += is_base ? (sparql ? 4 : 5) : (sparql ? 6 : 7);
    skip_ws(t);
    if (!is_base) {
        s = t->p;
        while (!at_end(t) && is_pn_char((unsigned char)*t->p))
            t->p++;
        if (peek(t) != ':')
            return fail(t, "expected 'name:' after @prefix", NULL);
        name = arena_strndup(t->a, s, (size_t)(t->p - s));
        t->p++;
        skip_ws(t);
    } else {
        name = NULL;
    }
    if (peek(t) != '<')
        return fail(t, "expected an IRI in <...>", NULL);
    rc = iri_ref(t, &value);
    if (rc)
        return rc;
    if (is_base) {
        t->base = value;
    } else {
        int i;
        for (i = 0; i < t->nprefixes; i++)
            if (strcmp(t->prefixes[i].name, name) == 0)
                break;
        if (i == TTL_MAX_PREFIXES)
            return fail(t, "too many prefixes", NULL);
        if (i == t->nprefixes)
            t->nprefixes++;
        t->prefixes[i].name = name;
        t->prefixes[i].iri = value;
    }
    skip_ws(t);
    if (!sparql) {
        if (peek(t) != '.')
            return fail(t, "expected '.' after the directive", NULL);
        t->p++;
    }
    return 0;
}

static int statement(struct ttl *t)
{
    struct ttl_term s = {.kind = TTL_IRI}, p = {.kind = TTL_IRI}, o;
    int rc;

    if (peek(t) == '[' || peek(t) == '(')
        return fail(t, "blank nodes and collections are not supported", NULL);
    rc = iri(t, &s.value);
    if (rc)
        return rc;
    for (;;) {
        skip_ws(t);
        if (word_is(t, "a", false)) {
            t->p++;
            p.value = TTL_RDF "type";
        } else {
            if (peek(t) == '.' || peek(t) < 0)
                return fail(t, "expected a predicate", NULL);
            rc = iri(t, &p.value);
            if (rc)
                return rc;
        }
        for (;;) {
            skip_ws(t);
            rc = object(t, &o);
            if (rc)
                return rc;
            rc = t->fn(t->arg, &s, &p, &o, t->line, t->err);
            if (rc)
                return rc;
            skip_ws(t);
            if (peek(t) != ',')
                break;
            t->p++;
        }
        if (peek(t) == '.') {
            t->p++;
            return 0;
        }
        if (peek(t) != ';')
            return fail(t, "expected ',', ';' or '.'", NULL);
        /* ';' may repeat, and may stand before the final '.'. */
        while (peek(t) == ';') {
            t->p++;
            skip_ws(t);
        }
        if (peek(t) == '.') {
            t->p++;
            return 0;
        }
    }
}

int ttl_parse(struct arena *a, const char *text, size_t n, ttl_triple_fn fn, void *arg,
              int *err_line, struct tg_err *err)
{
    struct ttl t;
    int rc;

    memset(&t, 0, sizeof(t));
    t.a = a;
    t.p = text;
    t.end = text + n;
    t.line_start = text;
    t.line = 1;
    t.fn = fn;
    t.arg = arg;
    t.err = err;
    if (n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        t.p += 3; /* a byte order mark, as some tools write */
    for (;;) {
        skip_ws(&t);
        if (at_end(&t))
            return 0;
        if (word_is(&t, "@prefix", false) || word_is(&t, "@base", false))
            rc = directive(&t, false);
        else if (word_is(&t, "PREFIX", true) || word_is(&t, "BASE", true))
            rc = directive(&t, true);
        else
            rc = statement(&t);
        if (rc) {
            *err_line = t.line;
            return rc;
        }
    }
}
