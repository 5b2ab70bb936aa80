/* store/sql_immuta.h: statements for the Immuta model rules (core_immuta_* in core/immuta_rules.c):
 * its tag search and the one assignment it shows. No include guard, see sql_all.h. */
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
