/* core/immuta_rules.h: the rules of the Immuta dialect (api/immuta.c) that are not plain tag
 * calls: the mapping of Immuta models (datasource, column, project) to tagd resources, the
 * POST /tag hierarchy update with rootTag, the all-or-nothing attach, the GET /tag search and
 * the profiles Immuta shows as creators. Its external sources and /tag/refresh are
 * core/sources.h's, which every dialect may use.
 *
 * Every function works in the caller's transaction like the rest of core. */
#ifndef TAGD_CORE_IMMUTA_RULES_H
#define TAGD_CORE_IMMUTA_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/** Checks an Immuta model reference: modelType datasource, column or project; a data source's
 * and a project's id a number, a column's "<datasourceId>_<column>". TG_EINVAL otherwise. */
int core_immuta_model_check(const char *type, const char *id, struct tg_err *err);
/**
 * Maps an Immuta model to its tagd resource: datasource N is ("datasource", "N"), project N is
 * ("project", "N"), column "N_col" is ("column", "N_col") below datasource N (split at the
 * first '_'). With `create` the resource (and a column's data source) is made when missing;
 * without it a missing one is TG_ENOTFOUND. Bad types or ids are TG_EINVAL.
 */
int core_immuta_model(struct core_ctx *ctx, const char *type, const char *id, bool create,
                      struct resource *out, struct tg_err *err);

struct immuta_item {
    const char *name;
    int64_t id; /* 0: create */
};
struct immuta_root {
    const char *name;
    const char *source; /* NULL or "curated" */
    bool delete_hierarchy;
};
/**
 * POST /tag: creates the items without id (missing parents implicitly), renames the items with
 * id, and with root->delete_hierarchy first soft-deletes the root's descendants that the
 * request does not keep. A name that already exists is TG_EEXISTS with "overlap with existing
 * hierarchies" in the message. `out` (n entries) receives the final state of each item.
 */
int core_immuta_tags_write(struct core_ctx *ctx, const struct immuta_item *items, size_t n,
                           const struct immuta_root *root, struct tag *out, struct tg_err *err);

struct immuta_attach {
    const char *name;
    const char *source; /* NULL: the tag's own */
};
/** Adds the named tags to the model, all or nothing; `out` (n entries) receives each
 * assignment as stored (context, added_by, the tag). */
int core_immuta_attach(struct core_ctx *ctx, const char *type, const char *model_id,
                       const struct immuta_attach *items, size_t n, struct assignment *out,
                       struct tg_err *err);
/** Removes a tag from the model; `out` receives the removed assignment. */
int core_immuta_detach(struct core_ctx *ctx, const char *type, const char *model_id,
                       const char *tag, struct assignment *out, struct tg_err *err);

struct immuta_search {
    const char *text;            /* substring, case-insensitive */
    const char *source;          /* exact */
    const char *excluded_source; /* exact */
    int system;                  /* 0 no system tags; 1 all system tags, deleted too; 2 default */
    const char **excluded;       /* hierarchies: the name itself and everything below */
    size_t nexcluded;
    int64_t limit; /* 0: no limit */
};
/** GET /tag: matching tags sorted by name, bytewise. */
int core_immuta_search(struct core_ctx *ctx, const struct immuta_search *q, struct tag **out,
                       size_t *n, struct tg_err *err);
/** Who Immuta shows as a tag's creator (createdBy): the recorded principal, or NULL when tagd
 * made the tag itself (a system tag, or one a refresh of an external source created). */
const char *core_immuta_creator(const struct tag *t);
/** Who Immuta shows as having attached a tag (addedBy): the recorded principal, or NULL when a
 * refresh of an external source attached it (context "external"). */
const char *core_immuta_adder(const struct assignment *a);
/** The Immuta profile id of a recorded principal: core_principal_id, 0 for none (null). */
int64_t core_immuta_profile(struct core_ctx *ctx, const char *who);

#endif /* TAGD_CORE_IMMUTA_RULES_H */
