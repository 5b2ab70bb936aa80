/* api/native/tags.c: /v1/tags: the taxonomy, and the resources carrying a tag.
 * Single tags carry an ETag (their version) that PATCH and DELETE check through If-Match. */
#include <string.h>

#include "api/native/native.h"
#include "util/json.h"

static void render_tag_fields(struct jw *w, struct hreq *r, const struct tag *t);

static void render_tag(struct jw *w, struct hreq *r, const struct tag *t)
{
    jw_obj(w);
    render_tag_fields(w, r, t);
    jw_obj_end(w);
}

/* A single tag's answer: its aliases, and the alias the request named it by (if it did). */
static int render_tag_one(struct jw *w, struct hreq *r, struct core_ctx *cx, const struct tag *t)
{
    const char *via = native_alias_given(cx, t->id);

    jw_obj(w);
    render_tag_fields(w, r, t);
    if (native_render_alias_names(w, r, cx, t->id))
        return -1;
    if (via)
        jw_kstr(w, "requested_alias", via);
    jw_obj_end(w);
    native_alias_header(r, cx);
    return 0;
}

static void render_tag_fields(struct jw *w, struct hreq *r, const struct tag *t)
{
    jw_kint(w, "id", t->id);
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "display_name", t->display_name ? t->display_name : native_last_segment(t->name));
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
    jw_kstr(w, "state", tag_state_name(t->state));
    jw_key(w, "replaced_by");
    if (t->replaced_by)
        jw_int(w, t->replaced_by);
    else
        jw_null(w);
    jw_key(w, "group_id");
    if (t->group_id)
        jw_int(w, t->group_id);
    else
        jw_null(w);
    jw_kint(w, "position", t->position);
    jw_kbool(w, "assign_restricted", t->assign_restricted);
    jw_kstr(w, "created_by", t->created_by);
    api_kiso(w, "created_at", t->created_at);
    api_kiso(w, "updated_at", t->updated_at);
    jw_kint(w, "version", t->version);
}

void native_render_tag(struct jw *w, struct hreq *r, const struct tag *t)
{
    render_tag(w, r, t);
}

/* ---- tags ---- */

static const char *const tag_fields[] = {"name",     "display_name", "l10n",     "color",
                                         "description", "source",    "protected", "archived",
                                         "group_id", "position",     "state",
                                         "replaced_by", "assign_restricted", NULL};

int native_tag_input(json_t *o, struct arena *a, struct tag_input *in, bool create,
                     struct tg_err *err)
{
    json_t *v;
    int rc;

    memset(in, 0, sizeof(*in));
    if (!json_is_object(o))
        return tg_err_set(err, TG_EINVAL, "body", "a tag must be a JSON object");
    rc = native_fields_check(o, tag_fields, err);
    if (rc)
        return rc;
    if (json_get_str(o, "name", &in->name, err) ||
        json_get_str_or_null(o, "display_name", &in->display_name, &in->has_display_name, err) ||
        json_get_str_or_null(o, "color", &in->color, &in->has_color, err) ||
        json_get_str_or_null(o, "description", &in->description, &in->has_description, err) ||
        json_get_str_or_null(o, "source", &in->source, &in->has_source, err) ||
        json_get_bool(o, "protected", &in->protected_, &in->has_protected, err) ||
        json_get_bool(o, "archived", &in->archived, &in->has_archived, err) ||
        json_get_bool(o, "assign_restricted", &in->assign_restricted,
                      &in->has_assign_restricted, err) ||
        json_get_str_or_null(o, "state", &in->state, &in->has_state, err) ||
        json_get_int(o, "position", &in->position, &in->has_position, err)) {
        err->code = TG_EINVAL;
        return TG_EINVAL;
    }
    v = json_object_get(o, "group_id");
    if (v) {
        in->has_group = true;
        if (json_is_integer(v))
            in->group_id = json_integer_value(v);
        else if (!json_is_null(v))
            return tg_err_set(err, TG_EINVAL, "group_id", "'group_id' must be an integer or null");
    }
    v = json_object_get(o, "replaced_by");
    if (v) {
        /* A name, an id as the answers give it (12), or tag_12; null clears it. */
        in->has_replaced_by = true;
        if (json_is_string(v))
            in->replaced_by = json_string_value(v);
        else if (json_is_integer(v) && json_integer_value(v) > 0)
            in->replaced_by = arena_printf(a, "tag_%lld", (long long)json_integer_value(v));
        else if (!json_is_null(v))
            return tg_err_set(err, TG_EINVAL, "replaced_by",
                              "'replaced_by' must be a tag name, an id or null");
    }
    v = json_object_get(o, "l10n");
    if (v) {
        in->has_l10n = true;
        if (json_is_object(v))
            in->l10n = json_to_arena(a, v);
        else if (!json_is_null(v))
            return tg_err_set(err, TG_EINVAL, "l10n", "'l10n' must be an object of language to text");
    }
    if (create && in->name == NULL)
        return tg_err_set(err, TG_EINVAL, "name", "name is required");
    return 0;
}

