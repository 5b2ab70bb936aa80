/* core/policies.h: tag policies of a workspace (docs/taxonomy.md, "Policies").
 *
 * A policy says which tags the resources of a workspace, or of one resource kind in it, must
 * or may carry:
 *   required  between `min` and `max` tags of one subtree (every `file` has exactly one tag of
 *             `Confidentiality.*`);
 *   allowed   only tags of the given subtrees (only `Env.*` on `environment` resources).
 * A subtree is a tag and every tag below it ("Name.*"), or a tag alone ("Name"). Policies
 * name their tags by id, so a rename or a merge keeps them on the same tags; answers show the
 * current names. Only tags put on a resource itself count, not the ones it inherits.
 *
 * Mode `audit` only reports (core_policy_violations); mode `enforce` also refuses, in every
 * dialect, an assignment write that moves a resource further out of the policy: an add or
 * replace that takes it over `max` tags of the subtree, a removal or replace that takes it
 * below `min` from a count that was higher (so a resource made without tags is accepted, and
 * listed as a violation until it gets one), a tag added outside the allowed subtrees. The
 * check is made once per operation (core_assign_add, _replace, _remove and what calls them:
 * every dialect's writes, batches, imports, source refreshes), on the resource's direct tags
 * before and after it, and refuses with TG_ERULE naming the policy. What is no client's
 * assignment write is not refused: expiry, merges, tag deletions, resource deletions; their
 * effects show as violations.
 *
 * Threads: as the rest of core. Reads of violations need the engine (TG_EBUSY without). */
#ifndef TAGD_CORE_POLICIES_H
#define TAGD_CORE_POLICIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define POLICY_MAX_PER_WS 100 /* policies in one workspace: each write may read them all */
#define POLICY_MAX_SUBTREES 100
#define POLICY_MAX_COUNT 100  /* the largest min or max */

enum policy_kind {
    POLICY_REQUIRED,
    POLICY_ALLOWED,
};

enum policy_mode {
    POLICY_AUDIT,
    POLICY_ENFORCE,
};

/* A subtree a policy names: tag `tag_id` alone or, with `subtree`, and every tag below it.
 * name and key are the tag's current ones (a deleted tag's last). */
struct policy_subtree {
    int64_t tag_id;
    bool subtree;
    bool deleted;
    const char *name, *key;
};

/* One policy. Invariants: a required policy has one subtree, 0 <= min <= POLICY_MAX_COUNT,
 * max -1 (no bound) or min <= max <= POLICY_MAX_COUNT with max >= 1, and min or max set; an
 * allowed policy has 1 to POLICY_MAX_SUBTREES subtrees, min 0 and max -1. */
struct policy {
    int64_t id, ws_id, created_at, updated_at, version;
    const char *name;          /* NULL: none */
    enum policy_kind kind;
    const char *resource_kind; /* NULL: every kind */
    struct policy_subtree *subtrees;
    size_t nsubtrees;
    int min, max;
    enum policy_mode mode;
    const char *created_by;
};

/* What a create sets, or a change (only the fields whose has_ flag is set). Strings borrow. */
struct policy_input {
    const char *name; /* NULL with has_name: none */
    bool has_name;
    const char *kind; /* "required" or "allowed"; a policy's kind never changes */
    bool has_kind;
    const char *resource_kind; /* NULL with has_resource_kind: every kind */
    bool has_resource_kind;
    const char *subtree; /* required: "Name.*" or "Name" (also an alias, or tag_N) */
    bool has_subtree;
    const char *const *subtrees; /* allowed: the same, 1 to POLICY_MAX_SUBTREES */
    size_t nsubtrees;
    bool has_subtrees;
    int64_t min;
    bool has_min;
    int64_t max; /* < 0 with has_max: no bound */
    bool has_max;
    const char *mode; /* "audit" (the default) or "enforce" */
    bool has_mode;
};

