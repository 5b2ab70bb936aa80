/* api/native/interchange.c: GET /v1/export and POST /v1/import, GET /v1/import/{job}: a
 * workspace in JSON lines, CSV or SKOS (Turtle), out and in (docs/interchange.md).
 *
 * Export is a plain streamed body (api_stream_raw): each fill reads one page in a short read
 * transaction of its own, always as of the revision the export started at (or its as_of), from
 * the history tables (core/history.h). So an export holds one page in memory, never holds a
 * read transaction across pages (the writer and SQLite's checkpoints go on), and is consistent
 * at its revision whatever is written meanwhile.
 *
 * Import takes one chunk per request: the records of one POST are one write transaction, all
 * or nothing. A job (kept in memory, below) ties the chunks of one file together and counts
 * them: the client names the job and the chunk it sends, and after a failure sends the chunk
 * the job says is next. The body is parsed by the route's prepare step, off the writer thread;
 * the handler only applies records (core/interchange.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/native/native.h"
#include "core/interchange.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/secret.h"
#include "util/timeu.h"
#include "util/turtle.h"

#define EXPORT_PAGE 500       /* tags or resources per fill */
#define IMPORT_MAX_ROWS 10000 /* records in one chunk */

#define NS_TAGD "https://tagd.dev/ns/interchange#"
#define NS_DCT "http://purl.org/dc/terms/"

enum xfmt { XF_JSONL, XF_CSV, XF_SKOS };
static const char *const xfmt_names[] = {"jsonl", "csv", "skos"};
static const char *const xfmt_types[] = {"application/x-ndjson", "text/csv", "text/turtle"};

/* The CSV columns, in this order, in every CSV file tagd writes (docs/interchange.md). */
enum {
    C_TYPE, C_NAME, C_KIND, C_KEY, C_DISPLAY_NAME, C_DESCRIPTION, C_COLOR, C_L10N, C_GROUP,
    C_POSITION, C_EXCLUSIVE, C_PROTECTED, C_ARCHIVED, C_SOURCE, C_PARENT_KIND, C_PARENT_KEY,
    C_TAG, C_CONTEXT, C_DOCUMENT, C_ASSIGN_RESTRICTED, C_N
};
static const char *const csv_cols[C_N] = {
    "type",     "name",      "kind",     "key",    "display_name", "description", "color",
    "l10n",     "group",     "position", "exclusive", "protected", "archived",    "source",
    "parent_kind", "parent_key", "tag",  "context", "document", "assign_restricted"};

/* ---- import jobs ----
 *
 * A job is a row of the store (core/interchange.h, migration 18): each committed chunk counts
 * in its own transaction, and a refused chunk is recorded after its rollback (core_ctx's
 * after_undo), so the job says exactly which chunks are in, after a restart too. */

static const char *const job_states[] = {"running", "failed", "done"};

static void render_job(struct jw *w, const struct core_import_job *j)
{
    jw_obj(w);
    jw_kstr(w, "id", j->id);
    jw_kstr(w, "state", j->interrupted ? "failed" : job_states[j->state]);
    jw_kstr(w, "format", j->format);
    jw_kint(w, "chunks_done", j->chunks_done);
    jw_kint(w, "next_chunk", j->chunks_done);
    jw_kint(w, "rows", j->rows);
    jw_kint(w, "errors", j->failures);
    jw_key(w, "last_error");
    if (j->interrupted) {
        /* Cut by a restart: whatever chunk was in flight did not count. */
        jw_obj(w);
        jw_kstr(w, "code", "interrupted");
        jw_kint(w, "chunk", j->chunks_done);
        jw_key(w, "line");
        jw_null(w);
        jw_key(w, "field");
        jw_null(w);
        jw_kstr(w, "message", "the server restarted while the job ran: send its next_chunk");
        jw_obj_end(w);
    } else if (j->has_error) {
        jw_obj(w);
        jw_kstr(w, "code", j->err_code);
        jw_kint(w, "chunk", j->err_chunk);
        jw_key(w, "line");
        if (j->err_line > 0)
            jw_int(w, j->err_line);
        else
            jw_null(w);
        jw_kstr(w, "field", j->err_field[0] ? j->err_field : NULL);
        jw_kstr(w, "message", j->err_msg);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "revision");
    if (j->last_rev)
        jw_int(w, j->last_rev);
    else
        jw_null(w);
    api_kiso(w, "created_at", j->created_at);
    api_kiso(w, "updated_at", j->updated_at);
    jw_obj_end(w);
}

/* ---- export ---- */

/* JSON lines and CSV write the aliases after every tag (so that no alias of the file comes
 * before a tag of the file that bears its name or that it names, in any chunk the file is cut
 * into); SKOS writes them with their concept (skos:altLabel) and skips XP_ALIASES. */
enum xphase { XP_HEAD, XP_TAGS, XP_ALIASES, XP_RESOURCES, XP_END, XP_DONE };

struct xport {
    enum xfmt fmt;
    enum xphase phase;
    int64_t rev, at;
    int64_t org_id, ws_id;
    const char *base;       /* SKOS: the IRI everything is named under */
    const char *tag_cursor; /* r->a */
    const char *alias_cursor; /* r->a: the last alias key written; NULL before the first */
    int64_t res_after;
    int64_t ngroups;
    struct group *groups;   /* at rev, r->a: tags name theirs */
    int64_t ntags, naliases, nres, nassign;
    bool taxonomy_only;     /* include=taxonomy: groups, tags, aliases; no resources */
};

static const char *group_name(const struct xport *x, int64_t id)
{
    for (int64_t i = 0; i < x->ngroups; i++)
        if (x->groups[i].id == id)
            return x->groups[i].name;
    return NULL;
}

/* A CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or LF, or starts with a
 * character a spreadsheet would take for a formula. NULL is the empty cell. */
static void csv_cell(struct sbuf *b, const char *s, bool first)
{
    if (!first)
        sbuf_addc(b, ',');
    if (s == NULL || !*s)
        return;
    if (strpbrk(s, ",\"\r\n") || strchr("=+-@", *s)) {
        sbuf_addc(b, '"');
        for (const char *p = s; *p; p++) {
            if (*p == '"')
                sbuf_addc(b, '"');
            sbuf_addc(b, *p);
        }
        sbuf_addc(b, '"');
    } else {
        sbuf_adds(b, s);
    }
}

static void csv_row(struct sbuf *b, const char *const cells[C_N])
{
    for (int i = 0; i < C_N; i++)
        csv_cell(b, cells[i], i == 0);
    sbuf_adds(b, "\r\n");
}

/* A Turtle string literal, escaped. */
static void ttl_str(struct sbuf *b, const char *s)
{
    sbuf_addc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sbuf_adds(b, "\\\""); break;
        case '\\': sbuf_adds(b, "\\\\"); break;
        case '\n': sbuf_adds(b, "\\n"); break;
        case '\r': sbuf_adds(b, "\\r"); break;
        case '\t': sbuf_adds(b, "\\t"); break;
        default:
            if (*p < 0x20)
                sbuf_printf(b, "\\u%04X", *p);
            else
                sbuf_addc(b, (char)*p);
        }
    }
    sbuf_addc(b, '"');
}

/* An IRI in <...>: base + kind + the percent-encoded parts (every byte but unreserved ones, so
 * that any name or key makes a valid IRI that reads back to the same bytes). */
static void ttl_iri(struct sbuf *b, const char *base, const char *kind, const char *a,
                    const char *c)
{
    const char *parts[2] = {a, c};

    sbuf_addc(b, '<');
    sbuf_adds(b, base);
    sbuf_adds(b, kind);
    for (int k = 0; k < 2 && parts[k]; k++) {
        if (k)
            sbuf_addc(b, '/');
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
                sbuf_addc(b, (char)*p);
            else
                sbuf_printf(b, "%%%02X", *p);
        }
    }
    sbuf_addc(b, '>');
}

/* A language tag Turtle accepts ([a-zA-Z]+ ('-' [a-zA-Z0-9]+)*). */
static bool lang_ok(const char *s)
{
    size_t i = 0;
    if (!*s)
        return false;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))
        i++;
    if (i == 0)
        return false;
    while (s[i] == '-') {
        size_t j = ++i;
        while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
               (s[i] >= '0' && s[i] <= '9'))
            i++;
        if (i == j)
            return false;
    }
    return s[i] == '\0';
}

static void ttl_l10n(struct sbuf *b, const char *l10n)
{
    json_t *o;
    const char *k;
    json_t *v;

    if (l10n == NULL)
        return;
    o = json_loads(l10n, 0, NULL);
    if (o == NULL)
        return;
    json_object_foreach(o, k, v)
    {
        if (!json_is_string(v) || !lang_ok(k))
            continue;
        sbuf_adds(b, " ;\n    skos:prefLabel ");
        ttl_str(b, json_string_value(v));
        sbuf_printf(b, "@%s", k);
    }
    json_decref(o);
}

static void out_head(struct hreq *r, struct xport *x, struct sbuf *out)
{
    struct jw w;

    switch (x->fmt) {
    case XF_JSONL:
        jw_init(&w, out);
        jw_obj(&w);
        jw_kstr(&w, "type", "tagd");
        jw_kint(&w, "version", 1);
        jw_kint(&w, "revision", x->rev);
        api_kiso(&w, "at", x->at);
        jw_kint(&w, "workspace", x->ws_id);
        jw_obj_end(&w);
        sbuf_addc(out, '\n');
        break;
    case XF_CSV:
        for (int i = 0; i < C_N; i++)
            csv_cell(out, csv_cols[i], i == 0);
        sbuf_adds(out, "\r\n");
        break;
    case XF_SKOS:
        sbuf_printf(out,
                    "# tagd workspace %lld at revision %lld (%s)\n"
                    "@prefix skos: <" TTL_SKOS "> .\n"
                    "@prefix tagd: <" NS_TAGD "> .\n"
                    "@prefix dct: <" NS_DCT "> .\n"
                    "@prefix xsd: <" TTL_XSD "> .\n\n",
                    (long long)x->ws_id, (long long)x->rev, api_iso(r, x->at));
        sbuf_printf(out, "<%s> a skos:ConceptScheme ;\n    skos:prefLabel ", x->base);
        ttl_str(out, arena_printf(&r->a, "tagd workspace %lld", (long long)x->ws_id));
        sbuf_printf(out, " ;\n    tagd:revision %lld .\n\n", (long long)x->rev);
        break;
    default:
        TG_BUG("unknown interchange format");
    }
}

