/* core/batch.c: the rules of a batch of writes (core/batch.h): each operation in a savepoint
 * of its own, undone when it fails or changes nothing; rights and scope per operation; a dry
 * run rolled back as a whole. The single writes themselves are the functions the native
 * routes call (tags.c, resources.c). */
#include "core/batch.h"

#include <stdio.h>
#include <string.h>

#include "core/core_int.h"
#include "util/mem.h"

struct batch_limits batch_limits = {10000};

static const char *const kind_names[] = {
    [BATCH_CREATE_TAG] = "create_tag",     [BATCH_UPDATE_TAG] = "update_tag",
    [BATCH_PUT_RESOURCE] = "put_resource", [BATCH_ADD_TAGS] = "add_tags",
    [BATCH_REPLACE_TAGS] = "replace_tags", [BATCH_REMOVE_TAGS] = "remove_tags",
};

const char *core_batch_kind_name(enum batch_kind k)
{
    if ((size_t)k >= sizeof(kind_names) / sizeof(kind_names[0]))
        TG_BUG("batch kind");
    return kind_names[k];
}

bool core_batch_kind_parse(const char *s, enum batch_kind *out)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum batch_kind)i;
            return true;
        }
    }
    return false;
}

const char *core_batch_effect_name(enum batch_effect e)
{
    switch (e) {
    case BATCH_FAILED:
        return "failed";
    case BATCH_CREATED:
        return "created";
    case BATCH_CHANGED:
        return "changed";
    case BATCH_UNCHANGED:
        return "unchanged";
    default:
        TG_BUG("batch effect");
    }
}

static bool same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* The fields a tag update may change (version and times always move, so they say nothing). */
static bool tag_same(const struct tag *a, const struct tag *b)
{
    return same_str(a->name, b->name) && same_str(a->display_name, b->display_name) &&
           same_str(a->l10n, b->l10n) && same_str(a->color, b->color) &&
           same_str(a->description, b->description) && same_str(a->source, b->source) &&
           a->protected_ == b->protected_ && a->archived == b->archived &&
           a->deleted == b->deleted && a->group_id == b->group_id &&
           a->position == b->position && a->parent_id == b->parent_id;
}

static bool res_same(const struct resource *a, const struct resource *b)
{
    return same_str(a->name, b->name) && a->parent_id == b->parent_id &&
           a->archived == b->archived && same_str(a->extra, b->extra);
}

/* A token scoped to a resource subtree reaches only resources inside it, and no taxonomy. */
static int in_scope(struct core_ctx *ctx, int64_t resource_id, struct tg_err *err)
{
    if (ctx->who.resource_id <= 0)
        return 0;
    if (resource_id > 0 && core_resource_within(ctx, resource_id, ctx->who.resource_id))
        return 0;
    return tg_err_set(err, TG_EFORBIDDEN, "", "outside the resource subtree this token reaches");
}

static int tag_ref_get(struct core_ctx *ctx, const struct batch_tag_ref *ref, bool create,
                       struct tag *t, struct tg_err *err)
{
    if (ref->name == NULL)
        return core_tag_get(ctx, ref->id, t, err);
    return create ? core_tag_ensure(ctx, ref->name, t, err) : core_tag_resolve(ctx, ref->name, t, err);
}

static int op_create_tag(struct core_ctx *ctx, const struct batch_op *op, struct batch_result *r,
                         struct tg_err *err)
{
    int rc = core_require(ctx, RIGHT_WRITE, err);

    if (rc == 0)
        rc = in_scope(ctx, 0, err);
    if (rc == 0)
        rc = core_tag_create(ctx, &op->tag, &r->tag, err);
    if (rc == 0)
        r->effect = BATCH_CREATED;
    return rc;
}

static int op_update_tag(struct core_ctx *ctx, const struct batch_op *op, struct batch_result *r,
                         struct tg_err *err)
{
    struct tag before;
    int rc = core_require(ctx, RIGHT_WRITE, err);

    memset(&before, 0, sizeof(before));
    if (rc == 0)
        rc = in_scope(ctx, 0, err);
    if (rc == 0)
        rc = tag_ref_get(ctx, &op->target, false, &before, err);
    if (rc == 0) {
        rc = core_tag_update(ctx, before.id, &op->tag, op->if_version, &r->tag, err);
        if (rc == TG_EPRECOND) /* a batch says it with if_version, not If-Match */
            snprintf(err->field, sizeof(err->field), "if_version");
    }
    if (rc == 0 && tag_same(&before, &r->tag)) {
        r->effect = BATCH_UNCHANGED; /* undone (run_one): the tag stays as it was */
        r->tag = before;
    } else if (rc == 0) {
        r->effect = BATCH_CHANGED;
    }
    return rc;
}

