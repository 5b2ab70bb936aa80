/* tagctl/transfer.c: export and import, streaming, in JSON lines or CSV.
 *
 * `export tags` writes the taxonomy, one tag per record, parents before children (the list is
 * sorted by name). `export resources` writes each resource with its direct tags. `import`
 * reads what export wrote: tags go in batches of --chunk through POST /v1/tags {"tags": [...]},
 * each batch all or nothing; each resource is one PUT of the resource (when it has a name or a
 * parent) and one PUT (or, with --add, POST) of its tags, which is atomic for that resource.
 * The native API has no write that spans resources, so a resource is the chunk there.
 * Neither side holds more than a page or a chunk in memory. Progress goes to stderr. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagctl/tagctl.h"
#include "util/mem.h"

#define FIELD_MAX (1u << 20)
#define CSV_FIELDS_MAX 64

void progress_init(struct tc_progress *p, const char *what, long long total, bool on)
{
    memset(p, 0, sizeof(*p));
    p->what = what;
    p->total = total;
    p->on = on && total > 0;
    p->tty = isatty(STDERR_FILENO);
    p->last = -1;
}

void progress_step(struct tc_progress *p, long long done)
{
    int pct;
    p->done = done;
    if (!p->on)
        return;
    pct = (int)(done * 100 / p->total);
    if (pct > 100)
        pct = 100;
    if (p->tty) {
        if (pct == p->last)
            return;
        char bar[31];
        int fill = pct * 30 / 100;
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, ' ', (size_t)(30 - fill));
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %3d%%", p->what, bar, pct);
        p->last = pct;
    } else if (pct / 10 > p->last) {
        fprintf(stderr, "%s: %d%% (%lld of %lld)\n", p->what, pct / 10 * 10, done, p->total);
        p->last = pct / 10;
    }
    fflush(stderr);
}

void progress_end(struct tc_progress *p)
{
    if (p->on && p->tty)
        fputc('\n', stderr);
}

/* ---- records out ---- */

enum xfmt { X_JSONL, X_CSV };

static int parse_xfmt(struct tc_ctx *x, const char *file, enum xfmt *f)
{
    const char *v = args_get(x->a, "format");
    *f = X_JSONL;
    if (v == NULL) {
        size_t n = file ? strlen(file) : 0;
        if (n > 4 && strcmp(file + n - 4, ".csv") == 0)
            *f = X_CSV;
        return TC_OK;
    }
    if (strcmp(v, "csv") == 0)
        *f = X_CSV;
    else if (strcmp(v, "jsonl") != 0)
        return tc_fail(TC_USAGE, "--format is jsonl or csv, not '%s'", v);
    return TC_OK;
}

static const char *const tag_fields[] = {"name", "display_name", "color", "description",
                                         "protected", "archived", NULL};
static const char *const res_fields[] = {"kind", "key", "name", "parent", "tags", NULL};

struct exp {
    struct tc_ctx *x;
    FILE *f;
    enum xfmt fmt;
    bool tags;
    long long total, n;
    struct tc_progress prog;
    bool started;
};

static void write_record(struct exp *e, json_t *rec)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    if (e->fmt == X_JSONL) {
        char *s = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        sbuf_printf(&b, "%s\n", s);
        xfree(s); /* jansson allocates with malloc */
    } else {
        const char *const *fields = e->tags ? tag_fields : res_fields;
        struct sbuf cell;
        sbuf_init(&cell, 0);
        for (int i = 0; fields[i]; i++) {
            json_t *v = json_object_get(rec, fields[i]);
            sbuf_reset(&cell);
            if (v)
                out_cell_text(v, &cell);
            if (i)
                sbuf_addc(&b, ',');
            out_csv_field(&b, sbuf_str(&cell));
        }
        sbuf_adds(&b, "\r\n");
        sbuf_release(&cell);
    }
    fwrite(b.buf, 1, b.len, e->f);
    sbuf_release(&b);
}

