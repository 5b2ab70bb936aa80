/* tagctl/transfer.c: export and import, streaming, in JSON lines or CSV.
 *
 * `export tags` writes the taxonomy, one tag per record, parents before children (the list is
 * sorted by name). `export resources` writes each resource with its direct tags. `import`
 * reads what export wrote: tags go in batches of --chunk through POST /v1/tags {"tags": [...]},
 * each batch all or nothing; each resource is one PUT of the resource (when it has a name or a
 * parent) and one PUT (or, with --add, POST) of its tags, which is atomic for that resource.
 * The native API has no write that spans resources, so a resource is the chunk there.
 * Neither side holds more than a page or a chunk in memory. Progress goes to stderr. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
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

static int export_legacy(struct tc_ctx *x, const char *what)
{
    const char *file = args_get(x->a, "file");
    struct exp e;
    struct sbuf p;
    int rc;

    memset(&e, 0, sizeof(e));
    e.x = x;
    e.total = -1;
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

/* ---- chunks through POST /v1/import ----
 *
 * A chunk is one request and one transaction on the server (docs/interchange.md): records are
 * gathered until --chunk of them, sent, and the next chunk names the job the first one made.
 * Each record remembers the file line it came from and the chunk line it starts on, so that the
 * line the server names in an error is shown as the file's line. */

/* A chunk on its way from a thread of its own: while the server writes one chunk the next one
 * travels and is parsed (its prepare step), as bench's --inflight 2 does. */
struct flight {
    struct chunker *c;
    struct tc_client *cl; /* this flight's own connection */
    pthread_t th;
    char *path, *data;
    size_t len;
    long *file_line, *chunk_line, nrec;
    long long chunk;
    struct tc_resp resp;
    int rc;
};

#define IN_FLIGHT 2

struct chunker {
    struct tc_ctx *x;
    /* The chunks on their way, oldest first (nfly of them); with no clients, one chunk after
     * the other (the first chunk always goes alone: it makes the job). */
    struct tc_client *fly_cl[IN_FLIGHT];
    struct flight *fly[IN_FLIGHT];
    int nfly;
    const char *ctype;
    const char *header;   /* CSV: the first line of every chunk (owned), or NULL */
    struct sbuf body;     /* the chunk being built */
    long *file_line;      /* per record of the chunk: where it starts in the file */
    long *chunk_line;     /* ... and in the chunk */
    long nrec, max;
    long next_line;       /* the chunk line the next record starts on */
    char job[64];         /* "" until the first chunk made the job */
    long long chunk;      /* the number of the chunk being built */
    long long skip;       /* --resume: chunks the job has already */
    long long sent;       /* chunks sent */
    long long records;    /* records sent in committed chunks */
};

static void chunker_init(struct chunker *c, struct tc_ctx *x, const char *ctype, long max)
{
    memset(c, 0, sizeof(*c));
    c->x = x;
    c->ctype = ctype;
    c->max = max;
    c->file_line = xcalloc((size_t)max + 1, sizeof(long));
    c->chunk_line = xcalloc((size_t)max + 1, sizeof(long));
    sbuf_init(&c->body, 0);
    c->next_line = 1;
}

static int flights_land(struct chunker *c);

static void chunker_release(struct chunker *c)
{
    flights_land(c);
    for (int i = 0; i < IN_FLIGHT; i++)
        if (c->fly_cl[i] != c->x->cl)
            client_free(c->fly_cl[i]);
    xfree(c->file_line);
    xfree(c->chunk_line);
    xfree((char *)c->header);
    sbuf_release(&c->body);
}

static void chunk_start(struct chunker *c)
{
    sbuf_reset(&c->body);
    c->nrec = 0;
    c->next_line = 1;
    if (c->header) {
        sbuf_adds(&c->body, c->header);
        c->next_line = 2;
    }
}

/* The file line of chunk line `l` (what the server names). */
static long file_line_of(const struct chunker *c, long l)
{
    long best = -1;
    for (long i = 0; i < c->nrec; i++)
        if (c->chunk_line[i] <= l)
            best = i;
    if (best < 0)
        return l; /* the header */
    return c->file_line[best] + (l - c->chunk_line[best]);
}

