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

/* An import's adds, XCHG_BULK_ROWS rows a statement (core_assign_add_bulk): one statement,
 * one statement journal and one round trip for many rows, where the one-row insert costs
 * each of those per row (docs/interchange.md, "Speed"). ?1 the principal, ?2 the time, ?3
 * the revision; then (resource, tag, context) per row. The ids come back with their pair,
 * which is unique among current rows: neither backend promises RETURNING in VALUES order. */
#define XCHG_BULK_ROWS 64
STORE_SQL_ID(SQL_XCHG_ASG_INSERT_BULK,
             "INSERT INTO assignments(resource_id, tag_id, context, added_by, added_at,"
             " valid_from) VALUES"
             " (?4, ?5, ?6, ?1, ?2, ?3),"
             "(?7, ?8, ?9, ?1, ?2, ?3),"
             "(?10, ?11, ?12, ?1, ?2, ?3),"
             "(?13, ?14, ?15, ?1, ?2, ?3),"
             "(?16, ?17, ?18, ?1, ?2, ?3),"
             "(?19, ?20, ?21, ?1, ?2, ?3),"
             "(?22, ?23, ?24, ?1, ?2, ?3),"
             "(?25, ?26, ?27, ?1, ?2, ?3),"
             "(?28, ?29, ?30, ?1, ?2, ?3),"
             "(?31, ?32, ?33, ?1, ?2, ?3),"
             "(?34, ?35, ?36, ?1, ?2, ?3),"
             "(?37, ?38, ?39, ?1, ?2, ?3),"
             "(?40, ?41, ?42, ?1, ?2, ?3),"
             "(?43, ?44, ?45, ?1, ?2, ?3),"
             "(?46, ?47, ?48, ?1, ?2, ?3),"
             "(?49, ?50, ?51, ?1, ?2, ?3),"
             "(?52, ?53, ?54, ?1, ?2, ?3),"
             "(?55, ?56, ?57, ?1, ?2, ?3),"
             "(?58, ?59, ?60, ?1, ?2, ?3),"
             "(?61, ?62, ?63, ?1, ?2, ?3),"
             "(?64, ?65, ?66, ?1, ?2, ?3),"
             "(?67, ?68, ?69, ?1, ?2, ?3),"
             "(?70, ?71, ?72, ?1, ?2, ?3),"
             "(?73, ?74, ?75, ?1, ?2, ?3),"
             "(?76, ?77, ?78, ?1, ?2, ?3),"
             "(?79, ?80, ?81, ?1, ?2, ?3),"
             "(?82, ?83, ?84, ?1, ?2, ?3),"
             "(?85, ?86, ?87, ?1, ?2, ?3),"
             "(?88, ?89, ?90, ?1, ?2, ?3),"
             "(?91, ?92, ?93, ?1, ?2, ?3),"
             "(?94, ?95, ?96, ?1, ?2, ?3),"
             "(?97, ?98, ?99, ?1, ?2, ?3),"
             "(?100, ?101, ?102, ?1, ?2, ?3),"
             "(?103, ?104, ?105, ?1, ?2, ?3),"
             "(?106, ?107, ?108, ?1, ?2, ?3),"
             "(?109, ?110, ?111, ?1, ?2, ?3),"
             "(?112, ?113, ?114, ?1, ?2, ?3),"
             "(?115, ?116, ?117, ?1, ?2, ?3),"
             "(?118, ?119, ?120, ?1, ?2, ?3),"
             "(?121, ?122, ?123, ?1, ?2, ?3),"
             "(?124, ?125, ?126, ?1, ?2, ?3),"
             "(?127, ?128, ?129, ?1, ?2, ?3),"
             "(?130, ?131, ?132, ?1, ?2, ?3),"
             "(?133, ?134, ?135, ?1, ?2, ?3),"
             "(?136, ?137, ?138, ?1, ?2, ?3),"
             "(?139, ?140, ?141, ?1, ?2, ?3),"
             "(?142, ?143, ?144, ?1, ?2, ?3),"
             "(?145, ?146, ?147, ?1, ?2, ?3),"
             "(?148, ?149, ?150, ?1, ?2, ?3),"
             "(?151, ?152, ?153, ?1, ?2, ?3),"
             "(?154, ?155, ?156, ?1, ?2, ?3),"
             "(?157, ?158, ?159, ?1, ?2, ?3),"
             "(?160, ?161, ?162, ?1, ?2, ?3),"
             "(?163, ?164, ?165, ?1, ?2, ?3),"
             "(?166, ?167, ?168, ?1, ?2, ?3),"
             "(?169, ?170, ?171, ?1, ?2, ?3),"
             "(?172, ?173, ?174, ?1, ?2, ?3),"
             "(?175, ?176, ?177, ?1, ?2, ?3),"
             "(?178, ?179, ?180, ?1, ?2, ?3),"
             "(?181, ?182, ?183, ?1, ?2, ?3),"
             "(?184, ?185, ?186, ?1, ?2, ?3),"
             "(?187, ?188, ?189, ?1, ?2, ?3),"
             "(?190, ?191, ?192, ?1, ?2, ?3),"
             "(?193, ?194, ?195, ?1, ?2, ?3)"
             " RETURNING id, resource_id, tag_id")
