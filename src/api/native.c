/* api/native.c: tagd's own REST API under /v1, and the system endpoints.
 *
 * Shapes: a collection answers {"items": [...], "next_cursor": ..., "total": N}; an error
 * answers {"error": {"code", "message", "details", "request_id"}}. Single tags carry an ETag
 * (their version) that PATCH and DELETE check through If-Match. docs/openapi.yaml describes
 * every route here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/ratelimit.h"
#include "openapi_json.h"
#include "util/json.h"
#include "util/timeu.h"

const struct dialect native_dialect = {"native", api_native_error};

/* ---- shared pieces ---- */

int api_native_auth(struct hreq *r, struct core_ctx *cx, unsigned need)
{
    struct tg_err err;
    const char *tok = api_bearer(r);
    int rc;

    tg_err_clear(&err);
    if (tok == NULL) {
        api_failf(r, TG_EAUTH, "Authorization", "missing bearer token");
        return -1;
    }
    rc = core_auth_token(cx, tok, &err);
    if (rc == 0)
        rc = core_require(cx, need, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return ratelimit_take(r, cx);
}

static int auth(struct hreq *r, struct core_ctx *cx, unsigned need)
{
    return api_native_auth(r, cx, need);
}

static void fail(struct hreq *r, int rc, const struct tg_err *err)
{
    api_fail(r, rc, err);
}

static const char *last_segment(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

static void render_tag(struct jw *w, struct hreq *r, const struct tag *t)
{
    jw_obj(w);
    jw_kint(w, "id", t->id);
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "display_name", t->display_name ? t->display_name : last_segment(t->name));
    jw_key(w, "parent_id");
    if (t->parent_id)
        jw_int(w, t->parent_id);
    else
        jw_null(w);
    jw_key(w, "l10n");
    if (t->l10n)
        jw_raw(w, t->l10n);
    else
        jw_null(w);
    jw_kstr(w, "color", t->color);
    jw_kstr(w, "description", t->description);
    jw_kstr(w, "source", t->source);
    jw_kbool(w, "system_created", t->system_created);
    jw_kbool(w, "protected", t->protected_);
    jw_kbool(w, "archived", t->archived);
    jw_kbool(w, "deleted", t->deleted);
    jw_key(w, "group_id");
    if (t->group_id)
        jw_int(w, t->group_id);
    else
        jw_null(w);
    jw_kint(w, "position", t->position);
    jw_kstr(w, "created_by", t->created_by);
    api_kiso(w, "created_at", t->created_at);
    api_kiso(w, "updated_at", t->updated_at);
    jw_kint(w, "version", t->version);
    jw_obj_end(w);
}

static void set_etag(struct hreq *r, int64_t version)
{
    api_set_header(r, "ETag", arena_printf(&r->a, "\"%lld\"", (long long)version));
}

/* If-Match: "N" or W/"N" or *; returns 0 (no check), the version, or -1 after a 412/400. */
static int if_match(struct hreq *r, int64_t *version)
{
    const char *h = api_header(r, "if-match");
    char *end;

    *version = 0;
    if (h == NULL || strcmp(h, "*") == 0)
        return 0;
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    if (*h == '"')
        h++;
    *version = strtoll(h, &end, 10);
    if (*version <= 0 || (*end != '"' && *end != '\0')) {
        /* A tag that cannot match any version: the precondition fails. */
        api_failf(r, TG_EPRECOND, "If-Match", "If-Match does not name a version");
        return -1;
    }
    return 0;
}

static int64_t parse_time_field(json_t *v, bool *ok)
{
    int64_t ms = 0;
    *ok = true;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v) && time_parse(json_string_value(v), &ms))
        return ms;
    *ok = false;
    return 0;
}

/* Rejects fields outside `allowed` (NULL-terminated). */
static int only_fields(struct hreq *r, json_t *o, const char *const *allowed)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok) {
            api_failf(r, TG_EINVAL, k, "unknown field '%s'", k);
            return -1;
        }
    }
    return 0;
}

/* ---- system endpoints ---- */

static void h_healthz(struct hreq *r, struct core_ctx *cx)
{
    struct jw w;
    (void)cx;
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kstr(&w, "status", "ok");
    jw_obj_end(&w);
}

