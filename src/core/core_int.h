/* core/core_int.h: helpers shared by the files of core/ only. Everyone else uses core.h. */
#ifndef TAGD_CORE_CORE_INT_H
#define TAGD_CORE_CORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/store.h"

/* ---- reading rows (rows.c) ---- */

/* Row readers: copy the columns of TAG_COLS / RES_COLS / GROUP_COLS / TOKEN_COLS starting at
 * column `at` into arena-owned structs. */
void row_tag(struct core_ctx *ctx, struct store_stmt *st, int at, struct tag *t);
void row_resource(struct core_ctx *ctx, struct store_stmt *st, int at, struct resource *r);
void row_group(struct core_ctx *ctx, struct store_stmt *st, int at, struct group *g);
void row_token(struct core_ctx *ctx, struct store_stmt *st, int at, struct token *k);
const char *col_dup(struct core_ctx *ctx, struct store_stmt *st, int i);

/* A growable array in the request arena. Invariant: n <= cap, and items holds cap elements of
 * `size` bytes (NULL while cap is 0). */
struct vec {
    void *items;
    size_t n, cap, size;
};
void vec_init(struct vec *v, size_t size);
/** A new zeroed element at the end (arena memory; earlier element pointers may move). */
void *vec_push(struct core_ctx *ctx, struct vec *v);

/* ---- assign rights (assign_rights.c) ---- */

struct qnode;
struct qerr;
/** The parsed tree of a query text, its names normalized, from the thread's parse cache
 * (core/query.c); read-only, valid until the thread's next call. -1 with pe filled when the
 * text does not parse. */
int core__query_tree(const char *text, const struct qnode **tree, struct qerr *pe);
/** Frees the thread's parse cache (core_thread_done). */
void core__query_cache_done(void);

/** The innermost live restricted subtree of ctx's workspace holding the tag of name key `key`
 * (the tag itself or an ancestor with assign_restricted): its id in *root_id (0: none), its
 * name and name key (arena; either out may be NULL). */
int core__assign_root(struct core_ctx *ctx, const char *key, int64_t *root_id,
                      const char **root_name, const char **root_key, struct tg_err *err);
/** A rename, move or merge that takes tags or their assignments from the restricted subtree
 * `root_before` into `root_after` (ids; 0: none) is the admin's: TG_EFORBIDDEN otherwise. */
int core__assign_cross(struct core_ctx *ctx, int64_t root_before, int64_t root_after,
                       const char *what, struct tg_err *err);

/* ---- tags (tags.c) ---- */

/** The workspace's tag of name key `key`, soft-deleted ones included: *found tells whether there
 * is one. 0 either way, or a store error. An alias of that name counts as the tag it names
 * when no live tag has the name (core__tag_by_name). */
int core__tag_by_key(struct core_ctx *ctx, const char *key, struct tag *out, bool *found,
                     struct tg_err *err);
/** core__tag_by_key without aliases: the row of that name, if any. */
int core__tag_by_key_exact(struct core_ctx *ctx, const char *key, struct tag *out, bool *found,
                           struct tg_err *err);

/* ---- exclusive groups' inheritance conflicts (conflicts.c) ---- */

/** The policy group `g` applies: its own while exclusive, union otherwise. */
enum group_conflict core__group_policy(const struct group *g);

/* The workspace's groups whose policy is not union (at a revision, or now), for applying them
 * to effective tag lists. Sorted by group id; in the request arena. */
struct conflict_pols {
    int64_t *group;
    enum group_conflict *policy;
    size_t n;
};
/** Now (from the current rows of the writer's or the read's transaction). */
int core__conflict_pols(struct core_ctx *ctx, struct conflict_pols *out, struct tg_err *err);
/** As of revision `rev` (core_asof_group_list). */
int core__conflict_pols_at(struct core_ctx *ctx, int64_t rev, struct conflict_pols *out,
                           struct tg_err *err);
/** The policy of group `group_id` in `p` (union when it is not listed). */
enum group_conflict core__conflict_of(const struct conflict_pols *p, int64_t group_id);
/**
 * Applies the policies to a resource's effective list `as` (*n entries, the resource's own then
 * each ancestor's, nearest first, every tag of every level: not yet deduplicated; entries of
 * one level are contiguous and share resource_id; tag.group_id set). In a child-wins group
 * only the entries of the nearest level holding a tag of the group stay, in a parent-wins
 * group those of the farthest; then a tag listed on several levels keeps its first (nearest
 * remaining) entry. Compacts in place and sets *n.
 */
void core__conflict_resolve(struct core_ctx *ctx, const struct conflict_pols *p,
                            struct assignment *as, size_t *n);
/**
 * For putting tag `t` (of group `g`, whose policy is reject) on resource `resource_id`: the
 * conflict the tag would make with another tag of the group on an ancestor or a descendant is
 * TG_ECONFLICT naming both.
 */
