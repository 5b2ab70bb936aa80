/* core/sources.c: external tag sources: their list, fetching, parsing and refresh.
 *
 * Refresh works on one source at a time inside its own savepoint, so a source that fails to
 * load or to apply leaves its tags exactly as they were while the others proceed. The
 * document is fully fetched, parsed and validated before anything is written. Tags of a source
 * are protected; they change only here (core_tag_save directly, since core_tag_update refuses
 * protected tags). Assignments made by a source carry the context CORE_SRC_CONTEXT, so a refresh
 * can tell them from manual ones and only ever removes its own. */
#include "core/sources.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core_int.h"
#include "core/immuta_rules.h"
#include "util/fetch.h"
#include "util/json.h"
#include "util/mem.h"
#include "util/name.h"

#define SRC_MAX_CONFIG 64
#define SRC_MAX_NAME 64
#define SRC_MAX_URL 2048
#define SRC_MAX_DEPTH 16
#define SRC_MAX_MODELS 1000

struct src_limits src_limits = {
    .timeout_ms = 5000,
    .max_bytes = 8u << 20,
    .max_tags = 100000,
    .max_sources = 64,
};

/* The config file's sources: an immutable set, published whole. SIGHUP (core_src_configure)
 * publishes a new one while requests read the old one, and their answers may borrow its
 * strings, so a replaced set is kept, linked from its successor, until
 * core_src_global_release: a few KB per reload. */
struct src_set {
    char *name[SRC_MAX_CONFIG];
    char *url[SRC_MAX_CONFIG];
    int n;
    struct src_set *older;
};

static struct src_set empty_set;
static _Atomic(struct src_set *) config_live = &empty_set;

static const struct src_set *config_sources(void)
{
    return atomic_load_explicit(&config_live, memory_order_acquire);
}

int core_src_global_init(void)
{
    return fetch_global_init();
}

static void set_free(struct src_set *cs)
{
    while (cs && cs != &empty_set) {
        struct src_set *older = cs->older;
        for (int i = 0; i < cs->n; i++) {
            xfree(cs->name[i]);
            xfree(cs->url[i]);
        }
        xfree(cs);
        cs = older;
    }
}

void core_src_global_release(void)
{
    set_free(atomic_exchange(&config_live, &empty_set));
    fetch_global_release();
}

/* ---- names, URLs, storage ---- */

int core_src_check(const char *name, const char *url, struct tg_err *err)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > SRC_MAX_NAME)
        return tg_err_set(err, TG_EINVAL, "name", "source name must have 1 to %d characters",
                          SRC_MAX_NAME);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return tg_err_set(err, TG_EINVAL, "name",
                              "source name may hold only letters, digits, '_', '-' and '.'");
    }
    if (strcmp(name, "curated") == 0)
        return tg_err_set(err, TG_EINVAL, "name", "'curated' is the source of tagd's own tags");
    n = url ? strlen(url) : 0;
    if (n == 0 || n > SRC_MAX_URL || !name_is_clean_utf8(url, n))
        return tg_err_set(err, TG_EINVAL, "url", "url must have 1 to %d bytes of text",
                          SRC_MAX_URL);
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        if (strchr(url, ' '))
            return tg_err_set(err, TG_EINVAL, "url", "url must not contain spaces");
        return 0;
    }
    if (strncmp(url, "file://", 7) == 0)
        url += 7;
    if (url[0] != '/')
        return tg_err_set(err, TG_EINVAL, "url",
                          "url must be http://, https://, file:///PATH or an absolute path");
    return 0;
}

static int set_find(const struct src_set *cs, const char *name)
{
    for (int i = 0; i < cs->n; i++)
        if (strcmp(cs->name[i], name) == 0)
            return i;
    return -1;
}

static int config_find(const char *name) { return set_find(config_sources(), name); }

