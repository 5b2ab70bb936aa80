/* tagctl/asof.c: reads as of a past revision, from the change log.
 *
 * The native API answers reads only at the current revision, but its change log
 * (GET /v1/changes) holds every write with the entity before and after. tagctl replays it up to
 * the revision asked for (or the last one at or before the time asked for) into a snapshot:
 * tags, groups and resources by id, and the assignments as "RESOURCE:TAG" pairs. The replay
 * reads the log from its start, so its cost grows with the log; docs/cli.md says so.
 *
 * Invariant: every object in a map is the entity's last `after` at a revision <= s->rev. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagctl/tagctl.h"
#include "util/mem.h"
#include "util/timeu.h"

struct tc_snap {
    long long rev;
    json_t *tags, *groups, *resources; /* "ID" -> object */
    json_t *asg;                        /* "RID:TID" -> {resource_id, tag_id, context, ...} */
};

bool asof_parse(const char *spec, long long *rev, int64_t *ms)
{
    *rev = -1;
    *ms = -1;
    if (spec == NULL || *spec == '\0')
        return false;
    if (strspn(spec, "0123456789") == strlen(spec)) {
        if (strlen(spec) > 18)
            return false;
        *rev = strtoll(spec, NULL, 10);
        return true;
    }
    /* time_parse also takes epoch milliseconds as digits; digits are a revision here. */
    return time_parse(spec, ms) && *ms >= 0;
}

static json_t *map_of(struct tc_snap *s, const char *entity)
{
    if (strcmp(entity, "tag") == 0)
        return s->tags;
    if (strcmp(entity, "group") == 0)
        return s->groups;
    if (strcmp(entity, "resource") == 0)
        return s->resources;
    return NULL;
}

static void apply(struct tc_snap *s, json_t *ch)
{
    const char *entity = json_string_value(json_object_get(ch, "entity"));
    const char *op = json_string_value(json_object_get(ch, "op"));
    json_t *after = json_object_get(ch, "after"), *before = json_object_get(ch, "before");
    json_t *map;
    char key[64];

    if (entity == NULL || op == NULL)
        return;
    if (strcmp(entity, "assignment") == 0) {
        json_t *d = json_is_object(after) ? after : before;
        long long rid = json_integer_value(json_object_get(d, "resource_id"));
        long long tid = json_integer_value(json_object_get(d, "tag_id"));
        snprintf(key, sizeof(key), "%lld:%lld", rid, tid);
        if (json_is_object(after)) {
            json_t *a = json_deep_copy(after);
            json_object_set(a, "added_by", json_object_get(ch, "principal"));
            json_object_set(a, "added_at", json_object_get(ch, "at"));
            json_object_set_new(s->asg, key, a);
        } else {
            json_object_del(s->asg, key);
        }
        return;
    }
    map = map_of(s, entity);
    if (map == NULL)
        return;
    snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(json_object_get(ch, "entity_id")));
    if (json_is_object(after))
        json_object_set_new(map, key, json_deep_copy(after));
    else
        json_object_del(map, key);
}

int asof_load(struct tc_client *c, const char *spec, struct tc_snap **out)
{
    struct tc_snap *s;
    long long want_rev, since = 0;
    int64_t want_ms;
    int rc = TC_OK;
    bool done = false;

    *out = NULL;
    if (!asof_parse(spec, &want_rev, &want_ms))
        return tc_fail(TC_USAGE, "--as-of wants a revision number or an ISO-8601 time, not '%s'",
                       spec);
    s = xcalloc(1, sizeof(*s));
    s->tags = json_object();
    s->groups = json_object();
    s->resources = json_object();
    s->asg = json_object();
    while (!done) {
        struct sbuf p;
        struct tc_resp r;
        json_t *items, *it;
        size_t i;
        char since_s[24];

        sbuf_init(&p, 0);
        snprintf(since_s, sizeof(since_s), "%lld", since);
        sbuf_adds(&p, "/v1/changes");
        url_query(&p, "since", since_s);
        url_query(&p, "limit", "1000");
        rc = client_call(c, "GET", sbuf_str(&p), NULL, &r);
        sbuf_release(&p);
        if (rc) {
            resp_release(&r);
            break;
        }
        items = json_object_get(r.body, "items");
        if (json_array_size(items) == 0)
            done = true;
        json_array_foreach(items, i, it) {
            long long rev = json_integer_value(json_object_get(it, "revision"));
            if (want_rev >= 0 && rev > want_rev) {
                done = true;
                break;
            }
            if (want_ms >= 0) {
                int64_t at;
                const char *ats = json_string_value(json_object_get(it, "at"));
                if (ats && time_parse(ats, &at) && at > want_ms) {
                    done = true;
                    break;
                }
            }
            apply(s, it);
            s->rev = rev;
        }
        since = json_integer_value(json_object_get(r.body, "next_since"));
        resp_release(&r);
    }
    if (rc) {
        asof_free(s);
        return rc;
    }
    if (want_rev >= 0 && want_rev > s->rev) {
        long long latest = s->rev;
        asof_free(s);
        return tc_fail(TC_NOTFOUND, "--as-of %lld: the latest revision is %lld", want_rev, latest);
    }
    if (want_rev >= 0)
        s->rev = want_rev;
    *out = s;
    return TC_OK;
}

