/* tagctl/cmd.c: the commands, noun then verb, and their table.
 *
 * Each command parses its words and flags, makes one or more calls to the native API through
 * client.c and renders through out.c; nothing here knows HTTP beyond paths and JSON bodies. A
 * resource is KIND/KEY on the command line (the key may hold slashes; it is percent-encoded in
 * the path). Commands that read take --as-of, which they pass to the server as its as_of
 * parameter (docs/api.md, Reading the past): the server answers from its history. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tagctl/tagctl.h"
#include "util/mem.h"
#include "util/timeu.h"

volatile int tc_stop;

static const struct out_col tag_cols[] = {
    {"ID", "id"},         {"NAME", "name"},     {"COLOR", "color"},   {"GROUP", "group_id"},
    {"SOURCE", "source"}, {"DELETED", "deleted"}, {"DESCRIPTION", "description"}, {NULL, NULL}};
static const struct out_col group_cols[] = {{"ID", "id"},
                                            {"NAME", "name"},
                                            {"EXCLUSIVE", "exclusive"},
                                            {"CONFLICT", "conflict"},
                                            {"POSITION", "position"},
                                            {"TAGS", "tags"},
                                            {NULL, NULL}};
static const struct out_col res_cols[] = {{"ID", "id"},         {"KIND", "kind"},
                                          {"KEY", "key"},       {"NAME", "name"},
                                          {"PARENT", "parent"}, {"ARCHIVED", "archived"},
                                          {NULL, NULL}};
static const struct out_col asg_cols[] = {{"TAG", "name"},
                                          {"INHERITED_FROM", "inherited_from"},
                                          {"CONTEXT", "context"},
                                          {"ADDED_BY", "added_by"},
                                          {"ADDED_AT", "added_at"},
                                          {NULL, NULL}};
static const struct out_col change_cols[] = {
    {"REVISION", "revision"}, {"AT", "at"},         {"PRINCIPAL", "principal"},
    {"ENTITY", "entity"},     {"ID", "entity_id"},  {"OP", "op"},
    {"NAME", "after.name"},   {NULL, NULL}};
static const struct out_col token_cols[] = {
    {"ID", "id"},     {"NAME", "name"},    {"KIND", "kind"},           {"RIGHTS", "rights"},
    {"ORG", "organization_id"}, {"EXPIRES", "expires_at"}, {"REVOKED", "revoked_at"},
    {NULL, NULL}};
static const struct out_col org_cols[] = {{"ID", "id"},
                                          {"NAME", "name"},
                                          {"WORKSPACE", "default_workspace_id"},
                                          {"CREATED", "created_at"},
                                          {NULL, NULL}};
static const struct out_col source_cols[] = {{"NAME", "name"},
                                             {"ORIGIN", "origin"},
                                             {"URL", "url"},
                                             {"REFRESHED", "refreshed_at"},
                                             {"ERROR", "last_error"},
                                             {NULL, NULL}};
static const struct out_col refresh_cols[] = {
    {"NAME", "name"},       {"OK", "ok"},           {"CREATED", "created"},
    {"UPDATED", "updated"}, {"DELETED", "deleted"}, {"UNCHANGED", "unchanged"},
    {"CONFLICTS", "conflicts"}, {"ERROR", "error"}, {NULL, NULL}};
static const struct out_col user_cols[] = {{"ID", "id"},
                                           {"LOGIN", "login"},
                                           {"RIGHTS", "rights"},
                                           {"DISABLED", "disabled"},
                                           {NULL, NULL}};

/* ---- helpers ---- */

#define ARG(x, i) ((x)->a->pos[(x)->a->npos - (x)->nargs + (i)])


bool cmd_split_ref(const char *s, char **kind, const char **key)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash[1] == '\0')
        return false;
    *kind = xstrndup(s, (size_t)(slash - s));
    *key = slash + 1;
    return true;
}

static void use(struct tc_ctx *x, const struct out_col *cols, const char *id_path)
{
    x->out.cols = cols;
    x->out.id_path = id_path;
}

static int item_out(void *ctx, json_t *item)
{
    struct out *o = ctx;
    out_item(o, item);
    /* A reader that went away (tagctl tags list | head): fetch no more pages. */
    return ferror(o->f) ? TC_ERROR : TC_OK;
}

/* Lists every item at `path` (paged) through the ctx's output. */
static int show_list(struct tc_ctx *x, const char *path)
{
    int rc;
    out_begin(&x->out);
    rc = client_list(x->cl, path, x->cap, item_out, &x->out, NULL);
    out_end(&x->out);
    return rc;
}

/* Renders an array the caller owns (and hands over), up to --limit. */
static int show_array(struct tc_ctx *x, json_t *arr)
{
    size_t i;
    json_t *it;
    out_begin(&x->out);
    json_array_foreach(arr, i, it) {
        if (x->cap > 0 && (long)i >= x->cap)
            break;
        out_item(&x->out, it);
    }
    out_end(&x->out);
    json_decref(arr);
    return TC_OK;
}

/* One call whose answer is an object to show (or nothing, for 204). Takes `body`. */
static int show_call(struct tc_ctx *x, const char *method, const char *path, json_t *body)
{
    struct tc_resp r;
    int rc = client_call(x->cl, method, path, body, &r);
    json_decref(body);
    if (rc == TC_OK && json_is_object(r.body)) {
        json_t *items = json_object_get(r.body, "items");
        if (json_is_array(items) && x->out.cols != NULL)
            show_array(x, json_incref(items));
        else
            out_object(&x->out, r.body);
    }
    resp_release(&r);
    return rc;
}

static void tag_path(struct sbuf *b, const char *ref, const char *suffix)
{
    sbuf_adds(b, "/v1/tags/");
    url_escape(b, ref);
    if (suffix)
        sbuf_adds(b, suffix);
}

static int res_path(struct sbuf *b, const char *ref, const char *suffix)
{
    char *kind;
    const char *key;
    if (!cmd_split_ref(ref, &kind, &key))
        return tc_fail(TC_USAGE, "a resource is KIND/KEY, not '%s'", ref);
    sbuf_adds(b, "/v1/resources/");
    url_escape(b, kind);
    sbuf_addc(b, '/');
    url_escape(b, key);
    if (suffix)
        sbuf_adds(b, suffix);
    xfree(kind);
    return TC_OK;
}

static json_t *ref_json(const char *ref)
{
    char *kind;
    const char *key;
    json_t *j;
    if (!cmd_split_ref(ref, &kind, &key))
        return NULL;
    j = json_pack("{s:s,s:s}", "kind", kind, "key", key);
    xfree(kind);
    return j;
}

static int parse_long(const char *flag, const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = s ? strtol(s, &end, 10) : 0;
    if (s == NULL || *s == '\0' || *end || errno || v < min || v > max)
        return tc_fail(TC_USAGE, "%s wants a whole number from %ld to %ld, not '%s'", flag, min,
                       max, s ? s : "");
    *out = v;
    return TC_OK;
}

/* --flag=value as a JSON value: "" is null (it clears a field). */
static void set_str_or_null(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, *v ? json_string(v) : json_null());
}

static int set_bool_flag(struct tc_ctx *x, json_t *o, const char *flag, const char *key)
{
    const char *v = args_get(x->a, flag);
    bool b;
    if (v == NULL)
        return TC_OK;
    if (!args_parse_bool(v, &b))
        return tc_fail(TC_USAGE, "--%s wants true or false, not '%s'", flag, v);
    json_object_set_new(o, key, json_boolean(b));
    return TC_OK;
}

static int set_int_flag(struct tc_ctx *x, json_t *o, const char *flag, const char *key, bool nullable)
{
    const char *v = args_get(x->a, flag);
    long n = 0; /* parse_long sets it only on success, which -O3 cannot see */
    int rc;
    if (v == NULL)
        return TC_OK;
    if (nullable && *v == '\0') {
        json_object_set_new(o, key, json_null());
        return TC_OK;
    }
    rc = parse_long(flag, v, 0, 1L << 53, &n);
    if (rc == TC_OK)
        json_object_set_new(o, key, json_integer(n));
    return rc;
}

/* Every --l10n LANG=TEXT as {"LANG": "TEXT"}; --l10n '' clears them. */
static int set_l10n(struct tc_ctx *x, json_t *o)
{
    json_t *l = NULL;
    for (int i = 0; i < x->a->nflags; i++) {
        const char *v = x->a->flags[i].val, *eq;
        if (strcmp(x->a->flags[i].name, "l10n") != 0)
            continue;
        if (*v == '\0') {
            json_decref(l);
            l = json_null();
            continue;
        }
        eq = strchr(v, '=');
        if (eq == NULL || eq == v) {
            json_decref(l);
            return tc_fail(TC_USAGE, "--l10n wants LANG=TEXT (de-DE=E-Mail), not '%s'", v);
        }
        if (!json_is_object(l)) {
            json_decref(l);
            l = json_object();
        }
        {
            char *lang = xstrndup(v, (size_t)(eq - v));
            json_object_set_new(l, lang, json_string(eq + 1));
            xfree(lang);
        }
    }
    if (l)
        json_object_set_new(o, "l10n", l);
    return TC_OK;
}

