/* engine/eval.c: evaluating a parsed query (query.c) against a snapshot: bitmap operations
 * that count with the CPU's popcount, the evaluation with a bitmap per operation and the one
 * pass per container key, and the effective bitmaps' check. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <roaring/containers/containers.h>
#include <roaring/roaring.h>
#include <roaring/roaring_array.h>

#include "util/mem.h"
#include "util/name.h"

/* ---- queries ---- */

/* ---- bitmap operations that count with the CPU's popcount ----
 *
 * The CRoaring Debian ships (0.2.66, built for any x86-64) counts a bitset container's members
 * with a software popcount: about 46,000 instructions for one 8 KB container, in every
 * intersection and difference of two bitsets (to pick the result's kind) and in every repair
 * after a lazy union. That was half of an `A or B or C` query at 200,000 assignments
 * (callgrind, bench/pubcost.py --query). The bitset-bitset case is done here with the
 * `popcnt` instruction when the CPU has it (checked once), every other pair by roaring's own
 * container functions. */

static int popcnt_words_soft(const uint64_t *w, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = w[i];
        x = x - ((x >> 1) & 0x5555555555555555ULL);
        x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
        x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
        c += (int)((x * 0x0101010101010101ULL) >> 56);
    }
    return c;
}

/* The word loops of a query (one operation over a key's words, the count of the answer's) run
 * with AVX-512 where the CPU has it and VPOPCNTDQ with it, checked once: at 10 million
 * assignments an `A and B` request goes through 16 keys of 1,024 words, and the count with
 * scalar popcnt was 13% of tagd's CPU under wrk (perf), the AND loop another 15%. A key's AND
 * and count took 700 ns with scalar code and 80 ns with these (a loop of 200,000 on this
 * machine). Elsewhere (and under valgrind, whose CPU has no AVX-512) the plain loops run. */
enum wop { W_AND, W_ANDNOT, W_OR };

static void wop_soft(enum wop op, uint64_t *w, const uint64_t *l, const uint64_t *r, int lo,
                     int hi)
{
    switch (op) {
    case W_AND:
        for (int i = lo; i < hi; i++)
            w[i] = l[i] & r[i];
        break;
    case W_ANDNOT:
        for (int i = lo; i < hi; i++)
            w[i] = l[i] & ~r[i];
        break;
    case W_OR:
        for (int i = lo; i < hi; i++)
            w[i] = l[i] | r[i];
        break;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("popcnt"))) static int popcnt_words_hw(const uint64_t *w, size_t n)
{
    /* Four sums: one would chain every add on the one before. */
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (size_t k = n / 4; k > 0; k--, i += 4) {
        a += (uint64_t)__builtin_popcountll(w[i]);
        b += (uint64_t)__builtin_popcountll(w[i + 1]);
        c += (uint64_t)__builtin_popcountll(w[i + 2]);
        d += (uint64_t)__builtin_popcountll(w[i + 3]);
    }
    for (size_t k = n % 4; k > 0; k--, i++)
        a += (uint64_t)__builtin_popcountll(w[i]);
    return (int)(a + b + c + d);
}

#define AVX512 __attribute__((target("avx512f,avx512vpopcntdq")))

AVX512 static int popcnt_words_512(const uint64_t *w, size_t n)
{
    __m512i acc = _mm512_setzero_si512();
    size_t i = 0;
    int c;
    for (size_t k = n / 8; k > 0; k--, i += 8)
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_loadu_si512(w + i)));
    c = (int)_mm512_reduce_add_epi64(acc);
    for (size_t k = n % 8; k > 0; k--, i++)
        c += __builtin_popcountll(w[i]);
    return c;
}

AVX512 static void wop_512(enum wop op, uint64_t *w, const uint64_t *l, const uint64_t *r,
                           int lo, int hi)
{
    int i = lo;
    for (int k = (hi - lo) / 8; k > 0; k--, i += 8) {
        __m512i a = _mm512_loadu_si512(l + i), b = _mm512_loadu_si512(r + i);
        __m512i v = op == W_AND      ? _mm512_and_si512(a, b)
                    : op == W_ANDNOT ? _mm512_andnot_si512(b, a)
                                     : _mm512_or_si512(a, b);
        _mm512_storeu_si512(w + i, v);
    }
    wop_soft(op, w, l, r, i, hi);
}

/* 0: plain loops; 1: popcnt; 2: AVX-512 with VPOPCNTDQ. Every thread that finds it unset
 * computes the same. */
static int cpu_level(void)
{
    static _Atomic int level = -1;
    int v = atomic_load_explicit(&level, memory_order_relaxed);
    if (v < 0) {
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq") ? 2
            : __builtin_cpu_supports("popcnt")                                            ? 1
                                                                                          : 0;
        atomic_store_explicit(&level, v, memory_order_relaxed);
    }
    return v;
}

static int popcnt_words(const uint64_t *w, size_t n)
{
    int v = cpu_level();
    return v == 2 ? popcnt_words_512(w, n) : v == 1 ? popcnt_words_hw(w, n)
                                                    : popcnt_words_soft(w, n);
}

/* w[lo, hi) = l op r over the same words; w may be l. */
static void wop(enum wop op, uint64_t *w, const uint64_t *l, const uint64_t *r, int lo, int hi)
{
    if (cpu_level() == 2)
        wop_512(op, w, l, r, lo, hi);
    else
        wop_soft(op, w, l, r, lo, hi);
}
#else
static int popcnt_words(const uint64_t *w, size_t n)
{
    return popcnt_words_soft(w, n);
}

static void wop(enum wop op, uint64_t *w, const uint64_t *l, const uint64_t *r, int lo, int hi)
{
    wop_soft(op, w, l, r, lo, hi);
}
#endif

/* A bitset whose words are final: counted, NULL when empty. A query's bitmaps live for one
 * request and are only combined here, counted and iterated, so a bitset of DEFAULT_MAX_SIZE or
 * fewer members stays one (roaring would make it an array: extracting the members cost a
 * sixth of a nested query). Every roaring function used on them takes any valid container. */
