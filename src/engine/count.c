/* engine/count.c: resources by how many of a set of tags they carry (eng_count_run), what tag
 * policies' violations are made of (core/policies.c): a resource of a kind without any tag of a
 * subtree, with more than so many of them, or with a tag outside the subtrees allowed.
 *
 * Everything is bitmap algebra over the tags' `direct` bitmaps and the workspace's kind sets,
 * so that a listing at millions of assignments costs a few bitmap operations per counted tag.
 * The levels: ge[j] holds the resources that carry at least j of the counted tags. Folding the
 * tags in one at a time, ge[j] |= ge[j-1] & T (for j from the top down, so that ge[j-1] is
 * still the count before T) keeps that true; "fewer than min" is the universe minus ge[min],
 * "more than max" is ge[max+1]. Only the levels up to the larger bound are kept. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "core/model.h"
#include "util/mem.h"

/* The first dict entry at or after (ws, key). */
static size_t dict_at(const struct eng_snap *s, int64_t ws, const char *key)
{
    size_t lo = 0, hi = s->ndict;
    struct dict_ent k = {ws, key, 0};

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (eng__cmp_dict(&s->dict[mid], &k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether name key `key` is picked by `p`: the name itself or, with its subtree, below it. */
static bool picked(const struct eng_pick *p, const char *key)
{
    size_t n = strlen(p->key);

    if (strncmp(key, p->key, n) != 0)
        return false;
    return key[n] == '\0' || (p->subtree && key[n] == '.');
}

struct counted {
    roaring_bitmap_t *ids;           /* the counted tags' ids */
    const roaring_bitmap_t **bms;    /* their direct bitmaps */
    size_t n, cap;
};

static void count_add(struct counted *c, const struct etag *t)
{
    if (t == NULL || t->deleted || roaring_bitmap_contains(c->ids, (uint32_t)t->id))
        return;
    roaring_bitmap_add(c->ids, (uint32_t)t->id);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->bms = xrealloc(c->bms, c->cap * sizeof(*c->bms));
    }
    c->bms[c->n++] = t->direct;
}

/* The live tags of the workspace the query counts. */
static void collect(const struct eng_snap *s, const struct eng_count_query *q,
                    struct counted *c)
{
    size_t i;

    if (q->invert) {
        for (i = dict_at(s, q->ws_id, ""); i < s->ndict && s->dict[i].ws_id == q->ws_id; i++) {
            bool any = false;
            for (size_t k = 0; k < q->npicks && !any; k++)
                any = picked(&q->picks[k], s->dict[i].key);
            if (!any)
                count_add(c, s->tags[s->dict[i].id]);
        }
        return;
    }
    for (size_t k = 0; k < q->npicks; k++) {
        const struct eng_pick *p = &q->picks[k];
        size_t n = strlen(p->key);
        /* Every name beginning with the key is one run of the dict ("a", "a-b", "a.c"). */
        for (i = dict_at(s, q->ws_id, p->key);
             i < s->ndict && s->dict[i].ws_id == q->ws_id &&
             strncmp(s->dict[i].key, p->key, n) == 0;
             i++)
            if (picked(p, s->dict[i].key))
                count_add(c, s->tags[s->dict[i].id]);
    }
}

/* The resources of the query's scope: its kind (or every kind) of the workspace, not
 * archived, within the scope of a scoped token. A new bitmap. */
static roaring_bitmap_t *scope(const struct eng_snap *s, const struct eng_count_query *q)
{
    const roaring_bitmap_t *u = NULL;
    roaring_bitmap_t *v;

    for (size_t i = 0; i < s->nsets && u == NULL; i++) {
        const struct eset *st = &s->sets[i];
        if (st->ws_id != q->ws_id)
            continue;
        if (q->kind ? st->kind >= 0 && strcmp(st->kname, q->kind) == 0 : st->kind == -1)
            u = st->bm;
    }
    v = u ? roaring_bitmap_copy(u) : roaring_bitmap_create();
    if (s->archived)
        roaring_bitmap_andnot_inplace(v, s->archived);
    if (q->within) {
        roaring_bitmap_t *sub = eng__resource_subtree(s, q->within);
        roaring_bitmap_and_inplace(v, sub);
        roaring_bitmap_free(sub);
    }
    return v;
}

/* The resources in `v` outside the query's bounds, as a new bitmap. */
static roaring_bitmap_t *outside(const struct eng_count_query *q, const struct counted *c,
                                 const roaring_bitmap_t *v)
{
    int levels = q->min > q->max + 1 ? q->min : q->max + 1;
    roaring_bitmap_t **ge, *out = roaring_bitmap_create();

    if (levels <= 0)
        return out;
    assert(levels <= ENG_COUNT_MAX);
    ge = xcalloc((size_t)levels + 1, sizeof(*ge));
    if (levels == 1) {
        ge[1] = c->n ? roaring_bitmap_or_many(c->n, c->bms) : roaring_bitmap_create();
    } else {
        for (int j = 1; j <= levels; j++)
            ge[j] = roaring_bitmap_create();
        for (size_t i = 0; i < c->n; i++) {
            /* Only the scope's resources matter: the levels stay as small as it. */
            roaring_bitmap_t *t = roaring_bitmap_and(c->bms[i], v);
            for (int j = levels; j >= 2; j--) {
                roaring_bitmap_t *both;
                if (roaring_bitmap_is_empty(ge[j - 1]))
                    continue;
                both = roaring_bitmap_and(ge[j - 1], t);
                roaring_bitmap_or_inplace(ge[j], both);
                roaring_bitmap_free(both);
            }
            roaring_bitmap_or_inplace(ge[1], t);
            roaring_bitmap_free(t);
        }
    }
    if (q->min > 0) {
        roaring_bitmap_t *low = roaring_bitmap_andnot(v, ge[q->min]);
        roaring_bitmap_or_inplace(out, low);
        roaring_bitmap_free(low);
    }
    if (q->max >= 0) {
        roaring_bitmap_t *high = roaring_bitmap_and(v, ge[q->max + 1]);
        roaring_bitmap_or_inplace(out, high);
        roaring_bitmap_free(high);
    }
    for (int j = 1; j <= levels; j++)
        roaring_bitmap_free(ge[j]);
    xfree(ge);
    return out;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* A hit for resource `id`: its kind, key and the counted tags it carries. */
static void hit(const struct eng_snap *s, struct arena *a, const struct counted *c, uint32_t id,
                struct eng_count_hit *h)
{
    const struct eres *r = eng__res_at(s, id);

    memset(h, 0, sizeof(*h));
    h->id = id;
    if (r == NULL)
        return;
    h->kind = arena_strdup(a, s->kinds[r->kind]);
    h->key = arena_strdup(a, r->key);
    h->tags = arena_alloc(a, (r->ntags ? r->ntags : 1) * sizeof(*h->tags));
    for (uint32_t j = 0; j < r->ntags; j++) {
        const struct etag *t;
        if (!roaring_bitmap_contains(c->ids, r->tags[j]))
            continue;
        t = eng__tag_at(s, r->tags[j]);
        h->tags[h->ntags++] = arena_strdup(a, t->name);
    }
    if (h->ntags > 1)
        qsort(h->tags, h->ntags, sizeof(*h->tags), cmp_str);
}

void eng_count_run(const struct eng_snap *s, struct arena *a, const struct eng_count_query *q,
                   struct eng_count_result *out)
{
    struct counted c = {roaring_bitmap_create(), NULL, 0, 0};
    roaring_bitmap_t *v, *found;
    roaring_uint32_iterator_t it;

    memset(out, 0, sizeof(*out));
    collect(s, q, &c);
    v = scope(s, q);
    found = outside(q, &c, v);
    out->total = roaring_bitmap_get_cardinality(found);
    if (q->limit > 0 && q->after_id < (int64_t)UINT32_MAX) {
        out->hits = arena_alloc(a, (size_t)q->limit * sizeof(*out->hits));
        roaring_init_iterator(found, &it);
        if (q->after_id > 0)
            roaring_move_uint32_iterator_equalorlarger(&it, (uint32_t)q->after_id + 1);
        while (it.has_value && out->n < (size_t)q->limit) {
            hit(s, a, &c, it.current_value, &out->hits[out->n++]);
            roaring_advance_uint32_iterator(&it);
        }
        out->more = it.has_value;
    }
    roaring_bitmap_free(found);
    roaring_bitmap_free(v);
    roaring_bitmap_free(c.ids);
    xfree(c.bms);
}
