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
    MIGRATION_NONE, /* 9: another branch */
    MIGRATION_NONE, /* 10: another branch */
    MIGRATION_NONE, /* 11: another branch */
    MIGRATION_NONE, /* 12: another branch */
    /* 13: closed assignments by resource. Reads as of a revision (an export page, a
     * resource's tags then) need a resource's assignments that were closed after the
     * revision; the only index on the resource (assignments_cur) holds current rows only, so
     * each such read scanned every closed assignment. A partial index on the closed rows
     * makes an export page two index range scans. */
    "CREATE INDEX assignments_closed ON assignments(resource_id, valid_to)"
    " WHERE valid_to IS NOT NULL;",
};

#endif /* TAGD_STORE_MIGRATIONS_H */