static int exp_tag(void *ctx, json_t *t)
{
    struct exp *e = ctx;
    json_t *rec = json_object();
    for (int i = 0; tag_fields[i]; i++) {
        json_t *v = json_object_get(t, tag_fields[i]);
        json_object_set(rec, tag_fields[i], v ? v : json_null());
    }
    if (json_is_object(json_object_get(t, "l10n")))
        json_object_set(rec, "l10n", json_object_get(t, "l10n"));
    write_record(e, rec);
    json_decref(rec);
    e->n++;
    progress_step(&e->prog, e->n);
    return ferror(e->f) ? tc_fail(TC_ERROR, "export: write failed: %s", strerror(errno)) : TC_OK;
}

static int exp_res(void *ctx, json_t *r)
{
    struct exp *e = ctx;
    struct sbuf p;
    struct tc_resp resp;
    json_t *rec, *tags = json_array(), *it;
    size_t i;
    int rc;

    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/resources/");
    url_escape(&p, json_string_value(json_object_get(r, "kind")) ?: "");
    sbuf_addc(&p, '/');
    url_escape(&p, json_string_value(json_object_get(r, "key")) ?: "");
    sbuf_adds(&p, "/tags");
    rc = client_call(e->x->cl, "GET", sbuf_str(&p), NULL, &resp);
    sbuf_release(&p);
    if (rc) {
        resp_release(&resp);
        json_decref(tags);
        return rc;
    }
    json_array_foreach(json_object_get(resp.body, "items"), i, it)
        json_array_append(tags, json_object_get(it, "name"));
    resp_release(&resp);
    rec = json_pack("{s:O,s:O,s:O,s:O,s:o}", "kind", json_object_get(r, "kind"), "key",
                    json_object_get(r, "key"), "name",
                    json_object_get(r, "name") ? json_object_get(r, "name") : json_null(),
                    "parent", json_object_get(r, "parent") ? json_object_get(r, "parent") : json_null(),
                    "tags", tags);
    write_record(e, rec);
    json_decref(rec);
    e->n++;
    progress_step(&e->prog, e->n);
    return ferror(e->f) ? tc_fail(TC_ERROR, "export: write failed: %s", strerror(errno)) : TC_OK;
}

/* Lists with the total known after the first page: the progress starts from the first item. */
static int exp_tag_first(void *ctx, json_t *t)
{
    struct exp *e = ctx;
    if (!e->started) {
        e->started = true;
        progress_init(&e->prog, "export", e->total, !e->x->a->quiet && !args_bool(e->x->a, "no-progress"));
    }
    return exp_tag(ctx, t);
}

static int exp_res_first(void *ctx, json_t *r)
{
    struct exp *e = ctx;
    if (!e->started) {
        e->started = true;
        progress_init(&e->prog, "export", e->total, !e->x->a->quiet && !args_bool(e->x->a, "no-progress"));
    }
    return exp_res(ctx, r);
}

int cmd_export(struct tc_ctx *x)
{
    const char *what = x->nargs ? x->a->pos[x->a->npos - 1] : "resources";
    const char *file = args_get(x->a, "file");
    struct exp e;
    struct sbuf p;
    int rc;

    memset(&e, 0, sizeof(e));
    e.x = x;
    e.total = -1;
    if (strcmp(what, "tags") != 0 && strcmp(what, "resources") != 0)
        return tc_fail(TC_USAGE, "export: tags or resources, not '%s'", what);
    e.tags = strcmp(what, "tags") == 0;
    rc = parse_xfmt(x, file, &e.fmt);
    if (rc)
        return rc;
    e.f = stdout;
    if (file && strcmp(file, "-") != 0) {
        e.f = fopen(file, "w");
        if (e.f == NULL)
            return tc_fail(TC_ERROR, "export: cannot write %s: %s", file, strerror(errno));
    }
    if (e.fmt == X_CSV) {
        const char *const *fields = e.tags ? tag_fields : res_fields;
        for (int i = 0; fields[i]; i++)
            fprintf(e.f, "%s%s", i ? "," : "", fields[i]);
        fputs("\r\n", e.f);
    }
    sbuf_init(&p, 0);
    sbuf_adds(&p, e.tags ? "/v1/tags" : "/v1/resources");
    url_query(&p, e.tags ? "prefix" : "kind", args_get(x->a, e.tags ? "prefix" : "kind"));
    rc = client_list(x->cl, sbuf_str(&p), x->cap, e.tags ? exp_tag_first : exp_res_first, &e,
                     &e.total);
    sbuf_release(&p);
    progress_end(&e.prog);
    if (e.f != stdout) {
        if (fclose(e.f) != 0 && rc == TC_OK)
            rc = tc_fail(TC_ERROR, "export: cannot write %s: %s", file, strerror(errno));
    } else {
        fflush(stdout);
    }
    if (rc == TC_OK && !x->a->quiet)
        fprintf(stderr, "exported %lld %s\n", e.n, what);
    return rc;
}

