/* SPDX-License-Identifier: MIT */
/* Host selection, ordering and batch sizes (see batch.h for the rules). */
#include "coordinator/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/digest.h"

static size_t
amount_of(const struct etx_inv_amount *a, size_t n)
{
    size_t k;

    if (!a->is_percent)
        return a->value;
    k = (n * a->value + 99) / 100; /* round up */
    return k == 0 && a->value > 0 ? 1 : k;
}

int
etx_batch_sizes(size_t n, const struct etx_inv_amount *sizes, size_t n_sizes,
                size_t **counts, size_t *n_counts, struct etx_error *err)
{
    size_t *v = NULL, left = n, i = 0, k, step;

    *counts = NULL;
    *n_counts = 0;
    if (n_sizes == 0)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "batches", NULL,
                             "batches.sizes is empty");
    v = calloc(n > 0 ? n : 1, sizeof(*v));
    if (v == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "batches", NULL,
                             "allocate batches");
    for (k = 0; left > 0; k++) {
        step = amount_of(&sizes[i < n_sizes ? i : n_sizes - 1], n);
        if (step == 0) {
            free(v);
            return etx_error_set(err, ETX_CLASS_INPUT, 0, "batches", NULL,
                                 "batch size %zu is zero", i + 1);
        }
        v[k] = step < left ? step : left;
        left -= v[k];
        i++;
    }
    *counts = v;
    *n_counts = k;
    return ETX_OK;
}

unsigned
etx_batch_max_failures(const struct etx_inv_amount *amount, size_t n)
{
    if (amount->is_percent)
        return (unsigned)(n * amount->value / 100); /* round down */
    return amount->value;
}

uint64_t
etx_batch_default_seed(const char *fleet)
{
    struct etx_digest *d = etx_digest_new();
    char hex[ETX_DIGEST_HEX_LEN + 1];
    uint64_t seed = 0;
    int i;

    if (d == NULL)
        return 0x9e3779b97f4a7c15ull;
    etx_digest_update(d, fleet, strlen(fleet));
    etx_digest_final(d, hex);
    etx_digest_free(d);
    for (i = 0; i < 16; i++) {
        char c = hex[i];
        seed = seed << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return seed;
}

/* splitmix64: a small, well-mixed generator; the plan records its seed. */
static uint64_t
splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* True when 'name' names host h directly or a group that contains it. */
static bool
names_host(const struct etx_inventory *inv, const char *name, size_t h)
{
    const struct etx_inv_group *g = etx_inventory_group(inv, name);
    size_t i;

    if (strcmp(inv->hosts[h].name, name) == 0)
        return true;
    for (i = 0; g != NULL && i < g->n_hosts; i++)
        if (g->hosts[i] == h)
            return true;
    return false;
}

static bool
listed(const struct etx_inventory *inv, char *const *names, size_t n,
       size_t h)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (names_host(inv, names[i], h))
            return true;
    return false;
}

static bool
selected(const struct etx_inventory *inv, size_t h)
{
    const struct etx_inv_batches *b = &inv->batches;

    if (b->n_only > 0 && !listed(inv, b->only, b->n_only, h))
        return false;
    return !listed(inv, b->exclude, b->n_exclude, h);
}

struct named {
    const char *name;
    size_t index;
};

static int
compare_named(const void *a, const void *b)
{
    const struct named *x = a, *y = b;

    return strcmp(x->name, y->name);
}

/* Sort v by host name; qsort() has no context argument, so pair them. */
static int
sort_by_name(const struct etx_inventory *inv, size_t *v, size_t n)
{
    struct named *tmp = calloc(n + 1, sizeof(*tmp));
    size_t i;

    if (tmp == NULL)
        return ETX_ERR;
    for (i = 0; i < n; i++) {
        tmp[i].name = inv->hosts[v[i]].name;
        tmp[i].index = v[i];
    }
    qsort(tmp, n, sizeof(*tmp), compare_named);
    for (i = 0; i < n; i++)
        v[i] = tmp[i].index;
    free(tmp);
    return ETX_OK;
}

