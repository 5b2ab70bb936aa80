/* store/copy.c: `tagd migrate`, a whole installation from one store into another.
 *
 * Table by table, in one write transaction on the target and one read snapshot of the source,
 * rows are copied with their ids (ad-hoc statements: the table list comes from the source's
 * catalog, so tables added by later features are copied without a change here). A table that
 * fails on a constraint (a foreign key to a table not copied yet) is rolled back to its
 * savepoint and tried again in the next pass. Then the target moves its id generators and its
 * revision counter past the copied rows, commits, and every table's count is compared. */
#include "store/backend.h"

#include <string.h>

#include "util/progress.h"
#include "util/mem.h"
#include "util/sbuf.h"

struct table {
    char *name;
    bool done;
    int64_t rows;
};

static bool skip_table(const char *name)
{
    /* Each store keeps its own schema version and (PostgreSQL) revision counter. */
    return strcmp(name, "schema_version") == 0 || strcmp(name, "revision_counter") == 0;
}

static int list_tables(struct store_conn *c, struct table **out, int *n, struct tg_err *err)
{
    struct store_stmt *st = c->be->adhoc(c, c->be->tables_sql, err);
    int rc, cap = 0;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return TG_EINTERNAL;
    while ((rc = st_step(st, err)) == 1) {
        const char *name = col_text(st, 0);
        if (name == NULL || skip_table(name))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            *out = xrealloc(*out, (size_t)cap * sizeof(**out));
        }
        (*out)[*n].name = xstrdup(name);
        (*out)[*n].done = false;
        (*out)[*n].rows = 0;
        (*n)++;
    }
    c->be->adhoc_free(st);
    return rc < 0 ? rc : 0;
}

static void free_tables(struct table *t, int n)
{
    for (int i = 0; i < n; i++)
        xfree(t[i].name);
    xfree(t);
}

static int count_rows(struct store_conn *c, const char *table, int64_t *rows, struct tg_err *err)
{
    struct sbuf q;
    struct store_stmt *st;
    int rc;

    sbuf_init(&q, 0);
    sbuf_printf(&q, "SELECT count(*) FROM \"%s\"", table);
    st = c->be->adhoc(c, sbuf_str(&q), err);
    sbuf_release(&q);
    if (st == NULL)
        return TG_EINTERNAL;
    rc = st_step(st, err);
    *rows = rc == 1 ? col_int(st, 0) : -1;
    c->be->adhoc_free(st);
    return rc == 1 ? 0 : rc < 0 ? rc : TG_EINTERNAL;
}

/* Copies one table; rows copied in *rows. */
static int copy_table(struct store_conn *src, struct store_conn *dst, const char *table,
                      int64_t *rows, struct progress *prog, int64_t *copied,
                      struct tg_err *err)
{
    struct sbuf q;
    struct store_stmt *in = NULL, *out = NULL;
    int rc, ncols;

    *rows = 0;
    sbuf_init(&q, 0);
    sbuf_printf(&q, "SELECT * FROM \"%s\"", table);
    in = src->be->adhoc(src, sbuf_str(&q), err);
    if (in == NULL) {
        sbuf_release(&q);
        return TG_EINTERNAL;
    }
    rc = st_step(in, err);
    ncols = col_count(in);
    sbuf_reset(&q);
    sbuf_printf(&q, "INSERT INTO \"%s\"(", table);
    for (int i = 0; i < ncols; i++)
        sbuf_printf(&q, "%s\"%s\"", i ? ", " : "", src->be->col_name(in, i));
    sbuf_adds(&q, ") VALUES(");
    for (int i = 0; i < ncols; i++)
        sbuf_printf(&q, "%s?%d", i ? ", " : "", i + 1);
    sbuf_adds(&q, ")");
    if (rc == 1) {
        out = dst->be->adhoc(dst, sbuf_str(&q), err);
        if (out == NULL)
            rc = TG_EINTERNAL;
    }
    while (rc == 1) {
        st_reset(out);
        for (int i = 0; i < ncols; i++) {
            if (col_null(in, i))
                st_null(out, i + 1);
            else
                st_text(out, i + 1, col_text(in, i));
        }
        rc = st_exec(out, err);
        if (rc)
            break;
        (*rows)++;
        if (prog && ++*copied % 1024 == 0)
            progress_update(prog, *copied, table);
        rc = st_step(in, err);
    }
    sbuf_release(&q);
    if (out)
        dst->be->adhoc_free(out);
    src->be->adhoc_free(in);
    return rc;
}