static void out_group(struct xport *x, const struct group *g, struct sbuf *out)
{
    struct jw w;
    const char *cells[C_N] = {0};
    char pos[24];

    switch (x->fmt) {
    case XF_JSONL:
        jw_init(&w, out);
        jw_obj(&w);
        jw_kstr(&w, "type", "group");
        jw_kstr(&w, "name", g->name);
        jw_key(&w, "l10n");
        if (g->l10n)
            jw_raw(&w, g->l10n);
        else
            jw_null(&w);
        jw_kbool(&w, "exclusive", g->exclusive);
        jw_kint(&w, "position", g->position);
        /* Only when set, so that files of groups without one read as they did. */
        if (g->conflict != CONFLICT_UNION)
            jw_kstr(&w, "conflict", group_conflict_name(g->conflict));
        jw_obj_end(&w);
        sbuf_addc(out, '\n');
        break;
    case XF_CSV:
        snprintf(pos, sizeof(pos), "%lld", (long long)g->position);
        cells[C_TYPE] = "group";
        cells[C_NAME] = g->name;
        cells[C_L10N] = g->l10n;
        cells[C_EXCLUSIVE] = g->exclusive ? "true" : "false";
        cells[C_POSITION] = pos;
        csv_row(out, cells);
        break;
    case XF_SKOS:
        ttl_iri(out, x->base, "group/", g->name, NULL);
        sbuf_adds(out, " a skos:Collection ;\n    tagd:name ");
        ttl_str(out, g->name);
        sbuf_adds(out, " ;\n    skos:prefLabel ");
        ttl_str(out, g->name);
        ttl_l10n(out, g->l10n);
        sbuf_printf(out, " ;\n    tagd:exclusive %s ;\n    tagd:position %lld",
                    g->exclusive ? "true" : "false", (long long)g->position);
        if (g->conflict != CONFLICT_UNION)
            sbuf_printf(out, " ;\n    tagd:conflict \"%s\"", group_conflict_name(g->conflict));
        sbuf_adds(out, " .\n\n");
        break;
    default:
        TG_BUG("unknown interchange format");
    }
}

/* `alt`: the tag's aliases at the export's revision (n of them; SKOS only). */
static void out_tag(struct arena *a, struct xport *x, const struct tag *t, const char **alt,
                    size_t nalt, struct sbuf *out)
{
    struct jw w;
    const char *cells[C_N] = {0};
    const char *gname = t->group_id ? group_name(x, t->group_id) : NULL;
    const char *dot;
    char pos[24];

    switch (x->fmt) {
    case XF_JSONL:
        jw_init(&w, out);
        jw_obj(&w);
        jw_kstr(&w, "type", "tag");
        jw_kstr(&w, "name", t->name);
        jw_kstr(&w, "display_name", t->display_name);
        jw_key(&w, "l10n");
        if (t->l10n)
            jw_raw(&w, t->l10n);
        else
            jw_null(&w);
        jw_kstr(&w, "color", t->color);
        jw_kstr(&w, "description", t->description);
        jw_kstr(&w, "source", t->source);
        jw_kbool(&w, "protected", t->protected_);
        jw_kbool(&w, "archived", t->archived);
        jw_kstr(&w, "group", gname);
        jw_kint(&w, "position", t->position);
        /* Only where set: the lines of a workspace without restrictions stay as they were. */
        if (t->assign_restricted)
            jw_kbool(&w, "assign_restricted", true);
        jw_obj_end(&w);
        sbuf_addc(out, '\n');
        break;
    case XF_CSV:
        snprintf(pos, sizeof(pos), "%lld", (long long)t->position);
        cells[C_ASSIGN_RESTRICTED] = t->assign_restricted ? "true" : "false";
        cells[C_TYPE] = "tag";
        cells[C_NAME] = t->name;
        cells[C_DISPLAY_NAME] = t->display_name;
        cells[C_L10N] = t->l10n;
        cells[C_COLOR] = t->color;
        cells[C_DESCRIPTION] = t->description;
        cells[C_SOURCE] = t->source;
        cells[C_PROTECTED] = t->protected_ ? "true" : "false";
        cells[C_ARCHIVED] = t->archived ? "true" : "false";
        cells[C_GROUP] = gname;
        cells[C_POSITION] = pos;
        csv_row(out, cells);
        break;
    case XF_SKOS:
        ttl_iri(out, x->base, "tag/", t->name, NULL);
        sbuf_printf(out, " a skos:Concept ;\n    skos:inScheme <%s> ;\n    tagd:name ", x->base);
        ttl_str(out, t->name);
        sbuf_adds(out, " ;\n    skos:prefLabel ");
        ttl_str(out, t->display_name ? t->display_name : native_last_segment(t->name));
        ttl_l10n(out, t->l10n);
        dot = strrchr(t->name, '.');
        if (dot) {
            sbuf_adds(out, " ;\n    skos:broader ");
            ttl_iri(out, x->base, "tag/", arena_strndup(a, t->name, (size_t)(dot - t->name)),
                    NULL);
        } else {
            sbuf_printf(out, " ;\n    skos:topConceptOf <%s>", x->base);
        }
        if (t->description) {
            sbuf_adds(out, " ;\n    skos:definition ");
            ttl_str(out, t->description);
        }
        /* Its old names: SKOS's other labels of a concept. The full name, as tagd:name. */
        for (size_t i = 0; i < nalt; i++) {
            sbuf_adds(out, " ;\n    skos:altLabel ");
            ttl_str(out, alt[i]);
        }
        if (t->color) {
            sbuf_adds(out, " ;\n    tagd:color ");
            ttl_str(out, t->color);
        }
        if (t->source) {
            sbuf_adds(out, " ;\n    tagd:source ");
            ttl_str(out, t->source);
        }
        if (gname) {
            sbuf_adds(out, " ;\n    tagd:group ");
            ttl_iri(out, x->base, "group/", gname, NULL);
        }
        if (t->assign_restricted)
            sbuf_adds(out, " ;\n    tagd:assignRestricted true");
        sbuf_printf(out, " ;\n    tagd:protected %s ;\n    tagd:archived %s ;\n"
                         "    tagd:position %lld .\n\n",
                    t->protected_ ? "true" : "false", t->archived ? "true" : "false",
                    (long long)t->position);
        if (gname) {
            /* The group's side too, as SKOS readers look for it. */
            ttl_iri(out, x->base, "group/", gname, NULL);
            sbuf_adds(out, " skos:member ");
            ttl_iri(out, x->base, "tag/", t->name, NULL);
            sbuf_adds(out, " .\n\n");
        }
        break;
    default:
        TG_BUG("unknown interchange format");
    }
}

/* An alias record (JSON lines and CSV): the alias and the tag it named at the revision. */
static void out_alias(struct xport *x, const struct xchg_alias *al, struct sbuf *out)
{
    struct jw w;
    const char *cells[C_N] = {0};

    switch (x->fmt) {
    case XF_JSONL:
        jw_init(&w, out);
        jw_obj(&w);
        jw_kstr(&w, "type", "alias");
        jw_kstr(&w, "name", al->name);
        jw_kstr(&w, "tag", al->tag);
        jw_obj_end(&w);
        sbuf_addc(out, '\n');
        break;
    case XF_CSV:
        cells[C_TYPE] = "alias";
        cells[C_NAME] = al->name;
        cells[C_TAG] = al->tag;
        csv_row(out, cells);
        break;
    default:
        TG_BUG("SKOS writes aliases as skos:altLabel of their concept");
    }
}

/* A resource and its direct tags (as of the export's revision). */
static void out_resource(struct xport *x, const struct resource *res,
                         const struct xchg_assign *as, size_t n, struct sbuf *out)
{
    struct jw w;
    const char *cells[C_N] = {0};

    switch (x->fmt) {
    case XF_JSONL:
        jw_init(&w, out);
        jw_obj(&w);
        jw_kstr(&w, "type", "resource");
        jw_kstr(&w, "kind", res->kind);
        jw_kstr(&w, "key", res->key);
        jw_kstr(&w, "name", res->name);
        jw_key(&w, "parent");
        if (res->parent_id && res->parent_kind) {
            jw_obj(&w);
            jw_kstr(&w, "kind", res->parent_kind);
            jw_kstr(&w, "key", res->parent_key);
            jw_obj_end(&w);
        } else {
            jw_null(&w);
        }
        jw_kbool(&w, "archived", res->archived);
        if (res->extra) {
            jw_key(&w, "document");
            jw_raw(&w, res->extra);
        }
        jw_obj_end(&w);
        sbuf_addc(out, '\n');
        for (size_t i = 0; i < n; i++) {
            jw_init(&w, out);
            jw_obj(&w);
            jw_kstr(&w, "type", "assignment");
            jw_kstr(&w, "kind", res->kind);
            jw_kstr(&w, "key", res->key);
            jw_kstr(&w, "tag", as[i].tag);
            jw_kstr(&w, "context", as[i].context);
            jw_obj_end(&w);
            sbuf_addc(out, '\n');
        }
        break;
    case XF_CSV:
        cells[C_TYPE] = "resource";
        cells[C_KIND] = res->kind;
        cells[C_KEY] = res->key;
        cells[C_NAME] = res->name;
        if (res->parent_id && res->parent_kind) {
            cells[C_PARENT_KIND] = res->parent_kind;
            cells[C_PARENT_KEY] = res->parent_key;
        }
        cells[C_ARCHIVED] = res->archived ? "true" : "false";
        cells[C_DOCUMENT] = res->extra;
        csv_row(out, cells);
        for (size_t i = 0; i < n; i++) {
            const char *ac[C_N] = {0};
            ac[C_TYPE] = "assignment";
            ac[C_KIND] = res->kind;
            ac[C_KEY] = res->key;
            ac[C_TAG] = as[i].tag;
            ac[C_CONTEXT] = as[i].context;
            csv_row(out, ac);
        }
        break;
    case XF_SKOS:
        ttl_iri(out, x->base, "resource/", res->kind, res->key);
        sbuf_adds(out, " a tagd:Resource ;\n    tagd:kind ");
        ttl_str(out, res->kind);
        sbuf_adds(out, " ;\n    tagd:key ");
        ttl_str(out, res->key);
        if (res->name) {
            sbuf_adds(out, " ;\n    tagd:name ");
            ttl_str(out, res->name);
        }
        if (res->parent_id && res->parent_kind) {
            sbuf_adds(out, " ;\n    tagd:parent ");
            ttl_iri(out, x->base, "resource/", res->parent_kind, res->parent_key);
        }
        if (res->extra) {
            sbuf_adds(out, " ;\n    tagd:document ");
            ttl_str(out, res->extra);
        }
        for (size_t i = 0; i < n; i++) {
            /* dct:subject: what the resource is about, the usual link from a thing to a
             * concept. A context has no place in it: SKOS exports drop contexts. */
            sbuf_adds(out, i ? ",\n        " : " ;\n    dct:subject ");
            ttl_iri(out, x->base, "tag/", as[i].tag, NULL);
        }
        sbuf_printf(out, " ;\n    tagd:archived %s .\n\n", res->archived ? "true" : "false");
        break;
    default:
        TG_BUG("unknown interchange format");
    }
}

