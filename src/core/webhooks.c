/* core/webhooks.c: webhooks as the API manages them, and the rules of their delivery
 * (core/webhooks.h). The delivery thread is core/webhook_run.c.
 *
 * A webhook's secret signs every delivery, so tagd must be able to read it back: a hash (as for
 * tokens) cannot sign. It is sealed under a server key held in a file outside the store
 * (util/secret.h), and never returned after the answer that created it. */
#include "core/webhooks.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/core_int.h"
#include "util/fetch.h"
#include "util/mem.h"
#include "util/secret.h"

struct wh_limits wh_limits = {
    .max_per_org = 20,
    .batch_max = 100,
    .timeout_ms = 10000,
    .max_reply = 4096,
    .retry_min_ms = 1000,
    .retry_max_ms = 300000,
    .retries = 10,
    .allow_local = false,
    .lease_ms = 30000,
};

/* The server key, set once at start (core_webhook_key_init) before any thread reads it. */
static unsigned char wh_key[SECRET_BOX_KEY_BYTES];
static char wh_key_id[24];
static bool wh_key_set;

#define SECRET_MIN 16
#define SECRET_MAX 256

int core_webhook_key_init(const char *path, char *why, size_t why_len)
{
    if (secret_keyfile_load(path, wh_key, why, why_len) != 0)
        return -1;
    secret_key_id(wh_key, wh_key_id, sizeof(wh_key_id));
    wh_key_set = true;
    return 0;
}

void core_webhook_key_release(void)
{
    secret_wipe(wh_key, sizeof(wh_key));
    wh_key_set = false;
}

bool core__webhook_secret(const struct webhook *w, char *out, size_t outlen)
{
    if (!wh_key_set || w->key_id == NULL || strcmp(w->key_id, wh_key_id) != 0)
        return false;
    return secret_box_open(wh_key, w->secret_box, out, outlen);
}

int core_webhook_url_check(const char *url, bool resolve, struct tg_err *err)
{
    enum fetch_check how = atomic_load(&wh_limits.allow_local) ? FETCH_CHECK_SYNTAX
                           : resolve                             ? FETCH_CHECK_RESOLVE
                                                                 : FETCH_CHECK_LITERAL;

    return fetch_url_check(url, how, err);
}

static int secret_check(const char *s, struct tg_err *err)
{
    size_t n = strlen(s);

    if (n < SECRET_MIN || n > SECRET_MAX)
        return tg_err_set(err, TG_EINVAL, "secret", "secret must have %d to %d characters",
                          SECRET_MIN, SECRET_MAX);
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return tg_err_set(err, TG_EINVAL, "secret",
                              "secret must be printable ASCII without spaces");
    return 0;
}

/* Checks the filters and gives their canonical text (arena). */
static int filters_canon(struct core_ctx *ctx, const char *json, const char **out,
                         struct tg_err *err)
{
    struct event_filter f;
    int rc = event_filter_parse(ctx->a, json, &f, err);

    if (rc)
        return rc;
    /* One of the organization's workspaces, as GET /v1/changes checks it; a missing one is a
     * bad field of the body (400), as an unknown organization_id of a new token is. */
    if (f.workspace > 0) {
        struct workspace ws;
        rc = core_ws_get(ctx, f.workspace, &ws, err);
        if (rc == TG_ENOTFOUND || (rc == 0 && ws.org_id != ctx->org_id))
            return tg_err_set(err, TG_EINVAL, "workspace", "filters.workspace: workspace "
                              "'ws_%lld' not found", (long long)f.workspace);
        if (rc)
            return rc;
    }
    *out = event_filter_json(ctx->a, &f);
    return 0;
}

