/* core/links.c: applinks and public links: creation, lookup and the scope and role rules.
 * See core/links.h for how a link is stored. */
#include "core/links.h"

#include <string.h>

#include "core/core_int.h"
#include "util/json.h"
#include "util/secret.h"

/* Columns of SQL_LINK_BY_ID / SQL_LINK_LIST after TOKEN_COLS. */
enum { COL_HASH = 12, COL_RES_KIND = 13, COL_RES_KEY = 14, COL_RES_CREATED = 15 };

int core_link_role_parse(const char *s, int *out, struct tg_err *err)
{
    if (s && strcmp(s, "viewer") == 0)
        *out = LINK_VIEWER;
    else if (s && strcmp(s, "contributor") == 0)
        *out = LINK_CONTRIBUTOR;
    else
        return tg_err_set(err, TG_EINVAL, "role", "role must be \"viewer\" or \"contributor\"");
    return 0;
}

const char *core_link_role_name(int role)
{
    return role == LINK_CONTRIBUTOR ? "contributor" : "viewer";
}

const char *core_link_kind_name(int kind)
{
    return kind == LINK_PUBLIC ? "publiclink" : "applink";
}

static unsigned role_rights(int role)
{
    return role == LINK_CONTRIBUTOR ? RIGHT_READ | RIGHT_ASSIGN : RIGHT_READ;
}

/* What a link row holds beyond the token columns. */
struct link_row {
    struct token k;
    struct link l;
    const char *hash;      /* BLAKE2b hex of the bearer secret */
    const char *code_hash; /* argon2id of the access code, or NULL */
    bool resource_ok;      /* the resource still exists and is the one linked */
};

/* Reads one SQL_LINK_* row. A link whose resource has gone keeps resource_ok false and grants
 * nothing, also when a resource of the same kind and key (or the same row id) came back later:
 * the resource's creation time is part of the link. */
static void row_link(struct core_ctx *ctx, struct store_stmt *st, struct link_row *x)
{
    json_t *extra;
    const char *role = NULL, *kind = NULL, *key = NULL, *code = NULL;
    int64_t created = -1;

    memset(x, 0, sizeof(*x));
    row_token(ctx, st, 0, &x->k);
    x->hash = col_dup(ctx, st, COL_HASH);
    x->l.token_id = x->k.id;
    x->l.id = x->k.name;
    x->l.kind = strcmp(x->k.kind, "publiclink") == 0 ? LINK_PUBLIC : LINK_APP;
    x->l.resource_id = x->k.resource_id;
    x->l.created_at = x->k.created_at;
    x->l.expires_at = x->k.expires_at;
    x->l.role = LINK_VIEWER;
    extra = x->k.extra ? json_parse(x->k.extra, strlen(x->k.extra), 4, NULL) : NULL;
    if (extra) {
        json_get_str(extra, "role", &role, NULL);
        json_get_str(extra, "kind", &kind, NULL);
        json_get_str(extra, "key", &key, NULL);
        json_get_str(extra, "code", &code, NULL);
        json_get_int(extra, "created", &created, NULL, NULL);
        if (role && strcmp(role, "contributor") == 0)
            x->l.role = LINK_CONTRIBUTOR;
        x->l.res_kind = kind ? core_strdup(ctx, kind) : NULL;
        x->l.res_key = key ? core_strdup(ctx, key) : NULL;
        x->code_hash = code ? core_strdup(ctx, code) : NULL;
        json_decref(extra);
    }
    x->l.protected_ = x->code_hash != NULL;
    x->resource_ok = !col_null(st, COL_RES_KIND) && x->l.res_kind && x->l.res_key &&
                     strcmp(col_text(st, COL_RES_KIND), x->l.res_kind) == 0 &&
                     strcmp(col_text(st, COL_RES_KEY), x->l.res_key) == 0 &&
                     col_int(st, COL_RES_CREATED) == created;
}