static void *bs_finish(bitset_container_t *bc, uint8_t *type)
{
    bc->cardinality = popcnt_words(bc->array, BITSET_CONTAINER_SIZE_IN_WORDS);
    *type = BITSET_CONTAINER_TYPE_CODE;
    if (bc->cardinality == 0) {
        bitset_container_free(bc);
        return NULL;
    }
    return bc;
}

/* array | bitset: roaring's union keeps the count per member (bitset_set_list_withcard), a
 * third of a nested query; setting the bits and counting once after is a quarter of that. */
static void *bs_or_array(const bitset_container_t *b, const array_container_t *a, uint8_t *type)
{
    bitset_container_t *bc = bitset_container_clone(b);
    uint64_t *w = bc->array;
    for (int32_t i = 0; i < a->cardinality; i++)
        w[a->array[i] >> 6] |= 1ULL << (a->array[i] & 63);
    return bs_finish(bc, type);
}

enum { OP_AND, OP_ANDNOT, OP_OR };

static void *bs_op(const bitset_container_t *a, const bitset_container_t *b, int op,
                   uint8_t *type)
{
    bitset_container_t *bc = bitset_container_create();
    uint64_t *w = bc->array;
    const uint64_t *x = a->array, *y = b->array;

    if (op == OP_AND)
        for (int i = 0; i < BITSET_CONTAINER_SIZE_IN_WORDS; i++)
            w[i] = x[i] & y[i];
    else if (op == OP_ANDNOT)
        for (int i = 0; i < BITSET_CONTAINER_SIZE_IN_WORDS; i++)
            w[i] = x[i] & ~y[i];
    else
        for (int i = 0; i < BITSET_CONTAINER_SIZE_IN_WORDS; i++)
            w[i] = x[i] | y[i];
    return bs_finish(bc, type);
}

/* x op y as a new bitmap. */
static roaring_bitmap_t *bm_op(const roaring_bitmap_t *x, const roaring_bitmap_t *y, int op)
{
    const roaring_array_t *a = &x->high_low_container, *b = &y->high_low_container;
    roaring_bitmap_t *out = roaring_bitmap_create_with_capacity(
        (uint32_t)(op == OP_OR ? a->size + b->size : a->size));
    roaring_array_t *ra = &out->high_low_container;
    int32_t i = 0, j = 0;

    while (i < a->size || j < b->size) {
        uint16_t ka = i < a->size ? a->keys[i] : 0, kb = j < b->size ? b->keys[j] : 0;
        void *c = NULL;
        uint8_t t = 0;
        if (j >= b->size || (i < a->size && ka < kb)) {
            /* only in x */
            if (op != OP_AND)
                ra_append(ra, ka, container_clone(a->containers[i], a->typecodes[i]),
                          a->typecodes[i]);
            i++;
            continue;
        }
        if (i >= a->size || kb < ka) {
            /* only in y */
            if (op == OP_OR)
                ra_append(ra, kb, container_clone(b->containers[j], b->typecodes[j]),
                          b->typecodes[j]);
            j++;
            continue;
        }
        if (a->typecodes[i] == BITSET_CONTAINER_TYPE_CODE &&
            b->typecodes[j] == BITSET_CONTAINER_TYPE_CODE) {
            c = bs_op(a->containers[i], b->containers[j], op, &t);
        } else if (op == OP_OR && a->typecodes[i] == BITSET_CONTAINER_TYPE_CODE &&
                   b->typecodes[j] == ARRAY_CONTAINER_TYPE_CODE) {
            c = bs_or_array(a->containers[i], b->containers[j], &t);
        } else if (op == OP_OR && a->typecodes[i] == ARRAY_CONTAINER_TYPE_CODE &&
                   b->typecodes[j] == BITSET_CONTAINER_TYPE_CODE) {
            c = bs_or_array(b->containers[j], a->containers[i], &t);
        } else {
            if (op == OP_AND)
                c = container_and(a->containers[i], a->typecodes[i], b->containers[j],
                                  b->typecodes[j], &t);
            else if (op == OP_ANDNOT)
                c = container_andnot(a->containers[i], a->typecodes[i], b->containers[j],
                                     b->typecodes[j], &t);
            else
                c = container_or(a->containers[i], a->typecodes[i], b->containers[j],
                                 b->typecodes[j], &t);
            if (c && !container_nonzero_cardinality(c, t)) {
                container_free(c, t);
                c = NULL;
            }
        }
        if (c)
            ra_append(ra, ka, c, t);
        i++;
        j++;
    }
    return out;
}

roaring_bitmap_t *eng__bm_op(const roaring_bitmap_t *x, const roaring_bitmap_t *y, char op)
{
    return bm_op(x, y, op == '&' ? OP_AND : op == '-' ? OP_ANDNOT : OP_OR);
}

struct val {
    const roaring_bitmap_t *b;
    roaring_bitmap_t *own; /* == b when owned */
    /* Borrowed from the snapshot: the generation that made b, which with b names its contents
     * for good (objects are changed in place only in the build of their own generation, and
     * generations are unique in the process: snapshot.c). 0: not known (owned, or a set). */
    uint64_t gen;
};

struct qctx {
    const struct eng_snap *s;
    const struct eng_query *o;
    struct arena *a;
    struct qerr *qe;
    struct tg_err *err;
    const roaring_bitmap_t *universe;
    uint64_t ugen; /* the universe's generation (struct val), 0 for the empty one */
    roaring_bitmap_t *empty;
    struct eng_alias_hit *aliases; /* eng_result.aliases, moved there at the end */
};

static void val_drop(struct val *v)
{
    if (v->own)
        roaring_bitmap_free(v->own);
    v->own = NULL;
    v->b = NULL;
}

static struct val owned(roaring_bitmap_t *b)
{
    struct val v = {b, b, 0};
    return v;
}

static struct val borrowed(const roaring_bitmap_t *b)
{
    struct val v = {b, NULL, 0};
    return v;
}

static struct val borrowed_gen(const roaring_bitmap_t *b, uint64_t gen)
{
    struct val v = {b, NULL, gen};
    return v;
}

