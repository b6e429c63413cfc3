/* SPDX-License-Identifier: MIT */
/*
 * The inventory loader: walks the YAML tree of proto/ydoc.h into the typed
 * model of inventory.h, section by section, and validates the whole (names,
 * references between sections, strategy requirements). Every error names
 * file:line:col of the offending node; docs/inventory.md lists every key.
 * This file runs the sections in order, reads the top-level keys, holds
 * the value helpers the section files share (inventory_internal.h), frees
 * the model and answers lookups.
 */
#include "coordinator/inventory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/inventory_internal.h"
#include "proto/ydoc.h"

#define NAME_MAX_LEN 253 /* a DNS name; also a file name component */

const char *const etx_inventory__strategy_names[] = {"rename", "generations",
                                                     "release-dir", NULL};
const char *const etx_inventory__transport_names[] = {"agent", "ssh", NULL};
const char *const etx_inventory__order_names[] = {"inventory", "sorted",
                                                  "shuffled", NULL};
const char *const etx_inventory__jitter_names[] = {"full", "equal", "none",
                                                   NULL};
const char *const etx_inventory__on_failure_names[] = {"rollback", "halt",
                                                       NULL};

int
etx_inventory__no_memory(struct etx_inventory__ctx *c)
{
    return etx_error_set(c->err, ETX_CLASS_INPUT, ENOMEM, "inventory",
                         c->inv->path, "out of memory");
}

