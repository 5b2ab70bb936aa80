/* core/history.h: reads of the model as it was at a past revision (time travel).
 *
 * Every versioned entity keeps its versions in <table>_hist with [valid_from, valid_to)
 * revisions and assignments are temporal in place, so the state at revision R is the set of
 * rows with valid_from <= R < valid_to (valid_to NULL: still current). The revisions table maps
 * wall-clock time to revisions (core_rev_at_time). These reads serve LaunchDarkly's asOf and any later dialect
 * that needs "as it was then"; the same functions also answer the current state, from the
 * current tables, so callers have one entry point. */
#ifndef TAGD_CORE_HISTORY_H
#define TAGD_CORE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* The most resource kinds one tag-use query can name. */
#define HIST_MAX_KINDS 8

struct tag_use_filter {
    const char *const *kinds; /* resource kinds to look at; nkinds 0: every kind */
    size_t nkinds;            /* at most HIST_MAX_KINDS */
    const char *prefix;       /* case-sensitive prefix of the tag name, or NULL */
    bool archived;            /* also count uses on archived resources */
    bool as_of;               /* false: now; true: as of revision `rev` */
    int64_t rev;              /* with as_of: 0 means before the first revision (nothing) */
    int64_t offset;           /* names to skip */
    int64_t limit;            /* names to return; 0: all */
};

/**
 * The distinct names of live (not deleted) tags directly assigned to at least one resource of
 * the workspace matching `f`, sorted bytewise ascending, one page of them in *out (arena), and
 * the count of all matching names before paging in *total. With as_of, names, assignments,
 * kinds and archived flags are those valid at the revision: a tag renamed since shows its old
 * name, a resource archived since counts as not archived.
 */
int core_tag_names_in_use(struct core_ctx *ctx, const struct tag_use_filter *f,
                          const char ***out, size_t *n, int64_t *total, struct tg_err *err);

#endif /* TAGD_CORE_HISTORY_H */
