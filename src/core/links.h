/* core/links.h: applinks and public links, the two ways Oracle Content Management lets a
 * request in without a user's own token.
 *
 * Both are rows of `tokens` (kind "applink" or "publiclink") scoped to one resource through
 * resource_id. The row's `name` is the link's public id (appLinkID / linkID), which a client
 * sends in a header; its `hash` is BLAKE2b of the applink's access token (applinks) or of the
 * link id itself (public links, which have no other bearer secret); its `extra` holds the role,
 * the resource's kind and key, and for a protected public link the argon2id hash of the access
 * code. Secrets are returned once by core_link_create and never stored in clear. Link rows
 * carry no rights of their own, so core_auth_token refuses them as bearer tokens.
 *
 * Rules (core_link_require): a link reaches its resource and, for a folder, every file and
 * folder below it (core_resource_within); a viewer reads, a contributor reads and assigns
 * tags. Expired, revoked and unknown links are TG_EAUTH. */
#ifndef TAGD_CORE_LINKS_H
#define TAGD_CORE_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

enum link_kind {
    LINK_APP = 1,    /* "applink": appLinkID + accessToken */
    LINK_PUBLIC = 2, /* "publiclink": linkID (+ access code cookie when protected) */
};

enum link_role {
    LINK_VIEWER = 1,      /* tags:read on the subtree */
    LINK_CONTRIBUTOR = 2, /* tags:read and tags:assign on the subtree */
};

#define LINK_CODE_MIN 8  /* access code length in bytes, as Oracle's public link passwords */
#define LINK_CODE_MAX 50

struct link {
    int64_t token_id;      /* the tokens row */
    const char *id;        /* public id, "AL…" or "PL…" */
    int kind;              /* enum link_kind */
    int role;              /* enum link_role */
    int64_t resource_id;
    const char *res_kind, *res_key;
    bool protected_;       /* public link with an access code */
    int64_t created_at, expires_at; /* ms; expires_at 0: never */
};

/** "viewer" or "contributor"; TG_EINVAL naming field "role" otherwise. */
int core_link_role_parse(const char *s, int *out, struct tg_err *err);
/** The role's name ("viewer", "contributor"); static. */
const char *core_link_role_name(int role);
/** The tokens kind of a link kind ("applink", "publiclink"); static. */
const char *core_link_kind_name(int kind);

/**
 * Creates a link to the existing resource kind/key (TG_ERULE when it does not exist).
 * `access_code` (public links only, may be NULL) must be LINK_CODE_MIN-LINK_CODE_MAX bytes.
 * For applinks *access_token receives the secret (arena, returned once); for public links it
 * is set to NULL. Needs the admin right (checked by the caller).
 */
int core_link_create(struct core_ctx *ctx, int kind, const char *res_kind, const char *res_key,
                     int role, const char *access_code, int64_t expires_at, struct link *out,
                     const char **access_token, struct tg_err *err);
/** The live (unrevoked) links of `kind` in the caller's organization, oldest first. */
int core_link_list(struct core_ctx *ctx, int kind, struct link **out, size_t *n,
                   struct tg_err *err);
/** Revokes the link; TG_ENOTFOUND when the caller's organization has no such live link. */
int core_link_delete(struct core_ctx *ctx, int kind, const char *id, struct tg_err *err);

/**
 * Authenticates the request by applink: fills ctx->who (kind "applink", the role's rights,
 * resource_id scope) and the organization. TG_EAUTH when the link is unknown, revoked or
 * expired, its resource is gone, or the token does not match.
 */
int core_link_auth_app(struct core_ctx *ctx, const char *link_id, const char *access_token,
                       struct tg_err *err);
/**
 * Authenticates the request by public link. `access_code` may be NULL: for a protected link
 * that is TG_EFORBIDDEN; a wrong code is TG_EAUTH, as are unknown, revoked or expired links.
 */
int core_link_auth_public(struct core_ctx *ctx, const char *link_id, const char *access_code,
                          struct tg_err *err);
/** True when the principal came in through a link. */
bool core_link_principal(const struct core_ctx *ctx);
/**
 * May the principal do `need` (RIGHT_READ, RIGHT_ASSIGN) on resource `resource_id`? A link
 * principal only within its resource's subtree and its role; any other principal by its
 * rights. TG_EAUTH when unauthenticated, TG_EFORBIDDEN otherwise.
 */
int core_link_require(struct core_ctx *ctx, int64_t resource_id, unsigned need,
                      struct tg_err *err);

#endif /* TAGD_CORE_LINKS_H */
