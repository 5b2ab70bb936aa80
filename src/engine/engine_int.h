/* engine/engine_int.h: Only for src/engine/ and the engine's unit tests. Everyone else uses
 * engine.h. */
#ifndef TAGD_ENGINE_ENGINE_INT_H
#define TAGD_ENGINE_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <roaring/roaring.h>

struct eng_snap;

/** x & y ('&'), x & ~y ('-') or x | y ('|') as a new bitmap, as the queries compute them
 * (bm_op in engine.c: a bitset container may hold DEFAULT_MAX_SIZE or fewer members). */
roaring_bitmap_t *eng__bm_op(const roaring_bitmap_t *x, const roaring_bitmap_t *y, char op);

/**
 * Recomputes every tag's effective bitmaps (eff, esub: engine.c, struct etag) from its direct
 * and subtree bitmaps by walking the resource tree, and compares them with the ones the engine
 * maintains. Returns how many differ (0: all equal); the first one is described in `msg`.
 * Costs a walk per tag: for tests and debug builds on small snapshots.
 */
int eng__effective_check(const struct eng_snap *s, char *msg, size_t len);

/** Whether eng_query_run evaluates an expression with operators key by key (engine.c,
 * fused_run; the default) or with a bitmap per operation: tests compare the two. */
extern bool eng__fused;

#endif /* TAGD_ENGINE_ENGINE_INT_H */