static int tag_body(struct tc_ctx *x, json_t *o)
{
    int rc;
    set_str_or_null(o, "color", args_get(x->a, "color"));
    set_str_or_null(o, "description", args_get(x->a, "description"));
    set_str_or_null(o, "display_name", args_get(x->a, "display-name"));
    set_str_or_null(o, "source", args_get(x->a, "source"));
    rc = set_int_flag(x, o, "group", "group_id", true);
    if (rc == TC_OK)
        rc = set_int_flag(x, o, "position", "position", false);
    if (rc == TC_OK)
        rc = set_bool_flag(x, o, "protected", "protected");
    if (rc == TC_OK)
        rc = set_bool_flag(x, o, "archived", "archived");
    if (rc == TC_OK)
        rc = set_l10n(x, o);
    return rc;
}

/* If-Match from --if-match N. */
static const char *if_match(struct tc_ctx *x)
{
    return args_get(x->a, "if-match");
}

/* Calls with an If-Match header when --if-match is given (a write that must not overwrite
 * someone else's: 412 and exit 4 when the version moved on). */
static int call_if_match(struct tc_ctx *x, const char *method, const char *path, json_t *body);

/* ---- as-of ---- */

/* Adds the server's as_of parameter for --as-of, after checking its form here (a malformed
 * one is a usage error before any call). */
static int as_of_query(struct tc_ctx *x, struct sbuf *p)
{
    long long rev;
    int64_t ms;
    if (x->a->as_of == NULL)
        return TC_OK;
    if (!asof_parse(x->a->as_of, &rev, &ms))
        return tc_fail(TC_USAGE, "--as-of wants a revision number or an ISO-8601 time, not '%s'",
                       x->a->as_of);
    url_query(p, "as_of", x->a->as_of);
    return TC_OK;
}

/* ---- tags ---- */

static int c_tags_list(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, tag_cols, "id");
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/tags");
    url_query(&p, "prefix", args_get(x->a, "prefix"));
    url_query(&p, "q", args_get(x->a, "search"));
    url_query(&p, "source", args_get(x->a, "source"));
    url_query(&p, "group", args_get(x->a, "group"));
    url_query(&p, "archived", args_get(x->a, "archived"));
    url_query(&p, "deleted", args_get(x->a, "deleted"));
    url_query(&p, "kind", args_get(x->a, "kind"));
    rc = as_of_query(x, &p);
    if (rc == TC_OK)
        rc = show_list(x, sbuf_str(&p));
    sbuf_release(&p);
    return rc;
}

static int c_tags_get(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, tag_cols, "id");
    sbuf_init(&p, 0);
    tag_path(&p, ARG(x, 0), NULL);
    rc = as_of_query(x, &p);
    if (rc == TC_OK)
        rc = show_call(x, "GET", sbuf_str(&p), NULL);
    sbuf_release(&p);
    return rc;
}

static int c_tags_create(struct tc_ctx *x)
{
    json_t *o;
    int rc;
    use(x, tag_cols, "id");
    if (x->nargs > 1) {
        /* Several names: one atomic batch. */
        json_t *arr = json_array();
        for (int i = 0; i < x->nargs; i++) {
            json_t *t = json_pack("{s:s}", "name", ARG(x, i));
            rc = tag_body(x, t);
            json_array_append_new(arr, t);
            if (rc) {
                json_decref(arr);
                return rc;
            }
        }
        return show_call(x, "POST", "/v1/tags", json_pack("{s:o}", "tags", arr));
    }
    o = json_pack("{s:s}", "name", ARG(x, 0));
    rc = tag_body(x, o);
    if (rc) {
        json_decref(o);
        return rc;
    }
    return show_call(x, "POST", "/v1/tags", o);
}

static int tag_patch(struct tc_ctx *x, const char *ref, json_t *o)
{
    struct sbuf p;
    int rc;
    use(x, tag_cols, "id");
    sbuf_init(&p, 0);
    tag_path(&p, ref, NULL);
    rc = call_if_match(x, "PATCH", sbuf_str(&p), o);
    sbuf_release(&p);
    return rc;
}

static int c_tags_update(struct tc_ctx *x)
{
    json_t *o = json_object();
    int rc = tag_body(x, o);
    if (rc == TC_OK && args_get(x->a, "name"))
        json_object_set_new(o, "name", json_string(args_get(x->a, "name")));
    if (rc == TC_OK && json_object_size(o) == 0)
        rc = tc_fail(TC_USAGE, "tags update: nothing to change (see tagctl help tags update)");
    if (rc) {
        json_decref(o);
        return rc;
    }
    return tag_patch(x, ARG(x, 0), o);
}

static int c_tags_rename(struct tc_ctx *x)
{
    return tag_patch(x, ARG(x, 0), json_pack("{s:s}", "name", ARG(x, 1)));
}

/* Moving is renaming: the tag keeps its last segment under its new parent. */
static int c_tags_move(struct tc_ctx *x)
{
    struct sbuf p, name;
    struct tc_resp r;
    const char *cur, *last;
    bool root = args_bool(x->a, "root");
    int rc;

    if ((x->nargs == 2) == root)
        return tc_fail(TC_USAGE, "tags move: give a new parent or --root, not both or neither");
    sbuf_init(&p, 0);
    sbuf_init(&name, 0);
    tag_path(&p, ARG(x, 0), NULL);
    rc = client_call(x->cl, "GET", sbuf_str(&p), NULL, &r);
    if (rc == TC_OK) {
        cur = json_string_value(json_object_get(r.body, "name"));
        last = cur ? strrchr(cur, '.') : NULL;
        last = last ? last + 1 : cur ? cur : "";
        if (root)
            sbuf_adds(&name, last);
        else
            sbuf_printf(&name, "%s.%s", ARG(x, 1), last);
        rc = tag_patch(x, ARG(x, 0), json_pack("{s:s}", "name", sbuf_str(&name)));
    }
    resp_release(&r);
    sbuf_release(&p);
    sbuf_release(&name);
    return rc;
}

static int c_tags_delete(struct tc_ctx *x)
{
    struct sbuf p;
    int rc = TC_OK;
    sbuf_init(&p, 0);
    for (int i = 0; i < x->nargs && rc == TC_OK; i++) {
        sbuf_reset(&p);
        tag_path(&p, ARG(x, i), NULL);
        if (args_bool(x->a, "recursive"))
            url_query(&p, "recursive", "true");
        if (args_bool(x->a, "purge"))
            url_query(&p, "purge", "true");
        rc = call_if_match(x, "DELETE", sbuf_str(&p), NULL);
    }
    sbuf_release(&p);
    return rc;
}

static int c_tags_restore(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, tag_cols, "id");
    sbuf_init(&p, 0);
    tag_path(&p, ARG(x, 0), ":restore");
    rc = show_call(x, "POST", sbuf_str(&p), NULL);
    sbuf_release(&p);
    return rc;
}

/* The tag's name as of --as-of, quoted for the query language. */
static int tag_query_name(struct tc_ctx *x, const char *ref, struct sbuf *q)
{
    struct sbuf p;
    struct tc_resp r;
    const char *name;
    int rc;
    sbuf_init(&p, 0);
    tag_path(&p, ref, NULL);
    rc = as_of_query(x, &p);
    if (rc == TC_OK)
        rc = client_call(x->cl, "GET", sbuf_str(&p), NULL, &r);
    sbuf_release(&p);
    if (rc)
        return rc;
    name = json_string_value(json_object_get(r.body, "name"));
    sbuf_addc(q, '"');
    for (; name && *name; name++) {
        if (*name == '"' || *name == '\\')
            sbuf_addc(q, '\\');
        sbuf_addc(q, *name);
    }
    sbuf_addc(q, '"');
    resp_release(&r);
    return TC_OK;
}

static int c_tags_resources(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, res_cols, "");
    if (x->a->as_of) {
        /* The server keeps the past of tag queries, not of this route: the same set is the
         * query NAME (with --descendants, NAME.*) as of then. */
        struct sbuf q;
        sbuf_init(&q, 0);
        rc = tag_query_name(x, ARG(x, 0), &q);
        if (rc == TC_OK && args_bool(x->a, "descendants"))
            sbuf_adds(&q, ".*");
        sbuf_init(&p, 0);
        sbuf_adds(&p, "/v1/resources");
        url_query(&p, "query", sbuf_str(&q));
        if (rc == TC_OK)
            rc = as_of_query(x, &p);
        if (rc == TC_OK)
            rc = show_list(x, sbuf_str(&p));
        sbuf_release(&p);
        sbuf_release(&q);
        return rc;
    }
    sbuf_init(&p, 0);
    tag_path(&p, ARG(x, 0), "/resources");
    if (args_bool(x->a, "descendants"))
        url_query(&p, "descendants", "true");
    rc = show_list(x, sbuf_str(&p));
    sbuf_release(&p);
    return rc;
}

