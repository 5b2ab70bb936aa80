/* engine/catchup.c: engine_catch_up: bringing the engine to the store's newest revision, by
 * applying the assignment changes their change records describe, or by reading the touched
 * tags and resources again. */
#include "engine/engine.h"
#include "engine/engine_int.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/log.h"
#include "util/mem.h"

int eng__id32(int64_t id, const char *what, struct tg_err *err)
{
    if (id <= 0 || id >= (int64_t)UINT32_MAX)
        return tg_err_set(err, TG_EINTERNAL, "", "%s id %lld is out of the engine's range", what,
                          (long long)id);
    return 0;
}

static int sync_resource_tags(struct engine *e, struct store_conn *c, int64_t id,
                              struct tg_err *err);

/* The resource row `st` holds (SQL_ENG_RES_ONE's columns) into the build. */
static int put_row(struct engine *e, struct store_stmt *st, int64_t id, struct tg_err *err)
{
    int64_t ws = col_int(st, 1), parent = col_null(st, 3) ? 0 : col_int(st, 3);
    int kind = eng__kind_index(e, col_text(st, 2), err);
    int rc;

    if (kind < 0)
        return kind;
    if (parent && (rc = eng__id32(parent, "resource", err)) != 0)
        return rc;
    eng__res_set_row(e, (uint32_t)id, true, ws, kind, (uint32_t)parent, col_int(st, 4) != 0,
                     col_text(st, 5));
    return 0;
}

/* Deleted: its assignments were closed in the same revision. */
static void put_gone(struct engine *e, int64_t id)
{
    eng__res_set_tags(e, (uint32_t)id, NULL, 0);
    eng__res_set_row(e, (uint32_t)id, false, 0, 0, 0, false, NULL);
}

