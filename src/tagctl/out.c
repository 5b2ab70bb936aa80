/* tagctl/out.c: rendering answers for people and for programs.
 *
 * Tables are for people: aligned columns fitted to the terminal (the widest columns give way
 * first, cut cells end in "…"), control characters shown as '?' so that a tag description
 * cannot move the cursor. Everything else is for programs and is never cut: json (one array, or
 * the object), jsonl (one compact object per line), yaml, csv (RFC 4180) and tsv (escaped), and
 * -q (one id per line). Only the table waits for the last item; the others stream. */
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <stdlib.h>
#include <strings.h>

#include <unistr.h>
#include <uniwidth.h>

#include "tagctl/tagctl.h"
#include "util/mem.h"

bool out_parse_fmt(const char *s, enum out_fmt *out)
{
    static const struct {
        const char *name;
        enum out_fmt fmt;
    } fmts[] = {{"table", OUT_TABLE}, {"json", OUT_JSON}, {"jsonl", OUT_JSONL},
                {"yaml", OUT_YAML},   {"csv", OUT_CSV},   {"tsv", OUT_TSV}};
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        if (strcmp(s, fmts[i].name) == 0) {
            *out = fmts[i].fmt;
            return true;
        }
    }
    return false;
}

json_t *out_path(json_t *item, const char *path)
{
    const char *p = path;
    json_t *v = item;
    while (v && *p) {
        size_t n = strcspn(p, ".");
        char key[64];
        if (!json_is_object(v) || n >= sizeof(key))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        p += n;
        if (*p == '.')
            p++;
    }
    return v;
}

void out_cell_text(json_t *v, struct sbuf *b)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        sbuf_add(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sbuf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        sbuf_printf(b, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        sbuf_adds(b, "true");
        break;
    case JSON_FALSE:
        sbuf_adds(b, "false");
        break;
    case JSON_NULL:
        break;
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (i)
                sbuf_addc(b, ',');
            out_cell_text(e, b);
        }
        break;
    }
    case JSON_OBJECT: {
        json_t *k = json_object_get(v, "kind"), *key = json_object_get(v, "key");
        if (json_is_string(k) && json_is_string(key)) {
            sbuf_printf(b, "%s/%s", json_string_value(k), json_string_value(key));
        } else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
            if (s)
                sbuf_adds(b, s);
            xfree(s); /* jansson allocates with malloc */
        }
        break;
    }
    default:
        TG_BUG("unknown JSON type");
    }
}

void out_csv_field(struct sbuf *b, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        sbuf_adds(b, s);
        return;
    }
    sbuf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            sbuf_addc(b, '"');
        sbuf_addc(b, *s);
    }
    sbuf_addc(b, '"');
}

void out_tsv_field(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\t':
            sbuf_adds(b, "\\t");
            break;
        case '\n':
            sbuf_adds(b, "\\n");
            break;
        case '\r':
            sbuf_adds(b, "\\r");
            break;
        case '\\':
            sbuf_adds(b, "\\\\");
            break;
        default:
            sbuf_addc(b, *s);
        }
    }
}

/* ---- YAML ---- */

/* A string YAML would read back as itself without quotes. */
static bool yaml_plain(const char *s)
{
    static const char *const reserved[] = {"true", "false", "null", "yes", "no", "on", "off",
                                           "y", "n", "~", NULL};
    if (*s == '\0' || strchr("-?:,[]{}#&*!|>'\"%@`. ", *s) || s[strlen(s) - 1] == ' ')
        return false;
    for (int i = 0; reserved[i]; i++)
        if (strcasecmp(s, reserved[i]) == 0)
            return false;
    if (*s >= '0' && *s <= '9')
        return false; /* a number, a date or a time to YAML 1.1 readers */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if ((*p == ':' && (p[1] == ' ' || p[1] == '\0')) || (*p == ' ' && p[1] == '#'))
            return false;
    }
    return true;
}

