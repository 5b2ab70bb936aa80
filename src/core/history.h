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

/* ---- the native API's as-of reads (core_asof_*) ----
 *
 * A past moment is named by a revision or a time (core_asof_resolve); each read then answers
 * what the workspace held at that revision, from the history tables, with the same rules as
 * the present reads: deleted tags are not listed unless asked for and never count as assigned,
 * effective tags are the resource's own then each ancestor's (nearest first), a tag query sees
 * only the subtree of a scoped token. The engine holds only the present, so these reads go to
 * the store. A tag purged since (DELETE ?purge=true) has left no history and is not seen. */

/* The most rows one as-of read loads into memory (tags of a workspace, resources or
 * assignments for a tag query): beyond it the read is TG_ELIMIT, never unbounded work. */
#define ASOF_MAX_ROWS 200000

/**
 * Resolves `spec`, the as_of parameter: digits below 10^12 are a revision number; digits of
 * 10^12 or more are epoch milliseconds and anything else an RFC 3339 time, each resolved to
 * the last revision committed at or before it. A revision after the newest or a time after
 * now is TG_EINVAL; a moment before the caller's organization existed (or before revision 1)
 * is TG_ENOTFOUND. On success *rev is the revision and *at its commit time (ms).
 */
int core_asof_resolve(struct core_ctx *ctx, const char *spec, int64_t *rev, int64_t *at,
                      struct tg_err *err);

/** Every tag of the workspace at `rev` matching f's prefix, q, archived and deleted (the
 * other fields of `f` are TG_EINVAL when set), sorted by name, one page after f->cursor. */
int core_asof_tag_list(struct core_ctx *ctx, int64_t rev, const struct tag_filter *f,
                       struct tag **out, size_t *n, const char **next, int64_t *total,
                       struct tg_err *err);
/** The tag `ref` (an id, "tag_<id>" or its name then) at `rev`; TG_ENOTFOUND when it did not
 * exist or was deleted then. */
int core_asof_tag_get(struct core_ctx *ctx, int64_t rev, const char *ref, struct tag *out,
                      struct tg_err *err);
/** The workspace's groups at `rev`, by id; one group (TG_ENOTFOUND when none then). */
int core_asof_group_list(struct core_ctx *ctx, int64_t rev, struct group **out, size_t *n,
                         struct tg_err *err);
int core_asof_group_get(struct core_ctx *ctx, int64_t rev, int64_t id, struct group *out,
                        struct tg_err *err);
/** The group's live tags at `rev` in their order then. */
int core_asof_group_tags(struct core_ctx *ctx, int64_t rev, int64_t id, struct tag **out,
                         size_t *n, struct tg_err *err);
/** The resource (kind, key) at `rev`, with its parent's kind and key then. */
int core_asof_resource_get(struct core_ctx *ctx, int64_t rev, const char *kind, const char *key,
                           struct resource *out, struct tg_err *err);
/** Resource `id` at `rev`, as core_asof_resource_get. */
int core_asof_resource_get_id(struct core_ctx *ctx, int64_t rev, int64_t id,
                              struct resource *out, struct tg_err *err);
/** A keyset page of the workspace's resources at `rev` (f->tag_id is TG_EINVAL). */
int core_asof_resource_list(struct core_ctx *ctx, int64_t rev, const struct resource_filter *f,
                            struct resource **out, size_t *n, bool *more, struct tg_err *err);
/** As core_assign_list, at `rev`, for resource `res` as core_asof_resource_get gave it. */
int core_asof_assign_list(struct core_ctx *ctx, int64_t rev, const struct resource *res,
                          bool effective, struct assignment **out, size_t *n,
                          struct tg_err *err);

struct core_query;
struct core_query_result;
struct core_query_err;
/** As core_query_resources (core/query.h), evaluated on the workspace at `rev`. */
int core_asof_query(struct core_ctx *ctx, int64_t rev, const struct core_query *q,
                    struct core_query_result *out, struct core_query_err *qe,
                    struct tg_err *err);

struct history_filter {
    const char *principal; /* only this principal's changes, or NULL */
    int64_t from_ms;       /* changes at or after (0: any) */
    int64_t to_ms;         /* changes before (0: any) */
    const char *cursor;    /* next_cursor of the previous page, or NULL */
    int limit;
};
/**
 * One page of the change records of a tag ("tag"), a group ("group") or a resource
 * ("resource": its own changes and its assignments'), oldest first; *next is the cursor of the
 * next page or NULL. The scan starts at the entity's first version.
 */
int core_history(struct core_ctx *ctx, const char *entity, int64_t id,
                 const struct history_filter *f, struct change **out, size_t *n,
                 const char **next, struct tg_err *err);

#endif /* TAGD_CORE_HISTORY_H */
