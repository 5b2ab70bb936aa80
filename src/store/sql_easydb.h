/* store/sql_easydb.h: statements for easydb sessions (core/sessions.c) and the full replace of
 * grouped tags (core/replace.c). No include guard, see sql_all.h. */
STORE_SQL_ID(SQL_EASYDB_SESSION_SET,
             "UPDATE tokens SET user_id = ?2, extra = ?3, last_used_at = ?4, org_id = ?5 WHERE id = ?1"
             " AND kind = 'session'")
STORE_SQL_ID(SQL_EASYDB_SESSION_PURGE,
             "DELETE FROM tokens WHERE org_id = ?1 AND kind = 'session' AND expires_at <= ?2")
STORE_SQL_ID(SQL_EASYDB_USER_BY_ID,
             "SELECT login, rights, disabled, display_name FROM users WHERE id = ?1")
STORE_SQL_ID(SQL_EASYDB_TAG_USERS,
             "SELECT a.resource_id FROM assignments a WHERE a.tag_id = ?1 AND a.valid_to IS NULL"
             " ORDER BY a.resource_id")
STORE_SQL_ID(SQL_EASYDB_TAG_USE_COUNT,
             "SELECT count(*) FROM assignments a WHERE a.tag_id = ?1 AND a.valid_to IS NULL")
