/* SPDX-License-Identifier: MIT */
/*
 * The inventory: a versioned YAML file (version: 1) read with libyaml into
 * the typed model below, validated as a whole. The model is plain data so
 * the planner and the scheduler can read it; it is built and freed only by
 * this module. docs/inventory.md documents every key and default.
 */
#ifndef ETX_COORDINATOR_INVENTORY_H
#define ETX_COORDINATOR_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/backoff.h"
#include "proto/error.h"

#define ETX_INVENTORY_VERSION 1

/* Quantities that are "a count or a percent of the fleet". */
struct etx_inv_amount {
    bool is_percent;
    unsigned value; /* a count, or a percent 0..100 */
};

enum etx_transport_kind {
    ETX_TRANSPORT_AGENT = 0, /* TCP + TLS-PSK to a resident etxroll-agent */
    ETX_TRANSPORT_SSH,       /* libssh, etxroll-agent --stdio on the host */
};

enum etx_host_key_policy {
    ETX_HOST_KEY_STRICT = 0, /* unknown or changed host key: error */
    ETX_HOST_KEY_ACCEPT_NEW, /* OpenSSH's accept-new: learn unknown keys */
};

struct etx_inv_transport {
    enum etx_transport_kind kind;
    uint16_t port;       /* agent default 7420, ssh default 22 */
    char *key_file;      /* agent: the pre-shared key file */
    char *user;          /* ssh: login user (default: the caller's) */
    char *identity_file; /* ssh: NULL = the user's ssh-agent */
    char *known_hosts;   /* ssh: default ~/.ssh/known_hosts */
    enum etx_host_key_policy host_key;
    char *agent_path;    /* ssh: remote agent, default "etxroll-agent" */
    char *agent_config;  /* ssh: remote agent config, default
                          * "/etc/etxroll/agent.yml" */
    bool push_agent;     /* ssh: upload our agent when missing */
    char *push_dir;      /* ssh: remote cache of pushed agents, default
                          * ".cache/etxroll" (under the login's home) */
};

/*
 * One host. Everything is owned by the inventory and freed by
 * etx_inventory_free(); readers only borrow it.
 */
struct etx_inv_host {
    char *name;
    char *address;
    struct etx_inv_transport transport; /* defaults < group < host merged */
    unsigned line, col;                 /* where the host is defined */
    /*
     * The host's variables (defaults.vars < group vars < host vars), sorted
     * by name, built-ins (host, address) left out: n_vars names and values,
     * each array followed by NULL.
     */
    size_t n_vars;
    char **var_names;
    char **var_values;
    /*
     * The per-host strings of the rollout: each template of the inventory
     * (target.path, health.http.url, health.tcp.address, health.exec
     * command, restart.unit, restart.command) with ${name} and $$ replaced
     * from this host's variables and checked like the template; the
     * template itself (the same storage) when it has no '$'; NULL when
     * the template is absent. Act on a host with these, not with the
     * templates. The vectors have health.exec_argc and restart.argc words
     * and end with NULL.
     */
    char *target_path;
    char *health_http_url;
    char *health_tcp_address;
    char **health_exec_argv;
    char *restart_unit;
    char **restart_argv;
};

/* A named list of hosts; indices point into etx_inventory.hosts. */
struct etx_inv_group {
    char *name;
    size_t n_hosts;
    size_t *hosts;
};

struct etx_inv_artifact {
    char *path;       /* a local file, or NULL */
    char *url;        /* http(s) URL the agents pull, or NULL */
    char sha256[65];  /* lower-case hex; "" when not given (path only) */
    char *version;    /* names generations/releases; NULL if not given */
};

enum etx_strategy {
    ETX_STRATEGY_RENAME = 0,
    ETX_STRATEGY_GENERATIONS,
    ETX_STRATEGY_RELEASE_DIR,
};

/*
 * The strings of target, restart and health that name host things (path,
 * unit, command, url, address) are templates, as written: they may hold
 * ${name}. struct etx_inv_host has each host's value.
 */
struct etx_inv_target {
    char *path;  /* rename/generations: the file; release-dir: the app dir */
    enum etx_strategy strategy;
    bool mode_set;
    unsigned mode; /* from an octal string such as "0755" */
    char *owner;   /* NULL: keep the current owner (root for a new file) */
    char *group;
    unsigned keep; /* generations/releases kept, default 3 */
};

enum etx_restart_kind {
    ETX_RESTART_NONE = 0, /* no restart step */
    ETX_RESTART_UNIT,     /* systemctl restart UNIT */
    ETX_RESTART_COMMAND,  /* argv, run without a shell */
};