/* The value of a required key, or NULL with err filled at the mapping. */
const struct etx_ydoc_node *
etx_inventory__need(struct etx_inventory__ctx *c,
                    const struct etx_ydoc_node *map, const char *key,
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
check_name(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
           const char *what, const char *extra)
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

int
etx_inventory__dup_name(struct etx_inventory__ctx *c,
                        const struct etx_ydoc_node *n, const char *what,
                        const char *extra, char **out)
{
    if (check_name(c, n, what, extra) != ETX_OK)
        return ETX_ERR;
    *out = strdup(n->str);
    return *out == NULL ? etx_inventory__no_memory(c) : ETX_OK;
}

int
etx_inventory__ref_cmp(const void *a, const void *b)
{
    return strcmp(((const struct etx_inventory__name_ref *)a)->name,
                  ((const struct etx_inventory__name_ref *)b)->name);
}

long
etx_inventory__find_ref(const struct etx_inventory__name_ref *refs, size_t n,
                        const char *name)
{
    struct etx_inventory__name_ref key = {name, 0};
    const struct etx_inventory__name_ref *r = NULL;

    if (n == 0)
        return -1;
    r = bsearch(&key, refs, n, sizeof(*refs), etx_inventory__ref_cmp);
    return r == NULL ? -1 : (long)r->idx;
}

/* 'rel' resolved against the inventory's directory, in a new string. */
static char *
resolve(struct etx_inventory__ctx *c, const char *rel)
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
int
etx_inventory__get_word(struct etx_inventory__ctx *c,
                        const struct etx_ydoc_node *n, const char *what,
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

int
etx_inventory__dup_word(struct etx_inventory__ctx *c,
                        const struct etx_ydoc_node *n, const char *what,
                        char **out)
{
    const char *s = NULL;
    char *copy = NULL;

    if (etx_inventory__get_word(c, n, what, &s) != ETX_OK)
        return ETX_ERR;
    copy = strdup(s);
    if (copy == NULL)
        return etx_inventory__no_memory(c);
    free(*out); /* a layer may replace an inherited value */
    *out = copy;
    return ETX_OK;
}

/* A path resolved against the inventory's directory. */
int
etx_inventory__dup_path(struct etx_inventory__ctx *c,
                        const struct etx_ydoc_node *n, const char *what,
                        char **out)
{
    const char *s = NULL;
    char *p = NULL;

    if (etx_inventory__get_word(c, n, what, &s) != ETX_OK)
        return ETX_ERR;
    p = resolve(c, s);
    if (p == NULL)
        return etx_inventory__no_memory(c);
    free(*out);
    *out = p;
    return ETX_OK;
}

int
etx_inventory__positive_duration(struct etx_inventory__ctx *c,
                                 const struct etx_ydoc_node *n,
                                 const char *what, uint64_t *ms)
{
    if (etx_ydoc_duration(n, what, ms, c->err) != ETX_OK)
        return ETX_ERR;
    if (*ms == 0)
        return etx_ydoc_fail(c->err, n,
                             "expected a duration above 0 for "
                             "'%s', found '%s'",
                             what, n->str);
    /* Timeouts travel to the agent as u32 milliseconds: never wrap. */
    if (*ms > UINT32_MAX)
        return etx_ydoc_fail(c->err, n,
                             "expected a duration of at most 1193h for "
                             "'%s', found '%s'",
                             what, n->str);
    return ETX_OK;
}

int
etx_inventory__get_enum(struct etx_inventory__ctx *c,
                        const struct etx_ydoc_node *map, const char *key,
                        const char *const *names, int *out)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(map, key);

    if (n == NULL)
        return ETX_OK;
    return etx_ydoc_choice(n, key, names, out, c->err);
}

static int
parse_version(struct etx_inventory__ctx *c)
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
parse_fleet(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *n =
        etx_inventory__need(c, c->root, "fleet", "the inventory");

    if (n == NULL)
        return ETX_ERR;
    return etx_inventory__dup_name(c, n, "fleet name", "._-", &c->inv->fleet);
}

static const char *const top_keys[] = {
    "version", "fleet",          "defaults",   "hosts",
    "groups",  "storage_groups", "artifact",   "target",
    "restart", "health",         "batches",    "max_failures",
    "retry",   "on_failure",     "blue_green", NULL};

static int
check_top(struct etx_inventory__ctx *c)
{
    return etx_ydoc_check_keys(c->root, top_keys, "the inventory", c->err);
}

/* In order: the version first, since another version has other keys. */
static int (*const steps[])(struct etx_inventory__ctx *) = {
    parse_version,
    check_top,
    parse_fleet,
    etx_inventory__parse_hosts,
    etx_inventory__parse_groups,
    etx_inventory__parse_transports,
    etx_inventory__parse_vars,
    etx_inventory__parse_storage_groups,
    etx_inventory__parse_artifact,
    etx_inventory__parse_target,
    etx_inventory__parse_restart,
    etx_inventory__parse_health,
    etx_inventory__resolve_hosts,
    etx_inventory__parse_batches,
    etx_inventory__parse_max_failures,
    etx_inventory__parse_retry,
    etx_inventory__parse_on_failure,
    etx_inventory__parse_blue_green,
};

static void
ctx_free(struct etx_inventory__ctx *c)
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
    struct etx_inventory__ctx c = {
        .dir = dir, .err = err, .root = etx_ydoc_root(doc)};
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

void
etx_inventory_free(struct etx_inventory *inv)
{
    if (inv == NULL)
        return;
    etx_inventory__free_hosts(inv);
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
    return (unsigned)s < 3 ? etx_inventory__strategy_names[s] : "?";
}

const char *
etx_inventory_transport_name(enum etx_transport_kind k)
{
    return (unsigned)k < 2 ? etx_inventory__transport_names[k] : "?";
}

const char *
etx_inventory_order_name(enum etx_host_order o)
{
    return (unsigned)o < 3 ? etx_inventory__order_names[o] : "?";
}

const char *
etx_inventory_jitter_name(enum etx_jitter j)
{
    return (unsigned)j < 3 ? etx_inventory__jitter_names[j] : "?";
}

const char *
etx_inventory_on_failure_name(enum etx_on_failure f)
{
    return (unsigned)f < 2 ? etx_inventory__on_failure_names[f] : "?";
}
