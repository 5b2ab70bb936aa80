/* api/native/native.h: shared by the files of the native API (src/api/native/) only.
 *
 * The native API is tagd's own REST API under /v1 plus the system endpoints. Each file of this
 * folder holds one topic's handlers; routes.c lists them all in the dialect's one route table.
 * Handlers follow api/api.h: they parse, call core, render, and answer errors in the native
 * shape through api_fail. Helpers that render an error return -1 after doing so. */
#ifndef TAGD_API_NATIVE_NATIVE_H
#define TAGD_API_NATIVE_NATIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "core/events.h"
#include "core/history.h"

/* ---- shared pieces (common.c) ---- */

/* A past moment a read answers for (the as_of parameter); `set` false: the present. */
struct native_asof {
    bool set;
    int64_t rev; /* the revision resolved (core_asof_resolve) */
    int64_t at;  /* its commit time, ms */
};
/** Reads and resolves the as_of parameter into *a, and names the revision in the answer's
 * X-Tagd-As-Of header. 0 (also without the parameter) or -1 with the error rendered. */
int native_as_of(struct hreq *r, struct core_ctx *cx, struct native_asof *a);
/** Writes the member "as_of": {"revision", "at"} of a collection answered as of a->rev. */
void native_render_as_of(struct jw *w, const struct native_asof *a);


/* The cookie POST /v1/sessions sets for the console (HttpOnly, SameSite=Strict). */
#define NATIVE_SESSION_COOKIE "tagd_session"
/** The request's credential: its bearer token, else the session cookie (*cookie true, when
 * `cookie` is not NULL); NULL when it has neither. */
const char *native_credential(struct hreq *r, bool *cookie);
/** The filters of /v1/events and /v1/changes from the query: entity, tag, kind, principal
 * (each a comma-separated list, also repeated), resource (an id) and workspace (ws_N or N,
 * of the caller's organization). 0 or -1. */
int native_event_filter(struct hreq *r, struct core_ctx *cx, struct event_filter *f);
/** The native API's authentication: bearer token (an API token, or a session of
 * POST /v1/sessions) or the session cookie, the rights of `need`, then the rate limit.
 * Renders the error and returns -1 on failure. */
int api_native_auth(struct hreq *r, struct core_ctx *cx, unsigned need);
/** GET /v1/me (admin.c). */
enum api_result native_me(struct hreq *r, struct core_ctx *cx);
/** The native representation of a resource (GET /v1/resources/{kind}/{key}). */
void api_native_render_resource(struct jw *w, struct hreq *r, const struct resource *res);
/** The last dot-separated segment of a tag name (its default display name). */
const char *native_last_segment(const char *name);
/** Sets the ETag of a versioned object. */
void native_set_etag(struct hreq *r, int64_t version);
/** If-Match: "N", W/"N" or *; *version is 0 when there is nothing to check. 0 or -1. */
int native_if_match(struct hreq *r, int64_t *version);
/** TG_EINVAL naming the first field of `o` outside `allowed` (NULL-terminated), else 0. */
int native_fields_check(json_t *o, const char *const *allowed, struct tg_err *err);
/** Reads a tag's fields as POST /v1/tags (`create`) or PATCH /v1/tags/{id} take them; strings
 * borrow from `o`, l10n goes to `a`. 0 or TG_EINVAL with `err`. */
int native_tag_input(json_t *o, struct arena *a, struct tag_input *in, bool create,
                     struct tg_err *err);
/** Reads a resource's fields as PUT /v1/resources/{kind}/{key} takes them; strings borrow
 * from `body`, the document goes to `a`. 0 or TG_EINVAL with `err`. */
int native_resource_input(json_t *body, struct arena *a, struct resource_input *in,
                          struct tg_err *err);
/** The native representation of a tag (GET /v1/tags/{id}). */
void native_render_tag(struct jw *w, struct hreq *r, const struct tag *t);
/** The native dialect's `write` hook: Idempotency-Key around every write route
 * (idempotency.c). */