int core_link_create(struct core_ctx *ctx, int kind, const char *res_kind, const char *res_key,
                     int role, const char *access_code, int64_t expires_at, struct link *out,
                     const char **access_token, struct tg_err *err)
{
    char id[80], tok[80], hash[SECRET_HASH_HEX], code_hash[SECRET_PW_MAX];
    struct resource res;
    struct store_stmt *st;
    json_t *extra;
    const char *extra_txt;
    int rc;

    *access_token = NULL;
    if (kind != LINK_APP && kind != LINK_PUBLIC)
        return tg_err_set(err, TG_EINVAL, "kind", "unknown link kind");
    if (role != LINK_VIEWER && role != LINK_CONTRIBUTOR)
        return tg_err_set(err, TG_EINVAL, "role", "role must be \"viewer\" or \"contributor\"");
    if (access_code && kind != LINK_PUBLIC)
        return tg_err_set(err, TG_EINVAL, "access_code", "only public links have access codes");
    if (access_code && (strlen(access_code) < LINK_CODE_MIN || strlen(access_code) > LINK_CODE_MAX))
        return tg_err_set(err, TG_EINVAL, "access_code", "access_code must have %d to %d bytes",
                          LINK_CODE_MIN, LINK_CODE_MAX);
    if (expires_at && expires_at <= ctx->now)
        return tg_err_set(err, TG_EINVAL, "expires_at", "expires_at is in the past");
    rc = core_resource_get(ctx, res_kind, res_key, &res, err);
    if (rc == TG_ENOTFOUND)
        return tg_err_set(err, TG_ERULE, "resource", "resource %s/%s does not exist", res_kind,
                          res_key);
    if (rc)
        return rc;
    if (access_code && secret_pw_hash(access_code, code_hash) != 0)
        return tg_err_set(err, TG_EINTERNAL, "access_code", "access code hashing failed");

    secret_token(id, sizeof(id), kind == LINK_APP ? "AL" : "PL");
    if (kind == LINK_APP) {
        secret_token(tok, sizeof(tok), "AT");
        secret_hash(tok, strlen(tok), hash);
    } else {
        /* A public link has no secret but its id: the id is what gets hashed. */
        secret_hash(id, strlen(id), hash);
    }
    extra = json_pack("{s:s, s:s, s:s, s:I}", "role", core_link_role_name(role), "kind",
                      res.kind, "key", res.key, "created", (json_int_t)res.created_at);
    if (extra == NULL)
        return tg_err_set(err, TG_EINTERNAL, "", "out of memory");
    if (access_code)
        json_object_set_new(extra, "code", json_string(code_hash));
    extra_txt = json_to_arena(ctx->a, extra);
    json_decref(extra);

    st = st_get(ctx->conn, SQL_TOKEN_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, core_link_kind_name(kind));
    st_text(st, 3, id);
    st_text(st, 4, hash);
    st_text(st, 5, ""); /* no rights as a bearer token: a link works only through its headers */
    st_null(st, 6);
    st_int(st, 7, res.id);
    st_text(st, 8, extra_txt);
    st_int(st, 9, ctx->now);
    if (expires_at)
        st_int(st, 10, expires_at);
    rc = st_step(st, err);
    if (rc != 1)
        return rc < 0 ? rc : TG_EINTERNAL;
    memset(out, 0, sizeof(*out));
    out->token_id = col_int(st, 0);
    st_reset(st);
    out->id = core_strdup(ctx, id);
    out->kind = kind;
    out->role = role;
    out->resource_id = res.id;
    out->res_kind = res.kind;
    out->res_key = res.key;
    out->protected_ = access_code != NULL;
    out->created_at = ctx->now;
    out->expires_at = expires_at;
    if (kind == LINK_APP)
        *access_token = core_strdup(ctx, tok);
    return core_change(ctx, "token", out->token_id, "create", NULL, NULL, err);
}

int core_link_list(struct core_ctx *ctx, int kind, struct link **out, size_t *n,
                   struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_LINK_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct link));
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, core_link_kind_name(kind));
    for (;;) {
        struct link_row x;
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_link(ctx, st, &x);
        *(struct link *)vec_push(ctx, &v) = x.l;
    }
    st_reset(st);
    *out = v.items;
    *n = v.n;
    return rc < 0 ? rc : 0;
}

