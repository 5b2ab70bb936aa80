/* api/native/assignments.c: /v1/resources/{kind}/{key}/tags: the tags on a resource, direct
 * or effective, and the writes that add, replace and remove them. */
#include <string.h>

#include "api/native/native.h"
#include "util/json.h"

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

/* `asof` NULL: the present; else the answer names the revision it is as of. */
static void render_assignments(struct hreq *r, struct assignment *as, size_t n,
                               const struct native_asof *asof)
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
                as[i].tag.display_name ? as[i].tag.display_name : native_last_segment(as[i].tag.name));
        jw_kstr(&w, "color", as[i].tag.color);
        if (as[i].tag.state == TAG_DEPRECATED) {
            /* The hint a deprecated tag carries where it stays (docs/taxonomy.md). */
            jw_kstr(&w, "state", "deprecated");
            jw_key(&w, "replaced_by");
            if (as[i].tag.replaced_by)
                jw_int(&w, as[i].tag.replaced_by);
            else
                jw_null(&w);
        }
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
    if (asof)
        native_render_as_of(&w, asof);
    jw_obj_end(&w);
}

struct asg_view {
    struct assignment *as;
    size_t n;
};

static void render_assignments_later(struct hreq *r, void *arg)
{
    struct asg_view *v = arg;
    render_assignments(r, v->as, v->n, NULL);
}

enum api_result native_res_tags_get(struct hreq *r, struct core_ctx *cx)
{
    struct native_asof asof;
    struct assignment *as;
    struct tg_err err;
    int64_t id;
    bool eff;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || api_query_bool(r, "effective", false, &eff) ||
        native_as_of(r, cx, &asof))
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (asof.set) {
        struct resource res;
        rc = core_asof_resource_get(cx, asof.rev, r->params[0], r->params[1], &res, &err);
        if (rc == 0)
            rc = core_asof_assign_list(cx, asof.rev, &res, eff, &as, &n, &err);
    } else {
        rc = core_resource_id(cx, r->params[0], r->params[1], &id, &err);
        if (rc == 0)
            rc = core_assign_list(cx, id, eff, &as, &n, &err);
    }
    if (rc)
        return api_fail(r, rc, &err);
    render_assignments(r, as, n, asof.set ? &asof : NULL);
    return API_ANSWER;
}

/* The body's `expires_at` (RFC 3339 text or epoch ms) and `ttl` (seconds) as
 * core_expiry_parse takes them (NULL, -1: absent); -1 having answered a wrong type. */
static int native_expiry(struct hreq *r, json_t *body, const char **expires_at, int64_t *ttl)
{
    json_t *v = json_object_get(body, "expires_at");

    if (v && json_is_string(v)) {
        *expires_at = json_string_value(v);
    } else if (v && json_is_integer(v)) {
        *expires_at = arena_printf(&r->a, "%lld", (long long)json_integer_value(v));
    } else if (v && !json_is_null(v)) {
        api_failf(r, TG_EINVAL, "expires_at",
                  "'expires_at' must be an RFC 3339 time or epoch milliseconds");
        return -1;
    }
    v = json_object_get(body, "ttl");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            api_failf(r, TG_EINVAL, "ttl", "'ttl' must be a whole number of seconds");
            return -1;
        }
        *ttl = json_integer_value(v);
    }
    return 0;
}

static enum api_result res_tags_write(struct hreq *r, struct core_ctx *cx, bool replace)
{
    static const char *const fields[] = {"tags", "create_missing", "context", "expires_at", "ttl",
                                         NULL};
    struct assignment *as;
    struct tg_err err;
    json_t *body, *arr;
    bool create = false;
    const char *context = "manual";
    int64_t *ids, res_id, ttl = -1, expires = 0;
    const char *expires_at = NULL;
    size_t n;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_ASSIGN))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (json_is_array(body)) {
        arr = body;
    } else if (json_is_object(body)) {
        if (native_only_fields(r, body, fields))
            goto out;
        arr = json_object_get(body, "tags");
        if (json_get_bool(body, "create_missing", &create, NULL, &err) ||
            json_get_str(body, "context", &context, &err)) {
            api_fail(r, TG_EINVAL, &err);
            goto out;
        }
        if (native_expiry(r, body, &expires_at, &ttl))
            goto out;
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
            api_fail(r, rc, &err);
            goto out;
        }
    }
    if (strlen(context) == 0 || strlen(context) > 64) {
        api_failf(r, TG_EINVAL, "context", "'context' must be 1-64 bytes");
        goto out;
    }
    rc = core_expiry_parse(cx, expires_at, ttl, &expires, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    rc = core_resource_ensure_id(cx, r->params[0], r->params[1], &res_id, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    if (native_tag_refs(r, cx, arr, create, &ids, &n))
        goto out;
    rc = replace ? core_assign_replace_until(cx, res_id, ids, n, context, expires, &as, &n, &err)
                 : core_assign_add_until(cx, res_id, ids, n, context, expires, &as, &n, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    {
        /* The list comes from the request's own transaction; the JSON is written by the loop
         * after the commit (the list lives in the request's arena). */
        struct asg_view *v = arena_alloc(&r->a, sizeof(*v));
        v->as = as;
        v->n = n;
        result = api_render_later(r, 200, render_assignments_later, v);
    }
out:
    json_decref(body);
    return result;
}

enum api_result native_res_tags_add(struct hreq *r, struct core_ctx *cx)
{
    return res_tags_write(r, cx, false);
}

enum api_result native_res_tags_put(struct hreq *r, struct core_ctx *cx)
{
    return res_tags_write(r, cx, true);
}

enum api_result native_res_tag_delete(struct hreq *r, struct core_ctx *cx)
{
    struct resource res;
    struct tg_err err;
    struct tag t;
    int rc;

    if (api_native_auth(r, cx, RIGHT_ASSIGN) || native_load_resource(r, cx, &res))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_tag_resolve(cx, r->params[2], &t, &err);
    native_alias_header(r, cx);
    if (rc == 0)
        rc = core_assign_remove(cx, res.id, t.id, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}
