/* core/events.c: the change stream's cursor and filters (core/events.h). */
#include "core/events.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/core_int.h"
#include "util/arena.h"
#include "util/jw.h"
#include "util/sbuf.h"

static bool parse_i64(const char *s, const char **end, int64_t *out)
{
    char *e;
    long long v;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoll(s, &e, 10);
    if (errno || v < 0)
        return false;
    *out = v;
    *end = e;
    return true;
}

bool event_cursor_parse(const char *s, struct event_cursor *out)
{
    const char *end;

    if (s == NULL || !parse_i64(s, &end, &out->rev))
        return false;
    if (*end == '\0') {
        out->seq = EVENT_SEQ_ALL;
        return true;
    }
    if (*end != '-' || !parse_i64(end + 1, &end, &out->seq) || *end != '\0')
        return false;
    return true;
}

void event_cursor_format(int64_t rev, int64_t seq, char *buf, size_t cap)
{
    snprintf(buf, cap, "%" PRId64 "-%" PRId64, rev, seq);
}

bool event_after(const struct event_cursor *c, int64_t rev, int64_t seq)
{
    return rev > c->rev || (rev == c->rev && seq > c->seq);
}

bool event_tag_match(const char *pat, const char *name)
{
    size_t n = strlen(pat);

    if (name == NULL)
        return false;
    if (n >= 2 && pat[n - 2] == '.' && pat[n - 1] == '*') {
        /* "A.*": A itself and every tag below it, never "AB". */
        n -= 2;
        return strncasecmp(pat, name, n) == 0 && (name[n] == '\0' || name[n] == '.');
    }
    return strcasecmp(pat, name) == 0;
}

/* A string member of the record's after (else before) JSON, copied to the context's arena. */
static const char *member(struct core_ctx *cx, const struct change *c, const char *key,
                          int64_t *num)
{
    const char *docs[2] = {c->after, c->before};
    const char *res = NULL;

    for (int i = 0; i < 2 && res == NULL && (num == NULL || *num == 0); i++) {
        json_t *o, *v;
        if (docs[i] == NULL || docs[i][0] != '{')
            continue;
        o = json_loads(docs[i], 0, NULL);
        if (o == NULL)
            continue;
        v = json_object_get(o, key);
        if (json_is_string(v))
            res = arena_strdup(cx->a, json_string_value(v));
        else if (json_is_integer(v) && num)
            *num = json_integer_value(v);
        json_decref(o);
    }
    return res;
}

/* The tag a record is about: a tag's own name, an assignment's tag (by name when the record
 * has it, else by id). NULL for records about no tag. */
static const char *record_tag(struct core_ctx *cx, const struct change *c)
{
    if (strcmp(c->entity, "tag") == 0)
        return member(cx, c, "name", NULL);
    if (strcmp(c->entity, "assignment") == 0) {
        int64_t id = 0;
        const char *name = member(cx, c, "tag", NULL);
        struct tag t;
        if (name)
            return name;
        (void)member(cx, c, "tag_id", &id);
        if (id > 0 && core_tag_get(cx, id, &t, NULL) == 0)
            return t.name;
    }
    return NULL;
}

/* The resource a record touches: 0 for records about no resource. */
static int64_t record_resource(const struct change *c)
{
    if (strcmp(c->entity, "resource") == 0 || strcmp(c->entity, "assignment") == 0)
        return c->entity_id;
    return 0;
}

/* An integer member of a JSON object's text (0 when absent or not one). */
static int64_t doc_int(const char *doc, const char *key)
{
    json_t *o, *v;
    int64_t out = 0;

    if (doc == NULL || doc[0] != '{')
        return 0;
    o = json_loads(doc, 0, NULL);
    v = json_object_get(o, key);
    if (json_is_integer(v))
        out = json_integer_value(v);
    json_decref(o);
    return out;
}

/* True when record c (about resource `res`, 0 for none) touches the subtree of `anc`: its
 * resource lies in it, or, for a resource record, its parent before or after the change does:
 * a resource moved in or out, or deleted, is seen from both sides. In the tree as it was at
 * the end of the record's revision (a resource deleted then where it was), so that whether a
 * record passes does not depend on when it is read. */
