/* store/sql_policies.h: tag policies (core/policies.c). No include guard: see sql_all.h. */

#define POLICY_COLS                                                                                \
    "p.id, p.ws_id, p.name, p.kind, p.resource_kind, p.tags, p.min_count, p.max_count, p.mode,"  \
    " p.created_by, p.created_at, p.updated_at, p.version"
/* ?1 workspace: every policy of it, by id (a workspace has at most a hundred). */
STORE_SQL_ID(SQL_POLICY_LIST, "SELECT " POLICY_COLS " FROM policies p WHERE p.ws_id = ?1"
                              " ORDER BY p.id")
/* ?1 workspace: the policies a write must obey (what every checked assignment write reads). */
STORE_SQL_ID(SQL_POLICY_ENFORCED, "SELECT " POLICY_COLS " FROM policies p WHERE p.ws_id = ?1"
                                  " AND p.mode = 'enforce' ORDER BY p.id")
STORE_SQL_ID(SQL_POLICY_BY_ID, "SELECT " POLICY_COLS " FROM policies p WHERE p.id = ?1"
                               " AND p.ws_id = ?2")
STORE_SQL_ID(SQL_POLICY_COUNT, "SELECT count(*) FROM policies WHERE ws_id = ?1")
/* struct versioned's parameters (core_int.h): ?4... the row's columns, ?11 created_by on
 * insert only. */
STORE_SQL_ID(SQL_POLICY_INSERT,
             "INSERT INTO policies(ws_id, created_at, updated_at, version, name, kind,"
             " resource_kind, tags, min_count, max_count, mode, created_by)"
             " VALUES(?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id")
STORE_SQL_ID(SQL_POLICY_UPDATE,
             "UPDATE policies SET updated_at = ?2, version = ?3, name = ?4, kind = ?5,"
             " resource_kind = ?6, tags = ?7, min_count = ?8, max_count = ?9, mode = ?10"
             " WHERE id = ?1")
STORE_SQL_ID(SQL_POLICY_DELETE_ROW, "DELETE FROM policies WHERE id = ?1")
STORE_SQL_ID(SQL_POLICY_HIST_CLOSE, "UPDATE policies_hist SET valid_to = ?2"
                                    " WHERE policy_id = ?1 AND valid_to IS NULL")
STORE_SQL_ID(SQL_POLICY_HIST_OPEN, "INSERT INTO policies_hist(policy_id, valid_from, data)"
                                   " VALUES(?1, ?2, ?3)")