static void h_readyz(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct jw w;

    tg_err_clear(&err);
    if (store_ping(cx->conn, &err) != 0) {
        api_fail(r, TG_EBUSY, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kstr(&w, "status", "ready");
    jw_kint(&w, "revision", core_current_rev(cx));
    jw_obj_end(&w);
}

static void h_metrics(struct hreq *r, struct core_ctx *cx)
{
    api_metrics_render(r, cx);
}

static void h_openapi(struct hreq *r, struct core_ctx *cx)
{
    (void)cx;
    r->status = 200;
    r->content_type = "application/json; charset=utf-8";
    sbuf_add(&r->out, tagd_openapi_json, strlen(tagd_openapi_json));
}

/* ---- tags ---- */

static const char *const tag_fields[] = {"name",     "display_name", "l10n",     "color",
                                         "description", "source",    "protected", "archived",
                                         "group_id", "position",     NULL};

static int parse_tag_input(struct hreq *r, json_t *o, struct tag_input *in, bool create)
{
    struct tg_err err;
    json_t *v;

    tg_err_clear(&err);
    memset(in, 0, sizeof(*in));
    if (!json_is_object(o)) {
        api_failf(r, TG_EINVAL, "body", "a tag must be a JSON object");
        return -1;
    }
    if (only_fields(r, o, tag_fields))
        return -1;
    if (json_get_str(o, "name", &in->name, &err) ||
        json_get_str_or_null(o, "display_name", &in->display_name, &in->has_display_name, &err) ||
        json_get_str_or_null(o, "color", &in->color, &in->has_color, &err) ||
        json_get_str_or_null(o, "description", &in->description, &in->has_description, &err) ||
        json_get_str_or_null(o, "source", &in->source, &in->has_source, &err) ||
        json_get_bool(o, "protected", &in->protected_, &in->has_protected, &err) ||
        json_get_bool(o, "archived", &in->archived, &in->has_archived, &err) ||
        json_get_int(o, "position", &in->position, &in->has_position, &err)) {
        api_fail(r, TG_EINVAL, &err);
        return -1;
    }
    v = json_object_get(o, "group_id");
    if (v) {
        in->has_group = true;
        if (json_is_integer(v))
            in->group_id = json_integer_value(v);
        else if (!json_is_null(v)) {
            api_failf(r, TG_EINVAL, "group_id", "'group_id' must be an integer or null");
            return -1;
        }
    }
    v = json_object_get(o, "l10n");
    if (v) {
        in->has_l10n = true;
        if (json_is_object(v)) {
            in->l10n = json_to_arena(&r->a, v);
        } else if (!json_is_null(v)) {
            api_failf(r, TG_EINVAL, "l10n", "'l10n' must be an object of language to text");
            return -1;
        }
    }
    if (create && in->name == NULL) {
        api_failf(r, TG_EINVAL, "name", "name is required");
        return -1;
    }
    return 0;
}

static int tag_filter_from_query(struct hreq *r, struct tag_filter *f)
{
    int64_t limit, group = 0;
    const char *v;

    memset(f, 0, sizeof(*f));
    if (api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit))
        return -1;
    f->limit = (int)limit;
    f->prefix = api_query(r, "prefix");
    f->q = api_query(r, "q");
    f->source = api_query(r, "source");
    f->cursor = api_query(r, "cursor");
    f->kind = api_query(r, "kind");
    if (api_query_int(r, "group", 0, 0, INT64_MAX, &group))
        return -1;
    f->group_id = group;
    v = api_query(r, "archived");
    if (v) {
        if (strcmp(v, "true") == 0)
            f->archived = 1;
        else if (strcmp(v, "only") == 0)
            f->archived = 2;
        else if (strcmp(v, "false") != 0) {
            api_failf(r, TG_EINVAL, "archived", "'archived' must be true, false or only");
            return -1;
        }
    }
    v = api_query(r, "deleted");
    if (v) {
        if (strcmp(v, "true") == 0)
            f->deleted = 1;
        else if (strcmp(v, "only") == 0)
            f->deleted = 2;
        else if (strcmp(v, "false") != 0) {
            api_failf(r, TG_EINVAL, "deleted", "'deleted' must be true, false or only");
            return -1;
        }
    }
    return 0;
}

static void h_tags_list(struct hreq *r, struct core_ctx *cx)
{
    struct tag_filter f;
    struct tg_err err;
    struct tag *tags;
    const char *next;
    int64_t total = 0;
    size_t n;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_READ) || tag_filter_from_query(r, &f) || api_cache_serve(r, cx))
        return;
    tg_err_clear(&err);
    rc = core_tag_list(cx, &f, &tags, &n, &next, &total, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_tag(&w, r, &tags[i]);
    jw_arr_end(&w);
    jw_kstr(&w, "next_cursor", next);
    jw_kint(&w, "total", total);
    jw_obj_end(&w);
    api_cache_store(r, cx);
}

static void h_tags_create(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    json_t *body, *list;
    struct tag *out;
    struct jw w;
    size_t n, i;
    bool batch;
    int rc;

    if (auth(r, cx, RIGHT_WRITE))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    list = json_is_object(body) ? json_object_get(body, "tags") : NULL;
    batch = list != NULL;
    if (batch && json_object_size(body) != 1) {
        api_failf(r, TG_EINVAL, "tags", "a batch is {\"tags\": [...]} and nothing else");
        goto out;
    }
    if (batch && !json_is_array(list)) {
        api_failf(r, TG_EINVAL, "tags", "'tags' must be an array");
        goto out;
    }
    n = batch ? json_array_size(list) : 1;
    if (batch && n == 0) {
        api_failf(r, TG_EINVAL, "tags", "'tags' is empty");
        goto out;
    }
    if (n > (size_t)core_limits.max_batch) {
        api_failf(r, TG_ELIMIT, "tags", "more than %d tags in one batch", core_limits.max_batch);
        goto out;
    }
    out = arena_alloc(&r->a, n * sizeof(*out));
    for (i = 0; i < n; i++) {
        struct tag_input in;
        tg_err_clear(&err);
        if (parse_tag_input(r, batch ? json_array_get(list, i) : body, &in, true))
            goto out;
        rc = core_tag_create(cx, &in, &out[i], &err);
        if (rc) {
            if (batch) {
                char field[sizeof(err.field)];
                memcpy(field, err.field, sizeof(field));
                snprintf(err.field, sizeof(err.field), "tags[%zu].%.30s", i % 100000, field);
            }
            fail(r, rc, &err);
            goto out;
        }
    }
    api_json_begin(r, 201, &w);
    if (batch) {
        jw_obj(&w);
        jw_key(&w, "items");
        jw_arr(&w);
        for (i = 0; i < n; i++)
            render_tag(&w, r, &out[i]);
        jw_arr_end(&w);
        jw_obj_end(&w);
    } else {
        render_tag(&w, r, &out[0]);
        set_etag(r, out[0].version);
        api_set_header(r, "Location", arena_printf(&r->a, "/v1/tags/%lld", (long long)out[0].id));
    }
out:
    json_decref(body);
}

static int load_tag(struct hreq *r, struct core_ctx *cx, struct tag *t)
{
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    rc = core_tag_resolve(cx, r->params[0], t, &err);
    if (rc) {
        fail(r, rc, &err);
        return -1;
    }
    return 0;
}

static void h_tag_get(struct hreq *r, struct core_ctx *cx)
{
    struct tag t;
    struct jw w;

    if (auth(r, cx, RIGHT_READ) || load_tag(r, cx, &t))
        return;
    api_json_begin(r, 200, &w);
    render_tag(&w, r, &t);
    set_etag(r, t.version);
}

