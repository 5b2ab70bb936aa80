/* api/native/routes.c: the native API: its dialect and its route table, the one place that
 * lists every route of the files in this folder (matched in this order).
 *
 * Shapes: a collection answers {"items": [...], "next_cursor": ..., "total": N}; an error
 * answers {"error": {"code", "message", "details", "request_id"}}. docs/openapi.yaml describes
 * every route here. */
#include "api/native/native.h"

#define R(m, p, f, fl) {m, p, f, fl, &native_dialect, NULL, NULL}
/* A write with a step on the fetch thread first (route.prepare). */
#define PR(m, p, f, fl, prep) {m, p, f, fl, &native_dialect, NULL, prep}
const struct route native_routes[] = {
    /* system.c */
    R("GET", "/healthz", native_healthz, ROUTE_NOLIMIT),
    R("GET", "/readyz", native_readyz, ROUTE_NOLIMIT),
    R("GET", "/metrics", native_metrics, ROUTE_NOLIMIT),
    R("GET", "/openapi.json", native_openapi, ROUTE_NOLIMIT),
    /* tags.c */
    R("GET", "/v1/me", native_me, 0), /* admin.c */
    R("GET", "/v1/tags", native_tags_list, 0),
    R("POST", "/v1/tags", native_tags_create, ROUTE_WRITE),
    R("POST", "/v1/tags/{id}:restore", native_tag_restore, ROUTE_WRITE),
    R("POST", "/v1/tags/{id}:merge", native_tag_merge, ROUTE_WRITE), /* aliases.c */
    R("GET", "/v1/tags/{id}/aliases", native_tag_aliases, 0),
    R("DELETE", "/v1/tags/{id}/aliases/{name}", native_tag_alias_delete, ROUTE_WRITE),
    R("GET", "/v1/tags/{id}/resources", native_tag_resources, 0),
    R("GET", "/v1/tags/{id}/history", native_tag_history, 0),
    R("GET", "/v1/tags/{id}", native_tag_get, 0),
    R("PATCH", "/v1/tags/{id}", native_tag_patch, ROUTE_WRITE),
    R("DELETE", "/v1/tags/{id}", native_tag_delete, ROUTE_WRITE),
    /* groups.c */
    R("GET", "/v1/groups", native_groups_list, 0),
    R("POST", "/v1/groups", native_groups_create, ROUTE_WRITE),
    R("PUT", "/v1/groups/{id}/tags", native_group_set_tags, ROUTE_WRITE),
    R("GET", "/v1/groups/{id}/history", native_group_history, 0),
    R("GET", "/v1/groups/{id}", native_group_get, 0),
    R("PATCH", "/v1/groups/{id}", native_group_patch, ROUTE_WRITE),
    R("DELETE", "/v1/groups/{id}", native_group_delete, ROUTE_WRITE),
    /* policies.c */
    R("GET", "/v1/policies", native_policies_list, 0),
    R("POST", "/v1/policies", native_policies_create, ROUTE_WRITE),
    R("GET", "/v1/policies/violations", native_policy_violations, 0),
    R("GET", "/v1/policies/{id}", native_policy_get, 0),
    R("PATCH", "/v1/policies/{id}", native_policy_patch, ROUTE_WRITE),
    R("DELETE", "/v1/policies/{id}", native_policy_delete, ROUTE_WRITE),
    /* resources.c (a list with `query`: query.c), assignments.c */
    R("GET", "/v1/resources", native_resources_list, 0),
    R("GET", "/v1/resources/{kind}/{key}/tags", native_res_tags_get, 0),
    R("POST", "/v1/resources/{kind}/{key}/tags", native_res_tags_add, ROUTE_WRITE),
    R("PUT", "/v1/resources/{kind}/{key}/tags", native_res_tags_put, ROUTE_WRITE),
    R("DELETE", "/v1/resources/{kind}/{key}/tags/{tag}", native_res_tag_delete, ROUTE_WRITE),
    R("GET", "/v1/resources/{kind}/{key}/history", native_resource_history, 0),
    R("GET", "/v1/resources/{kind}/{key}", native_resource_get, 0),
    R("PUT", "/v1/resources/{kind}/{key}", native_resource_put, ROUTE_WRITE),
    R("DELETE", "/v1/resources/{kind}/{key}", native_resource_delete, ROUTE_WRITE),
    /* admin.c, changes.c */
    R("GET", "/v1/users", native_users_list, 0),
    R("POST", "/v1/users", native_users_create, ROUTE_WRITE | ROUTE_SECRET),
    R("PATCH", "/v1/users/{id}", native_user_patch, ROUTE_WRITE),
    R("GET", "/v1/tokens", native_tokens_list, 0),
    R("POST", "/v1/tokens", native_tokens_create, ROUTE_WRITE | ROUTE_SECRET),
    R("PATCH", "/v1/tokens/{id}", native_token_patch, ROUTE_WRITE),
    R("DELETE", "/v1/tokens/{id}", native_token_delete, ROUTE_WRITE),
    R("POST", "/v1/sessions", native_sessions_create, ROUTE_WRITE), /* sessions.c */
    R("DELETE", "/v1/sessions/current", native_session_delete, ROUTE_WRITE),
    R("GET", "/v1/changes", native_changes, 0),
    R("GET", "/v1/events", native_events, 0),
    R("GET", "/v1/organizations", native_orgs_list, 0),
    R("POST", "/v1/organizations", native_orgs_create, ROUTE_WRITE),
    R("POST", "/v1/organizations/{org}/workspaces", native_ws_create, ROUTE_WRITE),
    /* sources.c */
    R("GET", "/v1/sources", native_sources_list, 0),
    R("POST", "/v1/sources", native_sources_create, ROUTE_WRITE),
    PR("POST", "/v1/sources:refresh", native_sources_refresh, ROUTE_WRITE,
       native_sources_refresh_prepare),
    PR("POST", "/v1/sources/{name}:refresh", native_sources_refresh, ROUTE_WRITE,
       native_sources_refresh_prepare),
    R("DELETE", "/v1/sources/{name}", native_source_delete, ROUTE_WRITE),
    /* webhooks.c */
    R("GET", "/v1/webhooks", native_webhooks_list, 0),
    PR("POST", "/v1/webhooks", native_webhooks_create, ROUTE_WRITE | ROUTE_SECRET,
       native_webhook_url_prepare),
    R("GET", "/v1/webhooks/{id}/deliveries", native_webhook_deliveries, 0),
    R("POST", "/v1/webhooks/{id}/redeliver", native_webhook_redeliver, ROUTE_WRITE),
    R("GET", "/v1/webhooks/{id}", native_webhook_get, 0),
    PR("PATCH", "/v1/webhooks/{id}", native_webhook_patch, ROUTE_WRITE | ROUTE_SECRET,
       native_webhook_url_prepare),
    R("DELETE", "/v1/webhooks/{id}", native_webhook_delete, ROUTE_WRITE),
    /* links.c */
    R("GET", "/v1/applinks", native_applinks_list, 0),
    R("POST", "/v1/applinks", native_applinks_create, ROUTE_WRITE | ROUTE_SECRET),
    R("DELETE", "/v1/applinks/{id}", native_applink_delete, ROUTE_WRITE),
    R("GET", "/v1/publiclinks", native_publiclinks_list, 0),
    R("POST", "/v1/publiclinks", native_publiclinks_create, ROUTE_WRITE | ROUTE_SECRET),
    R("DELETE", "/v1/publiclinks/{id}", native_publiclink_delete, ROUTE_WRITE),
    /* query.c */
    R("POST", "/v1/query", native_query, 0),
    /* batch.c */
    R("POST", "/v1/batch", native_batch, ROUTE_WRITE),
    /* interchange.c */
    R("GET", "/v1/export", native_export, 0),
    {"POST", "/v1/import", native_import, ROUTE_WRITE, &native_dialect, NULL,
     native_import_prepare},
    R("GET", "/v1/import/{job}", native_import_job, 0),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
#undef PR

const struct dialect native_dialect = {
    .name = "native",
    .error = api_native_error,
    .paths = NULL, /* every path no other dialect claims */
    .routes = native_routes,
    .write = native_write, /* Idempotency-Key (idempotency.c) */
};
