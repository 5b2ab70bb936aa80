/* api/native/batch.c: POST /v1/batch: many writes in one request (core/batch.h has the rules).
 * This file reads the operations with the single routes' field names and checks, hands them
 * to core_batch_run, and renders one result per operation, or, for an atomic batch that
 * failed, the failing operation's error in the native shape. */
#include <stdio.h>
#include <string.h>

#include "api/native/native.h"
#include "core/batch.h"
#include "util/json.h"
#include "util/mem.h"

/* What the answer needs besides core's results; lives in the request's arena. */
struct batch_view {
    const char **names; /* each operation's "op" as sent (NULL: not a string) */
    struct batch_result *res;
    size_t n;
    bool partial, dry_run;
    int64_t rev; /* the batch's revision, 0: none (nothing written, or a dry run) */
};

/* The fields of each kind of operation, "op" included. */
static const char *const tag_op_fields[] = {"op", "tag", NULL};
static const char *const update_op_fields[] = {"op", "id", "tag", "if_version", NULL};
static const char *const res_op_fields[] = {"op", "kind", "key", "resource", NULL};
static const char *const assign_op_fields[] = {"op", "kind", "key", "tags", "create_missing",
                                               "context", NULL};
static const char *const remove_op_fields[] = {"op", "kind", "key", "tags", NULL};

static int parse_ref(json_t *v, struct arena *a, struct batch_tag_ref *ref, const char *field,
                     struct tg_err *err)
{
    memset(ref, 0, sizeof(*ref));
    if (json_is_integer(v))
        ref->id = json_integer_value(v);
    else if (json_is_string(v))
        ref->name = arena_strdup(a, json_string_value(v));
    else
        return tg_err_set(err, TG_EINVAL, field, "'%s' must be a tag name or id", field);
    return 0;
}

static int parse_resource_ref(json_t *o, struct arena *a, struct batch_op *op, struct tg_err *err)
{
    json_t *k = json_object_get(o, "kind"), *key = json_object_get(o, "key");

    if (!json_is_string(k))
        return tg_err_set(err, TG_EINVAL, "kind", "'kind' is required and must be a string");
    if (!json_is_string(key))
        return tg_err_set(err, TG_EINVAL, "key", "'key' is required and must be a string");
    /* Copied: the results name the resource after the body is gone. */
    op->res_kind = arena_strdup(a, json_string_value(k));
    op->res_key = arena_strdup(a, json_string_value(key));
    return 0;
}

/* Puts "<prefix>." before err's field (the operation's own member it is about). */
static int in_member(struct tg_err *err, int rc, const char *prefix)
{
    char field[sizeof(err->field)];
    /* "body" is how the single routes name the whole of it: here that is the member. */
    bool whole = err->field[0] == '\0' || strcmp(err->field, "body") == 0;

    snprintf(field, sizeof(field), "%s%s%.40s", prefix, whole ? "" : ".", whole ? "" : err->field);
    memcpy(err->field, field, sizeof(field));
    err->code = rc;
    return rc;
}

static int parse_tags(json_t *o, struct arena *a, struct batch_op *op, struct tg_err *err)
{
    json_t *arr = json_object_get(o, "tags");
    size_t n;

    if (!json_is_array(arr))
        return tg_err_set(err, TG_EINVAL, "tags", "'tags' must be an array of tag names or ids");
    n = json_array_size(arr);
    if (n > (size_t)core_limits.max_batch)
        return tg_err_set(err, TG_ELIMIT, "tags", "more than %d tags in one operation",
                          core_limits.max_batch);
    op->tags = arena_alloc(a, (n + 1) * sizeof(*op->tags));
    op->ntags = n;
    for (size_t j = 0; j < n; j++) {
        json_t *v = json_array_get(arr, j);
        if (!json_is_integer(v) && !json_is_string(v))
            return tg_err_set(err, TG_EINVAL, "tags", "tags[%zu] must be a tag name or id", j);
        parse_ref(v, a, &op->tags[j], "tags", err);
    }
    return 0;
}

/* One operation into *op; 0 or the code of what is wrong with it (err, its field relative to
 * the operation). */