static void h_tag_patch(struct hreq *r, struct core_ctx *cx)
{
    struct tag_input in;
    struct tg_err err;
    struct tag t, out;
    int64_t version;
    json_t *body;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_WRITE) || if_match(r, &version) || load_tag(r, cx, &t))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    if (parse_tag_input(r, body, &in, false) == 0) {
        tg_err_clear(&err);
        rc = core_tag_update(cx, t.id, &in, version, &out, &err);
        if (rc) {
            fail(r, rc, &err);
        } else {
            api_json_begin(r, 200, &w);
            render_tag(&w, r, &out);
            set_etag(r, out.version);
        }
    }
    json_decref(body);
}

static void h_tag_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int64_t version;
    bool recursive, purge;
    struct tag t;
    int rc;

    if (auth(r, cx, RIGHT_WRITE) || if_match(r, &version) ||
        api_query_bool(r, "recursive", false, &recursive) ||
        api_query_bool(r, "purge", false, &purge) || load_tag(r, cx, &t))
        return;
    tg_err_clear(&err);
    rc = core_tag_delete(cx, t.id, recursive, purge, version, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_no_content(r);
}

static void h_tag_restore(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct tag t, out;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_WRITE) || load_tag(r, cx, &t))
        return;
    tg_err_clear(&err);
    rc = core_tag_restore(cx, t.id, &out, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    render_tag(&w, r, &out);
    set_etag(r, out.version);
}