static int parse_tag_input(struct hreq *r, json_t *o, struct tag_input *in, bool create)
{
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    rc = native_tag_input(o, &r->a, in, create, &err);
    if (rc) {
        api_fail(r, rc, &err);
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
    v = api_query(r, "state");
    if (v) {
        if (!tag_state_valid(v)) {
            api_failf(r, TG_EINVAL, "state",
                      "'state' must be draft, active, deprecated or archived");
            return -1;
        }
        f->state = 1 + (int)tag_state_parse(v);
        /* Asking for a state names what to see: archived ones are no longer left out. */
        if (api_query(r, "archived") == NULL)
            f->archived = 1;
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

enum api_result native_tags_list(struct hreq *r, struct core_ctx *cx)
{
    struct native_asof asof;
    struct tag_filter f;
    struct tg_err err;
    struct tag *tags;
    const char *next, *cv;
    int64_t total = 0, *own = NULL, *tree = NULL;
    bool steward, counts = false;
    size_t n;
    struct jw w;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || tag_filter_from_query(r, &f) ||
        native_as_of(r, cx, &asof))
        return API_ROLLBACK;
    cv = api_query(r, "counts");
    if (cv && strcmp(cv, "true") == 0)
        counts = true;
    else if (cv && strcmp(cv, "false") != 0)
        return api_failf(r, TG_EINVAL, "counts", "'counts' must be true or false");
    if (counts && asof.set)
        return api_failf(r, TG_EINVAL, "counts", "'counts' are the present's: not with as_of");
    /* The cache knows no principal, and drafts are shown to stewards only: their lists are
     * the ones cached, and only they read the cache. Counts move with every assignment, which
     * does not drop the cache: a list with them is never cached. */
    steward = (cx->who.rights & (RIGHT_WRITE | RIGHT_ADMIN)) != 0;
    if (!asof.set && steward && !counts && api_cache_serve(r, cx))
        return API_ANSWER;
    tg_err_clear(&err);
    if (asof.set)
        rc = core_asof_tag_list(cx, asof.rev, &f, &tags, &n, &next, &total, &err);
    else
        rc = core_tag_list(cx, &f, &tags, &n, &next, &total, &err);
    if (rc == 0 && counts) {
        /* The console's tree shows them on every row: from the engine, a bitmap's
         * cardinality each (the store counts when no engine is loaded). */
        own = arena_alloc(&r->a, (n ? n : 1) * sizeof(*own));
        tree = arena_alloc(&r->a, (n ? n : 1) * sizeof(*tree));
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = core_tag_usage_total(cx, &tags[i], false, &own[i], &err);
            if (rc == 0)
                rc = core_tag_usage_total(cx, &tags[i], true, &tree[i], &err);
        }
    }
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        if (!counts) {
            render_tag(&w, r, &tags[i]);
            continue;
        }
        jw_obj(&w);
        render_tag_fields(&w, r, &tags[i]);
        jw_key(&w, "usage");
        jw_obj(&w);
        jw_kint(&w, "resources", own[i]);
        jw_kint(&w, "subtree", tree[i]);
        jw_obj_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_kstr(&w, "next_cursor", next);
    jw_kint(&w, "total", total);
    if (asof.set)
        native_render_as_of(&w, &asof);
    jw_obj_end(&w);
    if (!asof.set && steward && !counts)
        api_cache_store(r, cx);
    return API_ANSWER;
}

enum api_result native_tags_create(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    json_t *body, *list;
    struct tag *out;
    struct jw w;
    size_t n, i;
    bool batch;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_WRITE))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
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
            api_fail(r, rc, &err);
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
        if (render_tag_one(&w, r, cx, &out[0]))
            goto out;
        native_set_etag(r, out[0].version);
        api_set_header(r, "Location", arena_printf(&r->a, "/v1/tags/%lld", (long long)out[0].id));
    }
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

