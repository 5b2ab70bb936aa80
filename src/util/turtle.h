/* util/turtle.h: a small, strict reader of the Turtle that SKOS vocabularies are written in.
 *
 * Turtle (W3C RDF 1.1 Turtle) is how taxonomy tools hand out SKOS. This reader takes the
 * subset they use and refuses the rest with the line and column at fault, never guessing:
 * `@prefix`/`PREFIX` and `@base`/`BASE` directives; absolute IRIs `<...>` (relative ones are
 * joined to the base by concatenation, which is what vocabularies with a base use); prefixed
 * names (`skos:Concept`, `:local`); the keyword `a`; string literals in '"' or "'" quotes, long
 * literals in triple quotes, with the escapes \t \b \n \r \f \" \' \\ \uXXXX \UXXXXXXXX, a
 * language tag (`@en-GB`) or a datatype (`^^xsd:date`, `^^<...>`); integers, decimals and
 * booleans (given as typed literals); predicate lists with `;` and object lists with `,`;
 * comments with `#`. Blank nodes (`_:b`, `[...]`) and collections (`(...)`) are refused:
 * SKOS concepts and schemes are named by IRIs.
 *
 * Strings are UTF-8 and may not hold NUL. */
#ifndef TAGD_UTIL_TURTLE_H
#define TAGD_UTIL_TURTLE_H

#include <stddef.h>

#include "util/arena.h"
#include "util/err.h"

enum ttl_kind {
    TTL_IRI,
    TTL_LITERAL,
};

/* One term of a triple. Strings are in the arena given to ttl_parse, NUL-terminated. */
struct ttl_term {
    enum ttl_kind kind;
    const char *value;    /* the IRI (prefix expanded), or the literal's text (unescaped) */
    const char *lang;     /* a literal's language tag, or NULL */
    const char *datatype; /* a literal's datatype IRI, or NULL (a plain string) */
};

/**
 * Called for each triple in document order; `line` is the line of the object. Returns 0 to go
 * on, or a negative tg_code (with `err` filled) that stops the parse and is returned by it.
 * The terms are borrowed for the call but their strings live in the arena.
 */
typedef int (*ttl_triple_fn)(void *arg, const struct ttl_term *s, const struct ttl_term *p,
                             const struct ttl_term *o, int line, struct tg_err *err);

/**
 * Parses `n` bytes of Turtle (borrowed; need not be NUL-terminated), calling `fn` for each
 * triple. Returns 0, TG_EINVAL (err->field "body", the message naming line and column, the
 * line in *err_line) for malformed or unsupported input, or what `fn` returned (*err_line:
 * the line of the triple it refused). Every triple before an error has been given to `fn`:
 * a caller that wants all or nothing collects them first.
 */
int ttl_parse(struct arena *a, const char *text, size_t n, ttl_triple_fn fn, void *arg,
              int *err_line, struct tg_err *err);

/* The IRIs of the vocabularies tagd reads and writes. */
#define TTL_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define TTL_XSD "http://www.w3.org/2001/XMLSchema#"
#define TTL_SKOS "http://www.w3.org/2004/02/skos/core#"

#endif /* TAGD_UTIL_TURTLE_H */