void api_native_render_resource(struct jw *w, struct hreq *r, const struct resource *res)
{
    jw_obj(w);
    jw_kint(w, "id", res->id);
    jw_kstr(w, "kind", res->kind);
    jw_kstr(w, "key", res->key);
    jw_kstr(w, "name", res->name);
    jw_key(w, "parent");
    if (res->parent_id && res->parent_kind) {
        jw_obj(w);
        jw_kstr(w, "kind", res->parent_kind);
        jw_kstr(w, "key", res->parent_key);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_kbool(w, "archived", res->archived);
    if (res->extra) {
        jw_key(w, "document");
        jw_raw(w, res->extra);
    }
    api_kiso(w, "created_at", res->created_at);
    api_kiso(w, "updated_at", res->updated_at);
    jw_kint(w, "version", res->version);
    jw_obj_end(w);
}

static int id_cursor(struct hreq *r, struct core_ctx *cx, int64_t *after)
{
    const char *c = api_query(r, "cursor"), *dec;
    struct tg_err err;

    *after = 0;
    if (c == NULL)
        return 0;
    tg_err_clear(&err);
    if (core_cursor_decode(cx, c, &dec, &err) != 0 || !core_parse_id(dec, "r", after)) {
        api_failf(r, TG_EINVAL, "cursor", "cursor is invalid");
        return -1;
    }
    return 0;
}

static void render_resource_page(struct hreq *r, struct core_ctx *cx, struct resource *items,
                                 size_t n, bool more, const int64_t *total)
{
    struct jw w;

    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        api_native_render_resource(&w, r, &items[i]);
    jw_arr_end(&w);
    jw_key(&w, "next_cursor");
    if (more && n)
        jw_str(&w, core_cursor_encode(cx, arena_printf(&r->a, "r%lld", (long long)items[n - 1].id)));
    else
        jw_null(&w);
    if (total)
        jw_kint(&w, "total", *total);
    jw_obj_end(&w);
}

static void h_tag_resources(struct hreq *r, struct core_ctx *cx)
{
    struct resource *items;
    struct tg_err err;
    int64_t after, limit, total = 0;
    bool desc, more;
    struct tag t;
    size_t n;
    int rc;

    if (auth(r, cx, RIGHT_READ) || load_tag(r, cx, &t) ||
        api_query_bool(r, "descendants", false, &desc) ||
        api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit) ||
        id_cursor(r, cx, &after))
        return;
    tg_err_clear(&err);
    rc = core_tag_usage(cx, &t, desc, after, (int)limit, &items, &n, &more, &err);
    if (rc == 0)
        rc = core_tag_usage_total(cx, &t, desc, &total, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    render_resource_page(r, cx, items, n, more, &total);
}

/* ---- groups ---- */

static void render_group(struct jw *w, struct hreq *r, struct core_ctx *cx, const struct group *g)
{
    struct tag *tags;
    size_t n = 0;

    jw_obj(w);
    jw_kint(w, "id", g->id);
    jw_kstr(w, "name", g->name);
    jw_key(w, "l10n");
    if (g->l10n)
        jw_raw(w, g->l10n);
    else
        jw_null(w);
    jw_kint(w, "position", g->position);
    jw_kbool(w, "exclusive", g->exclusive);
    jw_key(w, "tags");
    jw_arr(w);
    if (core_group_tags(cx, g->id, &tags, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            jw_int(w, tags[i].id);
    jw_arr_end(w);
    api_kiso(w, "created_at", g->created_at);
    api_kiso(w, "updated_at", g->updated_at);
    jw_kint(w, "version", g->version);
    jw_obj_end(w);
}

static const char *const group_fields[] = {"name", "l10n", "exclusive", "position", NULL};

static int parse_group_input(struct hreq *r, json_t *o, struct group_input *in)
{
    struct tg_err err;
    json_t *v;

    tg_err_clear(&err);
    memset(in, 0, sizeof(*in));
    if (!json_is_object(o)) {
        api_failf(r, TG_EINVAL, "body", "a group must be a JSON object");
        return -1;
    }
    if (only_fields(r, o, group_fields))
        return -1;
    if (json_get_str(o, "name", &in->name, &err) ||
        json_get_bool(o, "exclusive", &in->exclusive, &in->has_exclusive, &err) ||
        json_get_int(o, "position", &in->position, &in->has_position, &err)) {
        api_fail(r, TG_EINVAL, &err);
        return -1;
    }
    v = json_object_get(o, "l10n");
    if (v) {
        in->has_l10n = true;
        if (json_is_object(v)) {
            in->l10n = json_to_arena(&r->a, v);
        } else if (!json_is_null(v)) {
            api_failf(r, TG_EINVAL, "l10n", "'l10n' must be an object");
            return -1;
        }
    }
    return 0;
}

static void h_groups_list(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct group *g;
    struct jw w;
    size_t n;
    int rc;

    if (auth(r, cx, RIGHT_READ))
        return;
    tg_err_clear(&err);
    rc = core_group_list(cx, &g, &n, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_group(&w, r, cx, &g[i]);
    jw_arr_end(&w);
    jw_kint(&w, "total", (int64_t)n);
    jw_obj_end(&w);
}

static void h_groups_create(struct hreq *r, struct core_ctx *cx)
{
    struct group_input in;
    struct tg_err err;
    struct group g;
    json_t *body;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_WRITE))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    if (parse_group_input(r, body, &in) == 0) {
        tg_err_clear(&err);
        rc = core_group_create(cx, &in, &g, &err);
        if (rc) {
            fail(r, rc, &err);
        } else {
            api_json_begin(r, 201, &w);
            render_group(&w, r, cx, &g);
            set_etag(r, g.version);
            api_set_header(r, "Location", arena_printf(&r->a, "/v1/groups/%lld", (long long)g.id));
        }
    }
    json_decref(body);
}

static int group_id_param(struct hreq *r, int64_t *id)
{
    if (!core_parse_id(r->params[0], "grp_", id)) {
        api_failf(r, TG_ENOTFOUND, "id", "group not found");
        return -1;
    }
    return 0;
}

static void h_group_get(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct group g;
    struct jw w;
    int64_t id;
    int rc;

    if (auth(r, cx, RIGHT_READ) || group_id_param(r, &id))
        return;
    tg_err_clear(&err);
    rc = core_group_get(cx, id, &g, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    render_group(&w, r, cx, &g);
    set_etag(r, g.version);
}

static void h_group_patch(struct hreq *r, struct core_ctx *cx)
{
    struct group_input in;
    struct tg_err err;
    int64_t id, version;
    struct group g;
    json_t *body;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_WRITE) || group_id_param(r, &id) || if_match(r, &version))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    if (parse_group_input(r, body, &in) == 0) {
        tg_err_clear(&err);
        rc = core_group_update(cx, id, &in, version, &g, &err);
        if (rc) {
            fail(r, rc, &err);
        } else {
            api_json_begin(r, 200, &w);
            render_group(&w, r, cx, &g);
            set_etag(r, g.version);
        }
    }
    json_decref(body);
}

static void h_group_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int64_t id;
    int rc;

    if (auth(r, cx, RIGHT_WRITE) || group_id_param(r, &id))
        return;
    tg_err_clear(&err);
    rc = core_group_delete(cx, id, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_no_content(r);
}

/* Resolves a JSON array of tag references (ids or names) into ids. With `create`, unknown
 * names are created. Renders the error and returns -1 on failure. */
static int tag_refs(struct hreq *r, struct core_ctx *cx, json_t *arr, bool create, int64_t **ids,
                    size_t *n)
{
    struct tg_err err;
    size_t i;

    if (!json_is_array(arr)) {
        api_failf(r, TG_EINVAL, "tags", "'tags' must be an array of tag names or ids");
        return -1;
    }
    *n = json_array_size(arr);
    if (*n > (size_t)core_limits.max_batch) {
        api_failf(r, TG_ELIMIT, "tags", "more than %d tags in one request", core_limits.max_batch);
        return -1;
    }
    *ids = arena_alloc(&r->a, (*n + 1) * sizeof(int64_t));
    for (i = 0; i < *n; i++) {
        json_t *v = json_array_get(arr, i);
        struct tag t;
        int rc;
        tg_err_clear(&err);
        if (json_is_integer(v)) {
            rc = core_tag_get(cx, json_integer_value(v), &t, &err);
        } else if (json_is_string(v)) {
            rc = create ? core_tag_ensure(cx, json_string_value(v), &t, &err)
                        : core_tag_resolve(cx, json_string_value(v), &t, &err);
        } else {
            api_failf(r, TG_EINVAL, "tags", "tags[%zu] must be a tag name or id", i);
            return -1;
        }
        if (rc == 0 && t.deleted)
            rc = tg_err_set(&err, TG_ENOTFOUND, "tags", "tag '%s' is deleted", t.name);
        if (rc) {
            /* An unknown tag in a list is invalid input, not a missing endpoint. */
            if (rc == TG_ENOTFOUND)
                rc = TG_ERULE;
            snprintf(err.field, sizeof(err.field), "tags[%zu]", i);
            fail(r, rc, &err);
            return -1;
        }
        (*ids)[i] = t.id;
    }
    return 0;
}

static void h_group_set_tags(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct group g;
    json_t *body, *arr;
    int64_t id, *ids;
    size_t n;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_WRITE) || group_id_param(r, &id))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    arr = json_is_array(body) ? body : json_object_get(body, "tags");
    if (tag_refs(r, cx, arr, false, &ids, &n) == 0) {
        tg_err_clear(&err);
        rc = core_group_set_tags(cx, id, ids, n, &err);
        if (rc == 0)
            rc = core_group_get(cx, id, &g, &err);
        if (rc) {
            fail(r, rc, &err);
        } else {
            api_json_begin(r, 200, &w);
            render_group(&w, r, cx, &g);
        }
    }
    json_decref(body);
}

/* ---- resources ---- */

static int load_resource(struct hreq *r, struct core_ctx *cx, struct resource *res)
{
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    rc = core_resource_get(cx, r->params[0], r->params[1], res, &err);
    if (rc) {
        fail(r, rc, &err);
        return -1;
    }
    return 0;
}

static void h_resource_get(struct hreq *r, struct core_ctx *cx)
{
    struct resource res;
    struct jw w;

    if (auth(r, cx, RIGHT_READ) || load_resource(r, cx, &res))
        return;
    api_json_begin(r, 200, &w);
    api_native_render_resource(&w, r, &res);
    set_etag(r, res.version);
}

static const char *const resource_fields[] = {"name", "parent", "archived", "document", NULL};

