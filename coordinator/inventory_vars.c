/* SPDX-License-Identifier: MIT */
/*
 * Host variables: the 'vars' of defaults, groups and hosts merged for each
 * host (defaults < group < host), and each host's strings of the rollout
 * made from their templates by replacing ${name} and $$ (inventory.h,
 * docs/inventory.md). Called by inventory.c after the transports (the
 * variables) and after the health section (the per-host strings).
 */
#include "coordinator/inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/inventory_internal.h"
#include "proto/ydoc.h"

/* All hosts' variables and strings together, so a small hostile file
 * cannot make gigabytes of copies (ETX_YDOC_MAX_SCALAR bounds each). */
#define MAX_HOST_BYTES (64u << 20)
#define OVERHEAD       32u /* counted for each string: pointer, malloc */

static const char *const builtins[] = {"host", "address", NULL};

/* One definition of a variable, for the merge of one host's layers. */
struct def {
    const struct etx_ydoc_node *key;
    const struct etx_ydoc_node *val;
    unsigned level; /* 0 defaults, 1 a group, 2 the host */
    size_t group;   /* level 1: the group, in inventory order */
};

/* A string being built by expand(). */
struct buf {
    char *p;
    size_t len, cap;
};

static bool
name_ok(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* A vars mapping (or NULL, or null): names, no built-in, string values. */
static int
check_vars(struct etx_inventory__ctx *c, const struct etx_ydoc_node *m,
           const char *what)
{
    const struct etx_ydoc_node *k = NULL;
    size_t i;

    if (m == NULL || m->kind == ETX_YDOC_NULL)
        return ETX_OK;
    if (etx_ydoc_expect(m, ETX_YDOC_MAPPING, "vars", c->err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < m->n; i++) {
        k = m->items[2 * i];
        if (!name_ok(k->str, k->len))
            return etx_ydoc_fail(c->err, k,
                                 "bad variable name '%.64s' in %s: use "
                                 "letters, digits and '_', not starting "
                                 "with a digit",
                                 k->str, what);
        if (strcmp(k->str, "host") == 0 || strcmp(k->str, "address") == 0)
            return etx_ydoc_fail(c->err, k,
                                 "'%s' is a built-in variable (the host's "
                                 "%s) and cannot be set in %s",
                                 k->str, k->str[0] == 'h' ? "name" : "address",
                                 what);
        if (m->items[2 * i + 1]->kind != ETX_YDOC_SCALAR)
            return etx_ydoc_fail(c->err, m->items[2 * i + 1],
                                 "expected a string for variable '%s' in "
                                 "%s, found %s",
                                 k->str, what,
                                 etx_ydoc_kind_name(m->items[2 * i + 1]));
    }
    return ETX_OK;
}

static size_t
n_vars(const struct etx_ydoc_node *m)
{
    return m != NULL && m->kind == ETX_YDOC_MAPPING ? m->n : 0;
}

/* Group gi's vars mapping, or NULL. */
static const struct etx_ydoc_node *
group_vars(struct etx_inventory__ctx *c, size_t gi)
{
    const struct etx_ydoc_node *g = etx_ydoc_get(c->root, "groups");

    return etx_ydoc_get(g->items[2 * gi + 1], "vars");
}

static const struct etx_ydoc_node *
host_vars(struct etx_inventory__ctx *c, size_t hi)
{
    return etx_ydoc_get(c->hosts_map->items[2 * hi + 1], "vars");
}

/* Count 'bytes' more against MAX_HOST_BYTES, charged to host hi. */
static int
charge(struct etx_inventory__ctx *c, size_t hi, size_t bytes)
{
    c->host_bytes += bytes;
    if (c->host_bytes <= MAX_HOST_BYTES)
        return ETX_OK;
    return etx_ydoc_fail(c->err, c->hosts_map->items[2 * hi],
                         "the hosts' variables and strings take more than "
                         "%u MiB in all (at host '%s'); use fewer or shorter "
                         "variables",
                         MAX_HOST_BYTES >> 20, c->inv->hosts[hi].name);
}

static int
def_cmp(const void *a, const void *b)
{
    const struct def *x = a, *y = b;
    int r = strcmp(x->key->str, y->key->str);

    if (r != 0)
        return r;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    return x->group < y->group ? -1 : x->group > y->group;
}

static size_t
add_defs(struct def *d, size_t n, const struct etx_ydoc_node *m, unsigned level,
         size_t group)
{
    size_t i;

    for (i = 0; i < n_vars(m); i++)
        d[n++] =
            (struct def){m->items[2 * i], m->items[2 * i + 1], level, group};
    return n;
}

/* The last definition of each name wins; two groups alone conflict. */
static int
keep_defs(struct etx_inventory__ctx *c, size_t hi, struct def *d, size_t n,
          size_t *kept)
{
    const struct etx_inv_group *g = c->inv->groups;
    size_t i, k = 0;

    for (i = 0; i < n; i++) {
        if (i + 1 < n && strcmp(d[i].key->str, d[i + 1].key->str) == 0)
            continue;
        if (d[i].level == 1 && i > 0 && d[i - 1].level == 1 &&
            strcmp(d[i].key->str, d[i - 1].key->str) == 0)
            return etx_ydoc_fail(c->err, d[i].key,
                                 "host '%s' gets variable '%s' from group "
                                 "'%s' and from group '%s'; set it on the "
                                 "host instead",
                                 c->inv->hosts[hi].name, d[i].key->str,
                                 g[d[i - 1].group].name, g[d[i].group].name);
        d[k++] = d[i];
    }
    *kept = k;
    return ETX_OK;
}

/* Copy the kept definitions into host hi's sorted arrays. */
static int
store_defs(struct etx_inventory__ctx *c, size_t hi, const struct def *d,
           size_t n)
{
    struct etx_inv_host *h = &c->inv->hosts[hi];
    size_t i;

    h->var_names = calloc(n + 1, sizeof(*h->var_names));
    h->var_values = calloc(n + 1, sizeof(*h->var_values));
    if (h->var_names == NULL || h->var_values == NULL)
        return etx_inventory__no_memory(c);
    for (i = 0; i < n; i++) {
        if (charge(c, hi, d[i].key->len + d[i].val->len + 2 + 2 * OVERHEAD) !=
            ETX_OK)
            return ETX_ERR;
        h->var_names[i] = strdup(d[i].key->str);
        h->var_values[i] = strdup(d[i].val->str);
        h->n_vars = i + 1;
        if (h->var_names[i] == NULL || h->var_values[i] == NULL)
            return etx_inventory__no_memory(c);
    }
    return ETX_OK;
}

/* Host hi's variables; gl[0..ng) are the groups with vars it is in. */
static int
merge_host(struct etx_inventory__ctx *c, size_t hi,
           const struct etx_ydoc_node *dflt, const size_t *gl, size_t ng)
{
    struct def *d = NULL;
    size_t i, n = n_vars(dflt) + n_vars(host_vars(c, hi)), kept = 0;
    int rc = ETX_ERR;

    for (i = 0; i < ng; i++)
        n += n_vars(group_vars(c, gl[i]));
    d = calloc(n + 1, sizeof(*d));
    if (d == NULL) {
        rc = etx_inventory__no_memory(c);
        goto out;
    }
    n = add_defs(d, 0, dflt, 0, 0);
    for (i = 0; i < ng; i++)
        n = add_defs(d, n, group_vars(c, gl[i]), 1, gl[i]);
    n = add_defs(d, n, host_vars(c, hi), 2, 0);
    qsort(d, n, sizeof(*d), def_cmp);
    if (keep_defs(c, hi, d, n, &kept) != ETX_OK)
        goto out;
    rc = store_defs(c, hi, d, kept);
out:
    free(d);
    return rc;
}

/* Check every vars mapping once and list, per host, its groups that
 * carry vars: host h has list[start[h] .. start[h + 1]), in group order
 * (start has n_hosts + 1 entries, fill n_hosts, both zeroed). */
static int
index_groups(struct etx_inventory__ctx *c, size_t *start, size_t *fill,
             size_t **list)
{
    const struct etx_inventory *inv = c->inv;
    char what[300];
    size_t g, j, h;

    for (g = 0; g < inv->n_groups; g++) {
        snprintf(what, sizeof(what), "the vars of group '%s'",
                 inv->groups[g].name);
        if (check_vars(c, group_vars(c, g), what) != ETX_OK)
            return ETX_ERR;
        for (j = 0; n_vars(group_vars(c, g)) > 0 && j < inv->groups[g].n_hosts;
             j++)
            start[inv->groups[g].hosts[j] + 1]++;
    }
    for (h = 0; h < inv->n_hosts; h++) {
        snprintf(what, sizeof(what), "the vars of host '%s'",
                 inv->hosts[h].name);
        if (check_vars(c, host_vars(c, h), what) != ETX_OK)
            return ETX_ERR;
        start[h + 1] += start[h];
    }
    *list = calloc(start[inv->n_hosts] + 1, sizeof(**list));
    if (*list == NULL)
        return etx_inventory__no_memory(c);
    for (g = 0; g < inv->n_groups; g++)
        for (j = 0; n_vars(group_vars(c, g)) > 0 && j < inv->groups[g].n_hosts;
             j++) {
            h = inv->groups[g].hosts[j];
            (*list)[start[h] + fill[h]++] = g;
        }
    return ETX_OK;
}

int
etx_inventory__parse_vars(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *dflt =
        etx_ydoc_get(etx_ydoc_get(c->root, "defaults"), "vars");
    size_t n = c->inv->n_hosts, *start = NULL, *fill = NULL, *list = NULL, i;
    int rc = ETX_ERR;

    start = calloc(n + 1, sizeof(*start));
    fill = calloc(n + 1, sizeof(*fill));
    if (start == NULL || fill == NULL) {
        rc = etx_inventory__no_memory(c);
        goto out;
    }
    if (check_vars(c, dflt, "defaults.vars") != ETX_OK ||
        index_groups(c, start, fill, &list) != ETX_OK)
        goto out;
    for (i = 0; i < n; i++)
        if (merge_host(c, i, dflt, list + start[i], start[i + 1] - start[i]) !=
            ETX_OK)
            goto out;
    rc = ETX_OK;
out:
    free(start);
    free(fill);
    free(list);
    return rc;
}

/* The value of variable name[0..len) for host h, or NULL. */
static const char *
lookup(const struct etx_inv_host *h, const char *name, size_t len)
{
    size_t lo = 0, hi = h->n_vars, mid;
    int r;

    if (len == 4 && strncmp(name, "host", 4) == 0)
        return h->name;
    if (len == 7 && strncmp(name, "address", 7) == 0)
        return h->address;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        r = strncmp(h->var_names[mid], name, len);
        if (r == 0 && h->var_names[mid][len] != '\0')
            r = 1;
        if (r == 0)
            return h->var_values[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int
unknown_var(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
            const char *what, const char *name, size_t len,
            const struct etx_inv_host *h)
{
    const char **cands = calloc(h->n_vars + 2, sizeof(*cands));
    char *word = strndup(name, len);
    const char *dym = NULL;

    if (cands == NULL || word == NULL) {
        free(cands);
        free(word);
        return etx_inventory__no_memory(c);
    }
    cands[0] = builtins[0];
    cands[1] = builtins[1];
    memcpy(cands + 2, h->var_names, h->n_vars * sizeof(*cands));
    dym = etx_ydoc_did_you_mean(word, cands, h->n_vars + 2);
    if (dym != NULL)
        etx_ydoc_fail(c->err, n,
                      "unknown variable '%.64s' in '%s' for host '%s'; did "
                      "you mean '%s'?",
                      word, what, h->name, dym);
    else
        etx_ydoc_fail(c->err, n,
                      "unknown variable '%.64s' in '%s' for host '%s': set "
                      "it in defaults.vars, a group's vars or the host's vars",
                      word, what, h->name);
    free(cands);
    free(word);
    return ETX_ERR;
}

static int
append(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
       const char *what, const struct etx_inv_host *h, struct buf *b,
       const char *s, size_t len)
{
    char *p = NULL;

    if (b->len + len >= ETX_YDOC_MAX_SCALAR)
        return etx_ydoc_fail(c->err, n,
                             "'%s' for host '%s' is longer than %u bytes "
                             "once its variables are replaced",
                             what, h->name, ETX_YDOC_MAX_SCALAR);
    if (b->len + len + 1 > b->cap) {
        p = realloc(b->p, ETX_YDOC_MAX_SCALAR);
        if (p == NULL)
            return etx_inventory__no_memory(c);
        b->p = p;
        b->cap = ETX_YDOC_MAX_SCALAR;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
    return ETX_OK;
}

/* The '$' at s[0]: "$$" or "${name}"; *used gets its length. */
static int
dollar(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
       const char *what, const struct etx_inv_host *h, struct buf *b,
       const char *s, size_t *used)
{
    const char *end = NULL, *val = NULL;

    if (s[1] == '$') {
        *used = 2;
        return append(c, n, what, h, b, "$", 1);
    }
    if (s[1] != '{')
        return etx_ydoc_fail(c->err, n,
                             "a '$' in '%s' starts ${name}; write $$ for a "
                             "'$' itself",
                             what);
    end = strchr(s + 2, '}');
    if (end == NULL)
        return etx_ydoc_fail(
            c->err, n, "unterminated '${' in '%s': expected ${name}", what);
    if (!name_ok(s + 2, (size_t)(end - s - 2)))
        return etx_ydoc_fail(c->err, n,
                             "bad variable name '%.*s' in '%s': use letters, "
                             "digits and '_', not starting with a digit",
                             (int)(end - s - 2 < 64 ? end - s - 2 : 64), s + 2,
                             what);
    val = lookup(h, s + 2, (size_t)(end - s - 2));
    if (val == NULL)
        return unknown_var(c, n, what, s + 2, (size_t)(end - s - 2), h);
    *used = (size_t)(end - s) + 1;
    return append(c, n, what, h, b, val, strlen(val));
}

/* Template n->str for host hi, into a new *out. The charge counts the
 * template too, which bounds the work of many empty variables. */
static int
expand(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
       const char *what, size_t hi, char **out)
{
    const struct etx_inv_host *h = &c->inv->hosts[hi];
    struct buf b = {NULL, 0, 0};
    const char *s = n->str;
    size_t run, used = 0;

    while (*s != '\0') {
        run = strcspn(s, "$");
        if (append(c, n, what, h, &b, s, run) != ETX_OK)
            goto fail;
        s += run;
        if (*s == '\0')
            break;
        if (dollar(c, n, what, h, &b, s, &used) != ETX_OK)
            goto fail;
        s += used;
    }
    *out = b.p != NULL ? strdup(b.p) : strdup("");
    free(b.p);
    if (*out == NULL)
        return etx_inventory__no_memory(c);
    return charge(c, hi, (b.len > n->len ? b.len : n->len) + 1 + OVERHEAD);
fail:
    free(b.p);
    return ETX_ERR;
}

/* One string of host hi from template n (tmpl in the model): tmpl itself
 * when it has no '$', else its substitution, checked. */
static int
one(struct etx_inventory__ctx *c, size_t hi, const struct etx_ydoc_node *n,
    const char *what, enum etx_inventory__check check, char *tmpl, char **out)
{
    if (n == NULL)
        return ETX_OK;
    if (!etx_inventory__is_template(tmpl)) {
        *out = tmpl;
        return ETX_OK;
    }
    if (expand(c, n, what, hi, out) != ETX_OK)
        return ETX_ERR;
    return etx_inventory__check_value(c, check, n, what, *out,
                                      c->inv->hosts[hi].name);
}

/* A command of host hi from the template sequence n (tmpl in the model):
 * tmpl itself when no word has '$', else a new vector. */
static int
words(struct etx_inventory__ctx *c, size_t hi, const struct etx_ydoc_node *n,
      const char *what, char **tmpl, char ***out)
{
    size_t i;

    if (n == NULL)
        return ETX_OK;
    for (i = 0; i < n->n && !etx_inventory__is_template(tmpl[i]); i++)
        continue;
    if (i == n->n) {
        *out = tmpl;
        return ETX_OK;
    }
    *out = calloc(n->n + 1, sizeof(**out));
    if (*out == NULL)
        return etx_inventory__no_memory(c);
    for (i = 0; i < n->n; i++)
        if (expand(c, n->items[i], what, hi, &(*out)[i]) != ETX_OK)
            return ETX_ERR;
    if (!etx_inventory__is_template(tmpl[0]))
        return ETX_OK;
    return etx_inventory__check_value(c, ETX_INVENTORY__CHECK_COMMAND,
                                      n->items[0], what, (*out)[0],
                                      c->inv->hosts[hi].name);
}

/* The template at root.sec.sub.key (sub may be NULL), or NULL. */
static const struct etx_ydoc_node *
at(struct etx_inventory__ctx *c, const char *sec, const char *sub,
   const char *key)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(c->root, sec);

    if (sub != NULL)
        n = etx_ydoc_get(n, sub);
    return etx_ydoc_get(n, key);
}

int
etx_inventory__resolve_hosts(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *path = at(c, "target", NULL, "path");
    const struct etx_ydoc_node *url = at(c, "health", "http", "url");
    const struct etx_ydoc_node *tcp = at(c, "health", "tcp", "address");
    const struct etx_ydoc_node *exec = at(c, "health", "exec", "command");
    const struct etx_ydoc_node *unit = at(c, "restart", NULL, "unit");
    const struct etx_ydoc_node *cmd = at(c, "restart", NULL, "command");
    struct etx_inventory *inv = c->inv;
    struct etx_inv_host *h = NULL;
    size_t i;

    for (i = 0; i < inv->n_hosts; i++) {
        h = &inv->hosts[i];
        if (one(c, i, path, "target.path", ETX_INVENTORY__CHECK_PATH,
                inv->target.path, &h->target_path) != ETX_OK ||
            one(c, i, url, "health.http.url", ETX_INVENTORY__CHECK_URL,
                inv->health.http_url, &h->health_http_url) != ETX_OK ||
            one(c, i, tcp, "health.tcp.address", ETX_INVENTORY__CHECK_ADDRESS,
                inv->health.tcp_address, &h->health_tcp_address) != ETX_OK ||
            words(c, i, exec, "health.exec.command", inv->health.exec_argv,
                  &h->health_exec_argv) != ETX_OK ||
            one(c, i, unit, "restart.unit", ETX_INVENTORY__CHECK_UNIT,
                inv->restart.unit, &h->restart_unit) != ETX_OK ||
            words(c, i, cmd, "restart.command", inv->restart.argv,
                  &h->restart_argv) != ETX_OK)
            return ETX_ERR;
    }
    return ETX_OK;
}

static void
free_own(char *s, const char *tmpl)
{
    if (s != tmpl)
        free(s);
}

static void
free_own_v(char **v, char *const *tmpl)
{
    if (v != tmpl)
        etx_ydoc_strv_free(v);
}

void
etx_inventory__free_host_vars(const struct etx_inventory *inv,
                              struct etx_inv_host *h)
{
    etx_ydoc_strv_free(h->var_names);
    etx_ydoc_strv_free(h->var_values);
    free_own(h->target_path, inv->target.path);
    free_own(h->health_http_url, inv->health.http_url);
    free_own(h->health_tcp_address, inv->health.tcp_address);
    free_own_v(h->health_exec_argv, inv->health.exec_argv);
    free_own(h->restart_unit, inv->restart.unit);
    free_own_v(h->restart_argv, inv->restart.argv);
}
