/* store/sql_core.h: the foundation's statements, portable SQL with ?N parameters.
 * No include guard: see sql_all.h. Column lists are macros so that the row readers in core/
 * have one order to follow (TAG_COLS, RES_COLS, GROUP_COLS, TOKEN_COLS). */
#define TAG_COLS                                                                                   \
    "t.id, t.ws_id, t.name, t.name_key, t.parent_id, t.display_name, t.l10n, t.color,"             \
    " t.description, t.source, t.system_created, t.protected, t.archived, t.deleted, t.group_id,"  \
    " t.position, t.extra, t.created_by, t.created_at, t.updated_at, t.version, t.state,"         \
    " t.replaced_by, t.assign_restricted"
#define TAG_NCOLS 24
#define RES_COLS                                                                                   \
    "r.id, r.ws_id, r.kind, r.key, r.name, r.parent_id, r.archived, r.extra, r.created_at,"        \
    " r.updated_at, r.version, p.kind, p.key"
#define RES_FROM " FROM resources r LEFT JOIN resources p ON p.id = r.parent_id"
#define GROUP_COLS                                                                                 \
    "g.id, g.ws_id, g.name, g.l10n, g.position, g.exclusive, g.extra, g.created_at,"               \
    " g.updated_at, g.version, g.conflict"
#define TOKEN_COLS                                                                                 \
    "k.id, k.org_id, k.kind, k.name, k.rights, k.user_id, k.resource_id, k.extra, k.created_at,"   \
    " k.expires_at, k.revoked_at, k.assign"
/* ?1 ws, ?2 prefix key, ?3 substring key, ?4 source, ?5 group, ?6 archived mode (units) and
 * state filter (tens: 0 any, 1-4 only state active, draft, deprecated or archived, 9 any but
 * draft, 8 none; one parameter, so that the statements keep their numbering),
 * ?7 deleted mode, ?8 kind, ?9 excluded source, ?10 parent */
#define TAG_FILTER                                                                                 \
    " FROM tags t WHERE t.ws_id = ?1"                                                              \
    " AND (CAST(?2 AS TEXT) IS NULL OR substr(t.name_key, 1, length(?2)) = ?2)"                    \
    " AND (CAST(?3 AS TEXT) IS NULL OR instr(t.name_key, ?3) > 0)"                                 \
    " AND (CAST(?4 AS TEXT) IS NULL OR t.source = ?4)"                                             \
    " AND (CAST(?5 AS BIGINT) IS NULL OR t.group_id = ?5)"                                         \
    " AND (CASE CAST(?6 AS BIGINT) % 10 WHEN 0 THEN t.archived = 0 WHEN 2 THEN t.archived = 1"     \
    "      ELSE 1 = 1 END)"                                                                        \
    " AND (CAST(?6 AS BIGINT) / 10 = 0 OR (CAST(?6 AS BIGINT) / 10 = 9 AND t.state <> 'draft')"    \
    "      OR t.state = CASE CAST(?6 AS BIGINT) / 10 WHEN 1 THEN 'active' WHEN 2 THEN 'draft'"     \
    "      WHEN 3 THEN 'deprecated' WHEN 4 THEN 'archived' END)"                                   \
    " AND (CASE CAST(?7 AS BIGINT) WHEN 0 THEN t.deleted = 0 WHEN 2 THEN t.deleted = 1"            \
    "      ELSE 1 = 1 END)"                                                                        \
    " AND (CAST(?8 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM assignments a JOIN resources r"       \
    "      ON r.id = a.resource_id WHERE a.tag_id = t.id AND a.valid_to IS NULL AND r.kind = ?8))" \
    " AND (CAST(?9 AS TEXT) IS NULL OR t.source <> ?9)"                                            \
    " AND (CAST(?10 AS BIGINT) IS NULL OR t.parent_id = ?10)"

