/* api/native/aliases.c: a tag's old names (GET and DELETE /v1/tags/{id}/aliases...), merging
 * tags (POST /v1/tags/{id}:merge), and the X-Tagd-Alias header that tells a client which of the
 * names it gave were aliases. The rules are core's (core/aliases.c). */
#include <string.h>

#include "api/native/native.h"
#include "util/json.h"
#include "util/sbuf.h"

void native_alias_header(struct hreq *r, struct core_ctx *cx)
{
    struct sbuf b;
    size_t n = 0;

    if (cx->alias_hits == NULL)
        return;
    sbuf_init(&b, 0);
    for (const struct alias_hit *h = cx->alias_hits; h; h = h->next) {
        bool dup = false;
        /* The same old name given twice is told once. */
        for (const struct alias_hit *o = cx->alias_hits; o != h && !dup; o = o->next)
            dup = strcmp(o->alias, h->alias) == 0;
        if (dup)
            continue;
        if (n++)
            sbuf_add(&b, ", ", 2);
        api_url_encode(&b, h->alias);
        sbuf_addc(&b, '=');
        api_url_encode(&b, h->tag);
    }
    api_set_header(r, "X-Tagd-Alias", sbuf_str(&b));
    sbuf_release(&b);
}

/* The alias `name` given for a single tag (the first resolved), or NULL. */
const char *native_alias_given(struct core_ctx *cx, int64_t tag_id)
{
    const struct alias_hit *last = NULL;

    for (const struct alias_hit *h = cx->alias_hits; h; h = h->next)
        if (h->tag_id == tag_id)
            last = h;
    return last ? last->alias : NULL;
}

static void render_alias(struct jw *w, const struct tag_alias *a)
{
    jw_obj(w);
    jw_kstr(w, "name", a->name);
    jw_kint(w, "tag_id", a->tag_id);
    jw_kstr(w, "reason", a->reason);
    jw_kstr(w, "created_by", a->created_by);
    api_kiso(w, "created_at", a->created_at);
    jw_obj_end(w);
}

