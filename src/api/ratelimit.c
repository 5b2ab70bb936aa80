/* api/ratelimit.c: token buckets per API token and per client address (see ratelimit.h).
 *
 * The table has a fixed size so memory never grows with the number of tokens. A token hashes to
 * a short probe window; when every slot there belongs to other tokens, the one idle longest is
 * taken over. Its bucket has usually refilled completely by then, in which case forgetting it
 * changes nothing; otherwise that token merely gets a fresh bucket, which errs on the lenient
 * side and never refuses a request that should pass. Addresses have a table of their own, so
 * that a flood of anonymous requests never pushes tokens' buckets out. */
#include "api/ratelimit.h"

#include <pthread.h>
#include <stdio.h>

#include "util/timeu.h"

#define RL_SLOTS 4096 /* power of two */
#define RL_PROBE 16

struct bucket {
    int64_t token_id; /* 0: free; the address table keys on the address + 1 */
    double level;     /* requests available */
    int64_t last_us;  /* monotonic time of the last refill */
};

static struct bucket rl_table[RL_SLOTS], rl_addr_table[RL_SLOTS];
static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t rl_hash(int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 32) & (RL_SLOTS - 1);
}

/* The bucket of `id`, claiming (and filling) a slot when it has none. Called locked. */
static struct bucket *rl_find(struct bucket *table, int64_t id, double burst, int64_t now)
{
    size_t h = rl_hash(id);
    struct bucket *victim = NULL;

    for (size_t i = 0; i < RL_PROBE; i++) {
        struct bucket *b = &table[(h + i) & (RL_SLOTS - 1)];
        if (b->token_id == id)
            return b;
        if (b->token_id == 0) {
            victim = b;
            break;
        }
        if (victim == NULL || b->last_us < victim->last_us)
            victim = b;
    }
    victim->token_id = id;
    victim->level = burst;
    victim->last_us = now;
    return victim;
}

int ratelimit_take(struct hreq *r, const struct core_ctx *cx)
{
    double rate = api_config.rate_per_sec, burst = api_config.rate_burst, level;
    int64_t now = time_mono_us(), wait_us = 0, full_ms;
    bool ok;
    char buf[32];

    if (api_config.rate_per_sec <= 0 || !cx->authed)
        return 0;
    if (burst < 1)
        burst = rate < 1 ? 1 : rate;
    pthread_mutex_lock(&rl_mu);
    {
        struct bucket *b = rl_find(rl_table, cx->who.token_id, burst, now);
        b->level += (double)(now - b->last_us) * rate / 1e6;
        if (b->level > burst)
            b->level = burst;
        b->last_us = now;
        ok = b->level >= 1.0;
        if (ok)
            b->level -= 1.0;
        else
            wait_us = (int64_t)((1.0 - b->level) * 1e6 / rate) + 1;
        level = b->level;
    }
    pthread_mutex_unlock(&rl_mu);

    full_ms = time_now_ms() + (int64_t)((burst - level) * 1000.0 / rate + 0.999);
    snprintf(buf, sizeof(buf), "%lld", (long long)level);
    api_set_header(r, "X-Ratelimit-Global-Remaining", buf);
    snprintf(buf, sizeof(buf), "%lld", (long long)full_ms);
    api_set_header(r, "X-Ratelimit-Reset", buf);
    if (ok)
        return 0;
    snprintf(buf, sizeof(buf), "%lld", (long long)((wait_us + 999999) / 1000000));
    api_set_header(r, "Retry-After", buf);
    api_failf(r, TG_ERATE, "", "You've exceeded the API rate limit. Try again later.");
    return -1;
}

enum addr_op {
    ADDR_CHECK,  /* admit while the bucket has a request, take none */
    ADDR_TAKE,   /* admit and take one while it has one */
    ADDR_CHARGE, /* served already: take one even from an empty bucket, down to -burst */
    ADDR_REFUND, /* taken by ADDR_TAKE, but a credential was accepted after all */
};

/* Refills the bucket of `addr` and applies `op`. A client failing on many connections at once
 * runs into debt (ADDR_CHARGE) and waits it off. Refused requests cost nothing: they are cheap
 * to refuse. Returns the seconds until the bucket admits a request, 0 when it admits this
 * one. */
static int64_t addr_take(uint32_t addr, enum addr_op op)
{
    double rate = api_config.anon_rate_per_sec, burst = api_config.anon_rate_burst, wait = 0;
    int64_t now = time_mono_us();

    if (burst < 1)
        burst = rate < 1 ? 1 : rate;
    pthread_mutex_lock(&rl_mu);
    {
        struct bucket *b = rl_find(rl_addr_table, (int64_t)addr + 1, burst, now);
        b->level += (double)(now - b->last_us) * rate / 1e6 + (op == ADDR_REFUND ? 1.0 : 0.0);
        if (b->level > burst)
            b->level = burst;
        b->last_us = now;
        if (op == ADDR_CHARGE)
            b->level = b->level - 1.0 < -burst ? -burst : b->level - 1.0;
        else if (op != ADDR_REFUND && b->level < 1.0)
            wait = (1.0 - b->level) / rate;
        else if (op == ADDR_TAKE)
            b->level -= 1.0;
    }
    pthread_mutex_unlock(&rl_mu);
    return wait > 0 ? (int64_t)wait + 1 : 0;
}

