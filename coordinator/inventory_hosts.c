/* SPDX-License-Identifier: MIT */
/*
 * The inventory's fleet sections: hosts, groups, the transport of each
 * host (defaults < group < host), storage groups and blue/green. Called
 * in order by inventory.c (inventory_internal.h); frees what it built.
 * Their 'vars' keys are read by inventory_vars.c.
 */
#include "coordinator/inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/inventory_internal.h"
#include "proto/ydoc.h"

#define NONE ((size_t)-1)

static const char *const host_key_names[] = {"strict", "accept-new", NULL};
static const char *const colour_names[] = {"blue", "green", NULL};

static const char *const host_keys[] = {"address", "transport", "vars", NULL};

static int
parse_host(struct etx_inventory__ctx *c, const struct etx_ydoc_node *key,
           const struct etx_ydoc_node *val, struct etx_inv_host *h)
{
    const struct etx_ydoc_node *addr = NULL;
    char what[300];

    if (etx_inventory__dup_name(c, key, "host name", "._-", &h->name) != ETX_OK)
        return ETX_ERR;
    h->line = key->line;
    h->col = key->col;
    snprintf(what, sizeof(what), "host '%s'", key->str);
    if (val->kind != ETX_YDOC_NULL &&
        etx_ydoc_check_keys(val, host_keys, what, c->err) != ETX_OK)
        return ETX_ERR;
    addr = etx_ydoc_get(val, "address");
    if (addr != NULL)
        return etx_inventory__dup_word(c, addr, "address", &h->address);
    h->address = strdup(key->str); /* the name is the address */
    return h->address == NULL ? etx_inventory__no_memory(c) : ETX_OK;
}

int
etx_inventory__parse_hosts(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *m =
        etx_inventory__need(c, c->root, "hosts", "the inventory");
    struct etx_inventory *inv = c->inv;
    size_t i, n;

    if (m == NULL)
        return ETX_ERR;
    if (m->kind == ETX_YDOC_NULL || (m->kind == ETX_YDOC_MAPPING && m->n == 0))
        return etx_ydoc_fail(c->err, m,
                             "empty fleet: 'hosts' names no "
                             "host");
    if (etx_ydoc_expect(m, ETX_YDOC_MAPPING, "hosts", c->err) != ETX_OK)
        return ETX_ERR;
    n = m->n;
    c->hosts_map = m;
    inv->hosts = calloc(n, sizeof(*inv->hosts));
    c->host_tnodes = calloc(n, sizeof(*c->host_tnodes));
    c->tgroup = calloc(n, sizeof(*c->tgroup));
    c->stamp = calloc(n, sizeof(*c->stamp));
    c->host_refs = calloc(n, sizeof(*c->host_refs));
    if (inv->hosts == NULL || c->host_tnodes == NULL || c->tgroup == NULL ||
        c->stamp == NULL || c->host_refs == NULL)
        return etx_inventory__no_memory(c);
    for (i = 0; i < n; i++) {
        inv->n_hosts = i + 1; /* so that free sees what was built */
        if (parse_host(c, m->items[2 * i], m->items[2 * i + 1],
                       &inv->hosts[i]) != ETX_OK)
            return ETX_ERR;
        c->host_refs[i] =
            (struct etx_inventory__name_ref){inv->hosts[i].name, i};
        c->tgroup[i] = NONE;
    }
    qsort(c->host_refs, n, sizeof(*c->host_refs), etx_inventory__ref_cmp);
    return ETX_OK;
}

/* The host named by n, or -1 with err filled ("unknown host ..."). */
static long
host_ref(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
         const char *what)
{
    const char *name = NULL;
    const char *dym = NULL;
    long idx;

    if (etx_ydoc_string(n, "host", &name, c->err) != ETX_OK)
        return -1;
    idx = etx_inventory__find_ref(c->host_refs, c->inv->n_hosts, name);
    if (idx >= 0)
        return idx;
    dym = etx_ydoc_did_you_mean(name, c->names, c->inv->n_hosts);
    if (dym != NULL)
        etx_ydoc_fail(c->err, n,
                      "unknown host '%.64s' in %s; did you mean "
                      "'%s'?",
                      name, what, dym);
    else
        etx_ydoc_fail(c->err, n, "unknown host '%.64s' in %s", name, what);
    return -1;
}

