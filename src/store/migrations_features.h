/* store/migrations_features.h: migrations 2-7 (see migrations.h), named by what they hold.
 * They were reserved together as one slot per planned feature; the slots whose feature needed
 * no schema hold a no-op so that the numbering stays fixed. Their SQL text must never change:
 * stores exist with them applied. Later changes go to new numbers after 8. */
#ifndef TAGD_STORE_MIGRATIONS_FEATURES_H
#define TAGD_STORE_MIGRATIONS_FEATURES_H

/* 2, 4, 5 and 7: nothing. */
#define MIGRATION_NONE "SELECT 1;"

/* 3: external tag sources: a workspace's named sources, refreshed by POST /tag/refresh.
 * Tags imported from a source carry its name in tags.source; the outcome of the last refresh
 * is kept for GET /v1/sources. */
#define MIGRATION_TAG_SOURCES                                                                     \
    "CREATE TABLE tag_sources(id INTEGER PRIMARY KEY, ws_id BIGINT NOT NULL, name TEXT NOT NULL," \
    "  url TEXT NOT NULL, created_by TEXT, created_at BIGINT NOT NULL,"                          \
    "  updated_at BIGINT NOT NULL, refreshed_at BIGINT, last_error TEXT);"                       \
    "CREATE UNIQUE INDEX tag_sources_name ON tag_sources(ws_id, name);"                          \
    "CREATE INDEX tags_source ON tags(ws_id, source);"

/* 6: applinks and public links are found by their public id (tokens.name) per kind. */
#define MIGRATION_LINKS "CREATE INDEX tokens_link ON tokens(kind, name);"

#endif /* TAGD_STORE_MIGRATIONS_FEATURES_H */
