/* core/lifecycle.c: the taxonomy's lifecycle (docs/taxonomy.md, "Lifecycle"): tag states and
 * their transitions, which tags may be assigned, and expiring assignments with their sweep.
 *
 * States: a tag is born draft or active (any state may be given at creation). Draft is for
 * preparing a taxonomy: it may go anywhere but nothing comes back to it, because a tag that
 * was ever assignable may be on resources, which a draft must never be. Active, deprecated
 * and archived move freely among themselves. Only an active tag is assigned anew; what is on
 * a resource stays there whatever the state (a deprecated tag is kept where it is).
 *
 * Expiry: an assignment may carry expires_at (ms). Reads never see one past due: the write
 * pipeline knows the earliest expiry (it is told of every new one through
 * core_ctx.expiry_added), makes reads wait while one is due and unswept, and sweeps it with
 * core_expiry_sweep at the head of its next batch (txn/txn.c, "expiry"). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "util/mem.h"
#include "util/timeu.h"

/* The furthest ahead an expiry may lie: ten years, which keeps ttl * 1000 far from overflow. */
#define MAX_EXPIRY_MS (10LL * 366 * 24 * 3600 * 1000)

int core_tag_state_apply(struct core_ctx *ctx, const struct tag_input *in, enum tag_state from,
                         bool creating, struct tag *t, struct tg_err *err)
{
    enum tag_state to = creating ? TAG_ACTIVE : from;
    int rc;

    if (in->has_state) {
        if (!tag_state_valid(in->state))
            return tg_err_set(err, TG_EINVAL, "state",
                              "state must be draft, active, deprecated or archived");
        to = tag_state_parse(in->state);
    } else if (in->has_archived) {
        /* The older flag: archiving is a state, and un-archiving makes the tag active. */
        if (in->archived)
            to = TAG_ARCHIVED;
        else if (to == TAG_ARCHIVED)
            to = TAG_ACTIVE;
    }
    if (in->has_state && in->has_archived && in->archived != (to == TAG_ARCHIVED))
        return tg_err_set(err, TG_EINVAL, "archived", "archived contradicts state '%s'",
                          tag_state_name(to));
    if (!creating && to == TAG_DRAFT && from != TAG_DRAFT)
        return tg_err_set(err, TG_ERULE, "state",
                          "tag '%s' is %s: a tag cannot go back to draft", t->name,
                          tag_state_name(from));
    t->state = to;
    t->archived = to == TAG_ARCHIVED;
    if (to != TAG_DEPRECATED)
        t->replaced_by = 0;
    if (!in->has_replaced_by || in->replaced_by == NULL) {
        if (in->has_replaced_by)
            t->replaced_by = 0;
        return 0;
    }
    if (to != TAG_DEPRECATED)
        return tg_err_set(err, TG_EINVAL, "replaced_by",
                          "replaced_by is only for a deprecated tag (state is '%s')",
                          tag_state_name(to));
    {
        struct tag r;
        rc = core_tag_resolve(ctx, in->replaced_by, &r, err);
        if (rc == TG_ENOTFOUND || (rc == 0 && r.deleted))
            return tg_err_set(err, TG_EINVAL, "replaced_by", "replaced_by: no tag '%s'",
                              in->replaced_by);
        if (rc)
            return rc;
        if (r.id == t->id)
            return tg_err_set(err, TG_EINVAL, "replaced_by", "a tag cannot replace itself");
        if (r.state != TAG_ACTIVE)
            return tg_err_set(err, TG_EINVAL, "replaced_by",
                              "replaced_by must be an active tag ('%s' is %s)", r.name,
                              tag_state_name(r.state));
        t->replaced_by = r.id;
    }
    return 0;
}

bool core_tag_visible(struct core_ctx *ctx, const struct tag *t)
{
    return t->state != TAG_DRAFT || (ctx->who.rights & (RIGHT_WRITE | RIGHT_ADMIN)) != 0;
}

