/* engine/engine.h: the in-memory index of tags, resources and assignments.
 *
 * Loaded from the store at start and kept current by engine_catch_up after every commit: it
 * reads the change log past the last revision it applied and reloads the current rows of the
 * tags and resources those changes name (the same path can tail another instance's changes).
 *
 * Readers work on snapshots: engine_acquire returns the newest published snapshot, which stays
 * valid and unchanged until engine_release, however many commits are applied meanwhile. The
 * writer never mutates a published object: it copies what a batch touches (a tag's bitmaps, a
 * chunk of resource entries, a resource's tag array), builds the next snapshot beside the
 * current one, and swaps a pointer. Replaced objects are freed once every snapshot that could
 * see them is released. A mutex guards only the pointer swap and the reference counts, so no
 * read waits for a write to be applied.
 *
 * Resource and tag ids are the ordinals of the bitmaps, so both must stay below 2^32.
 *
 * Threads: engine_catch_up from any thread (calls are serialized: the writer after its commits,
 * the tailer after other instances'); engine_acquire, _release and the snapshot readers from any
 * thread. */
#ifndef TAGD_ENGINE_ENGINE_H
#define TAGD_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/query.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"

struct engine;
struct eng_snap;

/** Loads the whole current state through `c` (inside its own read transaction). */
int engine_open(struct store_conn *c, struct engine **out, struct tg_err *err);

/** Told while engine_open loads, every few thousand rows and once at the end: the resources
 * and current assignments read so far. On engine_open's thread. */
typedef void engine_progress_fn(void *arg, int64_t resources, int64_t assignments);
/** Sets the progress callback of the next engine_open (NULL: none). Before engine_open. */
void engine_set_progress(engine_progress_fn *fn, void *arg);
/** Frees the engine; every snapshot must have been released. */
void engine_free(struct engine *e);
/** Frees what queries kept on the calling thread (dense copies of containers, eval.c); for
 * every thread that ran queries, before it ends. */
void eng_thread_done(void);
/** Applies every change committed after the last applied revision and publishes a new
 * snapshot. Call outside any transaction of `c`. On failure nothing is published and the next
 * call retries from the same revision. */
int engine_catch_up(struct engine *e, struct store_conn *c, struct tg_err *err);
/** Resources whose assignment changes the catch-ups applied from the change records, and
 * resources they read again from the store instead (a changed resource row, or a record that
 * did not fit: see catchup.c, aops_apply). */
void engine_catch_up_stats(struct engine *e, uint64_t *applied, uint64_t *reread,
                           uint64_t *ranged);

const struct eng_snap *engine_acquire(struct engine *e);
void engine_release(struct engine *e, const struct eng_snap *s);
/** Waits until the published snapshot reflects revision `rev`, at most timeout_ms; true when it
 * does. For a writer that must read the engine as of the commits before its own (the
 * publisher applies them meanwhile, on another thread: see txn/txn.c). */
bool engine_wait(struct engine *e, int64_t rev, int64_t timeout_ms);
/** The last revision the snapshot reflects. */
int64_t eng_snap_rev(const struct eng_snap *s);

struct eng_stats {
    int64_t rev;
    size_t tags, resources, assignments;
    size_t bitmap_bytes; /* serialized size of every bitmap: a proxy for their memory */
};
void eng_snap_stats(const struct eng_snap *s, struct eng_stats *out);

/** The id of resource (ws, kind, key) in the snapshot, 0 when it has none. */
int64_t eng_resource_by_key(const struct eng_snap *s, int64_t ws, const char *kind,
                            const char *key);

/* ---- assignments of a resource ---- */

struct eng_asg {
    const struct tag *tag; /* the snapshot's record */
    const char *context, *added_by;
    int64_t added_at;
    int64_t seq;           /* orders a resource's assignments as they were made */
    int64_t resource_id;   /* the resource carrying it */
    int64_t from_id;       /* 0: direct; else the ancestor it is inherited from */
    const char *from_kind, *from_key;
};

/**
 * The live assignments of a resource of workspace `ws_id`, by tag name; with `effective`,
 * then each ancestor's (up to max_depth levels), nearest first, a tag listed once where it
 * is nearest (max_depth counts the resource itself). False when the engine does not know the
 * resource or one of its ancestors (the store must answer). Entries in `a`; their strings
 * belong to the snapshot.
 */
bool eng_assignments(const struct eng_snap *s, struct arena *a, int64_t ws_id,
                     int64_t resource_id, bool effective, int max_depth, struct eng_asg **out,
                     size_t *n);

/** Tag `id`'s whole record in the snapshot (deleted ones too), NULL when it has none. */
const struct tag *eng_tag_record(const struct eng_snap *s, int64_t id);
/** The live tag of workspace `ws` whose name key (name_normalize's key) is `key`, NULL when
 *  none is (aliases are not looked at). */
