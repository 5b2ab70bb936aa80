/* core/history.c: reads of the model as it was at a past revision (see history.h).
 *
 * The current state and the state at a revision are answered by sibling statements that differ
 * only in where rows come from (current tables, or the version valid at the revision), so both
 * paths apply the same rules: direct assignments only, deleted tags never count, archived
 * resources count only on request. */
#include <string.h>

#include "core/core_int.h"
#include "core/history.h"
#include "engine/engine.h"

/* Binds the parameters of the tag-use statements (see sql_history.h). */
static void bind_use(struct core_ctx *ctx, struct store_stmt *st, const struct tag_use_filter *f)
{
    st_int(st, 1, ctx->ws_id);
    for (size_t i = 0; i < HIST_MAX_KINDS; i++) {
        if (i < f->nkinds)
            st_text(st, 2 + (int)i, f->kinds[i]);
        else
            st_null(st, 2 + (int)i);
    }
    st_int(st, 10, f->nkinds == 0 ? 1 : 0);
    st_int(st, 11, f->archived ? 1 : 0);
    st_text(st, 12, f->prefix && *f->prefix ? f->prefix : NULL);
    if (f->as_of)
        st_int(st, 13, f->rev);
}

int core_tag_names_in_use(struct core_ctx *ctx, const struct tag_use_filter *f,
                          const char ***out, size_t *n, int64_t *total, struct tg_err *err)
{
    struct store_stmt *st;
    struct vec v;
    int64_t i = 0, end;
    int rc;

    *out = NULL;
    *n = 0;
    *total = 0;
    if (f->nkinds > HIST_MAX_KINDS)
        return tg_err_set(err, TG_EINVAL, "kind", "at most %d kinds", HIST_MAX_KINDS);
    if (f->offset < 0 || f->limit < 0)
        return tg_err_set(err, TG_EINVAL, "offset", "offset and limit must not be negative");
    end = f->limit ? f->offset + f->limit : INT64_MAX;
    if (!f->as_of && core_snap(ctx)) {
        const char **all;
        size_t k;
        eng_tag_names_in_use(ctx->snap, ctx->ws_id, f->kinds, f->nkinds, f->archived,
                             f->prefix && *f->prefix ? f->prefix : NULL, ctx->a, &all, &k);
        *total = (int64_t)k;
        if (f->offset < (int64_t)k) {
            *out = all + f->offset;
            *n = (size_t)((end < (int64_t)k ? end : (int64_t)k) - f->offset);
        }
        return 0;
    }
    st = st_get(ctx->conn, f->as_of ? SQL_HIST_USE_NAMES_ASOF : SQL_HIST_USE_NAMES_NOW, err);
    if (st == NULL)
        return TG_EINTERNAL;
    bind_use(ctx, st, f);
    vec_init(&v, sizeof(const char *));
    for (;; i++) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        if (i >= f->offset && i < end)
            *(const char **)vec_push(ctx, &v) = col_dup(ctx, st, 0);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    *out = v.items;
    *n = v.n;
    *total = i;
    return 0;
}
