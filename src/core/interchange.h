/* core/interchange.h: the writes of an import (POST /v1/import, docs/interchange.md).
 *
 * An import is a list of records that say what the workspace must hold; each function here
 * makes the workspace hold one record, by name or by (kind, key), creating what is missing and
 * changing only what differs, so that importing the same records again changes nothing (an
 * import resumed from an earlier chunk than needed is harmless). Nothing is removed: an import
 * adds to a workspace, it does not make it equal to the file. Every change goes through the
 * ordinary core writes, so the change log, history and rules are those of any other write. */
#ifndef TAGD_CORE_INTERCHANGE_H
#define TAGD_CORE_INTERCHANGE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

/**
 * Makes the group named in->name exist with in's set fields (created when missing).
 * TG_EINVAL for a bad name or field.
 */
int core_import_group(struct core_ctx *ctx, const struct group_input *in, struct tg_err *err);

/**
 * Makes the tag named in->name exist (parents implied by the name are created; a deleted tag
 * of that name is brought back) with in's set fields; `group` names its group (NULL: none)
 * when has_group. A protected tag that would change is TG_ERULE as for any write; one that
 * already matches is left alone. An unknown group is TG_ENOTFOUND (field "group").
 */
int core_import_tag(struct core_ctx *ctx, const struct tag_input *in, const char *group,
                    bool has_group, struct tg_err *err);

/** Puts resource (kind, key) with in's set fields (core_resource_put). */
int core_import_resource(struct core_ctx *ctx, const char *kind, const char *key,
                         const struct resource_input *in, struct tg_err *err);

/* Tag ids by name for the assignments of one chunk (arena): a chunk names the same few tags
 * many times. Valid for one request: within it no import record renames or deletes a tag. */
struct core_import_cache;
struct core_import_cache *core_import_cache_new(struct core_ctx *ctx);

/**
 * Adds the tags named in `tags` (n of them) directly to resource (kind, key), which is created
 * bare when missing; tags already there are left alone. With `exact`, makes them the
 * resource's direct tags instead (others are removed; n may be 0). An unknown or deleted tag
 * is TG_ENOTFOUND (field "tag"): an import never invents a tag from an assignment. `cache`
 * (from core_import_cache_new, or NULL) remembers the tags found.
 */
int core_import_assign(struct core_ctx *ctx, struct core_import_cache *cache, const char *kind,
                       const char *key, const char *const *tags, size_t n, const char *context,
                       bool exact, struct tg_err *err);

/* One assignment record of an import (borrowed). */
struct core_import_asg {
    const char *kind, *key, *tag, *context;
    int line;
};

/* One resource record of an import (borrowed). */
struct core_import_res {
    const char *kind, *key;
    const struct resource_input *in;
    int line;
};

/**
 * Puts the resources v[0..n-1] as core_import_resource would one by one, in order, with the
 * same rows, change records and refusals, but the new ones (without a document) written many a
 * statement (core_resource_create_bulk). `cache` remembers them for the chunk's assignments.
 * On failure *line is the line of the record at fault (of a failed statement for many, the
 * first of them). Inside the writer's transaction only.
 */
int core_import_resource_bulk(struct core_ctx *ctx, struct core_import_cache *cache,
                              const struct core_import_res *v, size_t n, int *line,
                              struct tg_err *err);

/**
 * Adds the assignments v[0..n-1] as core_import_assign would one by one (tags by name through
 * `cache`, resources created bare when missing), but written many rows a statement
 * (core_assign_add_bulk): the bulk of an import. On failure *line is the line of the record
 * at fault. Inside the writer's transaction only.
 */
int core_import_assign_bulk(struct core_ctx *ctx, struct core_import_cache *cache,
                            const struct core_import_asg *v, size_t n, int *line,
                            struct tg_err *err);

/* An import job (POST /v1/import): the progress of one file's chunks, kept in the store
 * (migration 18). Strings are fixed buffers: a job is copied between the writer, which
 * changes it, and the loop, which renders it after the commit. */
enum core_job_state { CORE_JOB_RUNNING, CORE_JOB_FAILED, CORE_JOB_DONE };

struct core_import_job {
    char id[40];
    int64_t org_id, ws_id;
    char format[16];       /* "jsonl", "csv", "skos" */
    enum core_job_state state;
    int64_t chunks_done;   /* chunks 0 .. chunks_done-1 are committed */
    int64_t rows;          /* records committed */
    int64_t failures;      /* chunks refused */
    int64_t last_rev;      /* revision of the last chunk that wrote something; 0: none */
    bool has_error;        /* the last refusal: */
    int64_t err_chunk;
    int err_line;          /* 0: none */
    char err_code[32];     /* tg_code_slug */
    char err_field[64];
    char err_msg[256];
    /* On read: the job was running when the server stopped (a start of the server other
     * than this one touched it last). It is shown as failed; its next chunk is still
     * chunks_done. */
    bool interrupted;
    int64_t created_at, updated_at;
};

/**
 * The job `id` of the context's organization into *out; TG_ENOTFOUND when there is none.
 */
int core_import_job_get(struct core_ctx *ctx, const char *id, struct core_import_job *out,
                        struct tg_err *err);

/**
 * Stores job `j` as it is (made, or changed), stamped with this start of the server and the
 * request's time (j->updated_at is set). Inside the writer's transaction only; jobs untouched
 * for a week are purged when a job is made.
 */
int core_import_job_put(struct core_ctx *ctx, struct core_import_job *j, struct tg_err *err);

/**
 * Makes `alias` an alias of the tag named `tag` (an import's skos:altLabel, or its alias
 * record): nothing when it is the tag's own name or already its alias; TG_EEXISTS (field
 * `field`, the record's field of the alias) when it is another tag's name or alias;
 * TG_ENOTFOUND (field "tag") when no live tag has the name `tag`, as for an assignment;
 * TG_EINVAL for a name that is no tag name.
 */
int core_import_alias(struct core_ctx *ctx, const char *tag, const char *alias,
                      const char *field, struct tg_err *err);

/** The names of the aliases tag `tag_id` had at revision `rev`, by name (arena). */
int core_export_aliases(struct core_ctx *ctx, int64_t rev, int64_t tag_id, const char ***out,
                        size_t *n, struct tg_err *err);

/* One alias of an export page. */
struct xchg_alias {
    const char *name;     /* the alias, as it was made */
    const char *name_key; /* its key: the page's cursor */
    const char *tag;      /* the full name of the tag it named at the revision */
};

/**
 * At most `limit` aliases of the workspace as of revision `rev`, by key after `after` ("" for
 * the first page), each with the name its tag had then; aliases of a tag deleted then are left
 * out (they name no tag of the export). A page shorter than `limit` is the last (arena).
 */
int core_export_alias_page(struct core_ctx *ctx, int64_t rev, const char *after, size_t limit,
                           struct xchg_alias **out, size_t *n, struct tg_err *err);

/* One assignment of an export page. */
struct xchg_assign {
    int64_t resource_id;
    const char *tag;     /* the tag's full name at the revision */
    const char *context; /* may be NULL */
};

/**
 * The direct assignments, as of revision `rev`, of the resources with ids in [lo, hi] (the ids
 * of one page of core_asof_resource_list, which checked the workspace), ordered by resource;
 * deleted tags do not count. Two index range scans, whatever the store's size (arena).
 */
int core_export_assignments(struct core_ctx *ctx, int64_t rev, int64_t lo, int64_t hi,
                            struct xchg_assign **out, size_t *n, struct tg_err *err);

#endif /* TAGD_CORE_INTERCHANGE_H */
