/* core/rows.c: reading store rows into the request arena: the row readers of tags, resources,
 * groups and tokens (the column lists TAG_COLS, RES_COLS, GROUP_COLS and TOKEN_COLS of
 * store/sql_core.h), and the arena vector the list functions of core/ collect rows in. */
#include <assert.h>
#include <string.h>

#include "core/core_int.h"

const char *col_dup(struct core_ctx *ctx, struct store_stmt *st, int i)
{
    return arena_strdup(ctx->a, col_text(st, i));
}

void vec_init(struct vec *v, size_t size)
{
    memset(v, 0, sizeof(*v));
    v->size = size;
}

void *vec_push(struct core_ctx *ctx, struct vec *v)
{
    assert(v->size > 0 && v->n <= v->cap);
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void *items = arena_alloc(ctx->a, cap * v->size);
        if (v->n)
            memcpy(items, v->items, v->n * v->size);
        v->items = items;
        v->cap = cap;
    }
    return memset((char *)v->items + v->n++ * v->size, 0, v->size);
}

void row_tag(struct core_ctx *ctx, struct store_stmt *st, int at, struct tag *t)
{
    t->id = col_int(st, at + 0);
    t->ws_id = col_int(st, at + 1);
    t->name = col_dup(ctx, st, at + 2);
    t->name_key = col_dup(ctx, st, at + 3);
    t->parent_id = col_int(st, at + 4);
    t->display_name = col_dup(ctx, st, at + 5);
    t->l10n = col_dup(ctx, st, at + 6);
    t->color = col_dup(ctx, st, at + 7);
    t->description = col_dup(ctx, st, at + 8);
    t->source = col_dup(ctx, st, at + 9);
    t->system_created = col_int(st, at + 10) != 0;
    t->protected_ = col_int(st, at + 11) != 0;
    t->archived = col_int(st, at + 12) != 0;
    t->deleted = col_int(st, at + 13) != 0;
    t->group_id = col_int(st, at + 14);
    t->position = col_int(st, at + 15);
    t->extra = col_dup(ctx, st, at + 16);
    t->created_by = col_dup(ctx, st, at + 17);
    t->created_at = col_int(st, at + 18);
    t->updated_at = col_int(st, at + 19);
    t->version = col_int(st, at + 20);
    t->state = tag_state_parse(col_null(st, at + 21) ? NULL : col_text(st, at + 21));
    t->replaced_by = col_null(st, at + 22) ? 0 : col_int(st, at + 22);
    t->assign_restricted = col_int(st, at + 23) != 0;
}

void row_resource(struct core_ctx *ctx, struct store_stmt *st, int at, struct resource *r)
{
    r->id = col_int(st, at + 0);
    r->ws_id = col_int(st, at + 1);
    r->kind = col_dup(ctx, st, at + 2);
    r->key = col_dup(ctx, st, at + 3);
    r->name = col_dup(ctx, st, at + 4);
    r->parent_id = col_int(st, at + 5);
    r->archived = col_int(st, at + 6) != 0;
    r->extra = col_dup(ctx, st, at + 7);
    r->created_at = col_int(st, at + 8);
    r->updated_at = col_int(st, at + 9);
    r->version = col_int(st, at + 10);
    r->parent_kind = col_dup(ctx, st, at + 11);
    r->parent_key = col_dup(ctx, st, at + 12);
}

void row_group(struct core_ctx *ctx, struct store_stmt *st, int at, struct group *g)
{
    g->id = col_int(st, at + 0);
    g->ws_id = col_int(st, at + 1);
    g->name = col_dup(ctx, st, at + 2);
    g->l10n = col_dup(ctx, st, at + 3);
    g->position = col_int(st, at + 4);
    g->exclusive = col_int(st, at + 5) != 0;
    g->extra = col_dup(ctx, st, at + 6);
    g->created_at = col_int(st, at + 7);
    g->updated_at = col_int(st, at + 8);
    g->version = col_int(st, at + 9);
    group_conflict_parse(col_text(st, at + 10), &g->conflict);
}

void row_token(struct core_ctx *ctx, struct store_stmt *st, int at, struct token *k)
{
    k->id = col_int(st, at + 0);
    k->org_id = col_int(st, at + 1);
    k->kind = col_dup(ctx, st, at + 2);
    k->name = col_dup(ctx, st, at + 3);
    k->rights = col_dup(ctx, st, at + 4);
    k->user_id = col_int(st, at + 5);
    k->resource_id = col_int(st, at + 6);
    k->extra = col_dup(ctx, st, at + 7);
    k->created_at = col_int(st, at + 8);
    k->expires_at = col_int(st, at + 9);
    k->revoked_at = col_int(st, at + 10);
    k->assign = col_dup(ctx, st, at + 11);
}
