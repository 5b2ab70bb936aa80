/* store/migrations_features.h: the migration slots 2-7 (see migrations.h). Each feature
 * replaces its "SELECT 1;" with its schema; later changes go to new numbers after 7. */
#ifndef TAGD_STORE_MIGRATIONS_FEATURES_H
#define TAGD_STORE_MIGRATIONS_FEATURES_H

#define MIGRATION_EASYDB "SELECT 1;"

#define MIGRATION_IMMUTA "SELECT 1;"

#define MIGRATION_LAUNCHDARKLY "SELECT 1;"

#define MIGRATION_AITRONOS "SELECT 1;"

/* Applinks and public links are found by their public id (tokens.name) per kind. */
#define MIGRATION_ORACLE "CREATE INDEX tokens_link ON tokens(kind, name);"

#define MIGRATION_ENGINE "SELECT 1;"

#endif /* TAGD_STORE_MIGRATIONS_FEATURES_H */