int core_src_configure(const char *spec, struct tg_err *err)
{
    const char *p = spec ? spec : "";
    struct src_set *cs = xcalloc(1, sizeof(*cs));

    for (;;) {
        const char *start, *eq;
        char *pair, *name, *url;
        size_t len;
        int rc;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        start = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        len = (size_t)(p - start);
        pair = xstrndup(start, len);
        eq = strchr(pair, '=');
        if (eq == NULL) {
            rc = tg_err_set(err, TG_EINVAL, "sources", "'%.80s' is not name=url", pair);
            xfree(pair);
            set_free(cs);
            return rc;
        }
        name = xstrndup(pair, (size_t)(eq - pair));
        url = xstrdup(eq + 1);
        xfree(pair);
        rc = core_src_check(name, url, err);
        if (rc == 0 && set_find(cs, name) >= 0)
            rc = tg_err_set(err, TG_EINVAL, "sources", "source '%s' is configured twice", name);
        if (rc == 0 && cs->n >= SRC_MAX_CONFIG)
            rc = tg_err_set(err, TG_EINVAL, "sources", "more than %d sources", SRC_MAX_CONFIG);
        if (rc) {
            xfree(name);
            xfree(url);
            set_free(cs);
            return rc;
        }
        cs->name[cs->n] = name;
        cs->url[cs->n] = url;
        cs->n++;
    }
    /* Only one thread configures (start, then SIGHUP on the main thread). */
    cs->older = atomic_load(&config_live);
    atomic_store_explicit(&config_live, cs, memory_order_release);
    return 0;
}

static void row_source(struct core_ctx *ctx, struct store_stmt *st, struct source *s)
{
    memset(s, 0, sizeof(*s));
    s->id = col_int(st, 0);
    s->name = col_dup(ctx, st, 1);
    s->url = col_dup(ctx, st, 2);
    s->created_by = col_dup(ctx, st, 3);
    s->created_at = col_int(st, 4);
    s->updated_at = col_int(st, 5);
    s->refreshed_at = col_null(st, 6) ? 0 : col_int(st, 6);
    s->last_error = col_dup(ctx, st, 7);
    s->origin = "api";
}

static int stored_count(struct core_ctx *ctx, size_t *n, struct tg_err *err)
{
    struct source *all;
    int rc = core_src_list(ctx, &all, n, err);
    return rc;
}

int core_src_create(struct core_ctx *ctx, const char *name, const char *url, struct source *out,
                    struct tg_err *err)
{
    struct store_stmt *st;
    size_t have;
    int rc = core_src_check(name, url, err);

    if (rc)
        return rc;
    if (!src_limits.allow_local && strncmp(url, "http://", 7) != 0 &&
        strncmp(url, "https://", 8) != 0)
        return tg_err_set(err, TG_ERULE, "url",
                          "local files are for sources of the configuration file (or with "
                          "--sources-allow-local)");
    if (config_find(name) >= 0)
        return tg_err_set(err, TG_EEXISTS, "name", "source '%s' is set in the config file", name);
    rc = stored_count(ctx, &have, err);
    if (rc)
        return rc;
    if (have >= (size_t)src_limits.max_sources)
        return tg_err_set(err, TG_ELIMIT, "name", "a workspace may have at most %d sources",
                          src_limits.max_sources);
    st = st_get(ctx->conn, SQL_SRC_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, name);
    st_text(st, 3, url);
    st_text(st, 4, core_actor(ctx));
    st_int(st, 5, ctx->now);
    rc = st_step(st, err);
    if (rc != 1) {
        if (rc == TG_EEXISTS)
            return tg_err_set(err, TG_EEXISTS, "name", "source '%s' already exists", name);
        return rc < 0 ? rc : TG_EINTERNAL;
    }
    memset(out, 0, sizeof(*out));
    out->id = col_int(st, 0);
    st_reset(st);
    out->name = core_strdup(ctx, name);
    out->url = core_strdup(ctx, url);
    out->origin = "api";
    out->created_by = core_actor(ctx);
    out->created_at = out->updated_at = ctx->now;
    return core_change(ctx, "source", out->id, "create", NULL,
                       arena_printf(ctx->a, "{\"name\":\"%s\"}", name), err);
}

int core_src_list(struct core_ctx *ctx, struct source **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st;
    struct vec v;
    int rc;

    const struct src_set *cs = config_sources();

    vec_init(&v, sizeof(struct source));
    for (int i = 0; i < cs->n; i++) {
        struct source *s = vec_push(ctx, &v);
        s->name = cs->name[i];
        s->url = cs->url[i];
        s->origin = "config";
    }
    st = st_get(ctx->conn, SQL_SRC_LIST, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_source(ctx, st, vec_push(ctx, &v));
    }
    st_reset(st);
    *out = v.items;
    *n = v.n;
    return rc < 0 ? rc : 0;
}