static bool touches(struct core_ctx *cx, const struct change *c, int64_t res, int64_t anc)
{
    int64_t p;

    if (res == 0)
        return false;
    if (core_resource_within_at(cx, res, anc, c->rev))
        return true;
    if (strcmp(c->entity, "resource") != 0)
        return false;
    p = doc_int(c->before, "parent_id");
    if (p && core_resource_within_at(cx, p, anc, c->rev))
        return true;
    p = doc_int(c->after, "parent_id");
    return p && core_resource_within_at(cx, p, anc, c->rev);
}

bool event_match(struct core_ctx *cx, const struct event_filter *f, const struct change *c)
{
    int64_t res = record_resource(c);
    bool ok;

    if (cx->who.resource_id > 0 && !touches(cx, c, res, cx->who.resource_id))
        return false;
    if (f->nentity) {
        ok = false;
        for (int i = 0; i < f->nentity && !ok; i++)
            ok = strcmp(f->entity[i], c->entity) == 0;
        if (!ok)
            return false;
    }
    if (f->ntag) {
        const char *name = record_tag(cx, c);
        ok = false;
        for (int i = 0; i < f->ntag && !ok; i++)
            ok = event_tag_match(f->tag[i], name);
        if (!ok)
            return false;
    }
    if (f->nkind) {
        /* Only resource records carry their kind. */
        const char *kind = strcmp(c->entity, "resource") == 0 ? member(cx, c, "kind", NULL)
                                                             : NULL;
        ok = false;
        for (int i = 0; i < f->nkind && !ok && kind; i++)
            ok = strcmp(f->kind[i], kind) == 0;
        if (!ok)
            return false;
    }
    if (f->resource > 0 && !touches(cx, c, res, f->resource))
        return false;
    if (f->workspace > 0 && c->ws_id != f->workspace)
        return false;
    if (f->nprincipal) {
        ok = false;
        for (int i = 0; i < f->nprincipal && !ok && c->principal; i++)
            ok = strcmp(f->principal[i], c->principal) == 0;
        if (!ok)
            return false;
    }
    return true;
}

#define FILTER_VALUE_MAX 128

static int filter_list(struct event_filter *f, const char *which, const char ***list, int **n)
{
    if (strcmp(which, "entity") == 0) {
        *list = f->entity;
        *n = &f->nentity;
    } else if (strcmp(which, "tag") == 0) {
        *list = f->tag;
        *n = &f->ntag;
    } else if (strcmp(which, "kind") == 0) {
        *list = f->kind;
        *n = &f->nkind;
    } else if (strcmp(which, "principal") == 0) {
        *list = f->principal;
        *n = &f->nprincipal;
    } else {
        return -1;
    }
    return 0;
}

int event_filter_add(struct arena *a, struct event_filter *f, const char *which,
                     const char *list, struct tg_err *err)
{
    const char **vals;
    int *n;

    if (filter_list(f, which, (const char ***)&vals, &n) != 0)
        return tg_err_set(err, TG_EINVAL, which, "unknown filter '%s'", which);
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len > FILTER_VALUE_MAX)
            return tg_err_set(err, TG_EINVAL, which,
                              "each value of %s must have 1 to %d characters", which,
                              FILTER_VALUE_MAX);
        if (*n == EVENT_MAX_FILTER)
            return tg_err_set(err, TG_EINVAL, which, "at most %d values of %s",
                              EVENT_MAX_FILTER, which);
        vals[(*n)++] = arena_strndup(a, p, len);
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return 0;
}

int event_filter_parse(struct arena *a, const char *json, struct event_filter *f,
                       struct tg_err *err)
{
    const char *k;
    json_t *o, *v;
    int rc = 0;