enum api_result native_write(struct hreq *r, struct core_ctx *cx, api_handler fn);
/** Rejects fields of `o` outside `allowed` (NULL-terminated). 0 or -1. */
int native_only_fields(struct hreq *r, json_t *o, const char *const *allowed);
/** The keyset cursor of a resource page (the query's `cursor`) into *after (0: none). 0 or -1. */
int native_id_cursor(struct hreq *r, struct core_ctx *cx, int64_t *after);
/** Answers a page of resources, with next_cursor and, unless `total` is NULL, the total. */
void native_render_resource_page(struct hreq *r, struct core_ctx *cx, struct resource *items,
                                 size_t n, bool more, const int64_t *total);
/** A page of resources as of asof->rev: no total (counting them all then would read the whole
 * history), the member "as_of". */
void native_render_resource_page_as_of(struct hreq *r, struct core_ctx *cx,
                                       struct resource *items, size_t n, bool more,
                                       const struct native_asof *asof);
/** Resolves a JSON array of tag references (ids or names) into *ids (arena); with `create`,
 * unknown names are created. 0 or -1. */
int native_tag_refs(struct hreq *r, struct core_ctx *cx, json_t *arr, bool create, int64_t **ids,
                    size_t *n);
/** The resource the route's {kind} and {key} name. 0 or -1. */
int native_load_resource(struct hreq *r, struct core_ctx *cx, struct resource *res);
/** native_load_resource, or the resource as of asof->rev when asof->set. 0 or -1. */
int native_load_resource_at(struct hreq *r, struct core_ctx *cx, const struct native_asof *asof,
                            struct resource *res);

/** Names in the X-Tagd-Alias header the aliases this request gave that core resolved
 * (core_ctx.alias_hits): "old=current" pairs, percent-encoded, separated by ", " (aliases.c). */
void native_alias_header(struct hreq *r, struct core_ctx *cx);
/** The alias the request gave for tag `tag_id`, or NULL when it named the tag otherwise. */
const char *native_alias_given(struct core_ctx *cx, int64_t tag_id);
/** Writes the member "aliases": [names] of tag `tag_id`. 0 or -1 with the error rendered. */
int native_render_alias_names(struct jw *w, struct hreq *r, struct core_ctx *cx, int64_t tag_id);

/* ---- handlers, by file (routes.c maps them to routes) ---- */

/* system.c */
enum api_result native_healthz(struct hreq *r, struct core_ctx *cx);
enum api_result native_readyz(struct hreq *r, struct core_ctx *cx);
enum api_result native_metrics(struct hreq *r, struct core_ctx *cx);
enum api_result native_openapi(struct hreq *r, struct core_ctx *cx);
/* aliases.c */
enum api_result native_tag_aliases(struct hreq *r, struct core_ctx *cx);
enum api_result native_tag_alias_delete(struct hreq *r, struct core_ctx *cx);
enum api_result native_tag_merge(struct hreq *r, struct core_ctx *cx);
/* tags.c */
enum api_result native_tags_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_tags_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_tag_get(struct hreq *r, struct core_ctx *cx);
enum api_result native_tag_patch(struct hreq *r, struct core_ctx *cx);
enum api_result native_tag_delete(struct hreq *r, struct core_ctx *cx);
enum api_result native_tag_restore(struct hreq *r, struct core_ctx *cx);
enum api_result native_tag_resources(struct hreq *r, struct core_ctx *cx);
enum api_result native_tag_history(struct hreq *r, struct core_ctx *cx);
/* groups.c */
enum api_result native_groups_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_groups_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_group_get(struct hreq *r, struct core_ctx *cx);
enum api_result native_group_patch(struct hreq *r, struct core_ctx *cx);
enum api_result native_group_delete(struct hreq *r, struct core_ctx *cx);
enum api_result native_group_set_tags(struct hreq *r, struct core_ctx *cx);
enum api_result native_group_history(struct hreq *r, struct core_ctx *cx);
/* policies.c */
enum api_result native_policies_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_policies_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_policy_get(struct hreq *r, struct core_ctx *cx);
enum api_result native_policy_patch(struct hreq *r, struct core_ctx *cx);
enum api_result native_policy_delete(struct hreq *r, struct core_ctx *cx);
enum api_result native_policy_violations(struct hreq *r, struct core_ctx *cx);
/* resources.c */
enum api_result native_resources_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_resource_get(struct hreq *r, struct core_ctx *cx);
enum api_result native_resource_put(struct hreq *r, struct core_ctx *cx);
enum api_result native_resource_delete(struct hreq *r, struct core_ctx *cx);
enum api_result native_resource_history(struct hreq *r, struct core_ctx *cx);
/* assignments.c */
enum api_result native_res_tags_get(struct hreq *r, struct core_ctx *cx);
enum api_result native_res_tags_add(struct hreq *r, struct core_ctx *cx);
enum api_result native_res_tags_put(struct hreq *r, struct core_ctx *cx);
enum api_result native_res_tag_delete(struct hreq *r, struct core_ctx *cx);
/* admin.c */
enum api_result native_users_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_users_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_user_patch(struct hreq *r, struct core_ctx *cx);
enum api_result native_tokens_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_tokens_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_token_delete(struct hreq *r, struct core_ctx *cx);
enum api_result native_token_patch(struct hreq *r, struct core_ctx *cx);
enum api_result native_orgs_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_orgs_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_ws_create(struct hreq *r, struct core_ctx *cx);
/* sessions.c */
enum api_result native_sessions_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_session_delete(struct hreq *r, struct core_ctx *cx);
/* changes.c */
enum api_result native_changes(struct hreq *r, struct core_ctx *cx);
enum api_result native_events(struct hreq *r, struct core_ctx *cx);
/** Answers a page of the history of a "tag", "group" or "resource" (core_history) with the
 * request's principal, from, to, cursor and limit parameters. */
