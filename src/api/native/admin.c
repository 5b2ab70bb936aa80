/* api/native/admin.c: users, tokens, organizations and workspaces: the admin endpoints
 * of the native API. */
#include <stdio.h>
#include <string.h>

#include "api/native/native.h"
#include "util/json.h"
#include "util/timeu.h"

/* The body's optional `assign` list (tag subtree patterns) in core's canonical text in *out
 * (NULL: absent or null, no limit). -1 after rendering the error. */
static int assign_field(struct hreq *r, struct core_ctx *cx, json_t *o, const char **out)
{
    json_t *v = json_object_get(o, "assign"), *e;
    struct tg_err err;
    const char **pats;
    size_t i;
    int rc;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        api_failf(r, TG_EINVAL, "assign", "'assign' must be a list of tag subtree patterns");
        return -1;
    }
    pats = arena_alloc(&r->a, (json_array_size(v) + 1) * sizeof(*pats));
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            api_failf(r, TG_EINVAL, "assign", "'assign' must be a list of tag subtree patterns");
            return -1;
        }
        pats[i] = json_string_value(e);
    }
    tg_err_clear(&err);
    rc = core_assign_parse(cx, pats, json_array_size(v), out, &err);
    if (rc) {
        api_fail(r, rc, &err);
        return -1;
    }
    return 0;
}

/* `assign` as stored (a JSON array), or null for no limit. */
static void assign_render(struct jw *w, const char *assign)
{
    jw_key(w, "assign");
    if (assign)
        jw_raw(w, assign);
    else
        jw_null(w);
}

/* GET /v1/me says who the bearer token is: principal, rights, organization and workspace, so
 * that a client (the web console) can show them and leave out the controls it may not use. */