static void out_end(struct xport *x, struct sbuf *out)
{
    if (x->fmt == XF_JSONL)
        sbuf_printf(out,
                    "{\"type\":\"end\",\"revision\":%lld,\"groups\":%lld,\"tags\":%lld,"
                    "\"aliases\":%lld,\"resources\":%lld,\"assignments\":%lld}\n",
                    (long long)x->rev, (long long)x->ngroups, (long long)x->ntags,
                    (long long)x->naliases, (long long)x->nres, (long long)x->nassign);
    else if (x->fmt == XF_SKOS)
        sbuf_printf(out, "# end: %lld groups, %lld tags, %lld resources, %lld assignments\n",
                    (long long)x->ngroups, (long long)x->ntags, (long long)x->nres,
                    (long long)x->nassign);
    /* CSV has no trailer: a row of its own would be a record other tools had to skip. */
}

/* A line that says the export broke off: JSON lines and Turtle readers fail on it or see it;
 * a truncated file is never taken for a whole one (JSON lines also miss their "end"). */
static void out_broken(struct xport *x, struct sbuf *out, const char *why)
{
    if (x->fmt == XF_JSONL)
        sbuf_printf(out, "{\"type\":\"error\",\"message\":\"export broke off: %s\"}\n", why);
    else if (x->fmt == XF_SKOS)
        sbuf_printf(out, "# export broke off: %s\n<", why); /* '<' makes the file invalid */
    else
        sbuf_printf(out, "error,export broke off: %s\r\n", why);
}

/* The stream's fill: one page of what comes next, as of x->rev. */
static enum api_stream_state export_fill(struct hreq *r, struct core_ctx *cx, bool ending,
                                         struct sbuf *out)
{
    struct xport *x = r->stream_arg;
    struct tg_err err;
    int rc;

    if (ending) {
        out_broken(x, out, r->stream_why ? r->stream_why : "shutdown");
        return API_STREAM_END;
    }
    /* The token again at every page, as the event stream does: a revoked token ends it. */
    tg_err_clear(&err);
    if (core_auth_token(cx, api_bearer(r), &err) || core_require(cx, RIGHT_READ, &err) ||
        cx->org_id != x->org_id) {
        out_broken(x, out, "unauthorized");
        return API_STREAM_END;
    }
    cx->ws_id = x->ws_id;
    switch (x->phase) {
    case XP_HEAD: {
        struct group *gs;
        size_t n;
        rc = core_asof_group_list(cx, x->rev, &gs, &n, &err);
        if (rc)
            goto broken;
        /* Kept for the whole export: tags name their group. */
        x->groups = arena_alloc(&r->a, (n ? n : 1) * sizeof(*gs));
        for (size_t i = 0; i < n; i++) {
            x->groups[i] = gs[i];
            x->groups[i].name = arena_strdup(&r->a, gs[i].name);
        }
        x->ngroups = (int64_t)n;
        out_head(r, x, out);
        for (size_t i = 0; i < n; i++)
            out_group(x, &gs[i], out);
        x->phase = XP_TAGS;
        return API_STREAM_MORE;
    }
    case XP_TAGS: {
        struct tag_filter f;
        struct tag *ts;
        size_t n;
        const char *next;
        int64_t total;
        memset(&f, 0, sizeof(f));
        f.archived = 1;
        f.limit = EXPORT_PAGE;
        f.cursor = x->tag_cursor;
        rc = core_asof_tag_list(cx, x->rev, &f, &ts, &n, &next, &total, &err);
        if (rc)
            goto broken;
        for (size_t i = 0; i < n; i++) {
            const char **alt = NULL;
            size_t nalt = 0;
            if (x->fmt == XF_SKOS) {
                rc = core_export_aliases(cx, x->rev, ts[i].id, &alt, &nalt, &err);
                if (rc)
                    goto broken;
            }
            out_tag(cx->a, x, &ts[i], alt, nalt, out);
        }
        x->ntags += (int64_t)n;
        x->tag_cursor = next ? arena_strdup(&r->a, next) : NULL;
        if (next == NULL)
            x->phase = x->fmt != XF_SKOS ? XP_ALIASES : x->taxonomy_only ? XP_END : XP_RESOURCES;
        return API_STREAM_MORE;
    }
    case XP_ALIASES: {
        struct xchg_alias *al;
        size_t n;
        rc = core_export_alias_page(cx, x->rev, x->alias_cursor ? x->alias_cursor : "",
                                    EXPORT_PAGE, &al, &n, &err);
        if (rc)
            goto broken;
        for (size_t i = 0; i < n; i++)
            out_alias(x, &al[i], out);
        x->naliases += (int64_t)n;
        if (n)
            x->alias_cursor = arena_strdup(&r->a, al[n - 1].name_key);
        if (n < EXPORT_PAGE)
            x->phase = x->taxonomy_only ? XP_END : XP_RESOURCES;
        return API_STREAM_MORE;
    }
    case XP_RESOURCES: {
        struct resource_filter f;
        struct resource *rs;
        size_t n;
        bool more;
        memset(&f, 0, sizeof(f));
        f.archived = 1;
        f.after_id = x->res_after;
        f.limit = EXPORT_PAGE;
        rc = core_asof_resource_list(cx, x->rev, &f, &rs, &n, &more, &err);
        if (rc)
            goto broken;
        if (n) {
            /* The page's assignments in one statement, matched to its resources in order. */
            struct xchg_assign *as;
            size_t na, k = 0;
            rc = core_export_assignments(cx, x->rev, rs[0].id, rs[n - 1].id, &as, &na, &err);
            if (rc)
                goto broken;
            for (size_t i = 0; i < n; i++) {
                size_t first;
                /* Ids are global: rows of another workspace's resources in the range are
                 * skipped here. */
                while (k < na && as[k].resource_id < rs[i].id)
                    k++;
                first = k;
                while (k < na && as[k].resource_id == rs[i].id)
                    k++;
                out_resource(x, &rs[i], as + first, k - first, out);
                x->nassign += (int64_t)(k - first);
            }
            x->res_after = rs[n - 1].id;
        }
        x->nres += (int64_t)n;
        if (!more)
            x->phase = XP_END;
        return API_STREAM_MORE;
    }
    case XP_END:
        out_end(x, out);
        x->phase = XP_DONE;
        return API_STREAM_END;
    case XP_DONE:
    default:
        TG_BUG("export filled after its end");
    }
broken:
    out_broken(x, out, tg_code_slug(rc));
    return API_STREAM_END;
}

static int parse_fmt(const char *s, enum xfmt *f)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, xfmt_names[i]) == 0) {
            *f = (enum xfmt)i;
            return 0;
        }
    return -1;
}

/* The base IRI of a SKOS export: absolute, and nothing that would end an IRI early. */
static bool base_ok(const char *s)
{
    if (strchr(s, ':') == NULL || strlen(s) > 512)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || strchr("<>\"{}|^`\\", *p))
            return false;
    return true;
}

enum api_result native_export(struct hreq *r, struct core_ctx *cx)
{
    struct native_asof asof;
    struct xport *x;
    const char *fmt = api_query(r, "format"), *inc;

    if (api_native_auth(r, cx, RIGHT_READ))
        return API_ROLLBACK;
    if (cx->who.resource_id)
        return api_failf(r, TG_EFORBIDDEN, "Authorization",
                         "a token scoped to a subtree cannot export the workspace");
    x = arena_zalloc(&r->a, sizeof(*x));
    if (fmt == NULL)
        fmt = "jsonl";
    if (parse_fmt(fmt, &x->fmt))
        return api_failf(r, TG_EINVAL, "format", "format is jsonl, csv or skos, not '%s'", fmt);
    if (native_as_of(r, cx, &asof))
        return API_ROLLBACK;
    if (asof.set) {
        x->rev = asof.rev;
        x->at = asof.at;
    } else {
        /* The newest revision this read sees: every page is read as of it. */
        x->rev = core_current_rev(cx);
        x->at = time_now_ms();
        if (x->rev == 0)
            return api_failf(r, TG_EBUSY, "revision", "the store has no revision yet");
    }
    x->org_id = cx->org_id;
    x->ws_id = cx->ws_id;
    x->base = api_query(r, "base");
    if (x->base == NULL)
        x->base = arena_printf(&r->a, "urn:x-tagd:ws:%lld/", (long long)cx->ws_id);
    else if (!base_ok(x->base))
        return api_failf(r, TG_EINVAL, "base", "base must be an absolute IRI");
    inc = api_query(r, "include");
    if (inc && strcmp(inc, "taxonomy") == 0)
        x->taxonomy_only = true;
    else if (inc && strcmp(inc, "all") != 0)
        return api_failf(r, TG_EINVAL, "include", "include is all or taxonomy, not '%s'", inc);
    /* api_stream_raw starts the answer afresh: the headers come after it. */
    api_stream_raw(r, x->fmt == XF_JSONL ? "application/x-ndjson"
                      : x->fmt == XF_CSV ? "text/csv; charset=utf-8"
                                         : "text/turtle; charset=utf-8",
                   export_fill, x);
    r->revision = x->rev;
    if (asof.set)
        api_set_header(r, "X-Tagd-As-Of", arena_printf(&r->a, "%lld", (long long)asof.rev));
    api_set_header(r, "Content-Disposition",
                   arena_printf(&r->a, "attachment; filename=\"tagd-ws%lld-r%lld.%s\"",
                                (long long)x->ws_id, (long long)x->rev,
                                x->fmt == XF_SKOS ? "ttl" : xfmt_names[x->fmt]));
    return API_ANSWER;
}

/* ---- import: records ---- */

enum xtype { XT_GROUP, XT_TAG, XT_RESOURCE, XT_ASSIGN, XT_ALIAS };

/* One record of an import, parsed; strings in the request's arena. */
struct xrec {
    enum xtype type;
    int line;                /* where it starts in the chunk (1-based); 0: no line (Turtle) */
    struct group_input g;    /* XT_GROUP */
    struct tag_input t;      /* XT_TAG */
    const char *group;       /* XT_TAG: its group's name, with has_group */
    bool has_group;
    const char *kind, *key;  /* XT_RESOURCE, XT_ASSIGN */
    struct resource_input res;
    const char *tag;         /* XT_ASSIGN; XT_ALIAS: the tag the alias names */
    const char *alias;       /* XT_ALIAS: its name, or Turtle's skos:altLabel */
    const char *context;
    const char **tags;       /* XT_RESOURCE with has_tags: exactly its direct tags */
    size_t ntags;
    bool has_tags;
};

/* What the prepare step hands the handler: the chunk parsed, or why it could not be. */
struct ximport {
    enum xfmt fmt;
    struct xrec *recs;
    size_t n, cap;
    int rc;            /* 0, or the parse failure (err, line) */
    struct tg_err err;
    int line;
    bool authed;
};

static struct xrec *rec_new(struct hreq *r, struct ximport *im, enum xtype type, int line)
{
    struct xrec *x;