enum api_result native_render_history(struct hreq *r, struct core_ctx *cx, const char *entity, int64_t id);
/* sources.c */
enum api_result native_sources_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_sources_create(struct hreq *r, struct core_ctx *cx);
/** POST /v1/sources:refresh and /v1/sources/{name}:refresh; the prepare step fetches. */
enum api_result native_sources_refresh(struct hreq *r, struct core_ctx *cx);
void *native_sources_refresh_prepare(struct hreq *r, struct core_ctx *cx);
enum api_result native_source_delete(struct hreq *r, struct core_ctx *cx);
/* webhooks.c */
enum api_result native_webhooks_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_webhooks_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_webhook_get(struct hreq *r, struct core_ctx *cx);
enum api_result native_webhook_patch(struct hreq *r, struct core_ctx *cx);
enum api_result native_webhook_delete(struct hreq *r, struct core_ctx *cx);
enum api_result native_webhook_deliveries(struct hreq *r, struct core_ctx *cx);
enum api_result native_webhook_redeliver(struct hreq *r, struct core_ctx *cx);
/** The routes' prepare step (fetch thread): resolves the body's URL against the SSRF rule. */
void *native_webhook_url_prepare(struct hreq *r, struct core_ctx *cx);
/* links.c */
enum api_result native_applinks_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_applinks_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_applink_delete(struct hreq *r, struct core_ctx *cx);
enum api_result native_publiclinks_list(struct hreq *r, struct core_ctx *cx);
enum api_result native_publiclinks_create(struct hreq *r, struct core_ctx *cx);
enum api_result native_publiclink_delete(struct hreq *r, struct core_ctx *cx);
/* batch.c */
/** POST /v1/batch. */
enum api_result native_batch(struct hreq *r, struct core_ctx *cx);
/* interchange.c: GET /v1/export, POST /v1/import (its prepare parses the chunk), GET
 * /v1/import/{job} (docs/interchange.md). */
enum api_result native_export(struct hreq *r, struct core_ctx *cx);
void *native_import_prepare(struct hreq *r, struct core_ctx *cx);
enum api_result native_import(struct hreq *r, struct core_ctx *cx);
enum api_result native_import_job(struct hreq *r, struct core_ctx *cx);
/* query.c */
/** POST /v1/query. */
enum api_result native_query(struct hreq *r, struct core_ctx *cx);
/** GET /v1/resources?query=...: native_resources_list hands requests with `query` to this. */
enum api_result native_query_resources(struct hreq *r, struct core_ctx *cx);

#endif /* TAGD_API_NATIVE_NATIVE_H */