/* The server's refusal, with the file's line, and where to go on from. */
static int chunk_refused(struct chunker *c, struct tc_resp *resp, int rc)
{
    json_t *e = json_object_get(resp->body, "error");
    json_t *d = json_object_get(e, "details");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(d, "field"));
    const char *code = json_string_value(json_object_get(e, "code"));
    json_t *line = json_object_get(d, "line");
    long first = c->nrec ? c->file_line[0] : 0, last = c->nrec ? c->file_line[c->nrec - 1] : 0;

    if (code == NULL || msg == NULL) {
        client_print_error(c->x->cl, resp);
    } else {
        /* The message starts "line N, field 'F': " with the chunk's N: shown with the file's. */
        if (json_is_integer(line) && strncmp(msg, "line ", 5) == 0 && strstr(msg, ": "))
            msg = strstr(msg, ": ") + 2;
        if (json_is_integer(line))
            tc_fail(0, "error: %s: line %ld%s%s%s: %s (HTTP %ld, request id %s)", code,
                    file_line_of(c, (long)json_integer_value(line)), field ? ", field '" : "",
                    field ? field : "", field ? "'" : "", msg, resp->status,
                    resp->request_id[0] ? resp->request_id : "none");
        else
            client_print_error(c->x->cl, resp);
    }
    if (c->job[0])
        tc_fail(0, "import: the batch of lines %ld-%ld was refused and changed nothing (chunk "
                   "%lld of job %s); earlier batches are in; after a fix, go on with "
                   "--resume %s --chunk %ld",
                c->nrec ? first : 0, last, c->chunk, c->job, c->job, c->max);
    else
        tc_fail(0, "import: the batch of lines %ld-%ld was refused and changed nothing",
                first, last);
    return rc;
}

static void *flight_run(void *arg)
{
    struct flight *f = arg;

    f->rc = client_send(f->cl, "POST", f->path, f->c->ctype, f->data, f->len, &f->resp);
    return NULL;
}

static void flight_free(struct flight *f)
{
    resp_release(&f->resp);
    xfree(f->path);
    xfree(f->data);
    xfree(f->file_line);
    xfree(f->chunk_line);
    xfree(f);
}

/* Waits for the oldest chunk on its way and settles it: one that overtook its predecessor
 * (409, field "chunk") is sent again, now that the predecessor is in; a refusal is shown with
 * the file's lines. `quiet`: after an earlier refusal, only waited for. */
static int flight_land(struct chunker *c, bool quiet)
{
    struct flight *f = c->fly[0];
    int rc;

    assert(c->nfly > 0);
    pthread_join(f->th, NULL);
    memmove(c->fly, c->fly + 1, (size_t)(c->nfly - 1) * sizeof(c->fly[0]));
    c->nfly--;
    rc = f->rc;
    if (rc != TC_OK && !quiet && f->resp.status == 409 &&
        strcmp(json_string_value(json_object_get(json_object_get(json_object_get(
                   f->resp.body, "error"), "details"), "field")) ?: "", "chunk") == 0) {
        resp_release(&f->resp);
        rc = client_send(f->cl, "POST", f->path, c->ctype, f->data, f->len, &f->resp);
    }
    if (rc == TC_OK) {
        c->records += f->nrec;
        c->sent++;
    } else if (!quiet && f->resp.status == 0) {
        tc_fail(0, "import: the server did not answer for chunk %lld", f->chunk);
    } else if (!quiet) {
        struct chunker v = *c;
        v.file_line = f->file_line;
        v.chunk_line = f->chunk_line;
        v.nrec = f->nrec;
        v.chunk = f->chunk;
        chunk_refused(&v, &f->resp, rc);
    }
    flight_free(f);
    return rc;
}

/* Settles every chunk on its way, in order; after a refusal the rest are only waited for
 * (the server refuses them too: they come after the one that failed). */
static int flights_land(struct chunker *c)
{
    int rc = TC_OK;

    while (c->nfly)
        if (flight_land(c, rc != TC_OK) != TC_OK && rc == TC_OK)
            rc = TC_ERROR;
    return rc;
}

/* Sends the chunk built so far from a thread of its own, once the oldest of IN_FLIGHT on
 * their way is in. */