/* Adds every descendant (in the resource tree) of the members of `in`. */
static struct val expand(const struct eng_snap *s, struct val in)
{
    roaring_bitmap_t *res = roaring_bitmap_copy(in.b);
    roaring_bitmap_t *frontier = NULL;
    const roaring_bitmap_t *f = in.b;

    for (int d = 0; d < 64; d++) {
        roaring_bitmap_t *next = roaring_bitmap_create();
        roaring_uint32_iterator_t *it = roaring_create_iterator(f);
        while (it->has_value) {
            const struct eres *r = eng__res_at(s, it->current_value);
            if (r && r->children)
                roaring_bitmap_or_inplace(next, r->children);
            roaring_advance_uint32_iterator(it);
        }
        roaring_free_uint32_iterator(it);
        roaring_bitmap_andnot_inplace(next, res);
        if (frontier)
            roaring_bitmap_free(frontier);
        frontier = next;
        if (roaring_bitmap_is_empty(next))
            break;
        roaring_bitmap_or_inplace(res, next);
        f = next;
    }
    if (frontier)
        roaring_bitmap_free(frontier);
    val_drop(&in);
    return owned(res);
}

roaring_bitmap_t *eng__resource_subtree(const struct eng_snap *s, int64_t root)
{
    roaring_bitmap_t *one = roaring_bitmap_create();
    struct val v;

    if (root > 0 && root < (int64_t)UINT32_MAX)
        roaring_bitmap_add(one, (uint32_t)root);
    v = expand(s, owned(one));
    return v.own;
}

/* ---- conflict policies in effective leaves ----
 *
 * eff and esub are the union of the tags along each resource's chain. A tag of a child-wins or
 * parent-wins group (core/conflicts.c) may be hidden there by another tag of its group on the
 * chain, so an effective leaf naming such tags is eff (esub) less the resources where none of
 * its tags wins. Only a resource that inherits or holds both a tag of the leaf and another tag
 * of the same group can lose: those candidates (the intersections of the groups' effective
 * bitmaps) are checked one by one along their chains; every other member stays. The cost
 * falls on leaves of such groups and grows with their conflicts, not with their members. */

/* Whether `id` is `anc` or one of its live descendants in the tag tree. */
static bool tag_within(const struct eng_snap *s, const struct etag *t, int64_t anc)
{
    for (int d = 0; t && d <= MAX_TAG_DEPTH; d++) {
        if (t->id == anc)
            return true;
        if (t->deleted)
            return false;
        t = t->parent_id ? eng__tag_at(s, t->parent_id) : NULL;
    }
    return false;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* Whether resource `rid` holds one of the sorted tags `set` under the policies. */
static bool policy_holds(struct qctx *c, uint32_t rid, const uint32_t *set, size_t nset)
{
    const struct eres *r = eng__res_at(c->s, rid);
    struct eng_winners w;

    if (r == NULL || !eng__chain_winners(c->s, c->a, r, INT32_MAX, &w))
        return true; /* a chain the snapshot does not hold: leave the union's answer */
    for (int depth = 0; r; depth++) {
        for (uint32_t j = 0; j < r->ntags; j++) {
            const struct etag *t = eng__tag_at(c->s, r->tags[j]);
            if (t && !t->rec->deleted && bsearch(&r->tags[j], set, nset, sizeof(*set), cmp_u32) &&
                eng__wins(&w, t, depth))
                return true;
        }
        r = r->parent ? eng__res_at(c->s, r->parent) : NULL;
    }
    return false;
}

/* The effective bitmap of tag `t` (one) or of its subtree, with the policies applied; NULL
 * when they change nothing (the caller borrows eff or esub). */
static roaring_bitmap_t *policy_filter(struct qctx *c, const struct etag *t, bool one)
{
    const struct eng_snap *s = c->s;
    const roaring_bitmap_t *base = one ? t->eff : t->esub;
    roaring_bitmap_t *cand = NULL, *res;
    uint32_t *set, *groups_done;
    size_t nset = 0, ngroups = 0, cap = 16;
    roaring_uint32_iterator_t it;

    /* The leaf's live tags, ascending. */
    set = arena_alloc(c->a, cap * sizeof(*set));
    for (uint32_t id = 0; id < s->ntags; id++) {
        const struct etag *u = s->tags[id];
        if (u == NULL || u->deleted || u->ws_id != t->ws_id ||
            !(one ? u == t : tag_within(s, u, t->id)))
            continue;
        if (nset == cap) {
            uint32_t *bigger = arena_alloc(c->a, 2 * cap * sizeof(*set));
            memcpy(bigger, set, nset * sizeof(*set));
            set = bigger;
            cap *= 2;
        }
        set[nset++] = id;
    }
    groups_done = arena_alloc(c->a, (nset + 1) * sizeof(*groups_done));
    for (size_t i = 0; i < nset; i++) {
        int64_t g = s->tags[set[i]]->rec->group_id;
        enum group_conflict cf = eng__pol_of(s, g);
        roaring_bitmap_t *in, *out;
        bool seen = false;
        if (cf != CONFLICT_CHILD_WINS && cf != CONFLICT_PARENT_WINS)
            continue;
        for (size_t k = 0; k < ngroups && !seen; k++)
            seen = s->tags[groups_done[k]]->rec->group_id == g;
        if (seen)
            continue;
        groups_done[ngroups++] = set[i];
        /* The group's tags in the leaf and out of it: a resource in both unions conflicts. */
        in = roaring_bitmap_create();
        out = roaring_bitmap_create();
        for (uint32_t id = 0; id < s->ntags; id++) {
            const struct etag *u = s->tags[id];
            if (u == NULL || u->deleted || u->rec->group_id != g)
                continue;
            if (bsearch(&id, set, nset, sizeof(*set), cmp_u32))
                roaring_bitmap_or_inplace(in, u->eff);
            else
                roaring_bitmap_or_inplace(out, u->eff);
        }
        roaring_bitmap_and_inplace(in, out);
        roaring_bitmap_free(out);
        if (cand) {
            roaring_bitmap_or_inplace(cand, in);
            roaring_bitmap_free(in);
        } else {
            cand = in;
        }
    }
    if (cand == NULL || roaring_bitmap_is_empty(cand)) {
        if (cand)
            roaring_bitmap_free(cand);
        return NULL;
    }
    res = roaring_bitmap_copy(base);
    roaring_init_iterator(cand, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it))
        if (!policy_holds(c, it.current_value, set, nset))
            roaring_bitmap_remove(res, it.current_value);
    roaring_bitmap_free(cand);
    return res;
}

