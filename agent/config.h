/* SPDX-License-Identifier: MIT */
/*
 * The agent's configuration: a YAML file (read with proto/ydoc.h) saying
 * where the agent listens, its pre-shared key, the roots it may write under
 * and the restart units and commands and health commands it may run. What
 * is not listed here is refused, whatever a request asks for; nothing from
 * the network becomes a shell command line. docs/agent-config.md documents
 * every key.
 *
 * Use: etx_agent_config_load(), then etx_agent_config_check_key_perms()
 * before listening on TCP, then etx_agent_config_free().
 */
#ifndef ETX_AGENT_CONFIG_H
#define ETX_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"

#define ETX_AGENT_CONFIG_LISTEN    "127.0.0.1:7420"
#define ETX_AGENT_CONFIG_STATE_DIR "/var/lib/etxroll-agent"

/* An allowed command: argv[0] is an absolute path; argv[argc] is NULL. */
struct etx_agent_argv {
    size_t argc;
    char **argv;
};

/* Plain data owned by the config; read-only for callers. */
struct etx_agent_config {
    char *path;           /* the file it was loaded from */
    char *listen;         /* as written, default ETX_AGENT_CONFIG_LISTEN */
    char *listen_host;    /* its host part, IPv6 without brackets */
    uint16_t listen_port; /* its port, 1..65535 */
    char *key_file;       /* absolute path, or NULL when not given */
    unsigned key_file_line, key_file_col; /* where key_file was given */
    size_t n_roots;
    char **roots; /* absolute directories, at least one */
    size_t n_restart_units;
    char **restart_units; /* systemd unit names */
    size_t n_restart_commands;
    struct etx_agent_argv *restart_commands;
    size_t n_health_commands;
    struct etx_agent_argv *health_commands;
    char *state_dir; /* default ETX_AGENT_CONFIG_STATE_DIR */
};

/*
 * Load and validate the config at 'path' (no other file is touched). On
 * success returns ETX_OK and a new config in *out (free:
 * etx_agent_config_free()). On failure returns ETX_ERR, leaves *out NULL
 * and fills err with ETX_CLASS_INPUT, where = "path:line:col" (just the
 * path for a file that cannot be read) and msg = what was found and what
 * was expected; unknown keys are refused with a did-you-mean.
 */
int etx_agent_config_load(const char *path, struct etx_agent_config **out,
                          struct etx_error *err);

/* The same for a document in memory; 'name' stands for the file name. */
int etx_agent_config_load_buffer(const char *name, const char *data, size_t len,
                                 struct etx_agent_config **out,
                                 struct etx_error *err);

void etx_agent_config_free(struct etx_agent_config *cfg); /* NULL: no-op */

/*
 * Check the key file before the TCP listener uses it: it must be given,
 * exist, be a regular file owned by root or the agent's effective user,
 * and have no permission bits for group or others (mode & 077 == 0).
 * Returns ETX_OK, or ETX_ERR with err (ETX_CLASS_INPUT, where = the
 * config's file:line:col of key_file, or its path when key_file is absent).
 */
int etx_agent_config_check_key_perms(const struct etx_agent_config *cfg,
                                     struct etx_error *err);

/* True when 'unit' is listed in restart_units (exact match). */
bool etx_agent_config_allows_unit(const struct etx_agent_config *cfg,
                                  const char *unit);

/* True when argv (argc words) equals one restart_commands entry exactly. */
bool etx_agent_config_allows_restart_command(const struct etx_agent_config *cfg,
                                             size_t argc,
                                             const char *const *argv);

/* True when argv (argc words) equals one health_commands entry exactly. */
bool etx_agent_config_allows_health_command(const struct etx_agent_config *cfg,
                                            size_t argc,
                                            const char *const *argv);

#endif /* ETX_AGENT_CONFIG_H */
