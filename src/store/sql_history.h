/* store/sql_history.h: statements for reads as of a past revision (core/history.c), as
 * LaunchDarkly's /api/v2/tags makes them. No include guard, see sql_all.h.
 *
 * Parameters: ?1 workspace, ?2-?9 resource kinds (unused slots NULL, which match nothing),
 * ?10 1 when any kind counts, ?11 1 when uses on archived resources (and, now, uses of archived
 * tags: tags_hist keeps no such column, so not as of a revision) count, ?12 name prefix or
 * NULL, and for the as-of statement ?13 the revision. Names sort by the store's binary
 * collation, i.e. bytewise for UTF-8 (PostgreSQL needs COLLATE "C" there). */
#define HIST_USE_WHERE                                                                            \
    " AND r.ws_id = ?1 AND (?10 = 1 OR r.kind IN (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))"               \
    " AND (?11 = 1 OR r.archived = 0) AND t.deleted = 0"                                          \
    " AND (CAST(?12 AS TEXT) IS NULL OR substr(t.name, 1, length(?12)) = ?12)"
#define HIST_USE_NOW                                                                              \
    " FROM assignments a JOIN resources r ON r.id = a.resource_id"                                \
    " JOIN tags t ON t.id = a.tag_id WHERE a.valid_to IS NULL AND (?11 = 1 OR t.archived = 0)"    \
    HIST_USE_WHERE
/* The version of each row valid at ?13: valid_from <= ?13 < valid_to. */
#define HIST_VALID_AT(x) " " x ".valid_from <= ?13 AND (" x ".valid_to IS NULL OR " x ".valid_to > ?13)"
#define HIST_USE_ASOF                                                                             \
    " FROM assignments a JOIN resources_hist r ON r.resource_id = a.resource_id AND"              \
    HIST_VALID_AT("r") " JOIN tags_hist t ON t.tag_id = a.tag_id AND" HIST_VALID_AT("t")          \
    " WHERE" HIST_VALID_AT("a") HIST_USE_WHERE

/* Every matching name in order; core counts them and keeps one page while stepping, which
 * costs one pass instead of a count query plus a page query. */
STORE_SQL_ID(SQL_HIST_USE_NAMES_NOW, "SELECT DISTINCT t.name" HIST_USE_NOW " ORDER BY t.name")
STORE_SQL_ID(SQL_HIST_USE_NAMES_ASOF, "SELECT DISTINCT t.name" HIST_USE_ASOF " ORDER BY t.name")

/* ---- the native API's reads as of revision R (core/history.c, core_asof_*) ----
 *
 * The same rule as above: the version of a row valid at R has valid_from <= R < valid_to. The
 * history tables are indexed by (entity id, valid_from) only, so a read by id is an index
 * lookup, and a read of a whole workspace walks its current rows (tags) or the history table
 * in id order (resources). Assignments keep no index on the resource for closed rows: a
 * resource's past tags scan the closed assignments opened at or before R (docs/api.md). */
#define HIST_AT(x, p)                                                                             \
    " " x ".valid_from <= " p " AND (" x ".valid_to IS NULL OR " x ".valid_to > " p ")"
/* The time of the version's revision (updated_at) and of the entity's first one (created_at). */
#define HIST_TIMES(x, tbl, idcol)                                                                 \
    " (SELECT v.at FROM revisions v WHERE v.rev = " x ".valid_from),"                             \
    " (SELECT v.at FROM revisions v WHERE v.rev = (SELECT min(h2.valid_from) FROM " tbl " h2"      \
    " WHERE h2." idcol " = " x "." idcol "))"
#define HIST_TAG_COLS                                                                             \
    "SELECT h.tag_id, h.data, t.created_by," HIST_TIMES("h", "tags_hist", "tag_id")
/* ?1 workspace, ?2 revision. Also deleted versions: the caller filters. */
STORE_SQL_ID(SQL_ASOF_TAGS, HIST_TAG_COLS " FROM tags t JOIN tags_hist h ON h.tag_id = t.id"
                            " WHERE t.ws_id = ?1 AND" HIST_AT("h", "?2"))
/* ?1 workspace, ?2 revision, ?3 tag id. */
STORE_SQL_ID(SQL_ASOF_TAG, HIST_TAG_COLS " FROM tags t JOIN tags_hist h ON h.tag_id = t.id"
                           " WHERE t.id = ?3 AND t.ws_id = ?1 AND" HIST_AT("h", "?2"))
#define HIST_GROUP_COLS "SELECT h.group_id, h.data," HIST_TIMES("h", "groups_hist", "group_id")
/* ?1 workspace, ?2 revision. */
STORE_SQL_ID(SQL_ASOF_GROUPS,
             HIST_GROUP_COLS " FROM groups g JOIN groups_hist h ON h.group_id = g.id"
             " WHERE g.ws_id = ?1 AND" HIST_AT("h", "?2") " ORDER BY h.group_id")
