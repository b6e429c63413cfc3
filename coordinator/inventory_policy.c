/* SPDX-License-Identifier: MIT */
/*
 * The inventory's sections on the pace of a rollout and on failure:
 * batches (sizes, waits, gates, host order and selection), max_failures,
 * retry and on_failure. Called in order by inventory.c
 * (inventory_internal.h).
 */
#include "coordinator/inventory.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/inventory_internal.h"
#include "proto/units.h"
#include "proto/ydoc.h"

#define AMOUNT_MAX 1000000u

/* A count or a percent string, either at least 'min'. */
static int
get_amount(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
           const char *what, unsigned min, struct etx_inv_amount *a)
{
    uint64_t v = 0;
    unsigned pct = 0;

    if (n->kind == ETX_YDOC_SCALAR && n->len > 0 && n->str[n->len - 1] == '%') {
        if (etx_units_percent(n->str, &pct, NULL) != ETX_OK || pct < min)
            return etx_ydoc_fail(c->err, n,
                                 "bad percent '%.64s' for '%s': "
                                 "expected a whole percent from %u%% to "
                                 "100%% (such as \"10%%\")",
                                 n->str, what, min);
        a->is_percent = true;
        a->value = pct;
        return ETX_OK;
    }
    if (n->kind != ETX_YDOC_SCALAR ||
        etx_units_count(n->str, AMOUNT_MAX, &v, NULL) != ETX_OK || v < min)
        return etx_ydoc_fail(
            c->err, n,
            "expected a count from %u to %u or "
            "a percent string (such as \"10%%\") for '%s', "
            "found %s%.64s%s",
            min, AMOUNT_MAX, what, n->kind == ETX_YDOC_SCALAR ? "'" : "",
            n->kind == ETX_YDOC_SCALAR ? n->str : etx_ydoc_kind_name(n),
            n->kind == ETX_YDOC_SCALAR ? "'" : "");
    a->is_percent = false;
    a->value = (unsigned)v;
    return ETX_OK;
}

static int
parse_sizes(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n)
{
    struct etx_inv_batches *b = &c->inv->batches;
    size_t i, count = 1;

    if (n != NULL && n->kind == ETX_YDOC_SEQUENCE) {
        if (n->n == 0)
            return etx_ydoc_fail(c->err, n,
                                 "expected at least one batch "
                                 "size in 'sizes'");
        count = n->n;
    }
    b->sizes = calloc(count, sizeof(*b->sizes));
    if (b->sizes == NULL)
        return etx_inventory__no_memory(c);
    b->n_sizes = count;
    if (n == NULL) {
        b->sizes[0] = (struct etx_inv_amount){true, 100};
        return ETX_OK;
    }
    if (n->kind != ETX_YDOC_SEQUENCE)
        return get_amount(c, n, "sizes", 1, &b->sizes[0]);
    for (i = 0; i < count; i++)
        if (get_amount(c, n->items[i], "sizes", 1, &b->sizes[i]) != ETX_OK)
            return ETX_ERR;
    return ETX_OK;
}

static int
parse_gates(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n)
{
    struct etx_inv_batches *b = &c->inv->batches;
    uint64_t v = 0;
    size_t i;

    if (etx_ydoc_expect(n, ETX_YDOC_SEQUENCE, "gate_after", c->err) != ETX_OK)
        return ETX_ERR;
    b->gate_after = calloc(n->n + 1, sizeof(*b->gate_after));
    if (b->gate_after == NULL)
        return etx_inventory__no_memory(c);
    for (i = 0; i < n->n; i++) {
        if (etx_ydoc_uint(n->items[i], "gate_after", 1, AMOUNT_MAX, &v,
                          c->err) != ETX_OK)
            return ETX_ERR;
        if (i > 0 && v <= b->gate_after[i - 1])
            return etx_ydoc_fail(c->err, n->items[i],
                                 "expected batch "
                                 "numbers in ascending order without "
                                 "repeats in 'gate_after'");
        b->gate_after[b->n_gate_after++] = (unsigned)v;
    }
    return ETX_OK;
}

