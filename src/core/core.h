/* core/core.h: the model and every business rule, once.
 *
 * Every dialect calls these functions; none of them knows HTTP, a dialect's field spellings or
 * which store is behind store.h. A request works through one struct core_ctx: its connection,
 * its arena, the authenticated principal and the workspace it acts in. Writes happen inside the
 * transaction the HTTP layer opened on the writer thread; the first change of a request
 * allocates its revision, and every later change of the same request shares it.
 *
 * Returned strings and arrays live in ctx->a (the request arena) unless stated otherwise.
 * Every function returns 0 or a negative tg_code with `err` filled. */
#ifndef TAGD_CORE_CORE_H
#define TAGD_CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/sbuf.h"
#include "util/secret.h"

/* Rights. `admin` implies every other right. */
enum {
    RIGHT_READ = 1,   /* tags:read */
    RIGHT_WRITE = 2,  /* tags:write: the taxonomy */
    RIGHT_ASSIGN = 4, /* tags:assign: tags on resources */
    RIGHT_ADMIN = 8,  /* admin: users, tokens, organizations */
    RIGHT_ALL = 15,
};

/** Configuration limits core enforces, set at start. The atomic ones SIGHUP sets again while
 * requests read them (each read sees the old or the new value, never a torn one). */
struct eng_snap;

struct core_limits {
    _Atomic int max_tags_per_resource; /* 1000 */
    int max_batch;             /* 1000 items in one request */
    int max_list_limit;        /* 1000 */
    _Atomic int64_t session_ttl_ms; /* easydb sessions, 24 h */
    _Atomic int64_t auth_cache_ms;  /* longest a cached token authentication is trusted, 1 s; 0 off */
    _Atomic int64_t login_ttl_ms;   /* tokens of an API-key login (core_apikey_login), 1 h */
    /* Descendants an assignment record lists by id in its "inherited" member, 1000; beyond
     * it the record has their count only (docs/events.md). */
    _Atomic int64_t events_effective_max;
};
extern struct core_limits core_limits;

struct principal {
    int64_t token_id;
    int64_t user_id;
    int64_t org_id;
    int64_t ws_id;       /* the organization's default workspace */
    unsigned rights;
    const char *name;    /* who, for created_by / added_by / the change log */
    const char *kind;    /* "api", "session", "applink", "publiclink", "env", "login" */
    int64_t resource_id; /* scope: 0, or the resource whose subtree the token reaches */
    int64_t expires_at;  /* 0: never */
    const char *extra;   /* token's extra JSON (dialect data), may be NULL */
    /* The tag subtree patterns it may assign, as stored (JSON array text: ["Team.*"]); NULL:
     * no limit. A session's is its user's, an API-key login's its key's (assign_rights.c). */
    const char *assign;
};

struct engine;

struct alias_hit;
struct policy_cache;

struct core_ctx {
    struct store_conn *conn;
    /* The in-memory index that reads are answered from, and the writer's own reads when it is
     * current (core_writer_snap); NULL: none is loaded, the store answers. Set by whoever
     * owns the engine (the server's loops and write pipeline) after core_ctx_init. */
    struct engine *engine;
    struct arena *a;
    struct principal who;
    bool authed;
    int64_t org_id;
    int64_t ws_id;
    int64_t rev;  /* 0 until the first change of this request */
    int seq;      /* change records written so far in this revision */
    int64_t now;  /* ms, fixed for the whole request */
    bool writing; /* inside the writer's transaction */
    /* An import restores assignments that existed where it was exported: a deprecated or
     * archived tag may be on resources there, so its state does not refuse them (a draft never
     * was on any; lifecycle.c). */
    bool restoring;
    /* A write that outlives the request's own (txn/txn.c): when the writer undoes what a
     * request wrote (its answer is an error), it then calls after_undo, in a savepoint of its
     * own in the same transaction. An import records a refused chunk in its job so. */
    int (*after_undo)(struct core_ctx *ctx, void *arg);
    void *after_undo_arg;
    int64_t min_rev;              /* X-Tagd-Min-Revision: the engine answers only from there */
    const struct eng_snap *snap;  /* the engine snapshot this read answers from, once taken */
    uint64_t auth_epoch;          /* store_auth_epoch() when the request began */
    int64_t auth_rev;             /* store_auth_rev() then (read before auth_epoch) */
    int64_t auth_min_rev;         /* the revision the client named: tokens as of it */
    /* The old names (aliases) this request named and core resolved to the tags they are now,
     * newest first (arena); the native API tells the client (aliases.c). */
    struct alias_hit *alias_hits;
    int64_t expiry_added;         /* writes: the earliest expiry this request wrote, 0: none */
    /* The workspace's enforced tag policies as this request read them for its first checked
     * assignment write (policies.c, arena); NULL: not read yet, or dropped because a policy or
     * a tag changed since. */
    struct policy_cache *policies;
    /* The API the request came through, the name of its route's dialect ("native", "easydb"
     * ...), set by the http layer, which alone knows the route; the native API's
     * authentication makes it "console" for a request with the console's session cookie. The
     * change log records it. NULL: the server's own work (the expiry sweep, bootstrap),
     * recorded as "system". */
    const char *api;
    /* The principal's assign list parsed (assign_rights.c), valid while who.assign is
     * assign_src; assignments the server makes on a principal's behalf (a source's refresh)
     * set assign_unchecked around them. */
    const char *assign_src;
    const char *const *assign_keys;
    size_t assign_n;
    bool assign_unchecked;
};

