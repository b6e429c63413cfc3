/* SPDX-License-Identifier: MIT */
/*
 * The inventory loader: walks the YAML tree of proto/ydoc.h into the typed
 * model of inventory.h, section by section, and validates the whole (names,
 * references between sections, strategy requirements). Every error names
 * file:line:col of the offending node; docs/inventory.md lists every key.
 */
#include "coordinator/inventory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/digest.h"
#include "proto/units.h"
#include "proto/ydoc.h"

#define NAME_MAX_LEN    253 /* a DNS name; also a file name component */
#define AMOUNT_MAX      1000000u
#define NONE            ((size_t)-1)
#define DEFAULT_TIMEOUT (60u * 1000)

/* A name and its index, sorted by name for lookups in O(log n). */
struct name_ref {
    const char *name;
    size_t idx;
};

struct ctx {
    struct etx_inventory *inv;
    const char *dir; /* prefix for relative paths, or NULL */
    struct etx_error *err;
    const struct etx_ydoc_node *root;
    const struct etx_ydoc_node *hosts_map;    /* the 'hosts' mapping */
    const struct etx_ydoc_node **host_tnodes; /* per host: group transport */
    size_t *tgroup; /* per host: the group giving that transport */
    size_t *stamp;  /* per host: last list that named it */
    size_t stamp_now;
    struct name_ref *host_refs;
    struct name_ref *group_refs;
    const char **names; /* host then group names, for did-you-mean */
};

static const char *const strategy_names[] = {"rename", "generations",
                                             "release-dir", NULL};
static const char *const transport_names[] = {"agent", "ssh", NULL};
static const char *const host_key_names[] = {"strict", "accept-new", NULL};
static const char *const order_names[] = {"inventory", "sorted", "shuffled",
                                          NULL};
static const char *const jitter_names[] = {"full", "equal", "none", NULL};
static const char *const on_failure_names[] = {"rollback", "halt", NULL};
static const char *const colour_names[] = {"blue", "green", NULL};

static int
no_memory(struct ctx *c)
{
    return etx_error_set(c->err, ETX_CLASS_INPUT, ENOMEM, "inventory",
                         c->inv->path, "out of memory");
}

/* The value of a required key, or NULL with err filled at the mapping. */
static const struct etx_ydoc_node *
need(struct ctx *c, const struct etx_ydoc_node *map, const char *key,
     const char *what)
{
    const struct etx_ydoc_node *v = etx_ydoc_get(map, key);

    if (v == NULL)
        etx_ydoc_fail(c->err, map, "missing required key '%s' in %s", key,
                      what);
    return v;
}

static bool
name_char(char ch, const char *extra)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || (ch != '\0' && strchr(extra, ch));
}

/* A name used in file names: letters, digits and 'extra', not . or .. */
static int
check_name(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
           const char *extra)
{
    size_t i;

    if (n->kind != ETX_YDOC_SCALAR || n->len == 0)
        return etx_ydoc_fail(c->err, n, "expected a name for %s, found %s",
                             what, etx_ydoc_kind_name(n));
    for (i = 0; i < n->len && name_char(n->str[i], extra); i++)
        continue;
    if (i < n->len || n->len > NAME_MAX_LEN || strcmp(n->str, ".") == 0 ||
        strcmp(n->str, "..") == 0)
        return etx_ydoc_fail(c->err, n,
                             "bad %s '%.64s': use 1 to %u "
                             "letters, digits or '%s' (not . or ..)",
                             what, n->str, NAME_MAX_LEN, extra);
    return ETX_OK;
}

static int
dup_name(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
         const char *extra, char **out)
{
    if (check_name(c, n, what, extra) != ETX_OK)
        return ETX_ERR;
    *out = strdup(n->str);
    return *out == NULL ? no_memory(c) : ETX_OK;
}

static int
ref_cmp(const void *a, const void *b)
{
    return strcmp(((const struct name_ref *)a)->name,
                  ((const struct name_ref *)b)->name);
}

static long
find_ref(const struct name_ref *refs, size_t n, const char *name)
{
    struct name_ref key = {name, 0};
    const struct name_ref *r = NULL;

    if (n == 0)
        return -1;
    r = bsearch(&key, refs, n, sizeof(*refs), ref_cmp);
    return r == NULL ? -1 : (long)r->idx;
}

/* 'rel' resolved against the inventory's directory, in a new string. */
static char *
resolve(struct ctx *c, const char *rel)
{
    char *out = NULL;
    size_t len;

    if (rel[0] == '/' || rel[0] == '~' || c->dir == NULL)
        return strdup(rel);
    len = strlen(c->dir) + strlen(rel) + 2;
    out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s/%s", c->dir, rel);
    return out;
}

