/* core/users.c: users of an organization, with argon2id password hashes. */
#include <string.h>

#include "core/core_int.h"
#include "util/jw.h"
#include "util/name.h"
#include "util/sbuf.h"
#include "util/secret.h"

int core_user_create(struct core_ctx *ctx, const char *login, const char *password,
                     unsigned rights, const char *assign, struct user *out, struct tg_err *err)
{
    char pw[SECRET_PW_MAX];
    char *nfc, *key;
    struct store_stmt *st;
    int rc;

    if (login == NULL || *login == '\0')
        return tg_err_set(err, TG_EINVAL, "login", "login is required");
    rc = name_normalize(ctx->a, login, strlen(login), false, "login", &nfc, &key, err);
    if (rc == 0)
        rc = name_check_visible(nfc, strlen(nfc), "login", err);
    if (rc)
        return rc;
    if (password == NULL || strlen(password) < 8)
        return tg_err_set(err, TG_EINVAL, "password", "password must have at least 8 characters");
    if (strlen(password) > 1024)
        return tg_err_set(err, TG_EINVAL, "password", "password is too long");
    if (secret_pw_hash(password, pw) != 0)
        return tg_err_set(err, TG_EINTERNAL, "password", "password hashing failed");
    st = st_get(ctx->conn, SQL_USER_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, nfc);
    st_text(st, 3, key);
    st_text(st, 4, pw);
    st_text(st, 5, core_rights_str(ctx->a, rights));
    st_null(st, 6);
    st_int(st, 7, ctx->now);
    st_text(st, 8, assign);
    rc = st_step(st, err);
    if (rc != 1) {
        if (rc == TG_EEXISTS)
            return tg_err_set(err, TG_EEXISTS, "login", "user '%s' already exists", nfc);
        return rc < 0 ? rc : TG_EINTERNAL;
    }
    out->id = col_int(st, 0);
    st_reset(st);
    out->org_id = ctx->org_id;
    out->login = nfc;
    out->display_name = NULL;
    out->rights = core_rights_str(ctx->a, rights);
    out->created_at = ctx->now;
    out->disabled = false;
    out->assign = core_strdup(ctx, assign);
    return core_change(ctx, "user", out->id, "create", NULL, NULL, err);
}

static void row_user(struct core_ctx *ctx, struct store_stmt *st, struct user *u)
{
    u->id = col_int(st, 0);
    u->org_id = col_int(st, 1);
    u->login = col_dup(ctx, st, 2);
    u->display_name = col_dup(ctx, st, 3);
    u->rights = col_dup(ctx, st, 4);
    u->created_at = col_int(st, 5);
    u->disabled = col_int(st, 6) != 0;
    u->assign = col_dup(ctx, st, 7);
}

int core_user_list(struct core_ctx *ctx, struct user **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_USER_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct user));
    st_int(st, 1, ctx->org_id);
    for (;;) {
        rc = st_step(st, err);
        if (rc <= 0)
            break;
        row_user(ctx, st, vec_push(ctx, &v));
    }
    *out = v.items;
    *n = v.n;
    return rc;
}

int core_user_get(struct core_ctx *ctx, int64_t id, struct user *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_USER_BY_ID, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->org_id);
    rc = st_step(st, err);
    if (rc == 1)
        row_user(ctx, st, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "id", "user not found");
    return rc < 0 ? rc : 0;
}

/* What an update records before and after: the user's rights and assign list. */
static const char *user_doc(struct core_ctx *ctx, const char *rights, const char *assign)
{
    struct sbuf b;
    struct jw w;
    const char *p = rights, *out;

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "rights");
    jw_arr(&w);
    while (p && *p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        jw_strn(&w, p, n);
        p = c ? c + 1 : p + n;
    }
    jw_arr_end(&w);
    jw_key(&w, "assign");
    if (assign)
        jw_raw(&w, assign);
    else
        jw_null(&w);
    jw_obj_end(&w);
    out = arena_strndup(ctx->a, sbuf_str(&b), b.len);
    sbuf_release(&b);
    return out;
}

int core_user_update(struct core_ctx *ctx, int64_t id, const unsigned *rights, bool set_assign,
                     const char *assign, struct user *out, struct tg_err *err)
{
    struct store_stmt *st;
    const char *before;
    int rc = core_user_get(ctx, id, out, err);

    if (rc)
        return rc;
    before = user_doc(ctx, out->rights, out->assign);
    if (rights)
        out->rights = core_rights_str(ctx->a, *rights);
    if (set_assign)
        out->assign = core_strdup(ctx, assign);
    st = st_get(ctx->conn, SQL_USER_UPDATE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_text(st, 2, out->rights);
    st_text(st, 3, out->assign);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    return core_change(ctx, "user", id, "update", before,
                       user_doc(ctx, out->rights, out->assign), err);
}

/* The argon2id hash, with secret_pw_hash's parameters (t=2, m=16 MiB, p=1), of a password
 * nobody knows. An unknown or disabled login is checked against it, so it costs as much time
 * as a wrong password and the answer time does not tell which logins exist. Regenerate it when
 * those parameters change. */
static const char dummy_pw_hash[] = "$argon2id$v=19$m=16384,t=2,p=1$U1FAFXN1pHkWxVdTfqXdtw$"
                                    "vUcC42NrXsEtzkEhYkK7SDHxRqbJ7fycCs2wyb9LVEc";

int core_user_check(struct core_ctx *ctx, const char *login, const char *password,
                    struct user *out, struct tg_err *err)
{
    struct store_stmt *st;
    char *nfc, *key;
    char *hash = NULL;
    int rc;

    if (login == NULL || password == NULL ||
        name_normalize(ctx->a, login, strlen(login), false, "login", &nfc, &key, NULL) != 0)
        return tg_err_set(err, TG_EAUTH, "login", "wrong login or password");
    /* Logins are unique per organization (migration 8): the one the request addresses. */
    st = st_get(ctx->conn, SQL_USER_BY_LOGIN, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, key);
    rc = st_step(st, err);
    if (rc == 1) {
        row_user(ctx, st, out);
        hash = core_strdup(ctx, col_text(st, 8));
    }
    st_reset(st);
    if (rc < 0)
        return rc;
    if (rc == 0 || out->disabled) {
        (void)secret_pw_verify(dummy_pw_hash, password);
        return tg_err_set(err, TG_EAUTH, "login", "wrong login or password");
    }
    if (!secret_pw_verify(hash, password))
        return tg_err_set(err, TG_EAUTH, "login", "wrong login or password");
    return 0;
}