void asof_free(struct tc_snap *s)
{
    if (s == NULL)
        return;
    json_decref(s->tags);
    json_decref(s->groups);
    json_decref(s->resources);
    json_decref(s->asg);
    xfree(s);
}

long long asof_revision(const struct tc_snap *s)
{
    return s->rev;
}

json_t *asof_get(struct tc_snap *s, const char *entity, long long id)
{
    char key[32];
    json_t *map = map_of(s, entity);
    snprintf(key, sizeof(key), "%lld", id);
    return map ? json_object_get(map, key) : NULL;
}

/* A resource as the live API shows it: its parent as {kind, key}, not parent_id. */
static json_t *res_view(struct tc_snap *s, json_t *r)
{
    json_t *v = json_deep_copy(r), *pid = json_object_get(r, "parent_id");
    json_t *p = json_is_integer(pid) ? asof_get(s, "resource", json_integer_value(pid)) : NULL;
    json_object_del(v, "parent_id");
    json_object_del(v, "extra");
    if (p)
        json_object_set_new(v, "parent", json_pack("{s:O,s:O}", "kind", json_object_get(p, "kind"),
                                                   "key", json_object_get(p, "key")));
    else
        json_object_set_new(v, "parent", json_null());
    return v;
}

static int by_id(const void *a, const void *b)
{
    long long x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
    long long y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));
    return x < y ? -1 : x > y;
}

static int by_name(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
    return strcasecmp(x ? x : "", y ? y : "");
}

static json_t *sorted(json_t **v, size_t n, int (*cmp)(const void *, const void *))
{
    json_t *arr = json_array();
    qsort(v, n, sizeof(*v), cmp);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    return arr;
}

json_t *asof_list(struct tc_snap *s, const char *entity)
{
    json_t *map = map_of(s, entity), *o, **v, *arr;
    const char *k;
    size_t n = 0;

    v = xcalloc(json_object_size(map) + 1, sizeof(*v));
    json_object_foreach(map, k, o) {
        if (strcmp(entity, "resource") == 0) {
            v[n++] = res_view(s, o);
        } else {
            v[n] = json_deep_copy(o);
            json_object_del(v[n++], "extra");
        }
    }
    arr = sorted(v, n, strcmp(entity, "tag") == 0 ? by_name : by_id);
    xfree(v);
    return arr;
}

json_t *asof_tag(struct tc_snap *s, const char *ref)
{
    const char *k;
    json_t *o;
    const char *d = strncmp(ref, "tag_", 4) == 0 ? ref + 4 : ref;
    if (*d && strspn(d, "0123456789") == strlen(d) && strlen(d) < 19)
        return asof_get(s, "tag", strtoll(d, NULL, 10));
    json_object_foreach(s->tags, k, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        if (name && strcasecmp(name, ref) == 0)
            return o;
    }
    return NULL;
}

json_t *asof_resource(struct tc_snap *s, const char *kind, const char *key)
{
    const char *k;
    json_t *o;
    json_object_foreach(s->resources, k, o) {
        const char *ok = json_string_value(json_object_get(o, "kind"));
        const char *okey = json_string_value(json_object_get(o, "key"));
        if (ok && okey && strcmp(ok, kind) == 0 && strcmp(okey, key) == 0)
            return o;
    }
    return NULL;
}