static int op_put_resource(struct core_ctx *ctx, const struct batch_op *op,
                           struct batch_result *r, struct tg_err *err)
{
    struct resource before;
    struct tg_err none;
    bool exists, created;
    int rc = core_require(ctx, RIGHT_ASSIGN, err);

    if (rc)
        return rc;
    memset(&before, 0, sizeof(before));
    tg_err_clear(&none);
    rc = core_resource_get(ctx, op->res_kind, op->res_key, &before, &none);
    exists = rc == 0;
    if (rc == TG_ENOTFOUND || (rc == TG_EINVAL && ctx->who.resource_id <= 0))
        rc = 0; /* a bad kind or key is core_resource_put's to report */
    else if (rc)
        return tg_err_set(err, rc, none.field, "%s", none.msg);
    if (exists)
        rc = in_scope(ctx, before.id, err);
    if (rc == 0)
        rc = core_resource_put(ctx, op->res_kind, op->res_key, &op->res, &r->res, &created, err);
    /* Also after: a new resource, or a new parent, must lie inside the subtree as well. */
    if (rc == 0)
        rc = in_scope(ctx, r->res.id, err);
    if (rc == 0 && !created && res_same(&before, &r->res)) {
        r->effect = BATCH_UNCHANGED; /* undone (run_one): the resource stays as it was */
        r->res = before;
    } else if (rc == 0) {
        r->effect = created ? BATCH_CREATED : BATCH_CHANGED;
    }
    return rc;
}

/* The tag ids of op->tags, as the single routes resolve them: unknown or deleted tags are
 * invalid input (TG_ERULE) naming their place. */
static int op_tag_ids(struct core_ctx *ctx, const struct batch_op *op, int64_t **ids,
                      struct tg_err *err)
{
    if (op->ntags > (size_t)core_limits.max_batch)
        return tg_err_set(err, TG_ELIMIT, "tags", "more than %d tags in one operation",
                          core_limits.max_batch);
    *ids = arena_alloc(ctx->a, (op->ntags + 1) * sizeof(**ids));
    for (size_t j = 0; j < op->ntags; j++) {
        struct tag t;
        int rc = tag_ref_get(ctx, &op->tags[j], op->create_missing, &t, err);
        if (rc == 0 && t.deleted)
            rc = tg_err_set(err, TG_ENOTFOUND, "", "tag '%s' is deleted", t.name);
        if (rc) {
            if (rc == TG_ENOTFOUND)
                rc = TG_ERULE;
            err->code = rc;
            snprintf(err->field, sizeof(err->field), "tags[%zu]", j);
            return rc;
        }
        (*ids)[j] = t.id;
    }
    return 0;
}

static bool has_tag(const struct assignment *as, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (as[i].tag.id == id)
            return true;
    return false;
}

/* added = after \ before, removed = before \ after, tags = after, by name. */
static void assign_diff(struct core_ctx *ctx, const struct assignment *b, size_t nb,
                        const struct assignment *a, size_t na, struct batch_result *r)
{
    r->added = arena_alloc(ctx->a, (na + 1) * sizeof(*r->added));
    r->removed = arena_alloc(ctx->a, (nb + 1) * sizeof(*r->removed));
    r->tags = arena_alloc(ctx->a, (na + 1) * sizeof(*r->tags));
    for (size_t i = 0; i < na; i++) {
        r->tags[r->ntags++] = a[i].tag.name;
        if (!has_tag(b, nb, a[i].tag.id))
            r->added[r->nadded++] = a[i].tag.name;
    }
    for (size_t i = 0; i < nb; i++)
        if (!has_tag(a, na, b[i].tag.id))
            r->removed[r->nremoved++] = b[i].tag.name;
}

static int op_assign(struct core_ctx *ctx, const struct batch_op *op, struct batch_result *r,
                     struct tg_err *err)
{
    const char *context = op->context ? op->context : "manual";
    struct assignment *before = NULL, *after = NULL;
    size_t nbefore = 0, nafter = 0, n = op->ntags;
    int64_t rev0 = ctx->rev, *ids = NULL, rid = 0;
    int seq0 = ctx->seq;
    int rc = core_require(ctx, op->create_missing ? RIGHT_ASSIGN | RIGHT_WRITE : RIGHT_ASSIGN, err);