    memset(f, 0, sizeof(*f));
    if (json == NULL || *json == '\0')
        return 0;
    o = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return tg_err_set(err, TG_EINVAL, "filters", "filters must be a JSON object");
    }
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "resource") == 0) {
            if (json_is_null(v))
                continue;
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                rc = tg_err_set(err, TG_EINVAL, "resource",
                                "filters.resource must be a resource id");
                break;
            }
            f->resource = json_integer_value(v);
            continue;
        }
        if (strcmp(k, "workspace") == 0) {
            /* ws_N or N, as GET /v1/changes takes it; whether it is one of the organization's
             * is the caller's to check (core_webhook_create). */
            if (json_is_null(v))
                continue;
            if (json_is_integer(v) && json_integer_value(v) >= 1) {
                f->workspace = json_integer_value(v);
                continue;
            }
            if (!json_is_string(v) || !core_parse_id(json_string_value(v), "ws_", &f->workspace) ||
                f->workspace < 1) {
                f->workspace = 0;
                rc = tg_err_set(err, TG_EINVAL, "workspace", "filters.workspace is ws_N or N");
                break;
            }
            continue;
        }
        if (strcmp(k, "entity") != 0 && strcmp(k, "tag") != 0 && strcmp(k, "kind") != 0 &&
            strcmp(k, "principal") != 0) {
            rc = tg_err_set(err, TG_EINVAL, k,
                            "unknown filter '%.64s' (entity, tag, kind, principal, resource, "
                            "workspace)",
                            k);
            break;
        }
        if (json_is_string(v)) {
            rc = event_filter_add(a, f, k, json_string_value(v), err);
        } else if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if (!json_is_string(e) || strchr(json_string_value(e), ',')) {
                    rc = tg_err_set(err, TG_EINVAL, k,
                                    "filters.%s must hold strings without commas", k);
                    break;
                }
                rc = event_filter_add(a, f, k, json_string_value(e), err);
                if (rc)
                    break;
            }
        } else if (!json_is_null(v)) {
            rc = tg_err_set(err, TG_EINVAL, k, "filters.%s must be a list of strings", k);
        }
        if (rc)
            break;
    }
    json_decref(o);
    return rc;
}

static void json_list(struct jw *w, const char *key, const char *const *v, int n)
{
    jw_keys(w, key);
    jw_arr(w);
    for (int i = 0; i < n; i++)
        jw_str(w, v[i]);
    jw_arr_end(w);
}

