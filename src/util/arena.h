/* util/arena.h: a bump allocator for one request.
 *
 * Everything a request parses, decodes or renders lives here and is freed at once when its
 * response has been handed to the HTTP layer. Not thread safe: an arena belongs to
 * the one thread that currently works on its request. */
#ifndef TAGD_UTIL_ARENA_H
#define TAGD_UTIL_ARENA_H

#include <stddef.h>

struct arena_chunk;
struct arena {
    struct arena_chunk *head;
};

void arena_init(struct arena *a);
void arena_release(struct arena *a);
/** Returns arena memory of `n` bytes, aligned for any type. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* TAGD_UTIL_ARENA_H */