/* Finds a link by its public id; 0 with *found false when there is none. */
static int link_find(struct core_ctx *ctx, int kind, const char *id, struct link_row *x,
                     bool *found, struct tg_err *err)
{
    struct store_stmt *st;
    int rc;

    *found = false;
    if (id == NULL || *id == '\0' || strlen(id) > 128)
        return 0;
    st = st_get(ctx->conn, SQL_LINK_BY_ID, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_text(st, 1, core_link_kind_name(kind));
    st_text(st, 2, id);
    rc = st_step(st, err);
    if (rc == 1) {
        row_link(ctx, st, x);
        *found = true;
    }
    st_reset(st);
    return rc < 0 ? rc : 0;
}

int core_link_delete(struct core_ctx *ctx, int kind, const char *id, struct tg_err *err)
{
    struct link_row x;
    bool found;
    int rc = link_find(ctx, kind, id, &x, &found, err);

    if (rc)
        return rc;
    if (!found || x.k.org_id != ctx->org_id || x.k.revoked_at)
        return tg_err_set(err, TG_ENOTFOUND, "id", "%s not found", core_link_kind_name(kind));
    return core_token_revoke(ctx, x.k.id, err);
}

/* Turns a checked link into the request's principal. */
static int link_principal(struct core_ctx *ctx, const struct link_row *x, struct tg_err *err)
{
    struct org o;
    int rc = core_org_get(ctx, x->k.org_id, &o, err);

    if (rc)
        return rc == TG_ENOTFOUND ? tg_err_set(err, TG_EAUTH, "link", "link is invalid") : rc;
    ctx->org_id = o.id;
    ctx->ws_id = o.default_ws_id;
    memset(&ctx->who, 0, sizeof(ctx->who));
    ctx->who.token_id = x->k.id;
    ctx->who.org_id = o.id;
    ctx->who.ws_id = o.default_ws_id;
    ctx->who.rights = role_rights(x->l.role);
    ctx->who.kind = x->k.kind;
    ctx->who.resource_id = x->l.resource_id;
    ctx->who.expires_at = x->l.expires_at;
    ctx->who.extra = x->k.extra;
    /* The change log names the link, never its secret. */
    ctx->who.name = arena_printf(ctx->a, "%s:%lld", x->k.kind, (long long)x->k.id);
    ctx->authed = true;
    return 0;
}

/* Unknown, revoked, expired and orphaned links all answer alike, so that a caller learns
 * nothing about which ids exist. */
static int link_usable(struct core_ctx *ctx, const struct link_row *x, bool found,
                       struct tg_err *err)
{
    if (!found || x->k.revoked_at || !x->resource_ok)
        return tg_err_set(err, TG_EAUTH, "link", "link is invalid or expired");
    if (x->k.expires_at && x->k.expires_at <= ctx->now)
        return tg_err_set(err, TG_EAUTH, "link", "link is invalid or expired");
    return 0;
}

int core_link_auth_app(struct core_ctx *ctx, const char *link_id, const char *access_token,
                       struct tg_err *err)
{
    char hash[SECRET_HASH_HEX];
    struct link_row x;
    bool found;
    int rc = link_find(ctx, LINK_APP, link_id, &x, &found, err);

    if (rc)
        return rc;
    rc = link_usable(ctx, &x, found, err);
    if (rc)
        return rc;
    if (access_token == NULL || *access_token == '\0' || strlen(access_token) > 256)
        return tg_err_set(err, TG_EAUTH, "accessToken", "access token is invalid or expired");
    secret_hash(access_token, strlen(access_token), hash);
    if (!secret_eq(hash, x.hash))
        return tg_err_set(err, TG_EAUTH, "accessToken", "access token is invalid or expired");
    return link_principal(ctx, &x, err);
}

int core_link_auth_public(struct core_ctx *ctx, const char *link_id, const char *access_code,
                          struct tg_err *err)
{
    struct link_row x;
    bool found;
    int rc = link_find(ctx, LINK_PUBLIC, link_id, &x, &found, err);

    if (rc)
        return rc;
    rc = link_usable(ctx, &x, found, err);
    if (rc)
        return rc;
    if (x.code_hash) {
        if (access_code == NULL)
            return tg_err_set(err, TG_EFORBIDDEN, "dAccessCode",
                              "this public link needs its access code");
        if (strlen(access_code) > LINK_CODE_MAX || !secret_pw_verify(x.code_hash, access_code))
            return tg_err_set(err, TG_EAUTH, "dAccessCode", "access code is wrong");
    }
    return link_principal(ctx, &x, err);
}

bool core_link_principal(const struct core_ctx *ctx)
{
    return ctx->authed && ctx->who.kind &&
           (strcmp(ctx->who.kind, "applink") == 0 || strcmp(ctx->who.kind, "publiclink") == 0);
}

int core_link_require(struct core_ctx *ctx, int64_t resource_id, unsigned need,
                      struct tg_err *err)
{
    if (!ctx->authed)
        return tg_err_set(err, TG_EAUTH, "", "authentication required");
    if (!core_link_principal(ctx))
        return core_require(ctx, need, err);
    if (resource_id == 0 || !core_resource_within(ctx, resource_id, ctx->who.resource_id))
        return tg_err_set(err, TG_EFORBIDDEN, "link", "the link does not reach this item");
    if ((ctx->who.rights & need) != need)
        return tg_err_set(err, TG_EFORBIDDEN, "link",
                          "the link's role does not allow this; it needs the contributor role");
    return 0;
}
