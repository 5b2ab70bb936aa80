/* core/bootstrap.c: the first start of a store: the default organization, its workspace and
 * admin user, the session signing key, and the admin token of TAGD_ADMIN_TOKEN. It runs before
 * the server takes requests and uses the public rules of orgs.c, users.c and tokens.c. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_int.h"
#include "util/mem.h"
#include "util/secret.h"

int core_bootstrap(struct store_conn *conn, const char *env_token, const char *admin_password,
                   char **generated, struct tg_err *err)
{
    struct arena a;
    struct core_ctx ctx;
    struct store_stmt *st;
    char buf[64], hash[SECRET_HASH_HEX];
    struct org o;
    struct user u;
    const char *secret = NULL;
    int rc, fresh;

    *generated = NULL;
    arena_init(&a);
    core_ctx_init(&ctx, conn, &a, true);
    rc = store_begin_write(conn, err);
    if (rc)
        goto out;
    fresh = core__meta_get(conn, "default_org", buf, sizeof(buf)) == 0;
    if (fresh) {
        rc = core_org_create(&ctx, "default", &o, err);
        if (rc)
            goto out_abort;
        snprintf(buf, sizeof(buf), "%lld", (long long)o.id);
        rc = core__meta_set(conn, "default_org", buf, err);
        if (rc)
            goto out_abort;
        ctx.org_id = o.id;
        ctx.ws_id = o.default_ws_id;
        if (admin_password == NULL) {
            char pw[64];
            secret_token(pw, sizeof(pw), "");
            rc = core_user_create(&ctx, "admin", pw, RIGHT_ALL, NULL, &u, err);
        } else {
            rc = core_user_create(&ctx, "admin", admin_password, RIGHT_ALL, NULL, &u, err);
        }
        if (rc)
            goto out_abort;
    } else {
        rc = core__ctx_set_org(&ctx, strtoll(buf, NULL, 10), err);
        if (rc)
            goto out_abort;
    }
    /* easydb's unauthenticated sessions are signed with this key instead of being stored
     * (core/sessions.h); every instance of a shared store signs with the same one. */
    {
        char key[SECRET_KEY_HEX];
        if (core__meta_get(conn, "session_key", key, sizeof(key)) == 0) {
            secret_key_new(key);
            rc = core__meta_set(conn, "session_key", key, err);
        }
        sodium_memzero(key, sizeof(key));
        if (rc)
            goto out_abort;
    }
    if (env_token && *env_token) {
        secret_hash(env_token, strlen(env_token), hash);
        /* Only the newest TAGD_ADMIN_TOKEN is valid: a rotated value revokes the old one. */
        st = st_get(conn, SQL_TOKEN_REVOKE_KIND_OTHER, err);
        if (st == NULL) {
            rc = TG_EINTERNAL;
            goto out_abort;
        }
        st_text(st, 1, "env");
        st_text(st, 2, hash);
        st_int(st, 3, ctx.now);
        rc = st_exec(st, err);
        if (rc)
            goto out_abort;
        st = st_get(conn, SQL_TOKEN_BY_HASH, err);
        if (st == NULL) {
            rc = TG_EINTERNAL;
            goto out_abort;
        }
        st_text(st, 1, hash);
        rc = st_step(st, err);
        if (rc == 1) {
            int64_t id = col_int(st, 0);
            st_reset(st);
            st = st_get(conn, SQL_TOKEN_UNREVOKE, err);
            if (st == NULL) {
                rc = TG_EINTERNAL;
                goto out_abort;
            }
            st_int(st, 1, id);
            st_text(st, 2, "admin");
            rc = st_exec(st, err);
        } else if (rc == 0) {
            st = st_get(conn, SQL_TOKEN_INSERT, err);
            if (st == NULL) {
                rc = TG_EINTERNAL;
                goto out_abort;
            }
            st_int(st, 1, ctx.org_id);
            st_text(st, 2, "env");
            st_text(st, 3, "TAGD_ADMIN_TOKEN");
            st_text(st, 4, hash);
            st_text(st, 5, "admin");
            st_null(st, 6);
            st_null(st, 7);
            st_null(st, 8);
            st_int(st, 9, ctx.now);
            st_null(st, 10);
            rc = st_exec(st, err);
        }
        if (rc)
            goto out_abort;
    } else if (fresh) {
        ctx.authed = false;
        rc = core_token_create(&ctx, ctx.org_id, "api", "initial-admin", RIGHT_ALL, 0, 0, 0, NULL, NULL,
                               &secret, NULL, err);
        if (rc)
            goto out_abort;
        *generated = xstrdup(secret);
    }
    rc = store_commit(conn, err);
    goto out;
out_abort:
    store_rollback(conn);
out:
    arena_release(&a);
    return rc;
}
