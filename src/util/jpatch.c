/* util/jpatch.c: JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386), JSON Pointer (RFC 6901).
 *
 * A pointer is split into unescaped tokens in a bounded local buffer: a pointer longer than
 * JP_MAX bytes is refused rather than allocated for, since request bodies bound it anyway. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/jpatch.h"

#define JP_MAX 1024

/* One reference token, unescaped (~1 is '/', ~0 is '~'); 0 or -1 for a malformed escape. The
 * token is written to tok (NUL-terminated); *rest moves past it and its leading '/'. */
static int next_token(const char **rest, char *tok)
{
    const char *p = *rest;
    size_t n = 0;

    if (*p != '/')
        return -1;
    p++;
    while (*p && *p != '/') {
        if (*p == '~') {
            if (p[1] == '0')
                tok[n++] = '~';
            else if (p[1] == '1')
                tok[n++] = '/';
            else
                return -1;
            p += 2;
        } else {
            tok[n++] = *p++;
        }
    }
    tok[n] = '\0';
    *rest = p;
    return 0;
}

/* An array index token: digits without a leading zero; -1 when it is not one. */
static long array_index(const char *tok)
{
    long v = 0;

    if (*tok == '\0' || (tok[0] == '0' && tok[1] != '\0'))
        return -1;
    for (const char *p = tok; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000000L)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static json_t *child(json_t *v, const char *tok)
{
    if (json_is_object(v))
        return json_object_get(v, tok);
    if (json_is_array(v)) {
        long i = array_index(tok);
        return i >= 0 && (size_t)i < json_array_size(v) ? json_array_get(v, (size_t)i) : NULL;
    }
    return NULL;
}

json_t *jpatch_get(json_t *doc, const char *pointer)
{
    char tok[JP_MAX + 1];
    const char *p = pointer;

    if (pointer == NULL || strlen(pointer) > JP_MAX)
        return NULL;
    while (doc && *p) {
        if (next_token(&p, tok))
            return NULL;
        doc = child(doc, tok);
    }
    return doc;
}

/* Splits `path` into its parent container and its last token (in `last`). The root has no
 * parent: *parent is NULL and 0 is returned. -1: malformed, or the parent does not resolve. */
static int locate(json_t *doc, const char *path, json_t **parent, char *last)
{
    const char *slash;
    char head[JP_MAX + 1];
    const char *p;

    *parent = NULL;
    if (strlen(path) > JP_MAX || (*path && *path != '/'))
        return -1;
    if (*path == '\0')
        return 0;
    slash = strrchr(path, '/');
    memcpy(head, path, (size_t)(slash - path));
    head[slash - path] = '\0';
    p = slash;
    if (next_token(&p, last))
        return -1;
    /* The head's escapes are checked by resolving it. */
    *parent = jpatch_get(doc, head);
    if (*parent == NULL || !(json_is_object(*parent) || json_is_array(*parent)))
        return -1;
    return 0;
}

/* Numbers compare by value (1 equals 1.0, as RFC 6902 asks); the rest structurally. */
static bool equal(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach(a, k, v)
        {
            json_t *w = json_object_get(b, k);
            if (w == NULL || !equal(v, w))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

/* add: steals `value`. */
static int op_add(json_t **doc, const char *path, json_t *value, size_t i, struct tg_err *err)
{
    char last[JP_MAX + 1];
    json_t *parent;

    if (locate(*doc, path, &parent, last)) {
        json_decref(value);
        return tg_err_set(err, TG_EINVAL, "patch", "operation %zu: path not found", i);
    }
    if (parent == NULL) {
        json_decref(*doc);
        *doc = value;
        return 0;
    }
    if (json_is_object(parent)) {
        json_object_set_new(parent, last, value);
        return 0;
    }
    if (strcmp(last, "-") == 0) {
        json_array_append_new(parent, value);
        return 0;
    }
    {
        long at = array_index(last);
        if (at < 0 || (size_t)at > json_array_size(parent)) {
            json_decref(value);
            return tg_err_set(err, TG_EINVAL, "patch", "operation %zu: index out of range", i);
        }
        json_array_insert_new(parent, (size_t)at, value);
    }
    return 0;
}

static int op_remove(json_t *doc, const char *path, size_t i, struct tg_err *err)
{
    char last[JP_MAX + 1];
    json_t *parent;

    if (locate(doc, path, &parent, last) || parent == NULL || child(parent, last) == NULL)
        return tg_err_set(err, TG_EINVAL, "patch", "operation %zu: path not found", i);
    if (json_is_object(parent))
        json_object_del(parent, last);
    else
        json_array_remove(parent, (size_t)array_index(last));
    return 0;
}

static int op_replace(json_t **doc, const char *path, json_t *value, size_t i,
                      struct tg_err *err)
{
    char last[JP_MAX + 1];
    json_t *parent;

    if (locate(*doc, path, &parent, last) || (parent && child(parent, last) == NULL))
        return tg_err_set(err, TG_EINVAL, "patch", "operation %zu: path not found", i);
    value = json_deep_copy(value);
    if (parent == NULL) {
        json_decref(*doc);
        *doc = value;
    } else if (json_is_object(parent)) {
        json_object_set_new(parent, last, value);
    } else {
        json_array_set_new(parent, (size_t)array_index(last), value);
    }
    return 0;
}

static int apply_one(json_t **doc, json_t *op, size_t i, struct tg_err *err)
{
    const char *o = json_string_value(json_object_get(op, "op"));
    const char *path = json_string_value(json_object_get(op, "path"));
    const char *from = json_string_value(json_object_get(op, "from"));
    json_t *value = json_object_get(op, "value");

    if (!json_is_object(op) || o == NULL || path == NULL)
        return tg_err_set(err, TG_EINVAL, "patch",
                          "operation %zu: needs string members 'op' and 'path'", i);
    if (strcmp(o, "add") == 0 || strcmp(o, "replace") == 0 || strcmp(o, "test") == 0) {
        if (value == NULL)
            return tg_err_set(err, TG_EINVAL, "patch", "operation %zu: '%s' needs a value", i,
                              o);
        if (o[0] == 'a')
            return op_add(doc, path, json_deep_copy(value), i, err);
        if (o[0] == 'r')
            return op_replace(doc, path, value, i, err);
        {
            json_t *have = jpatch_get(*doc, path);
            if (have == NULL || !equal(have, value))
                return tg_err_set(err, TG_EPRECOND, path, "operation %zu: test of '%.64s' failed",
                                  i, path);
            return 0;
        }
    }
    if (strcmp(o, "remove") == 0)
        return op_remove(*doc, path, i, err);
    if (strcmp(o, "move") == 0 || strcmp(o, "copy") == 0) {
        size_t fl = from ? strlen(from) : 0;
        json_t *src = from ? jpatch_get(*doc, from) : NULL;
        int rc;

        if (src == NULL)
            return tg_err_set(err, TG_EINVAL, "patch", "operation %zu: 'from' not found", i);
        if (o[0] == 'c')
            return op_add(doc, path, json_deep_copy(src), i, err);
        /* A location cannot be moved into one of its own children. */
        if (strncmp(path, from, fl) == 0 && path[fl] == '/')
            return tg_err_set(err, TG_EINVAL, "patch",
                              "operation %zu: cannot move a value into itself", i);
        if (strcmp(path, from) == 0)
            return 0;
        json_incref(src);
        rc = op_remove(*doc, from, i, err);
        if (rc) {
            json_decref(src);
            return rc;
        }
        return op_add(doc, path, src, i, err);
    }
    return tg_err_set(err, TG_EINVAL, "patch", "operation %zu: unknown op '%.32s'", i, o);
}

int jpatch_apply(json_t **doc, json_t *ops, struct tg_err *err)
{
    size_t i;
    json_t *op;

    if (!json_is_array(ops))
        return tg_err_set(err, TG_EINVAL, "patch", "a JSON Patch is an array of operations");
    json_array_foreach(ops, i, op)
    {
        int rc = apply_one(doc, op, i, err);
        if (rc)
            return rc;
    }
    return 0;
}

void jpatch_merge(json_t **doc, json_t *patch)
{
    const char *k;
    json_t *v;

    if (!json_is_object(patch)) {
        json_decref(*doc);
        *doc = json_deep_copy(patch);
        return;
    }
    if (!json_is_object(*doc)) {
        json_decref(*doc);
        *doc = json_object();
    }
    json_object_foreach(patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(*doc, k);
        } else {
            json_t *cur = json_object_get(*doc, k);
            json_incref(cur); /* NULL-safe; keeps it alive while it is merged into */
            jpatch_merge(&cur, v);
            json_object_set_new(*doc, k, cur);
        }
    }
}
