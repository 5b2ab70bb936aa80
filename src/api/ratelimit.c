/* api/ratelimit.c: token buckets per API token (see ratelimit.h).
 *
 * The table has a fixed size so memory never grows with the number of tokens. A token hashes to
 * a short probe window; when every slot there belongs to other tokens, the one idle longest is
 * taken over. Its bucket has usually refilled completely by then, in which case forgetting it
 * changes nothing; otherwise that token merely gets a fresh bucket, which errs on the lenient
 * side and never refuses a request that should pass. */
#include "api/ratelimit.h"

#include <pthread.h>
#include <stdio.h>

#include "util/timeu.h"

#define RL_SLOTS 4096 /* power of two */
#define RL_PROBE 16

struct bucket {
    int64_t token_id; /* 0: free */
    double level;     /* requests available */
    int64_t last_us;  /* monotonic time of the last refill */
};

static struct bucket rl_table[RL_SLOTS];
static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t rl_hash(int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 32) & (RL_SLOTS - 1);
}

/* The bucket of `id`, claiming (and filling) a slot when it has none. Called locked. */
static struct bucket *rl_find(int64_t id, double burst, int64_t now)
{
    size_t h = rl_hash(id);
    struct bucket *victim = NULL;

    for (size_t i = 0; i < RL_PROBE; i++) {
        struct bucket *b = &rl_table[(h + i) & (RL_SLOTS - 1)];
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
        struct bucket *b = rl_find(cx->who.token_id, burst, now);
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