static int chunk_fly(struct chunker *c, const char *path)
{
    struct flight *f;
    int rc = TC_OK;

    if (c->nfly == IN_FLIGHT && (rc = flight_land(c, false)) != TC_OK) {
        flights_land(c);
        return rc;
    }
    f = xcalloc(1, sizeof(*f));
    f->c = c;
    for (int i = 0; i < IN_FLIGHT; i++) {
        bool used = false;
        for (int k = 0; k < c->nfly; k++)
            used |= c->fly[k]->cl == c->fly_cl[i];
        if (!used)
            f->cl = c->fly_cl[i];
    }
    assert(f->cl != NULL);
    f->path = xstrdup(path);
    f->len = c->body.len;
    f->data = xmalloc(f->len + 1);
    memcpy(f->data, c->body.buf, f->len);
    f->nrec = c->nrec;
    f->file_line = xcalloc((size_t)c->nrec + 1, sizeof(long));
    f->chunk_line = xcalloc((size_t)c->nrec + 1, sizeof(long));
    memcpy(f->file_line, c->file_line, (size_t)c->nrec * sizeof(long));
    memcpy(f->chunk_line, c->chunk_line, (size_t)c->nrec * sizeof(long));
    f->chunk = c->chunk;
    if (pthread_create(&f->th, NULL, flight_run, f) != 0) {
        flight_free(f);
        flights_land(c);
        return tc_fail(TC_ERROR, "import: cannot start a thread");
    }
    c->fly[c->nfly++] = f;
    c->chunk++;
    chunk_start(c);
    return TC_OK;
}

/* Sends the chunk built so far (unless --resume skips it); `last` ends the job. */
static int chunk_send(struct chunker *c, bool last)
{
    struct tc_resp resp;
    struct sbuf p;
    char num[24];
    json_t *id;
    int rc = TC_OK;

    if (c->chunk < c->skip) {
        c->chunk++;
        chunk_start(c);
        return TC_OK;
    }
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/import");
    if (c->job[0]) {
        url_query(&p, "job", c->job);
        snprintf(num, sizeof(num), "%lld", c->chunk);
        url_query(&p, "chunk", num);
    }
    url_query(&p, "last", last ? "true" : "false");
    if (c->job[0] && c->fly_cl[0]) {
        rc = chunk_fly(c, sbuf_str(&p));
        sbuf_release(&p);
        if (rc == TC_OK && last)
            rc = flights_land(c);
        return rc;
    }
    rc = client_send(c->x->cl, "POST", sbuf_str(&p), c->ctype, c->body.buf, c->body.len, &resp);
    sbuf_release(&p);
    if (rc == TC_OK) {
        id = json_object_get(resp.body, "id");
        if (json_is_string(id) && !c->job[0])
            snprintf(c->job, sizeof(c->job), "%s", json_string_value(id));
        c->records += c->nrec;
        c->sent++;
        c->chunk++;
        chunk_start(c);
    } else {
        id = json_object_get(json_object_get(resp.body, "job"), "id");
        if (json_is_string(id) && !c->job[0])
            snprintf(c->job, sizeof(c->job), "%s", json_string_value(id));
        if (resp.status == 0)
            tc_fail(0, "import: the server did not answer for chunk %lld", c->chunk);
        else
            chunk_refused(c, &resp, rc);
    }
    resp_release(&resp);
    return rc;
}

/* Adds one record of `len` bytes spanning `lines` lines, from file line `line`. */
static int chunk_add(struct chunker *c, const char *text, size_t len, long line, long lines)
{
    if (c->nrec == c->max) {
        int rc = chunk_send(c, false);
        if (rc)
            return rc;
    }
    c->file_line[c->nrec] = line;
    c->chunk_line[c->nrec] = c->next_line;
    c->nrec++;
    c->next_line += lines;
    sbuf_add(&c->body, text, len);
    return TC_OK;
}

static int chunk_add_json(struct chunker *c, json_t *rec, long line)
{
    char *s = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc;
    size_t n = strlen(s);
    s[n] = '\0';
    rc = chunk_add(c, s, n, line, 1);
    sbuf_addc(&c->body, '\n');
    xfree(s); /* jansson allocates with malloc */
    return rc;
}

/* --chunk (records per request, 1 to the server's 10,000; 500 by default). */
static int chunk_size(struct tc_ctx *x, long *out)
{
    char *end;
    *out = 500;
    if (args_get(x->a, "chunk") == NULL)
        return TC_OK;
    *out = strtol(args_get(x->a, "chunk"), &end, 10);
    if (*end || *out < 1 || *out > 10000)
        return tc_fail(TC_USAGE, "--chunk wants 1 to 10000 (the records of one request)");
    return TC_OK;
}