static int parse_op(json_t *o, struct arena *a, struct batch_op *op, struct tg_err *err)
{
    const char *name;
    json_t *v;
    int rc;

    memset(op, 0, sizeof(*op));
    if (!json_is_object(o))
        return tg_err_set(err, TG_EINVAL, "", "an operation must be a JSON object");
    v = json_object_get(o, "op");
    if (!json_is_string(v))
        return tg_err_set(err, TG_EINVAL, "op", "'op' is required and must be a string");
    name = json_string_value(v);
    if (!core_batch_kind_parse(name, &op->kind))
        return tg_err_set(err, TG_EINVAL, "op",
                          "unknown op '%.40s' (create_tag, update_tag, put_resource, add_tags,"
                          " replace_tags, remove_tags)",
                          name);
    switch (op->kind) {
    case BATCH_CREATE_TAG:
    case BATCH_UPDATE_TAG:
        rc = native_fields_check(o, op->kind == BATCH_CREATE_TAG ? tag_op_fields
                                                                 : update_op_fields, err);
        if (rc)
            return rc;
        v = json_object_get(o, "tag");
        if (v == NULL)
            return tg_err_set(err, TG_EINVAL, "tag", "'tag' is required");
        rc = native_tag_input(v, a, &op->tag, op->kind == BATCH_CREATE_TAG, err);
        if (rc)
            return in_member(err, rc, "tag");
        if (op->kind == BATCH_CREATE_TAG)
            return 0;
        v = json_object_get(o, "id");
        if (v == NULL)
            return tg_err_set(err, TG_EINVAL, "id", "'id' is required");
        rc = parse_ref(v, a, &op->target, "id", err);
        if (rc)
            return rc;
        v = json_object_get(o, "if_version");
        if (v && (!json_is_integer(v) || json_integer_value(v) <= 0))
            return tg_err_set(err, TG_EINVAL, "if_version",
                              "'if_version' must be a positive integer");
        op->if_version = v ? json_integer_value(v) : 0;
        return 0;
    case BATCH_PUT_RESOURCE:
        rc = native_fields_check(o, res_op_fields, err);
        if (rc == 0)
            rc = parse_resource_ref(o, a, op, err);
        if (rc)
            return rc;
        v = json_object_get(o, "resource");
        if (v == NULL)
            return 0; /* as PUT without a body */
        rc = native_resource_input(v, a, &op->res, err);
        return rc ? in_member(err, rc, "resource") : 0;
    case BATCH_ADD_TAGS:
    case BATCH_REPLACE_TAGS:
    case BATCH_REMOVE_TAGS:
        rc = native_fields_check(o, op->kind == BATCH_REMOVE_TAGS ? remove_op_fields
                                                                  : assign_op_fields, err);
        if (rc == 0)
            rc = parse_resource_ref(o, a, op, err);
        if (rc == 0)
            rc = parse_tags(o, a, op, err);
        if (rc)
            return rc;
        if (json_get_bool(o, "create_missing", &op->create_missing, NULL, err) ||
            json_get_str(o, "context", &op->context, err)) {
            err->code = TG_EINVAL;
            return TG_EINVAL;
        }
        if (op->context)
            op->context = arena_strdup(a, op->context);
        return 0;
    default:
        TG_BUG("batch kind");
    }
}

static void render_error(struct jw *w, int code, const struct tg_err *err)
{
    jw_key(w, "error");
    jw_obj(w);
    jw_kstr(w, "code", tg_code_slug(code));
    jw_kint(w, "status", tg_code_status(code));
    jw_kstr(w, "message", code == TG_EINTERNAL ? "internal error" : err->msg);
    jw_key(w, "details");
    jw_obj(w);
    if (err->field[0])
        jw_kstr(w, "field", err->field);
    jw_obj_end(w);
    jw_obj_end(w);
}

static void render_names(struct jw *w, const char *key, const char **names, size_t n)
{
    jw_keys(w, key);
    jw_arr(w);
    for (size_t i = 0; i < n; i++)
        jw_str(w, names[i]);
    jw_arr_end(w);
}

