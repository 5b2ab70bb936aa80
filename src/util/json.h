/* util/json.h: decoding request bodies with jansson, bounded.
 *
 * jansson's own depth limit (2048) is fixed at compile time; tagd's is configuration, so the
 * body is scanned for nesting before jansson sees it. Duplicate keys are rejected. */
#ifndef TAGD_UTIL_JSON_H
#define TAGD_UTIL_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

/** Returns the nesting depth of the JSON text, counting brackets outside strings. */
int json_depth(const char *s, size_t n);
/** Parses `n` bytes; returns a new reference or NULL with `err` set (TG_EINVAL). */
json_t *json_parse(const char *s, size_t n, int max_depth, struct tg_err *err);

/** Serializes `v` compactly with sorted keys into the arena. */
char *json_to_arena(struct arena *a, json_t *v);

/* Typed getters: each returns 0 when absent (leaving *out alone), TG_EINVAL with err naming
 * `key` when present with the wrong type. Strings are borrowed from the json_t. */
int json_get_str(json_t *o, const char *key, const char **out, struct tg_err *err);
int json_get_str_or_null(json_t *o, const char *key, const char **out, bool *present,
                         struct tg_err *err);
int json_get_int(json_t *o, const char *key, int64_t *out, bool *present, struct tg_err *err);
int json_get_bool(json_t *o, const char *key, bool *out, bool *present, struct tg_err *err);

#endif /* TAGD_UTIL_JSON_H */