enum api_result native_me(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct org o;
    struct workspace ws, *all = NULL;
    size_t nall = 0;
    struct jw w;
    int rc;

    if (api_native_auth(r, cx, 0))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_org_get(cx, cx->org_id, &o, &err);
    if (rc == 0)
        rc = core_ws_get(cx, cx->ws_id, &ws, &err);
    /* Every workspace of the organization: X-Tagd-Workspace reaches each of them. */
    if (rc == 0)
        rc = core_ws_list(cx, cx->org_id, &all, &nall, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kstr(&w, "principal", cx->who.name);
    jw_kstr(&w, "kind", cx->who.kind);
    jw_kstr(&w, "token_id", arena_printf(&r->a, "tok_%lld", (long long)cx->who.token_id));
    jw_key(&w, "rights");
    jw_arr(&w);
    for (int i = 0; core_right_name(i); i++)
        if (cx->who.rights & (1u << i))
            jw_str(&w, core_right_name(i));
    jw_arr_end(&w);
    assign_render(&w, cx->who.assign);
    jw_kbool(&w, "installation_admin", core_install_admin(cx));
    jw_key(&w, "organization");
    jw_obj(&w);
    jw_kstr(&w, "id", arena_printf(&r->a, "org_%lld", (long long)o.id));
    jw_kstr(&w, "name", o.name);
    jw_obj_end(&w);
    jw_key(&w, "workspace");
    jw_obj(&w);
    jw_kstr(&w, "id", arena_printf(&r->a, "ws_%lld", (long long)ws.id));
    jw_kstr(&w, "name", ws.name);
    jw_obj_end(&w);
    jw_key(&w, "workspaces");
    jw_arr(&w);
    for (size_t i = 0; i < nall; i++) {
        jw_obj(&w);
        jw_kstr(&w, "id", arena_printf(&r->a, "ws_%lld", (long long)all[i].id));
        jw_kstr(&w, "name", all[i].name);
        jw_kbool(&w, "default", all[i].is_default);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    api_kiso(&w, "expires_at", cx->who.expires_at);
    jw_obj_end(&w);
    return API_ANSWER;
}

/* ---- users, tokens, organizations ---- */

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

static void render_user(struct jw *w, struct hreq *r, const struct user *u)
{
    jw_obj(w);
    jw_kint(w, "id", u->id);
    jw_kstr(w, "login", u->login);
    jw_key(w, "rights");
    rights_array(w, r, u->rights);
    assign_render(w, u->assign);
    jw_kbool(w, "disabled", u->disabled);
    api_kiso(w, "created_at", u->created_at);
    jw_obj_end(w);
}

enum api_result native_users_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"login", "password", "rights", "assign", NULL};
    const char *login = NULL, *pw = NULL, *assign;
    struct tg_err err;
    unsigned rights;
    struct user u;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (native_only_fields(r, body, fields) || rights_field(r, body, &rights) ||
        assign_field(r, cx, body, &assign))
        goto out;
    if (json_get_str(body, "login", &login, &err) || json_get_str(body, "password", &pw, &err)) {
        api_fail(r, TG_EINVAL, &err);
        goto out;
    }
    rc = core_user_create(cx, login, pw, rights, assign, &u, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    jw_obj(&w);
    jw_kint(&w, "id", u.id);
    jw_kstr(&w, "login", u.login);
    jw_key(&w, "rights");
    rights_array(&w, r, u.rights);
    assign_render(&w, u.assign);
    api_kiso(&w, "created_at", u.created_at);
    jw_obj_end(&w);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

enum api_result native_users_list(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct user *u;
    struct jw w;
    size_t n;
    int rc;

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_user_list(cx, &u, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_user(&w, r, &u[i]);
    jw_arr_end(&w);
    jw_kint(&w, "total", (int64_t)n);
    jw_obj_end(&w);
    return API_ANSWER;
}

/* PATCH /v1/users/{id}: a user's rights and assign list. The login and the password are not
 * changed here (no password-change rule exists yet). */
enum api_result native_user_patch(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"rights", "assign", NULL};
    const char *assign = NULL;
    struct tg_err err;
    unsigned rights;
    bool has_rights, has_assign;
    struct user u;
    int64_t id;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    if (!core_parse_id(r->params[0], NULL, &id))
        return api_failf(r, TG_ENOTFOUND, "id", "user not found");
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    has_rights = json_object_get(body, "rights") != NULL;
    has_assign = json_object_get(body, "assign") != NULL;
    if (native_only_fields(r, body, fields) || rights_field(r, body, &rights) ||
        assign_field(r, cx, body, &assign))
        goto out;
    if (has_rights || has_assign)
        rc = core_user_update(cx, id, has_rights ? &rights : NULL, has_assign, assign, &u, &err);
    else
        rc = core_user_get(cx, id, &u, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 200, &w);
    render_user(&w, r, &u);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

static void render_token(struct jw *w, struct hreq *r, const struct token *k, const char *secret)
{
    jw_obj(w);
    jw_kint(w, "id", k->id);
    jw_kstr(w, "name", k->name);
    jw_kstr(w, "kind", k->kind);
    jw_key(w, "rights");
    rights_array(w, r, k->rights);
    assign_render(w, k->assign);
    jw_kstr(w, "organization_id", arena_printf(&r->a, "org_%lld", (long long)k->org_id));
    api_kiso(w, "created_at", k->created_at);
    api_kiso(w, "expires_at", k->expires_at);
    api_kiso(w, "revoked_at", k->revoked_at);
    if (secret)
        jw_kstr(w, "token", secret);
    jw_obj_end(w);
}

enum api_result native_tokens_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"name",   "rights", "expires_at", "organization_id",
                                         "assign", NULL};
    const char *name = NULL, *secret, *org = NULL, *assign;
    struct tg_err err;
    struct token k;
    unsigned rights;
    int64_t expires, org_id = 0;
    json_t *body;
    struct jw w;
    bool ok;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (native_only_fields(r, body, fields) || rights_field(r, body, &rights) ||
        assign_field(r, cx, body, &assign))
        goto out;
    if (json_get_str(body, "name", &name, &err) ||
        json_get_str(body, "organization_id", &org, &err)) {
        api_fail(r, TG_EINVAL, &err);
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
            api_fail(r, rc == TG_ENOTFOUND ? TG_EINVAL : rc, &err);
            goto out;
        }
    }
    rc = core_token_create(cx, org_id, "api", name, rights, 0, 0, expires, NULL, assign, &secret,
                           &k, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    render_token(&w, r, &k, secret);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

enum api_result native_tokens_list(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct token *k;
    struct jw w;
    size_t n;
    int rc;

    const char *org = api_query(r, "organization_id");
    int64_t org_id = 0;

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    if (org && !core_parse_id(org, "org_", &org_id))
        return api_failf(r, TG_EINVAL, "organization_id", "'organization_id' must look like org_1");
    tg_err_clear(&err);
    rc = core_token_list(cx, org_id, api_query(r, "kind"), &k, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        if (strcmp(k[i].kind, "session") != 0)
            render_token(&w, r, &k[i], NULL);
    jw_arr_end(&w);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_token_delete(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    int64_t id;
    int rc;

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    if (!core_parse_id(r->params[0], NULL, &id))
        return api_failf(r, TG_ENOTFOUND, "id", "token not found");
    tg_err_clear(&err);
    rc = core_token_revoke(cx, id, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_no_content(r);
    return API_ANSWER;
}

/* PATCH /v1/tokens/{id}: an API token's assign list. Its name stays: it is the principal
 * that the change log and created_by record, and that core_principal_id maps back. */
enum api_result native_token_patch(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"assign", NULL};
    const char *assign = NULL;
    struct tg_err err;
    struct token k;
    int64_t id;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    if (!core_parse_id(r->params[0], NULL, &id))
        return api_failf(r, TG_ENOTFOUND, "id", "token not found");
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (!json_is_object(body)) {
        api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (native_only_fields(r, body, fields) || assign_field(r, cx, body, &assign))
        goto out;
    if (json_object_get(body, "assign") == NULL) {
        api_failf(r, TG_EINVAL, "assign", "'assign' is required: a list of patterns or null");
        goto out;
    }
    rc = core_token_set_assign(cx, id, assign, &k, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 200, &w);
    render_token(&w, r, &k, NULL);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
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
    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return -1;
    if (!core_install_admin(cx)) {
        api_failf(r, TG_EFORBIDDEN, "", "only the installation's admin manages organizations");
        return -1;
    }
    return 0;
}

enum api_result native_orgs_list(struct hreq *r, struct core_ctx *cx)
{
    struct tg_err err;
    struct org *o;
    struct jw w;
    size_t n;
    int rc;

    if (install_admin(r, cx))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_org_list(cx, &o, &n, &err);
    if (rc)
        return api_fail(r, rc, &err);
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++)
        render_org(&w, r, &o[i]);
    jw_arr_end(&w);
    jw_obj_end(&w);
    return API_ANSWER;
}

enum api_result native_orgs_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"name", NULL};
    const char *name = NULL;
    struct tg_err err;
    struct org o;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (install_admin(r, cx))
        return API_ROLLBACK;
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (!json_is_object(body) || native_only_fields(r, body, fields)) {
        if (!json_is_object(body))
            api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (json_get_str(body, "name", &name, &err)) {
        api_fail(r, TG_EINVAL, &err);
        goto out;
    }
    rc = core_org_create(cx, name, &o, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    render_org(&w, r, &o);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}

enum api_result native_ws_create(struct hreq *r, struct core_ctx *cx)
{
    static const char *const fields[] = {"name", NULL};
    const char *name = NULL;
    struct workspace ws;
    struct tg_err err;
    int64_t org_id;
    json_t *body;
    struct jw w;
    int rc;
    enum api_result result = API_ROLLBACK;

    if (api_native_auth(r, cx, RIGHT_ADMIN))
        return API_ROLLBACK;
    if (!core_parse_id(r->params[0], "org_", &org_id) ||
        (org_id != cx->org_id && !core_install_admin(cx))) {
        return api_failf(r, TG_ENOTFOUND, "organization_id", "organization not found");
    }
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    if (!json_is_object(body) || native_only_fields(r, body, fields)) {
        if (!json_is_object(body))
            api_failf(r, TG_EINVAL, "body", "body must be a JSON object");
        goto out;
    }
    if (json_get_str(body, "name", &name, &err)) {
        api_fail(r, TG_EINVAL, &err);
        goto out;
    }
    rc = core_ws_create(cx, org_id, name, &ws, &err);
    if (rc) {
        api_fail(r, rc, &err);
        goto out;
    }
    api_json_begin(r, 201, &w);
    jw_obj(&w);
    jw_kstr(&w, "id", arena_printf(&r->a, "ws_%lld", (long long)ws.id));
    jw_kstr(&w, "organization_id", arena_printf(&r->a, "org_%lld", (long long)org_id));
    jw_kstr(&w, "name", ws.name);
    api_kiso(&w, "created_at", ws.created_at);
    jw_obj_end(&w);
    result = API_ANSWER;
out:
    json_decref(body);
    return result;
}