/* A non-empty list of distinct, known hosts into g->hosts. */
static int
host_list(struct etx_inventory__ctx *c, const struct etx_ydoc_node *seq,
          const char *what, struct etx_inv_group *g)
{
    long idx;
    size_t i;

    if (etx_ydoc_expect(seq, ETX_YDOC_SEQUENCE, "hosts", c->err) != ETX_OK)
        return ETX_ERR;
    if (seq->n == 0)
        return etx_ydoc_fail(c->err, seq, "expected at least one host in %s",
                             what);
    g->hosts = calloc(seq->n, sizeof(*g->hosts));
    if (g->hosts == NULL)
        return etx_inventory__no_memory(c);
    c->stamp_now++;
    for (i = 0; i < seq->n; i++) {
        idx = host_ref(c, seq->items[i], what);
        if (idx < 0)
            return ETX_ERR;
        if (c->stamp[idx] == c->stamp_now)
            return etx_ydoc_fail(c->err, seq->items[i],
                                 "host '%s' is "
                                 "listed twice in %s",
                                 c->inv->hosts[idx].name, what);
        c->stamp[idx] = c->stamp_now;
        g->hosts[g->n_hosts++] = (size_t)idx;
    }
    return ETX_OK;
}

/* A group's transport applies to its hosts; two such groups conflict. */
static int
group_transport(struct etx_inventory__ctx *c, size_t gi,
                const struct etx_ydoc_node *list,
                const struct etx_ydoc_node *tnode)
{
    const struct etx_inv_group *g = &c->inv->groups[gi];
    size_t i, h;

    for (i = 0; i < g->n_hosts; i++) {
        h = g->hosts[i];
        if (c->tgroup[h] != NONE)
            return etx_ydoc_fail(c->err, list->items[i],
                                 "host '%s' gets a "
                                 "transport from group '%s' and from group "
                                 "'%s'; set it on the host instead",
                                 c->inv->hosts[h].name,
                                 c->inv->groups[c->tgroup[h]].name, g->name);
        c->tgroup[h] = gi;
        c->host_tnodes[h] = tnode;
    }
    return ETX_OK;
}

static const char *const group_keys[] = {"hosts", "transport", "vars", NULL};

static int
parse_group(struct etx_inventory__ctx *c, size_t gi,
            const struct etx_ydoc_node *key, const struct etx_ydoc_node *val)
{
    struct etx_inv_group *g = &c->inv->groups[gi];
    const struct etx_ydoc_node *list = val;
    const struct etx_ydoc_node *tnode = NULL;
    char what[300];

    if (etx_inventory__dup_name(c, key, "group name", "._-", &g->name) !=
        ETX_OK)
        return ETX_ERR;
    if (etx_inventory__find_ref(c->host_refs, c->inv->n_hosts, key->str) >= 0)
        return etx_ydoc_fail(c->err, key,
                             "group '%s' has the name of a "
                             "host; 'first', 'only' and 'exclude' need "
                             "distinct names",
                             key->str);
    snprintf(what, sizeof(what), "group '%s'", key->str);
    if (val->kind != ETX_YDOC_SEQUENCE) {
        if (etx_ydoc_check_keys(val, group_keys, what, c->err) != ETX_OK ||
            (list = etx_inventory__need(c, val, "hosts", what)) == NULL)
            return ETX_ERR;
        tnode = etx_ydoc_get(val, "transport");
    }
    if (host_list(c, list, what, g) != ETX_OK)
        return ETX_ERR;
    if (tnode != NULL)
        return group_transport(c, gi, list, tnode);
    return ETX_OK;
}

int
etx_inventory__parse_groups(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *m = etx_ydoc_get(c->root, "groups");
    struct etx_inventory *inv = c->inv;
    size_t i, n = m != NULL && m->kind == ETX_YDOC_MAPPING ? m->n : 0;

    c->names = calloc(inv->n_hosts + n, sizeof(*c->names));
    if (c->names == NULL)
        return etx_inventory__no_memory(c);
    for (i = 0; i < inv->n_hosts; i++)
        c->names[i] = inv->hosts[i].name;
    if (m == NULL || m->kind == ETX_YDOC_NULL)
        return ETX_OK;
    if (etx_ydoc_expect(m, ETX_YDOC_MAPPING, "groups", c->err) != ETX_OK)
        return ETX_ERR;
    inv->groups = calloc(n, sizeof(*inv->groups));
    c->group_refs = calloc(n, sizeof(*c->group_refs));
    if (inv->groups == NULL || c->group_refs == NULL)
        return etx_inventory__no_memory(c);
    for (i = 0; i < n; i++) {
        inv->n_groups = i + 1;
        if (parse_group(c, i, m->items[2 * i], m->items[2 * i + 1]) != ETX_OK)
            return ETX_ERR;
        c->group_refs[i] =
            (struct etx_inventory__name_ref){inv->groups[i].name, i};
        c->names[inv->n_hosts + i] = inv->groups[i].name;
    }
    qsort(c->group_refs, n, sizeof(*c->group_refs), etx_inventory__ref_cmp);
    return ETX_OK;
}

