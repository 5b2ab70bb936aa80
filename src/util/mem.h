/* util/mem.h: allocation that never returns NULL.
 *
 * Every size a client controls is capped before it reaches an allocator, so running out of
 * memory means the host is broken; these helpers log and abort instead of returning NULL. */
#ifndef TAGD_UTIL_MEM_H
#define TAGD_UTIL_MEM_H

#include <stddef.h>

/** Returns owned memory of `n` bytes; aborts when the host is out of memory. */
void *xmalloc(size_t n);
/** Returns owned zeroed memory for `n` items of `sz` bytes; aborts on overflow or OOM. */
void *xcalloc(size_t n, size_t sz);
/** Resizes `p` (takes) and returns owned memory; aborts on OOM. */
void *xrealloc(void *p, size_t n);
/** Returns an owned copy of the NUL-terminated `s`; NULL stays NULL. */
char *xstrdup(const char *s);
/** Returns an owned NUL-terminated copy of `len` bytes at `s`. */
char *xstrndup(const char *s, size_t len);
/** Frees memory from the helpers above; accepts NULL. */
void xfree(void *p);

#define TG_BUG(msg) tg_bug(__FILE__, __LINE__, (msg))
_Noreturn void tg_bug(const char *file, int line, const char *msg);

#endif /* TAGD_UTIL_MEM_H */
