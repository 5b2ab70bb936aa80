/* engine/read.c: what a published snapshot answers besides queries: a resource's tags and
 * assignments, a tag's usage, the names of tags in use, tag lists. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "core/model.h"
#include "util/mem.h"

bool eng_resource_tags(const struct eng_snap *s, int64_t resource_id, const uint32_t **tags,
                       size_t *n)
{
    const struct eres *r;
    if (resource_id <= 0 || resource_id >= (int64_t)UINT32_MAX)
        return false;
    r = eng__res_at(s, (uint32_t)resource_id);
    if (r == NULL || !(r->flags & R_EXISTS))
        return false;
    *tags = r->tags;
    *n = r->ntags;
    return true;
}

/* ---- assignments of a resource ---- */

static int cmp_asg_name(const void *x, const void *y, void *rank)
{
    uint32_t a = ((const uint32_t *)rank)[((const struct eng_asg *)x)->tag->id];
    uint32_t b = ((const uint32_t *)rank)[((const struct eng_asg *)y)->tag->id];
    return a < b ? -1 : a > b;
}

/* A resource's assignments by the tags' name rank (unique per tag). A level mostly holds a
 * few dozen entries: insertion sort there, as qsort_r's merge sort (it allocates) was a tenth
 * of an effective-tags read. */
