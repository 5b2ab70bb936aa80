/* store/sql_history.h: statements for reads as of a past revision (core/history.c), as
 * LaunchDarkly's /api/v2/tags makes them. No include guard, see sql_all.h.
 *
 * Parameters: ?1 workspace, ?2-?9 resource kinds (unused slots NULL, which match nothing),
 * ?10 1 when any kind counts, ?11 1 when uses on archived resources count, ?12 name prefix or
 * NULL, and for the as-of statement ?13 the revision. Names sort by the store's binary
 * collation, i.e. bytewise for UTF-8 (PostgreSQL needs COLLATE "C" there). */
#define HIST_USE_WHERE                                                                            \
    " AND r.ws_id = ?1 AND (?10 = 1 OR r.kind IN (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))"               \
    " AND (?11 = 1 OR r.archived = 0) AND t.deleted = 0"                                          \
    " AND (CAST(?12 AS TEXT) IS NULL OR substr(t.name, 1, length(?12)) = ?12)"
#define HIST_USE_NOW                                                                              \
    " FROM assignments a JOIN resources r ON r.id = a.resource_id"                                \
    " JOIN tags t ON t.id = a.tag_id WHERE a.valid_to IS NULL" HIST_USE_WHERE
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