const struct tag *eng_tag_by_key(const struct eng_snap *s, int64_t ws, const char *key);

/**
 * Tag usage: ids above after_id, ascending, of the resources carrying tag `tag_id` (with
 * `descendants`, any live tag of its subtree), at most `want`. A deleted tag has none. False
 * when the snapshot does not know the tag in that workspace (the store must answer).
 * OUT total_out (may be NULL): how many resources carry it in all, whatever after_id and want.
 */
bool eng_tag_usage(const struct eng_snap *s, int64_t tag_id, int64_t ws_id, bool descendants,
                   int64_t after_id, size_t want, int64_t *ids, size_t *n, int64_t *total_out);

/**
 * The names of the workspace's live tags directly on at least one resource of `kinds` (nkinds
 * 0: any kind), archived resources counting only with `archived`, name starting with `prefix`
 * (case-sensitive; NULL: any), sorted bytewise; the array in `a`, the names the snapshot's.
 */
void eng_tag_names_in_use(const struct eng_snap *s, int64_t ws_id, const char *const *kinds,
                          size_t nkinds, bool archived, const char *prefix, struct arena *a,
                          const char ***out, size_t *n);

/* ---- inherited changes ---- */

/* What putting tag T on a resource, or taking it off, changes in effective tags (a resource's
 * effective tags are its own and its ancestors'). */
struct eng_inherited {
    bool has_children;   /* the resource has descendants */
    bool self;           /* the resource's own effective tags change */
    int64_t descendants; /* descendants whose effective tags change */
    size_t nids;         /* how many of them are in ids (at most cap), ascending */
};

/**
 * For tag `tag_id` put on or taken off resource `resource_id` directly, the rest of the
 * snapshot as it is (the same set either way): nothing changes when the resource's parent
 * holds the tag effectively; else the resource and each descendant not under a nearer direct
 * holder of the tag. Up to `cap` of those descendants' ids into ids (may be NULL). Walks the
 * descendants that change, as applying the change does. A tag the snapshot does not know
 * counts as carried by no one (a tag made by the same write). False when the snapshot does not
 * know the resource.
 */
bool eng_inherited(const struct eng_snap *s, int64_t resource_id, int64_t tag_id,
                   struct eng_inherited *out, int64_t *ids, size_t cap);
/* What moving a resource to another parent changes in effective tags, tag by tag. */
struct eng_moved_tag {
    int64_t tag_id;
    bool add;            /* the new ancestors carry it (effectively) and the old did not */
    bool self;           /* the resource's own effective tags change: it does not carry the
                          * tag directly (then neither does anything below it change) */
    int64_t descendants; /* its descendants whose effective tags change, for this tag */
    int64_t *ids;        /* those, ascending, when eng_moved.listed; else NULL */
};

struct eng_moved {
    bool has_children;
    bool self;            /* the resource's effective tags change (some tag's self) */
    int64_t descendants;  /* descendants whose effective tags change, for any tag */
    bool listed;          /* every tag's ids are there: their sum is at most the cap */
    size_t ntags;         /* the live tags that one parent's chain carries and the other's
                           * not, by id */
    struct eng_moved_tag *tags;
};

/**
 * For resource `resource_id` moved from under `from` to under `to` (0: a root; a resource the
 * snapshot does not know carries nothing), the rest of the snapshot as it is: each live tag
 * that the ancestors gain or lose changes the effective tags of the resource and of each
 * descendant not under a nearer direct holder of it (what eng_inherited walks, without the
 * parent's check). The ids are listed when all tags' together are at most `cap`. With
 * `self_only` the descendants are not walked (their share is counted elsewhere: a deleted
 * resource's children are detached on their own). False when the snapshot does not know the
 * resource. Free with eng_moved_release.
 */
bool eng_moved(const struct eng_snap *s, int64_t resource_id, int64_t from, int64_t to,
               size_t cap, bool self_only, struct eng_moved *out);
void eng_moved_release(struct eng_moved *m);
/**
 * The resources that carry tag `tag_id` effectively (directly or from an ancestor), whether
 * the tag is deleted or not (a deleted tag's assignments stay open): how many in *total, and
 * up to `cap` of their ids, ascending, into ids (*n of them). False when the snapshot does not
 * know the tag.
 */
bool eng_tag_effective(const struct eng_snap *s, int64_t tag_id, int64_t *ids, size_t cap,
                       size_t *n, int64_t *total);
/** Resource `id` and its ancestors, nearest first, up to cap, into out; their number (0 when the
 * snapshot does not know it). *has_children: whether `id` has descendants. */
size_t eng_resource_chain(const struct eng_snap *s, int64_t id, int64_t *out, size_t cap,
                          bool *has_children);
/** True when resources a and b are the same, or one is an ancestor of the other. */
bool eng_resource_related(const struct eng_snap *s, int64_t a, int64_t b);

