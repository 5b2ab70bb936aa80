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

bool event_match(struct core_ctx *cx, const struct event_filter *f, const struct change *c)
{
    int64_t res = record_resource(c);
    bool ok;

    if (cx->who.resource_id > 0 &&
        (res == 0 || !core_resource_within(cx, res, cx->who.resource_id)))
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
    if (f->resource > 0 && (res == 0 || !core_resource_within(cx, res, f->resource)))
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

bool event_filter_any(const struct event_filter *f)
{
    return f->nentity || f->ntag || f->nkind || f->resource > 0 || f->nprincipal;
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