/* Their change records: ?1 the revision, ?2 the time, ?3 the organization, ?4 the workspace,
 * ?5 the principal, ?6 the API; then (seq, resource, after) per row. */
STORE_SQL_ID(SQL_XCHG_CHANGE_INSERT_BULK,
             "INSERT INTO changes(rev, seq, at, org_id, ws_id, principal, entity, entity_id, op,"
             " before, after, api) VALUES"
             " (?1, ?7, ?2, ?3, ?4, ?5, 'assignment', ?8, 'add', NULL, ?9, ?6),"
             "(?1, ?10, ?2, ?3, ?4, ?5, 'assignment', ?11, 'add', NULL, ?12, ?6),"
             "(?1, ?13, ?2, ?3, ?4, ?5, 'assignment', ?14, 'add', NULL, ?15, ?6),"
             "(?1, ?16, ?2, ?3, ?4, ?5, 'assignment', ?17, 'add', NULL, ?18, ?6),"
             "(?1, ?19, ?2, ?3, ?4, ?5, 'assignment', ?20, 'add', NULL, ?21, ?6),"
             "(?1, ?22, ?2, ?3, ?4, ?5, 'assignment', ?23, 'add', NULL, ?24, ?6),"
             "(?1, ?25, ?2, ?3, ?4, ?5, 'assignment', ?26, 'add', NULL, ?27, ?6),"
             "(?1, ?28, ?2, ?3, ?4, ?5, 'assignment', ?29, 'add', NULL, ?30, ?6),"
             "(?1, ?31, ?2, ?3, ?4, ?5, 'assignment', ?32, 'add', NULL, ?33, ?6),"
             "(?1, ?34, ?2, ?3, ?4, ?5, 'assignment', ?35, 'add', NULL, ?36, ?6),"
             "(?1, ?37, ?2, ?3, ?4, ?5, 'assignment', ?38, 'add', NULL, ?39, ?6),"
             "(?1, ?40, ?2, ?3, ?4, ?5, 'assignment', ?41, 'add', NULL, ?42, ?6),"
             "(?1, ?43, ?2, ?3, ?4, ?5, 'assignment', ?44, 'add', NULL, ?45, ?6),"
             "(?1, ?46, ?2, ?3, ?4, ?5, 'assignment', ?47, 'add', NULL, ?48, ?6),"
             "(?1, ?49, ?2, ?3, ?4, ?5, 'assignment', ?50, 'add', NULL, ?51, ?6),"
             "(?1, ?52, ?2, ?3, ?4, ?5, 'assignment', ?53, 'add', NULL, ?54, ?6),"
             "(?1, ?55, ?2, ?3, ?4, ?5, 'assignment', ?56, 'add', NULL, ?57, ?6),"
             "(?1, ?58, ?2, ?3, ?4, ?5, 'assignment', ?59, 'add', NULL, ?60, ?6),"
             "(?1, ?61, ?2, ?3, ?4, ?5, 'assignment', ?62, 'add', NULL, ?63, ?6),"
             "(?1, ?64, ?2, ?3, ?4, ?5, 'assignment', ?65, 'add', NULL, ?66, ?6),"
             "(?1, ?67, ?2, ?3, ?4, ?5, 'assignment', ?68, 'add', NULL, ?69, ?6),"
             "(?1, ?70, ?2, ?3, ?4, ?5, 'assignment', ?71, 'add', NULL, ?72, ?6),"
             "(?1, ?73, ?2, ?3, ?4, ?5, 'assignment', ?74, 'add', NULL, ?75, ?6),"
             "(?1, ?76, ?2, ?3, ?4, ?5, 'assignment', ?77, 'add', NULL, ?78, ?6),"
             "(?1, ?79, ?2, ?3, ?4, ?5, 'assignment', ?80, 'add', NULL, ?81, ?6),"
             "(?1, ?82, ?2, ?3, ?4, ?5, 'assignment', ?83, 'add', NULL, ?84, ?6),"
             "(?1, ?85, ?2, ?3, ?4, ?5, 'assignment', ?86, 'add', NULL, ?87, ?6),"
             "(?1, ?88, ?2, ?3, ?4, ?5, 'assignment', ?89, 'add', NULL, ?90, ?6),"
             "(?1, ?91, ?2, ?3, ?4, ?5, 'assignment', ?92, 'add', NULL, ?93, ?6),"
             "(?1, ?94, ?2, ?3, ?4, ?5, 'assignment', ?95, 'add', NULL, ?96, ?6),"
             "(?1, ?97, ?2, ?3, ?4, ?5, 'assignment', ?98, 'add', NULL, ?99, ?6),"
             "(?1, ?100, ?2, ?3, ?4, ?5, 'assignment', ?101, 'add', NULL, ?102, ?6),"
             "(?1, ?103, ?2, ?3, ?4, ?5, 'assignment', ?104, 'add', NULL, ?105, ?6),"
             "(?1, ?106, ?2, ?3, ?4, ?5, 'assignment', ?107, 'add', NULL, ?108, ?6),"
             "(?1, ?109, ?2, ?3, ?4, ?5, 'assignment', ?110, 'add', NULL, ?111, ?6),"
             "(?1, ?112, ?2, ?3, ?4, ?5, 'assignment', ?113, 'add', NULL, ?114, ?6),"
             "(?1, ?115, ?2, ?3, ?4, ?5, 'assignment', ?116, 'add', NULL, ?117, ?6),"
             "(?1, ?118, ?2, ?3, ?4, ?5, 'assignment', ?119, 'add', NULL, ?120, ?6),"
             "(?1, ?121, ?2, ?3, ?4, ?5, 'assignment', ?122, 'add', NULL, ?123, ?6),"
             "(?1, ?124, ?2, ?3, ?4, ?5, 'assignment', ?125, 'add', NULL, ?126, ?6),"
             "(?1, ?127, ?2, ?3, ?4, ?5, 'assignment', ?128, 'add', NULL, ?129, ?6),"
             "(?1, ?130, ?2, ?3, ?4, ?5, 'assignment', ?131, 'add', NULL, ?132, ?6),"
             "(?1, ?133, ?2, ?3, ?4, ?5, 'assignment', ?134, 'add', NULL, ?135, ?6),"
             "(?1, ?136, ?2, ?3, ?4, ?5, 'assignment', ?137, 'add', NULL, ?138, ?6),"
             "(?1, ?139, ?2, ?3, ?4, ?5, 'assignment', ?140, 'add', NULL, ?141, ?6),"
             "(?1, ?142, ?2, ?3, ?4, ?5, 'assignment', ?143, 'add', NULL, ?144, ?6),"
             "(?1, ?145, ?2, ?3, ?4, ?5, 'assignment', ?146, 'add', NULL, ?147, ?6),"
             "(?1, ?148, ?2, ?3, ?4, ?5, 'assignment', ?149, 'add', NULL, ?150, ?6),"
             "(?1, ?151, ?2, ?3, ?4, ?5, 'assignment', ?152, 'add', NULL, ?153, ?6),"
             "(?1, ?154, ?2, ?3, ?4, ?5, 'assignment', ?155, 'add', NULL, ?156, ?6),"
             "(?1, ?157, ?2, ?3, ?4, ?5, 'assignment', ?158, 'add', NULL, ?159, ?6),"
             "(?1, ?160, ?2, ?3, ?4, ?5, 'assignment', ?161, 'add', NULL, ?162, ?6),"
             "(?1, ?163, ?2, ?3, ?4, ?5, 'assignment', ?164, 'add', NULL, ?165, ?6),"
             "(?1, ?166, ?2, ?3, ?4, ?5, 'assignment', ?167, 'add', NULL, ?168, ?6),"
             "(?1, ?169, ?2, ?3, ?4, ?5, 'assignment', ?170, 'add', NULL, ?171, ?6),"
             "(?1, ?172, ?2, ?3, ?4, ?5, 'assignment', ?173, 'add', NULL, ?174, ?6),"
             "(?1, ?175, ?2, ?3, ?4, ?5, 'assignment', ?176, 'add', NULL, ?177, ?6),"
             "(?1, ?178, ?2, ?3, ?4, ?5, 'assignment', ?179, 'add', NULL, ?180, ?6),"
             "(?1, ?181, ?2, ?3, ?4, ?5, 'assignment', ?182, 'add', NULL, ?183, ?6),"
             "(?1, ?184, ?2, ?3, ?4, ?5, 'assignment', ?185, 'add', NULL, ?186, ?6),"
             "(?1, ?187, ?2, ?3, ?4, ?5, 'assignment', ?188, 'add', NULL, ?189, ?6),"
             "(?1, ?190, ?2, ?3, ?4, ?5, 'assignment', ?191, 'add', NULL, ?192, ?6),"
             "(?1, ?193, ?2, ?3, ?4, ?5, 'assignment', ?194, 'add', NULL, ?195, ?6),"
             "(?1, ?196, ?2, ?3, ?4, ?5, 'assignment', ?197, 'add', NULL, ?198, ?6)")