/* --resume JOB: the job's next chunk, from the server. */
static int resume_at(struct chunker *c, const char *job)
{
    struct tc_resp resp;
    struct sbuf p;
    int rc;

    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/import/");
    url_escape(&p, job);
    rc = client_call(c->x->cl, "GET", sbuf_str(&p), NULL, &resp);
    sbuf_release(&p);
    if (rc == TC_OK) {
        const char *fmt = json_string_value(json_object_get(resp.body, "format"));
        c->skip = json_integer_value(json_object_get(resp.body, "next_chunk"));
        snprintf(c->job, sizeof(c->job), "%s", job);
        if (strcmp(json_string_value(json_object_get(resp.body, "state")) ?: "", "done") == 0)
            rc = tc_fail(TC_CONFLICT, "import: job %s is done already", job);
        else if (fmt && strcmp(c->ctype, "application/x-ndjson") == 0 && strcmp(fmt, "jsonl") != 0)
            rc = tc_fail(TC_USAGE, "import: job %s imports %s", job, fmt);
    }
    resp_release(&resp);
    return rc;
}

/* The legacy records of `export tags` / `export resources` as the import's records. */
static int legacy_records(struct chunker *c, json_t *rec, bool tags, long line)
{
    struct tc_ctx *x = c->x;
    json_t *tl, *t, *out;
    size_t i;
    int rc;

    if (tags) {
        out = json_pack("{s:s}", "type", "tag");
        json_object_update(out, rec);
        rc = chunk_add_json(c, out, line);
        json_decref(out);
        return rc;
    }
    tl = json_object_get(rec, "tags");
    if (tl && !json_is_array(tl))
        return tc_fail(TC_USAGE, "import: line %ld: tags must be a list", line);
    if (args_bool(x->a, "create-missing")) {
        /* A tag record with its name only: created when missing, otherwise no change. */
        json_array_foreach(tl, i, t) {
            out = json_pack("{s:s,s:O}", "type", "tag", "name", t);
            rc = chunk_add_json(c, out, line);
            json_decref(out);
            if (rc)
                return rc;
        }
    }
    out = json_pack("{s:s}", "type", "resource");
    json_object_update(out, rec);
    if (args_bool(x->a, "add"))
        json_object_del(out, "tags");
    rc = chunk_add_json(c, out, line);
    json_decref(out);
    if (rc || !args_bool(x->a, "add"))
        return rc;
    json_array_foreach(tl, i, t) {
        out = json_pack("{s:s,s:O,s:O,s:O}", "type", "assignment", "kind",
                        json_object_get(rec, "kind"), "key", json_object_get(rec, "key"), "tag", t);
        rc = chunk_add_json(c, out, line);
        json_decref(out);
        if (rc)
            return rc;
    }
    return TC_OK;
}

static int import_legacy(struct tc_ctx *x, const char *what, const char *file)
{
    struct reader r;
    struct tc_progress prog;
    struct chunker c;
    json_t *rec;
    long chunk_max, n = 0;
    int rc;
    bool tags = strcmp(what, "tags") == 0;

    memset(&r, 0, sizeof(r));
    rc = parse_xfmt(x, file, &r.fmt);
    if (rc == TC_OK)
        rc = chunk_size(x, &chunk_max);
    if (rc)
        return rc;
    r.f = stdin;
    if (file && strcmp(file, "-") != 0) {
        struct stat st;
        r.f = fopen(file, "r");
        if (r.f == NULL)
            return tc_fail(TC_ERROR, "import: cannot read %s: %s", file, strerror(errno));
        if (fstat(fileno(r.f), &st) == 0 && S_ISREG(st.st_mode))
            r.size = st.st_size;
    }
    chunker_init(&c, x, "application/x-ndjson", chunk_max);
    if (args_get(x->a, "resume"))
        rc = resume_at(&c, args_get(x->a, "resume"));
    progress_init(&prog, "import", r.size, !x->a->quiet && !args_bool(x->a, "no-progress"));
    while (rc == TC_OK && !tc_stop) {
        rec = next_record(&r, tags, &rc);
        if (rec == NULL)
            break;
        n++;
        rc = legacy_records(&c, rec, tags, r.line);
        json_decref(rec);
        progress_pos(&r, &prog);
    }
    if (rc == TC_OK && !tc_stop)
        rc = chunk_send(&c, true);
    progress_end(&prog);
    if (rc == TC_OK && !x->a->quiet)
        fprintf(stderr, "imported %ld %s in %lld batches (job %s)\n", n, what, c.sent, c.job);
    for (int i = 0; i < r.ncols; i++)
        xfree(r.cols[i]);
    if (r.f != stdin)
        fclose(r.f);
    chunker_release(&c);
    return rc;
}