/*
 * restart.confirm: how long the agent waits, after the restart command,
 * for a process executing the new inode (default and upper bound).
 */
#define ETX_INVENTORY_CONFIRM_MS     (10u * 1000)
#define ETX_INVENTORY_CONFIRM_MAX_MS (60u * 60 * 1000)

struct etx_inv_restart {
    enum etx_restart_kind kind;
    char *unit;
    size_t argc;
    char **argv;
    uint64_t timeout_ms; /* default 60 s */
    uint64_t confirm_ms; /* default 10 s, at most 1 h */
};

struct etx_inv_health {
    bool enabled; /* false: no health step */
    /* http(s): */
    char *http_url;
    unsigned http_status; /* default 200 */
    char *http_body_contains;
    /* tcp: "host:port" */
    char *tcp_address;
    /* exec: argv, run without a shell */
    size_t exec_argc;
    char **exec_argv;
    uint64_t interval_ms;  /* default 1 s */
    uint64_t timeout_ms;   /* default 2 s */
    unsigned consecutive;  /* default 3 */
    uint64_t deadline_ms;  /* default 60 s */
};

enum etx_host_order {
    ETX_ORDER_INVENTORY = 0,
    ETX_ORDER_SORTED,
    ETX_ORDER_SHUFFLED,
};

struct etx_inv_batches {
    size_t n_sizes;
    struct etx_inv_amount *sizes; /* default one entry: 100% */
    uint64_t bake_ms;             /* default 0 */
    uint64_t pause_ms;            /* default 0 */
    size_t n_gate_after;
    unsigned *gate_after; /* 1-based batch numbers, ascending */
    enum etx_host_order order;
    bool seed_set;
    uint64_t seed;        /* shuffled; default derived from the fleet name */
    char *first;          /* group whose hosts go first (a canary), or NULL */
    size_t n_only;
    char **only;          /* group or host names; empty = every host */
    size_t n_exclude;
    char **exclude;       /* group or host names left out of the rollout */
};

enum etx_on_failure {
    ETX_ON_FAILURE_ROLLBACK = 0,
    ETX_ON_FAILURE_HALT,
};

struct etx_inv_blue_green {
    bool enabled;
    struct etx_inv_group blue;
    struct etx_inv_group green;
    bool live_is_blue; /* which colour serves traffic now */
};

struct etx_inventory {
    char *path; /* the file it was loaded from */
    unsigned version;
    char *fleet;
    size_t n_hosts;
    struct etx_inv_host *hosts; /* in inventory order */
    size_t n_groups;
    struct etx_inv_group *groups;
    size_t n_storage_groups;
    struct etx_inv_group *storage_groups;
    struct etx_inv_artifact artifact;
    struct etx_inv_target target;
    struct etx_inv_restart restart;
    struct etx_inv_health health;
    struct etx_inv_batches batches;
    struct etx_inv_amount max_failures; /* default 0 */
    struct etx_backoff_policy retry; /* default etx_backoff_policy_default() */
    enum etx_on_failure on_failure;
    struct etx_inv_blue_green blue_green;
};

/*
 * Parse and validate the inventory at 'path'. On success returns ETX_OK and
 * stores a new inventory in *out; free it with etx_inventory_free(). On
 * failure returns ETX_ERR, leaves *out NULL and fills err with class
 * ETX_CLASS_INPUT, err->where = "path:line:col" and err->msg saying what was
 * found and what was expected. Relative artifact paths are resolved against
 * the inventory file's directory.
 */
int etx_inventory_load(const char *path, struct etx_inventory **out,
                       struct etx_error *err);

/*
 * The same for a document held in memory; 'name' stands for the file name
 * in messages and relative paths resolve against the current directory.
 */
int etx_inventory_load_buffer(const char *name, const char *data, size_t len,
                              struct etx_inventory **out,
                              struct etx_error *err);

void etx_inventory_free(struct etx_inventory *inv); /* NULL: no-op */

/* The group called 'name', or NULL. Borrowed from inv. */
const struct etx_inv_group *
etx_inventory_group(const struct etx_inventory *inv, const char *name);

/* The index of host 'name' in inv->hosts, or -1. */
long etx_inventory_host_index(const struct etx_inventory *inv,
                              const char *name);

/* Text for the enums, as written in the inventory ("rename", "ssh", ...). */
const char *etx_inventory_strategy_name(enum etx_strategy s);
const char *etx_inventory_transport_name(enum etx_transport_kind k);
const char *etx_inventory_order_name(enum etx_host_order o);
const char *etx_inventory_jitter_name(enum etx_jitter j);
const char *etx_inventory_on_failure_name(enum etx_on_failure f);

#endif /* ETX_COORDINATOR_INVENTORY_H */