int core_src_delete(struct core_ctx *ctx, const char *name, struct tg_err *err)
{
    struct store_stmt *st;
    int rc;

    if (config_find(name) >= 0)
        return tg_err_set(err, TG_ERULE, "name",
                          "source '%s' is set in the config file; remove it there", name);
    st = st_get(ctx->conn, SQL_SRC_DELETE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, name);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    if (store_changes(ctx->conn) == 0)
        return tg_err_set(err, TG_ENOTFOUND, "name", "source '%s' not found", name);
    return core_change(ctx, "source", 0, "delete",
                       arena_printf(ctx->a, "{\"name\":\"%s\"}", name), NULL, err);
}

/* ---- fetching ---- */

static int fetch_file(struct core_ctx *ctx, const char *path, const char **text, size_t *len,
                      struct tg_err *err)
{
    char buf[65536];
    struct sbuf b;
    struct stat sb;
    FILE *f;
    size_t got;
    int rc = 0;

    f = fopen(path, "rb");
    if (f == NULL)
        return tg_err_set(err, TG_EINVAL, "url", "cannot read %s: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return tg_err_set(err, TG_EINVAL, "url", "%s is not a regular file", path);
    }
    sbuf_init(&b, src_limits.max_bytes);
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (sbuf_add(&b, buf, got) != 0) {
            rc = tg_err_set(err, TG_EINVAL, "url", "document is larger than %zu bytes",
                            src_limits.max_bytes);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = tg_err_set(err, TG_EINVAL, "url", "cannot read %s", path);
    fclose(f);
    if (rc == 0) {
        *text = arena_strndup(ctx->a, sbuf_str(&b), b.len);
        *len = b.len;
    }
    sbuf_release(&b);
    return rc;
}

int core_src_fetch(struct core_ctx *ctx, const char *url, bool restricted, const char **text,
                   size_t *len, struct tg_err *err)
{
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        struct fetch_limits lim = {src_limits.timeout_ms, src_limits.max_bytes, restricted};
        int rc = fetch_http(ctx->a, url, &lim, text, len, err);
        if (rc == TG_ERULE)
            return tg_err_set(err, TG_ERULE, "url",
                              "sources added through the API may not reach private addresses");
        return rc;
    }
    if (restricted)
        return tg_err_set(err, TG_ERULE, "url", "sources added through the API may not read local files");
    if (strncmp(url, "file://", 7) == 0)
        url += 7;
    return fetch_file(ctx, url, text, len, err);
}

/* ---- parsing ---- */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct src_tag *)a)->key, ((const struct src_tag *)b)->key);
}

/* Checks an Immuta model reference without touching the store. */
static int parse_models(struct core_ctx *ctx, json_t *arr, struct src_tag *t, struct tg_err *err)
{
    size_t i;
    json_t *m;

    if (arr == NULL || json_is_null(arr))
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) > SRC_MAX_MODELS)
        return tg_err_set(err, TG_EINVAL, "assignments",
                          "tag '%s': assignments must be an array of at most %d models",
                          t->name, SRC_MAX_MODELS);
    t->models = arena_alloc(ctx->a, (json_array_size(arr) + 1) * sizeof(*t->models));
    json_array_foreach(arr, i, m)
    {
        json_t *ty = json_is_object(m) ? json_object_get(m, "modelType") : NULL;
        json_t *id = json_is_object(m) ? json_object_get(m, "modelId") : NULL;
        char num[32];
        const char *ids;
        int rc;
        if (!json_is_string(ty) || !(json_is_string(id) || json_is_integer(id)))
            return tg_err_set(err, TG_EINVAL, "assignments",
                              "tag '%s': each assignment is {\"modelType\", \"modelId\"}",
                              t->name);
        if (json_is_integer(id)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(id));
            ids = num;
        } else {
            ids = json_string_value(id);
        }
        rc = core_immuta_model_check(json_string_value(ty), ids, err);
        if (rc)
            return tg_err_prefix(err, rc, "assignments", arena_printf(ctx->a, "tag '%s': ", t->name));
        t->models[t->nmodels].type = core_strdup(ctx, json_string_value(ty));
        t->models[t->nmodels].id = core_strdup(ctx, ids);
        t->nmodels++;
    }
    return 0;
}

static int add_entry(struct core_ctx *ctx, struct vec *v, const char *name, json_t *obj,
                     struct tg_err *err)
{
    struct src_tag *t;
    char *nfc, *key;
    json_t *d;
    int rc;