#define HIST_RES_COLS                                                                             \
    "SELECT rh.resource_id, rh.kind, rh.key, rh.parent_id, rh.archived, rh.data,"                 \
    HIST_TIMES("rh", "resources_hist", "resource_id")
/* ?1 workspace, ?2 revision, ?3 resource id. */
STORE_SQL_ID(SQL_ASOF_RES_ID, HIST_RES_COLS " FROM resources_hist rh WHERE rh.resource_id = ?3"
                              " AND rh.ws_id = ?1 AND" HIST_AT("rh", "?2"))
/* ?1 workspace, ?2 revision, ?3 kind, ?4 key: a resource deleted since (no current row to
 * find its id by) is looked for through the whole history table. */
STORE_SQL_ID(SQL_ASOF_RES_KEY, HIST_RES_COLS " FROM resources_hist rh WHERE rh.ws_id = ?1"
                               " AND rh.kind = ?3 AND rh.key = ?4 AND" HIST_AT("rh", "?2"))
/* ?1 workspace, ?2 revision, ?3 after id, ?4 kind or NULL, ?5 parent id or NULL, ?6 archived
 * (0 exclude, 1 include, 2 only), ?7 limit: a keyset page in id order. */
STORE_SQL_ID(SQL_ASOF_RES_LIST,
             HIST_RES_COLS " FROM resources_hist rh WHERE rh.resource_id > ?3 AND rh.ws_id = ?1 AND"
             HIST_AT("rh", "?2") " AND (CAST(?4 AS TEXT) IS NULL OR rh.kind = ?4)"
             " AND (CAST(?5 AS BIGINT) IS NULL OR rh.parent_id = ?5)"
             " AND (CAST(?6 AS BIGINT) = 1 OR rh.archived = CASE CAST(?6 AS BIGINT) WHEN 2 THEN 1"
             " ELSE 0 END) ORDER BY rh.resource_id LIMIT ?7")
/* The tree of the workspace at ?2, for tag queries: ?1 workspace. */
STORE_SQL_ID(SQL_ASOF_RES_TREE,
             "SELECT rh.resource_id, rh.parent_id, rh.kind, rh.archived FROM resources_hist rh"
             " WHERE rh.ws_id = ?1 AND" HIST_AT("rh", "?2") " ORDER BY rh.resource_id")
/* The direct assignments of resource ?1 at ?2 with the tag's version then; deleted tags never
 * count. */
STORE_SQL_ID(SQL_ASOF_ASSIGN,
             "SELECT a.id, a.tag_id, a.context, a.added_by, a.added_at, h.data FROM assignments a"
             " JOIN tags_hist h ON h.tag_id = a.tag_id AND" HIST_AT("h", "?2")
             " WHERE a.resource_id = ?1 AND" HIST_AT("a", "?2") " AND h.deleted = 0 ORDER BY a.id")
/* Every (resource, tag) pair of workspace ?1 at ?2 with a live tag, for tag queries. */
STORE_SQL_ID(SQL_ASOF_PAIRS,
             "SELECT a.resource_id, a.tag_id FROM assignments a"
             " JOIN resources_hist rh ON rh.resource_id = a.resource_id AND" HIST_AT("rh", "?2")
             " JOIN tags_hist h ON h.tag_id = a.tag_id AND" HIST_AT("h", "?2")
             " WHERE rh.ws_id = ?1 AND" HIST_AT("a", "?2") " AND h.deleted = 0")
STORE_SQL_ID(SQL_ASOF_REV_TIME, "SELECT at FROM revisions WHERE rev = ?1")
/* One entity's change records: ?1 organization, ?2 entity id, ?3 and ?4 the entity names,
 * ?5/?6 after (rev, seq), ?7 principal or NULL, ?8 and ?9 the [from, to) times, ?10 limit. The
 * scan starts at the cursor, which the caller sets no earlier than the entity's first
 * version. */
STORE_SQL_ID(SQL_ASOF_ENTITY_CHANGES,
             "SELECT rev, seq, at, principal, entity, entity_id, op, before, after, api"
             " FROM changes WHERE (rev > ?5 OR (rev = ?5 AND seq > ?6)) AND org_id = ?1"
             " AND entity_id = ?2"
             " AND (entity = ?3 OR entity = ?4) AND (CAST(?7 AS TEXT) IS NULL OR principal = ?7)"
             " AND at >= ?8 AND at < ?9 ORDER BY rev, seq LIMIT ?10")
/* The first revision of an entity's versions (0: none): where its history starts. */
STORE_SQL_ID(SQL_ASOF_TAG_FIRST,
             "SELECT coalesce(min(valid_from), 0) FROM tags_hist WHERE tag_id = ?1")
STORE_SQL_ID(SQL_ASOF_RES_FIRST,
             "SELECT coalesce(min(valid_from), 0) FROM resources_hist WHERE resource_id = ?1")
STORE_SQL_ID(SQL_ASOF_GROUP_FIRST,
             "SELECT coalesce(min(valid_from), 0) FROM groups_hist WHERE group_id = ?1")