static void h_resource_put(struct hreq *r, struct core_ctx *cx)
{
    struct resource_input in;
    struct resource res;
    struct tg_err err;
    json_t *body, *p;
    bool created;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_ASSIGN))
        return;
    body = r->body_len ? api_body_json(r) : json_object();
    if (body == NULL)
        return;
    memset(&in, 0, sizeof(in));
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (only_fields(r, body, resource_fields))
        goto out;
    if (json_get_str_or_null(body, "name", &in.name, &in.has_name, &err) ||
        json_get_bool(body, "archived", &in.archived, &in.has_archived, &err)) {
        fail(r, TG_EINVAL, &err);
        goto out;
    }
    p = json_object_get(body, "document");
    if (p) {
        if (!json_is_object(p) && !json_is_null(p)) {
            api_failf(r, TG_EINVAL, "document", "'document' must be an object or null");
            goto out;
        }
        in.has_extra = true;
        in.extra = json_is_object(p) ? json_to_arena(&r->a, p) : NULL;
    }
    p = json_object_get(body, "parent");
    if (p) {
        in.has_parent = true;
        if (json_is_object(p)) {
            json_t *k = json_object_get(p, "kind"), *key = json_object_get(p, "key");
            if (!json_is_string(k) || !json_is_string(key)) {
                api_failf(r, TG_EINVAL, "parent", "'parent' must be {\"kind\", \"key\"} or null");
                goto out;
            }
            in.parent_kind = json_string_value(k);
            in.parent_key = json_string_value(key);
        } else if (!json_is_null(p)) {
            api_failf(r, TG_EINVAL, "parent", "'parent' must be {\"kind\", \"key\"} or null");
            goto out;
        }
    }
    rc = core_resource_put(cx, r->params[0], r->params[1], &in, &res, &created, &err);
    if (rc) {
        fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, created ? 201 : 200, &w);
    api_native_render_resource(&w, r, &res);
    set_etag(r, res.version);
out:
    json_decref(body);
}

static void h_resource_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int rc;

    if (auth(r, cx, RIGHT_ASSIGN))
        return;
    tg_err_clear(&err);
    rc = core_resource_delete(cx, r->params[0], r->params[1], &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_no_content(r);
}

static void h_resources_list(struct hreq *r, struct core_ctx *cx)
{
    struct resource_filter f;
    struct resource *items;
    struct tg_err err;
    int64_t limit, total = 0;
    const char *parent, *tag, *arch;
    bool more;
    size_t n;
    int rc;

    if (api_query_has(r, "query")) { /* a tag query: served by the engine */
        native_query_resources(r, cx);
        return;
    }
    if (auth(r, cx, RIGHT_READ))
        return;
    memset(&f, 0, sizeof(f));
    if (api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit) ||
        id_cursor(r, cx, &f.after_id))
        return;
    f.limit = (int)limit;
    f.kind = api_query(r, "kind");
    tg_err_clear(&err);
    parent = api_query(r, "parent");
    if (parent) {
        const char *slash = strchr(parent, '/');
        struct resource p;
        if (slash == NULL) {
            api_failf(r, TG_EINVAL, "parent", "'parent' must be KIND/KEY");
            return;
        }
        rc = core_resource_get(cx, arena_strndup(&r->a, parent, (size_t)(slash - parent)),
                               slash + 1, &p, &err);
        if (rc) {
            fail(r, rc == TG_ENOTFOUND ? TG_EINVAL : rc, &err);
            return;
        }
        f.parent_id = p.id;
    }
    tag = api_query(r, "tag");
    if (tag) {
        struct tag t;
        rc = core_tag_resolve(cx, tag, &t, &err);
        if (rc) {
            fail(r, rc == TG_ENOTFOUND ? TG_EINVAL : rc, &err);
            return;
        }
        f.tag_id = t.id;
    }
    arch = api_query(r, "archived");
    if (arch) {
        if (strcmp(arch, "true") == 0)
            f.archived = 1;
        else if (strcmp(arch, "only") == 0)
            f.archived = 2;
        else if (strcmp(arch, "false") != 0) {
            api_failf(r, TG_EINVAL, "archived", "'archived' must be true, false or only");
            return;
        }
    }
    rc = core_resource_list(cx, &f, &items, &n, &more, &total, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    render_resource_page(r, cx, items, n, more, &total);
}

/* ---- assignments ---- */

/* A piece of an answer written once and repeated where the next entry has the same inputs. */
struct piece {
    const void *k1, *k2;
    int64_t v;
    size_t off, len;
    bool set;
};

static bool piece_repeat(struct sbuf *b, struct piece *p, const void *k1, const void *k2,
                         int64_t v)
{
    if (p->set && p->k1 == k1 && p->k2 == k2 && p->v == v) {
        sbuf_repeat(b, p->off, p->len);
        return true;
    }
    p->k1 = k1;
    p->k2 = k2;
    p->v = v;
    p->off = b->len;
    return false;
}

static void piece_end(struct sbuf *b, struct piece *p)
{
    p->len = b->len - p->off;
    p->set = true;
}

