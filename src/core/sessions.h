/* core/sessions.h: login sessions (easydb's /api/v1/session).
 *
 * Starting a session writes nothing: an unauthenticated session is a value signed with the
 * store's session key (meta "session_key", made by core_bootstrap; HMAC-SHA-512-256) that holds
 * its organization, times and language, so anyone may start sessions without costing the
 * writer or the store anything, and every instance of a shared store accepts them. The session
 * becomes a row of `tokens` with kind "session" (only the hash of the same value is stored, so
 * the client's token keeps working) the first time it has state to keep: when it
 * authenticates, or changes its language or organization. A row expires when the signed value
 * would have (core_limits.session_ttl_ms after the start). Authenticating checks a tagd user's
 * login and password (argon2id) and records the user in the row (user_id) with the method and
 * time in the row's extra JSON; deauthenticating clears them. The rights of an authenticated
 * session are always the user's current rights, read at every use, so a session never outlives
 * a change of its user. Sessions belong to the installation's default organization unless the
 * client names another, and to the user's once authenticated. */
#ifndef TAGD_CORE_SESSIONS_H
#define TAGD_CORE_SESSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

struct session {
    int64_t id;               /* the token row; 0 while not stored */
    const char *pending;      /* while not stored (id 0): the signed value, the row's secret */
    int64_t user_id;          /* 0 while not authenticated */
    const char *login;        /* NULL while not authenticated */
    const char *display_name; /* the user's, may be NULL */
    unsigned rights;          /* the user's rights; 0 while not authenticated */
    const char *assign;       /* the user's assign list (JSON text); NULL: none or no limit */
    const char *language;     /* "en-US" unless set */
    const char *method;       /* "easydb" or "native" once authenticated, else NULL */
    int64_t created_at, expires_at, authenticated_at;
};

/** True for a language tag of the form "de-DE". */
bool core_session_language_ok(const char *language);
/** Starts an unauthenticated session in organization `org_id` (0: the installation's default
 * organization), writing nothing; the secret is returned in *secret (arena). `language` may be NULL; an
 * invalid one is TG_EINVAL (field "language"); an unknown organization is TG_ENOTFOUND (field
 * "organization"). */
int core_session_create(struct core_ctx *ctx, int64_t org_id, const char *language,
                        const char **secret, struct session *out, struct tg_err *err);
/* The calls below that change a session store it: they need ctx->writing. */

/** Moves an open session into organization `org_id`, whose logins core_session_authenticate
 * then looks in; an authenticated session of another organization becomes unauthenticated.
 * TG_ENOTFOUND (field "organization") when there is no such organization. */
int core_session_move(struct core_ctx *ctx, struct session *s, int64_t org_id,
                      struct tg_err *err);
/** Finds the live session of `secret` and makes it the request's principal: ctx's organization
 * and workspace are the session's; when it is authenticated ctx->authed is set and ctx->who
 * carries the user and rights. Reads only. TG_ENOTFOUND (field "session") when the secret is
 * unknown (a signed value that was forged, altered or signed with another key too), not a
 * session, revoked or expired. */
int core_session_open(struct core_ctx *ctx, const char *secret, struct session *out,
                      struct tg_err *err);
/** Sets the session's language (TG_EINVAL for a malformed one). */
int core_session_set_language(struct core_ctx *ctx, struct session *s, const char *language,
                              struct tg_err *err);
/** Authenticates the session with the login and password of a user of the session's
 * organization (ctx's, see core_session_open). TG_EINVAL (field "login") when
 * either is empty, TG_EAUTH (field "login") when they are wrong or the user is disabled; the
 * session is unchanged on failure. */
int core_session_authenticate(struct core_ctx *ctx, struct session *s, const char *login,
                              const char *password, struct tg_err *err);
/** Signs in on the native API (POST /v1/sessions): a new session of organization `org_id` (0:
 * the installation's default), authenticated with the login and password of one of its users
 * (method "native"), stored at once (ctx->writing); the secret is in *secret (arena), its
 * hash alone is stored. Errors as core_session_create and core_session_authenticate. On
 * success ctx's principal is the session's. Such a session passes as a bearer token on the
 * native API (core_auth_native) with its user's current rights; easydb's never do. */
int core_session_login(struct core_ctx *ctx, int64_t org_id, const char *login,
                       const char *password, const char **secret, struct session *out,
                       struct tg_err *err);
/** Ends the request's own session (ctx's principal, a session): revoked at once, for every
 * instance. TG_EINVAL (field "Authorization") when the request was made with no session. */
int core_session_end(struct core_ctx *ctx, struct tg_err *err);
/** Makes the session unauthenticated again (nothing happens when it was not authenticated). */
int core_session_deauthenticate(struct core_ctx *ctx, struct session *s, struct tg_err *err);

#endif /* TAGD_CORE_SESSIONS_H */