static int load_tag(struct hreq *r, struct core_ctx *cx, struct tag *t)
{
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    rc = core_tag_resolve(cx, r->params[0], t, &err);
    if (rc == 0 && !core_tag_visible(cx, t))
        rc = tg_err_set(&err, TG_ENOTFOUND, "tag", "no tag '%s'", r->params[0]);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    native_alias_header(r, cx);
    return 0;
}

enum api_result native_tag_get(struct hreq *r, struct core_ctx *cx)
{
    struct native_asof asof;
    struct tg_err err;
    struct tag t;
    struct jw w;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || native_as_of(r, cx, &asof))
        return API_ROLLBACK;
    if (asof.set) {
        tg_err_clear(&err);
        rc = core_asof_tag_get(cx, asof.rev, r->params[0], &t, &err);
        if (rc == 0 && !core_tag_visible(cx, &t))
            rc = tg_err_set(&err, TG_ENOTFOUND, "tag", "no tag '%s'", r->params[0]);
        if (rc)
            return api_fail(r, rc, &err);
    } else if (load_tag(r, cx, &t)) {
        return API_ROLLBACK;
    }
    api_json_begin(r, 200, &w);
    if (asof.set)
        render_tag(&w, r, &t);
    else if (render_tag_one(&w, r, cx, &t))
        return API_ROLLBACK;
    native_set_etag(r, t.version);
    return API_ANSWER;
}

enum api_result native_tag_patch(struct hreq *r, struct core_ctx *cx)
{
    struct tag_input in;
    struct tg_err err;
    struct tag t, out;
    int64_t version;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK; /* parse_tag_input rendered its error */

    if (api_native_auth(r, cx, RIGHT_WRITE) || native_if_match(r, &version) || load_tag(r, cx, &t))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    if (parse_tag_input(r, body, &in, false) == 0) {
        tg_err_clear(&err);
        rc = core_tag_update(cx, t.id, &in, version, &out, &err);
        if (rc) {
            result = api_fail(r, rc, &err);
        } else {
            api_json_begin(r, 200, &w);
            if (render_tag_one(&w, r, cx, &out) == 0) {
                native_set_etag(r, out.version);
                result = API_ANSWER;
            }
        }
    }
    json_decref(body);
    return result;
}

enum api_result native_tag_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int64_t version;
    bool recursive, purge;
    struct tag t;
    int rc;

    if (api_native_auth(r, cx, RIGHT_WRITE) || native_if_match(r, &version) ||
        api_query_bool(r, "recursive", false, &recursive) ||
        api_query_bool(r, "purge", false, &purge) || load_tag(r, cx, &t))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_tag_delete(cx, t.id, recursive, purge, version, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

enum api_result native_tag_restore(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct tag t, out;
    struct jw w;
    int rc;

    if (api_native_auth(r, cx, RIGHT_WRITE) || load_tag(r, cx, &t))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_tag_restore(cx, t.id, &out, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    if (render_tag_one(&w, r, cx, &out))
        return API_ROLLBACK;
    native_set_etag(r, out.version);
    return API_ANSWER;
}

enum api_result native_tag_resources(struct hreq *r, struct core_ctx *cx)
{
    struct resource *items;
    struct tg_err err;
    int64_t after, limit, total = 0;
    bool desc, more;
    struct tag t;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || load_tag(r, cx, &t) ||
        api_query_bool(r, "descendants", false, &desc) ||
        api_query_int(r, "limit", 100, 1, core_limits.max_list_limit, &limit) ||
        native_id_cursor(r, cx, &after))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_tag_usage(cx, &t, desc, after, (int)limit, &items, &n, &more, &err);
    if (rc == 0)
        rc = core_tag_usage_total(cx, &t, desc, &total, &err);
    if (rc)
        return api_fail(r, rc, &err);
    native_render_resource_page(r, cx, items, n, more, &total);
    return API_ANSWER;
}

enum api_result native_tag_history(struct hreq *r, struct core_ctx *cx)
{
    struct tag t;

    if (api_native_auth(r, cx, RIGHT_READ) || load_tag(r, cx, &t))
        return API_ROLLBACK;
    return native_render_history(r, cx, "tag", t.id);
}