int core_tag_assignable(struct core_ctx *ctx, const struct tag *t, struct tg_err *err)
{
    struct tag r;

    if (ctx->restoring && t->state != TAG_DRAFT)
        return 0;
    switch (t->state) {
    case TAG_ACTIVE:
        return 0;
    case TAG_DRAFT:
    case TAG_ARCHIVED:
        return tg_err_set(err, TG_ERULE, "tags", "tag '%s' is %s and cannot be assigned",
                          t->name, tag_state_name(t->state));
    case TAG_DEPRECATED:
        if (t->replaced_by && core_tag_get(ctx, t->replaced_by, &r, err) == 0 && !r.deleted)
            return tg_err_set(err, TG_ERULE, "tags",
                              "tag '%s' is deprecated and cannot be assigned: use '%s'",
                              t->name, r.name);
        return tg_err_set(err, TG_ERULE, "tags", "tag '%s' is deprecated and cannot be assigned",
                          t->name);
    default:
        TG_BUG("unknown tag state");
    }
    return TG_EINTERNAL;
}

int core_expiry_parse(struct core_ctx *ctx, const char *expires_at, int64_t ttl, int64_t *out,
                      struct tg_err *err)
{
    int64_t at;

    *out = 0;
    if (expires_at && ttl >= 0)
        return tg_err_set(err, TG_EINVAL, "ttl", "give expires_at or ttl, not both");
    if (expires_at) {
        if (!time_parse(expires_at, &at))
            return tg_err_set(err, TG_EINVAL, "expires_at",
                              "expires_at must be an RFC 3339 time or epoch milliseconds");
        if (at <= ctx->now)
            return tg_err_set(err, TG_EINVAL, "expires_at", "expires_at must lie in the future");
    } else if (ttl >= 0) {
        if (ttl == 0)
            return tg_err_set(err, TG_EINVAL, "ttl", "ttl must be at least 1 second");
        if (ttl > MAX_EXPIRY_MS / 1000)
            return tg_err_set(err, TG_EINVAL, "ttl", "ttl must be at most ten years");
        at = ctx->now + ttl * 1000;
    } else {
        return 0;
    }
    if (at - ctx->now > MAX_EXPIRY_MS)
        return tg_err_set(err, TG_EINVAL, expires_at ? "expires_at" : "ttl",
                          "an expiry must lie within ten years");
    *out = at;
    return 0;
}

int core_expiry_sweep(struct core_ctx *ctx, int64_t now, int limit, int *removed,
                      struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_EXPIRY_DUE, err);
    struct due {
        int64_t resource_id, tag_id, ws_id, org_id;
    } *due;
    int n = 0, rc;

    *removed = 0;
    if (st == NULL)
        return TG_EINTERNAL;
    /* Read them all first: the removals write the table the statement reads. */
    due = arena_alloc(ctx->a, sizeof(*due) * (size_t)limit);
    st_int(st, 1, now);
    st_int(st, 2, limit);
    while ((rc = st_step(st, err)) == 1 && n < limit) {
        due[n].resource_id = col_int(st, 0);
        due[n].tag_id = col_int(st, 1);
        due[n].ws_id = col_int(st, 2);
        due[n].org_id = col_int(st, 3);
        n++;
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        /* Logged where the assignment was, so that the organization's change log and its
         * subscribers see it go; the principal is "system" (the context is not authenticated). */
        ctx->org_id = due[i].org_id;
        ctx->ws_id = due[i].ws_id;
        rc = core__assign_close(ctx, due[i].resource_id, due[i].tag_id, err);
        if (rc)
            return rc;
    }
    *removed = n;
    return 0;
}

int core_expiry_next(struct core_ctx *ctx, int64_t *next, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_EXPIRY_NEXT, err);
    int rc;

    *next = INT64_MAX;
    if (st == NULL)
        return TG_EINTERNAL;
    rc = st_step(st, err);
    if (rc == 1 && !col_null(st, 0))
        *next = col_int(st, 0);
    st_reset(st);
    return rc < 0 ? rc : 0;
}
