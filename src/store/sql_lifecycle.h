/* store/sql_lifecycle.h: expiring assignments (core/lifecycle.c). No include guard: see
 * sql_all.h. */

/* ?1 now (ms), ?2 most rows: the current assignments due, earliest first, with the workspace
 * and organization their removal is logged under. */
STORE_SQL_ID(SQL_EXPIRY_DUE,
             "SELECT a.resource_id, a.tag_id, r.ws_id, w.org_id, a.expires_at"
             " FROM assignments a JOIN resources r ON r.id = a.resource_id"
             " JOIN workspaces w ON w.id = r.ws_id"
             " WHERE a.valid_to IS NULL AND a.expires_at IS NOT NULL AND a.expires_at <= ?1"
             " ORDER BY a.expires_at LIMIT ?2")
/* The next expiry of a current assignment, NULL when none (the partial index answers). */
STORE_SQL_ID(SQL_EXPIRY_NEXT, "SELECT min(expires_at) FROM assignments"
                              " WHERE valid_to IS NULL AND expires_at IS NOT NULL")
