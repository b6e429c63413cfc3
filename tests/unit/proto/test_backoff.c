/* SPDX-License-Identifier: MIT */
/* Backoff: delays within [0, cap], growth by the multiplier, attempts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/backoff.h"

/* A random source the test controls: returns *arg each time. */
static uint64_t
fixed_rand(void *arg)
{
    return *(uint64_t *)arg;
}

/* xorshift64: many different values, reproducibly. */
static uint64_t
xorshift_rand(void *arg)
{
    uint64_t *s = arg;

    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
test_etx_backoff_base_ms_grows_by_multiplier(void **state)
{
    struct etx_backoff_policy p;

    (void)state;
    etx_backoff_policy_default(&p);
    assert_int_equal(etx_backoff_base_ms(&p, 1), 500);
    assert_int_equal(etx_backoff_base_ms(&p, 2), 1000);
    assert_int_equal(etx_backoff_base_ms(&p, 3), 2000);
    assert_int_equal(etx_backoff_base_ms(&p, 6), 16000);
    assert_int_equal(etx_backoff_base_ms(&p, 7), 30000); /* capped */
    p.multiplier = 3;
    assert_int_equal(etx_backoff_base_ms(&p, 3), 4500);
}

static void
test_etx_backoff_base_ms_huge_attempt_no_overflow(void **state)
{
    struct etx_backoff_policy p;

    (void)state;
    etx_backoff_policy_default(&p);
    assert_int_equal(etx_backoff_base_ms(&p, 4000000000u), 30000);
    p.multiplier = 1e300;
    assert_int_equal(etx_backoff_base_ms(&p, 5), 30000);
}

static void
test_etx_backoff_delay_ms_full_jitter_within_cap(void **state)
{
    struct etx_backoff_policy p;
    uint64_t seed = 88172645463325252ull, d;
    unsigned k, i;

    (void)state;
    etx_backoff_policy_default(&p);
    for (k = 1; k <= 12; k++)
        for (i = 0; i < 1000; i++) {
            d = etx_backoff_delay_ms(&p, k, xorshift_rand, &seed);
            assert_true(d <= etx_backoff_base_ms(&p, k));
            assert_true(d <= p.cap_ms);
        }
}

static void
test_etx_backoff_delay_ms_jitter_bounds_exact(void **state)
{
    struct etx_backoff_policy p;
    uint64_t r;

    (void)state;
    etx_backoff_policy_default(&p);
    r = 0;
    assert_int_equal(etx_backoff_delay_ms(&p, 2, fixed_rand, &r), 0);
    r = 1000; /* 1000 % 1001 = 1000: the top of [0, 1000] */
    assert_int_equal(etx_backoff_delay_ms(&p, 2, fixed_rand, &r), 1000);
    r = UINT64_MAX;
    assert_true(etx_backoff_delay_ms(&p, 2, fixed_rand, &r) <= 1000);
    p.jitter = ETX_JITTER_EQUAL;
    r = 0;
    assert_int_equal(etx_backoff_delay_ms(&p, 2, fixed_rand, &r), 500);
    r = 500;
    assert_int_equal(etx_backoff_delay_ms(&p, 2, fixed_rand, &r), 1000);
    p.jitter = ETX_JITTER_NONE;
    assert_int_equal(etx_backoff_delay_ms(&p, 2, fixed_rand, &r), 1000);
}

static void
test_etx_backoff_may_retry_honours_attempts(void **state)
{
    struct etx_backoff_policy p;

    (void)state;
    etx_backoff_policy_default(&p);
    assert_true(etx_backoff_may_retry(&p, 1));
    assert_true(etx_backoff_may_retry(&p, 5));
    assert_false(etx_backoff_may_retry(&p, 6));
    p.attempts = 1;
    assert_false(etx_backoff_may_retry(&p, 1));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etx_backoff_base_ms_grows_by_multiplier),
        cmocka_unit_test(test_etx_backoff_base_ms_huge_attempt_no_overflow),
        cmocka_unit_test(test_etx_backoff_delay_ms_full_jitter_within_cap),
        cmocka_unit_test(test_etx_backoff_delay_ms_jitter_bounds_exact),
        cmocka_unit_test(test_etx_backoff_may_retry_honours_attempts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