static bool addr_limited(const struct hreq *r)
{
    return api_config.anon_rate_per_sec > 0 && r->peer != 0 && r->route &&
           !(r->route->flags & ROUTE_NOLIMIT);
}

int ratelimit_addr_before(struct hreq *r, bool anonymous)
{
    int64_t wait;
    char buf[32];

    if (!addr_limited(r))
        return 0;
    wait = addr_take(r->peer, anonymous ? ADDR_TAKE : ADDR_CHECK);
    if (wait == 0) {
        r->addr_seen = true;
        r->addr_charged = anonymous;
        return 0;
    }
    snprintf(buf, sizeof(buf), "%lld", (long long)wait);
    api_set_header(r, "Retry-After", buf);
    api_failf(r, TG_ERATE, "", "Too many requests without an accepted credential from this "
                               "address. Try again later.");
    return -1;
}

void ratelimit_addr_after(struct hreq *r)
{
    if (!r->addr_seen || !addr_limited(r))
        return;
    /* A credential the http layer does not see (easydb's token in a form body) may have been
     * accepted: what was taken for it goes back. */
    if (r->authed && r->addr_charged)
        addr_take(r->peer, ADDR_REFUND);
    else if (!r->authed && !r->addr_charged)
        addr_take(r->peer, ADDR_CHARGE);
    r->addr_charged = !r->authed;
}

/* ---- failed sign-ins (POST /v1/sessions) ----
 *
 * Each client address and each login (whatever its organization) has a bucket of
 * api_config.login_fails_addr (resp. login_fails_login) failures that refills completely in
 * api_config.login_fail_window_s. Only failures take from it; a sign-in is refused (429)
 * while either bucket is empty, before its password is checked, so guessing a password costs
 * the window per that many tries whatever the number of addresses, and one address cannot try
 * many logins. The per-login bucket lets anyone hold one login off for a window by failing on
 * purpose; its owner still signs in with a token, and the operator can widen it. */
static struct bucket login_addr_table[RL_SLOTS], login_name_table[RL_SLOTS];

/* FNV-1a of the login, ASCII case folded; never 0 (a free slot). The organization is left
 * out: a login named with and without its organization is the same guess. */
static int64_t login_key(const char *login)
{
    uint64_t h = 1469598103934665603ull;

    for (const unsigned char *p = (const unsigned char *)login; *p; p++) {
        h ^= (uint64_t)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        h *= 1099511628211ull;
    }
    return (int64_t)(h >> 1) + 1;
}

/* Refills the bucket of `id` (burst `n` per window) and takes one failure from it when
 * `fail`; returns the seconds until it admits a try, 0 when it admits one now. Called
 * locked. */
static int64_t login_bucket(struct bucket *table, int64_t id, int n, bool fail, int64_t now)
{
    double window = (double)api_config.login_fail_window_s, rate, wait = 0;
    struct bucket *b;

    if (n <= 0 || window <= 0)
        return 0;
    rate = (double)n / window;
    b = rl_find(table, id, n, now);
    b->level += (double)(now - b->last_us) * rate / 1e6;
    if (b->level > n)
        b->level = n;
    b->last_us = now;
    if (fail && b->level > 0)
        b->level -= 1.0;
    if (b->level < 1.0)
        wait = (1.0 - b->level) / rate;
    return wait > 0 ? (int64_t)wait + 1 : 0;
}

static int64_t login_take(const struct hreq *r, const char *login, bool fail)
{
    int64_t now = time_mono_us(), a = 0, l;

    pthread_mutex_lock(&rl_mu);
    if (r->peer != 0)
        a = login_bucket(login_addr_table, (int64_t)r->peer + 1, api_config.login_fails_addr,
                         fail, now);
    l = login_bucket(login_name_table, login_key(login ? login : ""),
                     api_config.login_fails_login, fail, now);
    pthread_mutex_unlock(&rl_mu);
    return a > l ? a : l;
}

int ratelimit_login_check(struct hreq *r, const char *login)
{
    int64_t wait = login_take(r, login, false);
    char buf[32];

    if (wait == 0)
        return 0;
    snprintf(buf, sizeof(buf), "%lld", (long long)wait);
    api_set_header(r, "Retry-After", buf);
    api_failf(r, TG_ERATE, "login", "Too many failed sign-ins from this address or for this "
                                    "login. Try again later.");
    return -1;
}

void ratelimit_login_failed(struct hreq *r, const char *login)
{
    (void)login_take(r, login, true);
}
