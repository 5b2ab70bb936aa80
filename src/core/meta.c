/* core/meta.c: the meta table: installation-wide settings (the default organization, the
 * session signing key) written once at first start (bootstrap.c) and read by the rules that
 * depend on them. */
#include <stdio.h>

#include "core/core_int.h"

int core__meta_get(struct store_conn *c, const char *key, char *out, size_t outlen)
{
    struct store_stmt *st = st_get(c, SQL_META_GET, NULL);
    int found = 0;
    if (st == NULL)
        return -1;
    st_text(st, 1, key);
    if (st_step(st, NULL) == 1) {
        snprintf(out, outlen, "%s", col_text(st, 0));
        found = 1;
    }
    st_reset(st);
    return found;
}

int core__meta_set(struct store_conn *c, const char *key, const char *value, struct tg_err *err)
{
    struct store_stmt *st = st_get(c, SQL_META_SET, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, key);
    st_text(st, 2, value);
    return st_exec(st, err);
}