STORE_SQL_ID(SQL_META_GET, "SELECT value FROM meta WHERE key = ?1")
STORE_SQL_ID(SQL_META_SET, "INSERT INTO meta(key, value) VALUES(?1, ?2)"
                           " ON CONFLICT(key) DO UPDATE SET value = excluded.value")

STORE_SQL_ID(SQL_ORG_INSERT, "INSERT INTO orgs(name, created_at) VALUES(?1, ?2) RETURNING id")
STORE_SQL_ID(SQL_ORG_GET, "SELECT o.id, o.name, o.created_at, (SELECT w.id FROM workspaces w"
                          " WHERE w.org_id = o.id AND w.is_default = 1) FROM orgs o WHERE o.id = ?1")
STORE_SQL_ID(SQL_ORG_LIST, "SELECT o.id, o.name, o.created_at, (SELECT w.id FROM workspaces w"
                           " WHERE w.org_id = o.id AND w.is_default = 1) FROM orgs o ORDER BY o.id")
STORE_SQL_ID(SQL_WS_INSERT, "INSERT INTO workspaces(org_id, name, is_default, created_at)"
                            " VALUES(?1, ?2, ?3, ?4) RETURNING id")
STORE_SQL_ID(SQL_WS_GET, "SELECT id, org_id, name, is_default, created_at FROM workspaces"
                         " WHERE id = ?1")
STORE_SQL_ID(SQL_WS_LIST, "SELECT id, org_id, name, is_default, created_at FROM workspaces"
                          " WHERE org_id = ?1 ORDER BY id")

STORE_SQL_ID(SQL_REV_NEXT, "SELECT coalesce(max(rev), 0) + 1 FROM revisions")
STORE_SQL_ID(SQL_REV_INSERT, "INSERT INTO revisions(rev, at) VALUES(?1, ?2)")
STORE_SQL_ID(SQL_REV_CURRENT, "SELECT coalesce(max(rev), 0) FROM revisions")
STORE_SQL_ID(SQL_REV_AT_TIME, "SELECT coalesce(max(rev), 0) FROM revisions WHERE at <= ?1")
STORE_SQL_ID(SQL_CHANGE_INSERT,
             "INSERT INTO changes(rev, seq, at, org_id, ws_id, principal, entity, entity_id, op,"
             " before, after, api) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")
/* ws_id last: the same first ten columns as every read of change records. */
STORE_SQL_ID(SQL_CHANGES_LIST,
             "SELECT rev, seq, at, principal, entity, entity_id, op, before, after, api,"
             " coalesce(ws_id, 0) FROM changes WHERE rev > ?1 AND (org_id = ?3 OR org_id IS NULL)"
             " ORDER BY rev, seq LIMIT ?2")
STORE_SQL_ID(SQL_CHANGES_REST_OF_REV,
             "SELECT rev, seq, at, principal, entity, entity_id, op, before, after, api,"
             " coalesce(ws_id, 0) FROM changes WHERE rev = ?1 AND seq > ?2"
             " AND (org_id = ?3 OR org_id IS NULL)"
             " ORDER BY seq")

STORE_SQL_ID(SQL_TAG_BY_ID, "SELECT " TAG_COLS " FROM tags t WHERE t.id = ?1 AND t.ws_id = ?2")
STORE_SQL_ID(SQL_TAG_BY_KEY, "SELECT " TAG_COLS " FROM tags t WHERE t.ws_id = ?1"
                             " AND t.name_key = ?2")
/* The inserts of objects that can be deleted name their columns and values here once: SQLite
 * (store/sqlite.c) adds the id itself, because it would hand out a deleted row's id again.
 * Tags, groups and resources are written by core_versioned_put (core/changes.c), which binds a
 * row once for its insert or its update: both number their parameters alike (?1 ws_id or id,
 * ?2 now, ?3 version, then the row's columns, then those only an insert sets), and so do the
 * history inserts (?1 id, ?2 revision, ?3 data, then their own columns). */
