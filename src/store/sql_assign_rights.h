/* store/sql_assign_rights.h: statements for who may assign what (core/assign_rights.c). No
 * include guard, see sql_all.h. */

/* ?1 workspace, ?2 a tag's name key: the innermost live restricted tag that is the tag or an
 * ancestor (its name key is ?2 or a prefix of it ending before a '.'), over the partial index
 * of restricted tags (migration 17), which holds the workspace's few roots. */
STORE_SQL_ID(SQL_ASSIGN_ROOT,
             "SELECT id, name, name_key FROM tags WHERE ws_id = ?1 AND assign_restricted = 1"
             " AND deleted = 0 AND (name_key = ?2 OR substr(?2, 1, length(name_key) + 1)"
             " = name_key || '.') ORDER BY length(name_key) DESC LIMIT 1")