int core__conflict_check_add(struct core_ctx *ctx, int64_t resource_id, const struct tag *t,
                             const struct group *g, struct tg_err *err);
/** For moving resource `resource_id` (with its subtree) below `parent_id`: TG_ECONFLICT when a
 * reject group's tag above would meet another tag of its group below. */
int core__conflict_check_move(struct core_ctx *ctx, int64_t resource_id, int64_t parent_id,
                              struct tg_err *err);
/** TG_ECONFLICT, with their number, when resources hold a tag of group `g` while an ancestor
 * holds another one: g becoming reject (joining NULL), or tag `joining` entering reject g. */
int core__conflict_refuse(struct core_ctx *ctx, const struct group *g, const struct tag *joining,
                          struct tg_err *err);
/** Called for every tag row written (core_tag_save): a live tag entering a reject group
 * (joining it, or restored in it) must not make a conflict there. */
int core__conflict_tag_check(struct core_ctx *ctx, const struct tag *before, const struct tag *t,
                             struct tg_err *err);

/* ---- aliases (aliases.c) and the assignment writes a merge shares (resources.c) ---- */

/** Keeps `nfc` (case-folded `key`) as an alias of tag `tag_id`. TG_EEXISTS when a live tag or
 * another alias has the name. */
int core__alias_add(struct core_ctx *ctx, const char *nfc, const char *key, int64_t tag_id,
                    const char *reason, struct tg_err *err);
/** Called for every tag row written (core_tag_save): a live tag `t` taking a name it did not
 * have (created, renamed or restored) may not take an alias's name, unless the alias points
 * to `t` itself, which is then dropped. */
int core__alias_name_check(struct core_ctx *ctx, const struct tag *before, const struct tag *t,
                           struct tg_err *err);
/** The tag alias `key` (case-folded) named at revision `rev`: *tag_id, 0 when none. */
int core__alias_at(struct core_ctx *ctx, const char *key, int64_t rev, int64_t *tag_id,
                   struct tg_err *err);
/** Removes every alias of tag `tag_id` (the tag is purged). */
int core__alias_drop_tag(struct core_ctx *ctx, int64_t tag_id, struct tg_err *err);
/** The tag named `key` (case-folded) now: a live tag of that name, else the tag an alias of
 * that name points to (noted in ctx->alias_hits), else a deleted tag of that name. *found
 * tells whether there is one. */
int core__tag_by_name(struct core_ctx *ctx, const char *key, struct tag *out, bool *found,
                      struct tg_err *err);
/** Adds tag `t` to a resource (no checks: the caller made them), with `context`, expiring at
 * `expires_at` (epoch ms, 0: never). */
int core__asg_add_one(struct core_ctx *ctx, int64_t resource_id, const struct tag *t,
                      const char *context, int64_t expires_at, struct tg_err *err);
/** Closes an assignment the caller knows is current. */
int core__asg_remove_one(struct core_ctx *ctx, int64_t resource_id, int64_t tag_id,
                         struct tg_err *err);

/* ---- assignments (resources.c) ---- */

/** Closes an assignment the caller knows is current, with its change record. */
int core__assign_close(struct core_ctx *ctx, int64_t resource_id, int64_t tag_id,
                       struct tg_err *err);

/* ---- the installation (meta.c, orgs.c, principals.c) ---- */

/** The meta table's value for `key` into `out`: 1 found, 0 not there, -1 on a store error. */
int core__meta_get(struct store_conn *c, const char *key, char *out, size_t outlen);
/** Sets `key` to `value` in the meta table (inside the caller's write transaction). */
int core__meta_set(struct store_conn *c, const char *key, const char *value, struct tg_err *err);
/** Makes the context act in organization `org_id` and its default workspace (TG_ENOTFOUND when
 * there is no such organization). */
int core__ctx_set_org(struct core_ctx *ctx, int64_t org_id, struct tg_err *err);
/* A native session's row `k` (kind "session") as the request's principal: only one begun by
 * core_session_login, authenticated, live, its user enabled (sessions.c; token_auth.c). */
int core__session_principal(struct core_ctx *ctx, const struct token *k, struct tg_err *err);
/** The principal name recorded as created_by / added_by. */
const char *core_actor(struct core_ctx *ctx);

/* ---- the change log (changes.c, writer_fresh.c) ---- */

/** Notes for core_writer_snap that `entity` `id` changed at revision `rev` (core_change). */
void core__fresh_note(struct engine *e, const char *entity, int64_t id, int64_t rev);
/** For an assignment record's "inherited" (resources.c): true when snapshot s holds every
 * committed change that could alter what eng_inherited answers for resource_id (a change of
 * the tree, or of the assignments of the resource, its ancestors or descendants); else false
 * and *wait_rev is the revision the engine must reach for that. True without notes (a shared
 * store: the instance's index as it is). */