/* A JSON string is a valid YAML double-quoted scalar. */
static void yaml_str(struct sbuf *b, const char *s, size_t n)
{
    json_t *j;
    char *d;
    if (yaml_plain(s) && strlen(s) == n) {
        sbuf_add(b, s, n);
        return;
    }
    j = json_stringn(s, n);
    d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    sbuf_adds(b, d ? d : "\"\"");
    xfree(d); /* jansson allocates with malloc */
    json_decref(j);
}

static void indent_to(struct sbuf *b, int n)
{
    for (int i = 0; i < n; i++)
        sbuf_addc(b, ' ');
}

void out_yaml(struct sbuf *b, json_t *v, int indent)
{
    const char *k;
    json_t *e;
    size_t i;
    bool first = true;

    if (json_is_object(v) && json_object_size(v) > 0) {
        json_object_foreach(v, k, e) {
            if (!first)
                indent_to(b, indent);
            first = false;
            yaml_str(b, k, strlen(k));
            sbuf_addc(b, ':');
            if ((json_is_object(e) && json_object_size(e)) ||
                (json_is_array(e) && json_array_size(e))) {
                sbuf_addc(b, '\n');
                indent_to(b, indent + 2);
                out_yaml(b, e, indent + 2);
            } else {
                sbuf_addc(b, ' ');
                out_yaml(b, e, indent + 2);
            }
        }
        return;
    }
    if (json_is_array(v) && json_array_size(v) > 0) {
        json_array_foreach(v, i, e) {
            if (i)
                indent_to(b, indent);
            sbuf_adds(b, "- ");
            out_yaml(b, e, indent + 2);
        }
        return;
    }
    if (json_is_object(v))
        sbuf_adds(b, "{}");
    else if (json_is_array(v))
        sbuf_adds(b, "[]");
    else if (json_is_string(v))
        yaml_str(b, json_string_value(v), json_string_length(v));
    else if (json_is_null(v))
        sbuf_adds(b, "null");
    else
        out_cell_text(v, b);
    sbuf_addc(b, '\n');
}

/* ---- tables ---- */

int out_term_width(int fd)
{
    struct winsize ws;
    const char *c = getenv("COLUMNS");
    if (c && *c) {
        long n = strtol(c, NULL, 10);
        if (n > 0 && n < 100000)
            return (int)n;
    }
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 0;
}

/* Display cells of UTF-8 text (wide characters count two); invalid bytes count one. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    const uint8_t *p = (const uint8_t *)s;
    while (*p) {
        ucs4_t uc;
        int n = u8_mbtouc(&uc, p, strlen((const char *)p));
        int cw = uc_width(uc, "UTF-8");
        w += cw < 0 ? 1 : (size_t)cw;
        p += n > 0 ? n : 1;
    }
    return w;
}

/* Appends `s` padded or cut to `w` cells; control characters become '?'. */
static void cell_put(struct sbuf *b, const char *s, size_t w, bool pad)
{
    size_t used = 0, total = text_width(s);
    const uint8_t *p = (const uint8_t *)s;
    bool cut = total > w;
    size_t room = cut ? (w ? w - 1 : 0) : w;
    while (*p) {
        ucs4_t uc;
        int n = u8_mbtouc(&uc, p, strlen((const char *)p));
        int cw = uc_width(uc, "UTF-8");
        size_t c = cw < 0 ? 1 : (size_t)cw;
        if (n <= 0)
            n = 1;
        if (used + c > room)
            break;
        if (uc < 0x20 || uc == 0x7f || (uc >= 0x80 && uc < 0xa0))
            sbuf_addc(b, '?');
        else
            sbuf_add(b, p, (size_t)n);
        used += c;
        p += n;
    }
    if (cut && w) {
        sbuf_adds(b, "\xe2\x80\xa6"); /* … */
        used++;
    }
    if (pad)
        for (; used < w; used++)
            sbuf_addc(b, ' ');
}

void out_fit(size_t *w, const size_t *floor, size_t n, size_t width)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i] + (i ? 2 : 0);
    while (width && total > width) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (w[i] > floor[i] && (best == n || w[i] > w[best]))
                best = i;
        if (best == n)
            break; /* nothing can give way: the terminal wraps */
        w[best]--;
        total--;
    }
}

