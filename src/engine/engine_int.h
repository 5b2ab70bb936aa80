/* engine/engine_int.h: Only for src/engine/ and the engine's unit tests. Everyone else uses
 * engine.h. The engine's data structures, their invariants, and what its files share:
 *   snapshot.c  snapshots: what a build made and replaced, bitmaps shared by container,
 *               beginning, publishing and reclaiming builds, acquiring and releasing snapshots
 *   update.c    the build's changes: writable views, interned assigners, assignment blocks,
 *               tags, their dictionary and subtrees, resources, effective bitmaps, the key index
 *   load.c      engine_open: loading the whole index from the store
 *   catchup.c   engine_catch_up: from the change records, or by reading rows again
 *   read.c      what a snapshot answers besides queries: assignments, usage, tag lists
 *   eval.c      query evaluation (the parser is query.c)
 *   count.c     resources by how many of a set of tags they carry (tag policies' violations)
 *
 * A snapshot holds directories of pointers: tags by id, chunks of resource entries by id /
 * CHUNK, and the per-workspace sets (every resource of a workspace, every resource of one kind
 * in a workspace). Every object carries the generation that created it. While building
 * generation G the writer mutates in place only objects of generation G, which no reader has
 * seen; anything older is copied first and the original is put on the retire list of the
 * snapshot it belonged to. A retired object is freed when that snapshot and every older one
 * have been released (CRoaring's own copy-on-write is not used: see snapshot.c, at priv_has).
 *
 * Bitmaps per tag: `direct` (resources carrying the tag, deleted tags included, as their
 * assignments stay open) and `sub` (the union over the live tags of its subtree; NULL for a tag
 * without live children, whose subtree is `direct`), and their effective versions `eff` and
 * `esub` (below, at struct etag), kept up to date by every change so that an effective query
 * reads them as a direct one reads `direct`. Resource entries keep their sorted direct tag ids,
 * parent, kind, workspace and a bitmap of their children. */
#ifndef TAGD_ENGINE_ENGINE_INT_H
#define TAGD_ENGINE_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "core/model.h"
#include "engine/engine.h"

/* A write copies the chunk of every resource it changes (40 bytes an entry) and, once per
 * build, the chunk directory. With 1,024-entry chunks the copies were a quarter of the
 * publisher's time under random adds (a 40 KB copy for each); 128 entries copy 5 KB, and the
 * directory of a million resources 61 KB per build (figure 4: publisher 22.8 -> 17.0 us per
 * add; 64 entries measured the same as 128). */
#define CHUNK_BITS 7
#define CHUNK (1u << CHUNK_BITS)
#define MAX_TAG_DEPTH 64
#define MAX_KINDS 4096

enum { R_EXISTS = 1, R_ARCHIVED = 2 };

struct etag {
    uint64_t gen, direct_gen, sub_gen;
    int64_t id, ws_id, parent_id;
    char *name, *key; /* shared by copies of the entry; retired when replaced */
    struct tag *rec;  /* the whole row, one allocation; name fields point at name and key */
    bool deleted;
    roaring_bitmap_t *direct; /* never NULL */
    roaring_bitmap_t *sub;    /* NULL: no live children */
    /* Effective (inherited) versions, what expand() of the source gives: a resource is in
     * eff(S) when it is in S, or it exists and its parent is in eff(S) (an existing resource
     * is in its parent's `children` and nothing else is). Invariants, in every published
     * snapshot:
     *   eff  == expand(direct), never NULL;
     *   esub == expand(sub), NULL exactly when sub is NULL.
     * So a resource's membership is decided by its own and its ancestors' membership in the
     * source: eff_refresh keeps it after each change of one member or one parent link, and
     * eng__effective_check (engine_int.h) recomputes both from scratch. Before effective
     * queries read these, each one walked the resource tree from every member (0.5-1.9 ms a
     * query at 200,000 assignments). */
    uint64_t eff_gen, esub_gen;
    roaring_bitmap_t *eff;
    roaring_bitmap_t *esub;
};

/* A resource's assignments are one block: ntags sorted tag ids, then as many `who` indexes
 * (the interned context and added_by), added_at times and ranks in the order of assigning
 * (by assignment id, which Oracle's dialect shows; a rank takes 4 bytes where the id took 8).
 * The tag ids come first, so `tags` is also the plain sorted array the queries read. */