static int leaf(struct qctx *c, const struct qnode *q, struct val *out)
{
    const struct etag *t;
    char *nfc, *key;
    struct tg_err nerr;

    tg_err_clear(&nerr);
    if (q->key) {
        nfc = (char *)q->nfc;
        key = (char *)q->key;
    } else if (name_normalize(c->a, q->name, strlen(q->name), true, "query", &nfc, &key,
                              &nerr) != 0) {
        c->qe->col = q->col;
        snprintf(c->qe->msg, sizeof(c->qe->msg), "'%.40s' is not a valid tag name: %.100s",
                 q->name, nerr.msg);
        return tg_err_set(c->err, TG_EINVAL, "query", "%s", c->qe->msg);
    }
    t = eng__dict_find(c->s, c->o->ws_id, key);
    if (t == NULL) { /* an old name: the tag it is now (core/aliases.c) */
        t = eng__alias_find(c->s, c->o->ws_id, key);
        if (t) {
            /* Told here, where the name is resolved anyway: resolving every term again to
             * find the aliases cost a nested query an eighth of its instructions. */
            struct eng_alias_hit *h = arena_alloc(c->a, sizeof(*h));
            h->alias = nfc;
            h->tag_id = t->id;
            h->tag = t->name;
            h->next = c->aliases;
            c->aliases = h;
        }
    }
    if (t == NULL) {
        c->qe->col = q->col;
        snprintf(c->qe->msg, sizeof(c->qe->msg), "unknown tag '%.120s'", q->name);
        return tg_err_set(c->err, TG_EINVAL, "query", "%s", c->qe->msg);
    }
    if (c->o->effective) {
        bool one = q->kind == QN_TAG || t->esub == NULL;
        roaring_bitmap_t *f = NULL;
        /* Without a group that has a conflict policy, the maintained bitmaps are the answer
         * and nothing more runs. */
        if (c->s->pols && c->s->pols->n)
            f = policy_filter(c, t, one);
        *out = f ? owned(f)
                 : one ? borrowed_gen(t->eff, t->eff_gen)
                       : borrowed_gen(t->esub, t->esub_gen);
    } else if (q->kind == QN_TAG || t->sub == NULL)
        *out = borrowed_gen(t->direct, t->direct_gen);
    else
        *out = borrowed_gen(t->sub, t->sub_gen);
    return 0;
}

static int eval(struct qctx *c, const struct qnode *q, struct val *out);

static int eval_kind(struct qctx *c, const char *kind, struct val *out);

static int eval(struct qctx *c, const struct qnode *q, struct val *out)
{
    struct val l = {0}, r = {0};
    int rc;

    switch (q->kind) {
    case QN_TAG:
    case QN_SUBTREE:
    case QN_HAS:
        return leaf(c, q, out);
    case QN_KIND:
        return eval_kind(c, q->name, out);
    case QN_NOT:
        rc = eval(c, q->a, &l);
        if (rc)
            return rc;
        *out = owned(bm_op(c->universe, l.b, OP_ANDNOT));
        val_drop(&l);
        return 0;
    case QN_AND:
    case QN_OR:
        break;
    }
    /* a and not b: one andnot instead of a complement and an intersection. */
    if (q->kind == QN_AND && (q->b->kind == QN_NOT || q->a->kind == QN_NOT) &&
        !(q->b->kind == QN_NOT && q->a->kind == QN_NOT)) {
        const struct qnode *pos = q->b->kind == QN_NOT ? q->a : q->b;
        const struct qnode *neg = q->b->kind == QN_NOT ? q->b->a : q->a->a;
        rc = eval(c, pos, &l);
        if (rc == 0)
            rc = eval(c, neg, &r);
        if (rc == 0)
            *out = owned(bm_op(l.b, r.b, OP_ANDNOT));
        val_drop(&l);
        val_drop(&r);
        return rc;
    }
    rc = eval(c, q->a, &l);
    if (rc)
        return rc;
    rc = eval(c, q->b, &r);
    if (rc) {
        val_drop(&l);
        return rc;
    }
    *out = owned(bm_op(l.b, r.b, q->kind == QN_AND ? OP_AND : OP_OR));
    val_drop(&l);
    val_drop(&r);
    return 0;
}

static int eval_kind(struct qctx *c, const char *kind, struct val *out)
{
    for (size_t i = 0; i < c->s->nsets; i++) {
        const struct eset *st = &c->s->sets[i];
        if (st->ws_id == c->o->ws_id && st->kind >= 0 && strcmp(st->kname, kind) == 0) {
            *out = borrowed(st->bm);
            return 0;
        }
    }
    *out = borrowed(c->empty);
    return 0;
}

/* ---- one pass per container key ----
 *
 * An expression with operators is evaluated key by key (ids >> 16) in 8 KB word buffers, one
 * per level of the tree: each leaf's container is spread into words, the operators are word
 * loops, the filters (kind, archived, scope) are applied to the root's words, which are then
 * counted and read for the page. No intermediate bitmap is allocated and each key is counted
 * once, where bm_op allocated, cloned and counted a container per operation. */

bool eng__fused = true;

#define WORDS BITSET_CONTAINER_SIZE_IN_WORDS

struct fused {
    const roaring_bitmap_t **leaf; /* every leaf's bitmap, in evaluation order */
    uint64_t *gen;                 /* each leaf's generation (struct val), 0: unknown */
    size_t nleaf, at;
    size_t cap;               /* the query's leaves: room in leaf, gen (and owned) */
    roaring_bitmap_t **owned; /* the leaves made for this run (policy_filter), freed after;
                               * NULL until one is */
    size_t nowned;
    const roaring_bitmap_t *universe;
    uint64_t ugen;
    uint64_t run; /* this run's number on the thread (dense_words) */
    uint64_t *buf; /* WORDS per level */
    /* The words [lo, hi) of the key at hand that the workspace's universe has bits in: every
     * operator's result is zero outside them, so only they are spread, combined and read (a
     * store of 20,000 resources uses 313 of a key's 1,024 words). lo < hi <= WORDS. */
    int lo, hi;
};