    if (im->n == im->cap) {
        size_t cap = im->cap ? im->cap * 2 : 64;
        struct xrec *n = arena_alloc(&r->a, cap * sizeof(*n));
        if (im->n)
            memcpy(n, im->recs, im->n * sizeof(*n));
        im->recs = n;
        im->cap = cap;
    }
    x = &im->recs[im->n++];
    memset(x, 0, sizeof(*x));
    x->type = type;
    x->line = line;
    return x;
}

static int too_many(struct ximport *im, int line)
{
    im->line = line;
    return tg_err_set(&im->err, TG_ELIMIT, "body",
                      "a chunk holds at most %d records: send the rest as the next chunk",
                      IMPORT_MAX_ROWS);
}

/* ---- import: JSON lines ---- */

static const char *const jl_group[] = {"type",     "name",     "l10n", "exclusive",
                                      "position", "conflict", NULL};
static const char *const jl_tag[] = {"type",   "name",      "display_name", "l10n",
                                     "color",  "description", "source",     "protected",
                                     "archived", "group",   "position",     "assign_restricted",
                                     NULL};
static const char *const jl_res[] = {"type", "kind", "key", "name", "parent", "archived",
                                     "document", "tags", NULL};
static const char *const jl_assign[] = {"type", "kind", "key", "tag", "context", NULL};
static const char *const jl_alias[] = {"type", "name", "tag", NULL};

static int jl_only(json_t *o, const char *const *allowed, struct tg_err *err)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok)
            return tg_err_set(err, TG_EINVAL, k, "unknown field '%s'", k);
    }
    return 0;
}

/* An optional JSON object member that must be an object (or null), as text in the arena. */
static int jl_object(struct hreq *r, json_t *o, const char *k, const char **out, bool *has,
                     struct tg_err *err)
{
    json_t *v = json_object_get(o, k);

    *out = NULL;
    if (has)
        *has = v != NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return tg_err_set(err, TG_EINVAL, k, "'%s' must be an object", k);
    *out = json_to_arena(&r->a, v);
    return 0;
}

static int jl_str(struct hreq *r, json_t *o, const char *k, bool required, const char **out,
                  struct tg_err *err)
{
    json_t *v = json_object_get(o, k);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required)
            return tg_err_set(err, TG_EINVAL, k, "'%s' is required", k);
        return 0;
    }
    if (!json_is_string(v))
        return tg_err_set(err, TG_EINVAL, k, "'%s' must be a string", k);
    *out = arena_strdup(&r->a, json_string_value(v));
    return 0;
}

static int jl_record(struct hreq *r, struct ximport *im, json_t *o, int line)
{
    struct tg_err *err = &im->err;
    const char *type;
    struct xrec *x;
    json_t *v;

    if (!json_is_object(o))
        return tg_err_set(err, TG_EINVAL, "type", "a line must be a JSON object");
    if (jl_str(r, o, "type", true, &type, err))
        return TG_EINVAL;
    if (strcmp(type, "tagd") == 0 || strcmp(type, "end") == 0)
        return 0; /* the header and the trailer say what the file is; nothing to write */
    if (im->n >= IMPORT_MAX_ROWS)
        return too_many(im, line);
    if (strcmp(type, "group") == 0) {
        x = rec_new(r, im, XT_GROUP, line);
        if (jl_only(o, jl_group, err) || jl_str(r, o, "name", true, &x->g.name, err) ||
            jl_object(r, o, "l10n", &x->g.l10n, &x->g.has_l10n, err) ||
            json_get_bool(o, "exclusive", &x->g.exclusive, &x->g.has_exclusive, err) ||
            json_get_int(o, "position", &x->g.position, &x->g.has_position, err) ||
            jl_str(r, o, "conflict", false, &x->g.conflict, err))
            return TG_EINVAL;
        x->g.has_conflict = x->g.conflict != NULL;
        return 0;
    }
    if (strcmp(type, "tag") == 0) {
        x = rec_new(r, im, XT_TAG, line);
        if (jl_only(o, jl_tag, err) || jl_str(r, o, "name", true, &x->t.name, err) ||
            json_get_str_or_null(o, "display_name", &x->t.display_name,
                                 &x->t.has_display_name, err) ||
            jl_object(r, o, "l10n", &x->t.l10n, &x->t.has_l10n, err) ||
            json_get_str_or_null(o, "color", &x->t.color, &x->t.has_color, err) ||
            json_get_str_or_null(o, "description", &x->t.description, &x->t.has_description,
                                 err) ||
            json_get_str_or_null(o, "source", &x->t.source, &x->t.has_source, err) ||
            json_get_bool(o, "protected", &x->t.protected_, &x->t.has_protected, err) ||
            json_get_bool(o, "archived", &x->t.archived, &x->t.has_archived, err) ||
            json_get_bool(o, "assign_restricted", &x->t.assign_restricted,
                          &x->t.has_assign_restricted, err) ||
            json_get_int(o, "position", &x->t.position, &x->t.has_position, err) ||
            json_get_str_or_null(o, "group", &x->group, &x->has_group, err))
            return TG_EINVAL;
        /* json_get_* borrow from the JSON value, which goes at the end of the line. */
        x->t.name = arena_strdup(&r->a, x->t.name);
        x->t.display_name = x->t.display_name ? arena_strdup(&r->a, x->t.display_name) : NULL;
        x->t.color = x->t.color ? arena_strdup(&r->a, x->t.color) : NULL;
        x->t.description = x->t.description ? arena_strdup(&r->a, x->t.description) : NULL;
        x->t.source = x->t.source ? arena_strdup(&r->a, x->t.source) : NULL;
        x->group = x->group ? arena_strdup(&r->a, x->group) : NULL;
        return 0;
    }
    if (strcmp(type, "resource") == 0) {
        const char *pk = NULL, *pkey = NULL;
        x = rec_new(r, im, XT_RESOURCE, line);
        if (jl_only(o, jl_res, err) || jl_str(r, o, "kind", true, &x->kind, err) ||
            jl_str(r, o, "key", true, &x->key, err) ||
            jl_str(r, o, "name", false, &x->res.name, err) ||
            json_get_bool(o, "archived", &x->res.archived, &x->res.has_archived, err) ||
            jl_object(r, o, "document", &x->res.extra, &x->res.has_extra, err))
            return TG_EINVAL;
        x->res.has_name = json_object_get(o, "name") != NULL;
        v = json_object_get(o, "parent");
        if (v) {
            x->res.has_parent = true;
            if (json_is_object(v)) {
                if (jl_str(r, v, "kind", true, &pk, err) || jl_str(r, v, "key", true, &pkey, err))
                    return tg_err_prefix(err, TG_EINVAL, "parent", "parent: ");
            } else if (!json_is_null(v)) {
                return tg_err_set(err, TG_EINVAL, "parent",
                                  "'parent' must be {\"kind\", \"key\"} or null");
            }
            x->res.parent_kind = pk;
            x->res.parent_key = pkey;
        }
        v = json_object_get(o, "tags");
        if (v) {
            /* Not written by export: the resource's direct tags made exactly these, for a
             * client that keeps tagd in step with another tool (tagctl import resources). */
            size_t i;
            json_t *t;
            if (!json_is_array(v) || json_array_size(v) > (size_t)IMPORT_MAX_ROWS)
                return tg_err_set(err, TG_EINVAL, "tags", "'tags' must be a list of tag names");
            x->has_tags = true;
            x->ntags = json_array_size(v);
            x->tags = arena_alloc(&r->a, (x->ntags ? x->ntags : 1) * sizeof(*x->tags));
            json_array_foreach(v, i, t) {
                if (!json_is_string(t))
                    return tg_err_set(err, TG_EINVAL, "tags", "'tags' must be a list of tag names");
                x->tags[i] = arena_strdup(&r->a, json_string_value(t));
            }
        }
        return 0;
    }
    if (strcmp(type, "assignment") == 0) {
        x = rec_new(r, im, XT_ASSIGN, line);
        if (jl_only(o, jl_assign, err) || jl_str(r, o, "kind", true, &x->kind, err) ||
            jl_str(r, o, "key", true, &x->key, err) || jl_str(r, o, "tag", true, &x->tag, err) ||
            jl_str(r, o, "context", false, &x->context, err))
            return TG_EINVAL;
        return 0;
    }
    if (strcmp(type, "alias") == 0) {
        x = rec_new(r, im, XT_ALIAS, line);
        if (jl_only(o, jl_alias, err) || jl_str(r, o, "name", true, &x->alias, err) ||
            jl_str(r, o, "tag", true, &x->tag, err))
            return TG_EINVAL;
        return 0;
    }
    return tg_err_set(err, TG_EINVAL, "type",
                      "type is group, tag, alias, resource or assignment, not '%s'", type);
}

/* A string of the fast path below at *pp (just past its opening quote): printable ASCII
 * without escapes. Its text in [*s, *s + *n); *pp past the closing quote. */
static bool jl_fast_str(const char **pp, const char *end, const char **s, size_t *n)
{
    const char *p = *pp;

    *s = p;
    while (p < end && *p != '"') {
        if (*p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x80)
            return false;
        p++;
    }
    if (p == end)
        return false;
    *n = (size_t)(p - *s);
    *pp = p + 1;
    return true;
}

/* An assignment line as export writes it, {"type":"assignment","kind":..,"key":..,"tag":..,
 * "context":..}, parsed without jansson: the bulk of an import's lines, and jansson's object
 * (a hashtable and an allocation per member) was most of the parse. Only what the general
 * path would take the same way: members of the assignment record each once, strings of
 * printable ASCII without escapes (so nothing to decode or check as UTF-8), context a string
 * or null, the chunk not full. False for anything else, and nothing kept: the line then goes
 * through jansson and jl_record, which take it or name what is wrong. */
static bool jl_fast_assign(struct hreq *r, struct ximport *im, const char *p, size_t len,
                           int line)
{
    static const char *const keys[] = {"type", "kind", "key", "tag", "context"};
    const char *end = p + len, *v[5] = {0};
    size_t vn[5] = {0};
    bool seen[5] = {0}, isnull[5] = {0};
    struct xrec *x;

    if (im->n >= IMPORT_MAX_ROWS)
        return false;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p++ != '{')
        return false;
    for (;;) {
        const char *k;
        size_t kn;
        int i;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end || *p++ != '"' || !jl_fast_str(&p, end, &k, &kn))
            return false;
        for (i = 0; i < 5; i++)
            if (strlen(keys[i]) == kn && memcmp(keys[i], k, kn) == 0)
                break;
        if (i == 5 || seen[i])
            return false;
        seen[i] = true;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end || *p++ != ':')
            return false;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p == '"') {
            p++;
            if (!jl_fast_str(&p, end, &v[i], &vn[i]))
                return false;
        } else if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            isnull[i] = true;
            p += 4;
        } else {
            return false;
        }
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}') {
            p++;
            break;
        }
        return false;
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p != end)
        return false;
    /* type "assignment"; kind, key and tag given as strings; context a string, null or
     * absent. */
    if (!seen[0] || isnull[0] || vn[0] != 10 || memcmp(v[0], "assignment", 10) != 0)
        return false;
    for (int i = 1; i < 4; i++)
        if (!seen[i] || isnull[i])
            return false;
    x = rec_new(r, im, XT_ASSIGN, line);
    x->kind = arena_strndup(&r->a, v[1], vn[1]);
    x->key = arena_strndup(&r->a, v[2], vn[2]);
    x->tag = arena_strndup(&r->a, v[3], vn[3]);
    x->context = seen[4] && !isnull[4] ? arena_strndup(&r->a, v[4], vn[4]) : NULL;
    return true;
}