#define B_WHO(p, n) ((uint32_t *)(p) + (n))
#define B_AT(p, n) ((int64_t *)((uint32_t *)(p) + 2 * (size_t)(n)))
#define B_ORD(p, n) ((uint32_t *)(B_AT(p, n) + (n)))
#define B_SIZE(n) ((size_t)(n) * (3 * sizeof(uint32_t) + sizeof(int64_t)))

struct eres {
    uint32_t *tags; /* the assignment block (above), NULL when none */
    roaring_bitmap_t *children;
    char *key;      /* immutable for the id; retired with the resource */
    uint32_t ntags, parent, ws;
    uint16_t kind;
    uint8_t flags;
};

struct chunk {
    uint64_t gen;
    struct eres r[CHUNK];
};

struct eset {
    int64_t ws_id;
    int kind;          /* -1: the workspace's universe */
    const char *kname; /* the interned kind (engine-owned, immutable), NULL for the universe */
    uint64_t gen;
    roaring_bitmap_t *bm;
};

/* Resources by (workspace, kind, key): an open-addressing table of resource ids that only
 * grows. The writer inserts into the table every snapshot shares (atomic slots); a reader
 * verifies each candidate against its own snapshot's entry, so ids inserted after its
 * snapshot, or of deleted resources, are skipped. A rebuild (at half load) makes a new table
 * for the build and retires the old one with its snapshot. */
struct keyidx {
    uint32_t cap, used; /* used: the writer's count */
    _Atomic uint32_t slot[];
};

struct dict_ent {
    int64_t ws_id;
    const char *key;
    uint32_t id;
};

/* Tag aliases (old names, core/aliases.c) by (workspace, key), sorted as `dict` is (cmp_dict):
 * one allocation, the keys stored after the entries. Aliases change only by renames, merges
 * and removals, and are few, so a change of any of them replaces the whole table (read again
 * from the store: eng__aliases_load). An entry's id may name a tag the snapshot no longer
 * holds or holds deleted: eng__alias_find skips those. */
struct alias_tab {
    size_t n;
    struct dict_ent e[];
};

/* The exclusive groups whose inheritance-conflict policy is not union (core/conflicts.c), by
 * group id ascending: one allocation, replaced whole (read again from the store:
 * eng__pols_load) when any group changes, as groups are few and seldom change. Effective
 * reads apply them (read.c, eval.c); a snapshot without one (pols NULL or n 0) reads exactly
 * as before the policies existed. */
struct pol_tab {
    size_t n;
    struct pol_ent {
        int64_t group;
        enum group_conflict conflict; /* never CONFLICT_UNION */
    } e[];
};

/* What a retired or made object is, for freeing it. A SHELL is a bitmap whose containers are
 * owned elsewhere (see "bitmaps shared by container" in snapshot.c): only its arrays go; with an
 * origin (an abandoned build's shallow copy), its containers not in the origin go too. */
enum { OBJ_MEM, OBJ_BITMAP, OBJ_SHELL, OBJ_CONTAINER };

struct retired {
    void *p;
    void *origin;
    uint8_t kind, type; /* type: a container's typecode */
};

/* (context, added_by) pairs, interned: an assignment keeps a 4-byte index. The table only
 * grows; its directory is allocated once, so readers index it without a lock (an entry is
 * written before the snapshot that refers to it is published). */
#define WHO_CHUNK_BITS 10
#define WHO_CHUNK (1u << WHO_CHUNK_BITS)
#define WHO_DIR 4096
struct who {
    char *context, *added_by;
};

struct eng_snap {
    uint64_t gen;
    int64_t rev;
    int refs;
    struct eng_snap *newer;
    struct etag **tags;
    uint32_t ntags; /* directory length: max tag id + 1 */
    uint64_t tags_gen;
    struct dict_ent *dict;
    size_t ndict;
    uint64_t dict_gen;
    uint32_t *rank; /* by tag id: its place in `dict`, so name order is an integer compare */
    struct alias_tab *aliases; /* NULL: none */
    struct pol_tab *pols;      /* NULL: none */
    struct chunk **chunks;
    uint32_t nchunks;
    uint64_t chunks_gen;
    struct eset *sets;
    size_t nsets;
    uint64_t sets_gen;
    roaring_bitmap_t *archived;
    uint64_t archived_gen;
    struct keyidx *kidx;  /* shared by snapshots until a rebuild (above) */
    struct who **who_dir; /* the engine's, shared by every snapshot */
    char **kinds;         /* the engine's kind names (append-only), shared likewise */
    size_t nres, nasg;
    /* writer only: what building the next snapshot replaced */
    struct retired *ret;
    size_t nret, capret;
};