/* ---- the request context (context.c) and the writer's engine reads (writer_fresh.c) ---- */

/** Prepares a context for one request. */
void core_ctx_init(struct core_ctx *ctx, struct store_conn *conn, struct arena *a, bool writing);
/** Frees what the calling thread cached (at the end of a server thread). */
void core_thread_done(void);
/**
 * The writer's own reads from the engine. With SQLite tagd is the only writer, so the engine's
 * snapshot at revision R is the store at R, and a resource's assignments read from it are
 * current unless a change after R touched the resource (committed but not yet applied, or made
 * earlier in the writer's transaction) or touched anything else (a tag renamed, deleted …).
 * core_change notes each change for that; core_writer_snap answers with the snapshot only when
 * none applies. Off (the store answers) until core_writer_engine(true); never with PostgreSQL,
 * where other instances write.
 */
void core_writer_engine(bool on);
/** The writer committed everything up to revision `rev` (its batch's last). */
void core_writer_committed(int64_t rev);
/** The newest snapshot of ctx->engine when it is current for `resource_id` (release it with
 * engine_release(ctx->engine, ...)), or NULL: the store must answer. */
const struct eng_snap *core_writer_snap(struct core_ctx *ctx, int64_t resource_id);
/** Whether snapshot `s` is current for `resource_id` (0: for what is not a resource: tags,
 * groups …). */
bool core_writer_fresh(const struct eng_snap *s, int64_t resource_id);
/** Ends the request: releases the engine snapshot it read from. */
void core_ctx_done(struct core_ctx *ctx);
/**
 * The engine snapshot a read answers from (the same one for the whole request), or NULL when
 * the store must answer: while writing (the engine has not seen the transaction), without an
 * engine, or when the engine has not applied the revision the client asked for.
 */
const struct eng_snap *core_snap(struct core_ctx *ctx);
/** The revision of core_snap(ctx) in *rev; false when core_snap(ctx) is NULL. */
bool core_snap_rev(struct core_ctx *ctx, int64_t *rev);

/* ---- rights and authentication (rights.c, token_auth.c; first start: bootstrap.c) ---- */

/** Parses "tags:read,tags:write,tags:assign,admin" (also "read", "write", "assign", "*"). */
int core_rights_parse(const char *s, unsigned *out, struct tg_err *err);
/** The name of right bit `i` (1u << i) as tokens carry it, NULL past the last. */
const char *core_right_name(int i);
/** Renders rights as the canonical comma list into the arena. */
const char *core_rights_str(struct arena *a, unsigned rights);
/** Looks the secret up (by hash) and, when valid, fills ctx->who and sets ctx->authed,
 * ctx->org_id and ctx->ws_id. TG_EAUTH when unknown, revoked or expired. */
int core_auth_token(struct core_ctx *ctx, const char *secret, struct tg_err *err);
/** The hash core_auth_token looks a token up by (secret_hash), for a request that checks the
 * same token again and again (an event stream: the hash was half its cost per change). False
 * for a secret that cannot be a token. */
bool core_token_hash(const char *secret, char hash[SECRET_HASH_HEX]);
/** core_auth_native of the credential whose core_token_hash is `hash`. */
int core_auth_native_hashed(struct core_ctx *ctx, const char hash[SECRET_HASH_HEX],
                            struct tg_err *err);
/** core_auth_token that also accepts the tokens of API-key logins (core_apikey_login). Only
 * the routes of the dialect whose clients log in that way call it (Immuta's /tag). */
int core_auth_token_login(struct core_ctx *ctx, const char *secret, struct tg_err *err);
/** core_auth_token that also accepts the sessions begun on the native API (core_session_login,
 * core/sessions.h), with their user's current rights. The native API's routes call it. */
int core_auth_native(struct core_ctx *ctx, const char *secret, struct tg_err *err);
/** True when the principal is an admin of the installation's first (default) organization,
 * the only one allowed to manage organizations. */
bool core_install_admin(struct core_ctx *ctx);
/** TG_EAUTH when not authenticated, TG_EFORBIDDEN when a right of `need` is missing. */
int core_require(struct core_ctx *ctx, unsigned need, struct tg_err *err);

/**
 * First start: creates the default organization, its workspace and the admin user when the
 * store is empty; applies `env_token` (may be NULL) as an admin token. When the store was empty
 * and no env token is given, *generated is set to a fresh admin token (owned; xfree) to be
 * printed once.
 */
int core_bootstrap(struct store_conn *conn, const char *env_token, const char *admin_password,
                   char **generated, struct tg_err *err);

