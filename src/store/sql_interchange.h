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

/* An import's adds, up to XCHG_BULK_ROWS rows a statement (core_assign_add_bulk), the rows
 * as one JSON array parameter, ?4: [[resource, tag, context], ...]. One statement, one round
 * trip and, on SQLite, one statement journal for all of them: SQLite walks that in-memory
 * journal from its start at the end of every statement that has one (a multi-row insert, a
 * RETURNING), and inside the request's savepoint it holds everything the chunk wrote, so the
 * statements per chunk, not the rows, set that cost (docs/interchange.md, "Speed"). ?1 the
 * principal, ?2 the time, ?3 the revision. The ids come back with their pair, which is unique
 * among current rows: neither backend promises RETURNING in the rows' order. PostgreSQL reads
 * the same array with its own functions (XCHG_ASG_INSERT_BULK_PG, store/postgres.c). */
#define XCHG_BULK_ROWS 10000
STORE_SQL_ID(SQL_XCHG_ASG_INSERT_BULK,
             "INSERT INTO assignments(resource_id, tag_id, context, added_by, added_at,"
             " valid_from) SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),"
             " json_extract(j.value, '$[2]'), ?1, ?2, ?3 FROM json_each(?4) j ORDER BY j.key"
             " RETURNING id, resource_id, tag_id")
#define XCHG_ASG_INSERT_BULK_PG                                                                   \
    "INSERT INTO assignments(resource_id, tag_id, context, added_by, added_at, valid_from)"       \
    " SELECT (j.v->>0)::bigint, (j.v->>1)::bigint, j.v->>2, ?1::text, ?2::bigint, ?3::bigint"     \
    " FROM json_array_elements(?4::json) WITH ORDINALITY AS j(v, n) ORDER BY j.n"                 \
    " RETURNING id, resource_id, tag_id"
/* Their change records, and those of an import's new resources: ?1 the revision, ?2 the time,
 * ?3 the organization, ?4 the workspace, ?5 the principal, ?6 the API, ?7 the rows,
 * [[seq, entity id, after], ...] (after as a JSON string: the record's text as the one at a
 * time path writes it, byte for byte: add_one, core_versioned_put), ?8 the entity
 * ("assignment", "resource"), ?9 the operation ("add", "create"). */
STORE_SQL_ID(SQL_XCHG_CHANGE_INSERT_BULK,
             "INSERT INTO changes(rev, seq, at, org_id, ws_id, principal, entity, entity_id, op,"
             " before, after, api) SELECT ?1, json_extract(j.value, '$[0]'), ?2, ?3, ?4, ?5,"
             " ?8, json_extract(j.value, '$[1]'), ?9, NULL,"
             " json_extract(j.value, '$[2]'), ?6 FROM json_each(?7) j ORDER BY j.key")
#define XCHG_CHANGE_INSERT_BULK_PG                                                                \
    "INSERT INTO changes(rev, seq, at, org_id, ws_id, principal, entity, entity_id, op, before,"  \
    " after, api) SELECT ?1::bigint, (j.v->>0)::integer, ?2::bigint, ?3::bigint, ?4::bigint,"     \
    " ?5::text, ?8::text, (j.v->>1)::bigint, ?9::text, NULL, j.v->>2, ?6::text"                   \
    " FROM json_array_elements(?7::json) WITH ORDINALITY AS j(v, n) ORDER BY j.n"

/* An import's new resources, up to XCHG_BULK_ROWS a statement (core_resource_create_bulk),
 * as the one at a time path inserts each (SQL_RES_INSERT, version 1, no document): ?1 the
 * workspace, ?2 the time, ?3 the rows, [[kind, key, name, parent id, archived], ...]. One
 * statement journal for all of them (see SQL_XCHG_ASG_INSERT_BULK). The ids come back with
 * their key, unique in the workspace. */
STORE_SQL_ID(SQL_XCHG_RES_INSERT_BULK,
             "INSERT INTO resources(ws_id, created_at, updated_at, version, name, parent_id,"
             " archived, extra, kind, key) SELECT ?1, ?2, ?2, 1, json_extract(j.value, '$[2]'),"
             " json_extract(j.value, '$[3]'), json_extract(j.value, '$[4]'), NULL,"
             " json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')"
             " FROM json_each(?3) j ORDER BY j.key RETURNING id, kind, key")
#define XCHG_RES_INSERT_BULK_PG                                                                   \
    "INSERT INTO resources(ws_id, created_at, updated_at, version, name, parent_id, archived,"    \
    " extra, kind, key) SELECT ?1::bigint, ?2::bigint, ?2::bigint, 1, j.v->>2,"                  \
    " (j.v->>3)::bigint, (j.v->>4)::integer, NULL, j.v->>0, j.v->>1"                              \
    " FROM json_array_elements(?3::json) WITH ORDINALITY AS j(v, n) ORDER BY j.n"                 \
    " RETURNING id, kind, key"
/* Their history rows (SQL_RES_HIST_OPEN): ?1 the revision, ?2 the workspace, ?3 the rows,
 * [[id, data, kind, key, parent id, archived], ...] (data as a JSON string). */
STORE_SQL_ID(SQL_XCHG_RES_HIST_BULK,
             "INSERT INTO resources_hist(resource_id, valid_from, data, ws_id, kind, key,"
             " parent_id, archived) SELECT json_extract(j.value, '$[0]'), ?1,"
             " json_extract(j.value, '$[1]'), ?2, json_extract(j.value, '$[2]'),"
             " json_extract(j.value, '$[3]'), json_extract(j.value, '$[4]'),"
             " json_extract(j.value, '$[5]') FROM json_each(?3) j ORDER BY j.key")
#define XCHG_RES_HIST_BULK_PG                                                                     \
    "INSERT INTO resources_hist(resource_id, valid_from, data, ws_id, kind, key, parent_id,"      \
    " archived) SELECT (j.v->>0)::bigint, ?1::bigint, j.v->>1, ?2::bigint, j.v->>2, j.v->>3,"     \
    " (j.v->>4)::bigint, (j.v->>5)::integer"                                                      \
    " FROM json_array_elements(?3::json) WITH ORDINALITY AS j(v, n) ORDER BY j.n"

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
/* A page of the workspace's aliases as of revision ?2 with the name their tag had then, by key
 * after ?3 (a JSON lines or CSV export's alias records): ?1 the workspace, ?4 the page size.
 * Aliases of a tag deleted then name no tag of the export and are left out, as SKOS leaves
 * them out with their concept. tag_aliases_hist serves the workspace's keys in order. */
STORE_SQL_ID(SQL_XCHG_ALIAS_PAGE,
             "SELECT a.name, a.name_key, h.name FROM tag_aliases a"
             " JOIN tags_hist h ON h.tag_id = a.tag_id AND h.valid_from <= ?2"
             " AND (h.valid_to IS NULL OR h.valid_to > ?2) AND h.deleted = 0"
             " WHERE a.ws_id = ?1 AND a.name_key > ?3 AND a.valid_from <= ?2"
             " AND (a.valid_to IS NULL OR a.valid_to > ?2) ORDER BY a.name_key LIMIT ?4")