static int sync_resource(struct engine *e, struct store_conn *c, int64_t id, struct tg_err *err)
{
    struct store_stmt *st;
    int rc = eng__id32(id, "resource", err);

    if (rc)
        return rc;
    st = st_get(c, SQL_ENG_RES_ONE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    rc = st_step(st, err);
    if (rc == 1) {
        rc = put_row(e, st, id, err);
        st_reset(st);
        return rc ? rc : sync_resource_tags(e, c, id, err);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    put_gone(e, id);
    return 0;
}

/* Resources lo..hi, every one of them touched: as sync_resource does each, with two ranged
 * reads for them all. A chunk of an import creates thousands in a run of ids, and a read of
 * each one's row and of its tags was most of the publisher's statements. Every row is put
 * before any tags, where sync_resource interleaves them: a resource's effective tags are
 * brought up to date whichever of it and its ancestors changes last. */
static int sync_resource_range(struct engine *e, struct store_conn *c, int64_t lo, int64_t hi,
                               struct tg_err *err)
{
    struct asg_rows v = {0};
    struct store_stmt *st;
    int64_t next = lo;
    uint32_t *blk;
    bool *live;
    int rc;

    assert(lo < hi);
    if ((rc = eng__id32(lo, "resource", err)) != 0 || (rc = eng__id32(hi, "resource", err)) != 0)
        return rc;
    st = st_get(c, SQL_ENG_RES_RANGE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    live = xcalloc((size_t)(hi - lo + 1), sizeof(*live));
    st_int(st, 1, lo);
    st_int(st, 2, hi);
    while ((rc = st_step(st, err)) == 1) {
        int64_t id = col_int(st, 0);
        for (; next < id; next++)
            put_gone(e, next);
        rc = put_row(e, st, id, err);
        if (rc)
            break;
        live[id - lo] = true;
        next = id + 1;
    }
    st_reset(st);
    if (rc < 0)
        goto out;
    for (; next <= hi; next++)
        put_gone(e, next);
    st = st_get(c, SQL_ENG_RES_TAGS_RANGE, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
        goto out;
    }
    st_int(st, 1, lo);
    st_int(st, 2, hi);
    next = lo;
    for (;;) {
        int64_t id = hi + 1;
        rc = st_step(st, err);
        if (rc < 0)
            break;
        if (rc == 1)
            id = col_int(st, 0);
        /* The rows of `next` are all in v once a later resource's row (or the end) shows. */
        for (; next < id; next++) {
            if (!live[next - lo])
                continue;
            blk = eng__rows_block(&v);
            eng__res_set_tags(e, (uint32_t)next, blk, (uint32_t)v.n);
            xfree(blk);
            v.n = 0;
        }
        if (rc == 0)
            break;
        rc = eng__rows_push(e, &v, st, 1, err);
        if (rc)
            break;
    }
    st_reset(st);
out:
    eng__rows_free(&v);
    xfree(live);
    return rc < 0 ? rc : 0;
}

/* Reloads only the resource's assignments: enough after changes that are all assignments (the
 * resource's own row, and so its chunk entry's other fields, stayed as it was). */
static int sync_resource_tags(struct engine *e, struct store_conn *c, int64_t id,
                              struct tg_err *err)
{
    struct store_stmt *st = st_get(c, SQL_ENG_RES_TAGS, err);
    struct asg_rows v = {0};
    uint32_t *blk;
    int rc = 0;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    while ((rc = st_step(st, err)) == 1 && (rc = eng__rows_push(e, &v, st, 0, err)) == 0)
        ;
    st_reset(st);
    if (rc == 0) {
        blk = eng__rows_block(&v);
        eng__res_set_tags(e, (uint32_t)id, blk, (uint32_t)v.n);
        xfree(blk);
    }
    eng__rows_free(&v);
    return rc;
}

/* Ids a catch-up touched, sorted and made unique by dedup. */
struct touched {
    int64_t *v;
    size_t n, cap;
};

static void touch(struct touched *t, int64_t id)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    t->v[t->n++] = id;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static size_t dedup(struct touched *t)
{
    size_t k = 0;
    if (t->n)
        qsort(t->v, t->n, sizeof(*t->v), cmp_i64);
    for (size_t i = 0; i < t->n; i++)
        if (k == 0 || t->v[k - 1] != t->v[i])
            t->v[k++] = t->v[i];
    t->n = k;
    return k;
}

/* An assignment's add or removal as its change record tells it (core's add_one and
 * remove_one write them). */
enum { AOP_OTHER, AOP_ADD, AOP_REMOVE };
struct aop {
    int64_t rid, tag, id, at;
    uint32_t who; /* an add's (context, added_by), interned as loading does */
    size_t seq;   /* its place in the log: one resource's records apply in this order */
    uint8_t kind;
};

struct aops {
    struct aop *v;
    size_t n, cap;
};

/* What aop_read takes from a record: tag_id, id (0 when absent or not an integer) and
 * context (NULL when absent or not a string). */
struct aop_fields {
    int64_t tag_id, id;
    const char *context;
};

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Reads the record as core writes it: one flat object of integers and strings without
 * escapes. False for anything else (the caller asks jansson then). jansson's json_loads was
 * half of the publisher's instructions per add (about 17,000 for a 90-byte record: a
 * hashtable and an allocation per key); this costs a few hundred. The context is copied into
 * `buf`. */
static bool aop_scan(const char *p, char *buf, size_t cap, struct aop_fields *f)
{
    memset(f, 0, sizeof(*f));
    p = skip_ws(p);
    if (*p++ != '{')
        return false;
    p = skip_ws(p);
    if (*p == '}')
        return *skip_ws(p + 1) == '\0';
    for (;;) {
        const char *k, *v;
        size_t klen;
        if (*p++ != '"')
            return false;
        for (k = p; *p != '"'; p++)
            if (*p == '\\' || (unsigned char)*p < 0x20)
                return false;
        klen = (size_t)(p - k);
        p = skip_ws(p + 1);
        if (*p++ != ':')
            return false;
        p = skip_ws(p);
        v = p;
        if (*p == '"') {
            for (p++; *p != '"'; p++)
                if (*p == '\\' || (unsigned char)*p < 0x20)
                    return false;
            if (klen == 7 && memcmp(k, "context", 7) == 0) {
                size_t n = (size_t)(p - v - 1);
                if (n >= cap)
                    return false;
                memcpy(buf, v + 1, n);
                buf[n] = '\0';
                f->context = buf;
            }
            p++;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            int64_t x = 0;
            bool neg = *p == '-';
            int nd = 0;
            if (neg)
                p++;
            if (*p == '0' && p[1] >= '0' && p[1] <= '9')
                return false;
            for (; *p >= '0' && *p <= '9'; p++, nd++)
                x = x * 10 + (*p - '0');
            if (nd == 0 || nd > 18 || *p == '.' || *p == 'e' || *p == 'E')
                return false;
            if (neg)
                x = -x;
            if (klen == 6 && memcmp(k, "tag_id", 6) == 0)
                f->tag_id = x;
            else if (klen == 2 && memcmp(k, "id", 2) == 0)
                f->id = x;
        } else {
            return false;
        }
        if ((klen == 6 && memcmp(k, "tag_id", 6) == 0 && *v == '"') ||
            (klen == 2 && memcmp(k, "id", 2) == 0 && *v == '"'))
            return false; /* a string where a number belongs: let jansson's path decide */
        p = skip_ws(p);
        if (*p == '}')
            return *skip_ws(p + 1) == '\0';
        if (*p++ != ',')
            return false;
        p = skip_ws(p);
    }
}

static void aop_read(struct engine *e, struct aops *o, struct store_stmt *st, int64_t rid)
{
    struct aop *a;
    const char *op = col_text(st, 3), *after = col_text(st, 6);
    struct aop_fields f;
    char buf[256];
    json_t *j = NULL;

    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    a = &o->v[o->n];
    memset(a, 0, sizeof(*a));
    a->rid = rid;
    a->seq = o->n++;
    if (op == NULL || after == NULL)
        return;
    if (strcmp(op, "add") == 0)
        a->kind = AOP_ADD;
    else if (strcmp(op, "remove") == 0)
        a->kind = AOP_REMOVE;
    else
        return;
    if (!aop_scan(after, buf, sizeof(buf), &f)) {
        json_t *x;
        j = json_loads(after, 0, NULL);
        x = json_object_get(j, "tag_id");
        f.tag_id = json_is_integer(x) ? json_integer_value(x) : 0;
        x = json_object_get(j, "id");
        f.id = json_is_integer(x) ? json_integer_value(x) : 0;
        x = json_object_get(j, "context");
        f.context = json_is_string(x) ? json_string_value(x) : NULL;
    }
    a->tag = f.tag_id;
    if (a->kind == AOP_ADD) {
        /* Records written before they carried the row (id, context) are read again, and so
         * is the resource when the pair cannot be interned (the error comes back then). */
        a->id = f.id;
        a->at = col_int(st, 5);
        if (a->id <= 0 || f.context == NULL || col_null(st, 4) ||
            eng__who_intern(e, f.context, col_text(st, 4), &a->who, NULL) != 0)
            a->kind = AOP_OTHER;
    }
    if (a->tag <= 0 || a->tag >= (int64_t)UINT32_MAX)
        a->kind = AOP_OTHER;
    json_decref(j);
}

static int cmp_aop(const void *x, const void *y)
{
    const struct aop *a = x, *b = y;
    if (a->rid != b->rid)
        return a->rid < b->rid ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Applies one resource's adds and removals, in log order, to the block the engine holds: what
 * reading its rows again would give, without the reads. False, and nothing changed, when a
 * record does not fit that block (a row written before records carried it, a
 * tag purged in the range, whose id a new tag may hold by now; an add whose id is not above
 * every id the block holds, which would misplace it in the assigning order): the caller then
 * reads the rows. `floor` is the largest assignment id the engine had seen before this
 * catch-up: every block it had built holds ids up to it. `purged` is sorted. */
static bool aops_apply(struct engine *e, uint32_t rid, const struct aop *op, size_t nop,
                       int64_t floor, const struct touched *purged)
{
    const struct eres *r = eng__res_at(e->b, rid);
    uint32_t n = r->ntags, cap = r->ntags + (uint32_t)nop, *tags, *who, *ord, *blk;
    int64_t *at, max_id = floor;
    bool ok = true;

    for (size_t i = 0; i < nop; i++)
        if (op[i].kind == AOP_OTHER ||
            (purged->n && bsearch(&op[i].tag, purged->v, purged->n, sizeof(*purged->v), cmp_i64)))
            return false;
    tags = xmalloc(cap * sizeof(*tags));
    who = xmalloc(cap * sizeof(*who));
    ord = xmalloc(cap * sizeof(*ord));
    at = xmalloc(cap * sizeof(*at));
    if (n) {
        memcpy(tags, r->tags, n * sizeof(*tags));
        memcpy(who, B_WHO(r->tags, n), n * sizeof(*who));
        memcpy(at, B_AT(r->tags, n), n * sizeof(*at));
        memcpy(ord, B_ORD(r->tags, n), n * sizeof(*ord));
    }
    for (size_t i = 0; i < nop && ok; i++) {
        uint32_t t = (uint32_t)op[i].tag, k = 0;
        while (k < n && tags[k] < t)
            k++;
        if (op[i].kind == AOP_ADD) {
            uint32_t top = 0;
            if ((k < n && tags[k] == t) || eng__tag_at(e->b, t) == NULL || op[i].id <= max_id) {
                ok = false;
                break;
            }
            for (uint32_t j = 0; j < n; j++)
                if (ord[j] >= top)
                    top = ord[j] + 1;
            memmove(tags + k + 1, tags + k, (n - k) * sizeof(*tags));
            memmove(who + k + 1, who + k, (n - k) * sizeof(*who));
            memmove(at + k + 1, at + k, (n - k) * sizeof(*at));
            memmove(ord + k + 1, ord + k, (n - k) * sizeof(*ord));
            tags[k] = t;
            who[k] = op[i].who;
            at[k] = op[i].at;
            ord[k] = top;
            max_id = op[i].id;
            n++;
        } else {
            uint32_t gone;
            if (k == n || tags[k] != t) {
                ok = false;
                break;
            }
            gone = ord[k];
            memmove(tags + k, tags + k + 1, (n - k - 1) * sizeof(*tags));
            memmove(who + k, who + k + 1, (n - k - 1) * sizeof(*who));
            memmove(at + k, at + k + 1, (n - k - 1) * sizeof(*at));
            memmove(ord + k, ord + k + 1, (n - k - 1) * sizeof(*ord));
            n--;
            for (uint32_t j = 0; j < n; j++)
                ord[j] -= ord[j] > gone;
        }
    }
    if (ok) {
        blk = n ? xmalloc(B_SIZE(n)) : NULL;
        if (n) {
            memcpy(blk, tags, n * sizeof(*tags));
            memcpy(B_WHO(blk, n), who, n * sizeof(*who));
            memcpy(B_AT(blk, n), at, n * sizeof(*at));
            memcpy(B_ORD(blk, n), ord, n * sizeof(*ord));
        }
        eng__res_set_tags(e, rid, blk, n);
        xfree(blk);
        if (max_id > e->max_asg_id)
            e->max_asg_id = max_id;
    }
    xfree(tags);
    xfree(who);
    xfree(ord);
    xfree(at);
    return ok;
}

static int catch_up_locked(struct engine *e, struct store_conn *c, struct tg_err *err);

int engine_catch_up(struct engine *e, struct store_conn *c, struct tg_err *err)
{
    int rc;
    pthread_mutex_lock(&e->catch_mu);
    rc = catch_up_locked(e, c, err);
    pthread_mutex_unlock(&e->catch_mu);
    return rc;
}

static int catch_up_locked(struct engine *e, struct store_conn *c, struct tg_err *err)
{
    struct touched tags = {0}, res = {0}, purged = {0};
    struct aops ops = {0};
    bool aliases = false, groups = false;
    struct store_stmt *st;
    int64_t floor;
    int64_t rev;
    int rc;

    eng__build_begin(e);
    rev = e->b->rev;
    floor = e->max_asg_id;
    st = st_get(c, SQL_ENG_CHANGES, err);
    if (st == NULL) {
        rc = TG_EINTERNAL;
        goto out;
    }
    st_int(st, 1, rev);
    while ((rc = st_step(st, err)) == 1) {
        const char *entity = col_text(st, 1);
        int64_t id = col_int(st, 2);
        rev = col_int(st, 0);
        if (entity == NULL)
            continue;
        if (strcmp(entity, "tag") == 0) {
            const char *op = col_text(st, 3);
            touch(&tags, id);
            if (op && strcmp(op, "purge") == 0)
                touch(&purged, id);
        } else if (strcmp(entity, "resource") == 0) {
            touch(&res, id);
        } else if (strcmp(entity, "assignment") == 0) {
            aop_read(e, &ops, st, id);
        } else if (strcmp(entity, "alias") == 0) {
            aliases = true;
        } else if (strcmp(entity, "group") == 0) {
            groups = true;
        }
    }
    st_reset(st);
    if (rc < 0)
        goto out;
    if (rev == e->b->rev) {
        /* Nothing committed since: keep the current snapshot. */
        eng__build_abandon(e);
        rc = 0;
        goto out_done;
    }
    /* Tags first, so that resources find every tag they carry; a purged one is dropped
     * before, in case a tag made since holds its id. */
    dedup(&purged);
    for (size_t i = 0; i < purged.n; i++)
        if (purged.v[i] > 0 && purged.v[i] < (int64_t)UINT32_MAX)
            eng__tag_drop(e, (uint32_t)purged.v[i]);
    dedup(&tags);
    for (size_t i = 0; i < tags.n && rc == 0; i++)
        rc = eng__sync_tag(e, c, tags.v[i], err);
    if (rc == 0 && e->structure_dirty)
        eng__recompute_subtrees(e);
    if (rc == 0 && e->dict_dirty)
        eng__rebuild_dict(e);
    if (rc == 0 && aliases)
        rc = eng__aliases_load(e, c, err);
    if (rc == 0 && groups)
        rc = eng__pols_load(e, c, err);
    dedup(&res);
    for (size_t i = 0, m; i < res.n && rc == 0; i = m) {
        for (m = i + 1; m < res.n && res.v[m] == res.v[m - 1] + 1; m++)
            ;
        rc = m - i > 1 ? sync_resource_range(e, c, res.v[i], res.v[m - 1], err)
                       : sync_resource(e, c, res.v[i], err);
        atomic_fetch_add(m - i > 1 ? &e->ranged : &e->reread, m - i);
    }
    /* A resource whose changes were all assignments, and that the engine holds: its adds and
     * removals are applied from their records, or failing that its tags are read again (the
     * resource row's read and check were half of a catch-up's reads per add, the tags' read
     * most of the rest). */
    if (ops.n)
        qsort(ops.v, ops.n, sizeof(*ops.v), cmp_aop);
    for (size_t i = 0, k = 0, m; i < ops.n && rc == 0; i = m) {
        int64_t id = ops.v[i].rid;
        const struct eres *r;
        bool applied;
        for (m = i + 1; m < ops.n && ops.v[m].rid == id; m++)
            ;
        while (k < res.n && res.v[k] < id)
            k++;
        if (k < res.n && res.v[k] == id)
            continue; /* done above */
        r = id > 0 && id < (int64_t)UINT32_MAX ? eng__res_at(e->b, (uint32_t)id) : NULL;
        if (r == NULL || !(r->flags & R_EXISTS)) {
            atomic_fetch_add(&e->reread, 1);
            rc = sync_resource(e, c, id, err);
            continue;
        }
        applied = aops_apply(e, (uint32_t)id, ops.v + i, m - i, floor, &purged);
        atomic_fetch_add(applied ? &e->applied : &e->reread, 1);
        if (!applied)
            rc = sync_resource_tags(e, c, id, err);
    }
out:
    if (rc == 0) {
        e->b->rev = rev;
        /* The read may have begun early (store_begin_read_early): nothing it saw is
         * published before it is durable. */
        store_wait_durable(c);
        eng__build_publish(e);
    } else {
        log_error("engine: applying changes after revision %lld failed: %s",
                  (long long)e->cur->rev, err ? err->msg : "");
        eng__build_abandon(e);
    }
out_done:
    xfree(tags.v);
    xfree(res.v);
    xfree(purged.v);
    xfree(ops.v);
    return rc;
}

void engine_catch_up_stats(struct engine *e, uint64_t *applied, uint64_t *reread,
                           uint64_t *ranged)
{
    *ranged = atomic_load(&e->ranged);
    *applied = atomic_load(&e->applied);
    *reread = atomic_load(&e->reread);
}
