/* store/sql_sessions.h: statements for login sessions, stored once they need state
 * (core/sessions.c). No include guard, see sql_all.h. */
STORE_SQL_ID(SQL_SESSION_SET,
             "UPDATE tokens SET user_id = ?2, extra = ?3, last_used_at = ?4, org_id = ?5 WHERE id = ?1"
             " AND kind = 'session'")
STORE_SQL_ID(SQL_SESSION_PURGE,
             "DELETE FROM tokens WHERE org_id = ?1 AND kind = 'session' AND expires_at <= ?2")
STORE_SQL_ID(SQL_SESSION_USER_BY_ID,
             "SELECT login, rights, disabled, display_name, assign FROM users WHERE id = ?1")