const char *core_policy_kind_name(enum policy_kind k);
const char *core_policy_mode_name(enum policy_mode m);
/** How a policy's subtree is written: "Name.*" or "Name" (arena). */
const char *core_policy_subtree_str(struct core_ctx *ctx, const struct policy_subtree *s);

/** The workspace's policies by id (arena). Needs tags:read. */
int core_policy_list(struct core_ctx *ctx, struct policy **out, size_t *n, struct tg_err *err);
/** One policy of the workspace; TG_ENOTFOUND when it has none of that id. Needs tags:read. */
int core_policy_get(struct core_ctx *ctx, int64_t id, struct policy *out, struct tg_err *err);
/** Creates a policy (admin). TG_EINVAL for malformed input, TG_ERULE for input that names no
 * live tag or makes no sense (min above max, a required policy requiring nothing) and beyond
 * POLICY_MAX_PER_WS policies. Logged as entity "policy", op "create". */
int core_policy_create(struct core_ctx *ctx, const struct policy_input *in, struct policy *out,
                       struct tg_err *err);
/** Changes the fields set (admin): switching `mode` from audit to enforce is one. `if_version`
 * 0 skips the check, else another version is TG_EPRECOND. Changing the kind is TG_ERULE. */
int core_policy_update(struct core_ctx *ctx, int64_t id, const struct policy_input *in,
                       int64_t if_version, struct policy *out, struct tg_err *err);
/** Deletes a policy (admin); TG_ENOTFOUND when there is none. */
int core_policy_delete(struct core_ctx *ctx, int64_t id, int64_t if_version, struct tg_err *err);

/* Why a resource is out of a policy. */
enum policy_reason {
    POLICY_TOO_FEW,     /* required: fewer than min tags of the subtree */
    POLICY_TOO_MANY,    /* required: more than max */
    POLICY_NOT_ALLOWED, /* allowed: a tag outside the allowed subtrees */
};
const char *core_policy_reason_name(enum policy_reason r);

struct policy_violation {
    const struct policy *policy;
    int64_t resource_id;
    const char *kind, *key;
    enum policy_reason reason;
    const char **tags; /* the tags concerned (required: the subtree's it carries; allowed: the
                        * ones outside), by name */
    size_t ntags;
    const char *message;
};

/**
 * The resources out of policy: of policy `policy_id` (0: of every policy of the workspace,
 * audit and enforce), ordered by policy id, then resource id; archived resources are left
 * out. Computed from the engine's bitmaps (engine/count.c). At most `limit` (1 to
 * core_limits.max_list_limit) after `cursor` (from a previous page's *next, NULL: the first
 * page); *next is NULL on the last page; *total counts every violation of the policies asked.
 * A token scoped to a resource sees its subtree only. *behind: the engine has yet to apply
 * the revision the request must reflect (ctx->min_rev), nothing else is set. Needs tags:read.
 */
int core_policy_violations(struct core_ctx *ctx, int64_t policy_id, const char *cursor, int limit,
                           struct policy_violation **out, size_t *n, const char **next,
                           int64_t *total, bool *behind, struct tg_err *err);

/* ---- for resources.c: the write check ---- */

/** Whether the workspace has enforced policies (read once per request and kept in ctx, until a
 * tag changes). A caller that must copy a resource's tags before a write to check it asks
 * first. */
int core__policy_enforced(struct core_ctx *ctx, bool *any, struct tg_err *err);
/** Checks a write that changed resource `resource_id`'s direct tags from `before` to `after`
 * (both of tags not deleted, with tag.id, tag.name and tag.name_key set) against the enforced
 * policies: TG_ERULE naming the first policy it breaks, else 0. */
int core__policy_check(struct core_ctx *ctx, int64_t resource_id, const struct assignment *before,
                       size_t nbefore, const struct assignment *after, size_t nafter,
                       struct tg_err *err);

#endif /* TAGD_CORE_POLICIES_H */
