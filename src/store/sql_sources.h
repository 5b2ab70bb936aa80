/* store/sql_sources.h: statements for external tag sources (core/sources.c): a workspace's
 * named sources and what each refresh brought in. No include guard, see sql_all.h. */
#define SRC_COLS "s.id, s.name, s.url, s.created_by, s.created_at, s.updated_at, s.refreshed_at," \
                 " s.last_error"

STORE_SQL_ID(SQL_SRC_INSERT,
             "INSERT INTO tag_sources(ws_id, name, url, created_by, created_at, updated_at)"
             " VALUES(?1, ?2, ?3, ?4, ?5, ?5) RETURNING id")
STORE_SQL_ID(SQL_SRC_LIST, "SELECT " SRC_COLS " FROM tag_sources s WHERE s.ws_id = ?1"
                           " ORDER BY s.name")
STORE_SQL_ID(SQL_SRC_BY_NAME, "SELECT " SRC_COLS " FROM tag_sources s WHERE s.ws_id = ?1"
                              " AND s.name = ?2")
STORE_SQL_ID(SQL_SRC_DELETE, "DELETE FROM tag_sources WHERE ws_id = ?1 AND name = ?2")
STORE_SQL_ID(SQL_SRC_STATUS, "UPDATE tag_sources SET refreshed_at = ?3, last_error = ?4"
                             " WHERE ws_id = ?1 AND name = ?2")
/* Every tag a source brought in, deleted ones too, deepest first. */
STORE_SQL_ID(SQL_SRC_TAGS, "SELECT " TAG_COLS " FROM tags t WHERE t.ws_id = ?1 AND t.source = ?2"
                           " ORDER BY t.name_key DESC")
/* The resources a source attached a tag to (context names the source). */
STORE_SQL_ID(SQL_SRC_TAG_ASSIGNED,
             "SELECT r.id, r.kind, r.key FROM assignments a JOIN resources r ON r.id = a.resource_id"
             " WHERE a.tag_id = ?1 AND a.context = ?2 AND a.valid_to IS NULL ORDER BY r.id")
