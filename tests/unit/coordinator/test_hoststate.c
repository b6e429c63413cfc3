/* SPDX-License-Identifier: MIT */
/*
 * The host state table against a list of allowed moves written out here,
 * independently of coordinator/hoststate.c, and the state names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "coordinator/hoststate.h"
#include "proto/error.h"

struct move {
    enum etx_host_state from, to;
};

/* DESIGN.md "Data flow" plus rollback, as the header documents it. */
static const struct move allowed[] = {
    {ETX_HOST_PENDING, ETX_HOST_STAGING},
    {ETX_HOST_PENDING, ETX_HOST_FAILED},
    {ETX_HOST_STAGING, ETX_HOST_STAGED},
    {ETX_HOST_STAGING, ETX_HOST_FAILED},
    {ETX_HOST_STAGED, ETX_HOST_VERIFIED},
    {ETX_HOST_STAGED, ETX_HOST_FAILED},
    {ETX_HOST_VERIFIED, ETX_HOST_SWAPPED},
    {ETX_HOST_VERIFIED, ETX_HOST_FAILED},
    {ETX_HOST_SWAPPED, ETX_HOST_RESTARTING},
    {ETX_HOST_SWAPPED, ETX_HOST_FAILED},
    {ETX_HOST_SWAPPED, ETX_HOST_ROLLING_BACK},
    {ETX_HOST_RESTARTING, ETX_HOST_CHECKING},
    {ETX_HOST_RESTARTING, ETX_HOST_FAILED},
    {ETX_HOST_RESTARTING, ETX_HOST_ROLLING_BACK},
    {ETX_HOST_CHECKING, ETX_HOST_HEALTHY},
    {ETX_HOST_CHECKING, ETX_HOST_FAILED},
    {ETX_HOST_CHECKING, ETX_HOST_ROLLING_BACK},
    {ETX_HOST_HEALTHY, ETX_HOST_FAILED},
    {ETX_HOST_HEALTHY, ETX_HOST_ROLLING_BACK},
    {ETX_HOST_FAILED, ETX_HOST_ROLLING_BACK},
    {ETX_HOST_ROLLING_BACK, ETX_HOST_ROLLED_BACK},
    {ETX_HOST_ROLLING_BACK, ETX_HOST_ROLLBACK_FAILED},
};

static int
listed(enum etx_host_state from, enum etx_host_state to)
{
    size_t i;

    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (allowed[i].from == from && allowed[i].to == to)
            return 1;
    return 0;
}

static void
test_hoststate_can_every_pair(void **state)
{
    unsigned from, to, n = 0;

    (void)state;
    for (from = 0; from < ETX_HOST_STATE_COUNT; from++) {
        for (to = 0; to < ETX_HOST_STATE_COUNT; to++) {
            int want = listed(from, to);
            int got = etx_hoststate_can(from, to);

            if (want != got)
                fail_msg("%s -> %s: table says %d, list says %d",
                         etx_hoststate_name(from), etx_hoststate_name(to), got,
                         want);
            n += (unsigned)got;
        }
    }
    assert_int_equal(n, sizeof(allowed) / sizeof(allowed[0]));
}

static void
test_hoststate_can_hostile(void **state)
{
    (void)state;
    assert_false(etx_hoststate_can(ETX_HOST_STATE_COUNT, ETX_HOST_FAILED));
    assert_false(etx_hoststate_can(ETX_HOST_PENDING, ETX_HOST_STATE_COUNT));
    assert_false(etx_hoststate_can((enum etx_host_state) - 1, ETX_HOST_FAILED));
    assert_false(etx_hoststate_can(ETX_HOST_PENDING, (enum etx_host_state)40));
}

/* Nothing before swapped can be rolled back: there is nothing to put back. */
static void
test_hoststate_can_rollback_only_from_swapped_on(void **state)
{
    unsigned s;

    (void)state;
    for (s = ETX_HOST_PENDING; s < ETX_HOST_SWAPPED; s++)
        assert_false(etx_hoststate_can(s, ETX_HOST_ROLLING_BACK));
    for (s = ETX_HOST_SWAPPED; s <= ETX_HOST_FAILED; s++)
        assert_true(etx_hoststate_can(s, ETX_HOST_ROLLING_BACK));
    assert_false(
        etx_hoststate_can(ETX_HOST_ROLLED_BACK, ETX_HOST_ROLLING_BACK));
}

static void
test_hoststate_name_round_trip(void **state)
{
    enum etx_host_state got;
    unsigned s, t;

    (void)state;
    for (s = 0; s < ETX_HOST_STATE_COUNT; s++) {
        const char *name = etx_hoststate_name(s);

        assert_non_null(name);
        assert_string_not_equal(name, "unknown");
        for (t = 0; t < s; t++)
            assert_string_not_equal(name, etx_hoststate_name(t));
        got = ETX_HOST_STATE_COUNT;
        assert_int_equal(etx_hoststate_from_name(name, &got), ETX_OK);
        assert_int_equal(got, s);
    }
    assert_string_equal(etx_hoststate_name(ETX_HOST_ROLLING_BACK),
                        "rolling_back");
    assert_string_equal(etx_hoststate_name(ETX_HOST_STATE_COUNT), "unknown");
}

static void
test_hoststate_from_name_hostile(void **state)
{
    enum etx_host_state got = ETX_HOST_HEALTHY;

    (void)state;
    assert_int_equal(etx_hoststate_from_name("Pending", &got), ETX_ERR);
    assert_int_equal(etx_hoststate_from_name("", &got), ETX_ERR);
    assert_int_equal(etx_hoststate_from_name("healthy ", &got), ETX_ERR);
    assert_int_equal(etx_hoststate_from_name("unknown", &got), ETX_ERR);
    assert_int_equal(etx_hoststate_from_name(NULL, &got), ETX_ERR);
    assert_int_equal(got, ETX_HOST_HEALTHY);
}

static void
test_hoststate_is_terminal_ok(void **state)
{
    unsigned s, to;

    (void)state;
    for (s = 0; s < ETX_HOST_STATE_COUNT; s++) {
        int any = 0;

        for (to = 0; to < ETX_HOST_STATE_COUNT; to++)
            any |= listed(s, to);
        assert_int_equal(etx_hoststate_is_terminal(s), !any);
    }
    assert_true(etx_hoststate_is_terminal(ETX_HOST_ROLLED_BACK));
    assert_true(etx_hoststate_is_terminal(ETX_HOST_ROLLBACK_FAILED));
    assert_false(etx_hoststate_is_terminal(ETX_HOST_HEALTHY));
    assert_false(etx_hoststate_is_terminal(ETX_HOST_STATE_COUNT));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hoststate_can_every_pair),
        cmocka_unit_test(test_hoststate_can_hostile),
        cmocka_unit_test(test_hoststate_can_rollback_only_from_swapped_on),
        cmocka_unit_test(test_hoststate_name_round_trip),
        cmocka_unit_test(test_hoststate_from_name_hostile),
        cmocka_unit_test(test_hoststate_is_terminal_ok),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