    if (rc)
        return rc;
    if (strlen(context) == 0 || strlen(context) > 64)
        return tg_err_set(err, TG_EINVAL, "context", "'context' must be 1-64 bytes");
    if (op->kind == BATCH_REMOVE_TAGS) {
        /* As DELETE .../tags/{tag}: the resource must exist. */
        struct resource res;
        rc = core_resource_get(ctx, op->res_kind, op->res_key, &res, err);
        if (rc == 0)
            rid = res.id;
    } else {
        rc = core_resource_ensure_id(ctx, op->res_kind, op->res_key, &rid, err);
    }
    if (rc == 0)
        rc = in_scope(ctx, rid, err);
    if (rc == 0)
        rc = op_tag_ids(ctx, op, &ids, err);
    if (rc == 0)
        rc = core_assign_list_brief(ctx, rid, &before, &nbefore, err);
    if (rc)
        return rc;
    switch (op->kind) {
    case BATCH_ADD_TAGS:
        rc = core_assign_add(ctx, rid, ids, n, context, &after, &nafter, err);
        break;
    case BATCH_REPLACE_TAGS:
        rc = core_assign_replace(ctx, rid, ids, n, context, &after, &nafter, err);
        break;
    case BATCH_REMOVE_TAGS:
        for (size_t j = 0; j < n && rc == 0; j++) {
            rc = core_assign_remove(ctx, rid, ids[j], err);
            if (rc)
                snprintf(err->field, sizeof(err->field), "tags[%zu]", j);
        }
        if (rc == 0)
            rc = core_assign_list_brief(ctx, rid, &after, &nafter, err);
        break;
    default:
        TG_BUG("batch kind");
    }
    if (rc)
        return rc;
    r->res.id = rid;
    r->res.kind = op->res_kind;
    r->res.key = op->res_key;
    assign_diff(ctx, before, nbefore, after, nafter, r);
    /* A change record written (the resource made, a context changed) is a change too. */
    r->effect = r->nadded || r->nremoved || ctx->rev != rev0 || ctx->seq != seq0
                    ? BATCH_CHANGED
                    : BATCH_UNCHANGED;
    return 0;
}

static int run_op(struct core_ctx *ctx, const struct batch_op *op, struct batch_result *r,
                  struct tg_err *err)
{
    if (op->parse_rc) {
        *err = op->parse_err;
        return op->parse_rc;
    }
    switch (op->kind) {
    case BATCH_CREATE_TAG:
        return op_create_tag(ctx, op, r, err);
    case BATCH_UPDATE_TAG:
        return op_update_tag(ctx, op, r, err);
    case BATCH_PUT_RESOURCE:
        return op_put_resource(ctx, op, r, err);
    case BATCH_ADD_TAGS:
    case BATCH_REPLACE_TAGS:
    case BATCH_REMOVE_TAGS:
        return op_assign(ctx, op, r, err);
    default:
        TG_BUG("batch kind");
    }
}

/* Runs op i in a savepoint of its own, kept only when it succeeded and changed something.
 * Returns a code only when the store failed to give or release the savepoint; the
 * operation's own failure is in r. */
static int run_one(struct core_ctx *ctx, const struct batch_op *op, struct batch_result *r,
                   struct tg_err *err)
{
    int64_t rev0 = ctx->rev;
    int seq0 = ctx->seq;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = store_savepoint(ctx->conn, err);
    if (rc)
        return rc;
    r->rc = run_op(ctx, op, r, &r->err);
    if (r->rc || r->effect == BATCH_UNCHANGED) {
        store_savepoint_rollback(ctx->conn);
        /* The revision (when this operation allocated it) and the change records went with
         * the savepoint. */
        ctx->rev = rev0;
        ctx->seq = seq0;
        if (r->rc) {
            if (r->err.code == 0)
                r->err.code = r->rc;
            r->effect = BATCH_FAILED;
        }
        return 0;
    }
    return store_savepoint_release(ctx->conn, err);
}

int core_batch_run(struct core_ctx *ctx, const struct batch_op *ops, size_t n,
                   enum batch_mode mode, bool dry_run, struct batch_result *res, size_t *failed,
                   struct tg_err *err)
{
    int64_t rev0 = ctx->rev;
    int seq0 = ctx->seq;
    size_t i;
    int rc;

    *failed = 0;
    if (n > (size_t)batch_limits.max_ops)
        return tg_err_set(err, TG_ELIMIT, "operations", "more than %d operations in one batch",
                          batch_limits.max_ops);
    if (dry_run) {
        rc = store_savepoint(ctx->conn, err);
        if (rc)
            return rc;
    }
    rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        rc = run_one(ctx, &ops[i], &res[i], err);
        if (rc == 0 && res[i].rc && mode == BATCH_ATOMIC) {
            char field[sizeof(err->field)];
            const char *name = ops[i].parse_rc ? "operation" : core_batch_kind_name(ops[i].kind);
            char prefix[64];
            *failed = i;
            *err = res[i].err;
            /* i is below batch_limits.max_ops (at most a million): %u holds it. */
            snprintf(field, sizeof(field), "operations[%u]%s%.32s", (unsigned)i,
                     res[i].err.field[0] ? "." : "", res[i].err.field);
            snprintf(prefix, sizeof(prefix), "operations[%u] (%.16s): ", (unsigned)i, name);
            rc = tg_err_prefix(err, res[i].rc, field, prefix);
        }
    }
    if (dry_run) {
        store_savepoint_rollback(ctx->conn);
        ctx->rev = rev0;
        ctx->seq = seq0;
    }
    return rc;
}