#define TAG_INSERT_COLS                                                                            \
    "ws_id, created_at, updated_at, version, name, name_key, parent_id, display_name, l10n,"       \
    " color, description, source, system_created, protected, archived, deleted, group_id,"        \
    " position, extra, state, replaced_by, assign_restricted, created_by"
#define TAG_INSERT_VALS                                                                            \
    "?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"    \
    " ?20, ?21, ?22"
STORE_SQL_ID(SQL_TAG_INSERT,
             "INSERT INTO tags(" TAG_INSERT_COLS ") VALUES(" TAG_INSERT_VALS ") RETURNING id")
STORE_SQL_ID(SQL_TAG_UPDATE,
             "UPDATE tags SET updated_at = ?2, version = ?3, name = ?4, name_key = ?5,"
             " parent_id = ?6, display_name = ?7, l10n = ?8, color = ?9, description = ?10,"
             " source = ?11, system_created = ?12, protected = ?13, archived = ?14, deleted = ?15,"
             " group_id = ?16, position = ?17, extra = ?18, state = ?19, replaced_by = ?20,"
             " assign_restricted = ?21 WHERE id = ?1")
STORE_SQL_ID(SQL_TAG_DELETE_ROW, "DELETE FROM tags WHERE id = ?1")
STORE_SQL_ID(SQL_TAG_HIST_CLOSE, "UPDATE tags_hist SET valid_to = ?2 WHERE tag_id = ?1"
                                 " AND valid_to IS NULL")
STORE_SQL_ID(SQL_TAG_HIST_OPEN, "INSERT INTO tags_hist(tag_id, valid_from, data, name, deleted)"
                                " VALUES(?1, ?2, ?3, ?4, ?5)")
STORE_SQL_ID(SQL_TAG_SUBTREE, "SELECT " TAG_COLS " FROM tags t WHERE t.ws_id = ?1"
                              " AND (t.name_key = ?2 OR substr(t.name_key, 1, length(?2) + 1)"
                              " = ?2 || '.') ORDER BY t.name_key")
STORE_SQL_ID(SQL_TAG_LIVE_CHILDREN, "SELECT count(*) FROM tags WHERE parent_id = ?1 AND deleted = 0")
STORE_SQL_ID(SQL_TAG_LIST, "SELECT " TAG_COLS TAG_FILTER " AND (CAST(?11 AS TEXT) IS NULL OR t.name_key > ?11)"
                           " ORDER BY t.name_key LIMIT ?12")
STORE_SQL_ID(SQL_TAG_COUNT, "SELECT count(*)" TAG_FILTER)

STORE_SQL_ID(SQL_GROUP_BY_ID, "SELECT " GROUP_COLS " FROM groups g WHERE g.id = ?1 AND g.ws_id = ?2")
STORE_SQL_ID(SQL_GROUP_BY_KEY, "SELECT " GROUP_COLS " FROM groups g WHERE g.ws_id = ?1"
                               " AND g.name_key = ?2")
#define GROUP_INSERT_COLS                                                                          \
    "ws_id, created_at, updated_at, version, name, name_key, l10n, position, exclusive, extra,"   \
    " conflict"
#define GROUP_INSERT_VALS "?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10"
STORE_SQL_ID(SQL_GROUP_INSERT, "INSERT INTO groups(" GROUP_INSERT_COLS ") VALUES("
                               GROUP_INSERT_VALS ") RETURNING id")
STORE_SQL_ID(SQL_GROUP_UPDATE,
             "UPDATE groups SET updated_at = ?2, version = ?3, name = ?4, name_key = ?5,"
             " l10n = ?6, position = ?7, exclusive = ?8, extra = ?9, conflict = ?10 WHERE id = ?1")
STORE_SQL_ID(SQL_GROUP_DELETE_ROW, "DELETE FROM groups WHERE id = ?1")
STORE_SQL_ID(SQL_GROUP_LIST, "SELECT " GROUP_COLS " FROM groups g WHERE g.ws_id = ?1"
                             " ORDER BY g.position, g.id")