/* ---- organizations and workspaces (orgs.c) ---- */

struct org {
    int64_t id;
    const char *name;
    int64_t default_ws_id;
    int64_t created_at;
};
struct workspace {
    int64_t id;
    int64_t org_id;
    const char *name;
    bool is_default;
    int64_t created_at;
};
int core_org_create(struct core_ctx *ctx, const char *name, struct org *out, struct tg_err *err);
int core_org_list(struct core_ctx *ctx, struct org **out, size_t *n, struct tg_err *err);
int core_org_get(struct core_ctx *ctx, int64_t id, struct org *out, struct tg_err *err);
int core_ws_create(struct core_ctx *ctx, int64_t org_id, const char *name, struct workspace *out,
                   struct tg_err *err);
int core_ws_get(struct core_ctx *ctx, int64_t id, struct workspace *out, struct tg_err *err);
/** Makes an authenticated context act in workspace `ref` ("ws_N" or "N") of its own
 * organization instead of the default one: TG_EINVAL when malformed, TG_ENOTFOUND when no
 * workspace of the caller's organization has that id. */
int core_ws_select(struct core_ctx *ctx, const char *ref, struct tg_err *err);
/** The id of workspace `ref` ("ws_N" or "N") of the caller's organization into *id, with the
 * errors of core_ws_select naming `field`. */
int core_ws_resolve(struct core_ctx *ctx, const char *ref, const char *field, int64_t *id,
                    struct tg_err *err);
int core_ws_list(struct core_ctx *ctx, int64_t org_id, struct workspace **out, size_t *n,
                 struct tg_err *err);

/* ---- the change log (changes.c) ---- */

/** Appends one change record (allocating the request's revision on first use). `before` and
 * `after` are JSON text or NULL. */
int core_change(struct core_ctx *ctx, const char *entity, int64_t entity_id, const char *op,
                const char *before, const char *after, struct tg_err *err);
/** Ensures ctx->rev is allocated (also for writes that record no entity change). */
int core_rev(struct core_ctx *ctx, struct tg_err *err);
struct change {
    int64_t rev, seq, at, entity_id;
    const char *principal, *entity, *op, *before, *after;
    const char *api; /* the API it came through (core_ctx.api, "system"); NULL: not noted */
    /* The workspace the write acted in (core_ctx.ws_id), 0 for none; read by
     * core_changes_list only (the event stream and /v1/changes filter on it), 0 elsewhere. */
    int64_t ws_id;
};
/** Change records of revisions after `since`, in (rev, seq) order. A page holds whole
 * revisions: when `limit` cuts a revision, the rest of it is included, so the caller can go on
 * from the last record's revision. */
int core_changes_list(struct core_ctx *ctx, int64_t since, int limit, struct change **out,
                      size_t *n, struct tg_err *err);
/** The newest committed revision visible to this connection. */
int64_t core_current_rev(struct core_ctx *ctx);
/** The newest revision committed at or before `ms` (0 if none). */
int64_t core_rev_at_time(struct core_ctx *ctx, int64_t ms);

/* ---- tags (tags.c; struct tag and the other plain values: core/model.h) ---- */

/* What a create or update sets. For update, only fields whose has_ flag is set change. */
struct tag_input {
    const char *name;
    const char *display_name;
    bool has_display_name;
    const char *l10n; /* JSON object text {"de-DE": "…"} */
    bool has_l10n;
    const char *color; /* "#RRGGBB" */
    bool has_color;
    const char *description;
    bool has_description;
    const char *source; /* NULL: curated */
    bool has_source;
    bool system_created;
    bool protected_;
    bool has_protected;
    bool archived;
    bool has_archived;
    const char *state; /* "draft", "active", "deprecated", "archived" (core_tag_state_apply) */
    bool has_state;
    const char *replaced_by; /* a tag's name or id (tag_N); NULL clears it */
    bool has_replaced_by;
    bool assign_restricted; /* roots a restricted subtree; changing it needs admin */
    bool has_assign_restricted;
    int64_t group_id; /* 0: none */
    bool has_group;
    int64_t position;
    bool has_position;
    const char *extra; /* dialect data as JSON object text */
    bool has_extra;
    bool revive; /* create: bring a soft-deleted tag of that name back instead of TG_EEXISTS */
    bool force;  /* update: allowed to change protected tags (system work only) */
};

struct tag_filter {
    const char *prefix; /* name prefix, case-insensitive */
    const char *q;      /* substring of the name, case-insensitive */
    const char *source;
    const char *excluded_source;
    int64_t group_id; /* 0: any */
    int archived;     /* 0 exclude, 1 include, 2 only */
    int deleted;      /* 0 exclude, 1 include, 2 only */
    int state;        /* 0: any; 1 + enum tag_state: only that state */
    bool no_drafts;   /* leave drafts out (a reader who is no steward) */
    const char *kind; /* only tags in use on resources of this kind */
    int64_t parent_id; /* 0: any */
    const char *cursor; /* opaque, from a previous page */
    int limit;
};