/* ---- records in ---- */

struct reader {
    FILE *f;
    enum xfmt fmt;
    long line;          /* the line the current record started on */
    long next_line;
    char *cols[CSV_FIELDS_MAX];
    int ncols;
    long long size;     /* bytes, when the input is a regular file */
};

/* One CSV record into `out` (owned strings); returns the field count, 0 at the end, -1 when
 * malformed (an unterminated quote, a field over FIELD_MAX, too many fields). */
static int csv_record(struct reader *r, char **out, int max)
{
    struct sbuf cell;
    int n = 0, c;
    bool quoted = false, any = false;

    sbuf_init(&cell, FIELD_MAX);
    r->line = r->next_line;
    for (;;) {
        c = fgetc(r->f);
        if (c == EOF) {
            if (quoted) {
                n = -1;
                break;
            }
            if (!any && n == 0) {
                sbuf_release(&cell);
                return 0;
            }
            c = '\n';
        }
        any = true;
        if (quoted) {
            if (c == '"') {
                int d = fgetc(r->f);
                if (d == '"') {
                    sbuf_addc(&cell, '"');
                    continue;
                }
                quoted = false;
                if (d != EOF)
                    ungetc(d, r->f);
                continue;
            }
            if (c == '\n')
                r->next_line++;
            sbuf_addc(&cell, (char)c);
            continue;
        }
        if (c == '"' && cell.len == 0) {
            quoted = true;
            continue;
        }
        if (c == ',' || c == '\n') {
            if (n == max || cell.overflow) {
                n = -1;
                break;
            }
            out[n++] = xstrdup(sbuf_str(&cell));
            sbuf_reset(&cell);
            if (c == '\n') {
                r->next_line++;
                break;
            }
            continue;
        }
        if (c == '\r')
            continue;
        if (sbuf_addc(&cell, (char)c)) {
            n = -1;
            break;
        }
    }
    sbuf_release(&cell);
    if (n < 0) {
        for (int i = 0; i < max && out[i]; i++) {
            xfree(out[i]);
            out[i] = NULL;
        }
    }
    return n;
}

/* The next record as a JSON object (owned); NULL at the end (`*rc` TC_OK) or on bad input
 * (`*rc` TC_USAGE, printed with its line). */
