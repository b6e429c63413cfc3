/* SPDX-License-Identifier: MIT */
/*
 * Exponential backoff with jitter, as a pure function: the caller passes the
 * random source, so tests can pin it and both sides (the coordinator's
 * per-host retries, the agent's exec retries) share one definition.
 */
#ifndef ETX_PROTO_BACKOFF_H
#define ETX_PROTO_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

enum etx_jitter {
    ETX_JITTER_FULL = 0, /* uniform in [0, delay] (the default) */
    ETX_JITTER_EQUAL,    /* delay/2 + uniform in [0, delay/2] */
    ETX_JITTER_NONE,     /* exactly delay */
};

struct etx_backoff_policy {
    unsigned attempts; /* total tries, the first included; >= 1 */
    uint64_t first_ms; /* the delay before the second try */
    double multiplier; /* growth per try, >= 1 */
    uint64_t cap_ms;   /* no delay is longer */
    enum etx_jitter jitter;
};

/* Returns a uniformly distributed 64-bit value; 'arg' is the caller's. */
typedef uint64_t (*etx_backoff_rand_fn)(void *arg);

/* The defaults of DESIGN.md: 6 attempts, 500 ms, x2, 30 s cap, full jitter. */
void etx_backoff_policy_default(struct etx_backoff_policy *p);

/*
 * The delay before the try after 'failed' failures (failed >= 1): the
 * un-jittered delay is min(cap, first * multiplier^(failed-1)), then jitter
 * applies. Always within [0, cap_ms].
 */
uint64_t etx_backoff_delay_ms(const struct etx_backoff_policy *p,
                              unsigned failed, etx_backoff_rand_fn rnd,
                              void *arg);

/* The delay before jitter for 'failed' failures (for logs and tests). */
uint64_t etx_backoff_base_ms(const struct etx_backoff_policy *p,
                             unsigned failed);

/* True when another try is allowed after 'failed' failures. */
bool etx_backoff_may_retry(const struct etx_backoff_policy *p,
                           unsigned failed);

#endif /* ETX_PROTO_BACKOFF_H */