int native_render_alias_names(struct jw *w, struct hreq *r, struct core_ctx *cx, int64_t tag_id)
{
    struct tag_alias *v;
    struct tg_err err;
    size_t n;
    int rc;

    tg_err_clear(&err);
    rc = core_alias_list(cx, tag_id, &v, &n, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    jw_key(w, "aliases");
    jw_arr(w);
    for (size_t i = 0; i < n; i++)
        jw_str(w, v[i].name);
    jw_arr_end(w);
    return 0;
}

static int load(struct hreq *r, struct core_ctx *cx, struct tag *t)
{
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    rc = core_tag_resolve(cx, r->params[0], t, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    native_alias_header(r, cx);
    return 0;
}

enum api_result native_tag_aliases(struct hreq *r, struct core_ctx *cx)
{
    struct tag_alias *v;
    struct tg_err err;
    struct tag t;
    struct jw w;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_READ) || load(r, cx, &t))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_alias_list(cx, t.id, &v, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_alias(&w, &v[i]);
    jw_arr_end(&w);
    jw_kint(&w, "total", (int64_t)n);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_tag_alias_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct tag t;
    int rc;

    if (api_native_auth(r, cx, RIGHT_WRITE) || load(r, cx, &t))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_alias_remove(cx, t.id, r->params[1], &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

static void render_ref(struct jw *w, const char *key, const struct tag *t)
{
    jw_keyn(w, key, strlen(key));
    jw_obj(w);
    jw_key(w, "id");
    if (t->id)
        jw_int(w, t->id);
    else
        jw_null(w);
    jw_kstr(w, "name", t->name);
    jw_obj_end(w);
}

static void render_conflicts(struct jw *w, const struct merge_result *m)
{
    jw_key(w, "conflicts");
    jw_arr(w);
    for (size_t i = 0; i < m->nconflicts; i++) {
        const struct merge_conflict *c = &m->conflicts[i];
        jw_obj(w);
        jw_key(w, "resource");
        jw_obj(w);
        jw_kint(w, "id", c->resource_id);
        jw_kstr(w, "kind", c->kind);
        jw_kstr(w, "key", c->key);
        jw_obj_end(w);
        jw_kstr(w, "group", c->group);
        jw_key(w, "tags");
        jw_arr(w);
        for (size_t k = 0; k < c->ntags; k++)
            jw_str(w, c->tags[k]);
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

static void render_merge(struct jw *w, const struct merge_result *m, bool dry_run)
{
    jw_obj(w);
    jw_kbool(w, "dry_run", dry_run);
    render_ref(w, "from", &m->pairs[0].from);
    render_ref(w, "into", &m->pairs[0].into);
    jw_key(w, "pairs");
    jw_arr(w);
    for (size_t i = 0; i < m->npairs; i++) {
        const struct merge_pair *p = &m->pairs[i];
        jw_obj(w);
        render_ref(w, "from", &p->from);
        render_ref(w, "into", &p->into);
        jw_kbool(w, "created", p->created);
        jw_kint(w, "moved", p->moved);
        jw_kint(w, "collapsed", p->collapsed);
        jw_kint(w, "aliases_moved", p->aliases);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "aliases_created");
    jw_arr(w);
    for (size_t i = 0; i < m->npairs; i++) {
        jw_obj(w);
        jw_kstr(w, "name", m->pairs[i].from.name);
        jw_kstr(w, "tag", m->pairs[i].into.name);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_kint(w, "resources", m->resources);
    jw_kint(w, "moved", m->moved);
    jw_kint(w, "collapsed", m->collapsed);
    render_conflicts(w, m);
    jw_obj_end(w);
}

/* A refused merge: the native error, with the conflicts in its details. */
static enum api_result fail_conflicts(struct hreq *r, const struct tg_err *err,
                                      const struct merge_result *m)
{
    struct jw w;

    api_json_begin(r, tg_code_status(TG_ECONFLICT), &w);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_kstr(&w, "code", tg_code_slug(TG_ECONFLICT));
    jw_kstr(&w, "message", err->msg);
    jw_key(&w, "details");
    jw_obj(&w);
    jw_kstr(&w, "field", "into");
    render_conflicts(&w, m);
    jw_obj_end(&w);
    jw_kstr(&w, "request_id", r->request_id);
    jw_obj_end(&w);
    jw_obj_end(&w);
    return API_ROLLBACK;
}

static const char *const merge_fields[] = {"into", "subtree", "dry_run", NULL};

enum api_result native_tag_merge(struct hreq *r, struct core_ctx *cx)
{
    struct merge_opts o;
    struct merge_result m;
    struct tg_err err;
    bool has, qdry, bdry = false;
    json_t *body;
    struct tag t;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_WRITE) || api_query_bool(r, "dry_run", false, &qdry) ||
        load(r, cx, &t))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    memset(&o, 0, sizeof(o));
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "a merge must be a JSON object");
        goto out;
    }
    if (native_only_fields(r, body, merge_fields))
        goto out;
    if (json_get_str(body, "into", &o.into, &err) ||
        json_get_bool(body, "subtree", &o.subtree, &has, &err) ||
        json_get_bool(body, "dry_run", &bdry, &has, &err)) {
        api_fail(r, TG_EINVAL, &err);
        goto out;
    }
    if (o.into == NULL) {
        api_failf(r, TG_EINVAL, "into", "'into' is required");
        goto out;
    }
    o.into = arena_strdup(&r->a, o.into); /* the body is freed before the answer */
    o.dry_run = qdry || bdry;
    rc = core_tag_merge(cx, t.id, &o, &m, &err);
    native_alias_header(r, cx);
    if (rc == TG_ECONFLICT && m.nconflicts && !o.dry_run) {
        result = fail_conflicts(r, &err, &m);
        goto out;
    }
    if (rc && !(rc == TG_ECONFLICT && m.nconflicts)) {
        result = api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 200, &w);
    render_merge(&w, &m, o.dry_run);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}