static void render_assignments(struct hreq *r, struct assignment *as, size_t n)
{
    /* The hottest read: a resource's (effective) tags. Neighbouring entries mostly share who
     * added them (interned strings: equal pointers), when (one batch) and, inherited, from
     * where; each such piece is written once and copied after that. Every piece follows a
     * member of its object, so it starts with the ',' the writer's state expects. */
    struct piece who = {0}, at = {0}, from = {0};
    struct jw w;
    struct sbuf *b;

    api_json_begin(r, 200, &w);
    b = w.b;
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        jw_obj(&w);
        jw_kint(&w, "tag_id", as[i].tag.id);
        jw_kstr(&w, "name", as[i].tag.name);
        jw_kstr(&w, "display_name",
                as[i].tag.display_name ? as[i].tag.display_name : last_segment(as[i].tag.name));
        jw_kstr(&w, "color", as[i].tag.color);
        if (!piece_repeat(b, &who, as[i].context, as[i].added_by, 0)) {
            jw_kstr(&w, "context", as[i].context);
            jw_kstr(&w, "added_by", as[i].added_by);
            piece_end(b, &who);
        }
        if (!piece_repeat(b, &at, NULL, NULL, as[i].added_at)) {
            api_kiso(&w, "added_at", as[i].added_at);
            piece_end(b, &at);
        }
        if (!piece_repeat(b, &from, as[i].from_kind, as[i].from_key, as[i].inherited_from)) {
            jw_key(&w, "inherited_from");
            if (as[i].inherited_from) {
                jw_obj(&w);
                jw_kstr(&w, "kind", as[i].from_kind);
                jw_kstr(&w, "key", as[i].from_key);
                jw_obj_end(&w);
            } else {
                jw_null(&w);
            }
            piece_end(b, &from);
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_kint(&w, "total", (int64_t)n);
    jw_obj_end(&w);
}

struct asg_view {
    struct assignment *as;
    size_t n;
};

static void render_assignments_later(struct hreq *r, void *arg)
{
    struct asg_view *v = arg;
    render_assignments(r, v->as, v->n);
}

static void h_res_tags_get(struct hreq *r, struct core_ctx *cx)
{
    struct assignment *as;
    struct tg_err err;
    int64_t id;
    bool eff;
    size_t n;
    int rc;

    if (auth(r, cx, RIGHT_READ) || api_query_bool(r, "effective", false, &eff))
        return;
    tg_err_clear(&err);
    rc = core_resource_id(cx, r->params[0], r->params[1], &id, &err);
    if (rc == 0)
        rc = core_assign_list(cx, id, eff, &as, &n, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    render_assignments(r, as, n);
}

static void res_tags_write(struct hreq *r, struct core_ctx *cx, bool replace)
{
    static const char *const fields[] = {"tags", "create_missing", "context", NULL};
    struct assignment *as;
    struct tg_err err;
    json_t *body, *arr;
    bool create = false;
    const char *context = "manual";
    int64_t *ids, res_id;
    size_t n;
    int rc;

    if (auth(r, cx, RIGHT_ASSIGN))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    tg_err_clear(&err);
    if (json_is_array(body)) {
        arr = body;
    } else if (json_is_object(body)) {
        if (only_fields(r, body, fields))
            goto out;
        arr = json_object_get(body, "tags");
        if (json_get_bool(body, "create_missing", &create, NULL, &err) ||
            json_get_str(body, "context", &context, &err)) {
            fail(r, TG_EINVAL, &err);
            goto out;
        }
        if (arr == NULL) {
            api_failf(r, TG_EINVAL, "tags", "'tags' is required");
            goto out;
        }
    } else {
        api_failf(r, TG_EINVAL, "body", "body must be an array of tags or {\"tags\": [...]}");
        goto out;
    }
    if (create) {
        rc = core_require(cx, RIGHT_WRITE, &err);
        if (rc) {
            fail(r, rc, &err);
            goto out;
        }
    }
    if (strlen(context) == 0 || strlen(context) > 64) {
        api_failf(r, TG_EINVAL, "context", "'context' must be 1-64 bytes");
        goto out;
    }
    rc = core_resource_ensure_id(cx, r->params[0], r->params[1], &res_id, &err);
    if (rc) {
        fail(r, rc, &err);
        goto out;
    }
    if (tag_refs(r, cx, arr, create, &ids, &n))
        goto out;
    rc = replace ? core_assign_replace(cx, res_id, ids, n, context, &as, &n, &err)
                 : core_assign_add(cx, res_id, ids, n, context, &as, &n, &err);
    if (rc) {
        fail(r, rc, &err);
        goto out;
    }
    {
        /* The list comes from the request's own transaction; the JSON is written by the loop
         * after the commit (the list lives in the request's arena). */
        struct asg_view *v = arena_alloc(&r->a, sizeof(*v));
        v->as = as;
        v->n = n;
        api_render_later(r, 200, render_assignments_later, v);
    }
out:
    json_decref(body);
}

static void h_res_tags_add(struct hreq *r, struct core_ctx *cx)
{
    res_tags_write(r, cx, false);
}

static void h_res_tags_put(struct hreq *r, struct core_ctx *cx)
{
    res_tags_write(r, cx, true);
}

static void h_res_tag_delete(struct hreq *r, struct core_ctx *cx)
{
    struct resource res;
    struct tg_err err;
    struct tag t;
    int rc;

    if (auth(r, cx, RIGHT_ASSIGN) || load_resource(r, cx, &res))
        return;
    tg_err_clear(&err);
    rc = core_tag_resolve(cx, r->params[2], &t, &err);
    if (rc == 0)
        rc = core_assign_remove(cx, res.id, t.id, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_no_content(r);
}

/* ---- users, tokens, organizations ---- */

static int rights_field(struct hreq *r, json_t *o, unsigned *rights)
{
    json_t *v = json_object_get(o, "rights");
    struct tg_err err;

    tg_err_clear(&err);
    *rights = RIGHT_READ;
    if (v == NULL)
        return 0;
    if (json_is_string(v)) {
        if (core_rights_parse(json_string_value(v), rights, &err) == 0)
            return 0;
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        unsigned acc = 0, one;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e) || core_rights_parse(json_string_value(e), &one, &err)) {
                if (!json_is_string(e))
                    tg_err_set(&err, TG_EINVAL, "rights", "rights must be strings");
                goto bad;
            }
            acc |= one;
        }
        *rights = acc;
        return 0;
    } else {
        tg_err_set(&err, TG_EINVAL, "rights", "'rights' must be a list of rights");
    }
bad:
    api_fail(r, TG_EINVAL, &err);
    return -1;
}

static void rights_array(struct jw *w, struct hreq *r, const char *rights)
{
    const char *p = rights;
    jw_arr(w);
    while (p && *p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        jw_strn(w, p, n);
        if (!c)
            break;
        p = c + 1;
    }
    jw_arr_end(w);
    (void)r;
}

static void h_users_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"login", "password", "rights", NULL};
    const char *login = NULL, *pw = NULL;
    struct tg_err err;
    unsigned rights;
    struct user u;
    json_t *body;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_ADMIN))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (only_fields(r, body, fields) || rights_field(r, body, &rights))
        goto out;
    if (json_get_str(body, "login", &login, &err) || json_get_str(body, "password", &pw, &err)) {
        fail(r, TG_EINVAL, &err);
        goto out;
    }
    rc = core_user_create(cx, login, pw, rights, &u, &err);
    if (rc) {
        fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    jw_obj(&w);
    jw_kint(&w, "id", u.id);
    jw_kstr(&w, "login", u.login);
    jw_key(&w, "rights");
    rights_array(&w, r, u.rights);
    api_kiso(&w, "created_at", u.created_at);
    jw_obj_end(&w);
out:
    json_decref(body);
}

