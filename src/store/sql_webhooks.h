/* store/sql_webhooks.h: statements for webhooks (core/webhooks.c, the API's side) and their
 * delivery (core/webhook_run.c). Every statement of the delivery thread that writes names the
 * webhook's gen and the lease owner, so that it writes nothing once the API changed the
 * webhook or another instance took it over. No include guard, see sql_all.h. */
#define WH_COLS                                                                                   \
    "w.id, w.org_id, w.url, w.secret_box, w.key_id, w.filters, w.active, w.created_by,"          \
    " w.created_at, w.updated_at, w.gen, w.cursor_rev, w.cursor_seq, w.pend_rev, w.pend_seq,"    \
    " w.state, w.failures, w.next_attempt_at, w.last_error, w.last_attempt_at,"                  \
    " w.last_success_at, w.lease_owner, w.lease_until"

STORE_SQL_ID(SQL_WH_INSERT,
             "INSERT INTO webhooks(org_id, url, secret_box, key_id, filters, active, created_by,"
             " created_at, updated_at, cursor_rev, cursor_seq)"
             " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10) RETURNING id")
STORE_SQL_ID(SQL_WH_COUNT, "SELECT count(*) FROM webhooks WHERE org_id = ?1 AND deleted = 0")
STORE_SQL_ID(SQL_WH_LIST, "SELECT " WH_COLS " FROM webhooks w WHERE w.org_id = ?1"
                          " AND w.deleted = 0 ORDER BY w.id")
STORE_SQL_ID(SQL_WH_GET, "SELECT " WH_COLS " FROM webhooks w WHERE w.id = ?1 AND w.org_id = ?2"
                         " AND w.deleted = 0")
/* A change through the API: a new gen, the backoff and any batch in flight forgotten. */
STORE_SQL_ID(SQL_WH_UPDATE,
             "UPDATE webhooks SET url = ?3, filters = ?4, active = ?5, secret_box = ?6,"
             " key_id = ?7, updated_at = ?8, gen = gen + 1, pend_rev = NULL, pend_seq = NULL,"
             " state = 'ok', failures = 0, next_attempt_at = 0"
             " WHERE id = ?1 AND org_id = ?2 AND deleted = 0")
STORE_SQL_ID(SQL_WH_DELETE,
             "UPDATE webhooks SET deleted = 1, active = 0, secret_box = '', url = '',"
             " gen = gen + 1, lease_owner = NULL, lease_until = 0, updated_at = ?3"
             " WHERE id = ?1 AND org_id = ?2 AND deleted = 0")
STORE_SQL_ID(SQL_WH_DELIVERIES_DELETE, "DELETE FROM webhook_deliveries WHERE webhook_id = ?1")
STORE_SQL_ID(SQL_WH_REDELIVER,
             "UPDATE webhooks SET cursor_rev = ?3, cursor_seq = ?4, pend_rev = NULL,"
             " pend_seq = NULL, gen = gen + 1, state = 'ok', failures = 0, next_attempt_at = 0,"
             " updated_at = ?5 WHERE id = ?1 AND org_id = ?2 AND deleted = 0")
STORE_SQL_ID(SQL_WH_DELIVERIES_LIST,
             "SELECT delivery, at, from_rev, from_seq, to_rev, to_seq, events, attempt, status,"
             " latency_ms, outcome, error, instance FROM webhook_deliveries"
             " WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2")

/* ---- the delivery thread ---- */
STORE_SQL_ID(SQL_WH_ACTIVE, "SELECT " WH_COLS " FROM webhooks w WHERE w.deleted = 0"
                            " AND w.active = 1 ORDER BY w.id")
/* Takes or renews the lease: free, ours, or expired (?4: now). */
STORE_SQL_ID(SQL_WH_LEASE,
             "UPDATE webhooks SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1 AND gen = ?5"
             " AND deleted = 0 AND active = 1"
             " AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until < ?4)")
STORE_SQL_ID(SQL_WH_LEASE_RELEASE,
             "UPDATE webhooks SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?1")
/* SQLite: one instance per store, so a lease found at start is a dead process's. */
STORE_SQL_ID(SQL_WH_LEASE_CLEAR_ALL,
             "UPDATE webhooks SET lease_owner = NULL, lease_until = 0"
             " WHERE lease_owner IS NOT NULL")
STORE_SQL_ID(SQL_WH_PEND,
             "UPDATE webhooks SET pend_rev = ?3, pend_seq = ?4 WHERE id = ?1 AND gen = ?2"
             " AND lease_owner = ?5")
STORE_SQL_ID(SQL_WH_DONE,
             "UPDATE webhooks SET cursor_rev = ?3, cursor_seq = ?4, pend_rev = NULL,"
             " pend_seq = NULL, state = 'ok', failures = 0, next_attempt_at = 0,"
             " last_attempt_at = ?5, last_success_at = ?5"
             " WHERE id = ?1 AND gen = ?2 AND lease_owner = ?6")
/* Moves past records that the filters pass over (a batch in flight with nothing left to
 * send too): no POST, nothing to record. */
STORE_SQL_ID(SQL_WH_SKIP,
             "UPDATE webhooks SET cursor_rev = ?3, cursor_seq = ?4, pend_rev = NULL,"
             " pend_seq = NULL WHERE id = ?1 AND gen = ?2 AND lease_owner = ?5")
STORE_SQL_ID(SQL_WH_FAILED,
             "UPDATE webhooks SET failures = ?3, next_attempt_at = ?4, state = ?5,"
             " last_error = ?6, last_attempt_at = ?7"
             " WHERE id = ?1 AND gen = ?2 AND lease_owner = ?8")
STORE_SQL_ID(SQL_WH_DELIVERY_INSERT,
             "INSERT INTO webhook_deliveries(webhook_id, delivery, at, from_rev, from_seq,"
             " to_rev, to_seq, events, attempt, status, latency_ms, outcome, error, instance)"
             " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)")
/* Keeps the newest ?1 attempts of every webhook: one statement now and then for all of
 * them, rather than one per webhook and attempt (webhook_run.c, "the store"). */
STORE_SQL_ID(SQL_WH_DELIVERY_PRUNE,
             "DELETE FROM webhook_deliveries WHERE id IN (SELECT r.id FROM (SELECT id,"
             " row_number() OVER (PARTITION BY webhook_id ORDER BY id DESC) AS k"
             " FROM webhook_deliveries) r WHERE r.k > ?1)")
/* The organization's change records after record (?1, ?2), in order; ws_id last, as
 * SQL_CHANGES_LIST reads it, for a filter on the workspace. */
STORE_SQL_ID(SQL_WH_CHANGES_AFTER,
             "SELECT rev, seq, at, principal, entity, entity_id, op, before, after, api,"
             " coalesce(ws_id, 0) FROM changes WHERE rev >= ?1 AND (rev > ?1 OR seq > ?2)"
             " AND (org_id = ?3 OR org_id IS NULL)"
             " ORDER BY rev, seq LIMIT ?4")