/* A list of host or group names (only, exclude). */
static int
name_list(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
          const char *what, size_t *count, char ***out)
{
    const struct etx_inventory *inv = c->inv;
    const char *dym = NULL;
    size_t i;

    if (etx_ydoc_strv(n, what, count, out, c->err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < *count; i++) {
        if (etx_inventory__find_ref(c->host_refs, inv->n_hosts, (*out)[i]) >=
                0 ||
            etx_inventory__find_ref(c->group_refs, inv->n_groups, (*out)[i]) >=
                0)
            continue;
        dym = etx_ydoc_did_you_mean((*out)[i], c->names,
                                    inv->n_hosts + inv->n_groups);
        return etx_ydoc_fail(c->err, n->items[i],
                             "unknown host or group "
                             "'%.64s' in '%s'%s%s%s",
                             (*out)[i], what,
                             dym != NULL ? "; did you mean '" : "",
                             dym != NULL ? dym : "", dym != NULL ? "'?" : "");
    }
    return ETX_OK;
}

static int
parse_first(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n)
{
    const struct etx_inventory *inv = c->inv;
    const char *name = NULL;
    const char *dym = NULL;

    if (etx_ydoc_string(n, "first", &name, c->err) != ETX_OK)
        return ETX_ERR;
    if (etx_inventory__find_ref(c->group_refs, inv->n_groups, name) < 0) {
        dym =
            etx_ydoc_did_you_mean(name, c->names + inv->n_hosts, inv->n_groups);
        return etx_ydoc_fail(c->err, n,
                             "unknown group '%.64s' for "
                             "'first'%s%s%s",
                             name, dym != NULL ? "; did you mean '" : "",
                             dym != NULL ? dym : "", dym != NULL ? "'?" : "");
    }
    c->inv->batches.first = strdup(name);
    return c->inv->batches.first == NULL ? etx_inventory__no_memory(c) : ETX_OK;
}

static int
parse_order(struct etx_inventory__ctx *c, const struct etx_ydoc_node *b)
{
    struct etx_inv_batches *bt = &c->inv->batches;
    const struct etx_ydoc_node *seed = etx_ydoc_get(b, "seed");
    int order = ETX_ORDER_INVENTORY;

    if (etx_inventory__get_enum(c, b, "order", etx_inventory__order_names,
                                &order) != ETX_OK)
        return ETX_ERR;
    bt->order = (enum etx_host_order)order;
    if (seed == NULL)
        return ETX_OK;
    if (bt->order != ETX_ORDER_SHUFFLED)
        return etx_ydoc_fail(c->err, seed,
                             "'seed' applies only to order: "
                             "shuffled");
    bt->seed_set = true;
    return etx_ydoc_uint(seed, "seed", 0, UINT64_MAX, &bt->seed, c->err);
}

static const char *const batches_keys[] = {
    "sizes", "bake",  "pause", "gate_after", "order",
    "seed",  "first", "only",  "exclude",    NULL};

int
etx_inventory__parse_batches(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *b = etx_ydoc_get(c->root, "batches");
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_batches *bt = &c->inv->batches;

    if (b != NULL && b->kind == ETX_YDOC_NULL)
        b = NULL;
    if (b != NULL &&
        etx_ydoc_check_keys(b, batches_keys, "batches", c->err) != ETX_OK)
        return ETX_ERR;
    if (parse_sizes(c, etx_ydoc_get(b, "sizes")) != ETX_OK ||
        parse_order(c, b) != ETX_OK)
        return ETX_ERR;
    if (((n = etx_ydoc_get(b, "bake")) != NULL &&
         etx_ydoc_duration(n, "bake", &bt->bake_ms, c->err) != ETX_OK) ||
        ((n = etx_ydoc_get(b, "pause")) != NULL &&
         etx_ydoc_duration(n, "pause", &bt->pause_ms, c->err) != ETX_OK) ||
        ((n = etx_ydoc_get(b, "gate_after")) != NULL &&
         parse_gates(c, n) != ETX_OK) ||
        ((n = etx_ydoc_get(b, "first")) != NULL &&
         parse_first(c, n) != ETX_OK) ||
        ((n = etx_ydoc_get(b, "only")) != NULL &&
         name_list(c, n, "only", &bt->n_only, &bt->only) != ETX_OK) ||
        ((n = etx_ydoc_get(b, "exclude")) != NULL &&
         name_list(c, n, "exclude", &bt->n_exclude, &bt->exclude) != ETX_OK))
        return ETX_ERR;
    return ETX_OK;
}

int
etx_inventory__parse_max_failures(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(c->root, "max_failures");

    if (n == NULL)
        return ETX_OK;
    return get_amount(c, n, "max_failures", 0, &c->inv->max_failures);
}

static const char *const retry_keys[] = {"attempts", "first",  "multiplier",
                                         "cap",      "jitter", NULL};

static int
parse_multiplier(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
                 double *m)
{
    if (n->kind != ETX_YDOC_SCALAR ||
        etx_units_decimal(n->str, m, NULL) != ETX_OK || *m < 1.0 || *m > 100.0)
        return etx_ydoc_fail(c->err, n,
                             "expected a number from 1 to 100 "
                             "for 'multiplier' (such as 2 or 1.5), found "
                             "%s%.64s%s",
                             n->kind == ETX_YDOC_SCALAR ? "'" : "",
                             n->kind == ETX_YDOC_SCALAR ? n->str
                                                        : etx_ydoc_kind_name(n),
                             n->kind == ETX_YDOC_SCALAR ? "'" : "");
    return ETX_OK;
}

int
etx_inventory__parse_retry(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *r = etx_ydoc_get(c->root, "retry");
    const struct etx_ydoc_node *n = NULL;
    struct etx_backoff_policy *rt = &c->inv->retry;
    uint64_t attempts = 0;
    int jitter = 0;

    etx_backoff_policy_default(rt);
    attempts = rt->attempts;
    jitter = (int)rt->jitter;
    if (r == NULL || r->kind == ETX_YDOC_NULL)
        return ETX_OK;
    if (etx_ydoc_check_keys(r, retry_keys, "retry", c->err) != ETX_OK ||
        ((n = etx_ydoc_get(r, "attempts")) != NULL &&
         etx_ydoc_uint(n, "attempts", 1, 100, &attempts, c->err) != ETX_OK) ||
        ((n = etx_ydoc_get(r, "first")) != NULL &&
         etx_inventory__positive_duration(c, n, "first", &rt->first_ms) !=
             ETX_OK) ||
        ((n = etx_ydoc_get(r, "multiplier")) != NULL &&
         parse_multiplier(c, n, &rt->multiplier) != ETX_OK) ||
        ((n = etx_ydoc_get(r, "cap")) != NULL &&
         etx_inventory__positive_duration(c, n, "cap", &rt->cap_ms) !=
             ETX_OK) ||
        etx_inventory__get_enum(c, r, "jitter", etx_inventory__jitter_names,
                                &jitter) != ETX_OK)
        return ETX_ERR;
    rt->attempts = (unsigned)attempts;
    rt->jitter = (enum etx_jitter)jitter;
    n = etx_ydoc_get(r, "cap");
    if (rt->cap_ms < rt->first_ms)
        return etx_ydoc_fail(c->err, n != NULL ? n : r,
                             "the retry cap "
                             "(%llu ms) is shorter than the first wait "
                             "(%llu ms)",
                             (unsigned long long)rt->cap_ms,
                             (unsigned long long)rt->first_ms);
    return ETX_OK;
}

int
etx_inventory__parse_on_failure(struct etx_inventory__ctx *c)
{
    int f = ETX_ON_FAILURE_ROLLBACK;

    if (etx_inventory__get_enum(c, c->root, "on_failure",
                                etx_inventory__on_failure_names, &f) != ETX_OK)
        return ETX_ERR;
    c->inv->on_failure = (enum etx_on_failure)f;
    return ETX_OK;
}