static void h_users_list(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct user *u;
    struct jw w;
    size_t n;
    int rc;

    if (auth(r, cx, RIGHT_ADMIN))
        return;
    tg_err_clear(&err);
    rc = core_user_list(cx, &u, &n, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        jw_obj(&w);
        jw_kint(&w, "id", u[i].id);
        jw_kstr(&w, "login", u[i].login);
        jw_key(&w, "rights");
        rights_array(&w, r, u[i].rights);
        jw_kbool(&w, "disabled", u[i].disabled);
        api_kiso(&w, "created_at", u[i].created_at);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_kint(&w, "total", (int64_t)n);
    jw_obj_end(&w);
}

static void render_token(struct jw *w, struct hreq *r, const struct token *k, const char *secret)
{
    jw_obj(w);
    jw_kint(w, "id", k->id);
    jw_kstr(w, "name", k->name);
    jw_kstr(w, "kind", k->kind);
    jw_key(w, "rights");
    rights_array(w, r, k->rights);
    jw_kstr(w, "organization_id", arena_printf(&r->a, "org_%lld", (long long)k->org_id));
    api_kiso(w, "created_at", k->created_at);
    api_kiso(w, "expires_at", k->expires_at);
    api_kiso(w, "revoked_at", k->revoked_at);
    if (secret)
        jw_kstr(w, "token", secret);
    jw_obj_end(w);
}

static void h_tokens_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"name", "rights", "expires_at", "organization_id", NULL};
    const char *name = NULL, *secret, *org = NULL;
    struct tg_err err;
    struct token k;
    unsigned rights;
    int64_t expires, org_id = 0;
    json_t *body;
    struct jw w;
    bool ok;
    int rc;

    if (auth(r, cx, RIGHT_ADMIN))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (only_fields(r, body, fields) || rights_field(r, body, &rights))
        goto out;
    if (json_get_str(body, "name", &name, &err) ||
        json_get_str(body, "organization_id", &org, &err)) {
        fail(r, TG_EINVAL, &err);
        goto out;
    }
    expires = parse_time_field(json_object_get(body, "expires_at"), &ok);
    if (!ok) {
        api_failf(r, TG_EINVAL, "expires_at", "'expires_at' must be an ISO-8601 time");
        goto out;
    }
    if (org) {
        struct org o;
        if (!core_parse_id(org, "org_", &org_id)) {
            api_failf(r, TG_EINVAL, "organization_id", "'organization_id' must look like org_1");
            goto out;
        }
        if (org_id != cx->org_id && !core_install_admin(cx)) {
            api_failf(r, TG_EFORBIDDEN, "organization_id",
                      "only the installation's admin issues tokens of other organizations");
            goto out;
        }
        rc = core_org_get(cx, org_id, &o, &err);
        if (rc) {
            fail(r, rc == TG_ENOTFOUND ? TG_EINVAL : rc, &err);
            goto out;
        }
    }
    rc = core_token_create(cx, org_id, "api", name, rights, 0, 0, expires, NULL, &secret, &k,
                           &err);
    if (rc) {
        fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    render_token(&w, r, &k, secret);
out:
    json_decref(body);
}

static void h_tokens_list(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct token *k;
    struct jw w;
    size_t n;
    int rc;

    const char *org = api_query(r, "organization_id");
    int64_t org_id = 0;

    if (auth(r, cx, RIGHT_ADMIN))
        return;
    if (org && !core_parse_id(org, "org_", &org_id)) {
        api_failf(r, TG_EINVAL, "organization_id", "'organization_id' must look like org_1");
        return;
    }
    tg_err_clear(&err);
    rc = core_token_list(cx, org_id, api_query(r, "kind"), &k, &n, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        if (strcmp(k[i].kind, "session") != 0)
            render_token(&w, r, &k[i], NULL);
    jw_arr_end(&w);
    jw_obj_end(&w);
}

static void h_token_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int64_t id;
    int rc;

    if (auth(r, cx, RIGHT_ADMIN))
        return;
    if (!core_parse_id(r->params[0], NULL, &id)) {
        api_failf(r, TG_ENOTFOUND, "id", "token not found");
        return;
    }
    tg_err_clear(&err);
    rc = core_token_revoke(cx, id, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_no_content(r);
}

static void h_changes(struct hreq *r, struct core_ctx *cx)
{
    struct change *c;
    struct tg_err err;
    int64_t since, limit;
    struct jw w;
    size_t n;
    int rc;

    if (auth(r, cx, RIGHT_READ) || api_query_int(r, "since", 0, 0, INT64_MAX, &since) ||
        api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit))
        return;
    tg_err_clear(&err);
    rc = core_changes_list(cx, since, (int)limit, &c, &n, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        jw_obj(&w);
        jw_kint(&w, "revision", c[i].rev);
        jw_kint(&w, "seq", c[i].seq);
        api_kiso(&w, "at", c[i].at);
        jw_kstr(&w, "principal", c[i].principal);
        jw_kstr(&w, "entity", c[i].entity);
        jw_kint(&w, "entity_id", c[i].entity_id);
        jw_kstr(&w, "op", c[i].op);
        jw_key(&w, "before");
        jw_raw(&w, c[i].before);
        jw_key(&w, "after");
        jw_raw(&w, c[i].after);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "next_since");
    jw_int(&w, n ? c[n - 1].rev : since);
    jw_obj_end(&w);
}

static void render_org(struct jw *w, struct hreq *r, const struct org *o)
{
    jw_obj(w);
    jw_kstr(w, "id", arena_printf(&r->a, "org_%lld", (long long)o->id));
    jw_kstr(w, "name", o->name);
    jw_kstr(w, "default_workspace_id", arena_printf(&r->a, "ws_%lld", (long long)o->default_ws_id));
    api_kiso(w, "created_at", o->created_at);
    jw_obj_end(w);
}