int core_tag_get(struct core_ctx *ctx, int64_t id, struct tag *out, struct tg_err *err);
int core_tag_find(struct core_ctx *ctx, const char *name, struct tag *out, struct tg_err *err);
/** Resolves "42", "tag_42" or a name. */
int core_tag_resolve(struct core_ctx *ctx, const char *ref, struct tag *out, struct tg_err *err);
/** Creates a tag; missing parents are created implicitly. TG_EEXISTS when the name is taken. */
int core_tag_create(struct core_ctx *ctx, const struct tag_input *in, struct tag *out,
                    struct tg_err *err);
/** Finds the tag or creates it with default fields. */
int core_tag_ensure(struct core_ctx *ctx, const char *name, struct tag *out, struct tg_err *err);
/** Updates the set fields; a new name renames the whole subtree. `if_version` 0 skips the
 * check, otherwise a different version is TG_EPRECOND. Protected tags are TG_ERULE. */
int core_tag_update(struct core_ctx *ctx, int64_t id, const struct tag_input *in,
                    int64_t if_version, struct tag *out, struct tg_err *err);
/** Soft-deletes (or, with purge, removes) a tag; with children and without `recursive` it is
 * TG_ECONFLICT. Deleted tags vanish from every read of assignments. */
int core_tag_delete(struct core_ctx *ctx, int64_t id, bool recursive, bool purge,
                    int64_t if_version, struct tg_err *err);
int core_tag_restore(struct core_ctx *ctx, int64_t id, struct tag *out, struct tg_err *err);
/** One page of tags sorted by name; *next is NULL on the last page; total counts all matches. */
int core_tag_list(struct core_ctx *ctx, const struct tag_filter *f, struct tag **out, size_t *n,
                  const char **next, int64_t *total, struct tg_err *err);
/** Every tag of the subtree rooted at `t` (itself included), sorted by name. */
int core_tag_subtree(struct core_ctx *ctx, const struct tag *t, struct tag **out, size_t *n,
                     struct tg_err *err);
/** The tag as JSON (the change-log and history representation). */
const char *core_tag_json(struct core_ctx *ctx, const struct tag *t);
/** Saves a tag row: insert when before is NULL, else update; writes history and a change. */
int core_tag_save(struct core_ctx *ctx, const struct tag *before, struct tag *after,
                  const char *op, struct tg_err *err);

/* ---- aliases and merges (aliases.c) ----
 *
 * A rename or a move keeps each old name (of the tag and of every tag below it) as an alias of
 * the tag it now is; a merge keeps the merged tags' names as aliases of the tags they went
 * into. Lookups by name (core_tag_find, core_tag_resolve, core_tag_ensure), assignment by name
 * in every dialect and the query language resolve an alias to its tag. Invariants: an alias
 * name is unique in its workspace, and no live tag has an alias's name (a deleted one may: a
 * merged tag keeps its row, and its history, under its old name); a tag may take an alias's
 * name only when the alias points to that tag (a rename back), which drops the alias. */

struct tag_alias {
    int64_t id, ws_id, tag_id, created_at;
    const char *name, *name_key;
    const char *reason; /* "rename" or "merge" */
    const char *created_by;
};

/* A name a request gave that was an alias, and the tag it named (core_ctx.alias_hits). */
struct alias_hit {
    const char *alias; /* as stored (NFC) */
    int64_t tag_id;
    const char *tag;   /* the tag's current name */
    struct alias_hit *next;
};

/** The alias of case-folded name `key` in the workspace; *found tells whether there is one. */
int core_alias_find(struct core_ctx *ctx, const char *key, struct tag_alias *out, bool *found,
                    struct tg_err *err);
/** The aliases of tag `tag_id`, oldest first (arena). */
int core_alias_list(struct core_ctx *ctx, int64_t tag_id, struct tag_alias **out, size_t *n,
                    struct tg_err *err);
/** Removes alias `name` (any case) of tag `tag_id`; TG_ENOTFOUND when the tag has no such
 * alias. The name is then free for a new tag. */
int core_alias_remove(struct core_ctx *ctx, int64_t tag_id, const char *name, struct tg_err *err);

struct merge_opts {
    const char *into; /* the tag merged into: id or name (an alias resolves) */
    bool subtree;     /* also merge every tag below, into the tag of the same relative name */
    bool dry_run;     /* compute the whole effect, write nothing */
};

/* One tag merged into another. */
struct merge_pair {
    struct tag from, into;
    bool created;       /* `into` does not exist yet: the merge makes it (id 0 in a dry run) */
    int64_t moved;      /* assignments moved from `from` to `into` */
    int64_t collapsed;  /* resources that carried both: `from`'s assignment is dropped */
    int64_t aliases;    /* aliases that pointed to `from` and now point to `into` */
};

/* A resource that would carry two tags of an exclusive group after the merge. */
struct merge_conflict {
    int64_t resource_id;
    const char *kind, *key;
    const char *group;
    const char **tags; /* the group's tags the resource would carry, by name */
    size_t ntags;
};

