/* store/sql_links.h: statements for applinks and public links (core/links.c), which the oracle
 * dialect serves. No include guard, see sql_all.h. Link rows are tokens; TOKEN_COLS is in
 * sql_core.h. */

/* ?1 kind, ?2 public id: the link, its secret's hash and its resource (NULL when gone). */
STORE_SQL_ID(SQL_LINK_BY_ID,
             "SELECT " TOKEN_COLS ", k.hash, r.kind, r.key, r.created_at FROM tokens k"
             " LEFT JOIN resources r ON r.id = k.resource_id WHERE k.kind = ?1 AND k.name = ?2")
/* ?1 org, ?2 kind: live links, oldest first. */
STORE_SQL_ID(SQL_LINK_LIST,
             "SELECT " TOKEN_COLS ", k.hash, r.kind, r.key, r.created_at FROM tokens k"
             " LEFT JOIN resources r ON r.id = k.resource_id WHERE k.org_id = ?1 AND k.kind = ?2"
             " AND k.revoked_at IS NULL ORDER BY k.id")