static void row_webhook(struct core_ctx *ctx, struct store_stmt *st, struct webhook *w)
{
    memset(w, 0, sizeof(*w));
    w->id = col_int(st, 0);
    w->org_id = col_int(st, 1);
    w->url = col_dup(ctx, st, 2);
    w->secret_box = col_dup(ctx, st, 3);
    w->key_id = col_dup(ctx, st, 4);
    w->filters = col_dup(ctx, st, 5);
    w->active = col_int(st, 6) != 0;
    w->created_by = col_dup(ctx, st, 7);
    w->created_at = col_int(st, 8);
    w->updated_at = col_int(st, 9);
    w->gen = col_int(st, 10);
    w->cursor_rev = col_int(st, 11);
    w->cursor_seq = col_int(st, 12);
    w->pending = !col_null(st, 13);
    w->pend_rev = col_int(st, 13);
    w->pend_seq = col_int(st, 14);
    w->state = col_dup(ctx, st, 15);
    w->failures = col_int(st, 16);
    w->next_attempt_at = col_int(st, 17);
    w->last_error = col_dup(ctx, st, 18);
    w->last_attempt_at = col_int(st, 19);
    w->last_success_at = col_int(st, 20);
    w->lease_owner = col_dup(ctx, st, 21);
    w->lease_until = col_int(st, 22);
}

int core__webhook_active(struct core_ctx *ctx, struct webhook **out, size_t *n,
                         struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_WH_ACTIVE, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct webhook));
    while ((rc = st_step(st, err)) == 1)
        row_webhook(ctx, st, vec_push(ctx, &v));
    st_reset(st);
    *out = v.items;
    *n = v.n;
    return rc < 0 ? rc : 0;
}

int core_webhook_list(struct core_ctx *ctx, struct webhook **out, size_t *n, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_WH_LIST, err);
    struct vec v;
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct webhook));
    st_int(st, 1, ctx->org_id);
    while ((rc = st_step(st, err)) == 1)
        row_webhook(ctx, st, vec_push(ctx, &v));
    st_reset(st);
    *out = v.items;
    *n = v.n;
    return rc < 0 ? rc : 0;
}

int core_webhook_get(struct core_ctx *ctx, int64_t id, struct webhook *out, struct tg_err *err)
{
    struct store_stmt *st = st_get(ctx->conn, SQL_WH_GET, err);
    int rc;

    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->org_id);
    rc = st_step(st, err);
    if (rc == 1)
        row_webhook(ctx, st, out);
    st_reset(st);
    if (rc == 0)
        return tg_err_set(err, TG_ENOTFOUND, "id", "webhook %" PRId64 " not found", id);
    return rc < 0 ? rc : 0;
}

/* The change record of a webhook's change: its id and whether it is active, never its URL
 * (which may carry a credential) or anything of its secret, since every reader of the
 * organization's change log sees it. */
static int record(struct core_ctx *ctx, int64_t id, const char *op, bool active,
                  struct tg_err *err)
{
    return core_change(ctx, "webhook", id, op, NULL,
                       strcmp(op, "delete") == 0
                           ? NULL
                           : arena_printf(ctx->a, "{\"id\":%" PRId64 ",\"active\":%s}", id,
                                          active ? "true" : "false"),
                       err);
}

int core_webhook_create(struct core_ctx *ctx, const struct webhook_input *in, struct webhook *out,
                        const char **secret, struct tg_err *err)
{
    char made[80];
    const char *filters, *plain;
    char *sealed;
    struct store_stmt *st;
    int64_t have = 0;
    int rc;

    if (!wh_key_set)
        return tg_err_set(err, TG_EINTERNAL, "secret", "no webhook key is loaded");
    if (!in->has_url || in->url == NULL)
        return tg_err_set(err, TG_EINVAL, "url", "url is required");
    rc = core_webhook_url_check(in->url, false, err);
    if (rc)
        return rc;
    if (in->has_secret && in->secret) {
        rc = secret_check(in->secret, err);
        if (rc)
            return rc;
        plain = in->secret;
    } else {
        secret_token(made, sizeof(made), "whsec_");
        plain = made;
    }
    rc = filters_canon(ctx, in->has_filters ? in->filters : NULL, &filters, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_WH_COUNT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, ctx->org_id);
    rc = st_step(st, err);
    if (rc == 1)
        have = col_int(st, 0);
    st_reset(st);
    if (rc < 0)
        return rc;
    if (have >= atomic_load(&wh_limits.max_per_org))
        return tg_err_set(err, TG_ELIMIT, "url", "an organization may have at most %d webhooks",
                          atomic_load(&wh_limits.max_per_org));
    /* The revision of this request first: the cursor starts after it. */
    rc = core_rev(ctx, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_WH_INSERT, err);
    if (st == NULL)
        return TG_EINTERNAL;
    sealed = secret_box_seal(wh_key, plain);
    st_int(st, 1, ctx->org_id);
    st_text(st, 2, in->url);
    st_text(st, 3, sealed);
    st_text(st, 4, wh_key_id);
    st_text(st, 5, filters);
    st_int(st, 6, in->has_active ? in->active : 1);
    st_text(st, 7, core_actor(ctx));
    st_int(st, 8, ctx->now);
    st_int(st, 9, ctx->rev);
    st_int(st, 10, EVENT_SEQ_ALL);
    rc = st_step(st, err);
    xfree(sealed);
    if (rc != 1) {
        st_reset(st);
        return rc < 0 ? rc : tg_err_set(err, TG_EINTERNAL, "", "no webhook id");
    }
    out->id = col_int(st, 0);
    st_reset(st);
    *secret = arena_strdup(ctx->a, plain);
    secret_wipe(made, sizeof(made));
    rc = record(ctx, out->id, "create", in->has_active ? in->active : true, err);
    if (rc)
        return rc;
    return core_webhook_get(ctx, out->id, out, err);
}