static void
shuffle(size_t *v, size_t n, uint64_t seed)
{
    uint64_t state = seed;
    size_t i, j, t;

    for (i = n; i > 1; i--) {
        j = (size_t)(splitmix64(&state) % i);
        t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Stable move of the hosts of group 'first' to the front of v. */
static void
move_first(const struct etx_inventory *inv, size_t *v, size_t n,
           size_t *scratch)
{
    const struct etx_inv_group *g = etx_inventory_group(inv, inv->batches.first);
    size_t i, k = 0;

    if (g == NULL)
        return;
    for (i = 0; i < n; i++)
        if (names_host(inv, g->name, v[i]))
            scratch[k++] = v[i];
    for (i = 0; i < n; i++)
        if (!names_host(inv, g->name, v[i]))
            scratch[k++] = v[i];
    memcpy(v, scratch, n * sizeof(*v));
}

static int
order_hosts(const struct etx_inventory *inv, struct etx_batch_plan *p,
            struct etx_error *err)
{
    size_t *scratch = NULL, h;

    p->order = calloc(inv->n_hosts + 1, sizeof(*p->order));
    p->excluded = calloc(inv->n_hosts + 1, sizeof(*p->excluded));
    scratch = calloc(inv->n_hosts + 1, sizeof(*scratch));
    if (p->order == NULL || p->excluded == NULL || scratch == NULL) {
        free(scratch);
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "batches", NULL,
                             "allocate the host order");
    }
    for (h = 0; h < inv->n_hosts; h++) {
        if (selected(inv, h))
            p->order[p->n_order++] = h;
        else
            p->excluded[p->n_excluded++] = h;
    }
    if (inv->batches.order == ETX_ORDER_SORTED &&
        sort_by_name(inv, p->order, p->n_order) != ETX_OK) {
        free(scratch);
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "batches", NULL,
                             "sort the hosts");
    }
    if (inv->batches.order == ETX_ORDER_SHUFFLED) {
        p->seed = inv->batches.seed_set ? inv->batches.seed
                                        : etx_batch_default_seed(inv->fleet);
        shuffle(p->order, p->n_order, p->seed);
    }
    if (inv->batches.first != NULL)
        move_first(inv, p->order, p->n_order, scratch);
    free(scratch);
    return ETX_OK;
}

static bool
gated(const struct etx_inv_batches *b, size_t batch_number)
{
    size_t i;

    for (i = 0; i < b->n_gate_after; i++)
        if (b->gate_after[i] == batch_number)
            return true;
    return false;
}

static int
cut_batches(const struct etx_inventory *inv, struct etx_batch_plan *p,
            struct etx_error *err)
{
    size_t *counts = NULL, n = 0, i, at = 0;

    if (etx_batch_sizes(p->n_order, inv->batches.sizes, inv->batches.n_sizes,
                        &counts, &n, err) != ETX_OK)
        return ETX_ERR;
    p->batches = calloc(n + 1, sizeof(*p->batches));
    if (p->batches == NULL) {
        free(counts);
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "batches", NULL,
                             "allocate batches");
    }
    for (i = 0; i < n; i++) {
        p->batches[i].first = at;
        p->batches[i].count = counts[i];
        /* A gate after the last batch has nothing to hold back. */
        p->batches[i].gate_after = i + 1 < n && gated(&inv->batches, i + 1);
        at += counts[i];
    }
    p->n_batches = n;
    free(counts);
    return ETX_OK;
}

int
etx_batch_plan_new(const struct etx_inventory *inv,
                   struct etx_batch_plan **out, struct etx_error *err)
{
    struct etx_batch_plan *p = NULL;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "batches", NULL,
                             "allocate the batch plan");
    if (order_hosts(inv, p, err) != ETX_OK ||
        cut_batches(inv, p, err) != ETX_OK) {
        etx_batch_plan_free(p);
        return ETX_ERR;
    }
    p->max_failures = etx_batch_max_failures(&inv->max_failures, p->n_order);
    *out = p;
    return ETX_OK;
}

void
etx_batch_plan_free(struct etx_batch_plan *p)
{
    if (p == NULL)
        return;
    free(p->order);
    free(p->excluded);
    free(p->batches);
    free(p);
}
