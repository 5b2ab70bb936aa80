/* store/migrations_features.h: the migration slots 2-7 (see migrations.h). Each feature
 * replaces its "SELECT 1;" with its schema; later changes go to new numbers after 7. */
#ifndef TAGD_STORE_MIGRATIONS_FEATURES_H
#define TAGD_STORE_MIGRATIONS_FEATURES_H

#define MIGRATION_EASYDB "SELECT 1;"

/* External tag sources (issue 4): a workspace's named sources, refreshed by POST /tag/refresh.
 * Tags imported from a source carry its name in tags.source; the outcome of the last refresh
 * is kept for GET /v1/sources. */
#define MIGRATION_IMMUTA                                                                          \
    "CREATE TABLE tag_sources(id INTEGER PRIMARY KEY, ws_id BIGINT NOT NULL, name TEXT NOT NULL," \
    "  url TEXT NOT NULL, created_by TEXT, created_at BIGINT NOT NULL,"                          \
    "  updated_at BIGINT NOT NULL, refreshed_at BIGINT, last_error TEXT);"                       \
    "CREATE UNIQUE INDEX tag_sources_name ON tag_sources(ws_id, name);"                          \
    "CREATE INDEX tags_source ON tags(ws_id, source);"

#define MIGRATION_LAUNCHDARKLY "SELECT 1;"

#define MIGRATION_AITRONOS "SELECT 1;"

/* Applinks and public links are found by their public id (tokens.name) per kind. */
#define MIGRATION_ORACLE "CREATE INDEX tokens_link ON tokens(kind, name);"

#define MIGRATION_ENGINE "SELECT 1;"

#endif /* TAGD_STORE_MIGRATIONS_FEATURES_H */
