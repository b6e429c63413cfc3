/* SPDX-License-Identifier: MIT */
/*
 * Batch math: which hosts a rollout touches, in which order, in which
 * batches, and how many failures it tolerates. Pure functions of the
 * inventory model, so the plan and the scheduler agree by construction.
 *
 * Sizes follow the Ansible "serial" reading: each entry of batches.sizes is
 * the size of one batch, in turn, and the last entry repeats until every
 * host is in a batch. A percent is of the selected hosts, rounded up, and
 * never less than one host.
 */
#ifndef ETX_COORDINATOR_BATCH_H
#define ETX_COORDINATOR_BATCH_H

#include <stddef.h>

#include "coordinator/inventory.h"
#include "proto/error.h"

struct etx_batch {
    size_t first; /* index into etx_batch_plan.order */
    size_t count;
    bool gate_after; /* wait for `etxroll continue` after this batch */
};

struct etx_batch_plan {
    size_t n_order;
    size_t *order; /* indices into inv->hosts, in rollout order */
    size_t n_excluded;
    size_t *excluded; /* hosts left out by only/exclude, inventory order */
    size_t n_batches;
    struct etx_batch *batches;
    unsigned max_failures; /* failed hosts tolerated, over the rollout */
    uint64_t seed;         /* the shuffle seed used (0 unless shuffled) */
};

/*
 * Batch sizes for n hosts: on success *counts is a new array (free()) of
 * *n_counts sizes adding up to n. n == 0 gives no batches. A percent of 0
 * or a count of 0 is an input error.
 */
int etx_batch_sizes(size_t n, const struct etx_inv_amount *sizes,
                    size_t n_sizes, size_t **counts, size_t *n_counts,
                    struct etx_error *err);

/* Failed hosts tolerated out of n: a count as is, a percent rounded down. */
unsigned etx_batch_max_failures(const struct etx_inv_amount *amount,
                                size_t n);

/*
 * The whole batch plan of an inventory: selection (batches.only, .exclude),
 * order (inventory, sorted by name, or shuffled with batches.seed or a seed
 * derived from the fleet name), the batches.first group moved to the front,
 * then the sizes and gates. On success *out is new (etx_batch_plan_free()).
 */
int etx_batch_plan_new(const struct etx_inventory *inv,
                       struct etx_batch_plan **out, struct etx_error *err);

void etx_batch_plan_free(struct etx_batch_plan *p); /* NULL: no-op */

/* The seed used when the inventory asks for a shuffle without one. */
uint64_t etx_batch_default_seed(const char *fleet);

#endif /* ETX_COORDINATOR_BATCH_H */