/* ---- groups ---- */

static int group_body(struct tc_ctx *x, json_t *o)
{
    int rc = set_bool_flag(x, o, "exclusive", "exclusive");
    if (rc == TC_OK)
        rc = set_int_flag(x, o, "position", "position", false);
    if (rc == TC_OK)
        rc = set_l10n(x, o);
    if (rc == TC_OK && args_get(x->a, "name"))
        json_object_set_new(o, "name", json_string(args_get(x->a, "name")));
    /* The server checks the policy's name and answers a clear 400. */
    if (rc == TC_OK && args_get(x->a, "conflict"))
        json_object_set_new(o, "conflict", json_string(args_get(x->a, "conflict")));
    return rc;
}

static void group_path(struct sbuf *b, const char *id, const char *suffix)
{
    sbuf_adds(b, "/v1/groups/");
    url_escape(b, id);
    if (suffix)
        sbuf_adds(b, suffix);
}

static int c_groups_list(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, group_cols, "id");
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/groups");
    rc = as_of_query(x, &p);
    if (rc == TC_OK)
        rc = show_list(x, sbuf_str(&p));
    sbuf_release(&p);
    return rc;
}

static int c_groups_get(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, group_cols, "id");
    sbuf_init(&p, 0);
    group_path(&p, ARG(x, 0), NULL);
    rc = as_of_query(x, &p);
    if (rc == TC_OK)
        rc = show_call(x, "GET", sbuf_str(&p), NULL);
    sbuf_release(&p);
    return rc;
}

static int c_groups_create(struct tc_ctx *x)
{
    json_t *o = json_pack("{s:s}", "name", ARG(x, 0));
    int rc = group_body(x, o);
    use(x, group_cols, "id");
    if (rc) {
        json_decref(o);
        return rc;
    }
    return show_call(x, "POST", "/v1/groups", o);
}

static int c_groups_update(struct tc_ctx *x)
{
    struct sbuf p;
    json_t *o = json_object();
    int rc = group_body(x, o);
    use(x, group_cols, "id");
    if (rc == TC_OK && json_object_size(o) == 0)
        rc = tc_fail(TC_USAGE, "groups update: nothing to change (see tagctl help groups update)");
    if (rc) {
        json_decref(o);
        return rc;
    }
    sbuf_init(&p, 0);
    group_path(&p, ARG(x, 0), NULL);
    rc = call_if_match(x, "PATCH", sbuf_str(&p), o);
    sbuf_release(&p);
    return rc;
}

static int c_groups_rename(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, group_cols, "id");
    sbuf_init(&p, 0);
    group_path(&p, ARG(x, 0), NULL);
    rc = call_if_match(x, "PATCH", sbuf_str(&p), json_pack("{s:s}", "name", ARG(x, 1)));
    sbuf_release(&p);
    return rc;
}

static int c_groups_delete(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    sbuf_init(&p, 0);
    group_path(&p, ARG(x, 0), NULL);
    rc = show_call(x, "DELETE", sbuf_str(&p), NULL);
    sbuf_release(&p);
    return rc;
}

static int c_groups_set_tags(struct tc_ctx *x)
{
    struct sbuf p;
    json_t *tags = json_array();
    int rc;
    use(x, group_cols, "id");
    for (int i = 1; i < x->nargs; i++)
        json_array_append_new(tags, json_string(ARG(x, i)));
    sbuf_init(&p, 0);
    group_path(&p, ARG(x, 0), "/tags");
    rc = show_call(x, "PUT", sbuf_str(&p), json_pack("{s:o}", "tags", tags));
    sbuf_release(&p);
    return rc;
}

/* ---- resources ---- */

static int c_res_list(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, res_cols, "");
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/resources");
    url_query(&p, "kind", args_get(x->a, "kind"));
    url_query(&p, "parent", args_get(x->a, "parent"));
    url_query(&p, "tag", args_get(x->a, "tag"));
    url_query(&p, "archived", args_get(x->a, "archived"));
    rc = as_of_query(x, &p);
    if (rc == TC_OK)
        rc = show_list(x, sbuf_str(&p));
    sbuf_release(&p);
    return rc;
}

static int c_res_get(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, res_cols, "");
    sbuf_init(&p, 0);
    rc = res_path(&p, ARG(x, 0), NULL);
    if (rc == TC_OK)
        rc = as_of_query(x, &p);
    if (rc == TC_OK)
        rc = show_call(x, "GET", sbuf_str(&p), NULL);
    sbuf_release(&p);
    return rc;
}

static int c_res_put(struct tc_ctx *x)
{
    struct sbuf p;
    json_t *o = json_object();
    const char *parent = args_get(x->a, "parent"), *doc = args_get(x->a, "document");
    int rc;

    use(x, res_cols, "");
    set_str_or_null(o, "name", args_get(x->a, "name"));
    if (parent && args_bool(x->a, "no-parent")) {
        json_decref(o);
        return tc_fail(TC_USAGE, "resources put: --parent and --no-parent exclude each other");
    }
    if (parent) {
        json_t *pr = ref_json(parent);
        if (pr == NULL) {
            json_decref(o);
            return tc_fail(TC_USAGE, "--parent is KIND/KEY, not '%s'", parent);
        }
        json_object_set_new(o, "parent", pr);
    }
    if (args_bool(x->a, "no-parent"))
        json_object_set_new(o, "parent", json_null());
    rc = set_bool_flag(x, o, "archived", "archived");
    if (rc == TC_OK && doc) {
        json_error_t je;
        json_t *d = json_loads(doc, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (d == NULL)
            rc = tc_fail(TC_USAGE, "--document is not JSON: %s", je.text);
        else
            json_object_set_new(o, "document", d);
    }
    sbuf_init(&p, 0);
    if (rc == TC_OK)
        rc = res_path(&p, ARG(x, 0), NULL);
    if (rc == TC_OK)
        rc = show_call(x, "PUT", sbuf_str(&p), o);
    else
        json_decref(o);
    sbuf_release(&p);
    return rc;
}

static int c_res_delete(struct tc_ctx *x)
{
    struct sbuf p;
    int rc = TC_OK;
    sbuf_init(&p, 0);
    for (int i = 0; i < x->nargs && rc == TC_OK; i++) {
        sbuf_reset(&p);
        rc = res_path(&p, ARG(x, i), NULL);
        if (rc == TC_OK)
            rc = show_call(x, "DELETE", sbuf_str(&p), NULL);
    }
    sbuf_release(&p);
    return rc;
}

/* ---- tags on resources ---- */

static int c_tag(struct tc_ctx *x)
{
    struct sbuf p;
    json_t *tags = json_array(), *o;
    int rc;
    use(x, asg_cols, "name");
    for (int i = 1; i < x->nargs; i++)
        json_array_append_new(tags, json_string(ARG(x, i)));
    o = json_pack("{s:o}", "tags", tags);
    if (args_bool(x->a, "create-missing"))
        json_object_set_new(o, "create_missing", json_true());
    if (args_get(x->a, "context"))
        json_object_set_new(o, "context", json_string(args_get(x->a, "context")));
    sbuf_init(&p, 0);
    rc = res_path(&p, ARG(x, 0), "/tags");
    if (rc == TC_OK)
        rc = show_call(x, "POST", sbuf_str(&p), o);
    else
        json_decref(o);
    sbuf_release(&p);
    return rc;
}

static int c_untag(struct tc_ctx *x)
{
    struct sbuf p;
    int rc = TC_OK;
    sbuf_init(&p, 0);
    for (int i = 1; i < x->nargs && rc == TC_OK; i++) {
        sbuf_reset(&p);
        rc = res_path(&p, ARG(x, 0), "/tags/");
        url_escape(&p, ARG(x, i));
        if (rc == TC_OK)
            rc = show_call(x, "DELETE", sbuf_str(&p), NULL);
    }
    sbuf_release(&p);
    return rc;
}

static int c_effective(struct tc_ctx *x)
{
    struct sbuf p;
    bool direct = args_bool(x->a, "direct");
    int rc;
    use(x, asg_cols, "name");
    sbuf_init(&p, 0);
    rc = res_path(&p, ARG(x, 0), "/tags");
    if (!direct)
        url_query(&p, "effective", "true");
    if (rc == TC_OK)
        rc = as_of_query(x, &p);
    if (rc == TC_OK)
        rc = show_call(x, "GET", sbuf_str(&p), NULL);
    sbuf_release(&p);
    return rc;
}

/* ---- query ---- */

static int c_query(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, res_cols, "");
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/resources");
    url_query(&p, "query", ARG(x, 0));
    url_query(&p, "kind", args_get(x->a, "kind"));
    if (args_bool(x->a, "effective"))
        url_query(&p, "effective", "true");
    url_query(&p, "archived", args_get(x->a, "archived"));
    rc = as_of_query(x, &p);
    if (rc) {
        sbuf_release(&p);
        return rc;
    }
    if (args_bool(x->a, "count")) {
        struct tc_resp r;
        url_query(&p, "count_only", "true");
        rc = client_call(x->cl, "GET", sbuf_str(&p), NULL, &r);
        if (rc == TC_OK) {
            json_t *t = json_object_get(r.body, "total");
            if (x->out.fmt == OUT_TABLE || x->out.quiet)
                fprintf(x->out.f, "%" JSON_INTEGER_FORMAT "\n", json_integer_value(t));
            else {
                json_t *o = json_pack("{s:O}", "total", t ? t : json_null());
                out_object(&x->out, o);
                json_decref(o);
            }
        }
        resp_release(&r);
    } else {
        rc = show_list(x, sbuf_str(&p));
    }
    sbuf_release(&p);
    return rc;
}