struct merge_result {
    struct merge_pair *pairs; /* parents before children */
    size_t npairs;
    int64_t moved, collapsed, resources;
    struct merge_conflict *conflicts;
    size_t nconflicts;
};

/**
 * Merges tag `from_id` (and, with o->subtree, the tags below it) into o->into: in one
 * transaction every assignment moves to the target (a resource carrying both keeps the
 * target's), aliases of the merged tags follow them, each merged tag's name becomes an alias
 * of its target, and the merged tags are deleted (their rows and history stay). A merge that
 * would put two tags of an exclusive group on a resource is TG_ECONFLICT, before anything is
 * written, with the conflicts in *out. With o->dry_run nothing is written and *out holds the
 * whole effect. Child tags without o->subtree are TG_ECONFLICT; merging into itself or into
 * its own subtree is TG_ERULE.
 */
int core_tag_merge(struct core_ctx *ctx, int64_t from_id, const struct merge_opts *o,
                   struct merge_result *out, struct tg_err *err);

/** Validates "#RRGGBB" or "#RGB" (hex digits of either case) and copies it to `out` as given:
 * dialects echo a color the way their client sent it. */
int core_color_parse(const char *in, char out[8], const char *field, struct tg_err *err);

/* ---- the lifecycle (lifecycle.c; docs/taxonomy.md, "Lifecycle") ---- */

/**
 * Applies in->state, in->replaced_by and the older in->archived flag to `t`, whose state was
 * `from` (creating: it had none). Transitions: draft to any state; active, deprecated and
 * archived among themselves; nothing back to draft. replaced_by names a live active tag other
 * than `t`, only while `t` is deprecated; leaving deprecated clears it. TG_EINVAL or TG_ERULE
 * with `err` set.
 */
int core_tag_state_apply(struct core_ctx *ctx, const struct tag_input *in, enum tag_state from,
                         bool creating, struct tag *t, struct tg_err *err);
/** Whether the caller may see `t`: a draft only with tags:write or admin (a steward). */
bool core_tag_visible(struct core_ctx *ctx, const struct tag *t);
/** 0 when `t` may be put on a resource anew; else TG_ERULE saying why (with the replacement's
 * name for a deprecated tag). */
int core_tag_assignable(struct core_ctx *ctx, const struct tag *t, struct tg_err *err);
/** An expiry given as `expires_at` (RFC 3339 or epoch ms; NULL: none) or `ttl` seconds (< 0:
 * none), at most one of them, as ms since the epoch in *out (0: never). It must lie ahead of
 * ctx->now and within ten years. TG_EINVAL with `err` naming the field. */
int core_expiry_parse(struct core_ctx *ctx, const char *expires_at, int64_t ttl, int64_t *out,
                      struct tg_err *err);
/**
 * Removes the current assignments that expired at `now` or before, at most `limit` of them,
 * earliest first, each logged as an assignment removal by "system" in its resource's
 * organization, all under one revision. ctx is the writer's, unauthenticated. *removed gets
 * how many. Inside the caller's write transaction.
 */
int core_expiry_sweep(struct core_ctx *ctx, int64_t now, int limit, int *removed,
                      struct tg_err *err);
/** The earliest expiry of a current assignment in *next (INT64_MAX: none). */
int core_expiry_next(struct core_ctx *ctx, int64_t *next, struct tg_err *err);

/* ---- groups (groups.c) ---- */

struct group_input {
    const char *name;
    const char *l10n;
    bool has_l10n;
    bool exclusive;
    bool has_exclusive;
    int64_t position;
    bool has_position;
    const char *extra;
    bool has_extra;
    const char *conflict; /* a policy's name (model.h, group_conflict_name) */
    bool has_conflict;
};
int core_group_get(struct core_ctx *ctx, int64_t id, struct group *out, struct tg_err *err);
int core_group_create(struct core_ctx *ctx, const struct group_input *in, struct group *out,
                      struct tg_err *err);
int core_group_update(struct core_ctx *ctx, int64_t id, const struct group_input *in,
                      int64_t if_version, struct group *out, struct tg_err *err);
/** Deletes the group; its tags stay, without a group. */
int core_group_delete(struct core_ctx *ctx, int64_t id, struct tg_err *err);
int core_group_list(struct core_ctx *ctx, struct group **out, size_t *n, struct tg_err *err);
/** The group's live tags in order. */
int core_group_tags(struct core_ctx *ctx, int64_t id, struct tag **out, size_t *n,
                    struct tg_err *err);
/** Makes `ids` (in this order) the group's tags; tags no longer listed leave the group. */
int core_group_set_tags(struct core_ctx *ctx, int64_t id, const int64_t *ids, size_t n,
                        struct tg_err *err);

/* ---- resources (resources.c, documents.c) ---- */