static void render_batch(struct hreq *r, void *arg)
{
    const struct batch_view *v = arg;
    size_t count[4] = {0};
    struct jw w;

    for (size_t i = 0; i < v->n; i++)
        count[v->res[i].effect]++;
    api_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kstr(&w, "mode", v->partial ? "partial" : "atomic");
    jw_kbool(&w, "dry_run", v->dry_run);
    jw_key(&w, "revision");
    if (v->rev)
        jw_int(&w, v->rev);
    else
        jw_null(&w);
    jw_key(&w, "summary");
    jw_obj(&w);
    jw_kint(&w, "created", (int64_t)count[BATCH_CREATED]);
    jw_kint(&w, "changed", (int64_t)count[BATCH_CHANGED]);
    jw_kint(&w, "unchanged", (int64_t)count[BATCH_UNCHANGED]);
    jw_kint(&w, "failed", (int64_t)count[BATCH_FAILED]);
    jw_obj_end(&w);
    jw_key(&w, "results");
    jw_arr(&w);
    for (size_t i = 0; i < v->n; i++) {
        const struct batch_result *res = &v->res[i];
        jw_obj(&w);
        jw_kint(&w, "index", (int64_t)i);
        jw_kstr(&w, "op", v->names[i]);
        jw_kstr(&w, "status", core_batch_effect_name(res->effect));
        if (res->effect == BATCH_FAILED) {
            render_error(&w, api_code(res->rc, &res->err), &res->err);
        } else if (res->tag.id) {
            jw_key(&w, "tag");
            native_render_tag(&w, r, &res->tag);
        } else if (res->tags == NULL) {
            jw_key(&w, "resource");
            api_native_render_resource(&w, r, &res->res);
        } else {
            jw_key(&w, "resource");
            jw_obj(&w);
            jw_kstr(&w, "kind", res->res.kind);
            jw_kstr(&w, "key", res->res.key);
            jw_obj_end(&w);
            render_names(&w, "added", res->added, res->nadded);
            render_names(&w, "removed", res->removed, res->nremoved);
            render_names(&w, "tags", res->tags, res->ntags);
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
}

enum api_result native_batch(struct hreq *r, struct core_ctx *cx)
{
    struct batch_view *v;
    struct batch_op *ops;
    struct tg_err err;
    json_t *body, *list;
    const char *mode;
    size_t failed;
    bool dry_run;
    int rc;
    enum api_result result = API_ROLLBACK;

    /* Each operation checks the rights it needs. */
    if (api_native_auth(r, cx, 0) || api_query_bool(r, "dry_run", false, &dry_run))
        return API_ROLLBACK;
    mode = api_query(r, "mode");
    if (mode && strcmp(mode, "atomic") != 0 && strcmp(mode, "partial") != 0)
        return api_failf(r, TG_EINVAL, "mode", "'mode' must be atomic or partial");
    body = api_body_json(r);
    if (body == NULL)
        return API_ROLLBACK;
    tg_err_clear(&err);
    list = json_is_object(body) ? json_object_get(body, "operations") : NULL;
    if (!json_is_object(body) || json_object_size(body) != 1 || !json_is_array(list)) {
        api_failf(r, TG_EINVAL, "operations",
                  "a batch is {\"operations\": [...]} and nothing else");
        goto out;
    }
    v = arena_zalloc(&r->a, sizeof(*v));
    v->n = json_array_size(list);
    v->partial = mode && strcmp(mode, "partial") == 0;
    v->dry_run = dry_run;
    if (v->n == 0) {
        api_failf(r, TG_EINVAL, "operations", "'operations' is empty");
        goto out;
    }
    if (v->n > (size_t)batch_limits.max_ops) {
        api_failf(r, TG_ELIMIT, "operations", "more than %d operations in one batch",
                  batch_limits.max_ops);
        goto out;
    }
    ops = arena_alloc(&r->a, v->n * sizeof(*ops));
    v->names = arena_zalloc(&r->a, v->n * sizeof(*v->names));
    v->res = arena_alloc(&r->a, v->n * sizeof(*v->res));
    for (size_t i = 0; i < v->n; i++) {
        json_t *o = json_array_get(list, i), *op = json_object_get(o, "op");
        if (json_is_string(op))
            v->names[i] = arena_strdup(&r->a, json_string_value(op));
        tg_err_clear(&ops[i].parse_err);
        ops[i].parse_rc = parse_op(o, &r->a, &ops[i], &ops[i].parse_err);
    }
    rc = core_batch_run(cx, ops, v->n, v->partial ? BATCH_PARTIAL : BATCH_ATOMIC, dry_run, v->res,
                        &failed, &err);
    if (rc) {
        /* An atomic batch stops at its first failure; its error names the operation, and
         * the error answer rolls back the operations before it. */
        api_fail(r, rc, &err);
        goto out;
    }
    v->rev = dry_run ? 0 : cx->rev;
    result = api_render_later(r, 200, render_batch, v);
out:
    json_decref(body);
    return result;
}