/* Import jobs (migration 18). */
#define XCHG_JOB_COLS                                                                              \
    "id, org_id, ws_id, format, state, chunks_done, rows_done, failures, last_rev, err_chunk,"    \
    " err_line, err_code, err_field, err_msg, boot, created_at, updated_at"
/* ?1 the job's id, ?2 its organization. */
STORE_SQL_ID(SQL_XCHG_JOB_GET,
             "SELECT " XCHG_JOB_COLS " FROM import_jobs WHERE id = ?1 AND org_id = ?2")
/* The job as it is now, made or changed: ?1..?17 in the order of XCHG_JOB_COLS. */
STORE_SQL_ID(SQL_XCHG_JOB_PUT,
             "INSERT INTO import_jobs(" XCHG_JOB_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
             " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) ON CONFLICT(id) DO UPDATE SET"
             " state = excluded.state, chunks_done = excluded.chunks_done,"
             " rows_done = excluded.rows_done, failures = excluded.failures,"
             " last_rev = excluded.last_rev, err_chunk = excluded.err_chunk,"
             " err_line = excluded.err_line, err_code = excluded.err_code,"
             " err_field = excluded.err_field, err_msg = excluded.err_msg,"
             " boot = excluded.boot, updated_at = excluded.updated_at")
/* ?1 a time: the jobs not touched since. */
STORE_SQL_ID(SQL_XCHG_JOB_PURGE, "DELETE FROM import_jobs WHERE updated_at < ?1")

/* The aliases of tag ?1 as of revision ?2, by name (an export's skos:altLabel). Aliases are
 * few: the tag's index of current aliases, or a scan of the workspace's few closed ones. */
STORE_SQL_ID(SQL_XCHG_ALIASES_AT,
             "SELECT name FROM tag_aliases WHERE tag_id = ?1 AND valid_from <= ?2"
             " AND (valid_to IS NULL OR valid_to > ?2) ORDER BY name")