struct engine {
    pthread_mutex_t mu;
    pthread_cond_t published; /* with mu: a new snapshot is current (engine_wait) */
    pthread_mutex_t catch_mu; /* one engine_catch_up at a time: the writer's or the tailer's */
    struct eng_snap *cur, *oldest;
    /* writer only */
    struct eng_snap *b; /* being built, unpublished */
    uint64_t gen;
    size_t ret_mark; /* cur->nret when the build started */
    struct retired *made; /* objects created by the build: freed if it is abandoned */
    size_t nmade, capmade;
    bool structure_dirty, dict_dirty;
    void **priv; /* containers the build made (bm_own): an open-addressing set, NULL empty */
    size_t npriv, cappriv;
    char *kinds[MAX_KINDS];
    int nkinds;
    struct who **who_dir;
    uint32_t nwho;
    uint32_t *who_slots; /* writer's hash of the pairs: index + 1, 0 empty */
    size_t who_cap;
    uint32_t last_who;   /* the pair interned last: loading repeats it row after row */
    int64_t max_asg_id;  /* the largest assignment id any block was built from */
    uint32_t *stk;       /* eff_refresh's walk: (resource, in) pairs */
    size_t capstk;
    uint32_t *cand;      /* res_set_row's candidate tags */
    size_t ncand, capcand;
    /* Resources whose assignments a catch-up applied from the change records, or read again
     * one at a time, or in a ranged read of a run of ids (engine_catch_up_stats). */
    _Atomic uint64_t applied, reread, ranged;
};

/* Rows being gathered into one resource's assignment block. */
struct asg_rows {
    uint32_t *tags, *who;
    int64_t *at, *id;
    size_t n, cap;
};


/* snapshot.c: the build's bookkeeping, its bitmaps, beginning and publishing it. */
void eng__bm_add(struct engine *e, roaring_bitmap_t *b, uint32_t v);
roaring_bitmap_t *eng__bm_copy(struct engine *e, const roaring_bitmap_t *b);
roaring_bitmap_t *eng__bm_new(struct engine *e);
void eng__bm_remove(struct engine *e, roaring_bitmap_t *b, uint32_t v);
roaring_bitmap_t *eng__bm_shallow(struct engine *e, const roaring_bitmap_t *b);
void eng__build_abandon(struct engine *e);
void eng__build_begin(struct engine *e);
void eng__build_publish(struct engine *e);
void *eng__made(struct engine *e, void *p, bool bitmap);
void *eng__mem_dup(struct engine *e, const void *p, size_t n);
void eng__retire(struct engine *e, void *p, bool bitmap);
void eng__retire_shell(struct engine *e, roaring_bitmap_t *b);

/* update.c: reading and changing the index's objects (the build's writable views: w_*). */
int eng__cmp_dict(const void *x, const void *y);
const struct etag *eng__dict_find(const struct eng_snap *s, int64_t ws, const char *key);
/** The live tag alias `key` of workspace `ws` names in the snapshot, NULL when none. */
const struct etag *eng__alias_find(const struct eng_snap *s, int64_t ws, const char *key);
/** Reads every alias from the store into the build, replacing its table. */
int eng__aliases_load(struct engine *e, struct store_conn *c, struct tg_err *err);
/** Reads every group's conflict policy from the store into the build, replacing its table. */
int eng__pols_load(struct engine *e, struct store_conn *c, struct tg_err *err);
/** The policy group `group` applies in the snapshot: union when it has none (or is not
 * exclusive, or is 0). */
