/* store/sql_conflicts.h: exclusive groups' inheritance conflicts (core/conflicts.c): the
 * groups whose policy is not union, and the walks up and down the resource tree that the
 * `reject` policy checks writes with. No include guard, see sql_all.h.
 *
 * The walks stop 64 levels away, as every other walk of the tree (core/resources.c,
 * MAX_DEPTH). An assignment past its expiry (?4, now) counts as gone, as reads see it. */
/* ?1 ws: the exclusive groups with a policy other than union. */
STORE_SQL_ID(SQL_CONF_POLICIES, "SELECT id, conflict FROM groups WHERE ws_id = ?1"
                                " AND exclusive <> 0 AND conflict <> 'union'")
/* ?1 resource, ?2 group, ?3 tag, ?4 now: a tag of the group other than ?3 held by ?1 or an
 * ancestor, with the resource holding it. */
STORE_SQL_ID(SQL_CONF_UP,
             "WITH RECURSIVE up(id, depth) AS (SELECT CAST(?1 AS BIGINT), 0"
             " UNION ALL SELECT r.parent_id, up.depth + 1 FROM resources r JOIN up ON r.id = up.id"
             " WHERE r.parent_id IS NOT NULL AND up.depth < 64)"
             " SELECT t.name, x.kind, x.key FROM up"
             " JOIN assignments a ON a.resource_id = up.id AND a.valid_to IS NULL"
             " JOIN tags t ON t.id = a.tag_id JOIN resources x ON x.id = up.id"
             " WHERE t.group_id = ?2 AND t.id <> ?3 AND t.deleted = 0"
             " AND (a.expires_at IS NULL OR a.expires_at > ?4) ORDER BY up.depth LIMIT 1")
/* The same below: ?1 or a descendant. */
STORE_SQL_ID(SQL_CONF_DOWN,
             "WITH RECURSIVE down(id, depth) AS (SELECT CAST(?1 AS BIGINT), 0"
             " UNION ALL SELECT r.id, down.depth + 1 FROM resources r"
             " JOIN down ON r.parent_id = down.id WHERE down.depth < 64)"
             " SELECT t.name, x.kind, x.key FROM down"
             " JOIN assignments a ON a.resource_id = down.id AND a.valid_to IS NULL"
             " JOIN tags t ON t.id = a.tag_id JOIN resources x ON x.id = down.id"
             " WHERE t.group_id = ?2 AND t.id <> ?3 AND t.deleted = 0"
             " AND (a.expires_at IS NULL OR a.expires_at > ?4) ORDER BY down.depth LIMIT 1")
/* ?1 ws: whether any group rejects conflicts (most workspaces have none: a move then checks
 * nothing more; groups_key's ws_id prefix finds the workspace's few groups). */
STORE_SQL_ID(SQL_CONF_ANY_REJECT, "SELECT 1 FROM groups WHERE ws_id = ?1 AND exclusive <> 0"
                                  " AND conflict = 'reject' LIMIT 1")
/* ?1 resource, ?2 now: the tags of reject groups that ?1 and its ancestors hold (a resource
 * moved below ?1 must hold no other tag of their groups). */
STORE_SQL_ID(SQL_CONF_UP_REJECT,
             "WITH RECURSIVE up(id, depth) AS (SELECT CAST(?1 AS BIGINT), 0"
             " UNION ALL SELECT r.parent_id, up.depth + 1 FROM resources r JOIN up ON r.id = up.id"
             " WHERE r.parent_id IS NOT NULL AND up.depth < 64)"
             " SELECT DISTINCT t.group_id, t.id, t.name, g.name FROM up"
             " JOIN assignments a ON a.resource_id = up.id AND a.valid_to IS NULL"
             " JOIN tags t ON t.id = a.tag_id JOIN groups g ON g.id = t.group_id"
             " WHERE g.exclusive <> 0 AND g.conflict = 'reject' AND t.deleted = 0"
             " AND (a.expires_at IS NULL OR a.expires_at > ?2)")
/* ?1 group, ?2 now: how many resources hold a tag of the group while an ancestor holds another
 * one (the conflicts that `reject` forbids). */
STORE_SQL_ID(SQL_CONF_COUNT,
             "WITH RECURSIVE h(rid, tag) AS (SELECT a.resource_id, a.tag_id FROM assignments a"
             " JOIN tags t ON t.id = a.tag_id WHERE t.group_id = ?1 AND t.deleted = 0"
             " AND a.valid_to IS NULL AND (a.expires_at IS NULL OR a.expires_at > ?2)),"
             " down(tag, id, depth) AS (SELECT h.tag, r.id, 1 FROM h"
             " JOIN resources r ON r.parent_id = h.rid"
             " UNION ALL SELECT down.tag, r.id, down.depth + 1 FROM down"
             " JOIN resources r ON r.parent_id = down.id WHERE down.depth < 64)"
             " SELECT count(DISTINCT down.id) FROM down JOIN h ON h.rid = down.id"
             " AND h.tag <> down.tag")