    rc = name_normalize(ctx->a, name, strlen(name), true, "name", &nfc, &key, err);
    if (rc)
        return tg_err_prefix(err, TG_EINVAL, "name", arena_printf(ctx->a, "tag '%.100s': ", name));
    if (v->n >= src_limits.max_tags)
        return tg_err_set(err, TG_EINVAL, "tags", "more than %zu tags", src_limits.max_tags);
    t = vec_push(ctx, v);
    t->name = nfc;
    t->key = key;
    if (json_is_object(obj)) {
        d = json_object_get(obj, "description");
        if (d && !json_is_string(d) && !json_is_null(d))
            return tg_err_set(err, TG_EINVAL, "description",
                              "tag '%s': description must be a string", nfc);
        if (d) {
            t->has_description = true;
            t->description = json_is_string(d) ? core_strdup(ctx, json_string_value(d)) : NULL;
            if (t->description && (strlen(t->description) > 4000 ||
                                   !name_is_clean_utf8(t->description, strlen(t->description))))
                return tg_err_set(err, TG_EINVAL, "description",
                                  "tag '%s': description must be at most 4000 bytes of text",
                                  nfc);
        } else {
            t->has_description = true; /* absent in the document: none */
        }
        return parse_models(ctx, json_object_get(obj, "assignments"), t, err);
    }
    t->has_description = true;
    return 0;
}