/* ---- the change log ---- */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (!tc_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Which records `history` keeps: one entity, and for a resource its assignments. */
struct hist {
    const char *entity;
    long long id;
    const char *name; /* when the id is unknown (a purged tag): match the name */
};

static bool hist_match(const struct hist *h, json_t *ch)
{
    const char *e = json_string_value(json_object_get(ch, "entity"));
    long long id = json_integer_value(json_object_get(ch, "entity_id"));
    if (e == NULL)
        return false;
    if (h->entity == NULL)
        return true;
    if (strcmp(h->entity, "resource") == 0 && strcmp(e, "assignment") == 0)
        return id == h->id;
    if (strcmp(e, h->entity) != 0)
        return false;
    if (h->id > 0)
        return id == h->id;
    if (h->name) {
        for (int i = 0; i < 2; i++) {
            json_t *o = json_object_get(ch, i ? "before" : "after");
            const char *n = json_string_value(json_object_get(o, "name"));
            if (n && strcasecmp(n, h->name) == 0)
                return true;
        }
    }
    return false;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One record of the change log on the output, unless --entity or `h` leaves it out; false once
 * --limit records were shown. */
static bool change_show(struct tc_ctx *x, json_t *it, const struct hist *h, bool table_follow,
                        long *shown)
{
    const char *only = args_get(x->a, "entity");
    const char *e = json_string_value(json_object_get(it, "entity"));

    if (only && (e == NULL || strcmp(e, only) != 0))
        return true;
    if (h && !hist_match(h, it))
        return true;
    if (x->cap > 0 && *shown >= x->cap)
        return false;
    (*shown)++;
    if (table_follow) {
        struct sbuf cell;
        json_t *name = out_path(it, "after.name");
        sbuf_init(&cell, 0);
        if (name == NULL)
            name = out_path(it, "before.name");
        if (name)
            out_cell_text(name, &cell);
        fprintf(x->out.f, "%-9lld %-24s %-20s %-10s %-8lld %-8s %s\n",
                (long long)json_integer_value(json_object_get(it, "revision")),
                json_string_value(json_object_get(it, "at")) ?: "-",
                json_string_value(json_object_get(it, "principal")) ?: "-", e ? e : "-",
                (long long)json_integer_value(json_object_get(it, "entity_id")),
                json_string_value(json_object_get(it, "op")) ?: "-",
                cell.len ? sbuf_str(&cell) : "-");
        sbuf_release(&cell);
    } else {
        out_item(&x->out, it);
    }
    return true;
}

/* The event stream (GET /v1/events, docs/events.md) read as it arrives: client_download writes
 * into a FILE whose writes this parses, one Server-Sent Event per blank line. */
struct sse {
    struct tc_ctx *x;
    const struct hist *h;
    bool table_follow, capped;
    long *shown;
    struct sbuf line, data; /* the line being read; the event's data lines */
    char event[32], id[48];
    char resume[48];        /* where a new connection goes on: the last id, or end's resume */
};

/* One whole event: a change is shown as /v1/changes would show it (its time as "at"). */
static void sse_dispatch(struct sse *st)
{
    json_t *o;

    if (st->id[0])
        snprintf(st->resume, sizeof(st->resume), "%s", st->id);
    if (st->data.len == 0)
        goto done;
    o = json_loadb(st->data.buf, st->data.len, 0, NULL);
    if (strcmp(st->event, "end") == 0) {
        /* The server ends the stream (shutdown, lagging, ...): resume where it says. */
        const char *at = json_string_value(json_object_get(o, "resume"));
        if (at && *at)
            snprintf(st->resume, sizeof(st->resume), "%s", at);
    } else if (strcmp(st->event, "change") == 0 && json_is_object(o) && !st->capped) {
        json_t *ms = json_object_get(o, "at_ms");
        if (json_is_integer(ms)) {
            char iso[32];
            time_iso(json_integer_value(ms), iso);
            json_object_set_new(o, "at", json_string(iso));
            json_object_del(o, "at_ms");
        }
        if (!change_show(st->x, o, st->h, st->table_follow, st->shown))
            st->capped = true;
        fflush(st->x->out.f);
    }
    json_decref(o);
done:
    st->event[0] = st->id[0] = '\0';
    sbuf_reset(&st->data);
}

static void sse_line(struct sse *st, const char *l, size_t n)
{
    if (n && l[n - 1] == '\r')
        n--;
    if (n == 0) {
        sse_dispatch(st);
        return;
    }
    if (l[0] == ':')
        return; /* a heartbeat */
    if (n > 6 && strncmp(l, "data: ", 6) == 0) {
        if (st->data.len)
            sbuf_addc(&st->data, '\n');
        sbuf_add(&st->data, l + 6, n - 6);
    } else if (n > 4 && strncmp(l, "id: ", 4) == 0 && n - 4 < sizeof(st->id)) {
        memcpy(st->id, l + 4, n - 4);
        st->id[n - 4] = '\0';
    } else if (n > 7 && strncmp(l, "event: ", 7) == 0 && n - 7 < sizeof(st->event)) {
        memcpy(st->event, l + 7, n - 7);
        st->event[n - 7] = '\0';
    }
}

static ssize_t sse_write(void *cookie, const char *buf, size_t n)
{
    struct sse *st = cookie;

    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            sse_line(st, st->line.buf ? st->line.buf : "", st->line.len);
            sbuf_reset(&st->line);
        } else {
            sbuf_addc(&st->line, buf[i]);
        }
    }
    /* --limit reached: a short write makes curl end the transfer. */
    return st->capped ? 0 : (ssize_t)n;
}

/* Follows the event stream from revision `since` until interrupted, --limit is reached or an
 * error; reconnects (resuming after the last event, so nothing is missed or shown twice) when
 * the server ends the stream or goes away. *fallback when the server has no event stream. */
static int follow_events(struct tc_ctx *x, long long since, const struct hist *h,
                         bool table_follow, long *shown, long interval_ms, bool *fallback)
{
    cookie_io_functions_t io = {.write = sse_write};
    struct sse st;
    bool told = false;
    int rc = TC_OK;

    memset(&st, 0, sizeof(st));
    st.x = x;
    st.h = h;
    st.table_follow = table_follow;
    st.shown = shown;
    sbuf_init(&st.line, 1 << 20);
    sbuf_init(&st.data, 1 << 20);
    snprintf(st.resume, sizeof(st.resume), "%lld", since);
    *fallback = false;
    while (!tc_stop && !st.capped) {
        struct sbuf p;
        struct tc_resp r;
        long long bytes = 0;
        FILE *f = fopencookie(&st, "w", io);

        if (f == NULL)
            return tc_fail(TC_ERROR, "error: fopencookie: %s", strerror(errno));
        setvbuf(f, NULL, _IONBF, 0);
        sbuf_init(&p, 0);
        sbuf_adds(&p, "/v1/events");
        url_query(&p, "since", st.resume);
        rc = client_download_quiet(x->cl, sbuf_str(&p), f, &bytes, &r);
        sbuf_release(&p);
        fclose(f);
        sbuf_reset(&st.line);
        st.event[0] = st.id[0] = '\0';
        sbuf_reset(&st.data);
        if (r.status == 404 && bytes == 0) {
            resp_release(&r);
            *fallback = true;
            rc = TC_OK;
            break;
        }
        /* A server answering 5xx is starting (503 while it loads) or going away: as when it
         * cannot be reached, try again. Other errors (401, 403, ...) end the follow. */
        if (r.status >= 500)
            rc = TC_UNREACHABLE;
        if (rc != TC_OK && rc != TC_UNREACHABLE && r.status != 0) {
            client_print_error(x->cl, &r);
            resp_release(&r);
            break;
        }
        resp_release(&r);
        if (rc == TC_UNREACHABLE && !tc_stop && !st.capped) {
            /* A restart of the server, or a stall: go on from the last event. */
            if (!told)
                fprintf(stderr, "tagctl: the event stream stopped; reconnecting from %s\n",
                        st.resume);
            told = true;
            nap_ms(interval_ms);
        } else {
            told = false;
        }
        rc = TC_OK;
    }
    sbuf_release(&st.line);
    sbuf_release(&st.data);
    return rc;
}

