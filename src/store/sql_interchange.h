/* store/sql_interchange.h: statements of exports and imports (core/interchange.c). No include
 * guard, see sql_all.h. */

/* The direct assignments of the resources with ids in [?2, ?3] as of revision ?1, with the
 * tag's name then (deleted tags never count), by resource then tag: one statement per page of
 * an export (the page's resources are the workspace's). Two halves, so that each has an index
 * on the resource: the rows still current (the partial index assignments_cur) and the rows
 * closed after ?1 (assignments_closed, migration 13). */
#define XCHG_ASSIGN_COLS                                                                          \
    "SELECT a.resource_id, a.tag_id, a.context, h.name FROM assignments a"                        \
    " JOIN tags_hist h ON h.tag_id = a.tag_id AND h.valid_from <= ?1"                             \
    " AND (h.valid_to IS NULL OR h.valid_to > ?1) AND h.deleted = 0"
STORE_SQL_ID(SQL_XCHG_ASSIGN_RANGE,
             XCHG_ASSIGN_COLS " WHERE a.resource_id >= ?2 AND a.resource_id <= ?3"
             " AND a.valid_to IS NULL AND a.valid_from <= ?1"
             " UNION ALL " XCHG_ASSIGN_COLS " WHERE a.resource_id >= ?2 AND a.resource_id <= ?3"
             " AND a.valid_to IS NOT NULL AND a.valid_to > ?1 AND a.valid_from <= ?1"
             " ORDER BY 1, 2")