static size_t tree_leaves(const struct qnode *q);

/* Dense copies of array and run containers, per thread, kept from query to query.
 *
 * Spreading an array container into words costs about ten instructions a value (a tag on
 * 1,627 of 20,000 resources was a third of a nested query's instructions, bench/pubcost.py),
 * where a bitset container is read in place. A container that the same leaf bitmap holds in
 * the same generation never changes (struct val), so its words are spread once into a slot
 * and read from there by the queries that follow. Slots are direct-mapped by (bitmap,
 * generation, key); a slot that a leaf of the running query reads is not taken by another
 * (the run number), which then is spread as before. Invariant: a slot with b != NULL holds
 * exactly the words of b's container at key in generation gen. */
#define DENSE_SLOTS 64
#define DENSE_MIN 128 /* values (a quarter as many runs): below, spreading costs less */

struct dense_slot {
    const roaring_bitmap_t *b; /* NULL: empty */
    uint64_t gen, run;
    uint16_t key;
    uint64_t w[WORDS];
};

static _Thread_local struct dense_slot *dense_slots;
static _Thread_local uint64_t dense_runs;

static void spread_container(const void *c, uint8_t t, uint64_t *w, int lo, int hi);

/* Cardinalities of snapshot bitmaps, per thread, named as dense slots are. A run container's
 * count is a pass over its runs: 9,600 of a broad effective tag's 26,000 instructions. */
#define CARD_SLOTS 256

struct card_slot {
    const roaring_bitmap_t *b; /* NULL: empty */
    uint64_t gen, card;
};

static _Thread_local struct card_slot *card_slots;

/* The name of a snapshot bitmap in the per-thread slots: its address and generation. */
static inline uint64_t slot_hash(const roaring_bitmap_t *b, uint64_t gen)
{
    return (uint64_t)(uintptr_t)b * 0x9E3779B97F4A7C15ULL ^ gen * 0xC2B2AE3D27D4EB4FULL;
}

static uint64_t cardinality(const roaring_bitmap_t *b, uint64_t gen)
{
    uint64_t h = slot_hash(b, gen);
    struct card_slot *d;

    if (gen == 0)
        return roaring_bitmap_get_cardinality(b);
    if (card_slots == NULL)
        card_slots = xcalloc(CARD_SLOTS, sizeof(*card_slots));
    d = &card_slots[(h >> 32) & (CARD_SLOTS - 1)];
    if (d->b != b || d->gen != gen) {
        d->b = b;
        d->gen = gen;
        d->card = roaring_bitmap_get_cardinality(b);
    }
    return d->card;
}

void eng_thread_done(void)
{
    xfree(dense_slots);
    dense_slots = NULL;
    xfree(card_slots);
    card_slots = NULL;
}

static const uint64_t *dense_words(const roaring_bitmap_t *b, uint64_t gen, uint16_t key,
                                   const void *c, uint8_t t, uint64_t run)
{
    uint64_t h = slot_hash(b, gen) ^ (uint64_t)key * 0x165667B19E3779F9ULL;
    struct dense_slot *d;

    if (dense_slots == NULL)
        dense_slots = xcalloc(DENSE_SLOTS, sizeof(*dense_slots));
    d = &dense_slots[(h >> 32) & (DENSE_SLOTS - 1)];
    if (d->b == b && d->gen == gen && d->key == key) {
        d->run = run;
        return d->w;
    }
    if (d->b && d->run == run)
        return NULL;
    spread_container(c, t, d->w, 0, WORDS);
    d->b = b;
    d->gen = gen;
    d->key = key;
    d->run = run;
    return d->w;
}

/* The words [lo, hi) of container c (of type t) into w. */
static void spread_container(const void *c, uint8_t t, uint64_t *w, int lo, int hi)
{
    if (t == BITSET_CONTAINER_TYPE_CODE) {
        memcpy(w + lo, ((const bitset_container_t *)c)->array + lo,
               (size_t)(hi - lo) * sizeof(*w));
        return;
    }
    memset(w + lo, 0, (size_t)(hi - lo) * sizeof(*w));
    if (t == ARRAY_CONTAINER_TYPE_CODE) {
        /* No range test per value: w has WORDS words, so a value outside [lo, hi) lands in a
         * word nobody reads for this key (every loop reads [lo, hi) only, and the next key
         * clears what it reads). With the test and the container's fields read through a
         * pointer w might alias, a value took 15 instructions instead of 10. */
        const uint16_t *v = ((const array_container_t *)c)->array;
        const int32_t n = ((const array_container_t *)c)->cardinality;
        for (int32_t k = 0; k < n; k++)
            w[v[k] >> 6] |= 1ULL << (v[k] & 63);
    } else {
        /* A run by words: a mask at each end, whole words between. Bit by bit, the runs of
         * an effective subtree (19,640 of 20,000 resources in some 6,000 runs) cost an
         * effective `P.* and not D` 450,000 instructions. */
        const run_container_t *rc = c;
        for (int32_t k = 0; k < rc->n_runs; k++) {
            uint32_t a = rc->runs[k].value, z = a + rc->runs[k].length; /* inclusive */
            uint32_t wa, wz;
            uint64_t ma, mz;
            if (a < (uint32_t)lo * 64)
                a = (uint32_t)lo * 64;
            if (z >= (uint32_t)hi * 64)
                z = (uint32_t)hi * 64 - 1;
            if (a > z)
                continue;
            wa = a >> 6;
            wz = z >> 6;
            ma = ~0ULL << (a & 63);
            mz = ~0ULL >> (63 - (z & 63));
            if (wa == wz) {
                w[wa] |= ma & mz;
                continue;
            }
            w[wa] |= ma;
            for (uint32_t i = wa + 1; i < wz; i++)
                w[i] = ~0ULL;
            w[wz] |= mz;
        }
    }
}