/* Reads the change log from `since`, rendering what `h` admits; with `follow`, goes on: after
 * the log's end it follows the event stream (follow_events), and where the server has none it
 * long-polls (`wait`), so a change shows as soon as it is committed; a server that answers at
 * once (long polls turned off) is polled every `interval_ms`. */
static int changes_run(struct tc_ctx *x, long long since, bool follow, long interval_ms,
                       const struct hist *h)
{
    long shown = 0;
    int rc = TC_OK;
    bool table_follow = follow && x->out.fmt == OUT_TABLE && !x->out.quiet;
    bool stream = follow; /* until the server shows it has no event stream */

    use(x, change_cols, "revision");
    if (table_follow) {
        fprintf(x->out.f, "%s%-9s %-24s %-20s %-10s %-8s %-8s %s%s\n", x->out.color ? "\033[1m" : "",
                "REVISION", "AT", "PRINCIPAL", "ENTITY", "ID", "OP", "NAME",
                x->out.color ? "\033[0m" : "");
        fflush(x->out.f);
    } else {
        out_begin(&x->out);
    }
    while (!tc_stop) {
        struct sbuf p;
        struct tc_resp r;
        json_t *items, *it;
        size_t i;
        char s[24], wait[24];
        bool capped = false;
        long long t0 = mono_ms();

        sbuf_init(&p, 0);
        snprintf(s, sizeof(s), "%lld", since);
        sbuf_adds(&p, "/v1/changes");
        url_query(&p, "since", s);
        url_query(&p, "limit", "1000");
        if (follow && !stream) {
            /* Leave the request's own --timeout room to answer after the wait. */
            long w = client_timeout(x->cl) - 5;
            if (w > 25)
                w = 25;
            if (w >= 1) {
                snprintf(wait, sizeof(wait), "%ld", w);
                url_query(&p, "wait", wait);
            }
        }
        rc = client_call(x->cl, "GET", sbuf_str(&p), NULL, &r);
        sbuf_release(&p);
        if (rc) {
            resp_release(&r);
            break;
        }
        items = json_object_get(r.body, "items");
        json_array_foreach(items, i, it) {
            if (!change_show(x, it, h, table_follow, &shown)) {
                capped = true;
                break;
            }
        }
        fflush(x->out.f);
        if (json_is_integer(json_object_get(r.body, "next_since")))
            since = json_integer_value(json_object_get(r.body, "next_since"));
        bool empty = json_array_size(items) == 0;
        resp_release(&r);
        if (capped)
            break;
        if (empty) {
            if (!follow)
                break;
            if (stream) {
                /* The log's end: from here the stream, from the revision read last. */
                bool fallback;
                rc = follow_events(x, since, h, table_follow, &shown, interval_ms, &fallback);
                if (!fallback)
                    break;
                stream = false;
                continue;
            }
            if (mono_ms() - t0 < 500)
                nap_ms(interval_ms);
        }
    }
    if (!table_follow)
        out_end(&x->out);
    /* --follow ends at SIGINT or SIGTERM, and that is its normal end. */
    if (follow && tc_stop)
        rc = TC_OK;
    return rc;
}

static int c_changes(struct tc_ctx *x)
{
    long since = 0, interval = 1000;
    const char *iv = args_get(x->a, "interval");
    int rc = TC_OK;
    if (args_get(x->a, "since"))
        rc = parse_long("--since", args_get(x->a, "since"), 0, 1L << 53, &since);
    if (rc == TC_OK && iv) {
        double secs = strtod(iv, NULL);
        if (!(secs >= 0.05 && secs <= 3600))
            return tc_fail(TC_USAGE, "--interval wants seconds from 0.05 to 3600, not '%s'", iv);
        interval = (long)(secs * 1000);
    }
    if (rc)
        return rc;
    return changes_run(x, since, args_bool(x->a, "follow"), interval, NULL);
}

static int c_history(struct tc_ctx *x)
{
    struct hist h = {NULL, 0, NULL};
    const char *kind = ARG(x, 0), *ref = ARG(x, 1);
    struct sbuf p;
    struct tc_resp r;
    int rc;

    sbuf_init(&p, 0);
    if (strcmp(kind, "tag") == 0) {
        h.entity = "tag";
        tag_path(&p, ref, NULL);
    } else if (strcmp(kind, "group") == 0) {
        h.entity = "group";
        group_path(&p, ref, NULL);
    } else if (strcmp(kind, "resource") == 0) {
        h.entity = "resource";
        rc = res_path(&p, ref, NULL);
        if (rc) {
            sbuf_release(&p);
            return rc;
        }
    } else {
        sbuf_release(&p);
        return tc_fail(TC_USAGE, "history: the entity is tag, group or resource, not '%s'", kind);
    }
    rc = client_call_quiet(x->cl, "GET", sbuf_str(&p), NULL, &r);
    if (rc == TC_OK) {
        h.id = json_integer_value(json_object_get(r.body, "id"));
    } else if (rc == TC_NOTFOUND && strcmp(kind, "tag") == 0) {
        h.name = ref; /* purged: its records still carry the name */
        rc = TC_OK;
    } else if (rc == TC_UNREACHABLE) {
        tc_fail(rc, "error: %s did not answer", x->cfg->url);
    } else {
        client_print_error(x->cl, &r);
    }
    resp_release(&r);
    sbuf_release(&p);
    if (rc)
        return rc;
    if (h.id <= 0)
        return changes_run(x, 0, false, 0, &h); /* a purged tag: its name in the whole log */
    /* The server pages the entity's own records (docs/api.md, History). */
    use(x, change_cols, "revision");
    sbuf_init(&p, 0);
    if (strcmp(kind, "resource") == 0) {
        rc = res_path(&p, ref, "/history");
    } else {
        char id[32];
        snprintf(id, sizeof(id), "%lld", h.id);
        sbuf_adds(&p, strcmp(kind, "tag") == 0 ? "/v1/tags/" : "/v1/groups/");
        sbuf_adds(&p, id);
        sbuf_adds(&p, "/history");
    }
    url_query(&p, "principal", args_get(x->a, "principal"));
    url_query(&p, "from", args_get(x->a, "from"));
    url_query(&p, "to", args_get(x->a, "to"));
    if (rc == TC_OK)
        rc = show_list(x, sbuf_str(&p));
    sbuf_release(&p);
    return rc;
}

/* ---- tokens, users, organizations, sources ---- */

static int c_tokens_list(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, token_cols, "id");
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/tokens");
    url_query(&p, "kind", args_get(x->a, "kind"));
    url_query(&p, "organization_id", x->cfg->org);
    rc = show_list(x, sbuf_str(&p));
    sbuf_release(&p);
    return rc;
}

/* --assign "Team.*,Env.prod": the tag subtree patterns as the body's "assign" list (an empty
 * value is the empty list, which allows no tag). */
static void assign_flag(struct tc_ctx *x, json_t *o)
{
    const char *v = args_get(x->a, "assign"), *p, *c;
    json_t *arr;

    if (v == NULL)
        return;
    arr = json_array();
    for (p = v; *p; p = c + 1) {
        c = strchr(p, ',');
        if (c == NULL)
            c = p + strlen(p);
        if (c > p)
            json_array_append_new(arr, json_stringn(p, (size_t)(c - p)));
        if (*c == '\0')
            break;
    }
    json_object_set_new(o, "assign", arr);
}

static int c_tokens_create(struct tc_ctx *x)
{
    json_t *o = json_object();
    const char *rights = args_get(x->a, "rights"), *exp = args_get(x->a, "expires");
    use(x, token_cols, "token");
    if (args_get(x->a, "name"))
        json_object_set_new(o, "name", json_string(args_get(x->a, "name")));
    if (rights)
        json_object_set_new(o, "rights", json_string(rights));
    if (exp)
        json_object_set_new(o, "expires_at", json_string(exp));
    if (x->cfg->org)
        json_object_set_new(o, "organization_id", json_string(x->cfg->org));
    assign_flag(x, o);
    return show_call(x, "POST", "/v1/tokens", o);
}

static int c_tokens_revoke(struct tc_ctx *x)
{
    struct sbuf p;
    int rc = TC_OK;
    sbuf_init(&p, 0);
    for (int i = 0; i < x->nargs && rc == TC_OK; i++) {
        sbuf_reset(&p);
        sbuf_adds(&p, "/v1/tokens/");
        url_escape(&p, ARG(x, i));
        rc = show_call(x, "DELETE", sbuf_str(&p), NULL);
    }
    sbuf_release(&p);
    return rc;
}

/* --no-assign: the body's "assign" is null (no limit); --assign sets a list (assign_flag). */
static void assign_or_none(struct tc_ctx *x, json_t *o)
{
    if (args_bool(x->a, "no-assign"))
        json_object_set_new(o, "assign", json_null());
    else
        assign_flag(x, o);
}