static int parse_list(struct core_ctx *ctx, json_t *arr, struct vec *v, struct tg_err *err)
{
    size_t i;
    json_t *e;
    int rc;

    json_array_foreach(arr, i, e)
    {
        if (json_is_string(e)) {
            rc = add_entry(ctx, v, json_string_value(e), NULL, err);
        } else if (json_is_object(e) && json_is_string(json_object_get(e, "name"))) {
            rc = add_entry(ctx, v, json_string_value(json_object_get(e, "name")), e, err);
        } else {
            rc = tg_err_set(err, TG_EINVAL, "tags",
                            "entry %zu is neither a name nor an object with a \"name\"", i);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int core_src_parse(struct core_ctx *ctx, const char *text, size_t len, struct src_tag **out,
                   size_t *n, struct tg_err *err)
{
    struct src_tag *items, *all;
    struct vec v, w;
    json_t *doc, *list;
    size_t i, k;
    int rc = 0;

    doc = json_parse(text, len, SRC_MAX_DEPTH, err);
    if (doc == NULL) {
        /* jansson's message quotes the text near the error; a source's content is not for
         * whoever reads the refresh answer, so keep only the position. */
        char *colon = strstr(err->msg, "column ");
        colon = colon ? strchr(colon, ':') : NULL;
        if (colon)
            *colon = '\0';
        return tg_err_prefix(err, TG_EINVAL, "document", "not a JSON document: ");
    }
    vec_init(&v, sizeof(struct src_tag));
    list = json_is_object(doc) ? json_object_get(doc, "tags") : NULL;
    if (json_is_array(doc)) {
        rc = parse_list(ctx, doc, &v, err);
    } else if (json_is_array(list)) {
        rc = parse_list(ctx, list, &v, err);
    } else if (list) {
        rc = tg_err_set(err, TG_EINVAL, "document", "\"tags\" must be a list of tags");
    } else if (json_is_object(doc)) {
        const char *name;
        json_t *val;
        json_object_foreach(doc, name, val)
        {
            rc = add_entry(ctx, &v, name, val, err);
            if (rc)
                break;
        }
    } else {
        rc = tg_err_set(err, TG_EINVAL, "document",
                        "a source document is a list of tags or an object of tag names");
    }
    json_decref(doc);
    if (rc)
        return rc;
    /* Add every implied parent, then sort and keep the first of each key; a listed entry wins
     * over an implied one because it comes first among equals (stable by flag below). */
    items = v.items;
    vec_init(&w, sizeof(struct src_tag));
    for (i = 0; i < v.n; i++) {
        char *p = arena_strdup(ctx->a, items[i].name);
        *(struct src_tag *)vec_push(ctx, &w) = items[i];
        for (char *dot = strrchr(p, '.'); dot; dot = strrchr(p, '.')) {
            struct src_tag *t;
            char *nfc, *key;
            *dot = '\0';
            rc = name_normalize(ctx->a, p, strlen(p), true, "name", &nfc, &key, err);
            if (rc)
                return rc;
            if (w.n >= src_limits.max_tags * 2)
                return tg_err_set(err, TG_EINVAL, "tags", "more than %zu tags",
                                  src_limits.max_tags);
            t = vec_push(ctx, &w);
            t->name = nfc;
            t->key = key;
            t->implied = true;
        }
    }
    all = w.items;
    if (w.n > 1)
        qsort(all, w.n, sizeof(*all), key_cmp);
    for (i = 0, k = 0; i < w.n; i++) {
        if (k > 0 && strcmp(all[k - 1].key, all[i].key) == 0) {
            /* A listed entry beats an implied parent of the same name; between two listed
             * entries the document repeats itself and the first one counts. */
            if (all[k - 1].implied && !all[i].implied)
                all[k - 1] = all[i];
            continue;
        }
        all[k++] = all[i];
    }
    if (k > src_limits.max_tags)
        return tg_err_set(err, TG_EINVAL, "tags", "more than %zu tags", src_limits.max_tags);
    *out = all;
    *n = k;
    return 0;
}

/* ---- applying ---- */

static bool text_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static const struct src_tag *desired_find(const struct src_tag *tags, size_t n, const char *key)
{
    struct src_tag probe;
    memset(&probe, 0, sizeof(probe));
    probe.key = key;
    return bsearch(&probe, tags, n, sizeof(*tags), key_cmp);
}

static void add_conflict(struct core_ctx *ctx, struct vec *c, const char *name)
{
    *(const char **)vec_push(ctx, c) = name;
}

/* Makes the source's assignments of tag `t` exactly the models of `d` (NULL: none). */
static int sync_assignments(struct core_ctx *ctx, const struct tag *t, const struct src_tag *d,
                            struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_SRC_TAG_ASSIGNED, err);
    struct resource *want;
    struct vec have;
    size_t i, j, nwant = d ? d->nmodels : 0;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&have, sizeof(struct resource));
    st_int(st, 1, t->id);
    st_text(st, 2, CORE_SRC_CONTEXT);
    for (;;) {
        struct resource *r;
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        r = vec_push(ctx, &have);
        r->id = col_int(st, 0);
        r->kind = col_dup(ctx, st, 1);
        r->key = col_dup(ctx, st, 2);
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    want = arena_zalloc(ctx->a, (nwant + 1) * sizeof(*want));
    for (i = 0; i < nwant; i++) {
        bool present = false;
        rc = core_immuta_model(ctx, d->models[i].type, d->models[i].id, true, &want[i], err);
        if (rc)
            return tg_err_prefix(err, rc, "assignments", arena_printf(ctx->a, "tag '%s': ", t->name));
        for (j = 0; j < have.n && !present; j++)
            present = ((struct resource *)have.items)[j].id == want[i].id;
        if (!present) {
            rc = core_assign_add(ctx, want[i].id, &t->id, 1, CORE_SRC_CONTEXT, NULL, NULL, err);
            if (rc)
                return tg_err_prefix(err, rc, "assignments",
                              arena_printf(ctx->a, "tag '%s' on %s %s: ", t->name,
                                           d->models[i].type, d->models[i].id));
        }
    }
    for (j = 0; j < have.n; j++) {
        const struct resource *h = &((struct resource *)have.items)[j];
        bool keep = false;
        for (i = 0; i < nwant && !keep; i++)
            keep = want[i].id == h->id;
        if (!keep) {
            rc = core_assign_remove(ctx, h->id, t->id, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int core_src_apply(struct core_ctx *ctx, const char *name, const struct src_tag *tags, size_t n,
                   struct src_result *res, struct tg_err *err)
{
    struct store_stmt *st;
    struct vec conflicts, mine;
    size_t i;
    int rc;

    memset(res, 0, sizeof(*res));
    res->name = core_strdup(ctx, name);
    vec_init(&conflicts, sizeof(const char *));
    /* Parents sort before their children, so each parent is settled before its first child. */
    for (i = 0; i < n; i++) {
        const struct src_tag *d = &tags[i];
        struct tag t, parent;
        bool found, pfound = true;
        const char *dot = strrchr(d->name, '.');

        /* By the exact name: a source names its own tags, and an alias's name is taken. */
        rc = core__tag_by_key_exact(ctx, d->key, &t, &found, err);
        if (rc)
            return rc;
        if (found && strcmp(t.source, name) != 0) {
            add_conflict(ctx, &conflicts, t.name);
            continue;
        }
        if (!found || t.deleted) {
            struct tag_alias al;
            bool aliased;
            rc = core_alias_find(ctx, d->key, &al, &aliased, err);
            if (rc)
                return rc;
            if (aliased) {
                add_conflict(ctx, &conflicts, d->name);
                continue;
            }
        }
        memset(&parent, 0, sizeof(parent));
        if (dot) {
            char *pk = arena_strndup(ctx->a, d->key, strlen(d->key));
            char *pdot = strrchr(pk, '.');
            /* Case folding keeps the dots where they were, so the key splits like the name. */
            if (pdot)
                *pdot = '\0';
            rc = core__tag_by_key_exact(ctx, pk, &parent, &pfound, err);
            if (rc)
                return rc;
            if (!pfound || (parent.deleted && strcmp(parent.source, name) != 0)) {
                /* The parent is someone else's deleted tag (or was itself refused). */
                add_conflict(ctx, &conflicts, d->name);
                continue;
            }
        }
        if (!found) {
            memset(&t, 0, sizeof(t));
            t.name = d->name;
            t.name_key = d->key;
            t.parent_id = dot ? parent.id : 0;
            t.source = name;
            t.protected_ = true;
            /* tagd made it, not whoever asked for the refresh (Immuta's createdBy: null). */
            t.created_by = "system";
            t.description = d->has_description ? d->description : NULL;
            rc = core_tag_save(ctx, NULL, &t, "create", err);
            if (rc)
                return rc;
            res->created++;
        } else {
            struct tag after = t;
            bool changed = t.deleted || !t.protected_ || strcmp(t.name, d->name) != 0 ||
                           (d->has_description && !d->implied &&
                            !text_eq(t.description, d->description));
            if (changed) {
                after.deleted = false;
                after.protected_ = true;
                after.name = d->name;
                if (d->has_description && !d->implied)
                    after.description = d->description;
                rc = core_tag_save(ctx, &t, &after, t.deleted ? "restore" : "update", err);
                if (rc)
                    return rc;
                if (t.deleted)
                    res->created++;
                else
                    res->updated++;
            } else {
                res->unchanged++;
            }
            t = after;
        }
        /* The source's own assignments: the source decides them, not who asked for the
         * refresh, so assign lists and restricted subtrees do not apply (assign_rights.c). */
        ctx->assign_unchecked = true;
        rc = sync_assignments(ctx, &t, d, err);
        ctx->assign_unchecked = false;
        if (rc)
            return rc;
    }
    /* Names the document no longer lists: soft-delete, deepest first (the statement's order). */
    st = st_get(ctx->conn, SQL_SRC_TAGS, err);
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&mine, sizeof(struct tag));
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, name);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_tag(ctx, st, 0, vec_push(ctx, &mine));
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    for (i = 0; i < mine.n; i++) {
        struct tag *t = &((struct tag *)mine.items)[i], after;
        int64_t live = 0;
        if (t->deleted || desired_find(tags, n, t->name_key))
            continue;
        st = st_get(ctx->conn, SQL_TAG_LIVE_CHILDREN, err);
        if (st == NULL)
            return TG_EINTERNAL;
        st_int(st, 1, t->id);
        rc = st_step(st, err);
        if (rc == 1)
            live = col_int(st, 0);
        st_reset(st);
        if (rc < 0)
            return rc;
        if (live > 0) {
            /* Someone hung their own tags below it: keep it rather than orphan them. */
            add_conflict(ctx, &conflicts, t->name);
            continue;
        }
        after = *t;
        after.deleted = true;
        rc = core_tag_save(ctx, t, &after, "delete", err);
        if (rc)
            return rc;
        res->deleted++;
    }
    res->ok = true;
    res->conflicts = conflicts.items;
    res->nconflicts = conflicts.n;
    return 0;
}

static int set_status(struct core_ctx *ctx, const char *name, const char *error,
                      struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_SRC_STATUS, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->ws_id);
    st_text(st, 2, name);
    st_int(st, 3, ctx->now);
    st_text(st, 4, error);
    return st_exec(st, err);
}

/* A config-file source wins over a workspace source added under its name before. */
static bool shadowed(const struct source *s)
{
    return s->id && config_find(s->name) >= 0;
}

static int fetch_source(struct core_ctx *ctx, const struct source *s, const char **text,
                        size_t *len, struct tg_err *why)
{
    return core_src_fetch(ctx, s->url, s->id != 0 && !src_limits.allow_local, text, len, why);
}

/* The workspace's sources, or only the one named `only` (TG_ENOTFOUND when there is none). */
static int list_sources(struct core_ctx *ctx, const char *only, struct source **all, size_t *count,
                        struct tg_err *err)
{
    int rc = core_src_list(ctx, all, count, err);

    if (rc || only == NULL)
        return rc;
    for (size_t i = 0; i < *count; i++) {
        if (strcmp((*all)[i].name, only) == 0) {
            *all += i;
            *count = 1;
            return 0;
        }
    }
    return tg_err_set(err, TG_ENOTFOUND, "name", "no source named '%s'", only);
}

int core_src_prefetch(struct core_ctx *ctx, const char *only, struct src_prefetch *out,
                      struct tg_err *err)
{
    struct source *all;
    size_t count, i;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = list_sources(ctx, only, &all, &count, err);
    if (rc)
        return rc;
    out->v = arena_zalloc(ctx->a, (count + 1) * sizeof(*out->v));
    for (i = 0; i < count; i++) {
        struct src_fetched *f = &out->v[out->n];
        if (shadowed(&all[i]))
            continue;
        f->name = all[i].name;
        f->url = all[i].url;
        tg_err_clear(&f->why);
        f->ok = fetch_source(ctx, &all[i], &f->text, &f->len, &f->why) == 0;
        out->n++;
    }
    return 0;
}

/* The document fetched for `s`: from `pre` when given, else fetched now. */
static int source_text(struct core_ctx *ctx, const struct src_prefetch *pre,
                       const struct source *s, const char **text, size_t *len,
                       struct tg_err *why)
{
    if (pre == NULL)
        return fetch_source(ctx, s, text, len, why);
    for (size_t i = 0; i < pre->n; i++) {
        const struct src_fetched *f = &pre->v[i];
        if (strcmp(f->name, s->name) != 0 || strcmp(f->url, s->url) != 0)
            continue;
        if (!f->ok) {
            *why = f->why;
            return why->code ? why->code : TG_EINVAL;
        }
        *text = f->text;
        *len = f->len;
        return 0;
    }
    return tg_err_set(why, TG_ECONFLICT, "sources",
                      "source '%s' changed during the refresh: refresh again", s->name);
}

static int refresh_one(struct core_ctx *ctx, const struct src_prefetch *pre,
                       const struct source *s, struct src_result *res, struct tg_err *err)
{
    struct tg_err why;
    struct src_tag *tags;
    const char *text;
    size_t len, n;
    int rc;

    tg_err_clear(&why);
    rc = source_text(ctx, pre, s, &text, &len, &why);
    if (rc == 0)
        rc = core_src_parse(ctx, text, len, &tags, &n, &why);
    if (rc == 0) {
        rc = store_savepoint(ctx->conn, err);
        if (rc)
            return rc;
        rc = core_src_apply(ctx, s->name, tags, n, res, &why);
        if (rc) {
            store_savepoint_rollback(ctx->conn);
        } else {
            rc = store_savepoint_release(ctx->conn, err);
            if (rc)
                return rc;
        }
    }
    if (rc) {
        memset(res, 0, sizeof(*res));
        res->name = s->name;
        res->ok = false;
        res->error = core_strdup(ctx, why.msg);
    }
    return s->id ? set_status(ctx, s->name, res->ok ? NULL : res->error, err) : 0;
}

int core_src_refresh(struct core_ctx *ctx, const char *only, const struct src_prefetch *pre,
                     struct src_result **out, size_t *n, struct tg_err *err)
{
    struct source *all;
    struct src_result *res;
    size_t count, i;
    int rc;

    rc = list_sources(ctx, only, &all, &count, err);
    if (rc)
        return rc;
    /* The revision belongs to the request, not to a source whose savepoint may be undone. */
    rc = core_rev(ctx, err);
    if (rc)
        return rc;
    res = arena_zalloc(ctx->a, (count + 1) * sizeof(*res));
    for (i = 0; i < count; i++) {
        if (shadowed(&all[i])) {
            /* Added through the API before the config file took the name: the file wins. */
            res[i].name = all[i].name;
            res[i].error = "a config-file source has the same name";
            rc = set_status(ctx, all[i].name, res[i].error, err);
            if (rc)
                return rc;
            continue;
        }
        rc = refresh_one(ctx, pre, &all[i], &res[i], err);
        if (rc)
            return rc;
    }
    *out = res;
    *n = count;
    return 0;
}
