/* core/core_int.h: helpers shared by the files of core/ only. */
#ifndef TAGD_CORE_CORE_INT_H
#define TAGD_CORE_CORE_INT_H

#include "core/core.h"
#include "store/store.h"

/* Row readers: copy the columns of TAG_COLS / RES_COLS / GROUP_COLS / TOKEN_COLS starting at
 * column `at` into arena-owned structs. */
void row_tag(struct core_ctx *ctx, struct store_stmt *st, int at, struct tag *t);
void row_resource(struct core_ctx *ctx, struct store_stmt *st, int at, struct resource *r);
void row_group(struct core_ctx *ctx, struct store_stmt *st, int at, struct group *g);
void row_token(struct core_ctx *ctx, struct store_stmt *st, int at, struct token *k);
const char *col_dup(struct core_ctx *ctx, struct store_stmt *st, int i);
/** The meta table's value for `key` into `out`: 1 found, 0 not there, -1 on a store error. */
int core__meta_get(struct store_conn *c, const char *key, char *out, size_t outlen);

/* A growable array in the request arena. */
struct vec {
    void *items;
    size_t n, cap, size;
};
void vec_init(struct vec *v, size_t size);
void *vec_push(struct core_ctx *ctx, struct vec *v);

/** The principal name recorded as created_by / added_by. */
const char *core_actor(struct core_ctx *ctx);

#endif /* TAGD_CORE_CORE_INT_H */