static void
transport_clear(struct etx_inv_transport *t)
{
    free(t->key_file);
    free(t->user);
    free(t->identity_file);
    free(t->known_hosts);
    free(t->agent_path);
    free(t->agent_config);
    free(t->push_dir);
    memset(t, 0, sizeof(*t));
}

/* The built-in settings of a transport of kind k. */
static int
transport_reset(struct etx_inventory__ctx *c, struct etx_inv_transport *t,
                enum etx_transport_kind k)
{
    transport_clear(t);
    t->kind = k;
    t->host_key = ETX_HOST_KEY_STRICT;
    t->port = k == ETX_TRANSPORT_AGENT ? 7420 : 22;
    if (k == ETX_TRANSPORT_SSH) {
        t->known_hosts = strdup("~/.ssh/known_hosts");
        t->agent_path = strdup("etxroll-agent");
        t->agent_config = strdup("/etc/etxroll/agent.yml");
        t->push_dir = strdup(".cache/etxroll");
        if (t->known_hosts == NULL || t->agent_path == NULL ||
            t->agent_config == NULL || t->push_dir == NULL)
            return etx_inventory__no_memory(c);
    }
    return ETX_OK;
}

static const char *const transport_keys[] = {
    "kind",          "port",        "key_file", "user",
    "identity_file", "known_hosts", "host_key", "agent_path",
    "agent_config",  "push_agent",  "push_dir", NULL};

/* Whether a transport key other than kind and port fits kind k. */
static bool
key_fits(const char *key, enum etx_transport_kind k)
{
    if (strcmp(key, "port") == 0)
        return true;
    if (strcmp(key, "key_file") == 0)
        return k == ETX_TRANSPORT_AGENT;
    return k == ETX_TRANSPORT_SSH;
}

static int
set_transport_key(struct etx_inventory__ctx *c, struct etx_inv_transport *t,
                  const struct etx_ydoc_node *key,
                  const struct etx_ydoc_node *v)
{
    const char *k = key->str;
    uint64_t port = 0;
    int hk = 0;

    if (!key_fits(k, t->kind))
        return etx_ydoc_fail(c->err, key,
                             "'%s' does not apply to the %s "
                             "transport",
                             k, etx_inventory_transport_name(t->kind));
    if (strcmp(k, "port") == 0) {
        if (etx_ydoc_uint(v, k, 1, 65535, &port, c->err) != ETX_OK)
            return ETX_ERR;
        t->port = (uint16_t)port;
        return ETX_OK;
    }
    if (strcmp(k, "host_key") == 0) {
        if (etx_ydoc_choice(v, k, host_key_names, &hk, c->err) != ETX_OK)
            return ETX_ERR;
        t->host_key = (enum etx_host_key_policy)hk;
        return ETX_OK;
    }
    if (strcmp(k, "push_agent") == 0)
        return etx_ydoc_bool(v, k, &t->push_agent, c->err);
    if (strcmp(k, "user") == 0)
        return etx_inventory__dup_word(c, v, k, &t->user);
    if (strcmp(k, "agent_path") == 0)
        return etx_inventory__dup_word(c, v, k, &t->agent_path);
    if (strcmp(k, "agent_config") == 0)
        return etx_inventory__dup_word(c, v, k, &t->agent_config);
    if (strcmp(k, "push_dir") == 0)
        return etx_inventory__dup_word(c, v, k, &t->push_dir);
    if (strcmp(k, "key_file") == 0)
        return etx_inventory__dup_path(c, v, k, &t->key_file);
    if (strcmp(k, "identity_file") == 0)
        return etx_inventory__dup_path(c, v, k, &t->identity_file);
    return etx_inventory__dup_path(c, v, k, &t->known_hosts);
}

