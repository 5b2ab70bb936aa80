/* core/idempotency.h: Idempotency-Key: a write retried with the same key is answered with the
 * first answer instead of being applied again.
 *
 * A key belongs to an organization and a principal (ctx->org_id, ctx->who.name): two callers
 * never see each other's keys. Only authenticated writes store keys, and each organization
 * holds at most idem_limits.max_keys of them taking at most idem_limits.max_bytes of answers
 * (the oldest make room), so no client can fill the disk through them.
 *
 * The key is claimed (a row with status 0) before the write runs and its answer stored after
 * it, both in the write's own transaction: the key exists exactly when the write committed,
 * and a write that fails (rolled back) leaves no key, so its retry runs again. Writes run one
 * after the other (one writer per instance, and on PostgreSQL the instances' write
 * transactions queue on one row), so a second request with the key finds the first's answer,
 * which it gives only once that commit is durable, as the first does. Two transactions that
 * still met the same claim (the store's uniqueness check) give TG_ECONFLICT: in flight.
 *
 * Expired keys are answered as if absent and purged by the first keyed write after each
 * idem_limits.purge_every_ms.
 *
 * Threads: as the rest of core, inside the writer's transaction. */
#ifndef TAGD_CORE_IDEMPOTENCY_H
#define TAGD_CORE_IDEMPOTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Set at start and by SIGHUP (atomic: requests read them meanwhile). */
struct idem_limits {
    _Atomic int64_t ttl_ms;         /* how long a key is kept (24 h) */
    _Atomic int64_t max_keys;       /* keys per organization (10000) */
    _Atomic int64_t max_bytes;      /* bytes of stored answers per organization (64 MiB) */
    _Atomic int64_t purge_every_ms; /* expired keys are purged at most this often (60 s) */
};
extern struct idem_limits idem_limits;

/* The longest key accepted. */
#define IDEM_KEY_MAX 255

/* An answer as stored and given again. */
struct idem_answer {
    int status;
    const char *content_type; /* NULL: no body */
    const char *headers;      /* JSON array of [name, value] pairs, or NULL */
    const char *body;         /* NULL: none */
    size_t body_len;
};

/** TG_EINVAL (field "Idempotency-Key") unless `key` is 1 to IDEM_KEY_MAX visible ASCII
 * characters. */
int core_idem_key_check(const char *key, struct tg_err *err);

/**
 * Looks key up for ctx's organization and principal (ctx must be authenticated). Found and
 * live with the same `hash`: the first answer in *ans (arena), *found true, nothing written.
 * With another hash: TG_ERULE. Claimed by a write not committed yet: TG_ECONFLICT. Absent or
 * expired: claims it for this write (room made in the organization's bound first), *found
 * false; the caller stores the answer with core_idem_finish, or rolls the write back.
 */
int core_idem_begin(struct core_ctx *ctx, const char *key, const char *hash,
                     struct idem_answer *ans, bool *found, struct tg_err *err);
/** Stores the answer of the write that claimed `key` (core_idem_begin) in its transaction. */
int core_idem_finish(struct core_ctx *ctx, const char *key, const struct idem_answer *ans,
                     struct tg_err *err);

#endif /* TAGD_CORE_IDEMPOTENCY_H */
