/* SPDX-License-Identifier: MIT */
/*
 * Batch math: sizes from counts, percents and lists; 0 and 1 host; a list
 * longer than the fleet; a canary of one; hosts left out by group; order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coordinator/batch.h"

#define A_COUNT(n)   {false, (n)}
#define A_PERCENT(n) {true, (n)}

static void
expect_sizes(size_t n, const struct etx_inv_amount *sizes, size_t n_sizes,
             const size_t *want, size_t n_want)
{
    struct etx_error err = {0};
    size_t *got = NULL, n_got = 0, i;

    assert_int_equal(etx_batch_sizes(n, sizes, n_sizes, &got, &n_got, &err),
                     ETX_OK);
    assert_int_equal(n_got, n_want);
    for (i = 0; i < n_want; i++)
        assert_int_equal(got[i], want[i]);
    free(got);
}

static void
test_etx_batch_sizes_empty_fleet(void **state)
{
    const struct etx_inv_amount s[] = {A_PERCENT(100)};

    (void)state;
    expect_sizes(0, s, 1, NULL, 0);
}

static void
test_etx_batch_sizes_one_host(void **state)
{
    const struct etx_inv_amount s[] = {A_COUNT(1), A_PERCENT(10),
                                       A_PERCENT(50), A_PERCENT(100)};
    const size_t want[] = {1};

    (void)state;
    expect_sizes(1, s, 4, want, 1);
}

static void
test_etx_batch_sizes_percent_rounds_up(void **state)
{
    const struct etx_inv_amount s[] = {A_PERCENT(10)};
    const size_t want[] = {2, 2, 2, 2, 2, 2, 2, 1}; /* 10% of 15 = 1.5 -> 2 */
    const struct etx_inv_amount tiny[] = {A_PERCENT(1)};
    const size_t one_each[] = {1, 1, 1};

    (void)state;
    expect_sizes(15, s, 1, want, 8);
    expect_sizes(3, tiny, 1, one_each, 3); /* 1% of 3 still moves a host */
}

static void
test_etx_batch_sizes_canary_ramp(void **state)
{
    const struct etx_inv_amount s[] = {A_COUNT(1), A_PERCENT(10),
                                       A_PERCENT(50), A_PERCENT(100)};
    const size_t want[] = {1, 10, 50, 39};
    const struct etx_inv_amount s8[] = {A_COUNT(1), A_PERCENT(50),
                                        A_PERCENT(100)};
    const size_t want8[] = {1, 4, 3};

    (void)state;
    expect_sizes(100, s, 4, want, 4);
    expect_sizes(8, s8, 3, want8, 3);
}

static void
test_etx_batch_sizes_list_longer_than_fleet(void **state)
{
    const struct etx_inv_amount s[] = {A_COUNT(1), A_COUNT(1), A_COUNT(1),
                                       A_COUNT(1), A_COUNT(5)};
    const size_t want[] = {1, 1};

    (void)state;
    expect_sizes(2, s, 5, want, 2);
}

static void
test_etx_batch_sizes_last_entry_repeats(void **state)
{
    const struct etx_inv_amount s[] = {A_COUNT(1), A_COUNT(3)};
    const size_t want[] = {1, 3, 3, 3};

    (void)state;
    expect_sizes(10, s, 2, want, 4);
}

static void
test_etx_batch_sizes_zero_is_error(void **state)
{
    const struct etx_inv_amount s[] = {A_COUNT(0)};
    struct etx_error err = {0};
    size_t *got = NULL, n = 0;

    (void)state;
    assert_int_equal(etx_batch_sizes(4, s, 1, &got, &n, &err), ETX_ERR);
    assert_null(got);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_int_equal(etx_batch_sizes(4, s, 0, &got, &n, &err), ETX_ERR);
}

static void
test_etx_batch_max_failures_percent_rounds_down(void **state)
{
    const struct etx_inv_amount ten = A_PERCENT(10), two = A_COUNT(2);

    (void)state;
    assert_int_equal(etx_batch_max_failures(&ten, 19), 1);
    assert_int_equal(etx_batch_max_failures(&ten, 9), 0);
    assert_int_equal(etx_batch_max_failures(&two, 100), 2);
}

/* A fleet of n hosts h1..hn built by hand: the model is plain data. */
struct fleet {
    struct etx_inventory inv;
    struct etx_inv_host hosts[16];
    char names[16][24];
    struct etx_inv_group groups[2];
    size_t canary[1];
    size_t db[2];
    struct etx_inv_amount sizes[3];
    char *exclude[1];
};

static void
fleet_init(struct fleet *f, size_t n)
{
    size_t i;

    memset(f, 0, sizeof(*f));
    for (i = 0; i < n; i++) {
        snprintf(f->names[i], sizeof(f->names[i]), "h%zu", i + 1);
        f->hosts[i].name = f->names[i];
        f->hosts[i].address = f->names[i];
    }
    f->canary[0] = 4; /* h5 */
    f->db[0] = 1;     /* h2 */
    f->db[1] = 2;     /* h3 */
    f->groups[0] = (struct etx_inv_group){"canary", 1, f->canary};
    f->groups[1] = (struct etx_inv_group){"db", 2, f->db};
    f->sizes[0] = (struct etx_inv_amount)A_COUNT(1);
    f->sizes[1] = (struct etx_inv_amount)A_PERCENT(50);
    f->sizes[2] = (struct etx_inv_amount)A_PERCENT(100);
    f->inv.fleet = "test";
    f->inv.hosts = f->hosts;
    f->inv.n_hosts = n;
    f->inv.groups = f->groups;
    f->inv.n_groups = 2;
    f->inv.batches.sizes = f->sizes;
    f->inv.batches.n_sizes = 3;
}