struct resource_input {
    const char *name;
    bool has_name;
    const char *parent_kind; /* NULL with has_parent: detach */
    const char *parent_key;
    bool has_parent;
    bool archived;
    bool has_archived;
    const char *extra;
    bool has_extra;
};
struct resource_filter {
    const char *kind;
    int64_t parent_id; /* 0 any */
    int64_t tag_id;    /* 0 any: resources carrying this tag directly */
    int archived;      /* 0 exclude, 1 include, 2 only */
    int64_t after_id;  /* keyset cursor */
    int limit;
};
/** Checks a resource's document (resource_input.extra, JSON object text; NULL: none) for its
 *  kind: a flag's and a segment's hold only the properties of LaunchDarkly's FeatureFlag and
 *  UserSegment that tagd does not keep itself, with their types (core/documents.c). */
int core_document_check(const char *kind, const char *doc, struct tg_err *err);
/** Validates a kind ([a-z0-9_-], 1-32) and a key (clean UTF-8, 1-512 bytes). */
int core_resource_ref_check(const char *kind, const char *key, struct tg_err *err);
int core_resource_get(struct core_ctx *ctx, const char *kind, const char *key,
                      struct resource *out, struct tg_err *err);
int core_resource_get_id(struct core_ctx *ctx, int64_t id, struct resource *out,
                         struct tg_err *err);
/** Creates or updates; a missing parent is created; a cycle is TG_ERULE. */
int core_resource_put(struct core_ctx *ctx, const char *kind, const char *key,
                      const struct resource_input *in, struct resource *out, bool *created,
                      struct tg_err *err);
/**
 * Creates the resources v[0..n-1] (at most XCHG_BULK_ROWS) as core_resource_put creates each
 * one that does not exist, with the same rows, history and change records, in that order, but
 * three statements for them all (an import's chunk, core/interchange.c). The caller gives
 * kind, key, name, parent_id (an existing resource, or 0) and archived, and has checked them
 * as core_resource_put does; extra must be NULL. Sets each one's id and versioned fields.
 * Inside the writer's transaction only.
 */
int core_resource_create_bulk(struct core_ctx *ctx, struct resource *v, size_t n,
                              struct tg_err *err);
/** Resources core_resource_create_bulk wrote since the start (/metrics). */
uint64_t core_resource_bulk_stats(void);
/** The id of resource (kind, key) from the store itself (TG_ENOTFOUND: none). */
int core_resource_find_id(struct core_ctx *ctx, const char *kind, const char *key, int64_t *id,
                          struct tg_err *err);
/** Returns the resource, creating it bare when missing. */
int core_resource_ensure(struct core_ctx *ctx, const char *kind, const char *key,
                         struct resource *out, struct tg_err *err);
/** core_resource_ensure for a caller that needs only the id: an existing resource costs one
 * index lookup instead of its row and its parent's. */
int core_resource_ensure_id(struct core_ctx *ctx, const char *kind, const char *key,
                            int64_t *id, struct tg_err *err);
/** Deletes the resource and its assignments; children are detached. */
/** Only the id of resource (kind, key): from the engine when it has it, else the store. */
int core_resource_id(struct core_ctx *ctx, const char *kind, const char *key, int64_t *id,
                     struct tg_err *err);
int core_resource_delete(struct core_ctx *ctx, const char *kind, const char *key,
                         struct tg_err *err);
int core_resource_list(struct core_ctx *ctx, const struct resource_filter *f,
                       struct resource **out, size_t *n, bool *more, int64_t *total,
                       struct tg_err *err);
/** True when `id` is `ancestor` or lies in its subtree. */
bool core_resource_within(struct core_ctx *ctx, int64_t id, int64_t ancestor);
/** As core_resource_within, in the tree as it was at the end of revision `rev` (a resource
 * deleted by then where it was when deleted): what the change stream's filters ask of a
 * record of that revision, so that a record passes or not whenever it is read. */
bool core_resource_within_at(struct core_ctx *ctx, int64_t id, int64_t ancestor, int64_t rev);

/* ---- assignments (resources.c) ---- */

/** The resource's tags: direct only, or effective (own first, then each ancestor's, nearest
 * first; a tag both direct and inherited is listed once, as direct). */
int core_assign_list(struct core_ctx *ctx, int64_t resource_id, bool effective,
                     struct assignment **out, size_t *n, struct tg_err *err);
/** The resource's direct tags as core_assign_list gives them, but of each tag only id, name,
 * name_key, display_name and color are set (the rest is zero): about half the work per row,
 * for the answers of write requests, which run on the writer thread. */
int core_assign_list_brief(struct core_ctx *ctx, int64_t resource_id, struct assignment **out,
                           size_t *n, struct tg_err *err);
/** Adds tags (already present ones are left alone). All or nothing: exclusive groups and the
 * per-resource limit are checked for the whole set. Unless `out` is NULL, gives the resource's
 * tags afterwards, as core_assign_list_brief (without reading them back). */
int core_assign_add(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids, size_t n,
                    const char *context, struct assignment **out, size_t *nout,
                    struct tg_err *err);
/** As core_assign_add and core_assign_replace; the tags added (not those already there) expire
 * at `expires_at` (ms since the epoch; 0: never), which must lie ahead of ctx->now. */
int core_assign_add_until(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids,
                          size_t n, const char *context, int64_t expires_at,
                          struct assignment **out, size_t *nout, struct tg_err *err);
