/* core/query.c: tag queries over resources, with the rights they obey (query.h). */
#include "core/query.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/core_int.h"
#include "engine/engine.h"
#include "engine/query.h"
#include "util/name.h"
#include "util/sbuf.h"

static void fault(struct core_query_err *qe, enum core_query_fault f, const struct qerr *e)
{
    qe->fault = f;
    qe->col = e->col;
    snprintf(qe->msg, sizeof(qe->msg), "%s", e->msg);
}

/* The terms the engine resolved through an alias (core/aliases.c), noted in ctx->alias_hits
 * for the answer to name (X-Tagd-Alias). */
static void note_aliases(struct core_ctx *ctx, const struct eng_alias_hit *e)
{
    struct alias_hit **at = &ctx->alias_hits;

    while (*at)
        at = &(*at)->next;
    for (; e; e = e->next) { /* in the engine's order, last term first */
        struct alias_hit *h = arena_alloc(ctx->a, sizeof(*h));
        h->alias = e->alias;
        h->tag_id = e->tag_id;
        h->tag = arena_strdup(ctx->a, e->tag);
        h->next = NULL;
        *at = h;
        at = &h->next;
    }
}

/* Parsed queries, per thread: a client asks the same few queries again and again, and parsing
 * one with its names normalized cost a nested query a tenth of its instructions
 * (bench/pubcost.py). A tree depends on its text alone (names are resolved against the tag
 * dictionary at each evaluation), so an entry never goes stale; it is only evicted, the least
 * recently used first. Invariant: an entry with text != NULL holds that text's tree, allocated
 * in its own arena, and is never written while a request reads it (one thread, one request at
 * a time). */
#define PARSE_CACHE 32

struct parsed {
    char *text; /* NULL: free */
    size_t n;
    struct arena a;
    const struct qnode *tree;
    uint64_t used;
};

static _Thread_local struct parsed parse_cache[PARSE_CACHE];
static _Thread_local uint64_t parse_clock;

int core__query_tree(const char *text, const struct qnode **tree, struct qerr *pe)
{
    size_t n = strlen(text);
    struct parsed *v = &parse_cache[0];
    struct qnode *t;

    for (int i = 0; i < PARSE_CACHE; i++) {
        struct parsed *e = &parse_cache[i];
        if (e->text && e->n == n && memcmp(e->text, text, n) == 0) {
            e->used = ++parse_clock;
            *tree = e->tree;
            return 0;
        }
        if (v->text && (e->text == NULL || e->used < v->used))
            v = e;
    }
    /* Parsed once, into an arena of its own: a text that does not parse takes no slot (the
     * error holds no pointer into the arena), one that does replaces the least recently used. */
    {
        struct arena a;
        arena_init(&a);
        if (query_parse(&a, text, n, &t, pe) != 0) {
            arena_release(&a);
            return -1;
        }
        if (v->text)
            arena_release(&v->a);
        v->a = a;
    }
    query_normalize(&v->a, t);
    v->text = arena_strndup(&v->a, text, n);
    v->n = n;
    v->tree = t;
    v->used = ++parse_clock;
    assert(v->text && v->tree);
    *tree = t;
    return 0;
}

void core__query_cache_done(void)
{
    for (int i = 0; i < PARSE_CACHE; i++) {
        if (parse_cache[i].text)
            arena_release(&parse_cache[i].a);
        memset(&parse_cache[i], 0, sizeof(parse_cache[i]));
    }
}

int core_query_resources(struct core_ctx *ctx, const struct core_query *q,
                         struct core_query_result *out, struct core_query_err *qe,
                         struct tg_err *err)
{
    struct engine *e = ctx->engine;
    const struct eng_snap *s;
    struct eng_result res;
    struct eng_query o;
    const struct qnode *tree;
    struct qerr pe;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(qe, 0, sizeof(*qe));
    rc = core_require(ctx, RIGHT_READ, err);
    if (rc)
        return rc;
    if (q->text == NULL)
        return tg_err_set(err, TG_EINVAL, "query", "'query' is required");
    if (q->kind && core_resource_ref_check(q->kind, "x", err) != 0)
        return TG_EINVAL;
    memset(&o, 0, sizeof(o));
    if (q->cursor) {
        const char *dec;
        if (core_cursor_decode(ctx, q->cursor, &dec, NULL) != 0 ||
            !core_parse_id(dec, "r", &o.after_id))
            return tg_err_set(err, TG_EINVAL, "cursor", "cursor is invalid");
    }
    if (core__query_tree(q->text, &tree, &pe) != 0) {
        fault(qe, CORE_QUERY_SYNTAX, &pe);
        return tg_err_set(err, TG_EINVAL, "query", "%s", pe.msg);
    }
    if (e == NULL)
        return tg_err_set(err, TG_EBUSY, "", "the index is not loaded");
    o.ws_id = ctx->ws_id;
    o.within = ctx->who.resource_id; /* a token scoped to a subtree sees only that subtree */
    o.kind = q->kind;
    o.effective = q->effective;
    o.archived = q->archived;
    o.limit = q->limit;
    s = engine_acquire(e);
    if (eng_snap_rev(s) < ctx->min_rev) {
        engine_release(e, s);
        out->behind = true;
        return 0;
    }
    rc = eng_query_run(s, ctx->a, tree, &o, &res, &pe, err);
    if (rc == 0)
        note_aliases(ctx, res.aliases);
    out->rev = eng_snap_rev(s);
    engine_release(e, s);
    if (rc) {
        if (rc == TG_EINVAL)
            fault(qe, CORE_QUERY_EVAL, &pe);
        return rc;
    }
    assert(res.n <= (size_t)(q->limit > 0 ? q->limit : 0));
    out->total = res.total;
    out->ids = res.ids;
    out->n = res.n;
    if (res.more && res.n) {
        char c[24] = "r";
        c[1 + sbuf_fmt_int(c + 1, res.ids[res.n - 1])] = '\0';
        out->next_cursor = core_cursor_encode(ctx, c);
    }
    return 0;
}