/* ---- the whole workspace (docs/interchange.md) ---- */

enum wfmt { W_JSONL, W_CSV, W_SKOS };
static const char *const wfmt_names[] = {"jsonl", "csv", "skos"};
static const char *const wfmt_types[] = {"application/x-ndjson", "text/csv", "text/turtle"};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/* --format, else the file's extension (.csv, .ttl), else JSON lines. */
static int parse_wfmt(struct tc_ctx *x, const char *file, enum wfmt *f)
{
    const char *v = args_get(x->a, "format");
    *f = W_JSONL;
    if (v == NULL) {
        if (ends_with(file, ".csv"))
            *f = W_CSV;
        else if (ends_with(file, ".ttl") || ends_with(file, ".skos"))
            *f = W_SKOS;
        return TC_OK;
    }
    for (int i = 0; i < 3; i++)
        if (strcmp(v, wfmt_names[i]) == 0) {
            *f = (enum wfmt)i;
            return TC_OK;
        }
    return tc_fail(TC_USAGE, "--format is jsonl, csv or skos, not '%s'", v);
}

static int export_workspace(struct tc_ctx *x)
{
    const char *file = args_get(x->a, "file");
    struct tc_resp resp;
    struct sbuf p;
    enum wfmt fmt;
    long long bytes = 0;
    FILE *f = stdout;
    long long rev;
    int64_t ms;
    int rc;

    rc = parse_wfmt(x, file, &fmt);
    if (rc)
        return rc;
    if (x->a->as_of && !asof_parse(x->a->as_of, &rev, &ms))
        return tc_fail(TC_USAGE, "--as-of wants a revision number or an ISO-8601 time, not '%s'",
                       x->a->as_of);
    if (file && strcmp(file, "-") != 0) {
        f = fopen(file, "w");
        if (f == NULL)
            return tc_fail(TC_ERROR, "export: cannot write %s: %s", file, strerror(errno));
    }
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/export");
    url_query(&p, "format", wfmt_names[fmt]);
    url_query(&p, "as_of", x->a->as_of);
    url_query(&p, "include", args_bool(x->a, "taxonomy") ? "taxonomy" : NULL);
    rc = client_download(x->cl, sbuf_str(&p), f, &bytes, &resp);
    sbuf_release(&p);
    if (f != stdout) {
        if (fclose(f) != 0 && rc == TC_OK)
            rc = tc_fail(TC_ERROR, "export: cannot write %s: %s", file, strerror(errno));
    } else {
        fflush(stdout);
    }
    if (rc == TC_OK && !x->a->quiet)
        fprintf(stderr, "exported the workspace at revision %lld (%lld bytes, %s)\n",
                resp.revision, bytes, wfmt_names[fmt]);
    resp_release(&resp);
    return rc;
}

/* A Turtle document is one chunk (a graph has no order to cut it by): read whole. */
static int import_turtle(struct tc_ctx *x, FILE *in, struct chunker *c)
{
    char buf[65536];
    size_t n;

    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (sbuf_add(&c->body, buf, n))
            return tc_fail(TC_ERROR, "import: the document is larger than 256 MiB");
    if (ferror(in))
        return tc_fail(TC_ERROR, "import: read failed: %s", strerror(errno));
    c->file_line[0] = 1;
    c->chunk_line[0] = 1;
    c->nrec = 1;
    (void)x;
    return chunk_send(c, true);
}