/* Lay one transport mapping over t; a different kind starts afresh. */
static int
apply_transport(struct etx_inventory__ctx *c, struct etx_inv_transport *t,
                const struct etx_ydoc_node *n)
{
    int kind = (int)t->kind;
    size_t i;

    if (etx_ydoc_check_keys(n, transport_keys, "transport", c->err) != ETX_OK ||
        etx_inventory__get_enum(c, n, "kind", etx_inventory__transport_names,
                                &kind) != ETX_OK)
        return ETX_ERR;
    if (kind != (int)t->kind &&
        transport_reset(c, t, (enum etx_transport_kind)kind) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < n->n; i++) {
        if (strcmp(n->items[2 * i]->str, "kind") == 0)
            continue;
        if (set_transport_key(c, t, n->items[2 * i], n->items[2 * i + 1]) !=
            ETX_OK)
            return ETX_ERR;
    }
    return ETX_OK;
}

static const char *const defaults_keys[] = {"transport", "vars", NULL};

/* defaults < group < host, for every host. */
int
etx_inventory__parse_transports(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *d = etx_ydoc_get(c->root, "defaults");
    const struct etx_ydoc_node *layers[3] = {NULL, NULL, NULL};
    struct etx_inv_host *h = NULL;
    size_t i, j;

    if (d != NULL &&
        etx_ydoc_check_keys(d, defaults_keys, "defaults", c->err) != ETX_OK)
        return ETX_ERR;
    layers[0] = etx_ydoc_get(d, "transport");
    for (i = 0; i < c->inv->n_hosts; i++) {
        h = &c->inv->hosts[i];
        layers[1] = c->host_tnodes[i];
        layers[2] = etx_ydoc_get(c->hosts_map->items[2 * i + 1], "transport");
        if (transport_reset(c, &h->transport, ETX_TRANSPORT_AGENT) != ETX_OK)
            return ETX_ERR;
        for (j = 0; j < 3; j++)
            if (layers[j] != NULL &&
                apply_transport(c, &h->transport, layers[j]) != ETX_OK)
                return ETX_ERR;
        if (h->transport.kind == ETX_TRANSPORT_AGENT &&
            h->transport.key_file == NULL)
            return etx_ydoc_fail(c->err, c->hosts_map->items[2 * i],
                                 "host '%s' uses the agent transport but no "
                                 "key_file is set (in defaults, a group or "
                                 "the host)",
                                 h->name);
    }
    return ETX_OK;
}

static const char *const storage_keys[] = {"hosts", NULL};

/* One storage group; c->tgroup[h] records which one host h is in. */
static int
parse_storage_group(struct etx_inventory__ctx *c, size_t si,
                    const struct etx_ydoc_node *key,
                    const struct etx_ydoc_node *val)
{
    struct etx_inventory *inv = c->inv;
    struct etx_inv_group *g = &inv->storage_groups[si];
    const struct etx_ydoc_node *list = NULL;
    char what[300];
    size_t j, h;

    if (etx_inventory__dup_name(c, key, "storage group name", "._-",
                                &g->name) != ETX_OK)
        return ETX_ERR;
    snprintf(what, sizeof(what), "storage group '%s'", g->name);
    if (etx_ydoc_check_keys(val, storage_keys, what, c->err) != ETX_OK ||
        (list = etx_inventory__need(c, val, "hosts", what)) == NULL ||
        host_list(c, list, what, g) != ETX_OK)
        return ETX_ERR;
    for (j = 0; j < g->n_hosts; j++) {
        h = g->hosts[j];
        if (c->tgroup[h] != NONE)
            return etx_ydoc_fail(c->err, list->items[j],
                                 "host '%s' is in "
                                 "storage groups '%s' and '%s'; a host "
                                 "sees one shared storage",
                                 inv->hosts[h].name,
                                 inv->storage_groups[c->tgroup[h]].name,
                                 g->name);
        c->tgroup[h] = si;
    }
    return ETX_OK;
}