/* ---- tag lists ---- */

struct eng_tag_filter {
    int64_t ws_id;
    const char *prefix;  /* case-folded name prefix; NULL: any */
    const char *q;       /* case-folded substring of the name; NULL: any */
    const char *source, *excluded_source;
    const char *kind;    /* only tags on a resource of this kind */
    int64_t group_id, parent_id; /* 0: any */
    int archived, deleted;       /* 0: leave out, 1: include, 2: only */
    int state; /* 0: any; 1 + enum tag_state: only that state; 9: any but draft; 8: none */
    const char *after;   /* keyset cursor: only name keys above this */
};

/**
 * The workspace's tags matching `f`, in name-key order (byte order of the case-folded names):
 * up to `cap` records past the cursor into `out`, and in `total` every match regardless of the
 * cursor. The records belong to the snapshot.
 */
struct tag;
void eng_tag_list(const struct eng_snap *s, const struct eng_tag_filter *f, const struct tag **out,
                  size_t cap, size_t *n, int64_t *total);

/* ---- queries ---- */

struct eng_query {
    int64_t ws_id;
    const char *kind;  /* NULL: any */
    bool effective;    /* match inherited tags too */
    bool archived;     /* include archived resources */
    int64_t after_id;  /* keyset cursor: only ids above this */
    int64_t within;    /* nonzero: only this resource and its descendants (scoped tokens) */
    int limit;         /* ids wanted (0: only count) */
};

/* A query term that named a tag by an old name (an alias): the name as written, normalized,
 * and the tag it resolved to, so that answers can say so. */
struct eng_alias_hit {
    const char *alias; /* NFC */
    int64_t tag_id;
    const char *tag;   /* the tag's current name */
    struct eng_alias_hit *next;
};

struct eng_result {
    uint64_t total;    /* every match, regardless of the cursor */
    int64_t *ids;      /* up to limit ids above after_id, ascending (arena) */
    size_t n;
    bool more;         /* more ids follow the last one */
    struct eng_alias_hit *aliases; /* the terms resolved through an alias, last first (arena) */
};

/**
 * Evaluates a parsed query. An unknown tag name or an invalid one is TG_EINVAL with `qe` set
 * (column and message) and `err` set; the result lives in `a`.
 */
int eng_query_run(const struct eng_snap *s, struct arena *a, const struct qnode *q,
                  const struct eng_query *o, struct eng_result *out, struct qerr *qe,
                  struct tg_err *err);

/* ---- counting tags per resource (count.c) ---- */

/* Tags of a workspace picked by name: the live tag of case-folded name `key`, and with
 * `subtree` every live tag below it (names `key.…`). */
struct eng_pick {
    const char *key;
    bool subtree;
};

/* Which resources to find: those of a workspace (and kind) that carry directly fewer than
 * `min` or more than `max` of the counted tags (the picked ones, or with `invert` every live
 * tag of the workspace that no pick names). Archived resources are left out. */
struct eng_count_query {
    int64_t ws_id;
    const char *kind; /* NULL: every kind */
    const struct eng_pick *picks;
    size_t npicks;
    bool invert;
    int min;          /* 0: no lower bound; at most ENG_COUNT_MAX */
    int max;          /* < 0: no upper bound; below ENG_COUNT_MAX */
    int64_t within;   /* nonzero: only this resource and its descendants (scoped tokens) */
    int64_t after_id; /* keyset cursor: only ids above this */
    int limit;        /* hits wanted (0: only the total) */
};
#define ENG_COUNT_MAX 1000

/* A resource found, with the counted tags it carries (their number is its count). */
struct eng_count_hit {
    int64_t id;
    const char *kind, *key;
    const char **tags; /* names, sorted bytewise */
    size_t ntags;
};

struct eng_count_result {
    uint64_t total;              /* every resource found, regardless of the cursor */
    struct eng_count_hit *hits;  /* up to limit, ids above after_id, ascending */
    size_t n;
    bool more;                   /* more hits follow the last one */
};

/**
 * Resources by how many of a set of tags they carry, from the bitmaps: a bound at most is
 * the resources in more than `max` of the tags' bitmaps, one at least the kind's resources
 * minus those in `min` of them, each computed with a bitmap per level (ENG_COUNT_MAX bounds
 * the levels), so the cost grows with the counted tags and the bounds, never with the
 * resources that are fine. Only the page's resources are read one by one (their tags for the
 * hits). Everything in *out, strings included, lives in `a`.
 */
void eng_count_run(const struct eng_snap *s, struct arena *a, const struct eng_count_query *q,
                   struct eng_count_result *out);

/** The direct tag ids of a resource (sorted); false when the engine does not know it. */
bool eng_resource_tags(const struct eng_snap *s, int64_t resource_id, const uint32_t **tags,
                       size_t *n);

#endif /* TAGD_ENGINE_ENGINE_H */