static int c_tokens_update(struct tc_ctx *x)
{
    struct sbuf p;
    json_t *o;
    int rc;
    if (args_bool(x->a, "no-assign") == (args_get(x->a, "assign") != NULL))
        return tc_fail(TC_USAGE, "tokens update: give one of --assign and --no-assign");
    use(x, token_cols, "id");
    o = json_object();
    assign_or_none(x, o);
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/tokens/");
    url_escape(&p, ARG(x, 0));
    rc = show_call(x, "PATCH", sbuf_str(&p), o);
    sbuf_release(&p);
    return rc;
}

/* A secret from stdin: without echo on a terminal, one line. Returns owned or NULL. */
static char *read_secret(const char *prompt)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (tty) {
        fputs(prompt, stderr);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    n = getline(&line, &cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (n <= 0) {
        xfree(line); /* getline allocates with malloc */
        return NULL;
    }
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static int c_users_list(struct tc_ctx *x)
{
    use(x, user_cols, "id");
    return show_list(x, "/v1/users");
}

static int c_users_create(struct tc_ctx *x)
{
    char *pw = read_secret("password: ");
    json_t *o;
    use(x, user_cols, "id");
    if (pw == NULL || *pw == '\0') {
        xfree(pw);
        return tc_fail(TC_USAGE, "users create: give the password on stdin");
    }
    o = json_pack("{s:s,s:s}", "login", ARG(x, 0), "password", pw);
    xfree(pw);
    if (args_get(x->a, "rights"))
        json_object_set_new(o, "rights", json_string(args_get(x->a, "rights")));
    assign_flag(x, o);
    return show_call(x, "POST", "/v1/users", o);
}

static int c_users_update(struct tc_ctx *x)
{
    struct sbuf p;
    json_t *o;
    int rc;
    if (args_bool(x->a, "no-assign") && args_get(x->a, "assign"))
        return tc_fail(TC_USAGE, "users update: give one of --assign and --no-assign");
    use(x, user_cols, "id");
    o = json_object();
    if (args_get(x->a, "rights"))
        json_object_set_new(o, "rights", json_string(args_get(x->a, "rights")));
    assign_or_none(x, o);
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/users/");
    url_escape(&p, ARG(x, 0));
    rc = show_call(x, "PATCH", sbuf_str(&p), o);
    sbuf_release(&p);
    return rc;
}

static int c_orgs_list(struct tc_ctx *x)
{
    use(x, org_cols, "id");
    return show_list(x, "/v1/organizations");
}

static int c_orgs_create(struct tc_ctx *x)
{
    use(x, org_cols, "id");
    return show_call(x, "POST", "/v1/organizations", json_pack("{s:s}", "name", ARG(x, 0)));
}

static int c_orgs_add_workspace(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    use(x, NULL, "id");
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/organizations/");
    url_escape(&p, ARG(x, 0));
    sbuf_adds(&p, "/workspaces");
    rc = show_call(x, "POST", sbuf_str(&p), json_pack("{s:s}", "name", ARG(x, 1)));
    sbuf_release(&p);
    return rc;
}

static int c_sources_list(struct tc_ctx *x)
{
    use(x, source_cols, "name");
    return show_list(x, "/v1/sources");
}

static int c_sources_add(struct tc_ctx *x)
{
    use(x, source_cols, "name");
    return show_call(x, "POST", "/v1/sources",
                     json_pack("{s:s,s:s}", "name", ARG(x, 0), "url", ARG(x, 1)));
}

static int c_sources_delete(struct tc_ctx *x)
{
    struct sbuf p;
    int rc;
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/sources/");
    url_escape(&p, ARG(x, 0));
    rc = show_call(x, "DELETE", sbuf_str(&p), NULL);
    sbuf_release(&p);
    return rc;
}

/* A source that failed is reported in the answer, not as an HTTP error: tagctl exits 1 for it.
 * With NAME, the server answers that one source's result rather than a collection. */
static int c_sources_refresh(struct tc_ctx *x)
{
    struct tc_resp r;
    struct sbuf p;
    int rc;
    use(x, refresh_cols, "name");
    sbuf_init(&p, 0);
    if (x->nargs) {
        sbuf_adds(&p, "/v1/sources/");
        url_escape(&p, ARG(x, 0));
        sbuf_adds(&p, ":refresh");
    } else {
        sbuf_adds(&p, "/v1/sources:refresh");
    }
    rc = client_call(x->cl, "POST", sbuf_str(&p), NULL, &r);
    sbuf_release(&p);
    if (rc == TC_OK) {
        json_t *src, *it;
        size_t i;
        if (x->nargs) {
            src = json_array();
            json_array_append(src, r.body);
        } else {
            src = json_incref(json_object_get(r.body, "items"));
        }
        show_array(x, json_incref(src));
        json_array_foreach(src, i, it) {
            if (json_is_false(json_object_get(it, "ok")))
                rc = tc_fail(TC_ERROR, "error: source '%s' failed: %s",
                             json_string_value(json_object_get(it, "name")) ?: "?",
                             json_string_value(json_object_get(it, "error")) ?: "?");
        }
        json_decref(src);
    }
    resp_release(&r);
    return rc;
}

/* ---- login, config ---- */

static int c_login(struct tc_ctx *x)
{
    struct tc_resp r;
    char err[512];
    char *typed = NULL;
    const char *path = x->profile_path;
    int rc;

    if (path == NULL)
        return tc_fail(TC_ERROR, "login: neither XDG_CONFIG_HOME nor HOME is set");
    if (x->cfg->token == NULL || args_bool(x->a, "token-stdin")) {
        typed = read_secret("token: ");
        if (typed == NULL || *typed == '\0') {
            xfree(typed);
            return tc_fail(TC_USAGE, "login: give the token with --token, TAGD_TOKEN or on stdin");
        }
        x->cfg->token = typed;
    }
    /* Any valid token may read the tag list; a refused one is not stored. */
    rc = client_call(x->cl, "GET", "/v1/tags?limit=1", NULL, &r);
    resp_release(&r);
    if (rc == TC_OK) {
        rc = config_store(path, x->cfg->profile, x->cfg->url, x->cfg->token, err, sizeof(err));
        if (rc)
            tc_fail(rc, "login: %s", err);
        else if (!x->a->quiet)
            fprintf(stderr, "logged in to %s; profile '%s' saved in %s\n", x->cfg->url,
                    x->cfg->profile, path);
    }
    x->cfg->token = NULL;
    xfree(typed);
    return rc;
}

static const char *src_name(enum tc_source s)
{
    switch (s) {
    case SRC_DEFAULT:
        return "default";
    case SRC_PROFILE:
        return "profile";
    case SRC_ENV:
        return "environment";
    case SRC_FLAG:
        return "flag";
    default:
        TG_BUG("unknown config source");
    }
}

static int c_config(struct tc_ctx *x)
{
    char hidden[32];
    json_t *o;
    const char *t = x->cfg->token;
    if (t)
        snprintf(hidden, sizeof(hidden), "%.4s…", t);
    o = json_pack("{s:s,s:s?,s:s,s:s,s:s?,s:s,s:s?,s:s?}", "profile", x->cfg->profile, "file",
                  x->profile_path, "url", x->cfg->url, "url_from", src_name(x->cfg->url_src),
                  "token", t ? hidden : NULL, "token_from", src_name(x->cfg->token_src), "org",
                  x->cfg->org, "workspace", x->cfg->workspace);
    use(x, NULL, "url");
    out_object(&x->out, o);
    json_decref(o);
    return TC_OK;
}

/* ---- help, completion, version ---- */

static int c_help(struct tc_ctx *x)
{
    int used = 0;
    const struct tc_cmd *c = x->nargs ? cmd_find(&ARG(x, 0), x->nargs, &used) : NULL;
    if (x->nargs && (c == NULL || used != x->nargs))
        return tc_fail(TC_USAGE, "help: no command '%s' (tagctl help lists them)", ARG(x, 0));
    cmd_help(stdout, c);
    return TC_OK;
}

static int c_version(struct tc_ctx *x)
{
    (void)x;
    printf("tagctl %s\n", TAGD_VERSION);
    return TC_OK;
}

/* Tag names for shell completion: quiet on every error, a completion must never print one. */
static int c_complete(struct tc_ctx *x)
{
    struct sbuf p;
    struct tc_resp r;
    json_t *it;
    size_t i;
    if (strcmp(ARG(x, 0), "tags") != 0)
        return TC_USAGE;
    sbuf_init(&p, 0);
    sbuf_adds(&p, "/v1/tags?limit=200");
    url_query(&p, "prefix", x->nargs > 1 ? ARG(x, 1) : "");
    if (client_call_quiet(x->cl, "GET", sbuf_str(&p), NULL, &r) == TC_OK) {
        json_array_foreach(json_object_get(r.body, "items"), i, it)
            printf("%s\n", json_string_value(json_object_get(it, "name")) ?: "");
    }
    resp_release(&r);
    sbuf_release(&p);
    return TC_OK;
}

static const char bash_script[] =
    "# bash completion for tagctl; load with: source <(tagctl completion bash)\n"
    "_tagctl() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} noun=${COMP_WORDS[1]} verb=${COMP_WORDS[2]}\n"
    "    local nouns='tags groups resources tag untag effective query changes history tokens users orgs sources export import login config completion help version'\n"
    "    if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W \"$nouns\" -- \"$cur\")); return; fi\n"
    "    if [[ $cur == -* ]]; then\n"
    "        COMPREPLY=($(compgen -W '--url --token --org --workspace --profile --output --as-of --limit --quiet --debug --help --no-color' -- \"$cur\")); return\n"
    "    fi\n"
    "    case $noun in\n"
    "    tags) if [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W 'list get create update rename move delete restore resources' -- \"$cur\")); return; fi ;;\n"
    "    groups) if [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W 'list get create update rename delete set-tags' -- \"$cur\")); return; fi ;;\n"
    "    resources) if [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W 'list get put delete' -- \"$cur\")); fi; return ;;\n"
    "    tokens) COMPREPLY=($(compgen -W 'list create revoke update' -- \"$cur\")); return ;;\n"
    "    users) COMPREPLY=($(compgen -W 'list create update' -- \"$cur\")); return ;;\n"
    "    orgs) COMPREPLY=($(compgen -W 'list create add-workspace' -- \"$cur\")); return ;;\n"
    "    sources) COMPREPLY=($(compgen -W 'list add delete refresh' -- \"$cur\")); return ;;\n"
    "    history) if [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W 'tag group resource' -- \"$cur\")); return; fi ;;\n"
    "    completion) COMPREPLY=($(compgen -W 'bash zsh' -- \"$cur\")); return ;;\n"
    "    help) COMPREPLY=($(compgen -W \"$nouns\" -- \"$cur\")); return ;;\n"
    "    esac\n"
    "    case $noun in\n"
    "    tags|tag|untag|history|groups)\n"
    "        if [ \"$noun\" = tag ] || [ \"$noun\" = untag ]; then [ \"$COMP_CWORD\" -ge 3 ] || return; fi\n"
    "        local IFS=$'\\n'\n"
    "        COMPREPLY=($(tagctl __complete tags \"$cur\" 2>/dev/null)) ;;\n"
    "    esac\n"
    "}\n"
    "complete -F _tagctl tagctl\n";

static const char zsh_script[] =
    "#compdef tagctl\n"
    "# zsh completion for tagctl; load with: source <(tagctl completion zsh)\n"
    "_tagctl() {\n"
    "    local -a nouns verbs\n"
    "    nouns=(tags groups resources tag untag effective query changes history tokens users orgs sources export import login config completion help version)\n"
    "    if (( CURRENT == 2 )); then compadd -- $nouns; return; fi\n"
    "    if [[ $words[CURRENT] == -* ]]; then\n"
    "        compadd -- --url --token --org --workspace --profile --output --as-of --limit --quiet --debug --help --no-color; return\n"
    "    fi\n"
    "    case $words[2] in\n"
    "    tags) (( CURRENT == 3 )) && { compadd -- list get create update rename move delete restore resources; return } ;;\n"
    "    groups) (( CURRENT == 3 )) && { compadd -- list get create update rename delete set-tags; return } ;;\n"
    "    resources) (( CURRENT == 3 )) && compadd -- list get put delete; return ;;\n"
    "    tokens) compadd -- list create revoke update; return ;;\n"
    "    users) compadd -- list create update; return ;;\n"
    "    orgs) compadd -- list create add-workspace; return ;;\n"
    "    sources) compadd -- list add delete refresh; return ;;\n"
    "    history) (( CURRENT == 3 )) && { compadd -- tag group resource; return } ;;\n"
    "    completion) compadd -- bash zsh; return ;;\n"
    "    help) compadd -- $nouns; return ;;\n"
    "    esac\n"
    "    case $words[2] in\n"
    "    tags|tag|untag|history|groups)\n"
    "        [[ $words[2] == (tag|untag) ]] && (( CURRENT < 4 )) && return\n"
    "        compadd -- ${(f)\"$(tagctl __complete tags \"$words[CURRENT]\" 2>/dev/null)\"} ;;\n"
    "    esac\n"
    "}\n"
    "compdef _tagctl tagctl\n";

static int c_completion(struct tc_ctx *x)
{
    if (strcmp(ARG(x, 0), "bash") == 0)
        fputs(bash_script, stdout);
    else if (strcmp(ARG(x, 0), "zsh") == 0)
        fputs(zsh_script, stdout);
    else
        return tc_fail(TC_USAGE, "completion: bash or zsh, not '%s'", ARG(x, 0));
    return TC_OK;
}

/* ---- If-Match ---- */

static int call_if_match(struct tc_ctx *x, const char *method, const char *path, json_t *body)
{
    int rc;
    client_if_match = if_match(x);
    rc = show_call(x, method, path, body);
    client_if_match = NULL;
    return rc;
}


/* ---- the table ---- */

#define RD true
const struct tc_cmd tc_cmds[] = {
    {"tags", NULL, 0, 0, "", "", "Tags: list get create update rename move delete restore resources.", false, false},
    {"tags list", c_tags_list, 0, 0, "prefix search source group archived deleted kind",
     "[--prefix P] [--search TEXT] [--source S] [--group ID] [--archived false|true|only] [--deleted false|true|only] [--kind K]",
     "List tags by name, every page (--limit caps the listing).", RD, false},
    {"tags get", c_tags_get, 1, 1, "", "TAG", "Show one tag by name (any case) or id.", RD, false},
    {"tags create", c_tags_create, 1, -1,
     "color description display-name group position protected archived source l10n",
     "NAME... [--color #RGB] [--description D] [--display-name N] [--group ID] [--position N] [--protected] [--archived] [--source S] [--l10n LANG=TEXT]...",
     "Create a tag (missing parents are created too). Several names are created as one atomic batch.", false, false},
    {"tags update", c_tags_update, 1, 1,
     "name color description display-name group position protected archived source l10n if-match",
     "TAG [--name NEW] [--color C] [--description D] ... [--if-match VERSION]",
     "Change the fields given; an empty value ('') clears a field.", false, false},
    {"tags rename", c_tags_rename, 2, 2, "if-match", "TAG NEW-NAME [--if-match VERSION]",
     "Rename a tag and its whole subtree.", false, false},
    {"tags move", c_tags_move, 1, 2, "root if-match", "TAG NEW-PARENT | TAG --root",
     "Move a tag (with its subtree) under another parent, keeping its last segment.", false, false},
    {"tags delete", c_tags_delete, 1, -1, "recursive purge if-match", "TAG... [--recursive] [--purge]",
     "Soft-delete tags (--recursive for one with children; --purge removes them for good, admin).", false, false},
    {"tags restore", c_tags_restore, 1, 1, "", "TAG", "Restore a soft-deleted tag and its deleted parents.", false, false},
    {"tags resources", c_tags_resources, 1, 1, "descendants", "TAG [--descendants]",
     "Resources that carry the tag directly (--descendants: or a tag of its subtree).", RD, false},
    {"groups", NULL, 0, 0, "", "", "Tag groups: list get create update rename delete set-tags.", false, false},
    {"groups list", c_groups_list, 0, 0, "", "", "List tag groups.", RD, false},
    {"groups get", c_groups_get, 1, 1, "", "ID", "Show a group with its ordered tag ids.", RD, false},
    {"groups create", c_groups_create, 1, 1, "exclusive position l10n conflict",
     "NAME [--exclusive] [--conflict POLICY] [--position N] [--l10n LANG=TEXT]...",
     "Create a group (--exclusive: a resource carries at most one of its tags; --conflict: "
     "union, child-wins, parent-wins or reject, for inherited ones).", false, false},
    {"groups update", c_groups_update, 1, 1, "name exclusive position l10n if-match conflict",
     "ID [--name N] [--exclusive=true|false] [--conflict POLICY] [--position N] [--if-match VERSION]", "Change a group.", false, false},
    {"groups rename", c_groups_rename, 2, 2, "if-match", "ID NEW-NAME [--if-match VERSION]",
     "Rename a group.", false, false},
    {"groups delete", c_groups_delete, 1, 1, "", "ID", "Delete a group; its tags stay, without a group.", false, false},
    {"groups set-tags", c_groups_set_tags, 1, -1, "", "ID TAG...",
     "Make the tags given the group's tags, in this order.", false, false},
    {"resources", NULL, 0, 0, "", "", "Resources: list get put delete.", false, false},
    {"resources list", c_res_list, 0, 0, "kind parent tag archived",
     "[--kind K] [--parent KIND/KEY] [--tag TAG] [--archived false|true|only]",
     "List resources by id, every page (--limit caps the listing).", RD, false},
    {"resources get", c_res_get, 1, 1, "", "KIND/KEY", "Show one resource.", RD, false},
    {"resources put", c_res_put, 1, 1, "name parent no-parent archived document",
     "KIND/KEY [--name N] [--parent KIND/KEY | --no-parent] [--archived true|false] [--document JSON]",
     "Create or update a resource (a missing parent is created).", false, false},
    {"resources delete", c_res_delete, 1, -1, "", "KIND/KEY...", "Delete resources with their tags.", false, false},
    {"tag", c_tag, 2, -1, "create-missing context", "KIND/KEY TAG... [--create-missing] [--context C]",
     "Put tags on a resource, all or none (an unknown resource is created).", false, false},
    {"untag", c_untag, 2, -1, "", "KIND/KEY TAG...", "Take tags off a resource, one request per tag.", false, false},
    {"effective", c_effective, 1, 1, "direct", "KIND/KEY [--direct]",
     "The tags on a resource with where each comes from: INHERITED_FROM names the ancestor, '-' means direct.", RD, false},
    {"query", c_query, 1, 1, "effective count kind archived",
     "EXPR [--effective] [--count] [--kind K] [--archived true|only]",
     "Resources matching a tag query such as 'Country.* and not Confidential' (docs/query.md).",
     true, false},
    {"changes", c_changes, 0, 0, "since follow interval entity",
     "[--since REVISION] [--follow] [--interval SECONDS] [--entity E]",
     "The change log in order; --follow then follows the event stream (long polls where the server has none) until interrupted.", false, false},
    {"history", c_history, 2, 2, "principal from to",
     "tag TAG | group ID | resource KIND/KEY [--principal WHO] [--from TIME] [--to TIME]",
     "Every recorded change of one entity (a resource's include its tags): who, when, what; "
     "--from and --to bound the time, --principal picks who.", false, false},
    {"tokens", NULL, 0, 0, "", "", "API tokens (admin): list create revoke update.", false, false},
    {"tokens list", c_tokens_list, 0, 0, "kind", "[--kind KIND] [--org ORG]", "List tokens; never their secrets.", false, false},
    {"tokens create", c_tokens_create, 0, 0, "name rights expires assign",
     "[--name N] [--rights tags:read,tags:assign] [--expires TIME] [--assign 'Team.*,Env.prod'] [--org ORG]",
     "Issue a token; its secret is shown once (-q prints only the secret). --assign limits the "
     "tags it may put on resources.", false, false},
    {"tokens revoke", c_tokens_revoke, 1, -1, "", "ID...", "Revoke tokens.", false, false},
    {"tokens update", c_tokens_update, 1, 1, "assign no-assign",
     "ID --assign 'Team.*,Env.prod' | --no-assign",
     "Change an API token's assign list (--assign '' allows no tag, --no-assign lifts the "
     "limit); its next request has it.", false, false},
    {"users", NULL, 0, 0, "", "", "Users (admin): list create update.", false, false},
    {"users list", c_users_list, 0, 0, "", "", "List the organization's users.", false, false},
    {"users create", c_users_create, 1, 1, "rights assign",
     "LOGIN [--rights R] [--assign 'Team.*'] < password",
     "Create a user; the password is read from stdin. --assign limits the tags it may put on "
     "resources.", false, false},
    {"users update", c_users_update, 1, 1, "rights assign no-assign",
     "ID [--rights R] [--assign 'Team.*' | --no-assign]",
     "Change a user's rights or assign list; its sessions have them at their next request.",
     false, false},
    {"orgs", NULL, 0, 0, "", "", "Organizations (installation admin): list create add-workspace.", false, false},
    {"orgs list", c_orgs_list, 0, 0, "", "", "List organizations.", false, false},
    {"orgs create", c_orgs_create, 1, 1, "", "NAME", "Create an organization with its default workspace.", false, false},
    {"orgs add-workspace", c_orgs_add_workspace, 2, 2, "", "ORG NAME", "Create a workspace in an organization.", false, false},
    {"sources", NULL, 0, 0, "", "", "External tag sources (admin): list add delete refresh.", false, false},
    {"sources list", c_sources_list, 0, 0, "", "", "List sources with their last refresh.", false, false},
    {"sources add", c_sources_add, 2, 2, "", "NAME URL", "Add a source.", false, false},
    {"sources delete", c_sources_delete, 1, 1, "", "NAME", "Remove a source; its tags stay.", false, false},
    {"sources refresh", c_sources_refresh, 0, 1, "", "[NAME]", "Re-read every source (or NAME) now; exits 1 when one failed.", false, false},
    {"export", cmd_export, 0, 1, "format kind prefix no-progress file taxonomy",
     "[workspace|tags|resources] [--format jsonl|csv|skos] [--as-of R] [--taxonomy] [-f FILE]",
     "Write the whole workspace at one revision (GET /v1/export; the default), or the taxonomy "
     "(tags) or the resources with their direct tags in the older per-list records.", true, false},
    {"import", cmd_import, 0, 2, "format chunk create-missing add no-progress file resume",
     "[workspace|tags|resources] [FILE|-] [--format jsonl|csv|skos] [--chunk N] [--resume JOB] "
     "[--create-missing] [--add]",
     "Read what export wrote through POST /v1/import, in chunks of --chunk records, each chunk "
     "atomic; --resume JOB goes on at the chunk a failed import stopped at.", false, false},
    {"login", c_login, 0, 0, "token-stdin", "[--url URL] [--token T | --token-stdin] [--profile P]",
     "Check a token against the server and store it in the profile (mode 0600).", false, false},
    {"config", c_config, 0, 0, "", "", "Show the settings in force and where each comes from.", false, true},
    {"completion", c_completion, 1, 1, "", "bash|zsh", "Print the shell completion script.", false, true},
    {"help", c_help, 0, 2, "", "[COMMAND]", "Show help for a command.", false, true},
    {"version", c_version, 0, 0, "", "", "Print tagctl's version.", false, true},
    {"__complete", c_complete, 1, 2, "", "tags PREFIX", NULL, false, false},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, false, false},
};

const struct tc_cmd *cmd_find(const char *const *pos, int npos, int *used)
{
    const struct tc_cmd *best = NULL;
    *used = 0;
    for (const struct tc_cmd *c = tc_cmds; c->name; c++) {
        const char *n = c->name;
        int w = 0;
        bool ok = true;
        while (*n && ok) {
            size_t len = strcspn(n, " ");
            ok = w < npos && strlen(pos[w]) == len && strncmp(pos[w], n, len) == 0;
            n += len;
            n += strspn(n, " ");
            w++;
        }
        if (ok && w > *used) {
            best = c;
            *used = w;
        }
    }
    return best;
}

void cmd_help(FILE *f, const struct tc_cmd *c)
{
    if (c == NULL) {
        fprintf(f, "tagctl: the command-line client of tagd\n\n"
                   "usage: tagctl [GLOBAL FLAGS] COMMAND [ARGS] [FLAGS]\n\ncommands:\n");
        for (const struct tc_cmd *d = tc_cmds; d->name; d++) {
            if (d->help && strchr(d->name, ' ') == NULL)
                fprintf(f, "  %-12s %s\n", d->name, d->help);
        }
        fprintf(f, "\nglobal flags:\n"
                   "  --url URL          the server (TAGD_URL; default http://127.0.0.1:8080)\n"
                   "  --token T          the API token (TAGD_TOKEN)\n"
                   "  --profile P        the profile of $XDG_CONFIG_HOME/tagctl/config (default: default)\n"
                   "  --org ORG          the organization for tokens (org_N)\n"
                   "  --workspace WS     recorded in profiles; the native API has no workspace selection yet\n"
                   "  -o, --output F     table (default), json, jsonl, yaml, csv, tsv\n"
                   "  -q, --quiet        ids only\n"
                   "  --limit N          print at most N items (pages are fetched as needed)\n"
                   "  --as-of REV|TIME   read as of a past revision or time (reads of tags, groups, resources)\n"
                   "  --timeout S        seconds per request (default 60)\n"
                   "  --no-color         no colors (also NO_COLOR)\n"
                   "  --debug            print each request and answer on stderr\n"
                   "\nexit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 conflict or rule violation,\n"
                   "5 unauthorized or forbidden, 6 server unreachable.\n"
                   "'tagctl help COMMAND' tells more; see also tagctl(1).\n");
        return;
    }
    if (c->fn == NULL)
        fprintf(f, "usage: tagctl %s VERB [ARGS] [FLAGS]\n\n%s\n", c->name, c->help);
    else
        fprintf(f, "usage: tagctl %s %s\n\n%s\n", c->name, c->usage, c->help);
    if (c->fn == NULL) {
        fprintf(f, "\n");
        for (const struct tc_cmd *d = tc_cmds; d->name; d++) {
            size_t n = strlen(c->name);
            if (d != c && strncmp(d->name, c->name, n) == 0 && d->name[n] == ' ')
                fprintf(f, "  tagctl %s %s\n", d->name, d->usage);
        }
    } else if (c->reads) {
        fprintf(f, "\nTakes --as-of REVISION or --as-of TIME (ISO-8601).\n");
    }
}