static int install_admin(struct hreq *r, struct core_ctx *cx)
{
    if (auth(r, cx, RIGHT_ADMIN))
        return -1;
    if (!core_install_admin(cx)) {
        api_failf(r, TG_EFORBIDDEN, "", "only the installation's admin manages organizations");
        return -1;
    }
    return 0;
}

static void h_orgs_list(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct org *o;
    struct jw w;
    size_t n;
    int rc;

    if (install_admin(r, cx))
        return;
    tg_err_clear(&err);
    rc = core_org_list(cx, &o, &n, &err);
    if (rc) {
        fail(r, rc, &err);
        return;
    }
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_org(&w, r, &o[i]);
    jw_arr_end(&w);
    jw_obj_end(&w);
}

static void h_orgs_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"name", NULL};
    const char *name = NULL;
    struct tg_err err;
    struct org o;
    json_t *body;
    struct jw w;
    int rc;

    if (install_admin(r, cx))
        return;
    body = api_body_json(r);
    if (body == NULL)
        return;
    tg_err_clear(&err);
    if (!json_is_object(body) || only_fields(r, body, fields)) {
        if (!json_is_object(body))
            api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (json_get_str(body, "name", &name, &err)) {
        fail(r, TG_EINVAL, &err);
        goto out;
    }
    rc = core_org_create(cx, name, &o, &err);
    if (rc) {
        fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    render_org(&w, r, &o);
out:
    json_decref(body);
}

static void h_ws_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"name", NULL};
    const char *name = NULL;
    struct workspace ws;
    struct tg_err err;
    int64_t org_id;
    json_t *body;
    struct jw w;
    int rc;

    if (auth(r, cx, RIGHT_ADMIN))
        return;
    if (!core_parse_id(r->params[0], "org_", &org_id) ||
        (org_id != cx->org_id && !core_install_admin(cx))) {
        api_failf(r, TG_ENOTFOUND, "organization_id", "organization not found");
        return;
    }
    body = api_body_json(r);
    if (body == NULL)
        return;
    tg_err_clear(&err);
    if (!json_is_object(body) || only_fields(r, body, fields)) {
        if (!json_is_object(body))
            api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (json_get_str(body, "name", &name, &err)) {
        fail(r, TG_EINVAL, &err);
        goto out;
    }
    rc = core_ws_create(cx, org_id, name, &ws, &err);
    if (rc) {
        fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    jw_obj(&w);
    jw_kstr(&w, "id", arena_printf(&r->a, "ws_%lld", (long long)ws.id));
    jw_kstr(&w, "organization_id", arena_printf(&r->a, "org_%lld", (long long)org_id));
    jw_kstr(&w, "name", ws.name);
    api_kiso(&w, "created_at", ws.created_at);
    jw_obj_end(&w);
out:
    json_decref(body);
}

#define R(m, p, f, fl) {m, p, f, fl, &native_dialect, NULL, NULL}
const struct route native_routes[] = {
    R("GET", "/healthz", h_healthz, ROUTE_NOLIMIT),
    R("GET", "/readyz", h_readyz, ROUTE_NOLIMIT),
    R("GET", "/metrics", h_metrics, ROUTE_NOLIMIT),
    R("GET", "/openapi.json", h_openapi, ROUTE_NOLIMIT),
    R("GET", "/v1/tags", h_tags_list, 0),
    R("POST", "/v1/tags", h_tags_create, ROUTE_WRITE),
    R("POST", "/v1/tags/{id}:restore", h_tag_restore, ROUTE_WRITE),
    R("GET", "/v1/tags/{id}/resources", h_tag_resources, 0),
    R("GET", "/v1/tags/{id}", h_tag_get, 0),
    R("PATCH", "/v1/tags/{id}", h_tag_patch, ROUTE_WRITE),
    R("DELETE", "/v1/tags/{id}", h_tag_delete, ROUTE_WRITE),
    R("GET", "/v1/groups", h_groups_list, 0),
    R("POST", "/v1/groups", h_groups_create, ROUTE_WRITE),
    R("PUT", "/v1/groups/{id}/tags", h_group_set_tags, ROUTE_WRITE),
    R("GET", "/v1/groups/{id}", h_group_get, 0),
    R("PATCH", "/v1/groups/{id}", h_group_patch, ROUTE_WRITE),
    R("DELETE", "/v1/groups/{id}", h_group_delete, ROUTE_WRITE),
    R("GET", "/v1/resources", h_resources_list, 0),
    R("GET", "/v1/resources/{kind}/{key}/tags", h_res_tags_get, 0),
    R("POST", "/v1/resources/{kind}/{key}/tags", h_res_tags_add, ROUTE_WRITE),
    R("PUT", "/v1/resources/{kind}/{key}/tags", h_res_tags_put, ROUTE_WRITE),
    R("DELETE", "/v1/resources/{kind}/{key}/tags/{tag}", h_res_tag_delete, ROUTE_WRITE),
    R("GET", "/v1/resources/{kind}/{key}", h_resource_get, 0),
    R("PUT", "/v1/resources/{kind}/{key}", h_resource_put, ROUTE_WRITE),
    R("DELETE", "/v1/resources/{kind}/{key}", h_resource_delete, ROUTE_WRITE),
    R("GET", "/v1/users", h_users_list, 0),
    R("POST", "/v1/users", h_users_create, ROUTE_WRITE),
    R("GET", "/v1/tokens", h_tokens_list, 0),
    R("POST", "/v1/tokens", h_tokens_create, ROUTE_WRITE),
    R("DELETE", "/v1/tokens/{id}", h_token_delete, ROUTE_WRITE),
    R("GET", "/v1/changes", h_changes, 0),
    R("GET", "/v1/organizations", h_orgs_list, 0),
    R("POST", "/v1/organizations", h_orgs_create, ROUTE_WRITE),
    R("POST", "/v1/organizations/{org}/workspaces", h_ws_create, ROUTE_WRITE),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
