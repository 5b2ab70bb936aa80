/* util/json.c: bounded JSON decoding, see json.h. */
#include "util/json.h"

#include <stdlib.h>

int json_depth(const char *s, size_t n)
{
    int depth = 0, max = 0;
    bool in_str = false;
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return max;
}

json_t *json_parse(const char *s, size_t n, int max_depth, struct tg_err *err)
{
    json_error_t je;
    json_t *v;

    if (n == 0) {
        tg_err_set(err, TG_EINVAL, "body", "request body is empty");
        return NULL;
    }
    if (max_depth > 0 && json_depth(s, n) > max_depth) {
        tg_err_set(err, TG_EINVAL, "body", "json nesting deeper than %d", max_depth);
        return NULL;
    }
    v = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (v == NULL)
        tg_err_set(err, TG_EINVAL, "body", "malformed json at line %d column %d: %s", je.line,
                   je.column, je.text);
    return v;
}

int json_get_str(json_t *o, const char *key, const char **out, struct tg_err *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return tg_err_set(err, TG_EINVAL, key, "'%s' must be a string", key);
    *out = json_string_value(v);
    return 0;
}

int json_get_str_or_null(json_t *o, const char *key, const char **out, bool *present,
                         struct tg_err *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return 0;
    if (present)
        *present = true;
    if (json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return tg_err_set(err, TG_EINVAL, key, "'%s' must be a string or null", key);
    *out = json_string_value(v);
    return 0;
}

int json_get_int(json_t *o, const char *key, int64_t *out, bool *present, struct tg_err *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return tg_err_set(err, TG_EINVAL, key, "'%s' must be an integer", key);
    *out = json_integer_value(v);
    if (present)
        *present = true;
    return 0;
}

int json_get_bool(json_t *o, const char *key, bool *out, bool *present, struct tg_err *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return tg_err_set(err, TG_EINVAL, key, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    if (present)
        *present = true;
    return 0;
}

char *json_to_arena(struct arena *a, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *out = arena_strdup(a, s ? s : "null");
    free(s); /* jansson allocates with malloc */
    return out;
}
