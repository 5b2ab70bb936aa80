/* api/native/resources.c: /v1/resources: the things tags are put on. A list with `query` is a
 * tag query (query.c). */
#include <string.h>

#include "api/native/native.h"
#include "util/json.h"

/* ---- resources ---- */

enum api_result native_resource_get(struct hreq *r, struct core_ctx *cx)
{
    struct native_asof asof;
    struct resource res;
    struct jw w;

    if (api_native_auth(r, cx, RIGHT_READ) || native_as_of(r, cx, &asof) ||
        native_load_resource_at(r, cx, &asof, &res))
        return API_ROLLBACK;
    api_json_begin(r, 200, &w);
    api_native_render_resource(&w, r, &res);
    native_set_etag(r, res.version);
    return API_ANSWER;
}

static const char *const resource_fields[] = {"name", "parent", "archived", "document", NULL};

int native_resource_input(json_t *body, struct arena *a, struct resource_input *in,
                          struct tg_err *err)
{
    json_t *p;
    int rc;

    memset(in, 0, sizeof(*in));
    if (!json_is_object(body))
        return tg_err_set(err, TG_EINVAL, "body", "body must be a JSON object");
    rc = native_fields_check(body, resource_fields, err);
    if (rc)
        return rc;
    if (json_get_str_or_null(body, "name", &in->name, &in->has_name, err) ||
        json_get_bool(body, "archived", &in->archived, &in->has_archived, err)) {
        err->code = TG_EINVAL;
        return TG_EINVAL;
    }
    p = json_object_get(body, "document");
    if (p) {
        if (!json_is_object(p) && !json_is_null(p))
            return tg_err_set(err, TG_EINVAL, "document", "'document' must be an object or null");
        in->has_extra = true;
        in->extra = json_is_object(p) ? json_to_arena(a, p) : NULL;
    }
    p = json_object_get(body, "parent");
    if (p) {
        in->has_parent = true;
        if (json_is_object(p)) {
            json_t *k = json_object_get(p, "kind"), *key = json_object_get(p, "key");
            if (!json_is_string(k) || !json_is_string(key))
                return tg_err_set(err, TG_EINVAL, "parent",
                                  "'parent' must be {\"kind\", \"key\"} or null");
            in->parent_kind = json_string_value(k);
            in->parent_key = json_string_value(key);
        } else if (!json_is_null(p)) {
            return tg_err_set(err, TG_EINVAL, "parent",
                              "'parent' must be {\"kind\", \"key\"} or null");
        }
    }
    return 0;
}

enum api_result native_resource_put(struct hreq *r, struct core_ctx *cx)
{
    struct resource_input in;
    struct resource res;
    struct tg_err err;
    json_t *body;
    bool created;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_ASSIGN))
        return API_ROLLBACK;
    body = r->body_len ? api_body_json(r) : json_object();
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = native_resource_input(body, &r->a, &in, &err);
    if (rc == 0)
        rc = core_resource_put(cx, r->params[0], r->params[1], &in, &res, &created, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, created ? 201 : 200, &w);
    api_native_render_resource(&w, r, &res);
    native_set_etag(r, res.version);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

enum api_result native_resource_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int rc;

    if (api_native_auth(r, cx, RIGHT_ASSIGN))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_resource_delete(cx, r->params[0], r->params[1], &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

enum api_result native_resources_list(struct hreq *r, struct core_ctx *cx)
{
    struct native_asof asof;
    struct resource_filter f;
    struct resource *items;
    struct tg_err err;
    int64_t limit, total = 0;
    const char *parent, *tag, *arch;
    bool more;
    size_t n;
    int rc;

    if (api_query_has(r, "query")) { /* a tag query: served by the engine */
        return native_query_resources(r, cx);
    }
    if (api_native_auth(r, cx, RIGHT_READ) || native_as_of(r, cx, &asof))
        return API_ROLLBACK;
    memset(&f, 0, sizeof(f));
    if (api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit) ||
        native_id_cursor(r, cx, &f.after_id))
        return API_ROLLBACK;
    f.limit = (int)limit;
    f.kind = api_query(r, "kind");
    tg_err_clear(&err);
    parent = api_query(r, "parent");
    if (parent) {
        const char *slash = strchr(parent, '/');
        struct resource p;
        if (slash == NULL)
            return api_failf(r, TG_EINVAL, "parent", "'parent' must be KIND/KEY");
        if (asof.set)
            rc = core_asof_resource_get(cx, asof.rev,
                                        arena_strndup(&r->a, parent, (size_t)(slash - parent)),
                                        slash + 1, &p, &err);
        else
            rc = core_resource_get(cx, arena_strndup(&r->a, parent, (size_t)(slash - parent)),
                                   slash + 1, &p, &err);
        if (rc)
            return api_fail(r, rc == TG_ENOTFOUND ? TG_EINVAL : rc, &err);
        f.parent_id = p.id;
    }
    tag = api_query(r, "tag");
    if (tag) {
        struct tag t;
        rc = core_tag_resolve(cx, tag, &t, &err);
        if (rc)
            return api_fail(r, rc == TG_ENOTFOUND ? TG_EINVAL : rc, &err);
        f.tag_id = t.id;
        native_alias_header(r, cx);
    }
    arch = api_query(r, "archived");
    if (arch) {
        if (strcmp(arch, "true") == 0)
            f.archived = 1;
        else if (strcmp(arch, "only") == 0)
            f.archived = 2;
        else if (strcmp(arch, "false") != 0)
            return api_failf(r, TG_EINVAL, "archived", "'archived' must be true, false or only");
    }
    if (asof.set)
        rc = core_asof_resource_list(cx, asof.rev, &f, &items, &n, &more, &err);
    else
        rc = core_resource_list(cx, &f, &items, &n, &more, &total, &err);
    if (rc)
        return api_fail(r, rc, &err);
    if (asof.set)
        native_render_resource_page_as_of(r, cx, items, n, more, &asof);
    else
        native_render_resource_page(r, cx, items, n, more, &total);
    return API_ANSWER;
}

enum api_result native_resource_history(struct hreq *r, struct core_ctx *cx)
{
    struct resource res;

    if (api_native_auth(r, cx, RIGHT_READ) || native_load_resource(r, cx, &res))
        return API_ROLLBACK;
    return native_render_history(r, cx, "resource", res.id);
}
