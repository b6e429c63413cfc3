/* SPDX-License-Identifier: MIT */
/*
 * Tests of proto/units: durations, percents, octal modes, counts and
 * decimals, each accepted exactly as documented and refused otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/units.h"

static void
test_duration_ok(void **state)
{
    uint64_t ms = 1;

    (void)state;
    assert_int_equal(etx_units_duration("500ms", &ms, NULL), ETX_OK);
    assert_int_equal(ms, 500);
    assert_int_equal(etx_units_duration("30s", &ms, NULL), ETX_OK);
    assert_int_equal(ms, 30000);
    assert_int_equal(etx_units_duration("2m", &ms, NULL), ETX_OK);
    assert_int_equal(ms, 120000);
    assert_int_equal(etx_units_duration("1h", &ms, NULL), ETX_OK);
    assert_int_equal(ms, 3600000);
    assert_int_equal(etx_units_duration("0s", &ms, NULL), ETX_OK);
    assert_int_equal(ms, 0);
}

static void
test_duration_exact(void **state)
{
    uint64_t ms = 0;

    (void)state;
    assert_int_equal(etx_units_duration("18446744073709551615ms", &ms, NULL),
                     ETX_OK);
    assert_true(ms == UINT64_MAX);
    assert_int_equal(etx_units_duration("18446744073709551s", &ms, NULL),
                     ETX_OK);
    assert_true(ms == 18446744073709551000ull);
}

static void
test_duration_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "30",
        "-1s",
        "+1s",
        "1.5s",
        " 1s",
        "1s ",
        "1 s",
        "1S",
        "1d",
        "1sec",
        "ms",
        "s",
        "1ms1",
        "0x10s",
        "18446744073709551616ms",
        "18446744073709552s",
        "99999999999999999999h",
    };
    uint64_t ms = 7;
    const char *why = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        assert_int_equal(etx_units_duration(bad[i], &ms, &why), ETX_ERR);
        assert_non_null(why);
        assert_true(ms == 7); /* untouched on failure */
    }
    assert_int_equal(etx_units_duration(NULL, &ms, &why), ETX_ERR);
    assert_int_equal(etx_units_duration("30", &ms, &why), ETX_ERR);
    assert_string_equal(why, "a duration needs a unit: ms, s, m or h (such "
                             "as 30s)");
    assert_int_equal(etx_units_duration("3d", &ms, &why), ETX_ERR);
    assert_string_equal(why, "unknown unit: expected ms, s, m or h (such as "
                             "30s)");
    assert_int_equal(etx_units_duration("18446744073709552s", &ms, &why),
                     ETX_ERR);
    assert_string_equal(why, "the duration is too large");
}

static void
test_percent_ok(void **state)
{
    unsigned p = 9;

    (void)state;
    assert_int_equal(etx_units_percent("10%", &p, NULL), ETX_OK);
    assert_int_equal(p, 10);
    assert_int_equal(etx_units_percent("0%", &p, NULL), ETX_OK);
    assert_int_equal(p, 0);
    assert_int_equal(etx_units_percent("100%", &p, NULL), ETX_OK);
    assert_int_equal(p, 100);
    assert_int_equal(etx_units_percent("007%", &p, NULL), ETX_OK);
    assert_int_equal(p, 7);
}

static void
test_percent_hostile(void **state)
{
    static const char *const bad[] = {"",
                                      "%",
                                      "10",
                                      "101%",
                                      "-1%",
                                      "1.5%",
                                      "10 %",
                                      "10%%",
                                      " 10%",
                                      "1e2%",
                                      "99999999999999999999%"};
    unsigned p = 9;
    const char *why = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(etx_units_percent(bad[i], &p, &why), ETX_ERR);
        assert_non_null(why);
    }
    assert_int_equal(p, 9);
}

