/* store/sql_aliases.h: tag aliases and merges (core/aliases.c). No include guard, see
 * sql_all.h. Aliases are temporal in place: the current ones have valid_to NULL. */
#define ALIAS_COLS                                                                                 \
    "a.id, a.ws_id, a.name, a.name_key, a.tag_id, a.reason, a.created_at, a.created_by"
STORE_SQL_ID(SQL_ALIAS_BY_KEY, "SELECT " ALIAS_COLS " FROM tag_aliases a WHERE a.ws_id = ?1"
                               " AND a.name_key = ?2 AND a.valid_to IS NULL")
STORE_SQL_ID(SQL_ALIAS_BY_TAG, "SELECT " ALIAS_COLS " FROM tag_aliases a WHERE a.tag_id = ?1"
                               " AND a.valid_to IS NULL ORDER BY a.id")
/* The tag an alias named at revision ?3 (reads as of a past revision). */
STORE_SQL_ID(SQL_ALIAS_ASOF, "SELECT a.tag_id FROM tag_aliases a WHERE a.ws_id = ?1"
                             " AND a.name_key = ?2 AND a.valid_from <= ?3"
                             " AND (a.valid_to IS NULL OR a.valid_to > ?3)")
STORE_SQL_ID(SQL_ALIAS_INSERT, "INSERT INTO tag_aliases(ws_id, name, name_key, tag_id, reason,"
                               " created_at, created_by, valid_from)"
                               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id")
STORE_SQL_ID(SQL_ALIAS_CLOSE, "UPDATE tag_aliases SET valid_to = ?2 WHERE id = ?1")
/* A merge's work list: the resources carrying a tag now (assignments_tag serves it). */
STORE_SQL_ID(SQL_MERGE_ASG, "SELECT resource_id, context, expires_at FROM assignments WHERE tag_id = ?1"
                            " AND valid_to IS NULL ORDER BY resource_id")
/* A resource's live tags with their groups, for the exclusive groups a merge would break. */
STORE_SQL_ID(SQL_MERGE_RES_TAGS, "SELECT a.tag_id, t.group_id, t.name FROM assignments a"
                                 " JOIN tags t ON t.id = a.tag_id WHERE a.resource_id = ?1"
                                 " AND a.valid_to IS NULL AND t.deleted = 0")