/* The words of b's container at `key` over [f->lo, f->hi): read in place where they exist as
 * words (a bitset container, a dense slot), else spread into w. The answer is w or memory
 * nobody writes while the run lasts. */
static const uint64_t *words(struct fused *f, const roaring_bitmap_t *b, uint64_t gen,
                             uint16_t key, uint64_t *w)
{
    const roaring_array_t *ra = &b->high_low_container;
    int32_t i = ra_get_index(ra, key);
    const void *c;
    uint8_t t;

    if (i < 0) {
        memset(w + f->lo, 0, (size_t)(f->hi - f->lo) * sizeof(*w));
        return w;
    }
    t = ra->typecodes[i];
    c = container_unwrap_shared(ra->containers[i], &t);
    if (t == BITSET_CONTAINER_TYPE_CODE)
        return ((const bitset_container_t *)c)->array;
    if (gen && (t == ARRAY_CONTAINER_TYPE_CODE
                    ? ((const array_container_t *)c)->cardinality >= DENSE_MIN
                    : ((const run_container_t *)c)->n_runs >= DENSE_MIN / 4)) {
        const uint64_t *d = dense_words(b, gen, key, c, t, f->run);
        if (d)
            return d;
    }
    spread_container(c, t, w, f->lo, f->hi);
    return w;
}

static void fused_leaves(struct fused *f, struct qctx *c, const struct qnode *q, int *rc)
{
    struct val v = {0};
    if (*rc)
        return;
    switch (q->kind) {
    case QN_TAG:
    case QN_SUBTREE:
    case QN_HAS:
        *rc = leaf(c, q, &v);
        break;
    case QN_KIND:
        *rc = eval_kind(c, q->name, &v);
        break;
    case QN_NOT:
        fused_leaves(f, c, q->a, rc);
        return;
    case QN_AND:
    case QN_OR:
        fused_leaves(f, c, q->a, rc);
        fused_leaves(f, c, q->b, rc);
        return;
    }
    if (*rc == 0) {
        /* Leaves are the snapshot's bitmaps, but for a policy's (policy_filter), which the
         * run frees at its end. */
        if (v.own) {
            if (f->owned == NULL)
                f->owned = arena_alloc(c->a, f->cap * sizeof(*f->owned));
            f->owned[f->nowned++] = v.own;
        }
        f->gen[f->nleaf] = v.own ? 0 : v.gen;
        f->leaf[f->nleaf++] = v.b;
    }
}

/* The expression's words at `key`: in w, or (a leaf read in place) where words() found them.
 * Deeper levels use the buffers after w, so w's own answer is never overwritten by them. */
static const uint64_t *fused_eval(struct fused *f, const struct qnode *q, uint16_t key,
                                  uint64_t *w)
{
    uint64_t *x = w + WORDS;
    const uint64_t *l, *r;
    const int lo = f->lo, hi = f->hi;

    switch (q->kind) {
    case QN_TAG:
    case QN_SUBTREE:
    case QN_HAS:
    case QN_KIND: {
        size_t i = f->at++;
        return words(f, f->leaf[i], f->gen[i], key, w);
    }
    case QN_NOT:
        r = fused_eval(f, q->a, key, x);
        l = words(f, f->universe, f->ugen, key, w);
        wop(W_ANDNOT, w, l, r, lo, hi);
        return w;
    case QN_AND:
        /* a and not b (either way round): one difference, as eval() does, so that the
         * universe does not enter. The leaves are read in the order fused_leaves took them. */
        if (q->a->kind == QN_NOT && q->b->kind != QN_NOT) {
            size_t at = f->at, na = tree_leaves(q->a->a);
            f->at = at + na;
            l = fused_eval(f, q->b, key, w);
            f->at = at;
            r = fused_eval(f, q->a->a, key, x);
            f->at = at + na + tree_leaves(q->b);
            wop(W_ANDNOT, w, l, r, lo, hi);
            return w;
        }
        l = fused_eval(f, q->a, key, w);
        if (q->b->kind == QN_NOT) {
            r = fused_eval(f, q->b->a, key, x);
            wop(W_ANDNOT, w, l, r, lo, hi);
        } else {
            r = fused_eval(f, q->b, key, x);
            wop(W_AND, w, l, r, lo, hi);
        }
        return w;
    case QN_OR:
        l = fused_eval(f, q->a, key, w);
        r = fused_eval(f, q->b, key, x);
        wop(W_OR, w, l, r, lo, hi);
        return w;
    }
    assert(!"unknown node");
    return w;
}

static int tree_depth(const struct qnode *q)
{
    int a, b;
    switch (q->kind) {
    case QN_NOT:
        return 1 + tree_depth(q->a);
    case QN_AND:
    case QN_OR:
        a = tree_depth(q->a);
        b = tree_depth(q->b);
        return 1 + (a > b ? a : b);
    default:
        return 1;
    }
}

static size_t tree_leaves(const struct qnode *q)
{
    if (q->kind == QN_NOT)
        return tree_leaves(q->a);
    if (q->kind == QN_AND || q->kind == QN_OR)
        return tree_leaves(q->a) + tree_leaves(q->b);
    return 1;
}

