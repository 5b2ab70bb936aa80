/* store/migrations.h: the schema, as numbered migrations applied in order at start.
 *
 * Never edit a migration that has landed; add the next number. Each entry is one script run in
 * one transaction together with the bump of meta.schema_version. The SQL is kept portable
 * between SQLite and PostgreSQL (BIGINT, TEXT, no AUTOINCREMENT keyword tricks).
 *
 * History: every versioned entity keeps its current row in its table and every version in
 * <table>_hist with [valid_from, valid_to) revisions (valid_to NULL = current). Assignments are
 * temporal in place: the current ones have valid_to NULL. */
#ifndef TAGD_STORE_MIGRATIONS_H
#define TAGD_STORE_MIGRATIONS_H

#include "store/migrations_features.h"

static const char *const store_migrations[] = {
    /* 1: the foundation model. */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE orgs(id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL);"
    "CREATE TABLE workspaces(id INTEGER PRIMARY KEY, org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"
    "CREATE INDEX workspaces_org ON workspaces(org_id);"
    "CREATE TABLE revisions(rev INTEGER PRIMARY KEY, at BIGINT NOT NULL);"
    "CREATE INDEX revisions_at ON revisions(at);"
    "CREATE TABLE changes(rev BIGINT NOT NULL, seq INTEGER NOT NULL, at BIGINT NOT NULL,"
    "  org_id BIGINT, ws_id BIGINT, principal TEXT, entity TEXT NOT NULL, entity_id BIGINT,"
    "  op TEXT NOT NULL, before TEXT, after TEXT, PRIMARY KEY(rev, seq));"
    "CREATE TABLE groups(id INTEGER PRIMARY KEY, ws_id BIGINT NOT NULL, name TEXT NOT NULL,"
    "  name_key TEXT NOT NULL, l10n TEXT, position BIGINT NOT NULL DEFAULT 0,"
    "  exclusive INTEGER NOT NULL DEFAULT 0, extra TEXT, created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 1);"
    "CREATE UNIQUE INDEX groups_key ON groups(ws_id, name_key);"
    "CREATE TABLE groups_hist(group_id BIGINT NOT NULL, valid_from BIGINT NOT NULL,"
    "  valid_to BIGINT, data TEXT NOT NULL);"
    "CREATE INDEX groups_hist_id ON groups_hist(group_id, valid_from);"
    "CREATE TABLE tags(id INTEGER PRIMARY KEY, ws_id BIGINT NOT NULL, name TEXT NOT NULL,"
    "  name_key TEXT NOT NULL, parent_id BIGINT, display_name TEXT, l10n TEXT, color TEXT,"
    "  description TEXT, source TEXT NOT NULL DEFAULT 'curated',"
    "  system_created INTEGER NOT NULL DEFAULT 0, protected INTEGER NOT NULL DEFAULT 0,"
    "  archived INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,"
    "  group_id BIGINT, position BIGINT NOT NULL DEFAULT 0, extra TEXT, created_by TEXT,"
    "  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 1);"
    "CREATE UNIQUE INDEX tags_key ON tags(ws_id, name_key);"
    "CREATE INDEX tags_parent ON tags(parent_id);"
    "CREATE INDEX tags_group ON tags(group_id, position);"
    "CREATE TABLE tags_hist(tag_id BIGINT NOT NULL, valid_from BIGINT NOT NULL, valid_to BIGINT,"
    "  name TEXT NOT NULL, deleted INTEGER NOT NULL, data TEXT NOT NULL);"
    "CREATE INDEX tags_hist_id ON tags_hist(tag_id, valid_from);"
    "CREATE TABLE resources(id INTEGER PRIMARY KEY, ws_id BIGINT NOT NULL, kind TEXT NOT NULL,"
    "  key TEXT NOT NULL, name TEXT, parent_id BIGINT, archived INTEGER NOT NULL DEFAULT 0,"
    "  extra TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    "  version BIGINT NOT NULL DEFAULT 1);"
    "CREATE UNIQUE INDEX resources_key ON resources(ws_id, kind, key);"
    "CREATE INDEX resources_parent ON resources(parent_id);"
    "CREATE TABLE resources_hist(resource_id BIGINT NOT NULL, valid_from BIGINT NOT NULL,"
    "  valid_to BIGINT, ws_id BIGINT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
    "  parent_id BIGINT, archived INTEGER NOT NULL, data TEXT NOT NULL);"
    "CREATE INDEX resources_hist_id ON resources_hist(resource_id, valid_from);"
    "CREATE TABLE assignments(id INTEGER PRIMARY KEY, resource_id BIGINT NOT NULL,"
    "  tag_id BIGINT NOT NULL, context TEXT NOT NULL DEFAULT 'manual', added_by TEXT,"
    "  added_at BIGINT NOT NULL, valid_from BIGINT NOT NULL, valid_to BIGINT);"
    "CREATE UNIQUE INDEX assignments_cur ON assignments(resource_id, tag_id) WHERE valid_to IS NULL;"
    "CREATE INDEX assignments_tag ON assignments(tag_id) WHERE valid_to IS NULL;"
    "CREATE INDEX assignments_hist ON assignments(valid_from, valid_to);"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, org_id BIGINT NOT NULL, login TEXT NOT NULL,"
    "  login_key TEXT NOT NULL, pw_hash TEXT NOT NULL, rights TEXT NOT NULL,"
    "  display_name TEXT, created_at BIGINT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX users_login ON users(login_key);"
    "CREATE TABLE tokens(id INTEGER PRIMARY KEY, org_id BIGINT NOT NULL, kind TEXT NOT NULL,"
    "  name TEXT, hash TEXT NOT NULL, rights TEXT NOT NULL, user_id BIGINT,"
    "  resource_id BIGINT, extra TEXT, created_at BIGINT NOT NULL, expires_at BIGINT,"
    "  revoked_at BIGINT, last_used_at BIGINT);"
    "CREATE UNIQUE INDEX tokens_hash ON tokens(hash);"
    "CREATE INDEX tokens_org ON tokens(org_id, kind);",
    /* 2-7: see migrations_features.h. */
    MIGRATION_NONE,        /* 2 */
    MIGRATION_TAG_SOURCES, /* 3 */
    MIGRATION_NONE,        /* 4 */
    MIGRATION_NONE,        /* 5 */
    MIGRATION_LINKS,       /* 6 */
    MIGRATION_NONE,        /* 7 */
    /* 8: logins are unique per organization, not across all of them: one
     * organization no longer learns or blocks another's login names. Every existing login was
     * unique globally, so it is unique in its organization: no row changes. */
    "DROP INDEX users_login;"
    "CREATE UNIQUE INDEX users_login ON users(org_id, login_key);",
    /* 9: webhooks (core/webhooks.c). A webhook's secret must sign, so it is kept sealed under
     * the server's key file (secret_box), never as a hash; key_id names that key. The
     * delivery cursor (cursor_rev, cursor_seq) is the last change record delivered or passed
     * over by the filters; pend_rev/pend_seq, while set, end the batch being delivered, so
     * that a retry, also after a crash, sends the same batch again. gen moves with every
     * change through the API (a PATCH, a redelivery): a delivery begun under an older gen
     * writes nothing. lease_owner/lease_until: the one instance delivering it now. A deleted
     * webhook stays as a row (deleted = 1, secret gone) so that its id is never given out
     * again. webhook_deliveries keeps the last attempts of each webhook. */
    "CREATE TABLE webhooks(id INTEGER PRIMARY KEY, org_id BIGINT NOT NULL, url TEXT NOT NULL,"
    "  secret_box TEXT NOT NULL, key_id TEXT NOT NULL, filters TEXT NOT NULL,"
    "  active INTEGER NOT NULL DEFAULT 1, deleted INTEGER NOT NULL DEFAULT 0,"
    "  created_by TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    "  gen BIGINT NOT NULL DEFAULT 1, cursor_rev BIGINT NOT NULL, cursor_seq BIGINT NOT NULL,"
    "  pend_rev BIGINT, pend_seq BIGINT, state TEXT NOT NULL DEFAULT 'ok',"
    "  failures BIGINT NOT NULL DEFAULT 0, next_attempt_at BIGINT NOT NULL DEFAULT 0,"
    "  last_error TEXT, last_attempt_at BIGINT, last_success_at BIGINT,"
    "  lease_owner TEXT, lease_until BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX webhooks_org ON webhooks(org_id, deleted);"
    "CREATE TABLE webhook_deliveries(id INTEGER PRIMARY KEY, webhook_id BIGINT NOT NULL,"
    "  delivery TEXT NOT NULL, at BIGINT NOT NULL, from_rev BIGINT NOT NULL,"
    "  from_seq BIGINT NOT NULL, to_rev BIGINT NOT NULL, to_seq BIGINT NOT NULL,"
    "  events BIGINT NOT NULL, attempt BIGINT NOT NULL, status BIGINT NOT NULL,"
    "  latency_ms BIGINT NOT NULL, outcome TEXT NOT NULL, error TEXT, instance TEXT);"
    "CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);",
    /* 10: idempotency keys of native writes (Idempotency-Key): the first answer to a key, per
     * organization and principal, kept until expires_at so that a retry is answered without
     * applying again. Written in the transaction of the write it answers, so a key is stored
     * exactly when its write commits. `hash` is of the request (method, path, query, workspace,
     * body); `status` 0 marks a key claimed by a write whose answer is not in yet. `bytes`
     * lets the per-organization bound count what the answers take. */
    "CREATE TABLE idempotency_keys(org_id BIGINT NOT NULL, principal TEXT NOT NULL,"
    "  idem_key TEXT NOT NULL, hash TEXT NOT NULL, status INTEGER NOT NULL,"
    "  content_type TEXT, headers TEXT, body TEXT, bytes BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,"
    "  PRIMARY KEY(org_id, principal, idem_key));"
    "CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);"
    "CREATE INDEX idempotency_keys_org ON idempotency_keys(org_id, created_at);",
    /* 11: tag aliases. A rename or a move keeps each old name as an alias of the tag it now
     * is, and a merge keeps the merged tag's name as an alias of the tag it went into, so that
     * names clients stored go on resolving. An alias name is unique in its workspace like a
     * tag name (the rules that no live tag shares it are core's, core/aliases.c). Aliases are
     * temporal in place like assignments, [valid_from, valid_to) revisions, valid_to NULL for
     * the current ones, so that reads as of a past revision resolve the aliases of then.
     * Changes to aliases are logged as entity 'alias' under the tag they point to. */
    "CREATE TABLE tag_aliases(id INTEGER PRIMARY KEY, ws_id BIGINT NOT NULL,"
    "  name TEXT NOT NULL, name_key TEXT NOT NULL, tag_id BIGINT NOT NULL,"
    "  reason TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT,"
    "  valid_from BIGINT NOT NULL, valid_to BIGINT);"
    "CREATE UNIQUE INDEX tag_aliases_key ON tag_aliases(ws_id, name_key)"
    "  WHERE valid_to IS NULL;"
    "CREATE INDEX tag_aliases_tag ON tag_aliases(tag_id) WHERE valid_to IS NULL;"
    "CREATE INDEX tag_aliases_hist ON tag_aliases(ws_id, name_key, valid_from);",
    /* 12: the taxonomy's lifecycle (docs/taxonomy.md, "Lifecycle"). A tag's state (draft,
     * active, deprecated, archived) decides whether it may be assigned; `archived` stays as
     * the listings' filter and is kept equal to state = 'archived', so the tags archived
     * before keep their meaning. An assignment may expire: the partial index finds the next
     * one due (the write pipeline's sweep) without reading the permanent ones. */
    "ALTER TABLE tags ADD COLUMN state TEXT NOT NULL DEFAULT 'active';"
    "ALTER TABLE tags ADD COLUMN replaced_by BIGINT;"
    "UPDATE tags SET state = 'archived' WHERE archived = 1;"
    "ALTER TABLE assignments ADD COLUMN expires_at BIGINT;"
    "CREATE INDEX assignments_expiry ON assignments(expires_at)"
    "  WHERE valid_to IS NULL AND expires_at IS NOT NULL;",
    /* 13: closed assignments by resource. Reads as of a revision (an export page, a
     * resource's tags then) need a resource's assignments that were closed after the
     * revision; the only index on the resource (assignments_cur) holds current rows only, so
     * each such read scanned every closed assignment. A partial index on the closed rows
     * makes an export page two index range scans. */
    "CREATE INDEX assignments_closed ON assignments(resource_id, valid_to)"
    " WHERE valid_to IS NOT NULL;",
    /* 14: the API each change came through (issue 22: the change feed says from which
     * API): the dialect whose route made the write ("native", "easydb", ... "console"), or
     * "system" for the server's own work (the expiry sweep, bootstrap). NULL on the records
     * written before, whose API nobody noted; readers show that as null, not as a guess. */
    "ALTER TABLE changes ADD COLUMN api TEXT;",
    /* 15: tag policies of a workspace (core/policies.c, docs/taxonomy.md "Policies"): required
     * tags (min/max of a subtree on a resource kind) and allowed subtrees per kind, each in
     * audit or enforce mode. `tags` names the subtrees by tag id ("12*" a tag and everything
     * below it, "12" the tag alone; comma-separated), so that renames and merges keep a
     * policy pointing at the same tags. Versioned like groups: policies_hist keeps every
     * version, and changes are logged as entity 'policy'. */
    "CREATE TABLE policies(id INTEGER PRIMARY KEY, ws_id BIGINT NOT NULL, name TEXT,"
    "  kind TEXT NOT NULL, resource_kind TEXT, tags TEXT NOT NULL,"
    "  min_count BIGINT NOT NULL DEFAULT 0, max_count BIGINT, mode TEXT NOT NULL,"
    "  created_by TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    "  version BIGINT NOT NULL DEFAULT 1);"
    "CREATE INDEX policies_ws ON policies(ws_id, id);"
    "CREATE TABLE policies_hist(policy_id BIGINT NOT NULL, valid_from BIGINT NOT NULL,"
    "  valid_to BIGINT, data TEXT NOT NULL);"
    "CREATE INDEX policies_hist_id ON policies_hist(policy_id, valid_from);",
    /* 16: an exclusive group's policy for inheritance conflicts (docs/taxonomy.md,
     * "Inheritance conflicts"): what a resource's effective tags hold when it inherits a tag
     * of the group and holds or inherits another one. 'union' (every one: what tagd did
     * before), 'child-wins', 'parent-wins' or 'reject'. The groups' history keeps it in the
     * versions' JSON, so reads as of a revision apply the policy of then. */
    "ALTER TABLE groups ADD COLUMN conflict TEXT NOT NULL DEFAULT 'union';",
    /* 17: who may assign what (docs/security.md, "Assign rights"). A token's or a user's
     * `assign` is a JSON array of tag subtree patterns ("Team.*", "Env.prod") it may put on
     * and take off resources; NULL is no limit, as every principal had before. A session and
     * an API-key login take theirs from their user and their key. A tag with
     * assign_restricted = 1 roots a subtree that only principals whose list names it (or a
     * subtree inside it) may assign; the partial index finds a workspace's few roots for
     * every checked write without reading the other tags. */
    "ALTER TABLE tokens ADD COLUMN assign TEXT;"
    "ALTER TABLE users ADD COLUMN assign TEXT;"
    "ALTER TABLE tags ADD COLUMN assign_restricted INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX tags_assign_restricted ON tags(ws_id) WHERE assign_restricted = 1;",
    /* 18: import jobs (POST /v1/import, docs/interchange.md "Chunks and jobs"), kept in the
     * store so that a job outlives a restart: its progress is written in the transaction of
     * each chunk it counts (so it never says a chunk is in that is not), and a refused chunk's
     * error after the chunk's rollback in the same commit. `boot` is the server start that last
     * touched the job: a job still running under an older one was cut by a restart. Not
     * history: a job is progress, changed in place, and purged a week after its last chunk. */
    "CREATE TABLE import_jobs(id TEXT PRIMARY KEY, org_id BIGINT NOT NULL,"
    "  ws_id BIGINT NOT NULL, format TEXT NOT NULL, state TEXT NOT NULL,"
    "  chunks_done BIGINT NOT NULL, rows_done BIGINT NOT NULL, failures BIGINT NOT NULL,"
    "  last_rev BIGINT, err_chunk BIGINT, err_line BIGINT, err_code TEXT, err_field TEXT,"
    "  err_msg TEXT, boot BIGINT NOT NULL, created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL);"
    "CREATE INDEX import_jobs_age ON import_jobs(updated_at);",
};

#endif /* TAGD_STORE_MIGRATIONS_H */