static size_t ncols(const struct out *o)
{
    size_t n = 0;
    while (o->cols[n].head)
        n++;
    return n;
}

static void table_print(struct out *o)
{
    size_t n = ncols(o), rows = json_array_size(o->rows);
    size_t *w = xcalloc(n, sizeof(*w)), *fl = xcalloc(n, sizeof(*fl));
    char **cells = xcalloc((rows + 1) * n, sizeof(*cells));
    struct sbuf b;

    sbuf_init(&b, 0);
    for (size_t c = 0; c < n; c++) {
        cells[c] = xstrdup(o->cols[c].head);
        w[c] = text_width(cells[c]);
        fl[c] = w[c] < 12 ? w[c] : 12;
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < n; c++) {
            json_t *v = out_path(json_array_get(o->rows, r), o->cols[c].path);
            size_t cw;
            sbuf_reset(&b);
            if (v == NULL || json_is_null(v))
                sbuf_adds(&b, "-");
            else
                out_cell_text(v, &b);
            cells[(r + 1) * n + c] = sbuf_detach(&b, NULL);
            if (cells[(r + 1) * n + c] == NULL)
                cells[(r + 1) * n + c] = xstrdup("");
            cw = text_width(cells[(r + 1) * n + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    }
    out_fit(w, fl, n, (size_t)o->width);
    for (size_t r = 0; r <= rows; r++) {
        sbuf_reset(&b);
        if (r == 0 && o->color)
            sbuf_adds(&b, "\033[1m");
        for (size_t c = 0; c < n; c++) {
            if (c)
                sbuf_adds(&b, "  ");
            cell_put(&b, cells[r * n + c], w[c], c + 1 < n);
        }
        if (r == 0 && o->color)
            sbuf_adds(&b, "\033[0m");
        while (b.len && b.buf[b.len - 1] == ' ')
            b.buf[--b.len] = '\0';
        sbuf_addc(&b, '\n');
        fwrite(b.buf, 1, b.len, o->f);
    }
    for (size_t i = 0; i < (rows + 1) * n; i++)
        xfree(cells[i]);
    xfree(cells);
    xfree(w);
    xfree(fl);
    sbuf_release(&b);
}

/* ---- the listing ---- */

void out_begin(struct out *o)
{
    struct sbuf b;
    o->n = 0;
    o->rows = NULL;
    if (o->quiet)
        return;
    switch (o->fmt) {
    case OUT_TABLE:
        o->rows = json_array();
        break;
    case OUT_JSON:
        fputs("[", o->f);
        break;
    case OUT_CSV:
    case OUT_TSV:
        sbuf_init(&b, 0);
        for (size_t c = 0; o->cols[c].head; c++) {
            if (c)
                sbuf_addc(&b, o->fmt == OUT_CSV ? ',' : '\t');
            sbuf_adds(&b, o->cols[c].path);
        }
        sbuf_addc(&b, '\n');
        fwrite(b.buf, 1, b.len, o->f);
        sbuf_release(&b);
        break;
    case OUT_JSONL:
    case OUT_YAML:
        break;
    default:
        TG_BUG("unknown output format");
    }
}

void out_item(struct out *o, json_t *item)
{
    struct sbuf b;
    char *s;

    sbuf_init(&b, 0);
    if (o->quiet) {
        json_t *v = out_path(item, o->id_path ? o->id_path : "id");
        if (v)
            out_cell_text(v, &b);
        sbuf_addc(&b, '\n');
        goto write;
    }
    switch (o->fmt) {
    case OUT_TABLE:
        json_array_append(o->rows, item);
        break;
    case OUT_JSON:
        s = json_dumps(item, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        sbuf_printf(&b, "%s\n  ", o->n ? "," : "");
        for (char *p = s; p && *p; p++) {
            sbuf_addc(&b, *p);
            if (*p == '\n')
                sbuf_adds(&b, "  ");
        }
        xfree(s); /* jansson allocates with malloc */
        break;
    case OUT_JSONL:
        s = json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER);
        sbuf_printf(&b, "%s\n", s ? s : "null");
        xfree(s); /* jansson allocates with malloc */
        break;
    case OUT_YAML:
        sbuf_adds(&b, "- ");
        out_yaml(&b, item, 2);
        break;
    case OUT_CSV:
    case OUT_TSV: {
        struct sbuf cell;
        sbuf_init(&cell, 0);
        for (size_t c = 0; o->cols[c].head; c++) {
            json_t *v = out_path(item, o->cols[c].path);
            sbuf_reset(&cell);
            if (v)
                out_cell_text(v, &cell);
            if (c)
                sbuf_addc(&b, o->fmt == OUT_CSV ? ',' : '\t');
            if (o->fmt == OUT_CSV)
                out_csv_field(&b, sbuf_str(&cell));
            else
                out_tsv_field(&b, sbuf_str(&cell));
        }
        sbuf_release(&cell);
        sbuf_addc(&b, o->fmt == OUT_CSV ? '\r' : '\n');
        if (o->fmt == OUT_CSV)
            sbuf_addc(&b, '\n');
        break;
    }
    default:
        TG_BUG("unknown output format");
    }
write:
    if (b.len)
        fwrite(b.buf, 1, b.len, o->f);
    sbuf_release(&b);
    o->n++;
}

void out_end(struct out *o)
{
    if (o->quiet)
        return;
    if (o->fmt == OUT_TABLE) {
        if (json_array_size(o->rows) > 0)
            table_print(o);
        json_decref(o->rows);
        o->rows = NULL;
    } else if (o->fmt == OUT_JSON) {
        fputs(o->n ? "\n]\n" : "]\n", o->f);
    } else if (o->fmt == OUT_YAML && o->n == 0) {
        fputs("[]\n", o->f);
    }
    fflush(o->f);
}

void out_object(struct out *o, json_t *obj)
{
    struct sbuf b;
    char *s;
    const char *k;
    json_t *v;

    if (o->quiet || o->fmt == OUT_JSONL || o->fmt == OUT_CSV || o->fmt == OUT_TSV) {
        const struct out_col *saved = o->cols;
        struct out_col *own = NULL;
        if (o->cols == NULL) {
            /* No column set for this answer: every field is a column. */
            size_t n = 0;
            own = xcalloc(json_object_size(obj) + 1, sizeof(*own));
            json_object_foreach(obj, k, v) {
                own[n].head = k;
                own[n++].path = k;
            }
            o->cols = own;
        }
        out_begin(o);
        out_item(o, obj);
        out_end(o);
        o->cols = saved;
        xfree(own);
        return;
    }
    sbuf_init(&b, 0);
    if (o->fmt == OUT_JSON) {
        s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        sbuf_printf(&b, "%s\n", s ? s : "null");
        xfree(s); /* jansson allocates with malloc */
    } else if (o->fmt == OUT_YAML) {
        out_yaml(&b, obj, 0);
    } else {
        size_t kw = 0;
        struct sbuf cell;
        sbuf_init(&cell, 0);
        json_object_foreach(obj, k, v) {
            if (strlen(k) > kw)
                kw = strlen(k);
        }
        json_object_foreach(obj, k, v) {
            sbuf_reset(&cell);
            if (json_is_null(v))
                sbuf_adds(&cell, "-");
            else
                out_cell_text(v, &cell);
            if (o->color)
                sbuf_adds(&b, "\033[1m");
            cell_put(&b, k, kw, true);
            if (o->color)
                sbuf_adds(&b, "\033[0m");
            sbuf_adds(&b, "  ");
            cell_put(&b, sbuf_str(&cell),
                     o->width && (size_t)o->width > kw + 2 + 12 ? (size_t)o->width - kw - 2
                                                                : text_width(sbuf_str(&cell)),
                     false);
            sbuf_addc(&b, '\n');
        }
        sbuf_release(&cell);
    }
    fwrite(b.buf, 1, b.len, o->f);
    fflush(o->f);
    sbuf_release(&b);
}