static json_t *next_record(struct reader *r, bool tags, int *rc)
{
    *rc = TC_OK;
    if (r->fmt == X_JSONL) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        json_t *o = NULL;
        while ((n = getline(&line, &cap, r->f)) > 0) {
            json_error_t je;
            r->line = ++r->next_line;
            if (strspn(line, " \t\r\n") == (size_t)n)
                continue;
            o = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je);
            if (!json_is_object(o)) {
                json_decref(o);
                o = NULL;
                *rc = tc_fail(TC_USAGE, "import: line %ld: not a JSON object: %s", r->line,
                              je.text[0] ? je.text : "an object is expected");
            }
            break;
        }
        xfree(line); /* getline allocates with malloc */
        return o;
    }
    for (;;) {
        char *v[CSV_FIELDS_MAX] = {0};
        int n = csv_record(r, v, CSV_FIELDS_MAX);
        json_t *o;
        if (n == 0)
            return NULL;
        if (n < 0) {
            *rc = tc_fail(TC_USAGE, "import: line %ld: malformed CSV", r->line);
            return NULL;
        }
        if (n == 1 && v[0][0] == '\0') {
            xfree(v[0]);
            continue; /* a blank line */
        }
        if (r->ncols == 0) {
            /* The header names the columns. */
            for (int i = 0; i < n; i++)
                r->cols[i] = v[i];
            r->ncols = n;
            continue;
        }
        if (n != r->ncols) {
            for (int i = 0; i < n; i++)
                xfree(v[i]);
            *rc = tc_fail(TC_USAGE, "import: line %ld: %d fields, the header has %d", r->line, n,
                          r->ncols);
            return NULL;
        }
        o = json_object();
        for (int i = 0; i < n; i++) {
            const char *k = r->cols[i];
            if (v[i][0] == '\0') {
                /* empty: absent */
            } else if (strcmp(k, "protected") == 0 || strcmp(k, "archived") == 0) {
                bool b;
                if (!args_parse_bool(v[i], &b)) {
                    *rc = tc_fail(TC_USAGE, "import: line %ld: %s is true or false", r->line, k);
                } else {
                    json_object_set_new(o, k, json_boolean(b));
                }
            } else if (!tags && strcmp(k, "tags") == 0) {
                json_t *arr = json_array();
                for (char *s = v[i]; *s;) {
                    size_t len = strcspn(s, ",");
                    if (len)
                        json_array_append_new(arr, json_stringn(s, len));
                    s += len;
                    if (*s == ',')
                        s++;
                }
                json_object_set_new(o, k, arr);
            } else if (!tags && strcmp(k, "parent") == 0) {
                char *kind;
                const char *key;
                if (cmd_split_ref(v[i], &kind, &key)) {
                    json_object_set_new(o, k, json_pack("{s:s,s:s}", "kind", kind, "key", key));
                    xfree(kind);
                } else {
                    *rc = tc_fail(TC_USAGE, "import: line %ld: parent is KIND/KEY", r->line);
                }
            } else {
                json_object_set_new(o, k, json_string(v[i]));
            }
            xfree(v[i]);
        }
        if (*rc) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
}

static void progress_pos(struct reader *r, struct tc_progress *p)
{
    long pos = ftell(r->f);
    if (pos >= 0)
        progress_step(p, pos);
}

static int send_tag_chunk(struct tc_ctx *x, json_t *chunk, long first, long last)
{
    struct tc_resp resp;
    json_t *body;
    int rc;
    if (json_array_size(chunk) == 0)
        return TC_OK;
    body = json_pack("{s:O}", "tags", chunk);
    rc = client_call(x->cl, "POST", "/v1/tags", body, &resp);
    json_decref(body);
    resp_release(&resp);
    if (rc)
        tc_fail(0, "import: the batch of lines %ld-%ld was refused and changed nothing; "
                   "earlier batches are in",
                first, last);
    json_array_clear(chunk);
    return rc;
}

static int import_resource(struct tc_ctx *x, json_t *rec, long line)
{
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    const char *key = json_string_value(json_object_get(rec, "key"));
    json_t *tags = json_object_get(rec, "tags"), *body = NULL;
    struct sbuf p;
    struct tc_resp resp;
    int rc = TC_OK;
    const char *k;
    json_t *v;

    if (kind == NULL || key == NULL || (tags && !json_is_array(tags)))
        return tc_fail(TC_USAGE, "import: line %ld: a resource needs kind and key, tags a list",
                       line);
    json_object_foreach(rec, k, v) {
        if (strcmp(k, "kind") && strcmp(k, "key") && strcmp(k, "name") && strcmp(k, "parent") &&
            strcmp(k, "tags") && strcmp(k, "archived") && strcmp(k, "document"))
            return tc_fail(TC_USAGE, "import: line %ld: unknown field '%s'", line, k);
    }
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/resources/");
    url_escape(&p, kind);
    sbuf_addc(&p, '/');
    url_escape(&p, key);
    body = json_object();
    json_object_foreach(rec, k, v) {
        if (strcmp(k, "name") == 0 || strcmp(k, "parent") == 0 || strcmp(k, "archived") == 0 ||
            strcmp(k, "document") == 0)
            json_object_set(body, k, v);
    }
    if (json_object_size(body) > 0) {
        rc = client_call(x->cl, "PUT", sbuf_str(&p), body, &resp);
        resp_release(&resp);
    }
    json_decref(body);
    if (rc == TC_OK && tags) {
        bool add = args_bool(x->a, "add");
        body = json_pack("{s:O}", "tags", tags);
        if (args_bool(x->a, "create-missing"))
            json_object_set_new(body, "create_missing", json_true());
        sbuf_adds(&p, "/tags");
        if (!(add && json_array_size(tags) == 0))
            rc = client_call(x->cl, add ? "POST" : "PUT", sbuf_str(&p), body, &resp);
        else
            memset(&resp, 0, sizeof(resp));
        resp_release(&resp);
        json_decref(body);
    }
    if (rc)
        tc_fail(0, "import: line %ld (%s/%s) was refused; earlier lines are in", line, kind, key);
    sbuf_release(&p);
    return rc;
}

