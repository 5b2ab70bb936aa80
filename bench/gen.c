/* bench/gen.c: generates the benchmark data set with a fixed seed and writes it everywhere at
 * once: straight into tagd's SQLite file (bulk path: the schema tagd created, no change log or
 * history rows, one revision), as tab-separated files for PostgreSQL's COPY, as a RESP stream
 * for `redis-cli --pipe`, plus the query terms and sample keys the benchmark drives.
 *
 * Shape: `roots` x `mids` x `leaves` tags in three levels; resources in a three-level tree
 * (folders, subfolders, files); each resource carries 0.5x-1.5x the mean number of tags, drawn
 * from a Zipf(1) popularity over every tag in a seeded random order.
 *
 * Usage: gen DB OUTDIR ROOTS MIDS LEAVES RESOURCES ASSIGNMENTS SEED [tagd]
 * With `tagd` (bench/run --huge), only tagd's file and the small files the harness reads are
 * written: the references' copies (COPY files, Redis bitmaps) of 100 million assignments would
 * take many gigabytes and are not measured at that size. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

static uint64_t rng;

static uint64_t next_u64(void)
{
    /* splitmix64: small, fast and the same everywhere. */
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(void)
{
    return (double)(next_u64() >> 11) / (double)(1ULL << 53);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(next_u64() % n);
}

static void die(const char *what, sqlite3 *db)
{
    fprintf(stderr, "gen: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "gen: %s: %s\n", sql, msg ? msg : "");
        exit(1);
    }
}

static bool tagd_only;

static FILE *out(const char *dir, const char *name)
{
    char path[4096];
    FILE *f;
    if (tagd_only && (strcmp(name, "resources.tsv") == 0 || strcmp(name, "assign.tsv") == 0 ||
                      strcmp(name, "restags.tsv") == 0 || strcmp(name, "redis.resp") == 0))
        name = NULL;
    if (name == NULL)
        snprintf(path, sizeof(path), "/dev/null");
    else
        snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    return f;
}

struct vec {
    uint32_t *v;
    uint32_t n, cap;
};

static void push(struct vec *x, uint32_t v)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->v = realloc(x->v, x->cap * sizeof(*x->v));
        if (x->v == NULL)
            exit(1);
    }
    x->v[x->n++] = v;
}

static void resp_bulk(FILE *f, const char *s)
{
    fprintf(f, "$%zu\r\n%s\r\n", strlen(s), s);
}