static void keys_add(uint16_t *keys, size_t *n, const roaring_bitmap_t *b)
{
    const roaring_array_t *ra = &b->high_low_container;
    for (int32_t i = 0; i < ra->size; i++) {
        size_t lo = 0, hi = *n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (keys[mid] < ra->keys[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < *n && keys[lo] == ra->keys[i])
            continue;
        memmove(keys + lo + 1, keys + lo, (*n - lo) * sizeof(*keys));
        keys[lo] = ra->keys[i];
        (*n)++;
    }
}

/* Widens [f->lo, f->hi) to the words of b's container at `key`. */
static void range_add(struct fused *f, const roaring_bitmap_t *b, uint16_t key)
{
    const roaring_array_t *ra = &b->high_low_container;
    int32_t i = ra_get_index(ra, key);
    const void *c;
    uint8_t t;
    int lo, hi;

    if (i < 0)
        return;
    t = ra->typecodes[i];
    c = container_unwrap_shared(ra->containers[i], &t);
    if (!container_nonzero_cardinality(c, t))
        return;
    lo = container_minimum(c, t) >> 6;
    hi = (container_maximum(c, t) >> 6) + 1;
    if (f->hi == 0 || lo < f->lo)
        f->lo = lo;
    if (hi > f->hi)
        f->hi = hi;
}

/* The words at `key` where the workspace has resources (one word when it has none there: an
 * empty key still goes through the loop, and the range is never empty). Every leaf is a set of
 * the workspace's resources, so nothing of a leaf lies outside; asking each leaf instead cost
 * more than it saved (a bitset's maximum is a scan from its end). */
static void word_range(struct fused *f, uint16_t key)
{
    f->lo = f->hi = 0;
    range_add(f, f->universe, key);
    if (f->hi == 0)
        f->hi = 1;
    assert(0 <= f->lo && f->lo < f->hi && f->hi <= WORDS);
}

/* The query with operators `q`, evaluated as above; the filters as eng_query_run applies them. */
static int fused_run(struct qctx *c, const struct qnode *q, const roaring_bitmap_t *kind_set,
                     const roaring_bitmap_t *archived, const roaring_bitmap_t *scope,
                     struct eng_result *out)
{
    const struct eng_query *o = c->o;
    struct fused f;
    uint16_t *keys;
    size_t nkeys = 0, n = 0;
    int depth = tree_depth(q), rc = 0;
    uint64_t *w;

    memset(&f, 0, sizeof(f));
    f.cap = tree_leaves(q);
    f.leaf = arena_alloc(c->a, f.cap * sizeof(*f.leaf));
    f.gen = arena_alloc(c->a, f.cap * sizeof(*f.gen));
    f.universe = c->universe;
    f.ugen = c->ugen;
    f.run = ++dense_runs;
    fused_leaves(&f, c, q, &rc);
    if (rc)
        goto out;
    {
        size_t cap = (size_t)f.universe->high_low_container.size;
        for (size_t i = 0; i < f.nleaf; i++)
            cap += (size_t)f.leaf[i]->high_low_container.size;
        keys = arena_alloc(c->a, (cap + 1) * sizeof(*keys));
    }
    for (size_t i = 0; i < f.nleaf; i++)
        keys_add(keys, &nkeys, f.leaf[i]);
    keys_add(keys, &nkeys, f.universe);
    f.buf = arena_alloc(c->a, ((size_t)depth + 1) * WORDS * sizeof(uint64_t));
    w = f.buf;
    if (o->limit > 0)
        out->ids = arena_alloc(c->a, (size_t)o->limit * sizeof(int64_t));
    for (size_t k = 0; k < nkeys; k++) {
        uint64_t *x = w + WORDS;
        uint32_t base = (uint32_t)keys[k] << 16;
        const uint64_t *r;
        int cnt;
        f.at = 0;
        word_range(&f, keys[k]);
        r = fused_eval(&f, q, keys[k], w);
        if (kind_set || archived || scope) {
            /* The filters are set operations with the answer too, written into w. */
            const uint64_t *m;
            if (kind_set) {
                m = words(&f, kind_set, 0, keys[k], x);
                wop(W_AND, w, r, m, f.lo, f.hi);
                r = w;
            }
            if (archived) {
                m = words(&f, archived, c->s->archived_gen, keys[k], x);
                wop(W_ANDNOT, w, r, m, f.lo, f.hi);
                r = w;
            }
            if (scope) {
                m = words(&f, scope, 0, keys[k], x);
                wop(W_AND, w, r, m, f.lo, f.hi);
                r = w;
            }
        }
        cnt = popcnt_words(r + f.lo, (size_t)(f.hi - f.lo));
        out->total += (uint64_t)cnt;
        if (cnt == 0 || o->limit <= 0 || out->more)
            continue;
        for (int i = f.lo; i < f.hi; i++) {
            uint64_t word = r[i];
            while (word) {
                int64_t id = (int64_t)base + i * 64 + __builtin_ctzll(word);
                word &= word - 1;
                if (id <= o->after_id)
                    continue;
                if (n == (size_t)o->limit) {
                    out->more = true;
                    break;
                }
                out->ids[n++] = id;
            }
            if (out->more)
                break;
        }
    }
    out->n = n;
out:
    for (size_t i = 0; i < f.nowned; i++)
        roaring_bitmap_free(f.owned[i]);
    return rc;
}

/* The values of b from `from` on, at most max of them, into out; returns how many. Read from
 * the containers directly: roaring's iterator (allocated, then advanced container by
 * container through a generic reader) took 2,300 instructions for a page of 101 where a
 * bitset's words give a value in a few. */
static size_t page_read(const roaring_bitmap_t *b, uint32_t from, int64_t *out, size_t max)
{
    const roaring_array_t *ra = &b->high_low_container;
    size_t n = 0;

    for (int32_t i = 0; i < ra->size && n < max; i++) {
        uint32_t base = (uint32_t)ra->keys[i] << 16, lo;
        uint8_t t = ra->typecodes[i];
        const void *c;
        if (base + 0xFFFFu < from)
            continue;
        lo = from > base ? from - base : 0; /* the first value wanted, in the container */
        c = container_unwrap_shared(ra->containers[i], &t);
        if (t == BITSET_CONTAINER_TYPE_CODE) {
            const uint64_t *w = ((const bitset_container_t *)c)->array;
            for (uint32_t k = lo >> 6; k < WORDS && n < max; k++) {
                uint64_t word = w[k];
                if (k == lo >> 6)
                    word &= ~0ULL << (lo & 63);
                while (word && n < max) {
                    out[n++] = (int64_t)(base + k * 64 + (uint32_t)__builtin_ctzll(word));
                    word &= word - 1;
                }
            }
        } else if (t == ARRAY_CONTAINER_TYPE_CODE) {
            const array_container_t *ac = c;
            int32_t k = 0, z = ac->cardinality;
            while (k < z) { /* the first value >= lo */
                int32_t mid = (k + z) / 2;
                if (ac->array[mid] < lo)
                    k = mid + 1;
                else
                    z = mid;
            }
            for (; k < ac->cardinality && n < max; k++)
                out[n++] = (int64_t)(base + ac->array[k]);
        } else {
            const run_container_t *rc = c;
            for (int32_t k = 0; k < rc->n_runs && n < max; k++) {
                uint32_t v = rc->runs[k].value, z = v + rc->runs[k].length; /* inclusive */
                if (z < lo)
                    continue;
                for (v = v > lo ? v : lo; v <= z && n < max; v++)
                    out[n++] = (int64_t)(base + v);
            }
        }
    }
    return n;
}

int eng_query_run(const struct eng_snap *s, struct arena *a, const struct qnode *q,
                  const struct eng_query *o, struct eng_result *out, struct qerr *qe,
                  struct tg_err *err)
{
    struct qctx c;
    struct val v = {0};
    const struct eset *u = eng__set_find(s, o->ws_id, -1);
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.s = s;
    c.o = o;
    c.a = a;
    c.qe = qe;
    c.err = err;
    c.empty = roaring_bitmap_create();
    c.universe = u ? u->bm : c.empty;
    c.ugen = u ? u->gen : 0;
    if (eng__fused && (q->kind == QN_AND || q->kind == QN_OR || q->kind == QN_NOT)) {
        const roaring_bitmap_t *kind_set = NULL, *archived = NULL;
        struct val scope = {0};
        if (o->kind) {
            struct val k;
            eval_kind(&c, o->kind, &k);
            kind_set = k.b;
        }
        if (!o->archived && s->archived && !roaring_bitmap_is_empty(s->archived))
            archived = s->archived;
        if (o->within) {
            roaring_bitmap_t *one = roaring_bitmap_create();
            if (o->within > 0 && o->within < (int64_t)UINT32_MAX)
                roaring_bitmap_add(one, (uint32_t)o->within);
            scope = expand(s, owned(one));
        }
        rc = fused_run(&c, q, kind_set, archived, scope.b, out);
        out->aliases = c.aliases;
        val_drop(&scope);
        roaring_bitmap_free(c.empty);
        return rc;
    }
    rc = eval(&c, q, &v);
    if (rc == 0) {
        bool drop_archived =
            !o->archived && s->archived && !roaring_bitmap_is_empty(s->archived);
        const roaring_bitmap_t *res = v.b;
        /* A borrowed answer (one tag) is read in place; each filter makes a new one. */
        if (o->kind) {
            struct val k;
            eval_kind(&c, o->kind, &k);
            k = owned(bm_op(v.b, k.b, OP_AND));
            val_drop(&v);
            v = k;
        }
        if (drop_archived) {
            struct val k = owned(bm_op(v.b, s->archived, OP_ANDNOT));
            val_drop(&v);
            v = k;
        }
        if (v.own == NULL && o->within)
            v = owned(roaring_bitmap_copy(v.b));
        if (o->within) {
            /* The scope: the resource and everything below it in the resource tree. */
            roaring_bitmap_t *one = roaring_bitmap_create();
            struct val sub;
            if (o->within > 0 && o->within < (int64_t)UINT32_MAX)
                roaring_bitmap_add(one, (uint32_t)o->within);
            sub = expand(s, owned(one));
            roaring_bitmap_and_inplace(v.own, sub.b);
            val_drop(&sub);
        }
        res = v.b;
        /* A not at the top may reach other workspaces' ids only through the universe, and
         * every other term is per workspace, so the result is the caller's workspace. */
        out->total = cardinality(res, v.own ? 0 : v.gen);
        if (o->limit > 0) {
            size_t n = 0;
            out->ids = arena_alloc(a, ((size_t)o->limit + 1) * sizeof(int64_t));
            /* The page and one more (whether there is more). */
            n = o->after_id >= (int64_t)UINT32_MAX
                    ? 0
                    : page_read(res, o->after_id > 0 ? (uint32_t)o->after_id + 1 : 0, out->ids,
                                (size_t)o->limit + 1);
            out->more = n > (size_t)o->limit;
            out->n = out->more ? (size_t)o->limit : n;
        }
    }
    out->aliases = c.aliases;
    val_drop(&v);
    roaring_bitmap_free(c.empty);
    return rc;
}

/* ---- checks ---- */

/* expand() without its depth bound: what the effective bitmaps promise. */
static roaring_bitmap_t *expand_all(const struct eng_snap *s, const roaring_bitmap_t *in)
{
    roaring_bitmap_t *res = roaring_bitmap_copy(in), *f = roaring_bitmap_copy(in);

    while (!roaring_bitmap_is_empty(f)) {
        roaring_bitmap_t *next = roaring_bitmap_create();
        roaring_uint32_iterator_t it;
        roaring_init_iterator(f, &it);
        for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
            const struct eres *r = eng__res_at(s, it.current_value);
            if (r && r->children)
                roaring_bitmap_or_inplace(next, r->children);
        }
        roaring_bitmap_andnot_inplace(next, res);
        roaring_bitmap_or_inplace(res, next);
        roaring_bitmap_free(f);
        f = next;
    }
    roaring_bitmap_free(f);
    return res;
}

int eng__effective_check(const struct eng_snap *s, char *msg, size_t len)
{
    int bad = 0;

    if (len)
        msg[0] = '\0';
    for (uint32_t id = 0; id < s->ntags; id++) {
        const struct etag *t = s->tags[id];
        for (int k = 0; t && k < 2; k++) {
            const roaring_bitmap_t *src = k ? t->sub : t->direct, *have = k ? t->esub : t->eff;
            roaring_bitmap_t *want;
            bool ok;
            if (src == NULL) {
                ok = have == NULL;
            } else if (have == NULL) {
                ok = false;
            } else {
                want = expand_all(s, src);
                ok = roaring_bitmap_equals(want, have);
                roaring_bitmap_free(want);
            }
            if (!ok && bad++ == 0 && len)
                snprintf(msg, len, "tag %u: %s differs from expand(%s) (%llu members, %s)",
                         (unsigned)id, k ? "esub" : "eff", k ? "sub" : "direct",
                         have ? (unsigned long long)roaring_bitmap_get_cardinality(have) : 0ULL,
                         have ? "present" : "missing");
        }
    }
    return bad;
}