int store_copy(const char *from, const char *to, FILE *report, struct progress *prog,
               struct tg_err *err)
{
    /* Neither store may be in use by a server meanwhile (exclusive: SQLite's file lock). */
    static const struct store_open_opts source_checks = {
        .check = STORE_CHECK_QUICK, .must_exist = true, .exclusive = true};
    static const struct store_open_opts target_opts = {.check = STORE_CHECK_AUTO,
                                                       .exclusive = true};
    struct store *s = NULL, *d = NULL;
    struct store_conn *src = NULL, *dst = NULL;
    struct table *tabs = NULL;
    int ntabs = 0, left, rc;
    int64_t total = 0, copied = 0;

    /* The source must hold a store, checked whole (quick_check: the copy reads it all
     * anyway); the target gets the start-up checks of any store (store_open). */
    rc = store_open(from, &source_checks, &s, err);
    if (rc == 0)
        rc = store_open(to, &target_opts, &d, err);
    if (rc)
        goto out;
    src = store_conn_open(s, true, err);
    dst = src ? store_conn_open(d, true, err) : NULL;
    if (dst == NULL) {
        rc = TG_EINTERNAL;
        goto out;
    }
    rc = list_tables(src, &tabs, &ntabs, err);
    if (rc)
        goto out;
    rc = store_begin_read(src, err);
    if (rc == 0)
        rc = store_begin_write(dst, err);
    if (rc)
        goto out;
    for (int i = 0; i < ntabs; i++) {
        int64_t n;
        rc = count_rows(dst, tabs[i].name, &n, err);
        if (rc == 0 && n != 0)
            rc = tg_err_set(err, TG_ECONFLICT, "to", "target table %s already holds %lld rows",
                            tabs[i].name, (long long)n);
        if (rc == 0 && prog)
            rc = count_rows(src, tabs[i].name, &n, err);
        if (rc)
            goto abort;
        total += n;
    }
    if (prog)
        prog->total = total;
    left = ntabs;
    while (left > 0) {
        int progress = 0;
        for (int i = 0; i < ntabs; i++) {
            if (tabs[i].done)
                continue;
            rc = store_savepoint(dst, err);
            if (rc)
                goto abort;
            {
                int64_t before = copied;
                rc = copy_table(src, dst, tabs[i].name, &tabs[i].rows, prog, &copied, err);
                if (rc)
                    copied = before; /* this table is copied again on the next pass */
            }
            if (rc == TG_ECONFLICT) {
                store_savepoint_rollback(dst);
                continue; /* a reference to a later table: next pass */
            }
            if (rc == 0)
                rc = store_savepoint_release(dst, err);
            if (rc) {
                tg_err_set(err, rc, "", "table %s: %s", tabs[i].name, err->msg);
                goto abort;
            }
            tabs[i].done = true;
            left--;
            progress++;
        }
        if (progress == 0) {
            rc = tg_err_set(err, TG_ECONFLICT, "", "tables reference each other in a cycle");
            goto abort;
        }
    }
    if (prog)
        progress_end(prog, copied, NULL);
    rc = dst->be->after_copy(dst, err);
    if (rc)
        goto abort;
    rc = store_commit(dst, err);
    store_rollback(src);
    if (rc)
        goto out;
    for (int i = 0; i < ntabs; i++) {
        int64_t a, b;
        rc = count_rows(src, tabs[i].name, &a, err);
        if (rc == 0)
            rc = count_rows(dst, tabs[i].name, &b, err);
        if (rc)
            goto out;
        if (report)
            fprintf(report, "%-28s %10lld rows %s\n", tabs[i].name, (long long)b,
                    a == b ? "ok" : "MISMATCH");
        if (a != b) {
            rc = tg_err_set(err, TG_EINTERNAL, "", "table %s: %lld rows in the source, %lld "
                            "in the target", tabs[i].name, (long long)a, (long long)b);
            goto out;
        }
    }
    goto out;
abort:
    store_rollback(dst);
    store_rollback(src);
out:
    free_tables(tabs, ntabs);
    store_conn_close(src);
    store_conn_close(dst);
    store_close(s);
    store_close(d);
    return rc;
}