int
etx_inventory__parse_storage_groups(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *m = etx_ydoc_get(c->root, "storage_groups");
    struct etx_inventory *inv = c->inv;
    size_t i;

    if (m == NULL || m->kind == ETX_YDOC_NULL)
        return ETX_OK;
    if (etx_ydoc_expect(m, ETX_YDOC_MAPPING, "storage_groups", c->err) !=
        ETX_OK)
        return ETX_ERR;
    inv->storage_groups = calloc(m->n, sizeof(*inv->storage_groups));
    if (inv->storage_groups == NULL)
        return etx_inventory__no_memory(c);
    for (i = 0; i < inv->n_hosts; i++)
        c->tgroup[i] = NONE; /* reused: the storage group of each host */
    for (i = 0; i < m->n; i++) {
        inv->n_storage_groups = i + 1;
        if (parse_storage_group(c, i, m->items[2 * i], m->items[2 * i + 1]) !=
            ETX_OK)
            return ETX_ERR;
    }
    return ETX_OK;
}

/* One colour: a group name or a list of hosts, into g. */
static int
parse_colour(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
             const char *what, struct etx_inv_group *g)
{
    const struct etx_inv_group *src = NULL;
    long gi;

    g->name = strdup(what + strlen("blue_green."));
    if (g->name == NULL)
        return etx_inventory__no_memory(c);
    if (n->kind != ETX_YDOC_SCALAR)
        return host_list(c, n, what, g);
    gi = etx_inventory__find_ref(c->group_refs, c->inv->n_groups, n->str);
    if (gi < 0)
        return etx_ydoc_fail(c->err, n,
                             "unknown group '%.64s' for '%s': "
                             "expected a group name or a list of hosts",
                             n->str, what);
    src = &c->inv->groups[gi];
    g->hosts = calloc(src->n_hosts, sizeof(*g->hosts));
    if (g->hosts == NULL)
        return etx_inventory__no_memory(c);
    memcpy(g->hosts, src->hosts, src->n_hosts * sizeof(*g->hosts));
    g->n_hosts = src->n_hosts;
    return ETX_OK;
}

static const char *const blue_green_keys[] = {"blue", "green", "live", NULL};

int
etx_inventory__parse_blue_green(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *b = etx_ydoc_get(c->root, "blue_green");
    const struct etx_ydoc_node *blue = NULL, *green = NULL, *live = NULL;
    struct etx_inv_blue_green *bg = &c->inv->blue_green;
    int colour = 0;
    size_t i;

    if (b == NULL || b->kind == ETX_YDOC_NULL)
        return ETX_OK;
    if (etx_ydoc_check_keys(b, blue_green_keys, "blue_green", c->err) !=
            ETX_OK ||
        (blue = etx_inventory__need(c, b, "blue", "blue_green")) == NULL ||
        (green = etx_inventory__need(c, b, "green", "blue_green")) == NULL ||
        (live = etx_inventory__need(c, b, "live", "blue_green")) == NULL ||
        etx_ydoc_choice(live, "live", colour_names, &colour, c->err) !=
            ETX_OK ||
        parse_colour(c, blue, "blue_green.blue", &bg->blue) != ETX_OK ||
        parse_colour(c, green, "blue_green.green", &bg->green) != ETX_OK)
        return ETX_ERR;
    c->stamp_now++;
    for (i = 0; i < bg->blue.n_hosts; i++)
        c->stamp[bg->blue.hosts[i]] = c->stamp_now;
    for (i = 0; i < bg->green.n_hosts; i++)
        if (c->stamp[bg->green.hosts[i]] == c->stamp_now)
            return etx_ydoc_fail(
                c->err,
                green->kind == ETX_YDOC_SEQUENCE ? green->items[i] : green,
                "host '%s' is both blue and green",
                c->inv->hosts[bg->green.hosts[i]].name);
    bg->enabled = true;
    bg->live_is_blue = colour == 0;
    return ETX_OK;
}

static void
group_free(struct etx_inv_group *g)
{
    free(g->name);
    free(g->hosts);
}

void
etx_inventory__free_hosts(struct etx_inventory *inv)
{
    size_t i;

    for (i = 0; i < inv->n_hosts; i++) {
        free(inv->hosts[i].name);
        free(inv->hosts[i].address);
        transport_clear(&inv->hosts[i].transport);
        etx_inventory__free_host_vars(inv, &inv->hosts[i]);
    }
    free(inv->hosts);
    for (i = 0; i < inv->n_groups; i++)
        group_free(&inv->groups[i]);
    free(inv->groups);
    for (i = 0; i < inv->n_storage_groups; i++)
        group_free(&inv->storage_groups[i]);
    free(inv->storage_groups);
    group_free(&inv->blue_green.blue);
    group_free(&inv->blue_green.green);
}