int core_assign_replace_until(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids,
                              size_t n, const char *context, int64_t expires_at,
                              struct assignment **out, size_t *nout, struct tg_err *err);
/* One resource's adds in core_assign_add_bulk (borrowed). */
struct core_bulk_add {
    int64_t resource_id;
    const int64_t *tag_ids;
    size_t n;
    const char *context; /* NULL: "manual" */
};

/**
 * As core_assign_add for each of v[0..nv-1] in order, with the same rules and the same change
 * records, but written many rows a statement (an import's chunk, core/interchange.h). Tags in
 * an exclusive group go one at a time. On failure *failed is the index of the item at fault
 * (the transaction is the caller's to roll back). Inside the writer's transaction only.
 */
int core_assign_add_bulk(struct core_ctx *ctx, const struct core_bulk_add *v, size_t nv,
                         size_t *failed, struct tg_err *err);
/** Assignment rows core_assign_add_bulk wrote since the start, many a statement (`bulk`) or one
 * at a time (`single`: a rest too short for one, or an exclusive group's), refused chunks'
 * included (/metrics). Any thread. */
void core_assign_bulk_stats(uint64_t *bulk, uint64_t *single);

/** TG_ENOTFOUND when the tag is not directly on the resource. */
int core_assign_remove(struct core_ctx *ctx, int64_t resource_id, int64_t tag_id,
                       struct tg_err *err);
/** Makes the direct set exactly `tag_ids`; `out` as for core_assign_add. */
int core_assign_replace(struct core_ctx *ctx, int64_t resource_id, const int64_t *tag_ids,
                        size_t n, const char *context, struct assignment **out, size_t *nout,
                        struct tg_err *err);
/** Resources carrying the tag (or, with descendants, any tag of its subtree), by id. */
int core_tag_usage(struct core_ctx *ctx, const struct tag *t, bool descendants, int64_t after_id,
                   int limit, struct resource **out, size_t *n, bool *more, struct tg_err *err);
/** How many resources core_tag_usage lists in all (its pages' "total"). */
int core_tag_usage_total(struct core_ctx *ctx, const struct tag *t, bool descendants,
                         int64_t *total, struct tg_err *err);
/** Counts for /metrics. */
int core_counts(struct core_ctx *ctx, int64_t *tags, int64_t *resources, int64_t *assignments);

/* ---- users and tokens (users.c, tokens.c, principals.c) ---- */

struct user {
    int64_t id, org_id, created_at;
    const char *login, *display_name, *rights;
    const char *assign; /* JSON array of tag subtree patterns; NULL: no limit */
    bool disabled;
};
struct token {
    int64_t id, org_id, user_id, resource_id, created_at, expires_at, revoked_at;
    const char *kind, *name, *rights, *extra;
    const char *assign; /* JSON array of tag subtree patterns; NULL: no limit */
};
/** Makes a user. `assign` (may be NULL: no limit) is core_assign_parse's canonical text. */
int core_user_create(struct core_ctx *ctx, const char *login, const char *password,
                     unsigned rights, const char *assign, struct user *out, struct tg_err *err);
int core_user_list(struct core_ctx *ctx, struct user **out, size_t *n, struct tg_err *err);
/** A user of ctx's organization; TG_ENOTFOUND for another organization's. */
int core_user_get(struct core_ctx *ctx, int64_t id, struct user *out, struct tg_err *err);
/**
 * Changes user `id`'s rights (when `rights` is non-NULL) and assign list (when `set_assign`:
 * `assign` as core_assign_parse gives it, NULL for no limit), logged as one "update" record
 * with what changed before and after. Its sessions have the new ones from their next request
 * on (they read the user every time; the write moves the authentication epoch).
 */
int core_user_update(struct core_ctx *ctx, int64_t id, const unsigned *rights, bool set_assign,
                     const char *assign, struct user *out, struct tg_err *err);
/** Verifies a login of ctx's organization and its password (argon2id); TG_EAUTH when wrong.
 * Logins are unique per organization, so another organization's user of the same login is
 * another user. */
int core_user_check(struct core_ctx *ctx, const char *login, const char *password,
                    struct user *out, struct tg_err *err);
/**
 * Issues a token; the secret is returned once in *secret (arena) and only its hash is stored.
 * `org_id` 0 means the caller's organization. `assign` (may be NULL: no limit) is
 * core_assign_parse's canonical text.
 */
int core_token_create(struct core_ctx *ctx, int64_t org_id, const char *kind, const char *name,
                      unsigned rights, int64_t user_id, int64_t resource_id, int64_t expires_at,
                      const char *extra, const char *assign, const char **secret,
                      struct token *out, struct tg_err *err);
/** The tokens of organization `org_id` (0: the caller's; only the installation's admin may
 * name another, else TG_EFORBIDDEN; an unknown one is TG_ENOTFOUND). */
int core_token_list(struct core_ctx *ctx, int64_t org_id, const char *kind, struct token **out,
                    size_t *n, struct tg_err *err);
