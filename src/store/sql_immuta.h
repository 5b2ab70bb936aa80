/* store/sql_immuta.h: statements for the Immuta dialect and external tag sources (issue 4).
 * No include guard, see sql_all.h. */
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
/* GET /tag. ?5: 0 no system tags and no deleted ones; 1 every system tag (deleted too) and
 * the live others; 2 the live tags. */
STORE_SQL_ID(SQL_IMMUTA_SEARCH,
             "SELECT " TAG_COLS " FROM tags t WHERE t.ws_id = ?1"
             " AND (CAST(?2 AS TEXT) IS NULL OR instr(t.name_key, ?2) > 0)"
             " AND (CAST(?3 AS TEXT) IS NULL OR t.source = ?3)"
             " AND (CAST(?4 AS TEXT) IS NULL OR t.source <> ?4)"
             " AND (CASE CAST(?5 AS BIGINT) WHEN 0 THEN t.system_created = 0 AND t.deleted = 0"
             "      WHEN 1 THEN t.deleted = 0 OR t.system_created = 1 ELSE t.deleted = 0 END)"
             " ORDER BY t.name")
STORE_SQL_ID(SQL_IMMUTA_ASG_ONE,
             "SELECT a.context, a.added_by FROM assignments a WHERE a.resource_id = ?1"
             " AND a.tag_id = ?2 AND a.valid_to IS NULL")
