/* engine/query.h: the tag query language (docs/query.md), parsed into a small tree.
 *
 * The parser is hand-written recursive descent over the raw bytes; it allocates only from the
 * caller's arena, never reads past `n` bytes and bounds length, nesting and terms, so any input
 * (it is fuzzed: tests/fuzz/fuzz_query.c) ends in a tree or in an error with a 1-based column
 * counted in characters. Names are returned as written (unescaped); resolving them against the
 * tag dictionary is the engine's job, which reports unknown names at the node's column. */
#ifndef TAGD_ENGINE_QUERY_H
#define TAGD_ENGINE_QUERY_H

#include <stddef.h>

#include "util/arena.h"

#define QUERY_MAX_BYTES 4096
#define QUERY_MAX_DEPTH 32
#define QUERY_MAX_TERMS 256

enum qnode_kind {
    QN_TAG,     /* Name: resources carrying the tag */
    QN_SUBTREE, /* Name.*: the tag or any descendant */
    QN_HAS,     /* has:Name: any tag of the subtree rooted at Name (same set as Name.*) */
    QN_KIND,    /* kind:file: resources of that kind */
    QN_AND,
    QN_OR,
    QN_NOT, /* only `a` is set */
};

struct qnode {
    enum qnode_kind kind;
    int col;          /* 1-based character column where the term or operator starts */
    const char *name; /* leaves: the unescaped name (NUL-terminated, in the arena) */
    /* Tag leaves after query_normalize: the name in NFC and its dictionary key, or both NULL
     * (not normalized yet, or not a valid name: evaluation normalizes, and reports it). */
    const char *nfc, *key;
    struct qnode *a, *b;
};

struct qerr {
    int col; /* 1-based character column of the offending input */
    char msg[200];
};

/**
 * Parses `src` (n bytes, need not be NUL-terminated).
 * @return 0 with *out set (arena-owned), or -1 with `e` filled (col and a message naming what
 *         was expected and what was found).
 */
int query_parse(struct arena *a, const char *src, size_t n, struct qnode **out, struct qerr *e);

/** Normalizes every tag leaf's name into nfc and key (in `a`), so that a tree kept for many
 * evaluations (core's parse cache) does not normalize its names on each. */
void query_normalize(struct arena *a, struct qnode *q);

/** The tree as an S-expression, e.g. "(and (tag A) (not (subtree B)))"; for tests and logs. */
const char *query_sexpr(struct arena *a, const struct qnode *q);

/** The 1-based character column of byte offset `off` in `src`. */
int query_column(const char *src, size_t off);

#endif /* TAGD_ENGINE_QUERY_H */
