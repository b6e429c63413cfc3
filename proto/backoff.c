/* SPDX-License-Identifier: MIT */
/* Exponential backoff with full, equal or no jitter ("Exponential Backoff
 * And Jitter", AWS architecture blog, 2015): pure arithmetic. */
#include "proto/backoff.h"

void
etx_backoff_policy_default(struct etx_backoff_policy *p)
{
    p->attempts = 6;
    p->first_ms = 500;
    p->multiplier = 2.0;
    p->cap_ms = 30000;
    p->jitter = ETX_JITTER_FULL;
}

uint64_t
etx_backoff_base_ms(const struct etx_backoff_policy *p, unsigned failed)
{
    double d = (double)p->first_ms;
    unsigned i;

    if (failed == 0)
        return 0;
    if (p->multiplier <= 1.0) /* no growth: and no loop to run */
        return p->first_ms < p->cap_ms ? p->first_ms : p->cap_ms;
    /* Multiply step by step and stop at the cap, so no power overflows. */
    for (i = 1; i < failed && d < (double)p->cap_ms; i++)
        d *= p->multiplier;
    if (d >= (double)p->cap_ms)
        return p->cap_ms;
    return (uint64_t)d;
}

/* A uniform value in [0, bound], from the caller's random source. */
static uint64_t
uniform_upto(uint64_t bound, etx_backoff_rand_fn rnd, void *arg)
{
    if (bound == UINT64_MAX)
        return rnd(arg);
    return rnd(arg) % (bound + 1);
}

uint64_t
etx_backoff_delay_ms(const struct etx_backoff_policy *p, unsigned failed,
                     etx_backoff_rand_fn rnd, void *arg)
{
    uint64_t base = etx_backoff_base_ms(p, failed);

    switch (p->jitter) {
    case ETX_JITTER_FULL:
        return uniform_upto(base, rnd, arg);
    case ETX_JITTER_EQUAL:
        return base / 2 + uniform_upto(base - base / 2, rnd, arg);
    case ETX_JITTER_NONE:
    default:
        return base;
    }
}

bool
etx_backoff_may_retry(const struct etx_backoff_policy *p, unsigned failed)
{
    return failed < p->attempts;
}