static void sort_by_rank(struct eng_asg *v, size_t n, const uint32_t *rank)
{
    if (n > 32) {
        qsort_r(v, n, sizeof(*v), cmp_asg_name, (void *)rank);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct eng_asg x = v[i];
        uint32_t rx = rank[x.tag->id];
        size_t j = i;
        while (j > 0 && rank[v[j - 1].tag->id] > rx) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

bool eng__chain_winners(const struct eng_snap *s, struct arena *a, const struct eres *r,
                        int max_depth, struct eng_winners *w)
{
    w->n = 0;
    w->group = w->g0;
    w->level = w->l0;
    w->cap = sizeof(w->g0) / sizeof(w->g0[0]);
    for (int depth = 0;; depth++) {
        for (uint32_t j = 0; j < r->ntags; j++) {
            const struct etag *t = eng__tag_at(s, r->tags[j]);
            enum group_conflict cf;
            size_t k;
            if (t == NULL || t->rec->deleted)
                continue;
            cf = eng__pol_of(s, t->rec->group_id);
            if (cf != CONFLICT_CHILD_WINS && cf != CONFLICT_PARENT_WINS)
                continue;
            for (k = 0; k < w->n && w->group[k] != t->rec->group_id; k++)
                ;
            if (k == w->n) {
                if (w->n == w->cap) {
                    int64_t *g = arena_alloc(a, 2 * w->cap * sizeof(*g));
                    int *l = arena_alloc(a, 2 * w->cap * sizeof(*l));
                    memcpy(g, w->group, w->n * sizeof(*g));
                    memcpy(l, w->level, w->n * sizeof(*l));
                    w->group = g;
                    w->level = l;
                    w->cap *= 2;
                }
                w->group[w->n] = t->rec->group_id;
                w->level[w->n++] = depth;
            } else if (cf == CONFLICT_PARENT_WINS) {
                w->level[k] = depth; /* levels only grow: the farthest so far */
            }
        }
        if (r->parent == 0 || depth + 1 >= max_depth)
            return true;
        r = eng__res_at(s, r->parent);
        if (r == NULL || !(r->flags & R_EXISTS))
            return false;
    }
}

bool eng__wins(const struct eng_winners *w, const struct etag *t, int depth)
{
    if (w->n == 0 || t->rec->group_id == 0)
        return true;
    for (size_t k = 0; k < w->n; k++)
        if (w->group[k] == t->rec->group_id)
            return w->level[k] == depth;
    return true;
}

bool eng_assignments(const struct eng_snap *s, struct arena *a, int64_t ws_id,
                     int64_t resource_id, bool effective, int max_depth, struct eng_asg **out,
                     size_t *n)
{
    const struct eres *r;
    struct eng_asg *v = NULL;
    struct eng_winners win;
    size_t len = 0, cap = 0;
    uint32_t id;

    if (resource_id <= 0 || resource_id >= (int64_t)UINT32_MAX)
        return false;
    id = (uint32_t)resource_id;
    r = eng__res_at(s, id);
    if (r == NULL || !(r->flags & R_EXISTS) || r->ws != (uint32_t)ws_id)
        return false;
    /* Groups with a conflict policy: which level of each one's tags stays, found first (a
     * parent-wins group's farthest holder is known only at the chain's end). Without any
     * such group in the snapshot, nothing of this runs. */
    win.n = 0;
    if (effective && s->pols && s->pols->n && !eng__chain_winners(s, a, r, max_depth, &win))
        return false;
    for (int depth = 0;; depth++) {
        size_t level = len;
        for (uint32_t j = 0; j < r->ntags; j++) {
            const struct etag *t = eng__tag_at(s, r->tags[j]);
            const struct who *w;
            bool dup = false;
            if (t == NULL || t->rec->deleted)
                continue;
            if (win.n && !eng__wins(&win, t, depth))
                continue;
            /* Nearest wins: a tag already listed (direct or from a nearer ancestor) is not
             * listed again. */
            for (size_t k = 0; k < level && !dup; k++)
                dup = v[k].tag->id == t->id;
            if (dup)
                continue;
            if (len == cap) {
                struct eng_asg *nv;
                cap = cap ? cap * 2 : 16;
                nv = arena_alloc(a, cap * sizeof(*nv));
                if (len)
                    memcpy(nv, v, len * sizeof(*nv));
                v = nv;
            }
            w = eng__who_at(s->who_dir, B_WHO(r->tags, r->ntags)[j]);
            v[len].tag = t->rec;
            v[len].context = w->context;
            v[len].added_by = w->added_by;
            v[len].added_at = B_AT(r->tags, r->ntags)[j];
            v[len].seq = B_ORD(r->tags, r->ntags)[j];
            v[len].resource_id = id;
            v[len].from_id = depth ? id : 0;
            v[len].from_kind = depth ? s->kinds[r->kind] : NULL;
            v[len++].from_key = depth ? r->key : NULL;
        }
        if (len - level > 1)
            sort_by_rank(v + level, len - level, s->rank);
        if (!effective || r->parent == 0 || depth + 1 >= max_depth)
            break;
        id = r->parent;
        r = eng__res_at(s, id);
        if (r == NULL || !(r->flags & R_EXISTS))
            return false; /* a parent the engine has not seen yet: let the store answer */
    }
    *out = v;
    *n = len;
    return true;
}

/* ---- tag usage ---- */

const struct tag *eng_tag_record(const struct eng_snap *s, int64_t id)
{
    const struct etag *t = eng__tag_at(s, id);
    return t ? t->rec : NULL;
}

const struct tag *eng_tag_by_key(const struct eng_snap *s, int64_t ws, const char *key)
{
    const struct etag *t = eng__dict_find(s, ws, key);
    return t ? t->rec : NULL;
}

bool eng_tag_usage(const struct eng_snap *s, int64_t tag_id, int64_t ws_id, bool descendants,
                   int64_t after_id, size_t want, int64_t *ids, size_t *n, int64_t *total_out)
{
    const struct etag *t = eng__tag_at(s, tag_id);
    const roaring_bitmap_t *b;
    roaring_uint32_iterator_t it;

    *n = 0;
    if (total_out)
        *total_out = 0;
    /* A deleted tag's live descendants (restored alone) are left to the store. */
    if (t == NULL || t->ws_id != ws_id || (t->deleted && descendants))
        return false;
    if (t->deleted)
        return true;
    b = descendants && t->sub ? t->sub : t->direct;
    if (total_out)
        *total_out = (int64_t)roaring_bitmap_get_cardinality(b);
    if (after_id >= (int64_t)UINT32_MAX)
        return true;
    roaring_init_iterator(b, &it);
    if (!roaring_move_uint32_iterator_equalorlarger(&it, (uint32_t)(after_id < 0 ? 0 : after_id + 1)))
        return true;
    while (it.has_value && *n < want) {
        ids[(*n)++] = it.current_value;
        roaring_advance_uint32_iterator(&it);
    }
    return true;
}

/* ---- names of tags in use ---- */

static size_t dict_lower(const struct eng_snap *s, int64_t ws, const char *key);

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

void eng_tag_names_in_use(const struct eng_snap *s, int64_t ws_id, const char *const *kinds,
                          size_t nkinds, bool archived, const char *prefix, struct arena *a,
                          const char ***out, size_t *n)
{
    roaring_bitmap_t *scope = roaring_bitmap_create();
    size_t plen = prefix ? strlen(prefix) : 0, cap = 0;
    const char **v = NULL;

    *n = 0;
    for (size_t i = 0; i < s->nsets; i++) {
        const struct eset *st = &s->sets[i];
        bool want = false;
        if (st->ws_id != ws_id)
            continue;
        if (nkinds == 0)
            want = st->kind == -1;
        else
            for (size_t k = 0; k < nkinds && !want; k++)
                want = st->kname && kinds[k] && strcmp(st->kname, kinds[k]) == 0;
        if (want)
            roaring_bitmap_or_inplace(scope, st->bm);
    }
    if (!archived && s->archived)
        roaring_bitmap_andnot_inplace(scope, s->archived);
    for (size_t i = dict_lower(s, ws_id, ""); i < s->ndict && s->dict[i].ws_id == ws_id &&
                                               !roaring_bitmap_is_empty(scope);
         i++) {
        const struct etag *t = s->tags[s->dict[i].id];
        /* An archived tag counts as an archived resource does: only with `archived`. */
        if (t->deleted || (!archived && t->rec->archived) ||
            (plen && strncmp(t->name, prefix, plen) != 0) ||
            !roaring_bitmap_intersect(t->direct, scope))
            continue;
        if (*n == cap) {
            const char **nv;
            cap = cap ? cap * 2 : 64;
            nv = arena_alloc(a, cap * sizeof(*nv));
            if (*n)
                memcpy(nv, v, *n * sizeof(*nv));
            v = nv;
        }
        v[(*n)++] = t->name;
    }
    roaring_bitmap_free(scope);
    if (*n > 1)
        qsort(v, *n, sizeof(*v), cmp_str);
    *out = v;
}

/* ---- tag lists ---- */

/* The first dictionary entry at or after (ws, key). */
static size_t dict_lower(const struct eng_snap *s, int64_t ws, const char *key)
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

static bool mode_ok(int mode, bool flag)
{
    return mode == 1 || (mode == 0 && !flag) || (mode == 2 && flag);
}

static bool tag_matches(const struct etag *t, const struct eng_tag_filter *f,
                        const roaring_bitmap_t *kind_set)
{
    const struct tag *r = t->rec;

    if (!mode_ok(f->archived, r->archived) || !mode_ok(f->deleted, r->deleted))
        return false;
    if (f->state == 9 ? r->state == TAG_DRAFT : f->state && f->state != 1 + (int)r->state)
        return false;
    if (f->q && strstr(t->key, f->q) == NULL)
        return false;
    if (f->source && (r->source == NULL || strcmp(r->source, f->source) != 0))
        return false;
    if (f->excluded_source && (r->source == NULL || strcmp(r->source, f->excluded_source) == 0))
        return false;
    if (f->group_id && r->group_id != f->group_id)
        return false;
    if (f->parent_id && r->parent_id != f->parent_id)
        return false;
    if (f->kind && (kind_set == NULL || !roaring_bitmap_intersect(t->direct, kind_set)))
        return false;
    return true;
}

void eng_tag_list(const struct eng_snap *s, const struct eng_tag_filter *f, const struct tag **out,
                  size_t cap, size_t *n, int64_t *total)
{
    const roaring_bitmap_t *kind_set = NULL;
    size_t plen = f->prefix ? strlen(f->prefix) : 0;

    *n = 0;
    *total = 0;
    if (f->kind) {
        for (size_t i = 0; i < s->nsets && kind_set == NULL; i++)
            if (s->sets[i].ws_id == f->ws_id && s->sets[i].kname &&
                strcmp(s->sets[i].kname, f->kind) == 0)
                kind_set = s->sets[i].bm;
        if (kind_set == NULL)
            return; /* no resource of that kind: no tag is used on one */
    }
    for (size_t i = dict_lower(s, f->ws_id, f->prefix ? f->prefix : ""); i < s->ndict; i++) {
        const struct dict_ent *d = &s->dict[i];
        const struct etag *t;
        if (d->ws_id != f->ws_id || (plen && strncmp(d->key, f->prefix, plen) != 0))
            break;
        t = s->tags[d->id];
        if (!tag_matches(t, f, kind_set))
            continue;
        (*total)++;
        if (*n < cap && (f->after == NULL || strcmp(d->key, f->after) > 0))
            out[(*n)++] = t->rec;
    }
}

/* ---- inherited changes ---- */

static int cmp_i64_asc(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

bool eng_inherited(const struct eng_snap *s, int64_t resource_id, int64_t tag_id,
                   struct eng_inherited *out, int64_t *ids, size_t cap)
{
    const struct etag *t;
    const struct eres *r;
    uint32_t *stk = NULL;
    size_t n = 0, scap = 0;

    memset(out, 0, sizeof(*out));
    if (resource_id <= 0 || resource_id >= (int64_t)UINT32_MAX || tag_id <= 0 ||
        tag_id >= (int64_t)UINT32_MAX)
        return false;
    r = eng__res_at(s, (uint32_t)resource_id);
    t = eng__tag_at(s, tag_id);
    if (r == NULL || !(r->flags & R_EXISTS))
        return false;
    out->has_children = r->children && !roaring_bitmap_is_empty(r->children);
    /* eff(T) holds a resource exactly when it or an ancestor is in direct(T) (engine_int.h,
     * struct etag). Whether the resource itself is in direct(T) or not, every resource below
     * its parent that has no nearer holder of T follows it: when the parent inherits T, none
     * of them changes; else the resource and each descendant above the next holder do. */
    if (t && r->parent && roaring_bitmap_contains(t->eff, r->parent))
        return true;
    out->self = true;
    if (!out->has_children)
        return true;
    for (;;) {
        roaring_uint32_iterator_t it;
        if (r && r->children) {
            roaring_init_iterator(r->children, &it);
            for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
                if (t && roaring_bitmap_contains(t->direct, it.current_value))
                    continue; /* holds T itself: so does its subtree, before and after */
                out->descendants++;
                if (ids && out->nids < cap)
                    ids[out->nids++] = it.current_value;
                if (n == scap) {
                    scap = scap ? scap * 2 : 64;
                    stk = xrealloc(stk, scap * sizeof(*stk));
                }
                stk[n++] = it.current_value;
            }
        }
        if (n == 0)
            break;
        r = eng__res_at(s, stk[--n]);
        if (r && !(r->flags & R_EXISTS))
            r = NULL;
    }
    xfree(stk);
    if (out->nids > 1)
        qsort(ids, out->nids, sizeof(*ids), cmp_i64_asc);
    return true;
}

/* The live tags resource `id` carries effectively (its own and its ancestors'); none for 0 or
 * a resource the snapshot does not know (made by the same write). */
static roaring_bitmap_t *chain_tags(const struct eng_snap *s, int64_t id)
{
    roaring_bitmap_t *b = roaring_bitmap_create();

    for (int d = 0; id > 0 && id < (int64_t)UINT32_MAX && d < 4096; d++) {
        const struct eres *r = eng__res_at(s, (uint32_t)id);
        if (r == NULL || !(r->flags & R_EXISTS))
            break;
        for (uint32_t j = 0; j < r->ntags; j++) {
            const struct etag *t = eng__tag_at(s, r->tags[j]);
            if (t && !t->rec->deleted)
                roaring_bitmap_add(b, r->tags[j]);
        }
        id = r->parent;
    }
    return b;
}

/* The descendants of r that have no nearer holder of t (nor hold it themselves), into `into`. */
static void below_without(const struct eng_snap *s, const struct eres *r, const struct etag *t,
                          roaring_bitmap_t *into)
{
    uint32_t *stk = NULL;
    size_t n = 0, scap = 0;

    for (;;) {
        roaring_uint32_iterator_t it;
        if (r && r->children) {
            roaring_init_iterator(r->children, &it);
            for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
                if (roaring_bitmap_contains(t->direct, it.current_value))
                    continue; /* holds t itself: so does its subtree, wherever it is */
                roaring_bitmap_add(into, it.current_value);
                if (n == scap) {
                    scap = scap ? scap * 2 : 64;
                    stk = xrealloc(stk, scap * sizeof(*stk));
                }
                stk[n++] = it.current_value;
            }
        }
        if (n == 0)
            break;
        r = eng__res_at(s, stk[--n]);
        if (r && !(r->flags & R_EXISTS))
            r = NULL;
    }
    xfree(stk);
}

bool eng_moved(const struct eng_snap *s, int64_t resource_id, int64_t from, int64_t to,
               size_t cap, bool self_only, struct eng_moved *out)
{
    const struct eres *r;
    roaring_bitmap_t *was, *now, *delta, *all, **each;
    roaring_uint32_iterator_t it;
    uint64_t listed = 0;
    size_t k = 0;

    memset(out, 0, sizeof(*out));
    if (resource_id <= 0 || resource_id >= (int64_t)UINT32_MAX)
        return false;
    r = eng__res_at(s, (uint32_t)resource_id);
    if (r == NULL || !(r->flags & R_EXISTS))
        return false;
    out->has_children = !self_only && r->children && !roaring_bitmap_is_empty(r->children);
    was = chain_tags(s, from);
    now = chain_tags(s, to);
    delta = roaring_bitmap_xor(was, now);
    all = roaring_bitmap_create();
    out->ntags = (size_t)roaring_bitmap_get_cardinality(delta);
    out->tags = xcalloc(out->ntags ? out->ntags : 1, sizeof(*out->tags));
    each = xcalloc(out->ntags ? out->ntags : 1, sizeof(*each));
    roaring_init_iterator(delta, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it), k++) {
        const struct etag *t = eng__tag_at(s, it.current_value);
        struct eng_moved_tag *x = &out->tags[k];
        x->tag_id = it.current_value;
        x->add = roaring_bitmap_contains(now, it.current_value);
        each[k] = roaring_bitmap_create();
        /* A tag of the chain is live, so the snapshot knows it. */
        if (t == NULL || roaring_bitmap_contains(t->direct, (uint32_t)resource_id))
            continue;
        x->self = out->self = true;
        if (out->has_children)
            below_without(s, r, t, each[k]);
        x->descendants = (int64_t)roaring_bitmap_get_cardinality(each[k]);
        listed += (uint64_t)x->descendants;
        roaring_bitmap_or_inplace(all, each[k]);
    }
    out->descendants = (int64_t)roaring_bitmap_get_cardinality(all);
    out->listed = listed <= cap;
    for (k = 0; k < out->ntags; k++) {
        struct eng_moved_tag *x = &out->tags[k];
        if (out->listed && x->descendants > 0) {
            uint32_t *v = xmalloc((size_t)x->descendants * sizeof(*v));
            roaring_bitmap_to_uint32_array(each[k], v);
            x->ids = xmalloc((size_t)x->descendants * sizeof(*x->ids));
            for (int64_t i = 0; i < x->descendants; i++)
                x->ids[i] = v[i];
            xfree(v);
        }
        roaring_bitmap_free(each[k]);
    }
    xfree(each);
    roaring_bitmap_free(all);
    roaring_bitmap_free(delta);
    roaring_bitmap_free(was);
    roaring_bitmap_free(now);
    return true;
}