bool core__fresh_tree(const struct eng_snap *s, int64_t resource_id, int64_t *wait_rev);
/* True when snapshot `s` holds every committed change to assignments and resources that the
 * writer noted; else false with *wait_rev the newest such revision it lacks (a tag's deletion
 * counts who carries it from them). */
bool core__fresh_assignments(const struct eng_snap *s, int64_t *wait_rev);

/* The offset of a field of type `ftype` in a model struct (another type does not compile). */
#define VERSIONED_AT(type, field, ftype)                                                           \
    (offsetof(type, field) + 0 * _Generic(((type *)0)->field, ftype: 0))
/* The offsets of struct versioned for a row of `type` whose model struct is reached through
 * member path `m` (empty, or like `g.` for a struct that wraps one). */
#define VERSIONED_FIELDS(type, m)                                                                  \
    .id_at = VERSIONED_AT(type, m id, int64_t), .ws_id_at = VERSIONED_AT(type, m ws_id, int64_t), \
    .created_at_at = VERSIONED_AT(type, m created_at, int64_t),                                    \
    .updated_at_at = VERSIONED_AT(type, m updated_at, int64_t),                                    \
    .version_at = VERSIONED_AT(type, m version, int64_t)

/**
 * What core_versioned_put needs to know of one kind of versioned row (tags, groups, resources).
 * Its four statements share their parameter numbers, so that a row is bound once, whether it
 * is inserted or updated:
 *   insert:     ?1 ws_id, ?2 now (created_at and updated_at), ?3 version, ?4... the row's
 *               columns (bind), then the columns only an insert sets (bind, insert true);
 *   update:     ?1 id, ?2 now (updated_at), ?3 version, ?4... the row's columns (bind);
 *   hist_close: ?1 id, ?2 revision (valid_to);
 *   hist_open:  ?1 id, ?2 revision (valid_from), ?3 the row's JSON, ?4... bind_hist;
 *   remove:     ?1 id.
 * The row's id, ws_id, created_at, updated_at and version are int64_t fields at the offsets
 * given (VERSIONED_FIELDS).
 */
struct versioned {
    const char *entity; /* the change log's name: "tag", "group", "resource" */
    const char *what;   /* "tag '<name>' already exists"; NULL: the store's error as it is */
    bool has_name;      /* new names (const char * at name_at) pass name_check_visible */
    size_t name_at;
    size_t id_at, ws_id_at, created_at_at, updated_at_at, version_at;
    enum store_sql insert, update, hist_close, hist_open;
    enum store_sql remove; /* ?1 id: deletes the current row */
    void (*bind)(struct store_stmt *st, const void *row, bool insert);
    void (*bind_hist)(struct store_stmt *st, const void *row); /* NULL: no more columns */
    const char *(*json)(struct core_ctx *ctx, const void *row); /* history and change log */
    /* NULL, or the change record's document: (before, row) the `after` of an update,
     * (row, NULL) the `before` of a removal, `op` the change's; the history keeps json's. A
     * resource's move and a tag's deletion carry what they change in effective tags
     * (resources.c, tags.c). */
    const char *(*change_json)(struct core_ctx *ctx, const void *before, const void *row,
                               const char *op);
};

/**
 * Writes one versioned row: inserts `row` when `before` is NULL (setting its id, ws_id,
 * created_at and version 1), else updates it to version before's + 1; either way sets
 * updated_at, closes the row's open history entry, opens one at the request's revision and
 * appends the change `op` with both JSON forms. `before` borrows, `row` is updated in place.
 * Inside the writer's transaction only.
 */
int core_versioned_put(struct core_ctx *ctx, const struct versioned *kind, const void *before,
                       void *row, const char *op, struct tg_err *err);

/**
 * Removes versioned row `row` (borrows) for good: closes its history at the request's revision,
 * deletes the current row and appends the change `op` ("delete", "purge") with its last JSON.
 * What refers to the row (assignments, children, a group's tags) is the caller's to settle
 * first. Inside the writer's transaction only.
 */
int core_versioned_remove(struct core_ctx *ctx, const struct versioned *kind, const void *row,
                          const char *op, struct tg_err *err);

/* ---- webhooks (webhooks.c, for webhook_run.c) ---- */

struct webhook;
/** The secret of a webhook's row, opened into `out` (SECRET_BOX_MAX + 1 bytes): false when it
 * was sealed under another key than this instance's, or is damaged. */
bool core__webhook_secret(const struct webhook *w, char *out, size_t outlen);
/** Every active webhook of every organization, by id. */
int core__webhook_active(struct core_ctx *ctx, struct webhook **out, size_t *n,
                         struct tg_err *err);

#endif /* TAGD_CORE_CORE_INT_H */