STORE_SQL_ID(SQL_GROUP_MAX_POS, "SELECT coalesce(max(position), -1) FROM groups WHERE ws_id = ?1")
STORE_SQL_ID(SQL_GROUP_HIST_CLOSE, "UPDATE groups_hist SET valid_to = ?2 WHERE group_id = ?1"
                                   " AND valid_to IS NULL")
STORE_SQL_ID(SQL_GROUP_HIST_OPEN, "INSERT INTO groups_hist(group_id, valid_from, data)"
                                  " VALUES(?1, ?2, ?3)")
STORE_SQL_ID(SQL_GROUP_TAGS, "SELECT " TAG_COLS " FROM tags t WHERE t.group_id = ?1"
                             " AND t.deleted = 0 ORDER BY t.position, t.id")
STORE_SQL_ID(SQL_GROUP_TAG_MAX_POS, "SELECT coalesce(max(position), -1) FROM tags"
                                    " WHERE group_id = ?1")

STORE_SQL_ID(SQL_RES_BY_KEY, "SELECT " RES_COLS RES_FROM " WHERE r.ws_id = ?1 AND r.kind = ?2"
                             " AND r.key = ?3")
STORE_SQL_ID(SQL_RES_ID_BY_KEY, "SELECT id FROM resources WHERE ws_id = ?1 AND kind = ?2"
                                " AND key = ?3")
STORE_SQL_ID(SQL_RES_BY_ID, "SELECT " RES_COLS RES_FROM " WHERE r.id = ?1 AND r.ws_id = ?2")
/* Up to RES_BY_IDS (32) resources by id in one statement, ?1 the workspace, unused slots NULL
 * (which match nothing): a page of ids from the engine costs a few statements, not one each. */
#define RES_BY_IDS 32
STORE_SQL_ID(SQL_RES_BY_IDS,
             "SELECT " RES_COLS RES_FROM " WHERE r.ws_id = ?1 AND r.id IN ("
             "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15"
             ", ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27"
             ", ?28, ?29, ?30, ?31, ?32, ?33"
             ") ORDER BY r.id")
#define RES_INSERT_COLS                                                                            \
    "ws_id, created_at, updated_at, version, name, parent_id, archived, extra, kind, key"
#define RES_INSERT_VALS "?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9"
STORE_SQL_ID(SQL_RES_INSERT,
             "INSERT INTO resources(" RES_INSERT_COLS ") VALUES(" RES_INSERT_VALS ") RETURNING id")
STORE_SQL_ID(SQL_RES_UPDATE,
             "UPDATE resources SET updated_at = ?2, version = ?3, name = ?4, parent_id = ?5,"
             " archived = ?6, extra = ?7 WHERE id = ?1")
STORE_SQL_ID(SQL_RES_DELETE_ROW, "DELETE FROM resources WHERE id = ?1")
STORE_SQL_ID(SQL_RES_PARENT, "SELECT parent_id FROM resources WHERE id = ?1")
/* A resource's parent at the end of revision ?2 (of a resource deleted by then, the last one it
 * had): the event filters place a record's resource where it was at the record's revision. */
STORE_SQL_ID(SQL_RES_PARENT_AT, "SELECT parent_id FROM resources_hist WHERE resource_id = ?1"
                                " AND valid_from <= ?2 ORDER BY valid_from DESC LIMIT 1")
STORE_SQL_ID(SQL_RES_CHILDREN, "SELECT id FROM resources WHERE parent_id = ?1")
STORE_SQL_ID(SQL_RES_HIST_CLOSE, "UPDATE resources_hist SET valid_to = ?2 WHERE resource_id = ?1"
                                 " AND valid_to IS NULL")