const char *event_filter_json(struct arena *a, const struct event_filter *f)
{
    struct sbuf b;
    struct jw w;
    const char *out;

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    json_list(&w, "entity", f->entity, f->nentity);
    json_list(&w, "tag", f->tag, f->ntag);
    json_list(&w, "kind", f->kind, f->nkind);
    json_list(&w, "principal", f->principal, f->nprincipal);
    jw_keys(&w, "resource");
    if (f->resource > 0)
        jw_int(&w, f->resource);
    else
        jw_null(&w);
    jw_keys(&w, "workspace");
    if (f->workspace > 0) {
        char ws[32];
        snprintf(ws, sizeof(ws), "ws_%lld", (long long)f->workspace);
        jw_str(&w, ws);
    } else {
        jw_null(&w);
    }
    jw_obj_end(&w);
    out = arena_strndup(a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return out;
}

void event_change_json(struct jw *w, const struct change *c)
{
    jw_obj(w);
    jw_keys(w, "revision");
    jw_int(w, c->rev);
    jw_keys(w, "seq");
    jw_int(w, c->seq);
    jw_keys(w, "at_ms");
    jw_int(w, c->at);
    jw_keys(w, "principal");
    jw_str(w, c->principal);
    jw_keys(w, "entity");
    jw_str(w, c->entity);
    jw_keys(w, "entity_id");
    jw_int(w, c->entity_id);
    jw_keys(w, "op");
    jw_str(w, c->op);
    jw_keys(w, "api");
    jw_str(w, c->api);
    jw_keys(w, "before");
    jw_raw(w, c->before);
    jw_keys(w, "after");
    jw_raw(w, c->after);
    jw_obj_end(w);
}

/* True when the subtrees of resources a and b overlapped at the end of revision rev; b == 0
 * is everything. */
static bool overlaps(struct core_ctx *cx, int64_t a, int64_t b, int64_t rev)
{
    return b == 0 || core_resource_within_at(cx, a, b, rev) ||
           core_resource_within_at(cx, b, a, rev);
}

/* Seen by the subscriber: inside its filter's subtree and its scope at the end of revision
 * rev (touches). */
static bool sees(struct core_ctx *cx, const struct event_filter *f, int64_t id, int64_t rev)
{
    return (f->resource == 0 || core_resource_within_at(cx, id, f->resource, rev)) &&
           (cx->who.resource_id == 0 ||
            core_resource_within_at(cx, id, cx->who.resource_id, rev));
}

static bool entity_ok(const struct event_filter *f, const char *entity)
{
    bool ok = f->nentity == 0;

    for (int i = 0; i < f->nentity && !ok; i++)
        ok = strcmp(f->entity[i], entity) == 0 || strcmp(f->entity[i], "effective") == 0;
    return ok;
}

static bool tag_ok(const struct event_filter *f, const char *name)
{
    bool ok = f->ntag == 0;

    for (int i = 0; i < f->ntag && !ok; i++)
        ok = event_tag_match(f->tag[i], name);
    return ok;
}

/* A tag's name as written now, else the record's (the case-folded key), else NULL. */
static const char *tag_name(struct core_ctx *cx, int64_t tag_id, json_t *rec)
{
    struct tag t;

    if (tag_id > 0 && core_tag_get(cx, tag_id, &t, NULL) == 0)
        return t.name;
    if (json_is_string(rec))
        return arena_strdup(cx->a, json_string_value(rec));
    return NULL;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static bool listed_in(json_t *ids, int64_t id)
{
    size_t lo = 0, hi = json_array_size(ids);

    /* The writer lists them ascending (eng_moved). */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int64_t v = json_integer_value(json_array_get(ids, mid));
        if (v == id)
            return true;
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* event_effects of a resource record: a move or a delete with its "inherited" (core/resources.c,
 * moved). A resource of the moved subtree is seen when it lies in the subscriber's subtree
 * now, or when the parent it left does (all of the subtree was in it before). */
static bool move_effects(struct core_ctx *cx, const struct event_filter *f,
                         const struct change *c, struct event_effect *out)
{
    bool del = strcmp(c->op, "delete") == 0, self = false, from_seen;
    json_t *o, *in, *tags, *v, **lists, **kept;
    struct vec ids;
    size_t nt;

    if (!entity_ok(f, "resource"))
        return false;
    o = json_loads(del ? c->before : c->after, 0, NULL);
    in = json_object_get(o, "inherited");
    tags = json_object_get(in, "tags");
    if (!json_is_array(tags) || json_array_size(tags) == 0) {
        json_decref(o);
        return false;
    }
    out->op = del ? "delete" : "move";
    out->root = c->entity_id;
    v = json_object_get(in, "from");
    out->from = json_is_integer(v) ? json_integer_value(v) : 0;
    v = json_object_get(in, "to");
    out->to = json_is_integer(v) ? json_integer_value(v) : 0;
    nt = json_array_size(tags);
    out->tags = arena_alloc(cx->a, nt * sizeof(*out->tags));
    lists = arena_alloc(cx->a, nt * sizeof(*lists));
    kept = arena_alloc(cx->a, nt * sizeof(*kept));
    for (size_t k = 0; k < nt; k++) {
        json_t *t = json_array_get(tags, k), *list = json_object_get(t, "resources");
        struct event_tag *x = &out->tags[out->ntags];
        int64_t n;
        v = json_object_get(t, "tag_id");
        x->tag_id = json_is_integer(v) ? json_integer_value(v) : 0;
        x->tag = tag_name(cx, x->tag_id, json_object_get(t, "tag"));
        v = json_object_get(t, "op");
        x->add = json_is_string(v) && strcmp(json_string_value(v), "add") == 0;
        if (!tag_ok(f, x->tag))
            continue;
        v = json_object_get(t, "descendants");
        n = json_is_integer(v) ? json_integer_value(v) : 0;
        if (n > 0 && !json_is_array(list))
            out->truncated = true;
        if (n > out->descendants)
            out->descendants = n;
        self = self || json_is_true(json_object_get(t, "self"));
        kept[out->ntags] = t;
        lists[out->ntags++] = json_is_array(list) ? list : NULL;
    }
    if (out->ntags == 0) {
        json_decref(o);
        return false;
    }
    v = json_object_get(in, "descendants");
    if (json_is_integer(v))
        out->descendants = json_integer_value(v);
    from_seen = out->from && sees(cx, f, out->from, c->rev);
    vec_init(&ids, sizeof(int64_t));
    for (size_t k = 0; k < out->ntags && !out->truncated; k++)
        for (size_t i = 0; lists[k] && i < json_array_size(lists[k]); i++)
            *(int64_t *)vec_push(cx, &ids) = json_integer_value(json_array_get(lists[k], i));
    if (ids.n > 1)
        qsort(ids.items, ids.n, sizeof(int64_t), cmp_i64);
    out->ids = arena_alloc(cx->a, (ids.n + 1) * sizeof(*out->ids));
    if (self && (from_seen || sees(cx, f, out->root, c->rev)))
        out->ids[out->nids++] = out->root;
    for (size_t i = 0; i < ids.n; i++) {
        int64_t id = ((int64_t *)ids.items)[i];
        if ((i > 0 && id == ((int64_t *)ids.items)[i - 1]) || id == out->root)
            continue;
        if (from_seen || sees(cx, f, id, c->rev))
            out->ids[out->nids++] = id;
    }
    out->changed = arena_alloc(cx->a, (out->nids * out->ntags + 1) * sizeof(*out->changed));
    for (size_t i = 0; i < out->nids; i++) {
        for (size_t k = 0; k < out->ntags; k++) {
            bool ch;
            if (out->ids[i] == out->root)
                ch = json_is_true(json_object_get(kept[k], "self"));
            else
                ch = lists[k] && listed_in(lists[k], out->ids[i]);
            out->changed[i * out->ntags + k] = ch;
        }
    }
    json_decref(o);
    if (out->truncated &&
        !((overlaps(cx, out->root, f->resource, c->rev) &&
           overlaps(cx, out->root, cx->who.resource_id, c->rev)) ||
          from_seen))
        out->truncated = false;
    return out->nids > 0 || out->truncated;
}

/* event_effects of a tag record: a tag deleted, restored or purged with its "inherited"
 * (core/tags.c): every resource that carried it effectively loses (or regains) it. There is
 * no root: beyond the bound the summary goes to every subscriber the tag filter lets by. */
static bool tag_effects(struct core_ctx *cx, const struct event_filter *f,
                        const struct change *c, struct event_effect *out)
{
    bool purge = strcmp(c->op, "purge") == 0;
    json_t *o, *in, *ids, *v;

    if (!entity_ok(f, "tag"))
        return false;
    o = json_loads(purge ? c->before : c->after, 0, NULL);
    in = json_object_get(o, "inherited");
    if (!json_is_object(in)) {
        json_decref(o);
        return false;
    }
    v = json_object_get(in, "op");
    out->add = json_is_string(v) && strcmp(json_string_value(v), "add") == 0;
    out->op = out->add ? "add" : "remove";
    out->tag_id = c->entity_id;
    out->tag = tag_name(cx, out->tag_id, json_object_get(o, "name"));
    if (!tag_ok(f, out->tag)) {
        json_decref(o);
        return false;
    }
    v = json_object_get(in, "count");
    out->descendants = json_is_integer(v) ? json_integer_value(v) : 0;
    ids = json_object_get(in, "resources");
    out->truncated = out->descendants > 0 && !json_is_array(ids);
    out->ids = arena_alloc(cx->a, (json_array_size(ids) + 1) * sizeof(*out->ids));
    for (size_t i = 0; i < json_array_size(ids); i++) {
        int64_t id = json_integer_value(json_array_get(ids, i));
        if (id > 0 && sees(cx, f, id, c->rev))
            out->ids[out->nids++] = id;
    }
    json_decref(o);
    return out->nids > 0 || out->truncated;
}

bool event_effects(struct core_ctx *cx, const struct event_filter *f, const struct change *c,
                   struct event_effect *out)
{
    const char *doc;
    json_t *o, *in, *v;
    bool self = true, ok;
    size_t nlisted = 0;

    memset(out, 0, sizeof(*out));
    if (!f->effective)
        return false;
    if (strcmp(c->entity, "resource") == 0)
        return move_effects(cx, f, c, out);
    if (strcmp(c->entity, "tag") == 0)
        return tag_effects(cx, f, c, out);
    if (strcmp(c->entity, "assignment") != 0)
        return false;
    if (f->workspace > 0 && c->ws_id != f->workspace)
        return false;
    if (strcmp(c->op, "add") == 0) {
        out->add = true;
        out->op = "add";
        doc = c->after;
    } else if (strcmp(c->op, "remove") == 0) {
        out->op = "remove";
        doc = c->before;
    } else {
        return false;
    }
    if (!entity_ok(f, "assignment"))
        return false;
    o = doc ? json_loads(doc, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return false;
    }
    out->root = c->entity_id;
    v = json_object_get(o, "tag_id");
    out->tag_id = json_is_integer(v) ? json_integer_value(v) : 0;
    {
        /* The name as written (a record holds the case-folded key, if anything). */
        struct tag t;
        v = json_object_get(o, "tag");
        if (out->tag_id > 0 && core_tag_get(cx, out->tag_id, &t, NULL) == 0)
            out->tag = t.name;
        else if (json_is_string(v))
            out->tag = arena_strdup(cx->a, json_string_value(v));
    }
    /* Without "inherited" the resource had no descendants and did not inherit the tag: its
     * own effective tags changed, no one else's. */
    in = json_object_get(o, "inherited");
    if (json_is_object(in)) {
        json_t *ids = json_object_get(in, "resources");
        self = json_is_true(json_object_get(in, "self"));
        v = json_object_get(in, "descendants");
        out->descendants = json_is_integer(v) ? json_integer_value(v) : 0;
        nlisted = json_is_array(ids) ? json_array_size(ids) : 0;
        out->truncated = out->descendants > 0 && !json_is_array(ids);
        out->ids = arena_alloc(cx->a, (nlisted + 1) * sizeof(*out->ids));
        if (self && sees(cx, f, out->root, c->rev))
            out->ids[out->nids++] = out->root;
        for (size_t i = 0; i < nlisted; i++) {
            int64_t id = json_integer_value(json_array_get(ids, i));
            if (id > 0 && sees(cx, f, id, c->rev))
                out->ids[out->nids++] = id;
        }
    } else {
        out->ids = arena_alloc(cx->a, sizeof(*out->ids));
        if (sees(cx, f, out->root, c->rev))
            out->ids[out->nids++] = out->root;
    }
    json_decref(o);
    if (f->ntag) {
        ok = false;
        for (int i = 0; i < f->ntag && !ok; i++)
            ok = event_tag_match(f->tag[i], out->tag);
        if (!ok)
            return false;
    }
    if (out->truncated &&
        !(overlaps(cx, out->root, f->resource, c->rev) &&
          overlaps(cx, out->root, cx->who.resource_id, c->rev)))
        out->truncated = false;
    return out->nids > 0 || out->truncated;
}

bool event_filter_any(const struct event_filter *f)
{
    return f->nentity || f->ntag || f->nkind || f->resource > 0 || f->nprincipal ||
           f->workspace > 0;
}

int core_changes_matching(struct core_ctx *cx, int64_t since, int limit,
                          const struct event_filter *f, struct change **out, size_t *n,
                          int64_t *next_since, bool *more, struct tg_err *err)
{
    struct vec v;
    int scanned = 0;

    assert(limit > 0);
    vec_init(&v, sizeof(struct change));
    *more = false;
    for (;;) {
        struct change *c;
        size_t got;
        int batch = limit < 200 ? 200 : limit;
        int rc = core_changes_list(cx, since, batch, &c, &got, err);

        if (rc)
            return rc;
        for (size_t i = 0; i < got; i++)
            if (event_match(cx, f, &c[i]))
                *(struct change *)vec_push(cx, &v) = c[i];
        scanned += (int)got;
        if (got > 0)
            since = c[got - 1].rev; /* a page ends with a whole revision */
        if (got < (size_t)batch)
            break; /* the end of the log */
        if (v.n >= (size_t)limit || scanned >= EVENT_SCAN_MAX) {
            *more = true;
            break;
        }
    }
    *out = v.items;
    *n = v.n;
    *next_since = since;
    return 0;
}