int cmd_import(struct tc_ctx *x)
{
    const char *what = "resources", *file = args_get(x->a, "file");
    struct reader r;
    struct tc_progress prog;
    json_t *chunk = json_array(), *rec;
    long chunk_max = 500, first = 0, n = 0, batches = 0;
    int rc = TC_OK;
    bool tags;

    for (int i = 0; i < x->nargs; i++) {
        const char *w = x->a->pos[x->a->npos - x->nargs + i];
        if (i == 0 && (strcmp(w, "tags") == 0 || strcmp(w, "resources") == 0))
            what = w;
        else if (file == NULL)
            file = w;
        else
            rc = tc_fail(TC_USAGE, "import: one input only");
    }
    tags = strcmp(what, "tags") == 0;
    memset(&r, 0, sizeof(r));
    if (rc == TC_OK)
        rc = parse_xfmt(x, file, &r.fmt);
    if (rc == TC_OK && args_get(x->a, "chunk")) {
        char *end;
        chunk_max = strtol(args_get(x->a, "chunk"), &end, 10);
        if (*end || chunk_max < 1 || chunk_max > 1000)
            rc = tc_fail(TC_USAGE, "--chunk wants 1 to 1000 (the server's batch limit)");
    }
    if (rc) {
        json_decref(chunk);
        return rc;
    }
    r.f = stdin;
    if (file && strcmp(file, "-") != 0) {
        struct stat st;
        r.f = fopen(file, "r");
        if (r.f == NULL) {
            json_decref(chunk);
            return tc_fail(TC_ERROR, "import: cannot read %s: %s", file, strerror(errno));
        }
        if (fstat(fileno(r.f), &st) == 0 && S_ISREG(st.st_mode))
            r.size = st.st_size;
    }
    progress_init(&prog, "import", r.size, !x->a->quiet && !args_bool(x->a, "no-progress"));
    while (rc == TC_OK && !tc_stop) {
        rec = next_record(&r, tags, &rc);
        if (rec == NULL)
            break;
        n++;
        if (tags) {
            if (json_array_size(chunk) == 0)
                first = r.line;
            json_array_append_new(chunk, rec);
            if ((long)json_array_size(chunk) >= chunk_max) {
                rc = send_tag_chunk(x, chunk, first, r.line);
                batches++;
            }
        } else {
            rc = import_resource(x, rec, r.line);
            json_decref(rec);
            batches++;
        }
        progress_pos(&r, &prog);
    }
    if (rc == TC_OK && tags && json_array_size(chunk)) {
        rc = send_tag_chunk(x, chunk, first, r.line);
        batches++;
    }
    progress_end(&prog);
    if (rc == TC_OK && !x->a->quiet)
        fprintf(stderr, "imported %ld %s in %ld %s\n", n, what, batches,
                tags ? "batches" : "requests");
    for (int i = 0; i < r.ncols; i++)
        xfree(r.cols[i]);
    if (r.f != stdin)
        fclose(r.f);
    json_decref(chunk);
    return rc;
}
