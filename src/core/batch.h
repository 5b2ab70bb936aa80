/* core/batch.h: many writes in one request (POST /v1/batch), all or nothing or each on its
 * own, or only foretold.
 *
 * A batch is a list of operations, each one of the native API's single writes: create a tag,
 * change a tag, put a resource, add, remove or replace a resource's tags. Each runs through
 * the same core function as its single route, with the same rights (checked per operation) and,
 * for a token scoped to a resource subtree, only on resources inside it.
 *
 * Every operation runs in a savepoint of its own. That lets an operation that changes nothing
 * (a tag updated to what it is, tags added that are there) write nothing: it is undone and
 * reported "unchanged", so that a batch a sync tool sends again and again costs no revision
 * and no change record. A failed operation is undone alone: in BATCH_PARTIAL mode the others
 * go on; in BATCH_ATOMIC mode the batch stops there and the caller must roll back everything
 * (the request's savepoint: an error answer does). All operations of a request share its one
 * revision (core_ctx.rev). A dry run runs the whole batch inside one more savepoint and rolls
 * it back, so it reports exactly what a real run in the same state would do, and changes
 * nothing.
 *
 * Threads: as the rest of core, inside the writer's transaction (ctx->writing). */
#ifndef TAGD_CORE_BATCH_H
#define TAGD_CORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Set at start and by SIGHUP (atomic: requests read it meanwhile). */
struct batch_limits {
    _Atomic int max_ops; /* operations in one batch (10000) */
};
extern struct batch_limits batch_limits;

enum batch_kind {
    BATCH_CREATE_TAG,   /* POST /v1/tags */
    BATCH_UPDATE_TAG,   /* PATCH /v1/tags/{id} */
    BATCH_PUT_RESOURCE, /* PUT /v1/resources/{kind}/{key} */
    BATCH_ADD_TAGS,     /* POST /v1/resources/{kind}/{key}/tags */
    BATCH_REPLACE_TAGS, /* PUT /v1/resources/{kind}/{key}/tags */
    BATCH_REMOVE_TAGS,  /* DELETE /v1/resources/{kind}/{key}/tags/{tag}, for each tag */
};

/* A tag named by an operation: an id (name NULL) or a name or "tag_N" reference. */
struct batch_tag_ref {
    int64_t id;
    const char *name;
};

/* One operation, as the dialect parsed it. A dialect that could not parse it sets parse_rc
 * (and parse_err): the operation then fails with that error when its turn comes, so that a
 * partial batch reports it in its place. Strings are borrowed for the call (the arena). */
struct batch_op {
    enum batch_kind kind;
    int parse_rc;
    struct tg_err parse_err;
    /* BATCH_CREATE_TAG, BATCH_UPDATE_TAG: the fields set; the tag to change. */
    struct tag_input tag;
    struct batch_tag_ref target;
    int64_t if_version; /* BATCH_UPDATE_TAG: 0 skips the check */
    /* BATCH_PUT_RESOURCE and the assignment operations: the resource. */
    const char *res_kind, *res_key;
    struct resource_input res;
    /* The assignment operations. */
    struct batch_tag_ref *tags;
    size_t ntags;
    bool create_missing; /* unknown names are created (needs the right to write tags too) */
    const char *context; /* NULL: "manual" */
};

enum batch_effect {
    BATCH_FAILED,
    BATCH_CREATED,
    BATCH_CHANGED,
    BATCH_UNCHANGED,
};

/* What one operation did (or, in a dry run, would do). */
struct batch_result {
    enum batch_effect effect;
    int rc; /* 0, or the tg_code it failed with (effect BATCH_FAILED) */
    struct tg_err err;
    struct tag tag;      /* the tag operations: the tag after it */
    struct resource res; /* put_resource: the resource after it; the assignment ones: its
                            kind and key (and id) */
    /* The assignment operations: the names added and removed, and the direct tags after. */
    const char **added, **removed, **tags;
    size_t nadded, nremoved, ntags;
};

enum batch_mode {
    BATCH_ATOMIC,  /* stop at the first failure; the caller rolls everything back */
    BATCH_PARTIAL, /* every operation on its own */
};

/** The name of a kind as the native API spells it ("create_tag" ...). */
const char *core_batch_kind_name(enum batch_kind k);
/** Parses a kind's name; false when it names none. */
bool core_batch_kind_parse(const char *s, enum batch_kind *out);
/** The name of an effect ("created", "changed", "unchanged", "failed"). */
const char *core_batch_effect_name(enum batch_effect e);

/**
 * Runs `n` operations (at most batch_limits.max_ops, else TG_ELIMIT) in ctx's write
 * transaction and fills res[0..n) (the caller's array). With `dry_run` everything is rolled
 * back before returning, and ctx->rev is as before.
 * BATCH_ATOMIC: 0 when every operation succeeded; else the failing operation's code, its index
 * in *failed and its error in `err` (field "operations[i]..." and the operation's own message),
 * having left the operations before it written: the caller must roll the request back.
 * BATCH_PARTIAL: 0, each failure in its result; a code only when the store itself failed.
 * Borrows ops; results live in ctx->a.
 */
int core_batch_run(struct core_ctx *ctx, const struct batch_op *ops, size_t n,
                   enum batch_mode mode, bool dry_run, struct batch_result *res, size_t *failed,
                   struct tg_err *err);

#endif /* TAGD_CORE_BATCH_H */
