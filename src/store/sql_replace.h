/* store/sql_replace.h: statements for the full replace of grouped tags (core/replace.c).
 * No include guard, see sql_all.h. */
STORE_SQL_ID(SQL_REPLACE_TAG_USERS,
             "SELECT a.resource_id FROM assignments a WHERE a.tag_id = ?1 AND a.valid_to IS NULL"
             " ORDER BY a.resource_id")
STORE_SQL_ID(SQL_REPLACE_TAG_USE_COUNT,
             "SELECT count(*) FROM assignments a WHERE a.tag_id = ?1 AND a.valid_to IS NULL")