enum group_conflict eng__pol_of(const struct eng_snap *s, int64_t group);
void eng__kidx_rebuild(struct engine *e);
int eng__kind_index(struct engine *e, const char *kind, struct tg_err *err);
void eng__rebuild_dict(struct engine *e);
struct tag *eng__rec_read(struct store_stmt *st, const char *name, const char *key);
void eng__recompute_subtrees(struct engine *e);
const struct eres *eng__res_at(const struct eng_snap *s, uint32_t id);
int eng__res_set_row(struct engine *e, uint32_t rid, bool exists, int64_t ws, int kind,
                     uint32_t parent, bool archived, const char *key);
void eng__res_set_tags(struct engine *e, uint32_t rid, const uint32_t *now, uint32_t nnow);
uint32_t *eng__rows_block(const struct asg_rows *v);
void eng__rows_free(struct asg_rows *v);
int eng__rows_push(struct engine *e, struct asg_rows *v, struct store_stmt *st, int at,
                   struct tg_err *err);
/** Appends one row (tag, interned assigner, time, assignment id) to v. */
void eng__rows_append(struct engine *e, struct asg_rows *v, uint32_t tag, uint32_t who,
                      int64_t at, int64_t id);
struct eset *eng__set_find(const struct eng_snap *s, int64_t ws, int kind);
int eng__sync_tag(struct engine *e, struct store_conn *c, int64_t id, struct tg_err *err);
struct etag *eng__tag_at(const struct eng_snap *s, int64_t id);
void eng__tag_drop(struct engine *e, uint32_t id);
struct eres *eng__w_res(struct engine *e, uint32_t id);
void eng__w_tags_dir(struct engine *e, uint32_t need);
const struct who *eng__who_at(struct who *const *dir, uint32_t i);
int eng__who_intern(struct engine *e, const char *context, const char *added_by, uint32_t *out,
                    struct tg_err *err);

/* read.c: the groups' conflict policies along a resource's chain (core/conflicts.c). */

/* Per child-wins or parent-wins group with a tag on the chain, the level (0: the resource
 * itself) whose tags of the group stay in the resource's effective tags: the nearest holder's
 * for child-wins, the farthest's for parent-wins. Up to 16 groups in place, more in an
 * arena. */
struct eng_winners {
    int64_t *group;
    int *level;
    size_t n, cap;
    int64_t g0[16];
    int l0[16];
};
/** Fills `w` for the chain from `r` (at most max_depth levels). False when the chain reaches
 * a resource the snapshot does not hold. `w` must not be copied (it points into itself). */
bool eng__chain_winners(const struct eng_snap *s, struct arena *a, const struct eres *r,
                        int max_depth, struct eng_winners *w);
/** Whether tag `t`, held on level `depth` of the chain `w` describes, stays. */
bool eng__wins(const struct eng_winners *w, const struct etag *t, int depth);

/* catchup.c */
int eng__id32(int64_t id, const char *what, struct tg_err *err);

/** x & y ('&'), x & ~y ('-') or x | y ('|') as a new bitmap, as the queries compute them
 * (bm_op in eval.c: a bitset container may hold DEFAULT_MAX_SIZE or fewer members). */
roaring_bitmap_t *eng__bm_op(const roaring_bitmap_t *x, const roaring_bitmap_t *y, char op);

/**
 * Recomputes every tag's effective bitmaps (eff, esub: struct etag, above) from its direct
 * and subtree bitmaps by walking the resource tree, and compares them with the ones the engine
 * maintains. Returns how many differ (0: all equal); the first one is described in `msg`.
 * Costs a walk per tag: for tests and debug builds on small snapshots.
 */
int eng__effective_check(const struct eng_snap *s, char *msg, size_t len);

/** Resource `root` and every resource below it in the resource tree (what a token scoped to
 * `root` reaches), as a new bitmap the caller frees (eval.c). */
roaring_bitmap_t *eng__resource_subtree(const struct eng_snap *s, int64_t root);

/** Rows in a batch of engine_open's assignment reader (load.c): tests make it small, so that
 * a resource's rows straddle batches. */
extern size_t eng__load_batch;

/** Whether eng_query_run evaluates an expression with operators key by key (eval.c,
 * fused_run; the default) or with a bitmap per operation: tests compare the two. */
extern bool eng__fused;

#endif /* TAGD_ENGINE_ENGINE_INT_H */