STORE_SQL_ID(SQL_RES_HIST_OPEN,
             "INSERT INTO resources_hist(resource_id, valid_from, data, ws_id, kind, key,"
             " parent_id, archived) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
/* ?1 ws, ?2 kind, ?3 parent, ?4 tag, ?5 archived mode, ?6 after id, ?7 limit */
#define RES_FILTER                                                                                 \
    RES_FROM " WHERE r.ws_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR r.kind = ?2)"                   \
             " AND (CAST(?3 AS BIGINT) IS NULL OR r.parent_id = ?3)"                               \
             " AND (CAST(?4 AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM assignments a"             \
             "      WHERE a.resource_id = r.id AND a.tag_id = ?4 AND a.valid_to IS NULL))"         \
             " AND (CASE CAST(?5 AS BIGINT) WHEN 0 THEN r.archived = 0 WHEN 2 THEN r.archived = 1" \
             "      ELSE 1 = 1 END)"
STORE_SQL_ID(SQL_RES_LIST, "SELECT " RES_COLS RES_FILTER " AND r.id > ?6 ORDER BY r.id LIMIT ?7")
STORE_SQL_ID(SQL_RES_COUNT, "SELECT count(*)" RES_FILTER)

STORE_SQL_ID(SQL_ASG_LIST,
             "SELECT a.id, a.resource_id, a.context, a.added_by, a.added_at, " TAG_COLS
             " FROM assignments a JOIN tags t ON t.id = a.tag_id WHERE a.resource_id = ?1"
             " AND a.valid_to IS NULL AND t.deleted = 0 ORDER BY t.name_key")
/* The same rows with only the tag columns an assignment list renders (core_assign_list_brief),
 * unordered: the caller sorts the few rows by name_key itself, which is cheaper than SQLite's
 * sorter copying every row. */
STORE_SQL_ID(SQL_ASG_LIST_BRIEF,
             "SELECT a.id, a.resource_id, a.context, a.added_by, a.added_at, t.id, t.name,"
             " t.display_name, t.color, t.name_key FROM assignments a JOIN tags t"
             " ON t.id = a.tag_id WHERE a.resource_id = ?1 AND a.valid_to IS NULL"
             " AND t.deleted = 0")
STORE_SQL_ID(SQL_ASG_INSERT,
             "INSERT INTO assignments(resource_id, tag_id, context, added_by, added_at,"
             " valid_from, expires_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id")
STORE_SQL_ID(SQL_ASG_CLOSE, "UPDATE assignments SET valid_to = ?3 WHERE resource_id = ?1"
                            " AND tag_id = ?2 AND valid_to IS NULL")
STORE_SQL_ID(SQL_ASG_EXISTS, "SELECT 1 FROM assignments WHERE resource_id = ?1 AND tag_id = ?2"
                             " AND valid_to IS NULL")
STORE_SQL_ID(SQL_ASG_GROUP_OTHER,
             "SELECT t.name FROM assignments a JOIN tags t ON t.id = a.tag_id"
             " WHERE a.resource_id = ?1 AND a.valid_to IS NULL AND t.group_id = ?2"
             " AND t.id <> ?3 AND t.deleted = 0 LIMIT 1")
STORE_SQL_ID(SQL_ASG_CLOSE_RES, "UPDATE assignments SET valid_to = ?2 WHERE resource_id = ?1"
                                " AND valid_to IS NULL")
STORE_SQL_ID(SQL_ASG_CLOSE_TAG, "UPDATE assignments SET valid_to = ?2 WHERE tag_id = ?1"
                                " AND valid_to IS NULL")
STORE_SQL_ID(SQL_TAG_USAGE,
             "SELECT " RES_COLS RES_FROM " WHERE r.id IN (SELECT a.resource_id FROM assignments a"
             " JOIN tags t ON t.id = a.tag_id WHERE a.valid_to IS NULL AND t.deleted = 0"
             " AND (t.id = ?1 OR (?2 = 1 AND t.ws_id = ?5 AND substr(t.name_key, 1, length(?3) + 1)"
             " = ?3 || '.'))) AND r.id > ?4 ORDER BY r.id LIMIT ?6")

/* SQL_TAG_USAGE's resources in all, for the list's total. */
STORE_SQL_ID(SQL_TAG_USAGE_COUNT,
             "SELECT count(*) FROM resources r WHERE r.id IN (SELECT a.resource_id FROM assignments a"
             " JOIN tags t ON t.id = a.tag_id WHERE a.valid_to IS NULL AND t.deleted = 0"
             " AND (t.id = ?1 OR (?2 = 1 AND t.ws_id = ?4 AND substr(t.name_key, 1, length(?3) + 1)"
             " = ?3 || '.')))")

STORE_SQL_ID(SQL_COUNT_ALL,
             "SELECT (SELECT count(*) FROM tags WHERE deleted = 0),"
             " (SELECT count(*) FROM resources),"
             " (SELECT count(*) FROM assignments WHERE valid_to IS NULL)")

STORE_SQL_ID(SQL_USER_INSERT,
             "INSERT INTO users(org_id, login, login_key, pw_hash, rights, display_name,"
             " created_at, assign) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id")
STORE_SQL_ID(SQL_USER_LIST, "SELECT id, org_id, login, display_name, rights, created_at, disabled,"
                            " assign FROM users WHERE org_id = ?1 ORDER BY id")
STORE_SQL_ID(SQL_USER_BY_LOGIN, "SELECT id, org_id, login, display_name, rights, created_at,"
                                " disabled, assign, pw_hash FROM users WHERE org_id = ?1"
                                " AND login_key = ?2")
STORE_SQL_ID(SQL_USER_COUNT, "SELECT count(*) FROM users")

STORE_SQL_ID(SQL_TOKEN_INSERT,
             "INSERT INTO tokens(org_id, kind, name, hash, rights, user_id, resource_id, extra,"
             " created_at, expires_at, assign) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
             " ?11) RETURNING id")
STORE_SQL_ID(SQL_TOKEN_BY_HASH, "SELECT " TOKEN_COLS " FROM tokens k WHERE k.hash = ?1")
/* ?2 NULL: any organization's (the installation's admin). */
STORE_SQL_ID(SQL_TOKEN_BY_ID, "SELECT " TOKEN_COLS " FROM tokens k WHERE k.id = ?1"
                              " AND (CAST(?2 AS BIGINT) IS NULL OR k.org_id = ?2)")
STORE_SQL_ID(SQL_TOKEN_LIST, "SELECT " TOKEN_COLS " FROM tokens k WHERE k.org_id = ?1"
                             " AND (CAST(?2 AS TEXT) IS NULL OR k.kind = ?2) ORDER BY k.id")
STORE_SQL_ID(SQL_TOKEN_REVOKE, "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1"
                               " AND revoked_at IS NULL")
STORE_SQL_ID(SQL_TOKEN_REVOKE_KIND_OTHER,
             "UPDATE tokens SET revoked_at = ?3 WHERE kind = ?1 AND hash <> ?2"
             " AND revoked_at IS NULL")
STORE_SQL_ID(SQL_TOKEN_UNREVOKE, "UPDATE tokens SET revoked_at = NULL, rights = ?2 WHERE id = ?1")
STORE_SQL_ID(SQL_USER_NAME, "SELECT login FROM users WHERE id = ?1")
/* core_principal_id: a recorded principal name to the row it stands for (principals.c). */
STORE_SQL_ID(SQL_PRINCIPAL_USER, "SELECT id FROM users WHERE org_id = ?1 AND login = ?2")
STORE_SQL_ID(SQL_PRINCIPAL_TOKEN,
             "SELECT MIN(id) FROM tokens WHERE org_id = ?1 AND kind IN ('api', 'env')"
             " AND user_id IS NULL AND COALESCE(name, 'token') = ?2")
STORE_SQL_ID(SQL_PRINCIPAL_LINK,
             "SELECT id FROM tokens WHERE id = ?1 AND org_id = ?2 AND kind = ?3")
/* core_apikey_login: logins are swept when they have expired (tokens.c). */
STORE_SQL_ID(SQL_LOGIN_PURGE,
             "DELETE FROM tokens WHERE org_id = ?1 AND kind = 'login' AND expires_at <= ?2")