static int import_workspace(struct tc_ctx *x, const char *file)
{
    struct tc_progress prog;
    struct chunker c;
    struct reader r;
    enum wfmt fmt;
    long chunk_max, n = 0;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = parse_wfmt(x, file, &fmt);
    if (rc == TC_OK)
        rc = chunk_size(x, &chunk_max);
    if (rc)
        return rc;
    r.f = stdin;
    if (file && strcmp(file, "-") != 0) {
        struct stat st;
        r.f = fopen(file, "r");
        if (r.f == NULL)
            return tc_fail(TC_ERROR, "import: cannot read %s: %s", file, strerror(errno));
        if (fstat(fileno(r.f), &st) == 0 && S_ISREG(st.st_mode))
            r.size = st.st_size;
    }
    chunker_init(&c, x, wfmt_types[fmt], chunk_max);
    c.body.max = (size_t)256 << 20;
    /* Two chunks on their way, each on a connection of its own. */
    c.fly_cl[0] = x->cl;
    c.fly_cl[1] = client_new(x->cfg, x->a->debug, client_timeout(x->cl));
    if (args_get(x->a, "resume"))
        rc = resume_at(&c, args_get(x->a, "resume"));
    progress_init(&prog, "import", r.size, !x->a->quiet && !args_bool(x->a, "no-progress"));
    if (rc == TC_OK && fmt == W_SKOS) {
        rc = import_turtle(x, r.f, &c);
        n = 1;
    } else if (rc == TC_OK && fmt == W_JSONL) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        long no = 0;
        /* Lines go as they are: the server reads them (and names a bad one's line). */
        while (rc == TC_OK && !tc_stop && (len = getline(&line, &cap, r.f)) > 0) {
            no++;
            if (strspn(line, " \t\r\n") == (size_t)len)
                continue;
            n++;
            rc = chunk_add(&c, line, (size_t)len, no, 1);
            if (rc == TC_OK && line[len - 1] != '\n')
                sbuf_addc(&c.body, '\n');
            progress_pos(&r, &prog);
        }
        xfree(line); /* getline allocates with malloc */
        if (rc == TC_OK && !tc_stop)
            rc = chunk_send(&c, true);
    } else if (rc == TC_OK) {
        /* CSV: records (which may span lines) written again, after the header in each chunk. */
        struct sbuf row;
        char *v[CSV_FIELDS_MAX] = {0};
        int nf;
        bool header = true;
        sbuf_init(&row, 0);
        r.next_line = 1;
        while (rc == TC_OK && !tc_stop && (nf = csv_record(&r, v, CSV_FIELDS_MAX)) != 0) {
            long lines = 1;
            if (nf < 0) {
                rc = tc_fail(TC_USAGE, "import: line %ld: malformed CSV", r.line);
                break;
            }
            sbuf_reset(&row);
            for (int i = 0; i < nf; i++) {
                if (i)
                    sbuf_addc(&row, ',');
                out_csv_field(&row, v[i]);
                for (const char *q = v[i]; *q; q++)
                    lines += *q == '\n';
                xfree(v[i]);
                v[i] = NULL;
            }
            sbuf_adds(&row, "\r\n");
            if (nf == 1 && row.len == 2) {
                continue; /* a blank line */
            }
            if (header) {
                c.header = xstrdup(sbuf_str(&row));
                chunk_start(&c);
                header = false;
                continue;
            }
            n++;
            rc = chunk_add(&c, row.buf, row.len, r.line, lines);
            progress_pos(&r, &prog);
        }
        sbuf_release(&row);
        if (rc == TC_OK && !tc_stop)
            rc = chunk_send(&c, true);
    }
    progress_end(&prog);
    if (rc == TC_OK && !x->a->quiet)
        fprintf(stderr, "imported %ld records in %lld chunks (job %s)\n", n, c.sent, c.job);
    if (r.f != stdin)
        fclose(r.f);
    chunker_release(&c);
    return rc;
}

int cmd_export(struct tc_ctx *x)
{
    const char *what = x->nargs ? x->a->pos[x->a->npos - 1] : "workspace";

    if (strcmp(what, "workspace") == 0)
        return export_workspace(x);
    if (strcmp(what, "tags") != 0 && strcmp(what, "resources") != 0)
        return tc_fail(TC_USAGE, "export: workspace, tags or resources, not '%s'", what);
    if (x->a->as_of)
        return tc_fail(TC_USAGE, "export %s: --as-of is for the workspace export", what);
    return export_legacy(x, what);
}

int cmd_import(struct tc_ctx *x)
{
    const char *what = "workspace", *file = args_get(x->a, "file");

    for (int i = 0; i < x->nargs; i++) {
        const char *w = x->a->pos[x->a->npos - x->nargs + i];
        if (i == 0 && (strcmp(w, "tags") == 0 || strcmp(w, "resources") == 0 ||
                       strcmp(w, "workspace") == 0))
            what = w;
        else if (file == NULL)
            file = w;
        else
            return tc_fail(TC_USAGE, "import: one input only");
    }
    if (strcmp(what, "workspace") == 0)
        return import_workspace(x, file);
    return import_legacy(x, what, file);
}
