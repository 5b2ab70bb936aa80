/* core/replace.h: replacing a workspace's grouped tags as one complete, ordered list.
 *
 * This is easydb's POST /api/v1/tags expressed on tagd's model: the input is every group of the
 * workspace in order, each with its tags in order. A group or tag with an id is updated, one
 * without is created, and every group, and every tag of a group, that the list leaves out is
 * deleted (tags soft-deleted, so their history stays). Positions follow the list. Tags that
 * belong to no group are outside the list and never touched.
 *
 * Everything is checked before anything is written, so an invalid item changes nothing and a
 * replace that needs confirmation (TG_ECONFIRM) has written nothing either.
 *
 * Names: tagd needs a unique name for every group and tag. A new one gets its name from its
 * display names (en-US first, else the first language given): '.' and ',' become '_', it is
 * trimmed to 56 characters, and " (2)", " (3)", ... is added while the name is taken. An update
 * never renames, so names stay stable for the other dialects; display names and l10n follow.
 *
 * Access grants: the array under the key "acl" of a tag's extra JSON holds the access grants
 * (easydb ACL entries) the tag gives to every resource carrying it. Core reads nothing else of
 * extra; it merges a new extra into the stored one key by key, keeping other dialects' keys. */
#ifndef TAGD_CORE_REPLACE_H
#define TAGD_CORE_REPLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct replace_tag {
    int64_t id;              /* existing tag to update; 0 creates one */
    const char *l10n;        /* display names: JSON object language -> text; one non-empty needed */
    const char *description; /* plain description (NULL: none) */
    const char *extra;       /* JSON object text merged into the tag's extra; may be NULL */
    const char *reference;   /* optional; unique among the list's tags */
    const char *shortname;   /* optional; unique among the list's tags */
    bool is_default;         /* at most one per exclusive group */
    int64_t out_id;          /* OUT: the tag's id after the replace */
};

struct replace_group {
    int64_t id;              /* existing group to update; 0 creates one */
    const char *l10n;        /* display names, as for tags; unique per language among groups */
    bool exclusive;          /* at most one of its tags per resource (easydb "choice") */
    const char *extra;       /* JSON object text merged into the group's extra; may be NULL */
    const char *reference;   /* optional; unique among the list's groups */
    const char *shortname;   /* optional; unique among the list's groups */
    struct replace_tag *tags;
    size_t ntags;
    int64_t out_id;          /* OUT */
};

/* Consequences that need the client's confirmation before they happen. */
enum {
    REPLACE_CONFIRM_DELETE_USED = 1, /* deleting tags still assigned to resources */
    REPLACE_CONFIRM_REVOKE = 2,      /* deleting tags whose access grants reach resources */
};

struct replace_result {
    unsigned need;          /* confirmations the replace needs (all of them, confirmed or not) */
    size_t used_tags;       /* tags to delete that are still assigned */
    size_t assignments;     /* their assignments (removed when confirmed) */
    size_t grant_tags;      /* tags to delete whose access grants reach resources */
    size_t created, updated, deleted, unchanged; /* groups and tags together */
    int64_t bad_id;         /* the offending id of a TG_ENOTFOUND or duplicate-id error */
};

/** Most tags one replace may hold. */
#define REPLACE_MAX_TAGS 10000

/**
 * Replaces the workspace's grouped tags with `groups` (see above). `confirmed` holds the
 * REPLACE_CONFIRM_* bits the client agreed to; REPLACE_CONFIRM_REVOKE also agrees to
 * REPLACE_CONFIRM_DELETE_USED. When a needed bit is missing, returns TG_ECONFIRM with res->need
 * and the counts filled and nothing written. Confirmed deletions remove the tags' assignments
 * first (each removal is a change in the log and closes the assignment's history).
 *
 * Errors (nothing written): TG_ENOTFOUND field "tag"/"group" (res->bad_id) for an unknown or
 * deleted id; TG_EINVAL field "id" for an id listed twice, "l10n" for missing or empty display
 * names, other fields for invalid values; TG_EEXISTS field "group.l10n", "tag.l10n",
 * "group.reference", "tag.reference", "group.shortname" or "tag.shortname" for a uniqueness
 * violation; TG_ERULE field "is_default" for two defaults in one exclusive group, "protected"
 * for a protected tag whose display names or description would change or that would be
 * deleted (its position, group and extra may change); TG_ECONFLICT field "children" for deleting a tag that
 * has child tags; TG_ELIMIT for more than REPLACE_MAX_TAGS tags or max_batch groups.
 */
int core_replace(struct core_ctx *ctx, struct replace_group *groups, size_t n,
                 unsigned confirmed, struct replace_result *res, struct tg_err *err);

/** The text of `l10n` (JSON object text) to show when one language is needed: en-US, else the
 * first non-empty one. NULL when there is none. Arena-owned. */
const char *core_l10n_pick(struct core_ctx *ctx, const char *l10n);

#endif /* TAGD_CORE_REPLACE_H */