static void
test_mode_ok(void **state)
{
    unsigned m = 0;

    (void)state;
    assert_int_equal(etx_units_mode("0755", &m, NULL), ETX_OK);
    assert_int_equal(m, 0755);
    assert_int_equal(etx_units_mode("755", &m, NULL), ETX_OK);
    assert_int_equal(m, 0755);
    assert_int_equal(etx_units_mode("4755", &m, NULL), ETX_OK);
    assert_int_equal(m, 04755);
    assert_int_equal(etx_units_mode("07777", &m, NULL), ETX_OK);
    assert_int_equal(m, 07777);
    assert_int_equal(etx_units_mode("0", &m, NULL), ETX_OK);
    assert_int_equal(m, 0);
}

static void
test_mode_hostile(void **state)
{
    static const char *const bad[] = {"",     "0758",  "0x1ed",  "rwxr-xr-x",
                                      "-755", "10000", "077777", "493",
                                      "7 55", "0o755"};
    unsigned m = 1;
    const char *why = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(etx_units_mode(bad[i], &m, &why), ETX_ERR);
        assert_non_null(why);
    }
    assert_int_equal(m, 1);
    assert_int_equal(etx_units_mode("10000", &m, &why), ETX_ERR);
    assert_string_equal(why, "the mode is larger than 07777");
}

static void
test_count_ok(void **state)
{
    uint64_t n = 0;

    (void)state;
    assert_int_equal(etx_units_count("3", 10, &n, NULL), ETX_OK);
    assert_int_equal(n, 3);
    assert_int_equal(etx_units_count("10", 10, &n, NULL), ETX_OK);
    assert_int_equal(n, 10);
    assert_int_equal(etx_units_count("0", 0, &n, NULL), ETX_OK);
    assert_int_equal(n, 0);
    assert_int_equal(
        etx_units_count("18446744073709551615", UINT64_MAX, &n, NULL), ETX_OK);
    assert_true(n == UINT64_MAX);
}

static void
test_count_hostile(void **state)
{
    uint64_t n = 5;
    const char *why = NULL;

    (void)state;
    assert_int_equal(etx_units_count("11", 10, &n, &why), ETX_ERR);
    assert_string_equal(why, "the number is too large");
    assert_int_equal(etx_units_count("5", 0, &n, &why), ETX_ERR);
    assert_int_equal(
        etx_units_count("18446744073709551616", UINT64_MAX, &n, &why), ETX_ERR);
    assert_int_equal(etx_units_count("-1", 10, &n, &why), ETX_ERR);
    assert_int_equal(etx_units_count("1x", 10, &n, &why), ETX_ERR);
    assert_int_equal(etx_units_count("", 10, &n, &why), ETX_ERR);
    assert_int_equal(etx_units_count(" 1", 10, &n, &why), ETX_ERR);
    assert_int_equal(n, 5);
}

static void
test_decimal_ok(void **state)
{
    double v = 0;

    (void)state;
    assert_int_equal(etx_units_decimal("2", &v, NULL), ETX_OK);
    assert_true(v == 2.0);
    assert_int_equal(etx_units_decimal("1.5", &v, NULL), ETX_OK);
    assert_true(v == 1.5);
    assert_int_equal(etx_units_decimal("0.25", &v, NULL), ETX_OK);
    assert_true(v == 0.25);
}

static void
test_decimal_hostile(void **state)
{
    static const char *const bad[] = {
        "",    ".5",  "1.",   "-1",  "+1",    "1e3",
        "inf", "nan", "0x10", "1,5", "1.2.3", "1234567890123456"};
    double v = 3.0;
    const char *why = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(etx_units_decimal(bad[i], &v, &why), ETX_ERR);
        assert_non_null(why);
    }
    assert_true(v == 3.0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_ok),
        cmocka_unit_test(test_duration_exact),
        cmocka_unit_test(test_duration_hostile),
        cmocka_unit_test(test_percent_ok),
        cmocka_unit_test(test_percent_hostile),
        cmocka_unit_test(test_mode_ok),
        cmocka_unit_test(test_mode_hostile),
        cmocka_unit_test(test_count_ok),
        cmocka_unit_test(test_count_hostile),
        cmocka_unit_test(test_decimal_ok),
        cmocka_unit_test(test_decimal_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