/* A string that must not contain blanks or control characters. */
static int
get_word(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
         const char **out)
{
    size_t i;

    if (etx_ydoc_string(n, what, out, c->err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < n->len; i++)
        if ((unsigned char)n->str[i] <= ' ' || n->str[i] == 0x7f)
            return etx_ydoc_fail(c->err, n,
                                 "expected no blanks or control "
                                 "characters in '%s'",
                                 what);
    return ETX_OK;
}

static int
dup_word(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
         char **out)
{
    const char *s = NULL;
    char *copy = NULL;

    if (get_word(c, n, what, &s) != ETX_OK)
        return ETX_ERR;
    copy = strdup(s);
    if (copy == NULL)
        return no_memory(c);
    free(*out); /* a layer may replace an inherited value */
    *out = copy;
    return ETX_OK;
}

/* A path resolved against the inventory's directory. */
static int
dup_path(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
         char **out)
{
    const char *s = NULL;
    char *p = NULL;

    if (get_word(c, n, what, &s) != ETX_OK)
        return ETX_ERR;
    p = resolve(c, s);
    if (p == NULL)
        return no_memory(c);
    free(*out);
    *out = p;
    return ETX_OK;
}

static int
positive_duration(struct ctx *c, const struct etx_ydoc_node *n,
                  const char *what, uint64_t *ms)
{
    if (etx_ydoc_duration(n, what, ms, c->err) != ETX_OK)
        return ETX_ERR;
    if (*ms == 0)
        return etx_ydoc_fail(c->err, n,
                             "expected a duration above 0 for "
                             "'%s', found '%s'",
                             what, n->str);
    return ETX_OK;
}

static int
get_enum(struct ctx *c, const struct etx_ydoc_node *map, const char *key,
         const char *const *names, int *out)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(map, key);

    if (n == NULL)
        return ETX_OK;
    return etx_ydoc_choice(n, key, names, out, c->err);
}

/* argv for a command run without a shell: argv[0] must be absolute. */
static int
get_argv(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
         size_t *argc, char ***argv)
{
    if (etx_ydoc_strv(n, what, argc, argv, c->err) != ETX_OK)
        return ETX_ERR;
    if ((*argv)[0][0] != '/')
        return etx_ydoc_fail(c->err, n->items[0],
                             "expected an absolute "
                             "path as the first word of '%s' (it runs "
                             "without a shell), found '%.64s'",
                             what, (*argv)[0]);
    return ETX_OK;
}

/* A count or a percent string, either at least 'min'. */
static int
get_amount(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
           unsigned min, struct etx_inv_amount *a)
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
parse_version(struct ctx *c)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(c->root, "version");
    uint64_t v = 0;

    if (n == NULL)
        return etx_ydoc_fail(c->err, c->root,
                             "missing required key "
                             "'version' in the inventory (this etxroll "
                             "reads version %u)",
                             ETX_INVENTORY_VERSION);
    if (etx_ydoc_uint(n, "version", 0, UINT32_MAX, &v, c->err) != ETX_OK)
        return ETX_ERR;
    if (v != ETX_INVENTORY_VERSION)
        return etx_ydoc_fail(c->err, n,
                             "unsupported inventory version %llu; "
                             "this etxroll reads version %u",
                             (unsigned long long)v, ETX_INVENTORY_VERSION);
    c->inv->version = (unsigned)v;
    return ETX_OK;
}

static int
parse_fleet(struct ctx *c)
{
    const struct etx_ydoc_node *n = need(c, c->root, "fleet", "the inventory");

    if (n == NULL)
        return ETX_ERR;
    return dup_name(c, n, "fleet name", "._-", &c->inv->fleet);
}

static const char *const host_keys[] = {"address", "transport", NULL};

static int
parse_host(struct ctx *c, const struct etx_ydoc_node *key,
           const struct etx_ydoc_node *val, struct etx_inv_host *h)
{
    const struct etx_ydoc_node *addr = NULL;
    char what[300];

    if (dup_name(c, key, "host name", "._-", &h->name) != ETX_OK)
        return ETX_ERR;
    h->line = key->line;
    h->col = key->col;
    snprintf(what, sizeof(what), "host '%s'", key->str);
    if (val->kind != ETX_YDOC_NULL &&
        etx_ydoc_check_keys(val, host_keys, what, c->err) != ETX_OK)
        return ETX_ERR;
    addr = etx_ydoc_get(val, "address");
    if (addr != NULL)
        return dup_word(c, addr, "address", &h->address);
    h->address = strdup(key->str); /* the name is the address */
    return h->address == NULL ? no_memory(c) : ETX_OK;
}

static int
parse_hosts(struct ctx *c)
{
    const struct etx_ydoc_node *m = need(c, c->root, "hosts", "the inventory");
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
        return no_memory(c);
    for (i = 0; i < n; i++) {
        inv->n_hosts = i + 1; /* so that free sees what was built */
        if (parse_host(c, m->items[2 * i], m->items[2 * i + 1],
                       &inv->hosts[i]) != ETX_OK)
            return ETX_ERR;
        c->host_refs[i] = (struct name_ref){inv->hosts[i].name, i};
        c->tgroup[i] = NONE;
    }
    qsort(c->host_refs, n, sizeof(*c->host_refs), ref_cmp);
    return ETX_OK;
}

