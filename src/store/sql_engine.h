/* store/sql_engine.h: what the in-memory engine (src/engine/) reads: everything once at start,
 * then the change log and the current rows of the entities each commit touched.
 * No include guard, see sql_all.h. */
/* Whole rows (TAG_COLS): tag lists are answered from the engine. */
STORE_SQL_ID(SQL_ENG_TAGS, "SELECT " TAG_COLS " FROM tags t ORDER BY t.id")
STORE_SQL_ID(SQL_ENG_TAG_ONE, "SELECT " TAG_COLS " FROM tags t WHERE t.id = ?1")
STORE_SQL_ID(SQL_ENG_RESOURCES, "SELECT id, ws_id, kind, parent_id, archived, key FROM resources"
                                " ORDER BY id")
STORE_SQL_ID(SQL_ENG_RES_ONE, "SELECT id, ws_id, kind, parent_id, archived, key FROM resources"
                              " WHERE id = ?1")
/* Resources ?1..?2, every one touched by the changes a catch-up applies (an import's chunk
 * creates thousands with ids in a run): one statement for them all (engine/catchup.c). */
STORE_SQL_ID(SQL_ENG_RES_RANGE, "SELECT id, ws_id, kind, parent_id, archived, key FROM resources"
                                " WHERE id >= ?1 AND id <= ?2 ORDER BY id")
/* The partial index assignments_cur(resource_id, tag_id) serves these three in order. */
STORE_SQL_ID(SQL_ENG_ASSIGNMENTS, "SELECT resource_id, tag_id, context, added_by, added_at,"
                                  " id FROM assignments WHERE valid_to IS NULL"
                                  " ORDER BY resource_id, tag_id")
STORE_SQL_ID(SQL_ENG_RES_TAGS, "SELECT tag_id, context, added_by, added_at, id FROM assignments"
                               " WHERE resource_id = ?1 AND valid_to IS NULL ORDER BY tag_id")
STORE_SQL_ID(SQL_ENG_RES_TAGS_RANGE, "SELECT resource_id, tag_id, context, added_by, added_at,"
                                     " id FROM assignments WHERE resource_id >= ?1"
                                     " AND resource_id <= ?2 AND valid_to IS NULL"
                                     " ORDER BY resource_id, tag_id")
/* Every alias (core/aliases.c): the query language resolves old names in memory. */
STORE_SQL_ID(SQL_ENG_ALIASES, "SELECT ws_id, name_key, tag_id FROM tag_aliases"
                                " WHERE valid_to IS NULL")
STORE_SQL_ID(SQL_ENG_REV, "SELECT coalesce(max(rev), 0) FROM revisions")
/* An assignment's add or removal is applied from its record (op, principal, at, and the data:
 * an add's `after`, a removal's `before`; removals written before 2026-12-04 have `after`). */
STORE_SQL_ID(SQL_ENG_CHANGES, "SELECT rev, entity, entity_id, op, principal, at,"
                              " coalesce(after, before)"
                              " FROM changes WHERE rev > ?1"
                              " ORDER BY rev, seq")
/* The exclusive groups whose conflict policy is not union (core/conflicts.c): effective tags
 * and effective queries apply them. */
STORE_SQL_ID(SQL_ENG_POLICIES, "SELECT id, conflict FROM groups WHERE exclusive <> 0"
                               " AND conflict <> 'union'")