void eng_moved_release(struct eng_moved *m)
{
    for (size_t k = 0; k < m->ntags; k++)
        xfree(m->tags[k].ids);
    xfree(m->tags);
    memset(m, 0, sizeof(*m));
}

bool eng_tag_effective(const struct eng_snap *s, int64_t tag_id, int64_t *ids, size_t cap,
                       size_t *n, int64_t *total)
{
    const struct etag *t = tag_id > 0 && tag_id < (int64_t)UINT32_MAX ? eng__tag_at(s, tag_id)
                                                                       : NULL;
    roaring_uint32_iterator_t it;

    *n = 0;
    *total = 0;
    if (t == NULL)
        return false;
    *total = (int64_t)roaring_bitmap_get_cardinality(t->eff);
    roaring_init_iterator(t->eff, &it);
    for (; it.has_value && *n < cap; roaring_advance_uint32_iterator(&it))
        ids[(*n)++] = it.current_value;
    return true;
}

bool eng_resource_related(const struct eng_snap *s, int64_t a, int64_t b)
{
    int64_t ends[2][2] = {{a, b}, {b, a}};

    if (a == b)
        return true;
    for (int k = 0; k < 2; k++) {
        int64_t x = ends[k][0];
        /* The bound only guards against a cycle that a batch passes through. */
        for (int d = 0; x > 0 && x < (int64_t)UINT32_MAX && d < 4096; d++) {
            const struct eres *r = eng__res_at(s, (uint32_t)x);
            if (r == NULL || !(r->flags & R_EXISTS))
                break;
            x = r->parent;
            if (x == ends[k][1])
                return true;
        }
    }
    return false;
}

size_t eng_resource_chain(const struct eng_snap *s, int64_t id, int64_t *out, size_t cap,
                          bool *has_children)
{
    size_t n = 0;

    *has_children = false;
    for (int d = 0; id > 0 && id < (int64_t)UINT32_MAX && n < cap && d < 4096; d++) {
        const struct eres *r = eng__res_at(s, (uint32_t)id);
        if (r == NULL || !(r->flags & R_EXISTS))
            break;
        if (n == 0)
            *has_children = r->children && !roaring_bitmap_is_empty(r->children);
        out[n++] = id;
        id = r->parent;
    }
    return n;
}