static void parse_jsonl(struct hreq *r, struct ximport *im)
{
    const char *p = r->body ? r->body : "", *end = p + r->body_len;
    int line = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t len = (size_t)(e - p);
        json_t *o;
        int rc;

        line++;
        if (len && p[len - 1] == '\r')
            len--;
        if (len == 0 || strspn(p, " \t") >= len) {
            p = nl ? nl + 1 : end;
            continue;
        }
        if (jl_fast_assign(r, im, p, len, line)) {
            p = nl ? nl + 1 : end;
            continue;
        }
        o = json_parse(p, len, api_config.max_json_depth, &im->err);
        if (o == NULL) {
            im->rc = TG_EINVAL;
            im->line = line;
            return;
        }
        rc = jl_record(r, im, o, line);
        json_decref(o);
        if (rc) {
            im->rc = rc;
            im->line = line;
            return;
        }
        p = nl ? nl + 1 : end;
    }
}

/* ---- import: CSV ---- */

/* The next record of an RFC 4180 file at *pp (fields into the arena, at most C_N + 1 of
 * them): *nf fields; *line advances over the lines it spans. 0, or TG_EINVAL. */
static int csv_next(struct hreq *r, const char **pp, const char *end, const char **f, int *nf,
                    int *line, struct tg_err *err)
{
    const char *p = *pp;
    struct sbuf b;

    *nf = 0;
    sbuf_init(&b, 0);
    for (;;) {
        bool quoted = false;
        sbuf_reset(&b);
        if (p < end && *p == '"') {
            quoted = true;
            p++;
            for (;;) {
                if (p >= end) {
                    sbuf_release(&b);
                    return tg_err_set(err, TG_EINVAL, "csv", "unterminated quoted field");
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        sbuf_addc(&b, '"');
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n')
                    (*line)++;
                sbuf_addc(&b, *p++);
            }
        }
        while (p < end && *p != ',' && *p != '\n' && *p != '\r') {
            if (quoted || *p == '"') {
                sbuf_release(&b);
                return tg_err_set(err, TG_EINVAL, "csv",
                                  "a quote inside an unquoted field, or text after a quoted one");
            }
            sbuf_addc(&b, *p++);
        }
        if (*nf == C_N + 1) {
            sbuf_release(&b);
            return tg_err_set(err, TG_EINVAL, "csv", "more than %d fields", C_N);
        }
        f[(*nf)++] = arena_strndup(&r->a, sbuf_str(&b), b.len);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
        break;
    }
    sbuf_release(&b);
    *pp = p;
    return 0;
}

static int csv_bool(const char *s, const char *col, bool *out, bool *has, struct tg_err *err)
{
    *has = *s != '\0';
    if (!*has)
        return 0;
    if (strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0)
        *out = false;
    else
        return tg_err_set(err, TG_EINVAL, col, "'%s' must be true or false", col);
    return 0;
}

static int csv_int(const char *s, const char *col, int64_t *out, bool *has, struct tg_err *err)
{
    char *e;

    *has = *s != '\0';
    if (!*has)
        return 0;
    *out = strtoll(s, &e, 10);
    if (*e || e == s)
        return tg_err_set(err, TG_EINVAL, col, "'%s' must be an integer", col);
    return 0;
}

/* A JSON object cell (l10n, document) checked and kept as text. */
static int csv_json(const char *s, const char *col, const char **out, bool *has,
                    struct tg_err *err)
{
    json_t *v;

    *has = *s != '\0';
    *out = NULL;
    if (!*has)
        return 0;
    v = json_parse(s, strlen(s), api_config.max_json_depth, err);
    if (v == NULL || !json_is_object(v)) {
        json_decref(v);
        return tg_err_set(err, TG_EINVAL, col, "'%s' must be a JSON object", col);
    }
    json_decref(v);
    *out = s;
    return 0;
}

static const char *cell_or_null(const char *s)
{
    return *s ? s : NULL;
}

static void parse_csv(struct hreq *r, struct ximport *im)
{
    const char *p = r->body ? r->body : "", *end = p + r->body_len;
    const char *f[C_N + 1];
    int map[C_N + 1]; /* column of the file -> C_* */
    int nf, ncols, line = 1, start;
    struct tg_err *err = &im->err;
    const char *c[C_N];

    if (r->body_len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    /* The header names the columns, in any order; every column must be one tagd knows. */
    im->line = 1;
    im->rc = csv_next(r, &p, end, f, &nf, &line, err);
    if (im->rc)
        return;
    ncols = nf;
    for (int i = 0; i < nf; i++) {
        map[i] = -1;
        for (int k = 0; k < C_N; k++)
            if (strcmp(f[i], csv_cols[k]) == 0)
                map[i] = k;
        if (map[i] < 0) {
            im->rc = tg_err_set(err, TG_EINVAL, f[i][0] ? f[i] : "header",
                                "unknown column '%s' in the header", f[i]);
            return;
        }
        for (int j = 0; j < i; j++)
            if (map[j] == map[i]) {
                im->rc = tg_err_set(err, TG_EINVAL, f[i], "column '%s' twice", f[i]);
                return;
            }
    }
    if (map[0] != C_TYPE) {
        im->rc = tg_err_set(err, TG_EINVAL, "type", "the first column must be 'type'");
        return;
    }
    line++;
    while (p < end) {
        struct xrec *x;
        bool has;
        int rc = 0;

        start = line;
        im->line = start;
        if (*p == '\n' || *p == '\r') { /* a blank line */
            p += *p == '\r' && p + 1 < end && p[1] == '\n' ? 2 : 1;
            line++;
            continue;
        }
        im->rc = csv_next(r, &p, end, f, &nf, &line, err);
        if (im->rc)
            return;
        line++;
        if (nf != ncols) {
            im->rc = tg_err_set(err, TG_EINVAL, "csv", "%d fields where the header has %d",
                                nf, ncols);
            return;
        }
        for (int k = 0; k < C_N; k++)
            c[k] = "";
        for (int i = 0; i < nf; i++)
            c[map[i]] = f[i];
        if (im->n >= IMPORT_MAX_ROWS) {
            im->rc = too_many(im, start);
            return;
        }
        if (strcmp(c[C_TYPE], "group") == 0) {
            x = rec_new(r, im, XT_GROUP, start);
            x->g.name = cell_or_null(c[C_NAME]);
            if (x->g.name == NULL)
                rc = tg_err_set(err, TG_EINVAL, "name", "'name' is required");
            if (!rc)
                rc = csv_json(c[C_L10N], "l10n", &x->g.l10n, &x->g.has_l10n, err);
            if (!rc)
                rc = csv_bool(c[C_EXCLUSIVE], "exclusive", &x->g.exclusive, &x->g.has_exclusive,
                              err);
            if (!rc)
                rc = csv_int(c[C_POSITION], "position", &x->g.position, &x->g.has_position, err);
        } else if (strcmp(c[C_TYPE], "tag") == 0) {
            x = rec_new(r, im, XT_TAG, start);
            x->t.name = cell_or_null(c[C_NAME]);
            if (x->t.name == NULL)
                rc = tg_err_set(err, TG_EINVAL, "name", "'name' is required");
            /* An empty cell is an absent field, which for a new tag is its default. */
            x->t.display_name = cell_or_null(c[C_DISPLAY_NAME]);
            x->t.has_display_name = x->t.display_name != NULL;
            x->t.color = cell_or_null(c[C_COLOR]);
            x->t.has_color = x->t.color != NULL;
            x->t.description = cell_or_null(c[C_DESCRIPTION]);
            x->t.has_description = x->t.description != NULL;
            x->t.source = cell_or_null(c[C_SOURCE]);
            x->t.has_source = x->t.source != NULL;
            x->group = cell_or_null(c[C_GROUP]);
            x->has_group = x->group != NULL;
            if (!rc)
                rc = csv_json(c[C_L10N], "l10n", &x->t.l10n, &x->t.has_l10n, err);
            if (!rc)
                rc = csv_bool(c[C_PROTECTED], "protected", &x->t.protected_, &x->t.has_protected,
                              err);
            if (!rc)
                rc = csv_bool(c[C_ARCHIVED], "archived", &x->t.archived, &x->t.has_archived, err);
            if (!rc)
                rc = csv_bool(c[C_ASSIGN_RESTRICTED], "assign_restricted",
                              &x->t.assign_restricted, &x->t.has_assign_restricted, err);
            if (!rc)
                rc = csv_int(c[C_POSITION], "position", &x->t.position, &x->t.has_position, err);
        } else if (strcmp(c[C_TYPE], "resource") == 0) {
            x = rec_new(r, im, XT_RESOURCE, start);
            x->kind = c[C_KIND];
            x->key = c[C_KEY];
            x->res.name = cell_or_null(c[C_NAME]);
            x->res.has_name = x->res.name != NULL;
            if (*c[C_PARENT_KIND] || *c[C_PARENT_KEY]) {
                x->res.has_parent = true;
                x->res.parent_kind = c[C_PARENT_KIND];
                x->res.parent_key = c[C_PARENT_KEY];
            }
            rc = csv_bool(c[C_ARCHIVED], "archived", &x->res.archived, &x->res.has_archived, err);
            if (!rc)
                rc = csv_json(c[C_DOCUMENT], "document", &x->res.extra, &x->res.has_extra, err);
        } else if (strcmp(c[C_TYPE], "assignment") == 0) {
            x = rec_new(r, im, XT_ASSIGN, start);
            x->kind = c[C_KIND];
            x->key = c[C_KEY];
            x->tag = c[C_TAG];
            x->context = cell_or_null(c[C_CONTEXT]);
            if (!*x->tag)
                rc = tg_err_set(err, TG_EINVAL, "tag", "'tag' is required");
        } else if (strcmp(c[C_TYPE], "alias") == 0) {
            x = rec_new(r, im, XT_ALIAS, start);
            x->alias = c[C_NAME];
            x->tag = c[C_TAG];
            if (!*x->alias)
                rc = tg_err_set(err, TG_EINVAL, "name", "'name' is required");
            else if (!*x->tag)
                rc = tg_err_set(err, TG_EINVAL, "tag", "'tag' is required");
        } else {
            rc = tg_err_set(err, TG_EINVAL, "type",
                            "type is group, tag, alias, resource or assignment, not '%s'",
                            c[C_TYPE]);
        }
        (void)has;
        if (rc) {
            im->rc = rc;
            return;
        }
    }
}

/* ---- import: SKOS in Turtle ----
 *
 * The triples are gathered by subject first (a graph has no order: a concept's broader may be
 * stated anywhere in the document), then turned into records: collections into groups,
 * concepts into tags, tagd:Resource nodes into resources and their dct:subject links into
 * assignments. A concept without tagd:name gets a name from its broader chain and its label
 * (docs/interchange.md, "Names from SKOS"). Predicates tagd does not keep are ignored. */

struct lit {
    const char *lang; /* NULL: a plain literal */
    const char *value;
    int line;         /* skos:altLabel: where it was read */
    struct lit *next;
};
struct iris {
    const char *iri;
    struct iris *next;
};

enum { SK_CONCEPT = 1, SK_COLLECTION = 2, SK_RESOURCE = 4 };

struct subj {
    const char *iri;
    int line;
    unsigned types;
    struct lit *pref, *def, *alt;
    struct iris *broader, *members, *subjects;
    const char *tname, *color, *source, *kind, *key, *document, *group, *parent, *conflict;
    int protected_, archived, exclusive, restricted; /* -1 unset, 0, 1 */
    int64_t position;
    bool has_position;
    /* derived */
    const char *name; /* the tag's or the group's name */
    int visiting;     /* 1 while its name is being made (cycles), 2 done */
    struct subj *hnext;
};

#define SK_BUCKETS 4096

struct skos {
    struct hreq *r;
    struct subj *buckets[SK_BUCKETS];
    struct subj **all;
    size_t n, cap;
    const char *lang;
};

static unsigned sk_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct subj *sk_get(struct skos *k, const char *iri, bool create, int line)
{
    unsigned h = sk_hash(iri) % SK_BUCKETS;
    struct subj *s;

    for (s = k->buckets[h]; s; s = s->hnext)
        if (strcmp(s->iri, iri) == 0)
            return s;
    if (!create)
        return NULL;
    s = arena_zalloc(&k->r->a, sizeof(*s));
    s->iri = iri;
    s->line = line;
    s->protected_ = s->archived = s->exclusive = s->restricted = -1;
    s->hnext = k->buckets[h];
    k->buckets[h] = s;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 256;
        struct subj **n = arena_alloc(&k->r->a, cap * sizeof(*n));
        if (k->n)
            memcpy(n, k->all, k->n * sizeof(*n));
        k->all = n;
        k->cap = cap;
    }
    k->all[k->n++] = s;
    return s;
}

static int want_lit(const struct ttl_term *o, const char *pred, struct tg_err *err)
{
    if (o->kind != TTL_LITERAL)
        return tg_err_set(err, TG_EINVAL, pred, "%s takes a literal, not an IRI", pred);
    return 0;
}

static int want_iri(const struct ttl_term *o, const char *pred, struct tg_err *err)
{
    if (o->kind != TTL_IRI)
        return tg_err_set(err, TG_EINVAL, pred, "%s takes an IRI, not a literal", pred);
    return 0;
}

static int want_bool(const struct ttl_term *o, const char *pred, int *out, struct tg_err *err)
{
    if (want_lit(o, pred, err))
        return TG_EINVAL;
    if (strcmp(o->value, "true") == 0 || strcmp(o->value, "1") == 0)
        *out = 1;
    else if (strcmp(o->value, "false") == 0 || strcmp(o->value, "0") == 0)
        *out = 0;
    else
        return tg_err_set(err, TG_EINVAL, pred, "%s must be true or false", pred);
    return 0;
}

static int sk_triple(void *arg, const struct ttl_term *s, const struct ttl_term *p,
                     const struct ttl_term *o, int line, struct tg_err *err)
{
    struct skos *k = arg;
    struct arena *a = &k->r->a;
    struct subj *x = sk_get(k, s->value, true, line);
    const char *pr = p->value;

#define IS(ns, local) (strncmp(pr, ns, sizeof(ns) - 1) == 0 && strcmp(pr + sizeof(ns) - 1, local) == 0)
    if (IS(TTL_RDF, "type")) {
        if (want_iri(o, "rdf:type", err))
            return TG_EINVAL;
        if (strcmp(o->value, TTL_SKOS "Concept") == 0)
            x->types |= SK_CONCEPT;
        else if (strcmp(o->value, TTL_SKOS "Collection") == 0 ||
                 strcmp(o->value, TTL_SKOS "OrderedCollection") == 0)
            x->types |= SK_COLLECTION;
        else if (strcmp(o->value, NS_TAGD "Resource") == 0)
            x->types |= SK_RESOURCE;
    } else if (IS(TTL_SKOS, "prefLabel")) {
        struct lit *l = arena_zalloc(a, sizeof(*l));
        if (want_lit(o, "skos:prefLabel", err))
            return TG_EINVAL;
        for (struct lit *q = x->pref; q; q = q->next)
            if ((q->lang == NULL) == (o->lang == NULL) &&
                (q->lang == NULL || strcasecmp(q->lang, o->lang) == 0))
                return tg_err_set(err, TG_EINVAL, "skos:prefLabel",
                                  "<%s> has two skos:prefLabel in language '%s'", s->value,
                                  o->lang ? o->lang : "");
        l->lang = o->lang;
        l->value = o->value;
        l->next = x->pref;
        x->pref = l;
    } else if (IS(TTL_SKOS, "altLabel")) {
        struct lit *l = arena_zalloc(a, sizeof(*l));
        if (want_lit(o, "skos:altLabel", err))
            return TG_EINVAL;
        l->lang = o->lang;
        l->value = o->value;
        l->line = line;
        l->next = x->alt;
        x->alt = l;
    } else if (IS(TTL_SKOS, "definition")) {
        struct lit *l = arena_zalloc(a, sizeof(*l));
        if (want_lit(o, "skos:definition", err))
            return TG_EINVAL;
        l->lang = o->lang;
        l->value = o->value;
        l->next = x->def;
        x->def = l;
    } else if (IS(TTL_SKOS, "broader") || IS(TTL_SKOS, "member") || IS(NS_DCT, "subject")) {
        struct iris *i = arena_zalloc(a, sizeof(*i));
        struct iris **list = IS(TTL_SKOS, "broader") ? &x->broader
                             : IS(TTL_SKOS, "member") ? &x->members
                                                      : &x->subjects;
        if (want_iri(o, pr, err))
            return TG_EINVAL;
        i->iri = o->value;
        i->next = *list;
        *list = i;
    } else if (IS(TTL_SKOS, "narrower")) {
        /* The other direction of broader: kept on the narrower concept. */
        struct subj *n;
        struct iris *i = arena_zalloc(a, sizeof(*i));
        if (want_iri(o, "skos:narrower", err))
            return TG_EINVAL;
        n = sk_get(k, o->value, true, line);
        i->iri = s->value;
        i->next = n->broader;
        n->broader = i;
    } else if (IS(NS_TAGD, "name")) {
        if (want_lit(o, "tagd:name", err))
            return TG_EINVAL;
        x->tname = o->value;
    } else if (IS(NS_TAGD, "conflict")) {
        if (want_lit(o, "tagd:conflict", err))
            return TG_EINVAL;
        x->conflict = o->value;
    } else if (IS(NS_TAGD, "color") || IS(NS_TAGD, "source") || IS(NS_TAGD, "kind") ||
               IS(NS_TAGD, "key") || IS(NS_TAGD, "document")) {
        const char **f = IS(NS_TAGD, "color")    ? &x->color
                         : IS(NS_TAGD, "source") ? &x->source
                         : IS(NS_TAGD, "kind")   ? &x->kind
                         : IS(NS_TAGD, "key")    ? &x->key
                                                 : &x->document;
        if (want_lit(o, pr, err))
            return TG_EINVAL;
        *f = o->value;
    } else if (IS(NS_TAGD, "group") || IS(NS_TAGD, "parent")) {
        if (want_iri(o, pr, err))
            return TG_EINVAL;
        if (IS(NS_TAGD, "group"))
            x->group = o->value;
        else
            x->parent = o->value;
    } else if (IS(NS_TAGD, "protected")) {
        return want_bool(o, "tagd:protected", &x->protected_, err);
    } else if (IS(NS_TAGD, "archived")) {
        return want_bool(o, "tagd:archived", &x->archived, err);
    } else if (IS(NS_TAGD, "assignRestricted")) {
        return want_bool(o, "tagd:assignRestricted", &x->restricted, err);
    } else if (IS(NS_TAGD, "exclusive")) {
        return want_bool(o, "tagd:exclusive", &x->exclusive, err);
    } else if (IS(NS_TAGD, "position")) {
        char *e;
        if (want_lit(o, "tagd:position", err))
            return TG_EINVAL;
        x->position = strtoll(o->value, &e, 10);
        if (*e || e == o->value)
            return tg_err_set(err, TG_EINVAL, "tagd:position", "tagd:position must be an integer");
        x->has_position = true;
    }
#undef IS
    return 0;
}

/* The literal of `l` in language `lang`: that language (or its base: "en" for "en-GB"), else
 * the plain literal, else the first language in order. */
static const char *pick(const struct lit *l, const char *lang)
{
    const struct lit *plain = NULL, *first = NULL, *base = NULL;
    size_t ln = strlen(lang);

    for (; l; l = l->next) {
        if (l->lang == NULL) {
            plain = l;
            continue;
        }
        if (strcasecmp(l->lang, lang) == 0)
            return l->value;
        if (strncasecmp(l->lang, lang, ln) == 0 && l->lang[ln] == '-' && base == NULL)
            base = l;
        if (first == NULL || strcmp(l->lang, first->lang) < 0)
            first = l;
    }
    return base ? base->value : plain ? plain->value : first ? first->value : NULL;
}

/* A name segment from a label: no dots (they separate levels), no blanks at either end, at
 * most 64 characters. */
static const char *segment(struct arena *a, const char *label)
{
    char *s;
    size_t chars = 0, i;

    while (*label == ' ' || *label == '\t')
        label++;
    s = arena_strdup(a, label);
    for (i = 0; s[i]; i++) {
        if (s[i] == '.')
            s[i] = '_';
        if (((unsigned char)s[i] & 0xC0) != 0x80 && ++chars > 64)
            break;
    }
    s[i] = '\0';
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
        s[--i] = '\0';
    return s;
}

static const char *local_name(const char *iri)
{
    const char *h = strrchr(iri, '#'), *sl = strrchr(iri, '/');
    const char *p = h > sl ? h : sl;
    return p && p[1] ? p + 1 : iri;
}

/* The tag name of concept x: tagd:name, else its broader's name and its own label. `depth`
 * bounds the recursion: names have at most a few levels (name_rules), so a longer chain is
 * refused rather than followed. */
static int sk_name(struct skos *k, struct subj *x, int depth, struct tg_err *err)
{
    struct subj *b = NULL;
    const char *label;

    if (x->visiting == 2)
        return 0;
    if (x->visiting == 1)
        return tg_err_set(err, TG_EINVAL, "skos:broader", "<%s> is its own broader concept",
                          x->iri);
    if (x->tname) {
        x->name = x->tname;
        x->visiting = 2;
        return 0;
    }
    if (depth > 64)
        return tg_err_set(err, TG_EINVAL, "skos:broader",
                          "<%s> lies deeper than 64 levels of skos:broader", x->iri);
    x->visiting = 1;
    /* Several broader concepts (a polyhierarchy): tagd's names are one tree, so the first
     * broader in IRI order is the parent. */
    for (struct iris *i = x->broader; i; i = i->next) {
        struct subj *c = sk_get(k, i->iri, false, 0);
        if (c == NULL || !(c->types & SK_CONCEPT))
            return tg_err_set(err, TG_EINVAL, "skos:broader",
                              "<%s> names <%s> as broader, which is no skos:Concept here",
                              x->iri, i->iri);
        if (b == NULL || strcmp(c->iri, b->iri) < 0)
            b = c;
    }
    label = pick(x->pref, k->lang);
    label = segment(&k->r->a, label ? label : local_name(x->iri));
    if (!*label)
        label = segment(&k->r->a, local_name(x->iri));
    if (b) {
        int rc = sk_name(k, b, depth + 1, err);
        if (rc)
            return rc;
        x->name = arena_printf(&k->r->a, "%s.%s", b->name, label);
    } else {
        x->name = label;
    }
    x->visiting = 2;
    return 0;
}

static const char *l10n_json(struct hreq *r, const struct lit *l)
{
    json_t *o = json_object();
    const char *s;
    bool any = false;

    for (; l; l = l->next)
        if (l->lang) {
            json_object_set_new(o, l->lang, json_string(l->value));
            any = true;
        }
    s = any ? json_to_arena(&r->a, o) : NULL;
    json_decref(o);
    return s;
}

static int cmp_names(const void *a, const void *b)
{
    const struct xrec *x = a, *y = b;
    if (x->type != y->type)
        return (int)x->type - (int)y->type;
    if (x->type == XT_TAG)
        return strcasecmp(x->t.name, y->t.name);
    return x->line - y->line;
}

static void parse_skos(struct hreq *r, struct ximport *im)
{
    struct skos *k = arena_zalloc(&r->a, sizeof(*k));
    struct tg_err *err = &im->err;
    int rc;

    k->r = r;
    k->lang = api_query(r, "lang") ? api_query(r, "lang") : "en";
    rc = ttl_parse(&r->a, r->body ? r->body : "", r->body_len, sk_triple, k, &im->line, err);
    if (rc) {
        im->rc = rc;
        return;
    }
    /* Groups first, then tags (parents before children), then resources and assignments. */
    for (size_t i = 0; i < k->n && !rc; i++) {
        struct subj *s = k->all[i];
        struct xrec *x;
        if (!(s->types & SK_COLLECTION))
            continue;
        if (im->n >= IMPORT_MAX_ROWS) {
            im->rc = too_many(im, s->line);
            return;
        }
        x = rec_new(r, im, XT_GROUP, s->line);
        s->name = s->tname ? s->tname : pick(s->pref, k->lang);
        if (s->name == NULL)
            s->name = local_name(s->iri);
        x->g.name = s->name;
        x->g.l10n = l10n_json(r, s->pref);
        x->g.has_l10n = true;
        x->g.exclusive = s->exclusive == 1;
        x->g.has_exclusive = s->exclusive >= 0;
        x->g.position = s->position;
        x->g.has_position = s->has_position;
        x->g.conflict = s->conflict;
        x->g.has_conflict = s->conflict != NULL;
    }
    for (size_t i = 0; i < k->n; i++) {
        struct subj *s = k->all[i];
        struct xrec *x;
        const char *plain = NULL;
        if (!(s->types & SK_CONCEPT))
            continue;
        if (im->n >= IMPORT_MAX_ROWS) {
            im->rc = too_many(im, s->line);
            return;
        }
        rc = sk_name(k, s, 0, err);
        if (rc) {
            im->rc = rc;
            im->line = s->line;
            return;
        }
        x = rec_new(r, im, XT_TAG, s->line);
        x->t.name = s->name;
        for (struct lit *l = s->pref; l; l = l->next)
            if (l->lang == NULL)
                plain = l->value;
        if (s->tname && plain && strcmp(plain, native_last_segment(s->tname)) != 0) {
            x->t.display_name = plain;
            x->t.has_display_name = true;
        }
        x->t.l10n = l10n_json(r, s->pref);
        x->t.has_l10n = true;
        x->t.description = pick(s->def, k->lang);
        x->t.has_description = true;
        x->t.color = s->color;
        x->t.has_color = s->color != NULL;
        x->t.source = s->source;
        x->t.has_source = s->source != NULL;
        x->t.protected_ = s->protected_ == 1;
        x->t.has_protected = s->protected_ >= 0;
        x->t.archived = s->archived == 1;
        x->t.has_archived = s->archived >= 0;
        x->t.assign_restricted = s->restricted == 1;
        x->t.has_assign_restricted = s->restricted >= 0;
        x->t.position = s->position;
        x->t.has_position = s->has_position;
        if (s->group) {
            struct subj *g = sk_get(k, s->group, false, 0);
            if (g == NULL || !(g->types & SK_COLLECTION)) {
                im->rc = tg_err_set(err, TG_EINVAL, "tagd:group",
                                    "<%s> is in group <%s>, which is no skos:Collection here",
                                    s->iri, s->group);
                im->line = s->line;
                return;
            }
            x->group = g->name;
            x->has_group = true;
        }
    }
    /* Membership stated on the collection (skos:member) for tags that name no group. */
    for (size_t i = 0; i < k->n; i++) {
        struct subj *g = k->all[i];
        if (!(g->types & SK_COLLECTION))
            continue;
        for (struct iris *m = g->members; m; m = m->next) {
            struct subj *c = sk_get(k, m->iri, false, 0);
            if (c == NULL || !(c->types & SK_CONCEPT) || c->group)
                continue;
            for (size_t j = 0; j < im->n; j++)
                if (im->recs[j].type == XT_TAG && im->recs[j].t.name == c->name) {
                    im->recs[j].group = g->name;
                    im->recs[j].has_group = true;
                }
        }
    }
    /* Aliases after every tag: a tag of the document may bear a name an alias would take.
     * tagd's own concepts (tagd:name) list their old full names without a language; another
     * tool's list synonyms, in the import's language or none, which name a sibling of the
     * concept as its prefLabel names it. */
    for (size_t i = 0; i < k->n; i++) {
        struct subj *s = k->all[i];
        if (!(s->types & SK_CONCEPT))
            continue;
        for (struct lit *l = s->alt; l; l = l->next) {
            struct xrec *x;
            const char *dot, *name = l->value;
            if (s->tname == NULL) {
                size_t ln = strlen(k->lang);
                if (l->lang && strcasecmp(l->lang, k->lang) != 0 &&
                    !(strncasecmp(l->lang, k->lang, ln) == 0 && l->lang[ln] == '-'))
                    continue;
                name = segment(&r->a, l->value);
                if (!*name)
                    continue;
                dot = strrchr(s->name, '.');
                if (dot)
                    name = arena_printf(&r->a, "%.*s.%s", (int)(dot - s->name), s->name, name);
            } else if (l->lang) {
                continue;
            }
            if (im->n >= IMPORT_MAX_ROWS) {
                im->rc = too_many(im, l->line);
                return;
            }
            x = rec_new(r, im, XT_ALIAS, l->line);
            x->tag = s->name;
            x->alias = name;
        }
    }
    for (size_t i = 0; i < k->n; i++) {
        struct subj *s = k->all[i];
        struct xrec *x;
        if (!(s->types & SK_RESOURCE))
            continue;
        if (s->kind == NULL || s->key == NULL) {
            im->rc = tg_err_set(err, TG_EINVAL, s->kind ? "tagd:key" : "tagd:kind",
                                "the resource <%s> needs tagd:kind and tagd:key", s->iri);
            im->line = s->line;
            return;
        }
        if (im->n >= IMPORT_MAX_ROWS) {
            im->rc = too_many(im, s->line);
            return;
        }
        x = rec_new(r, im, XT_RESOURCE, s->line);
        x->kind = s->kind;
        x->key = s->key;
        x->res.name = s->tname;
        x->res.has_name = s->tname != NULL;
        x->res.archived = s->archived == 1;
        x->res.has_archived = s->archived >= 0;
        if (s->document) {
            x->res.extra = s->document;
            x->res.has_extra = true;
        }
        if (s->parent) {
            struct subj *p = sk_get(k, s->parent, false, 0);
            if (p == NULL || !(p->types & SK_RESOURCE) || !p->kind || !p->key) {
                im->rc = tg_err_set(err, TG_EINVAL, "tagd:parent",
                                    "<%s> names a parent <%s> that is no tagd:Resource here",
                                    s->iri, s->parent);
                im->line = s->line;
                return;
            }
            x->res.has_parent = true;
            x->res.parent_kind = p->kind;
            x->res.parent_key = p->key;
        }
        for (struct iris *t = s->subjects; t; t = t->next) {
            struct subj *c = sk_get(k, t->iri, false, 0);
            struct xrec *y;
            if (c == NULL || !(c->types & SK_CONCEPT) || c->name == NULL) {
                im->rc = tg_err_set(err, TG_EINVAL, "dct:subject",
                                    "<%s> names a subject <%s> that is no skos:Concept here",
                                    s->iri, t->iri);
                im->line = s->line;
                return;
            }
            if (im->n >= IMPORT_MAX_ROWS) {
                im->rc = too_many(im, s->line);
                return;
            }
            y = rec_new(r, im, XT_ASSIGN, s->line);
            y->kind = s->kind;
            y->key = s->key;
            y->tag = c->name;
        }
    }
    /* Parents before children, and two concepts that make one name are an error rather than
     * one silently merged into the other. */
    qsort(im->recs, im->n, sizeof(*im->recs), cmp_names);
    for (size_t i = 1; i < im->n; i++)
        if (im->recs[i].type == XT_TAG && im->recs[i - 1].type == XT_TAG &&
            strcasecmp(im->recs[i].t.name, im->recs[i - 1].t.name) == 0) {
            im->rc = tg_err_set(err, TG_EINVAL, "skos:prefLabel",
                                "two concepts (lines %d and %d) make the tag name '%s': give "
                                "one of them tagd:name",
                                im->recs[i - 1].line, im->recs[i].line, im->recs[i].t.name);
            im->line = im->recs[i].line;
            return;
        }
}

/* ---- import: the routes ---- */

static int fmt_of_type(const char *ct, enum xfmt *f)
{
    size_t n;

    if (ct == NULL)
        return -1;
    n = strcspn(ct, "; ");
    for (int i = 0; i < 3; i++)
        if (strlen(xfmt_types[i]) == n && strncasecmp(ct, xfmt_types[i], n) == 0) {
            *f = (enum xfmt)i;
            return 0;
        }
    /* The other names JSON lines goes by. */
    {
        static const char *const jsonl[] = {"application/jsonl", "application/jsonlines",
                                            "application/x-jsonlines", NULL};
        for (int i = 0; jsonl[i]; i++)
            if (strlen(jsonl[i]) == n && strncasecmp(ct, jsonl[i], n) == 0) {
                *f = XF_JSONL;
                return 0;
            }
    }
    return -1;
}

/* The route's prepare step, on the fetch thread before the writer: parses the chunk, so that
 * the writer only applies it. Answers nothing; the handler renders what it found. */
void *native_import_prepare(struct hreq *r, struct core_ctx *cx)
{
    struct ximport *im = arena_zalloc(&r->a, sizeof(*im));
    struct tg_err err;

    /* Parsing costs: only for a caller that may import. The handler checks again (and
     * renders the refusal). */
    tg_err_clear(&err);
    if (core_auth_token(cx, api_bearer(r), &err) ||
        core_require(cx, RIGHT_WRITE | RIGHT_ASSIGN, &err))
        return NULL;
    if (fmt_of_type(api_header(r, "content-type"), &im->fmt))
        return NULL;
    im->authed = true;
    tg_err_clear(&im->err);
    switch (im->fmt) {
    case XF_JSONL:
        parse_jsonl(r, im);
        break;
    case XF_CSV:
        parse_csv(r, im);
        break;
    case XF_SKOS:
        parse_skos(r, im);
        break;
    default:
        TG_BUG("unknown interchange format");
    }
    return im;
}

/* Stores the refused chunk in its job, after the writer undid the chunk (core_ctx
 * after_undo). */
static int job_undo_put(struct core_ctx *cx, void *arg)
{
    struct tg_err err;

    tg_err_clear(&err);
    return core_import_job_put(cx, arg, &err);
}

/* The error of a refused chunk: the native error, with the line and chunk in its details, and
 * the job as it is now (`j`, NULL for none), which the refusal is recorded in. */
static enum api_result import_refuse(struct hreq *r, struct core_ctx *cx,
                                     struct core_import_job *j, int64_t chunk, int code,
                                     const struct tg_err *err, int line)
{
    struct jw w;
    char msg[640];

    code = api_code(code, err);
    if (line > 0)
        snprintf(msg, sizeof(msg), "line %d%s%s%s: %s", line, err->field[0] ? ", field '" : "",
                 err->field, err->field[0] ? "'" : "", err->msg);
    else
        snprintf(msg, sizeof(msg), "%s", err->msg);
    if (j) {
        j->state = CORE_JOB_FAILED;
        j->failures++;
        j->has_error = true;
        j->err_chunk = chunk;
        j->err_line = line;
        snprintf(j->err_code, sizeof(j->err_code), "%s", tg_code_slug(code));
        snprintf(j->err_field, sizeof(j->err_field), "%s", err->field);
        snprintf(j->err_msg, sizeof(j->err_msg), "%s", err->msg);
        j->updated_at = cx->now;
        if (j->created_at == 0)
            j->created_at = cx->now;
        cx->after_undo = job_undo_put;
        cx->after_undo_arg = j;
    }
    api_json_begin(r, tg_code_status(code), &w);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_kstr(&w, "code", tg_code_slug(code));
    jw_kstr(&w, "message", code == TG_EINTERNAL ? "internal error" : msg);
    jw_key(&w, "details");
    jw_obj(&w);
    if (err->field[0])
        jw_kstr(&w, "field", err->field);
    if (line > 0)
        jw_kint(&w, "line", line);
    if (j)
        jw_kint(&w, "chunk", chunk);
    jw_obj_end(&w);
    jw_kstr(&w, "request_id", r->request_id);
    jw_obj_end(&w);
    if (j) {
        jw_key(&w, "job");
        render_job(&w, j);
    }
    jw_obj_end(&w);
    return API_ROLLBACK;
}

/* After the commit, on the loop: the answer is the job as the chunk's transaction stored it. */
static void import_render(struct hreq *r, void *arg)
{
    struct jw w;

    jw_init(&w, &r->out);
    render_job(&w, arg);
}

/* Writes the records that wait: the resources first (core_import_resource_bulk), which the
 * assignments may name, then the assignments (core_import_assign_bulk). */
static int import_flush(struct core_ctx *cx, struct core_import_cache *cache,
                        struct core_import_res *rwait, size_t *nrwait,
                        struct core_import_asg *wait, size_t *nwait, int *line,
                        struct tg_err *err)
{
    int rc = core_import_resource_bulk(cx, cache, rwait, *nrwait, line, err);

    *nrwait = 0;
    if (rc == 0)
        rc = core_import_assign_bulk(cx, cache, wait, *nwait, line, err);
    *nwait = 0;
    return rc;
}

/* Applies the records in order. Plain resource records (without tags) and assignment records
 * wait and go in bulk until a record that may depend on them or change what they read: a
 * group, a tag, an alias, or a resource that sets its tags exactly. Resources go before the
 * assignments that wait with them: an assignment's resource is created bare when missing in
 * any case, and a resource record only ever sets the resource's own fields. */
static int import_apply(struct core_ctx *cx, const struct ximport *im, int *line,
                        struct tg_err *err)
{
    struct core_import_cache *cache = core_import_cache_new(cx);
    struct core_import_asg *wait = arena_alloc(cx->a, (im->n ? im->n : 1) * sizeof(*wait));
    struct core_import_res *rwait = arena_alloc(cx->a, (im->n ? im->n : 1) * sizeof(*rwait));
    size_t nwait = 0, nrwait = 0;
    int rc = 0;

    for (size_t i = 0; i < im->n && rc == 0; i++) {
        const struct xrec *x = &im->recs[i];
        *line = x->line;
        if (x->type == XT_ASSIGN) {
            wait[nwait].kind = x->kind;
            wait[nwait].key = x->key;
            wait[nwait].tag = x->tag;
            wait[nwait].context = x->context;
            wait[nwait].line = x->line;
            nwait++;
            continue;
        }
        if (x->type == XT_RESOURCE && !x->has_tags) {
            rwait[nrwait].kind = x->kind;
            rwait[nrwait].key = x->key;
            rwait[nrwait].in = &x->res;
            rwait[nrwait].line = x->line;
            nrwait++;
            continue;
        }
        if (nwait || nrwait) {
            rc = import_flush(cx, cache, rwait, &nrwait, wait, &nwait, line, err);
            if (rc)
                break;
            *line = x->line;
        }
        switch (x->type) {
        case XT_GROUP:
            rc = core_import_group(cx, &x->g, err);
            break;
        case XT_TAG:
            rc = core_import_tag(cx, &x->t, x->group, x->has_group, err);
            break;
        case XT_ALIAS:
            /* The field an alias conflict names: the record's own. */
            rc = core_import_alias(cx, x->tag, x->alias,
                                   im->fmt == XF_SKOS ? "skos:altLabel" : "name", err);
            break;
        case XT_RESOURCE:
            rc = core_import_resource(cx, x->kind, x->key, &x->res, err);
            if (rc == 0)
                rc = core_import_assign(cx, cache, x->kind, x->key, x->tags, x->ntags, NULL,
                                        true, err);
            break;
        default:
            TG_BUG("unknown import record");
        }
    }
    if (rc == 0 && (nwait || nrwait))
        rc = import_flush(cx, cache, rwait, &nrwait, wait, &nwait, line, err);
    return rc;
}

enum api_result native_import(struct hreq *r, struct core_ctx *cx)
{
    struct ximport *im = r->prep;
    const char *job_id = api_query(r, "job");
    struct core_import_job *j = arena_zalloc(&r->a, sizeof(*j));
    struct tg_err err;
    enum xfmt fmt;
    int64_t chunk = 0;
    bool last = true;
    int line = 0, rc;

    if (api_native_auth(r, cx, RIGHT_WRITE | RIGHT_ASSIGN))
        return API_ROLLBACK;
    if (fmt_of_type(api_header(r, "content-type"), &fmt))
        return api_failf(r, TG_EMEDIA, "content-type",
                         "content type must be application/x-ndjson, text/csv or text/turtle");
    if (im == NULL || !im->authed)
        return api_failf(r, TG_EINTERNAL, "body", "the chunk was not parsed");
    if (api_query_bool(r, "last", true, &last))
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (job_id) {
        rc = core_import_job_get(cx, job_id, j, &err);
        if (rc)
            return api_fail(r, rc, &err);
        if (api_query_int(r, "chunk", j->chunks_done, 0, INT64_MAX, &chunk))
            return API_ROLLBACK;
        if (j->ws_id != cx->ws_id)
            return api_failf(r, TG_ECONFLICT, "job", "job '%s' imports into another workspace",
                             job_id);
        if (strcmp(j->format, xfmt_names[fmt]) != 0)
            return api_failf(r, TG_EINVAL, "content-type", "job '%s' imports %s, not %s",
                             job_id, j->format, xfmt_names[fmt]);
        if (chunk != j->chunks_done) {
            tg_err_set(&err, TG_ECONFLICT, "chunk",
                       "job '%s' expects chunk %lld next, not %lld", job_id,
                       (long long)j->chunks_done, (long long)chunk);
            return import_refuse(r, cx, NULL, chunk, TG_ECONFLICT, &err, 0);
        }
        /* A job cut by a restart goes on from its next chunk. */
        j->interrupted = false;
    } else {
        char tok[40];
        if (api_query_int(r, "chunk", 0, 0, 0, &chunk))
            return API_ROLLBACK;
        /* The job starts with its first chunk, in its transaction. A retried request runs
         * this again: the job it made the first time is then an orphan that ages out. */
        secret_token(tok, sizeof(tok), "imp_");
        snprintf(j->id, sizeof(j->id), "%.24s", tok);
        j->org_id = cx->org_id;
        j->ws_id = cx->ws_id;
        snprintf(j->format, sizeof(j->format), "%s", xfmt_names[fmt]);
        j->state = CORE_JOB_RUNNING;
    }
    if (im->rc)
        return import_refuse(r, cx, j, chunk, im->rc, &im->err, im->line);
    rc = import_apply(cx, im, &line, &err);
    if (rc)
        return import_refuse(r, cx, j, chunk, rc, &err, line);
    j->chunks_done = chunk + 1;
    j->rows += (int64_t)im->n;
    if (cx->rev)
        j->last_rev = cx->rev;
    j->state = last ? CORE_JOB_DONE : CORE_JOB_RUNNING;
    rc = core_import_job_put(cx, j, &err);
    if (rc)
        return api_fail(r, rc, &err);
    r->content_type = "application/json";
    return api_render_later(r, 200, import_render, j);
}

enum api_result native_import_job(struct hreq *r, struct core_ctx *cx)
{
    struct core_import_job j;
    struct tg_err err;
    struct jw w;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_import_job_get(cx, r->params[0], &j, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    render_job(&w, &j);
    return API_ANSWER;
}