/* Appends the live tags directly on resource `rid` to `v` (n so far), skipping tags already
 * there; `from` is the ancestor they come from, or NULL. */
static size_t direct_of(struct tc_snap *s, long long rid, json_t *from, json_t **v, size_t n,
                        size_t max, json_t *seen)
{
    const char *k;
    json_t *a;
    size_t first = n;
    json_object_foreach(s->asg, k, a) {
        long long tid = json_integer_value(json_object_get(a, "tag_id"));
        json_t *t = asof_get(s, "tag", tid);
        char tk[32];
        if (json_integer_value(json_object_get(a, "resource_id")) != rid || t == NULL ||
            json_is_true(json_object_get(t, "deleted")) || n == max)
            continue;
        snprintf(tk, sizeof(tk), "%lld", tid);
        if (json_object_get(seen, tk))
            continue;
        json_object_set_new(seen, tk, json_true());
        v[n++] = json_pack("{s:I,s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "tag_id", (json_int_t)tid,
                           "name", json_object_get(t, "name"), "display_name",
                           json_object_get(t, "display_name"), "color",
                           json_object_get(t, "color") ? json_object_get(t, "color") : json_null(),
                           "context", json_object_get(a, "context") ? json_object_get(a, "context") : json_null(),
                           "added_by", json_object_get(a, "added_by") ? json_object_get(a, "added_by") : json_null(),
                           "added_at", json_object_get(a, "added_at") ? json_object_get(a, "added_at") : json_null(),
                           "inherited_from", from ? from : json_null());
    }
    qsort(v + first, n - first, sizeof(*v), by_name);
    return n;
}

json_t *asof_assignments(struct tc_snap *s, long long id, bool effective)
{
    size_t max = json_object_size(s->asg) + 1, n = 0;
    json_t **v = xcalloc(max, sizeof(*v)), *arr = json_array(), *seen = json_object();
    json_t *r = asof_get(s, "resource", id);

    n = direct_of(s, id, NULL, v, n, max, seen);
    /* Ancestors nearest first; the depth cap guards against a cycle in a damaged log. */
    for (int depth = 0; effective && r && depth < 10000; depth++) {
        json_t *pid = json_object_get(r, "parent_id"), *from;
        if (!json_is_integer(pid))
            break;
        r = asof_get(s, "resource", json_integer_value(pid));
        if (r == NULL)
            break;
        from = json_pack("{s:O,s:O}", "kind", json_object_get(r, "kind"), "key",
                         json_object_get(r, "key"));
        n = direct_of(s, json_integer_value(pid), from, v, n, max, seen);
        json_decref(from);
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    xfree(v);
    json_decref(seen);
    return arr;
}

json_t *asof_tag_resources(struct tc_snap *s, json_t *tag, bool descendants)
{
    const char *name = json_string_value(json_object_get(tag, "name")), *k;
    size_t nlen = name ? strlen(name) : 0, n = 0;
    json_t *tids = json_object(), *rids = json_object(), *o, **v, *arr;

    json_object_foreach(s->tags, k, o) {
        const char *tn = json_string_value(json_object_get(o, "name"));
        if (json_equal(json_object_get(o, "id"), json_object_get(tag, "id")) ||
            (descendants && tn && name && strncasecmp(tn, name, nlen) == 0 && tn[nlen] == '.'))
            json_object_set_new(tids, k, json_true());
    }
    json_object_foreach(s->asg, k, o) {
        char tk[32], rk[32];
        snprintf(tk, sizeof(tk), "%lld", (long long)json_integer_value(json_object_get(o, "tag_id")));
        snprintf(rk, sizeof(rk), "%lld",
                 (long long)json_integer_value(json_object_get(o, "resource_id")));
        if (json_object_get(tids, tk) && json_object_get(s->resources, rk))
            json_object_set_new(rids, rk, json_true());
    }
    v = xcalloc(json_object_size(rids) + 1, sizeof(*v));
    json_object_foreach(rids, k, o)
        v[n++] = res_view(s, json_object_get(s->resources, k));
    arr = sorted(v, n, by_id);
    xfree(v);
    json_decref(tids);
    json_decref(rids);
    return arr;
}
