/* SPDX-License-Identifier: MIT */
/*
 * What the inventory loader's files share; not part of the inventory API
 * (see inventory.h). inventory.c drives the load and holds the value
 * helpers below; each section of the file is parsed by one of
 * inventory_hosts.c (hosts, groups, transports, storage groups,
 * blue/green), inventory_rollout.c (artifact, target, restart, health),
 * inventory_policy.c (batches, max_failures, retry, on_failure) and
 * inventory_vars.c (host variables and the per-host strings).
 */
#ifndef ETX_COORDINATOR_INVENTORY_INTERNAL_H
#define ETX_COORDINATOR_INVENTORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coordinator/inventory.h"
#include "proto/error.h"
#include "proto/ydoc.h"

/* A name and its index, sorted by name for lookups in O(log n). */
struct etx_inventory__name_ref {
    const char *name;
    size_t idx;
};

/* The state of one load; the model being built is c->inv. */
struct etx_inventory__ctx {
    struct etx_inventory *inv;
    const char *dir; /* prefix for relative paths, or NULL */
    struct etx_error *err;
    const struct etx_ydoc_node *root;
    const struct etx_ydoc_node *hosts_map;    /* the 'hosts' mapping */
    const struct etx_ydoc_node **host_tnodes; /* per host: group transport */
    size_t *tgroup; /* per host: the group giving that transport */
    size_t *stamp;  /* per host: last list that named it */
    size_t stamp_now;
    struct etx_inventory__name_ref *host_refs;
    struct etx_inventory__name_ref *group_refs;
    const char **names; /* host then group names, for did-you-mean */
    size_t host_bytes;  /* held by the hosts' variables and strings */
};

/* The words of the enums, NULL-terminated, in enum order. */
extern const char *const etx_inventory__strategy_names[];
extern const char *const etx_inventory__transport_names[];
extern const char *const etx_inventory__order_names[];
extern const char *const etx_inventory__jitter_names[];
extern const char *const etx_inventory__on_failure_names[];

/*
 * Value helpers, defined in inventory.c. Those that take c and return an
 * int give ETX_OK, or ETX_ERR with c->err filled.
 */
int etx_inventory__no_memory(struct etx_inventory__ctx *c);
/* The value of a required key, or NULL with err filled at the mapping. */
const struct etx_ydoc_node *etx_inventory__need(struct etx_inventory__ctx *c,
                                                const struct etx_ydoc_node *map,
                                                const char *key,
                                                const char *what);
/* A name used in file names (letters, digits, 'extra'), into a new *out. */
int etx_inventory__dup_name(struct etx_inventory__ctx *c,
                            const struct etx_ydoc_node *n, const char *what,
                            const char *extra, char **out);
/* qsort/bsearch order of struct etx_inventory__name_ref, by name. */
int etx_inventory__ref_cmp(const void *a, const void *b);
/* The index stored with 'name' in refs (n sorted entries), or -1. */
long etx_inventory__find_ref(const struct etx_inventory__name_ref *refs,
                             size_t n, const char *name);
/* A string without blanks or control characters; *out borrowed. */
int etx_inventory__get_word(struct etx_inventory__ctx *c,
                            const struct etx_ydoc_node *n, const char *what,
                            const char **out);
/* The same copied into *out, replacing (freeing) what *out held. */
int etx_inventory__dup_word(struct etx_inventory__ctx *c,
                            const struct etx_ydoc_node *n, const char *what,
                            char **out);
/* A word resolved against the inventory's directory, replacing *out. */
int etx_inventory__dup_path(struct etx_inventory__ctx *c,
                            const struct etx_ydoc_node *n, const char *what,
                            char **out);
/* A duration above 0, in milliseconds. */
int etx_inventory__positive_duration(struct etx_inventory__ctx *c,
                                     const struct etx_ydoc_node *n,
                                     const char *what, uint64_t *ms);
/* One of 'names' for the optional 'key' of map; *out kept when absent. */
int etx_inventory__get_enum(struct etx_inventory__ctx *c,
                            const struct etx_ydoc_node *map, const char *key,
                            const char *const *names, int *out);

/* What a value that may come from a template must be. */
enum etx_inventory__check {
    ETX_INVENTORY__CHECK_PATH,    /* an absolute target path */
    ETX_INVENTORY__CHECK_URL,     /* an http:// or https:// URL */
    ETX_INVENTORY__CHECK_ADDRESS, /* host:port or [v6]:port */
    ETX_INVENTORY__CHECK_UNIT,    /* a systemd unit name */
    ETX_INVENTORY__CHECK_COMMAND, /* a command's first word: absolute */
};

/*
 * Check 'value' read at n ('what' names it). host NULL: the value as
 * written (a template without '$'); otherwise what host 'host' made of the
 * template n->str with its variables, and the message says so.
 * Defined in inventory_rollout.c.
 */
int etx_inventory__check_value(struct etx_inventory__ctx *c,
                               enum etx_inventory__check check,
                               const struct etx_ydoc_node *n, const char *what,
                               const char *value, const char *host);
/* Whether s uses variables ('$'): then each host's value is checked. */
bool etx_inventory__is_template(const char *s);

/* One section each, in the order inventory.c runs them (later ones rely
 * on earlier ones: groups on hosts, target on artifact.version...). */
int etx_inventory__parse_hosts(struct etx_inventory__ctx *c);
int etx_inventory__parse_groups(struct etx_inventory__ctx *c);
int etx_inventory__parse_transports(struct etx_inventory__ctx *c);
int etx_inventory__parse_storage_groups(struct etx_inventory__ctx *c);
int etx_inventory__parse_artifact(struct etx_inventory__ctx *c);
int etx_inventory__parse_target(struct etx_inventory__ctx *c);
int etx_inventory__parse_restart(struct etx_inventory__ctx *c);
int etx_inventory__parse_health(struct etx_inventory__ctx *c);
int etx_inventory__parse_batches(struct etx_inventory__ctx *c);
int etx_inventory__parse_max_failures(struct etx_inventory__ctx *c);
int etx_inventory__parse_retry(struct etx_inventory__ctx *c);
int etx_inventory__parse_on_failure(struct etx_inventory__ctx *c);
int etx_inventory__parse_blue_green(struct etx_inventory__ctx *c);
/* After the transports: each host's variables (inventory_vars.c). */
int etx_inventory__parse_vars(struct etx_inventory__ctx *c);
/* After health: each host's strings from the templates (inventory_vars.c). */
int etx_inventory__resolve_hosts(struct etx_inventory__ctx *c);
/* Free what inventory_vars.c gave host h. */
void etx_inventory__free_host_vars(const struct etx_inventory *inv,
                                   struct etx_inv_host *h);

/* Free hosts, groups, storage groups and blue/green (inventory_hosts.c). */
void etx_inventory__free_hosts(struct etx_inventory *inv);

#endif /* ETX_COORDINATOR_INVENTORY_INTERNAL_H */