int main(int argc, char **argv)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    const char *dir;
    int roots, mids, leaves;
    uint32_t ntags, nres, n1, n2, i, j;
    uint64_t nasg_want, nasg = 0;
    int64_t ws = 0, now = 1700000000000LL, rev;
    char **names;
    uint32_t *tparent, *rparent, *rank_tag;
    uint8_t *rdepth;
    double *cdf, acc = 0;
    struct vec *members, own = {0};
    uint32_t *own_off;
    FILE *ft, *fr, *fa, *frt, *fredis, *fq, *fk;

    if (argc != 9 && !(argc == 10 && strcmp(argv[9], "tagd") == 0)) {
        fprintf(stderr,
                "usage: gen DB OUTDIR ROOTS MIDS LEAVES RESOURCES ASSIGNMENTS SEED [tagd]\n");
        return 2;
    }
    tagd_only = argc == 10;
    dir = argv[2];
    roots = atoi(argv[3]);
    mids = atoi(argv[4]);
    leaves = atoi(argv[5]);
    nres = (uint32_t)strtoul(argv[6], NULL, 10);
    nasg_want = strtoull(argv[7], NULL, 10);
    rng = strtoull(argv[8], NULL, 10);
    ntags = (uint32_t)(roots + roots * mids + roots * mids * leaves);

    /* ---- tags: ids 1..ntags, roots, then mids, then leaves ---- */
    names = calloc(ntags + 1, sizeof(*names));
    tparent = calloc(ntags + 1, sizeof(*tparent));
    {
        uint32_t id = 1;
        for (int r = 0; r < roots; r++) {
            names[id] = malloc(64);
            snprintf(names[id], 64, "Cat%02d", r);
            id++;
        }
        for (int r = 0; r < roots; r++)
            for (int m = 0; m < mids; m++) {
                names[id] = malloc(64);
                snprintf(names[id], 64, "Cat%02d.Sub%02d", r, m);
                tparent[id] = (uint32_t)(1 + r);
                id++;
            }
        for (int r = 0; r < roots; r++)
            for (int m = 0; m < mids; m++)
                for (int l = 0; l < leaves; l++) {
                    names[id] = malloc(64);
                    snprintf(names[id], 64, "Cat%02d.Sub%02d.L%02d", r, m, l);
                    tparent[id] = (uint32_t)(1 + roots + r * mids + m);
                    id++;
                }
    }
    /* Popularity: a seeded permutation of the tags, Zipf(1) over the ranks. */
    rank_tag = malloc((ntags + 1) * sizeof(*rank_tag));
    for (i = 0; i < ntags; i++)
        rank_tag[i] = i + 1;
    for (i = ntags - 1; i > 0; i--) {
        uint32_t k = below(i + 1), t = rank_tag[i];
        rank_tag[i] = rank_tag[k];
        rank_tag[k] = t;
    }
    cdf = malloc(ntags * sizeof(*cdf));
    for (i = 0; i < ntags; i++) {
        acc += 1.0 / (double)(i + 1);
        cdf[i] = acc;
    }
    for (i = 0; i < ntags; i++)
        cdf[i] /= acc;

    /* ---- resources: ids 1..nres; n1 folders, n2 subfolders, the rest files ---- */
    n1 = nres / 1000 > 2 ? nres / 1000 : 2;
    n2 = nres / 20 > 4 ? nres / 20 : 4;
    rparent = calloc(nres + 1, sizeof(*rparent));
    rdepth = calloc(nres + 1, 1);
    for (i = 1; i <= nres; i++) {
        if (i <= n1) {
            rdepth[i] = 1;
        } else if (i <= n1 + n2) {
            rdepth[i] = 2;
            rparent[i] = 1 + below(n1);
        } else {
            rdepth[i] = 3;
            rparent[i] = n1 + 1 + below(n2);
        }
    }

    if (sqlite3_open(argv[1], &db) != SQLITE_OK)
        die("open", db);
    exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-1000000;");
    if (sqlite3_prepare_v2(db, "SELECT id FROM workspaces WHERE is_default = 1 ORDER BY id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        die("workspace", db);
    ws = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    exec(db, "BEGIN");
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(rev), 0) + 1 FROM revisions", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        die("rev", db);
    rev = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    {
        char sql[128];
        snprintf(sql, sizeof(sql), "INSERT INTO revisions(rev, at) VALUES(%lld, %lld)",
                 (long long)rev, (long long)now);
        exec(db, sql);
    }

    ft = out(dir, "tags.tsv");
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO tags(id, ws_id, name, name_key, parent_id, created_by,"
                           " created_at, updated_at) VALUES(?1, ?2, ?3, lower(?3), ?4, 'bench', ?5,"
                           " ?5)",
                           -1, &st, NULL) != SQLITE_OK)
        die("prepare tags", db);
    for (i = 1; i <= ntags; i++) {
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_int64(st, 2, ws);
        sqlite3_bind_text(st, 3, names[i], -1, SQLITE_STATIC);
        if (tparent[i])
            sqlite3_bind_int64(st, 4, tparent[i]);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_int64(st, 5, now);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("insert tag", db);
        sqlite3_reset(st);
        fprintf(ft, "%u\t%s\t", i, names[i]);
        if (tparent[i])
            fprintf(ft, "%u\n", tparent[i]);
        else
            fprintf(ft, "\\N\n");
    }
    sqlite3_finalize(st);
    fclose(ft);

    fr = out(dir, "resources.tsv");
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO resources(id, ws_id, kind, key, parent_id, created_at,"
                           " updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        die("prepare resources", db);
    for (i = 1; i <= nres; i++) {
        char key[32];
        const char *kind = rdepth[i] == 3 ? "file" : "folder";
        snprintf(key, sizeof(key), rdepth[i] == 1 ? "d1-%u" : rdepth[i] == 2 ? "d2-%u" : "f-%u", i);
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_int64(st, 2, ws);
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, key, -1, SQLITE_TRANSIENT);
        if (rparent[i])
            sqlite3_bind_int64(st, 5, rparent[i]);
        else
            sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, now);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("insert resource", db);
        sqlite3_reset(st);
        fprintf(fr, "%u\t%s\t%s\t", i, kind, key);
        if (rparent[i])
            fprintf(fr, "%u\n", rparent[i]);
        else
            fprintf(fr, "\\N\n");
    }
    sqlite3_finalize(st);
    fclose(fr);

    /* Assignments, in resource order (the order of tagd's unique index). */
    exec(db, "DROP INDEX IF EXISTS assignments_tag; DROP INDEX IF EXISTS assignments_hist;");
    fa = out(dir, "assign.tsv");
    frt = out(dir, "restags.tsv");
    members = calloc(ntags + 1, sizeof(*members));
    own_off = calloc(nres + 2, sizeof(*own_off));
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO assignments(resource_id, tag_id, context, added_by,"
                           " added_at, valid_from) VALUES(?1, ?2, 'manual', 'bench', ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        die("prepare assignments", db);
    {
        double mean = (double)nasg_want / (double)nres;
        uint32_t got[4096];
        for (i = 1; i <= nres; i++) {
            uint32_t k = (uint32_t)(mean * (0.5 + uniform()) + 0.5), n = 0, tries = 0;
            if (k > 4000)
                k = 4000;
            if (k > ntags / 2)
                k = ntags / 2;
            while (n < k && tries++ < k * 20) {
                double u = uniform();
                uint32_t lo = 0, hi = ntags - 1, t;
                bool dup = false;
                while (lo < hi) {
                    uint32_t mid = (lo + hi) / 2;
                    if (cdf[mid] < u)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                t = rank_tag[lo];
                for (j = 0; j < n && !dup; j++)
                    dup = got[j] == t;
                if (!dup)
                    got[n++] = t;
            }
            /* sorted, so the index and the COPY files are in key order */
            for (j = 1; j < n; j++) {
                uint32_t v = got[j], m = j;
                while (m > 0 && got[m - 1] > v) {
                    got[m] = got[m - 1];
                    m--;
                }
                got[m] = v;
            }
            fprintf(frt, "%u\t{", i);
            for (j = 0; j < n; j++) {
                sqlite3_bind_int64(st, 1, i);
                sqlite3_bind_int64(st, 2, got[j]);
                sqlite3_bind_int64(st, 3, now);
                sqlite3_bind_int64(st, 4, rev);
                if (sqlite3_step(st) != SQLITE_DONE)
                    die("insert assignment", db);
                sqlite3_reset(st);
                fprintf(fa, "%u\t%u\n", i, got[j]);
                fprintf(frt, "%s%s", j ? "," : "", names[got[j]]);
                push(&members[got[j]], i);
                push(&own, got[j]);
                nasg++;
            }
            fprintf(frt, "}\n");
            own_off[i + 1] = own.n;
        }
    }
    sqlite3_finalize(st);
    fclose(fa);
    fclose(frt);
    exec(db, "CREATE INDEX assignments_tag ON assignments(tag_id) WHERE valid_to IS NULL;"
             "CREATE INDEX assignments_hist ON assignments(valid_from, valid_to);");
    /* Each tag's and resource's first version, as core_versioned_put writes it (the JSON of
     * core_tag_json and res_json): reads as of a revision (the export among them) find the
     * data set in the history tables. */
    {
        char sql[1024];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO tags_hist(tag_id, valid_from, data, name, deleted)"
                 " SELECT id, %lld, json_object('id', id, 'name', name, 'parent_id', parent_id,"
                 " 'display_name', NULL, 'l10n', NULL, 'color', NULL, 'description', NULL,"
                 " 'source', NULL, 'system_created', json('false'), 'protected', json('false'),"
                 " 'archived', json('false'), 'deleted', json('false'), 'version', 1), name, 0"
                 " FROM tags;"
                 "INSERT INTO resources_hist(resource_id, valid_from, data, ws_id, kind, key,"
                 " parent_id, archived) SELECT id, %lld, json_object('id', id, 'kind', kind,"
                 " 'key', key, 'name', NULL, 'parent_id', parent_id, 'archived', json('false'),"
                 " 'version', 1), ws_id, kind, key, parent_id, 0 FROM resources;",
                 (long long)rev, (long long)rev);
        exec(db, sql);
    }
    exec(db, "COMMIT");
    exec(db, "ANALYZE; PRAGMA journal_mode=WAL;");
    sqlite3_close(db);

    /* Redis, as its experts keep tags: a bitmap over resource ids per tag (t:ID), per inner tag
     * one of its whole subtree (s:ID), the same two for effective (inherited) tags (e:ID,
     * es:ID), and one of every resource (all), for `not`. Bit r is resource id r (Redis counts
     * bits from the high end of byte 0); every bitmap has the same length, so that BITOP NOT
     * only sets bits past the last resource and at 0, which an AND with `all` clears. */
    if (!tagd_only) {
        size_t nb = ((size_t)nres + 1 + 7) / 8;
        uint8_t **bt = calloc(ntags + 1, sizeof(*bt)), **be = calloc(ntags + 1, sizeof(*be));
        uint8_t **bs = calloc(ntags + 1, sizeof(*bs)), **bes = calloc(ntags + 1, sizeof(*bes));
        uint8_t *all = calloc(nb, 1);
        bool *inner = calloc(ntags + 1, sizeof(*inner));
        char key[32];

        if (!bt || !be || !bs || !bes || !all || !inner)
            exit(1);
        for (i = 1; i <= ntags; i++)
            if (tparent[i])
                inner[tparent[i]] = true;
        for (i = 1; i <= ntags; i++) {
            bt[i] = calloc(nb, 1);
            be[i] = calloc(nb, 1);
            if (inner[i]) {
                bs[i] = calloc(nb, 1);
                bes[i] = calloc(nb, 1);
            }
            if (!bt[i] || !be[i] || (inner[i] && (!bs[i] || !bes[i])))
                exit(1);
        }
        for (i = 1; i <= nres; i++) {
            all[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
            for (j = own_off[i]; j < own_off[i + 1]; j++)
                bt[own.v[j]][i >> 3] |= (uint8_t)(0x80u >> (i & 7));
            /* effective: the resource's own tags and every ancestor's */
            for (uint32_t a = i; a; a = rparent[a])
                for (j = own_off[a]; j < own_off[a + 1]; j++)
                    be[own.v[j]][i >> 3] |= (uint8_t)(0x80u >> (i & 7));
        }
        for (i = 1; i <= ntags; i++)
            for (uint32_t a = i; a; a = tparent[a])
                if (inner[a])
                    for (size_t k = 0; k < nb; k++) {
                        bs[a][k] |= bt[i][k];
                        bes[a][k] |= be[i][k];
                    }
        fredis = out(dir, "redis.resp");
#define RESP_SET(name, bits)                                                                   \
    do {                                                                                       \
        fprintf(fredis, "*3\r\n");                                                             \
        resp_bulk(fredis, "SET");                                                              \
        resp_bulk(fredis, name);                                                               \
        fprintf(fredis, "$%zu\r\n", nb);                                                       \
        fwrite(bits, 1, nb, fredis);                                                           \
        fprintf(fredis, "\r\n");                                                               \
    } while (0)
        RESP_SET("all", all);
        for (i = 1; i <= ntags; i++) {
            snprintf(key, sizeof(key), "t:%u", i);
            RESP_SET(key, bt[i]);
            snprintf(key, sizeof(key), "e:%u", i);
            RESP_SET(key, be[i]);
            if (inner[i]) {
                snprintf(key, sizeof(key), "s:%u", i);
                RESP_SET(key, bs[i]);
                snprintf(key, sizeof(key), "es:%u", i);
                RESP_SET(key, bes[i]);
            }
            free(bt[i]);
            free(be[i]);
            free(bs[i]);
            free(bes[i]);
        }
#undef RESP_SET
        fclose(fredis);
        free(all);
        free(inner);
    }

    /* Query terms: tags by popularity rank, one root for the subtree shapes. */
    fq = out(dir, "terms.tsv");
    {
        static const struct {
            const char *term;
            uint32_t rank;
        } pick[] = {{"A", 4}, {"B", 9}, {"C", 29}, {"D", 2}};
        for (i = 0; i < sizeof(pick) / sizeof(pick[0]); i++) {
            uint32_t r = pick[i].rank < ntags ? pick[i].rank : ntags - 1;
            uint32_t t = rank_tag[r];
            /* leaves or mids only, so that P (a root) is not one of them */
            while (tparent[t] == 0) {
                r = (r + 1) % ntags;
                t = rank_tag[r];
            }
            fprintf(fq, "%s\t%u\t%s\n", pick[i].term, t, names[t]);
        }
        {
            uint32_t p = 1 + below((uint32_t)roots);
            fprintf(fq, "P\t%u\t%s\n", p, names[p]);
        }
        {
            /* R: the rarest tag that is on some resource (the selective shape); H: the tag
             * whose count is nearest half the resources (the broad one). */
            uint32_t r = 0, h = 0;
            for (i = 1; i <= ntags; i++) {
                uint32_t n = members[i].n;
                if (n && (!r || n < members[r].n))
                    r = i;
                if (!h || (n > nres / 2 ? n - nres / 2 : nres / 2 - n) <
                              (members[h].n > nres / 2 ? members[h].n - nres / 2
                                                       : nres / 2 - members[h].n))
                    h = i;
            }
            fprintf(fq, "R\t%u\t%s\n", r, names[r]);
            fprintf(fq, "H\t%u\t%s\n", h, names[h]);
        }
    }
    fclose(fq);

    /* Sample resources at depth 3, for the resource-tags figure. */
    fk = out(dir, "depth3.tsv");
    for (i = 0; i < 1000; i++) {
        uint32_t id = n1 + n2 + 1 + below(nres - n1 - n2);
        fprintf(fk, "%u\tfile\tf-%u\n", id, id);
    }
    fclose(fk);
    {
        FILE *fm = out(dir, "meta.tsv");
        fprintf(fm, "tags\t%u\nresources\t%u\nassignments\t%llu\nfolders1\t%u\nfolders2\t%u\n",
                ntags, nres, (unsigned long long)nasg, n1, n2);
        fclose(fm);
    }
    printf("gen: %u tags, %u resources, %llu assignments\n", ntags, nres,
           (unsigned long long)nasg);
    return 0;
}