int core_webhook_update(struct core_ctx *ctx, int64_t id, const struct webhook_input *in,
                        struct webhook *out, struct tg_err *err)
{
    struct webhook cur;
    const char *url, *filters, *box, *key_id;
    char *sealed = NULL;
    struct store_stmt *st;
    bool active;
    int rc = core_webhook_get(ctx, id, &cur, err);

    if (rc)
        return rc;
    url = cur.url;
    filters = cur.filters;
    box = cur.secret_box;
    key_id = cur.key_id;
    active = in->has_active ? in->active : cur.active;
    if (in->has_url) {
        if (in->url == NULL)
            return tg_err_set(err, TG_EINVAL, "url", "url may not be null");
        rc = core_webhook_url_check(in->url, false, err);
        if (rc)
            return rc;
        url = in->url;
    }
    if (in->has_filters) {
        rc = filters_canon(ctx, in->filters, &filters, err);
        if (rc)
            return rc;
    }
    if (in->has_secret) {
        if (in->secret == NULL)
            return tg_err_set(err, TG_EINVAL, "secret", "secret may not be null");
        rc = secret_check(in->secret, err);
        if (rc)
            return rc;
        if (!wh_key_set)
            return tg_err_set(err, TG_EINTERNAL, "secret", "no webhook key is loaded");
        sealed = secret_box_seal(wh_key, in->secret);
        box = arena_strdup(ctx->a, sealed);
        key_id = wh_key_id;
        xfree(sealed);
    }
    st = st_get(ctx->conn, SQL_WH_UPDATE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->org_id);
    st_text(st, 3, url);
    st_text(st, 4, filters);
    st_int(st, 5, active);
    st_text(st, 6, box);
    st_text(st, 7, key_id);
    st_int(st, 8, ctx->now);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    rc = record(ctx, id, "update", active, err);
    if (rc)
        return rc;
    return core_webhook_get(ctx, id, out, err);
}

int core_webhook_delete(struct core_ctx *ctx, int64_t id, struct tg_err *err)
{
    struct webhook cur;
    struct store_stmt *st;
    int rc = core_webhook_get(ctx, id, &cur, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_WH_DELETE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->org_id);
    st_int(st, 3, ctx->now);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_WH_DELIVERIES_DELETE, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    return record(ctx, id, "delete", false, err);
}

int core_webhook_redeliver(struct core_ctx *ctx, int64_t id, int64_t from_rev,
                           struct webhook *out, struct tg_err *err)
{
    struct webhook cur;
    struct store_stmt *st;
    int64_t now_rev = core_current_rev(ctx);
    int rc = core_webhook_get(ctx, id, &cur, err);

