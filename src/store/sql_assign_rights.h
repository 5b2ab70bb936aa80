/* store/sql_assign_rights.h: statements for who may assign what (core/assign_rights.c). No
 * include guard, see sql_all.h. */

/* ?1 workspace, ?2 a tag's name key: the innermost live restricted tag that is the tag or an
 * ancestor (its name key is ?2 or a prefix of it ending before a '.'), over the partial index
 * of restricted tags (migration 17), which holds the workspace's few roots. */
STORE_SQL_ID(SQL_ASSIGN_ROOT,
             "SELECT id, name, name_key FROM tags WHERE ws_id = ?1 AND assign_restricted = 1"
             " AND deleted = 0 AND (name_key = ?2 OR substr(?2, 1, length(name_key) + 1)"
             " = name_key || '.') ORDER BY length(name_key) DESC LIMIT 1")

/* PATCH /v1/tokens/{id} and /v1/users/{id}: an assign list (and a user's rights) changed in
 * place. UPDATE of tokens/users: the commit moves the authentication epoch (store.c,
 * writes_auth), so no cached check outlives it. */
STORE_SQL_ID(SQL_TOKEN_SET_ASSIGN, "UPDATE tokens SET assign = ?2 WHERE id = ?1")
STORE_SQL_ID(SQL_USER_BY_ID, "SELECT id, org_id, login, display_name, rights, created_at,"
                             " disabled, assign FROM users WHERE id = ?1 AND org_id = ?2")
STORE_SQL_ID(SQL_USER_UPDATE, "UPDATE users SET rights = ?2, assign = ?3 WHERE id = ?1")