static void
test_etx_batch_plan_new_canary_first_and_gate(void **state)
{
    struct fleet f;
    struct etx_batch_plan *p = NULL;
    struct etx_error err = {0};
    unsigned gate[] = {1};

    (void)state;
    fleet_init(&f, 8);
    f.inv.batches.first = "canary";
    f.inv.batches.gate_after = gate;
    f.inv.batches.n_gate_after = 1;
    assert_int_equal(etx_batch_plan_new(&f.inv, &p, &err), ETX_OK);
    assert_int_equal(p->n_order, 8);
    assert_int_equal(p->order[0], 4); /* h5, the canary */
    assert_int_equal(p->order[1], 0); /* then inventory order */
    assert_int_equal(p->n_batches, 3);
    assert_int_equal(p->batches[0].count, 1);
    assert_true(p->batches[0].gate_after);
    assert_false(p->batches[1].gate_after);
    assert_int_equal(p->batches[1].first, 1);
    assert_int_equal(p->batches[1].count, 4);
    assert_int_equal(p->batches[2].count, 3);
    etx_batch_plan_free(p);
}

static void
test_etx_batch_plan_new_excluded_by_group(void **state)
{
    struct fleet f;
    struct etx_batch_plan *p = NULL;
    struct etx_error err = {0};
    size_t i;

    (void)state;
    fleet_init(&f, 6);
    f.exclude[0] = "db";
    f.inv.batches.exclude = f.exclude;
    f.inv.batches.n_exclude = 1;
    assert_int_equal(etx_batch_plan_new(&f.inv, &p, &err), ETX_OK);
    assert_int_equal(p->n_order, 4);
    assert_int_equal(p->n_excluded, 2);
    assert_int_equal(p->excluded[0], 1);
    assert_int_equal(p->excluded[1], 2);
    for (i = 0; i < p->n_order; i++)
        assert_true(p->order[i] != 1 && p->order[i] != 2);
    etx_batch_plan_free(p);
}

static void
test_etx_batch_plan_new_only_group(void **state)
{
    struct fleet f;
    struct etx_batch_plan *p = NULL;
    struct etx_error err = {0};
    char *only[] = {"db", "h6"};

    (void)state;
    fleet_init(&f, 6);
    f.inv.batches.only = only;
    f.inv.batches.n_only = 2;
    assert_int_equal(etx_batch_plan_new(&f.inv, &p, &err), ETX_OK);
    assert_int_equal(p->n_order, 3);
    assert_int_equal(p->order[0], 1);
    assert_int_equal(p->order[1], 2);
    assert_int_equal(p->order[2], 5);
    etx_batch_plan_free(p);
}

static void
test_etx_batch_plan_new_sorted_and_shuffled(void **state)
{
    struct fleet f;
    struct etx_batch_plan *p = NULL, *q = NULL;
    struct etx_error err = {0};
    size_t i, moved = 0;

    (void)state;
    fleet_init(&f, 12);
    f.inv.batches.order = ETX_ORDER_SORTED; /* h1, h10, h11, h12, h2, ... */
    assert_int_equal(etx_batch_plan_new(&f.inv, &p, &err), ETX_OK);
    assert_int_equal(p->order[0], 0);
    assert_int_equal(p->order[1], 9);
    assert_int_equal(p->order[4], 1);
    etx_batch_plan_free(p);

    f.inv.batches.order = ETX_ORDER_SHUFFLED;
    assert_int_equal(etx_batch_plan_new(&f.inv, &p, &err), ETX_OK);
    assert_int_equal(etx_batch_plan_new(&f.inv, &q, &err), ETX_OK);
    assert_int_equal(p->seed, etx_batch_default_seed("test"));
    for (i = 0; i < 12; i++) {
        assert_int_equal(p->order[i], q->order[i]); /* same seed, same order */
        moved += p->order[i] != i;
    }
    assert_true(moved > 0);
    etx_batch_plan_free(q);
    f.inv.batches.seed_set = true;
    f.inv.batches.seed = 7;
    assert_int_equal(etx_batch_plan_new(&f.inv, &q, &err), ETX_OK);
    assert_int_equal(q->seed, 7);
    assert_memory_not_equal(p->order, q->order, 12 * sizeof(size_t));
    etx_batch_plan_free(p);
    etx_batch_plan_free(q);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etx_batch_sizes_empty_fleet),
        cmocka_unit_test(test_etx_batch_sizes_one_host),
        cmocka_unit_test(test_etx_batch_sizes_percent_rounds_up),
        cmocka_unit_test(test_etx_batch_sizes_canary_ramp),
        cmocka_unit_test(test_etx_batch_sizes_list_longer_than_fleet),
        cmocka_unit_test(test_etx_batch_sizes_last_entry_repeats),
        cmocka_unit_test(test_etx_batch_sizes_zero_is_error),
        cmocka_unit_test(test_etx_batch_max_failures_percent_rounds_down),
        cmocka_unit_test(test_etx_batch_plan_new_canary_first_and_gate),
        cmocka_unit_test(test_etx_batch_plan_new_excluded_by_group),
        cmocka_unit_test(test_etx_batch_plan_new_only_group),
        cmocka_unit_test(test_etx_batch_plan_new_sorted_and_shuffled),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