    if (rc)
        return rc;
    if (from_rev < 1 || from_rev > now_rev + 1)
        return tg_err_set(err, TG_ERULE, "from_revision",
                          "from_revision must be from 1 to %" PRId64 " (the next revision)",
                          now_rev + 1);
    st = st_get(ctx->conn, SQL_WH_REDELIVER, err);
    if (st == NULL)
        return TG_EINTERNAL;
    st_int(st, 1, id);
    st_int(st, 2, ctx->org_id);
    /* Past revision from_rev - 1 wholly: the next record delivered is from_rev's first. */
    st_int(st, 3, from_rev - 1);
    st_int(st, 4, EVENT_SEQ_ALL);
    st_int(st, 5, ctx->now);
    rc = st_exec(st, err);
    if (rc)
        return rc;
    rc = record(ctx, id, "redeliver", cur.active, err);
    if (rc)
        return rc;
    return core_webhook_get(ctx, id, out, err);
}

int core_webhook_deliveries(struct core_ctx *ctx, int64_t id, int limit,
                            struct webhook_delivery **out, size_t *n, struct tg_err *err)
{
    struct webhook cur;
    struct store_stmt *st;
    struct vec v;
    int rc = core_webhook_get(ctx, id, &cur, err);

    if (rc)
        return rc;
    st = st_get(ctx->conn, SQL_WH_DELIVERIES_LIST, err);
    if (st == NULL)
        return TG_EINTERNAL;
    vec_init(&v, sizeof(struct webhook_delivery));
    st_int(st, 1, id);
    st_int(st, 2, limit);
    while ((rc = st_step(st, err)) == 1) {
        struct webhook_delivery *d = vec_push(ctx, &v);
        d->delivery = col_dup(ctx, st, 0);
        d->at = col_int(st, 1);
        d->from_rev = col_int(st, 2);
        d->from_seq = col_int(st, 3);
        d->to_rev = col_int(st, 4);
        d->to_seq = col_int(st, 5);
        d->events = col_int(st, 6);
        d->attempt = col_int(st, 7);
        d->status = col_int(st, 8);
        d->latency_ms = col_int(st, 9);
        d->outcome = col_dup(ctx, st, 10);
        d->error = col_dup(ctx, st, 11);
        d->instance = col_dup(ctx, st, 12);
    }
    st_reset(st);
    *out = v.items;
    *n = v.n;
    return rc < 0 ? rc : 0;
}

/* ---- the rules of delivery ---- */

int64_t wh_backoff_ms(int64_t failures, int64_t min_ms, int64_t max_ms, uint32_t rnd)
{
    int64_t d = min_ms, half;

    assert(failures >= 1 && min_ms >= 1 && max_ms >= min_ms);
    for (int64_t i = 1; i < failures && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    half = d / 2;
    return d - half + (int64_t)(((uint64_t)half * rnd) >> 32);
}

const char *wh_state_after(int64_t failures, int retries)
{
    if (failures <= 0)
        return "ok";
    return failures < retries ? "retrying" : "failing";
}

void wh_signature(const char *secret, int64_t ts, const void *body, size_t len, char *out,
                  size_t outlen)
{
    char mac[SECRET_HMAC_HEX];

    secret_hmac_sign(secret, (long long)ts, body, len, mac);
    snprintf(out, outlen, "t=%lld,v1=%s", (long long)ts, mac);
}

void wh_plan_batch(const struct event_cursor *cur, const struct change *c, size_t n,
                   const bool *match, int max, const struct event_cursor *limit, size_t *picked,
                   struct wh_plan *plan)
{
    assert(max >= 1);
    memset(plan, 0, sizeof(*plan));
    plan->end = *cur;
    for (size_t i = 0; i < n; i++) {
        struct event_cursor prev = i ? (struct event_cursor){c[i - 1].rev, c[i - 1].seq} : *cur;
        /* The page is in log order, after the cursor. */
        assert(event_after(&prev, c[i].rev, c[i].seq));
        (void)prev;
        if (limit && event_after(limit, c[i].rev, c[i].seq)) {
            plan->reached_limit = true;
            break;
        }
        plan->end.rev = c[i].rev;
        plan->end.seq = c[i].seq;
        if (match[i]) {
            if (plan->npicked == 0)
                plan->first_pick = i;
            picked[plan->npicked++] = i;
            if (plan->npicked == (size_t)max) {
                plan->full = true;
                break;
            }
        }
    }
    if (limit && !event_after(&plan->end, limit->rev, limit->seq))
        plan->reached_limit = true;
}
