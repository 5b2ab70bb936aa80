/* store/sql_idempotency.h: statements for idempotency keys (core/idempotency.c): the first
 * answer to a native write's Idempotency-Key. No include guard, see sql_all.h. */

/* ?1 org, ?2 principal, ?3 key: the stored answer and when it expires. */
STORE_SQL_ID(SQL_IDEM_GET,
             "SELECT hash, status, content_type, headers, body, expires_at FROM idempotency_keys"
             " WHERE org_id = ?1 AND principal = ?2 AND idem_key = ?3")
/* ?1 org, ?2 principal, ?3 key, ?4 hash, ?5 now, ?6 expires_at: claims the key (status 0). */
STORE_SQL_ID(SQL_IDEM_CLAIM,
             "INSERT INTO idempotency_keys(org_id, principal, idem_key, hash, status, created_at,"
             " expires_at) VALUES(?1, ?2, ?3, ?4, 0, ?5, ?6)")
/* ?1 org, ?2 principal, ?3 key, ?4 status, ?5 content type, ?6 headers, ?7 body, ?8 bytes. */
STORE_SQL_ID(SQL_IDEM_FINISH,
             "UPDATE idempotency_keys SET status = ?4, content_type = ?5, headers = ?6, body = ?7,"
             " bytes = ?8 WHERE org_id = ?1 AND principal = ?2 AND idem_key = ?3")
/* ?1 org, ?2 principal, ?3 key. */
STORE_SQL_ID(SQL_IDEM_DELETE,
             "DELETE FROM idempotency_keys WHERE org_id = ?1 AND principal = ?2 AND idem_key = ?3")
/* ?1 now: every organization's expired keys. */
STORE_SQL_ID(SQL_IDEM_PURGE, "DELETE FROM idempotency_keys WHERE expires_at <= ?1")
/* ?1 org: how many keys it holds and the bytes of their answers. */
STORE_SQL_ID(SQL_IDEM_USAGE,
             "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM idempotency_keys WHERE org_id = ?1")
/* ?1 org: its oldest keys (those of the oldest moment), to make room. */
STORE_SQL_ID(SQL_IDEM_EVICT,
             "DELETE FROM idempotency_keys WHERE org_id = ?1 AND created_at ="
             " (SELECT MIN(created_at) FROM idempotency_keys WHERE org_id = ?1)")