/* The host named by n, or -1 with err filled ("unknown host ..."). */
static long
host_ref(struct ctx *c, const struct etx_ydoc_node *n, const char *what)
{
    const char *name = NULL;
    const char *dym = NULL;
    long idx;

    if (etx_ydoc_string(n, "host", &name, c->err) != ETX_OK)
        return -1;
    idx = find_ref(c->host_refs, c->inv->n_hosts, name);
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
host_list(struct ctx *c, const struct etx_ydoc_node *seq, const char *what,
          struct etx_inv_group *g)
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
        return no_memory(c);
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
group_transport(struct ctx *c, size_t gi, const struct etx_ydoc_node *list,
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

static const char *const group_keys[] = {"hosts", "transport", NULL};

static int
parse_group(struct ctx *c, size_t gi, const struct etx_ydoc_node *key,
            const struct etx_ydoc_node *val)
{
    struct etx_inv_group *g = &c->inv->groups[gi];
    const struct etx_ydoc_node *list = val;
    const struct etx_ydoc_node *tnode = NULL;
    char what[300];

    if (dup_name(c, key, "group name", "._-", &g->name) != ETX_OK)
        return ETX_ERR;
    if (find_ref(c->host_refs, c->inv->n_hosts, key->str) >= 0)
        return etx_ydoc_fail(c->err, key,
                             "group '%s' has the name of a "
                             "host; 'first', 'only' and 'exclude' need "
                             "distinct names",
                             key->str);
    snprintf(what, sizeof(what), "group '%s'", key->str);
    if (val->kind != ETX_YDOC_SEQUENCE) {
        if (etx_ydoc_check_keys(val, group_keys, what, c->err) != ETX_OK ||
            (list = need(c, val, "hosts", what)) == NULL)
            return ETX_ERR;
        tnode = etx_ydoc_get(val, "transport");
    }
    if (host_list(c, list, what, g) != ETX_OK)
        return ETX_ERR;
    if (tnode != NULL)
        return group_transport(c, gi, list, tnode);
    return ETX_OK;
}

static int
parse_groups(struct ctx *c)
{
    const struct etx_ydoc_node *m = etx_ydoc_get(c->root, "groups");
    struct etx_inventory *inv = c->inv;
    size_t i, n = m != NULL && m->kind == ETX_YDOC_MAPPING ? m->n : 0;

    c->names = calloc(inv->n_hosts + n, sizeof(*c->names));
    if (c->names == NULL)
        return no_memory(c);
    for (i = 0; i < inv->n_hosts; i++)
        c->names[i] = inv->hosts[i].name;
    if (m == NULL || m->kind == ETX_YDOC_NULL)
        return ETX_OK;
    if (etx_ydoc_expect(m, ETX_YDOC_MAPPING, "groups", c->err) != ETX_OK)
        return ETX_ERR;
    inv->groups = calloc(n, sizeof(*inv->groups));
    c->group_refs = calloc(n, sizeof(*c->group_refs));
    if (inv->groups == NULL || c->group_refs == NULL)
        return no_memory(c);
    for (i = 0; i < n; i++) {
        inv->n_groups = i + 1;
        if (parse_group(c, i, m->items[2 * i], m->items[2 * i + 1]) != ETX_OK)
            return ETX_ERR;
        c->group_refs[i] = (struct name_ref){inv->groups[i].name, i};
        c->names[inv->n_hosts + i] = inv->groups[i].name;
    }
    qsort(c->group_refs, n, sizeof(*c->group_refs), ref_cmp);
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
    memset(t, 0, sizeof(*t));
}

/* The built-in settings of a transport of kind k. */
static int
transport_reset(struct ctx *c, struct etx_inv_transport *t,
                enum etx_transport_kind k)
{
    transport_clear(t);
    t->kind = k;
    t->host_key = ETX_HOST_KEY_STRICT;
    t->port = k == ETX_TRANSPORT_AGENT ? 7420 : 22;
    if (k == ETX_TRANSPORT_SSH) {
        t->known_hosts = strdup("~/.ssh/known_hosts");
        t->agent_path = strdup("etxroll-agent");
        if (t->known_hosts == NULL || t->agent_path == NULL)
            return no_memory(c);
    }
    return ETX_OK;
}

static const char *const transport_keys[] = {
    "kind",        "port",     "key_file",   "user",       "identity_file",
    "known_hosts", "host_key", "agent_path", "push_agent", NULL};

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
set_transport_key(struct ctx *c, struct etx_inv_transport *t,
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
        return dup_word(c, v, k, &t->user);
    if (strcmp(k, "agent_path") == 0)
        return dup_word(c, v, k, &t->agent_path);
    if (strcmp(k, "key_file") == 0)
        return dup_path(c, v, k, &t->key_file);
    if (strcmp(k, "identity_file") == 0)
        return dup_path(c, v, k, &t->identity_file);
    return dup_path(c, v, k, &t->known_hosts);
}

/* Lay one transport mapping over t; a different kind starts afresh. */
static int
apply_transport(struct ctx *c, struct etx_inv_transport *t,
                const struct etx_ydoc_node *n)
{
    int kind = (int)t->kind;
    size_t i;

    if (etx_ydoc_check_keys(n, transport_keys, "transport", c->err) != ETX_OK ||
        get_enum(c, n, "kind", transport_names, &kind) != ETX_OK)
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

static const char *const defaults_keys[] = {"transport", NULL};

/* defaults < group < host, for every host. */
static int
parse_transports(struct ctx *c)
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
parse_storage_group(struct ctx *c, size_t si, const struct etx_ydoc_node *key,
                    const struct etx_ydoc_node *val)
{
    struct etx_inventory *inv = c->inv;
    struct etx_inv_group *g = &inv->storage_groups[si];
    const struct etx_ydoc_node *list = NULL;
    char what[300];
    size_t j, h;

    if (dup_name(c, key, "storage group name", "._-", &g->name) != ETX_OK)
        return ETX_ERR;
    snprintf(what, sizeof(what), "storage group '%s'", g->name);
    if (etx_ydoc_check_keys(val, storage_keys, what, c->err) != ETX_OK ||
        (list = need(c, val, "hosts", what)) == NULL ||
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

static int
parse_storage_groups(struct ctx *c)
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
        return no_memory(c);
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

static bool
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* An http:// or https:// URL with something after the scheme. */
static int
get_url(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
        char **out)
{
    const char *s = NULL;

    if (get_word(c, n, what, &s) != ETX_OK)
        return ETX_ERR;
    if (!(starts_with(s, "http://") && s[7] != '\0') &&
        !(starts_with(s, "https://") && s[8] != '\0'))
        return etx_ydoc_fail(c->err, n,
                             "expected an http:// or https:// "
                             "URL for '%s', found '%.64s'",
                             what, s);
    *out = strdup(s);
    return *out == NULL ? no_memory(c) : ETX_OK;
}

static const char *const artifact_keys[] = {"path", "url", "sha256", "version",
                                            NULL};

static int
parse_artifact_sum(struct ctx *c, const struct etx_ydoc_node *a)
{
    const struct etx_ydoc_node *sum = etx_ydoc_get(a, "sha256");
    const struct etx_ydoc_node *ver = etx_ydoc_get(a, "version");
    struct etx_inv_artifact *art = &c->inv->artifact;

    if (sum == NULL && art->url != NULL)
        return etx_ydoc_fail(c->err, a,
                             "an artifact 'url' needs its "
                             "'sha256' (64 lower-case hex characters)");
    if (sum != NULL) {
        if (etx_ydoc_expect(sum, ETX_YDOC_SCALAR, "sha256", c->err) != ETX_OK)
            return ETX_ERR;
        if (!etx_digest_is_hex(sum->str))
            return etx_ydoc_fail(c->err, sum,
                                 "bad sha256 '%.64s': expected "
                                 "64 lower-case hex characters",
                                 sum->str);
        memcpy(art->sha256, sum->str, ETX_DIGEST_HEX_LEN + 1);
    }
    if (ver == NULL)
        return ETX_OK;
    return dup_name(c, ver, "artifact version", "._+-", &art->version);
}

static int
parse_artifact(struct ctx *c)
{
    const struct etx_ydoc_node *a =
        need(c, c->root, "artifact", "the inventory");
    const struct etx_ydoc_node *path = NULL;
    const struct etx_ydoc_node *url = NULL;
    struct etx_inv_artifact *art = &c->inv->artifact;

    if (a == NULL ||
        etx_ydoc_check_keys(a, artifact_keys, "artifact", c->err) != ETX_OK)
        return ETX_ERR;
    path = etx_ydoc_get(a, "path");
    url = etx_ydoc_get(a, "url");
    if (path != NULL && url != NULL)
        return etx_ydoc_fail(c->err, url,
                             "an artifact has either 'path' or "
                             "'url', not both");
    if (path == NULL && url == NULL)
        return etx_ydoc_fail(c->err, a,
                             "an artifact needs 'path' (a local "
                             "file) or 'url' (that the agents pull)");
    if (path != NULL && dup_path(c, path, "path", &art->path) != ETX_OK)
        return ETX_ERR;
    if (url != NULL && get_url(c, url, "url", &art->url) != ETX_OK)
        return ETX_ERR;
    return parse_artifact_sum(c, a);
}

static const char *const target_keys[] = {"path",  "strategy", "mode", "owner",
                                          "group", "keep",     NULL};

static int
parse_target_owner(struct ctx *c, const struct etx_ydoc_node *t)
{
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_target *tg = &c->inv->target;
    uint64_t keep = 3;

    if ((n = etx_ydoc_get(t, "mode")) != NULL) {
        if (etx_ydoc_mode(n, "mode", &tg->mode, c->err) != ETX_OK)
            return ETX_ERR;
        tg->mode_set = true;
    }
    if ((n = etx_ydoc_get(t, "owner")) != NULL &&
        dup_name(c, n, "owner", "._-", &tg->owner) != ETX_OK)
        return ETX_ERR;
    if ((n = etx_ydoc_get(t, "group")) != NULL &&
        dup_name(c, n, "group", "._-", &tg->group) != ETX_OK)
        return ETX_ERR;
    if ((n = etx_ydoc_get(t, "keep")) != NULL &&
        etx_ydoc_uint(n, "keep", 2, 1000, &keep, c->err) != ETX_OK)
        return ETX_ERR;
    tg->keep = (unsigned)keep;
    return ETX_OK;
}

static int
parse_target(struct ctx *c)
{
    const struct etx_ydoc_node *t = need(c, c->root, "target", "the inventory");
    const struct etx_ydoc_node *path = NULL;
    const struct etx_ydoc_node *strat = NULL;
    struct etx_inv_target *tg = &c->inv->target;
    int s = ETX_STRATEGY_RENAME;

    if (t == NULL ||
        etx_ydoc_check_keys(t, target_keys, "target", c->err) != ETX_OK ||
        (path = need(c, t, "path", "target")) == NULL ||
        dup_word(c, path, "path", &tg->path) != ETX_OK)
        return ETX_ERR;
    if (etx_units_abs_path(tg->path, NULL) != ETX_OK)
        return etx_ydoc_fail(c->err, path,
                             "expected an absolute path for "
                             "the target, without '.', '..', '//' or a "
                             "trailing '/', found '%.64s'",
                             tg->path);
    strat = etx_ydoc_get(t, "strategy");
    if (strat != NULL && etx_ydoc_choice(strat, "strategy", strategy_names, &s,
                                         c->err) != ETX_OK)
        return ETX_ERR;
    tg->strategy = (enum etx_strategy)s;
    if (tg->strategy != ETX_STRATEGY_RENAME && c->inv->artifact.version == NULL)
        return etx_ydoc_fail(c->err, strat,
                             "strategy '%s' needs "
                             "artifact.version (it names each %s)",
                             strategy_names[s],
                             s == ETX_STRATEGY_GENERATIONS ? "generation"
                                                           : "release");
    return parse_target_owner(c, t);
}

/* A systemd unit name: no path, no blank, not an option. */
static int
check_unit(struct ctx *c, const struct etx_ydoc_node *n)
{
    const char *why = NULL;

    if (etx_ydoc_expect(n, ETX_YDOC_SCALAR, "unit", c->err) != ETX_OK)
        return ETX_ERR;
    if (etx_units_unit_name(n->str, &why) != ETX_OK)
        return etx_ydoc_fail(c->err, n, "bad unit name '%.64s': %s", n->str,
                             why);
    return ETX_OK;
}

static const char *const restart_keys[] = {"unit", "command", "timeout", NULL};

static int
parse_restart(struct ctx *c)
{
    const struct etx_ydoc_node *r = etx_ydoc_get(c->root, "restart");
    const struct etx_ydoc_node *unit = NULL;
    const struct etx_ydoc_node *cmd = NULL;
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_restart *rs = &c->inv->restart;

    rs->timeout_ms = DEFAULT_TIMEOUT;
    if (r == NULL || r->kind == ETX_YDOC_NULL)
        return ETX_OK;
    if (etx_ydoc_check_keys(r, restart_keys, "restart", c->err) != ETX_OK)
        return ETX_ERR;
    unit = etx_ydoc_get(r, "unit");
    cmd = etx_ydoc_get(r, "command");
    if ((unit == NULL) == (cmd == NULL))
        return etx_ydoc_fail(c->err, unit != NULL ? cmd : r,
                             "restart needs "
                             "either 'unit' or 'command'%s",
                             unit != NULL ? ", not both" : "");
    if (unit != NULL) {
        rs->kind = ETX_RESTART_UNIT;
        if (check_unit(c, unit) != ETX_OK ||
            dup_word(c, unit, "unit", &rs->unit) != ETX_OK)
            return ETX_ERR;
    } else {
        rs->kind = ETX_RESTART_COMMAND;
        if (get_argv(c, cmd, "command", &rs->argc, &rs->argv) != ETX_OK)
            return ETX_ERR;
    }
    n = etx_ydoc_get(r, "timeout");
    if (n != NULL &&
        positive_duration(c, n, "timeout", &rs->timeout_ms) != ETX_OK)
        return ETX_ERR;
    return ETX_OK;
}

static const char *const http_keys[] = {"url", "status", "body_contains", NULL};

static int
parse_http(struct ctx *c, const struct etx_ydoc_node *h)
{
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_health *hl = &c->inv->health;
    uint64_t status = 200;

    if (etx_ydoc_check_keys(h, http_keys, "health.http", c->err) != ETX_OK ||
        (n = need(c, h, "url", "health.http")) == NULL ||
        get_url(c, n, "url", &hl->http_url) != ETX_OK)
        return ETX_ERR;
    if ((n = etx_ydoc_get(h, "status")) != NULL &&
        etx_ydoc_uint(n, "status", 100, 599, &status, c->err) != ETX_OK)
        return ETX_ERR;
    hl->http_status = (unsigned)status;
    if ((n = etx_ydoc_get(h, "body_contains")) != NULL)
        return etx_ydoc_strdup(n, "body_contains", &hl->http_body_contains,
                               c->err);
    return ETX_OK;
}

/* "host:port" or "[v6]:port", port 1..65535. */
static int
parse_tcp(struct ctx *c, const struct etx_ydoc_node *t)
{
    static const char *const tcp_keys[] = {"address", NULL};
    const struct etx_ydoc_node *n = NULL;
    const char *why = NULL;
    uint16_t port = 0;

    if (etx_ydoc_check_keys(t, tcp_keys, "health.tcp", c->err) != ETX_OK ||
        (n = need(c, t, "address", "health.tcp")) == NULL ||
        dup_word(c, n, "address", &c->inv->health.tcp_address) != ETX_OK)
        return ETX_ERR;
    if (etx_units_host_port(n->str, NULL, 0, &port, &why) != ETX_OK)
        return etx_ydoc_fail(c->err, n,
                             "bad address '%.64s' for 'address': "
                             "%s",
                             n->str, why);
    return ETX_OK;
}

static const char *const health_keys[] = {"http",     "tcp",     "exec",
                                          "interval", "timeout", "consecutive",
                                          "deadline", NULL};

static int
parse_health_timing(struct ctx *c, const struct etx_ydoc_node *h)
{
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_health *hl = &c->inv->health;
    uint64_t cons = 3;

    if (((n = etx_ydoc_get(h, "interval")) != NULL &&
         positive_duration(c, n, "interval", &hl->interval_ms) != ETX_OK) ||
        ((n = etx_ydoc_get(h, "timeout")) != NULL &&
         positive_duration(c, n, "timeout", &hl->timeout_ms) != ETX_OK) ||
        ((n = etx_ydoc_get(h, "deadline")) != NULL &&
         positive_duration(c, n, "deadline", &hl->deadline_ms) != ETX_OK) ||
        ((n = etx_ydoc_get(h, "consecutive")) != NULL &&
         etx_ydoc_uint(n, "consecutive", 1, 1000, &cons, c->err) != ETX_OK))
        return ETX_ERR;
    hl->consecutive = (unsigned)cons;
    return ETX_OK;
}

static int
parse_health(struct ctx *c)
{
    const struct etx_ydoc_node *h = etx_ydoc_get(c->root, "health");
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_health *hl = &c->inv->health;

    hl->http_status = 200;
    hl->interval_ms = 1000;
    hl->timeout_ms = 2000;
    hl->consecutive = 3;
    hl->deadline_ms = DEFAULT_TIMEOUT;
    if (h == NULL || h->kind == ETX_YDOC_NULL)
        return ETX_OK;
    if (etx_ydoc_check_keys(h, health_keys, "health", c->err) != ETX_OK)
        return ETX_ERR;
    if (etx_ydoc_get(h, "http") == NULL && etx_ydoc_get(h, "tcp") == NULL &&
        etx_ydoc_get(h, "exec") == NULL)
        return etx_ydoc_fail(c->err, h,
                             "health needs at least one probe: "
                             "http, tcp or exec");
    hl->enabled = true;
    if (((n = etx_ydoc_get(h, "http")) != NULL && parse_http(c, n) != ETX_OK) ||
        ((n = etx_ydoc_get(h, "tcp")) != NULL && parse_tcp(c, n) != ETX_OK))
        return ETX_ERR;
    if ((n = etx_ydoc_get(h, "exec")) != NULL) {
        static const char *const exec_keys[] = {"command", NULL};
        if (etx_ydoc_check_keys(n, exec_keys, "health.exec", c->err) !=
                ETX_OK ||
            (n = need(c, n, "command", "health.exec")) == NULL ||
            get_argv(c, n, "command", &hl->exec_argc, &hl->exec_argv) != ETX_OK)
            return ETX_ERR;
    }
    return parse_health_timing(c, h);
}

static int
parse_sizes(struct ctx *c, const struct etx_ydoc_node *n)
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
        return no_memory(c);
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
parse_gates(struct ctx *c, const struct etx_ydoc_node *n)
{
    struct etx_inv_batches *b = &c->inv->batches;
    uint64_t v = 0;
    size_t i;

    if (etx_ydoc_expect(n, ETX_YDOC_SEQUENCE, "gate_after", c->err) != ETX_OK)
        return ETX_ERR;
    b->gate_after = calloc(n->n + 1, sizeof(*b->gate_after));
    if (b->gate_after == NULL)
        return no_memory(c);
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
name_list(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
          size_t *count, char ***out)
{
    const struct etx_inventory *inv = c->inv;
    const char *dym = NULL;
    size_t i;

    if (etx_ydoc_strv(n, what, count, out, c->err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < *count; i++) {
        if (find_ref(c->host_refs, inv->n_hosts, (*out)[i]) >= 0 ||
            find_ref(c->group_refs, inv->n_groups, (*out)[i]) >= 0)
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
parse_first(struct ctx *c, const struct etx_ydoc_node *n)
{
    const struct etx_inventory *inv = c->inv;
    const char *name = NULL;
    const char *dym = NULL;

    if (etx_ydoc_string(n, "first", &name, c->err) != ETX_OK)
        return ETX_ERR;
    if (find_ref(c->group_refs, inv->n_groups, name) < 0) {
        dym =
            etx_ydoc_did_you_mean(name, c->names + inv->n_hosts, inv->n_groups);
        return etx_ydoc_fail(c->err, n,
                             "unknown group '%.64s' for "
                             "'first'%s%s%s",
                             name, dym != NULL ? "; did you mean '" : "",
                             dym != NULL ? dym : "", dym != NULL ? "'?" : "");
    }
    c->inv->batches.first = strdup(name);
    return c->inv->batches.first == NULL ? no_memory(c) : ETX_OK;
}

static int
parse_order(struct ctx *c, const struct etx_ydoc_node *b)
{
    struct etx_inv_batches *bt = &c->inv->batches;
    const struct etx_ydoc_node *seed = etx_ydoc_get(b, "seed");
    int order = ETX_ORDER_INVENTORY;

    if (get_enum(c, b, "order", order_names, &order) != ETX_OK)
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

static int
parse_batches(struct ctx *c)
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

static int
parse_max_failures(struct ctx *c)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(c->root, "max_failures");

    if (n == NULL)
        return ETX_OK;
    return get_amount(c, n, "max_failures", 0, &c->inv->max_failures);
}

static const char *const retry_keys[] = {"attempts", "first",  "multiplier",
                                         "cap",      "jitter", NULL};

static int
parse_multiplier(struct ctx *c, const struct etx_ydoc_node *n, double *m)
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

static int
parse_retry(struct ctx *c)
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
         positive_duration(c, n, "first", &rt->first_ms) != ETX_OK) ||
        ((n = etx_ydoc_get(r, "multiplier")) != NULL &&
         parse_multiplier(c, n, &rt->multiplier) != ETX_OK) ||
        ((n = etx_ydoc_get(r, "cap")) != NULL &&
         positive_duration(c, n, "cap", &rt->cap_ms) != ETX_OK) ||
        get_enum(c, r, "jitter", jitter_names, &jitter) != ETX_OK)
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

static int
parse_on_failure(struct ctx *c)
{
    int f = ETX_ON_FAILURE_ROLLBACK;

    if (get_enum(c, c->root, "on_failure", on_failure_names, &f) != ETX_OK)
        return ETX_ERR;
    c->inv->on_failure = (enum etx_on_failure)f;
    return ETX_OK;
}

/* One colour: a group name or a list of hosts, into g. */
static int
parse_colour(struct ctx *c, const struct etx_ydoc_node *n, const char *what,
             struct etx_inv_group *g)
{
    const struct etx_inv_group *src = NULL;
    long gi;

    g->name = strdup(what + strlen("blue_green."));
    if (g->name == NULL)
        return no_memory(c);
    if (n->kind != ETX_YDOC_SCALAR)
        return host_list(c, n, what, g);
    gi = find_ref(c->group_refs, c->inv->n_groups, n->str);
    if (gi < 0)
        return etx_ydoc_fail(c->err, n,
                             "unknown group '%.64s' for '%s': "
                             "expected a group name or a list of hosts",
                             n->str, what);
    src = &c->inv->groups[gi];
    g->hosts = calloc(src->n_hosts, sizeof(*g->hosts));
    if (g->hosts == NULL)
        return no_memory(c);
    memcpy(g->hosts, src->hosts, src->n_hosts * sizeof(*g->hosts));
    g->n_hosts = src->n_hosts;
    return ETX_OK;
}

static const char *const blue_green_keys[] = {"blue", "green", "live", NULL};

static int
parse_blue_green(struct ctx *c)
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
        (blue = need(c, b, "blue", "blue_green")) == NULL ||
        (green = need(c, b, "green", "blue_green")) == NULL ||
        (live = need(c, b, "live", "blue_green")) == NULL ||
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

static const char *const top_keys[] = {
    "version", "fleet",          "defaults",   "hosts",
    "groups",  "storage_groups", "artifact",   "target",
    "restart", "health",         "batches",    "max_failures",
    "retry",   "on_failure",     "blue_green", NULL};

static int
check_top(struct ctx *c)
{
    return etx_ydoc_check_keys(c->root, top_keys, "the inventory", c->err);
}

/* In order: the version first, since another version has other keys. */
static int (*const steps[])(struct ctx *) = {
    parse_version,        check_top,      parse_fleet,
    parse_hosts,          parse_groups,   parse_transports,
    parse_storage_groups, parse_artifact, parse_target,
    parse_restart,        parse_health,   parse_batches,
    parse_max_failures,   parse_retry,    parse_on_failure,
    parse_blue_green,
};

static void
ctx_free(struct ctx *c)
{
    free(c->host_tnodes);
    free(c->tgroup);
    free(c->stamp);
    free(c->host_refs);
    free(c->group_refs);
    free(c->names);
}

static int
load_doc(const struct etx_ydoc *doc, const char *dir,
         struct etx_inventory **out, struct etx_error *err)
{
    struct ctx c = {.dir = dir, .err = err, .root = etx_ydoc_root(doc)};
    char where[512];
    size_t i;
    int rc = ETX_ERR;

    c.inv = calloc(1, sizeof(*c.inv));
    if (c.inv == NULL || (c.inv->path = strdup(etx_ydoc_name(doc))) == NULL) {
        rc = etx_error_set(err, ETX_CLASS_INPUT, ENOMEM, "inventory",
                           etx_ydoc_name(doc), "out of memory");
        goto out;
    }
    snprintf(where, sizeof(where), "%s:1:1", etx_ydoc_name(doc));
    if (c.root == NULL) {
        rc = etx_error_set(err, ETX_CLASS_INPUT, 0, "yaml", where,
                           "empty inventory: expected a YAML mapping with "
                           "version, fleet, hosts, artifact and target");
        goto out;
    }
    if (c.root->kind != ETX_YDOC_MAPPING) {
        rc = etx_ydoc_fail(err, c.root,
                           "expected a mapping at the top of "
                           "the inventory, found %s",
                           etx_ydoc_kind_name(c.root));
        goto out;
    }
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (steps[i](&c) != ETX_OK)
            goto out;
    rc = ETX_OK;
out:
    ctx_free(&c);
    if (rc == ETX_OK)
        *out = c.inv;
    else
        etx_inventory_free(c.inv);
    return rc;
}

int
etx_inventory_load_buffer(const char *name, const char *data, size_t len,
                          struct etx_inventory **out, struct etx_error *err)
{
    struct etx_ydoc *doc = NULL;
    int rc;

    *out = NULL;
    if (etx_ydoc_load_buffer(name, data, len, &doc, err) != ETX_OK)
        return ETX_ERR;
    rc = load_doc(doc, NULL, out, err);
    etx_ydoc_free(doc);
    return rc;
}

int
etx_inventory_load(const char *path, struct etx_inventory **out,
                   struct etx_error *err)
{
    struct etx_ydoc *doc = NULL;
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    int rc = ETX_ERR;

    *out = NULL;
    if (etx_ydoc_load(path, &doc, err) != ETX_OK)
        goto out;
    if (slash != NULL) {
        dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
        if (dir == NULL) {
            rc = etx_error_set(err, ETX_CLASS_INPUT, ENOMEM, "inventory", path,
                               "out of memory");
            goto out;
        }
    }
    rc = load_doc(doc, dir, out, err);
out:
    free(dir);
    etx_ydoc_free(doc);
    return rc;
}

static void
group_free(struct etx_inv_group *g)
{
    free(g->name);
    free(g->hosts);
}

static void
model_free(struct etx_inventory *inv)
{
    size_t i;

    for (i = 0; i < inv->n_hosts; i++) {
        free(inv->hosts[i].name);
        free(inv->hosts[i].address);
        transport_clear(&inv->hosts[i].transport);
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

void
etx_inventory_free(struct etx_inventory *inv)
{
    if (inv == NULL)
        return;
    model_free(inv);
    free(inv->path);
    free(inv->fleet);
    free(inv->artifact.path);
    free(inv->artifact.url);
    free(inv->artifact.version);
    free(inv->target.path);
    free(inv->target.owner);
    free(inv->target.group);
    free(inv->restart.unit);
    etx_ydoc_strv_free(inv->restart.argv);
    free(inv->health.http_url);
    free(inv->health.http_body_contains);
    free(inv->health.tcp_address);
    etx_ydoc_strv_free(inv->health.exec_argv);
    free(inv->batches.sizes);
    free(inv->batches.gate_after);
    free(inv->batches.first);
    etx_ydoc_strv_free(inv->batches.only);
    etx_ydoc_strv_free(inv->batches.exclude);
    free(inv);
}

const struct etx_inv_group *
etx_inventory_group(const struct etx_inventory *inv, const char *name)
{
    size_t i;

    for (i = 0; i < inv->n_groups; i++)
        if (strcmp(inv->groups[i].name, name) == 0)
            return &inv->groups[i];
    return NULL;
}

long
etx_inventory_host_index(const struct etx_inventory *inv, const char *name)
{
    size_t i;

    for (i = 0; i < inv->n_hosts; i++)
        if (strcmp(inv->hosts[i].name, name) == 0)
            return (long)i;
    return -1;
}

const char *
etx_inventory_strategy_name(enum etx_strategy s)
{
    return (unsigned)s < 3 ? strategy_names[s] : "?";
}

const char *
etx_inventory_transport_name(enum etx_transport_kind k)
{
    return (unsigned)k < 2 ? transport_names[k] : "?";
}

const char *
etx_inventory_order_name(enum etx_host_order o)
{
    return (unsigned)o < 3 ? order_names[o] : "?";
}

const char *
etx_inventory_jitter_name(enum etx_jitter j)
{
    return (unsigned)j < 3 ? jitter_names[j] : "?";
}

const char *
etx_inventory_on_failure_name(enum etx_on_failure f)
{
    return (unsigned)f < 2 ? on_failure_names[f] : "?";
}