/** A token of the caller's organization; the installation's admin finds any organization's. */
int core_token_get(struct core_ctx *ctx, int64_t id, struct token *out, struct tg_err *err);
int core_token_revoke(struct core_ctx *ctx, int64_t id, struct tg_err *err);
/**
 * Sets the assign list of live API token `id` (core_token_get's reach; `assign` as
 * core_assign_parse gives it, NULL for no limit), logged as an "update" record; the token's
 * next request has it. Other kinds (the operator's env token, logins, sessions, links) get
 * their lists elsewhere: TG_EINVAL.
 */
int core_token_set_assign(struct core_ctx *ctx, int64_t id, const char *assign,
                          struct token *out, struct tg_err *err);
/**
 * An API-key login (Immuta's POST /bim/apikey/authenticate): `key` must be a live bearer token
 * (kind "api" or "env"); issues a token of kind "login" that stands for the key: the same
 * organization, rights, scope and principal, good until core_limits.login_ttl_ms from now or
 * until the key expires, whichever is first, and never after the key is revoked
 * (core_auth_token_login checks the key at every use). The secret is returned once in *secret
 * (arena), its expiry in *expires_at. TG_EAUTH (field "apikey") for any other key; the caller's
 * principal is then unset. Expired login tokens of the key's organization are swept first.
 * A wrong key costs the same statements as a right one but the insert.
 */
int core_apikey_login(struct core_ctx *ctx, const char *key, const char **secret,
                      int64_t *expires_at, struct tg_err *err);
/**
 * A number that stands for a principal as created_by / added_by record it (principal.name),
 * unique inside ctx's organization and stable across restarts (it comes from row ids, which
 * are never reused): a user's login gives the user's id (below CORE_PRINCIPAL_TOKEN_BASE); an
 * API token's name, the env admin token's "TAGD_ADMIN_TOKEN", an applink's or public link's
 * "applink:<id>" give CORE_PRINCIPAL_TOKEN_BASE + the id of the first token recorded under
 * that name. 0 for NULL, for "system" (what tagd did itself) and for a name no principal of
 * the organization has. A name is one principal: a token named like a user is that user, and
 * tokens that share a name share the number, as they share every record.
 */
int64_t core_principal_id(struct core_ctx *ctx, const char *who);
#define CORE_PRINCIPAL_TOKEN_BASE 1000000000000LL

/* ---- who may assign what (assign_rights.c; docs/security.md, "Assign rights") ---- */

/** Checks an `assign` list of `n` patterns (a tag name, "Name.*" for the tag and its subtree,
 * or "*") and gives its canonical form, a JSON array of NFC patterns, in *out (arena). At
 * most 100 patterns; TG_EINVAL (field "assign") otherwise. n 0 is a list that allows no tag. */
int core_assign_parse(struct core_ctx *ctx, const char *const *patterns, size_t n,
                      const char **out, struct tg_err *err);
/** Whether folded pattern `pattern` ("team.*", "team", "*") covers the tag of name key `key`. */
bool core_assign_pattern_covers(const char *pattern, const char *key);
/**
 * The decision alone: may a principal with folded patterns `patterns` (`limited` false: it has
 * no list, and `patterns` is ignored) add or remove the tag of name key `key`, which lies in
 * the restricted subtree rooted at name key `root` (NULL: in none)? Without a restriction any
 * covering pattern (or no list) allows it; inside one only a pattern that covers the tag and
 * whose own root lies in the restricted subtree does ("pii.*", "pii.email"; never "*").
 */
bool core_assign_decide(const char *const *patterns, size_t n, bool limited, const char *key,
                        const char *root);
/** The resource side: a token scoped to a resource subtree (who.resource_id) adds and removes
 * only on resources inside it. TG_EFORBIDDEN (field "resource") otherwise. */
int core_assign_scope(struct core_ctx *ctx, int64_t resource_id, struct tg_err *err);
/** The tag side: ctx's principal may add (`add`) or remove tag `t` by its assign list and the
 * tag's restricted subtree, if any. TG_EFORBIDDEN (field "tags") naming why. The server's own
 * work (unauthenticated, ctx->assign_unchecked) passes. */
int core_assign_tag_allowed(struct core_ctx *ctx, const struct tag *t, bool add,
                            struct tg_err *err);
/** core_assign_scope and core_assign_tag_allowed together. */
int core_assign_allowed(struct core_ctx *ctx, int64_t resource_id, const struct tag *t, bool add,
                        struct tg_err *err);

/* ---- helpers shared by the files of core/ and the dialects (context.c, refs.c) ---- */
char *core_strdup(struct core_ctx *ctx, const char *s);
/** Opaque cursors: base64url of a string. */
const char *core_cursor_encode(struct core_ctx *ctx, const char *s);
int core_cursor_decode(struct core_ctx *ctx, const char *c, const char **out, struct tg_err *err);
/** Parses "42" or "<prefix>42" into an id; false when it is neither. */
bool core_parse_id(const char *s, const char *prefix, int64_t *out);

#endif /* TAGD_CORE_CORE_H */
