/* SPDX-License-Identifier: MIT */
/*
 * The agent's configuration file: loaded with proto/ydoc.h, every value
 * checked where it is read, unknown keys refused. The key file check is
 * separate because only the TCP listener needs the key.
 */
#include "agent/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/units.h"
#include "proto/ydoc.h"

static const char *const config_keys[] = {
    "listen",           "key_file",        "roots",     "restart_units",
    "restart_commands", "health_commands", "state_dir", NULL};

static int
no_memory(const char *name, struct etx_error *err)
{
    return etx_error_set(err, ETX_CLASS_INPUT, ENOMEM, "config", name,
                         "out of memory");
}

/* An absolute, clean path. */
static int
check_abs_path(const struct etx_ydoc_node *n, const char *what,
               struct etx_error *err)
{
    const char *s = NULL;
    const char *why = NULL;

    if (etx_ydoc_string(n, what, &s, err) != ETX_OK)
        return ETX_ERR;
    if (etx_units_abs_path(s, &why) != ETX_OK)
        return etx_ydoc_fail(err, n, "bad path '%.64s' for '%s': %s", s, what,
                             why);
    return ETX_OK;
}

static int
parse_listen(struct etx_agent_config *cfg, const struct etx_ydoc_node *n,
             struct etx_error *err)
{
    const char *s = ETX_AGENT_CONFIG_LISTEN;
    const char *why = NULL;
    char host[256];

    if (n != NULL && etx_ydoc_string(n, "listen", &s, err) != ETX_OK)
        return ETX_ERR;
    if (etx_units_host_port(s, host, sizeof(host), &cfg->listen_port, &why) !=
        ETX_OK)
        return etx_ydoc_fail(err, n, "bad address '%.64s' for 'listen': %s", s,
                             why);
    cfg->listen = strdup(s);
    cfg->listen_host = strdup(host);
    if (cfg->listen == NULL || cfg->listen_host == NULL)
        return no_memory(cfg->path, err);
    return ETX_OK;
}

/* roots: a non-empty list of distinct absolute directories, not "/". */
static int
parse_roots(struct etx_agent_config *cfg, const struct etx_ydoc_node *root,
            struct etx_error *err)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(root, "roots");
    size_t i, j;

    if (n == NULL)
        return etx_ydoc_fail(err, root,
                             "missing required key 'roots': the "
                             "agent writes only under the directories it "
                             "lists");
    if (etx_ydoc_strv(n, "roots", &cfg->n_roots, &cfg->roots, err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < cfg->n_roots; i++) {
        if (check_abs_path(n->items[i], "roots", err) != ETX_OK)
            return ETX_ERR;
        for (j = 0; j < i; j++)
            if (strcmp(cfg->roots[i], cfg->roots[j]) == 0)
                return etx_ydoc_fail(err, n->items[i],
                                     "root '%.64s' is "
                                     "listed twice",
                                     cfg->roots[i]);
    }
    return ETX_OK;
}

static int
parse_units(struct etx_agent_config *cfg, const struct etx_ydoc_node *n,
            struct etx_error *err)
{
    const char *why = NULL;
    size_t i;

    if (etx_ydoc_strv(n, "restart_units", &cfg->n_restart_units,
                      &cfg->restart_units, err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < cfg->n_restart_units; i++)
        if (etx_units_unit_name(cfg->restart_units[i], &why) != ETX_OK)
            return etx_ydoc_fail(err, n->items[i],
                                 "bad unit name '%.64s' "
                                 "in 'restart_units': %s",
                                 cfg->restart_units[i], why);
    return ETX_OK;
}

/* A list of argv lists, each starting with an absolute path. */
static int
parse_commands(const struct etx_ydoc_node *n, const char *what, size_t *count,
               struct etx_agent_argv **out, struct etx_error *err)
{
    struct etx_agent_argv *v = NULL;
    size_t i;

    if (etx_ydoc_expect(n, ETX_YDOC_SEQUENCE, what, err) != ETX_OK)
        return ETX_ERR;
    v = calloc(n->n + 1, sizeof(*v));
    if (v == NULL)
        return no_memory(n->file, err);
    *out = v;
    for (i = 0; i < n->n; i++) {
        if (etx_ydoc_strv(n->items[i], what, &v[i].argc, &v[i].argv, err) !=
            ETX_OK)
            return ETX_ERR;
        *count = i + 1;
        if (v[i].argv[0][0] != '/')
            return etx_ydoc_fail(err, n->items[i]->items[0],
                                 "expected an "
                                 "absolute path as the first word of a "
                                 "command in '%s', found '%.64s'",
                                 what, v[i].argv[0]);
    }
    return ETX_OK;
}

static int
parse_key_file(struct etx_agent_config *cfg, const struct etx_ydoc_node *n,
               struct etx_error *err)
{
    if (n == NULL)
        return ETX_OK;
    if (check_abs_path(n, "key_file", err) != ETX_OK ||
        etx_ydoc_strdup(n, "key_file", &cfg->key_file, err) != ETX_OK)
        return ETX_ERR;
    cfg->key_file_line = n->line;
    cfg->key_file_col = n->col;
    return ETX_OK;
}

static int
parse_state_dir(struct etx_agent_config *cfg, const struct etx_ydoc_node *n,
                struct etx_error *err)
{
    if (n == NULL) {
        cfg->state_dir = strdup(ETX_AGENT_CONFIG_STATE_DIR);
        return cfg->state_dir == NULL ? no_memory(cfg->path, err) : ETX_OK;
    }
    if (check_abs_path(n, "state_dir", err) != ETX_OK)
        return ETX_ERR;
    return etx_ydoc_strdup(n, "state_dir", &cfg->state_dir, err);
}

static int
parse_config(struct etx_agent_config *cfg, const struct etx_ydoc *doc,
             struct etx_error *err)
{
    const struct etx_ydoc_node *root = etx_ydoc_root(doc);
    const struct etx_ydoc_node *n = NULL;
    char where[512];

    if (root == NULL) {
        snprintf(where, sizeof(where), "%s:1:1", cfg->path);
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "yaml", where,
                             "empty agent config: expected a YAML mapping "
                             "with at least 'roots'");
    }
    if (etx_ydoc_check_keys(root, config_keys, "the agent config", err) !=
            ETX_OK ||
        parse_listen(cfg, etx_ydoc_get(root, "listen"), err) != ETX_OK ||
        parse_key_file(cfg, etx_ydoc_get(root, "key_file"), err) != ETX_OK ||
        parse_roots(cfg, root, err) != ETX_OK ||
        parse_state_dir(cfg, etx_ydoc_get(root, "state_dir"), err) != ETX_OK)
        return ETX_ERR;
    if ((n = etx_ydoc_get(root, "restart_units")) != NULL &&
        parse_units(cfg, n, err) != ETX_OK)
        return ETX_ERR;
    if ((n = etx_ydoc_get(root, "restart_commands")) != NULL &&
        parse_commands(n, "restart_commands", &cfg->n_restart_commands,
                       &cfg->restart_commands, err) != ETX_OK)
        return ETX_ERR;
    if ((n = etx_ydoc_get(root, "health_commands")) != NULL &&
        parse_commands(n, "health_commands", &cfg->n_health_commands,
                       &cfg->health_commands, err) != ETX_OK)
        return ETX_ERR;
    return ETX_OK;
}

static int
load_doc(const struct etx_ydoc *doc, struct etx_agent_config **out,
         struct etx_error *err)
{
    struct etx_agent_config *cfg = calloc(1, sizeof(*cfg));
    int rc = ETX_ERR;

    if (cfg == NULL || (cfg->path = strdup(etx_ydoc_name(doc))) == NULL) {
        rc = no_memory(etx_ydoc_name(doc), err);
        goto out;
    }
    rc = parse_config(cfg, doc, err);
out:
    if (rc == ETX_OK)
        *out = cfg;
    else
        etx_agent_config_free(cfg);
    return rc;
}

int
etx_agent_config_load_buffer(const char *name, const char *data, size_t len,
                             struct etx_agent_config **out,
                             struct etx_error *err)
{
    struct etx_ydoc *doc = NULL;
    int rc;

    *out = NULL;
    if (etx_ydoc_load_buffer(name, data, len, &doc, err) != ETX_OK)
        return ETX_ERR;
    rc = load_doc(doc, out, err);
    etx_ydoc_free(doc);
    return rc;
}

int
etx_agent_config_load(const char *path, struct etx_agent_config **out,
                      struct etx_error *err)
{
    struct etx_ydoc *doc = NULL;
    int rc;

    *out = NULL;
    if (etx_ydoc_load(path, &doc, err) != ETX_OK)
        return ETX_ERR;
    rc = load_doc(doc, out, err);
    etx_ydoc_free(doc);
    return rc;
}

static void
commands_free(struct etx_agent_argv *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++)
        etx_ydoc_strv_free(v[i].argv);
    free(v);
}

void
etx_agent_config_free(struct etx_agent_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->listen);
    free(cfg->listen_host);
    free(cfg->key_file);
    etx_ydoc_strv_free(cfg->roots);
    etx_ydoc_strv_free(cfg->restart_units);
    commands_free(cfg->restart_commands, cfg->n_restart_commands);
    commands_free(cfg->health_commands, cfg->n_health_commands);
    free(cfg->state_dir);
    free(cfg);
}

int
etx_agent_config_check_key_perms(const struct etx_agent_config *cfg,
                                 struct etx_error *err)
{
    char where[512];
    struct stat st;

    if (cfg->key_file == NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "config", cfg->path,
                             "no key_file in the agent config; the TCP "
                             "listener needs a pre-shared key");
    snprintf(where, sizeof(where), "%s:%u:%u", cfg->path, cfg->key_file_line,
             cfg->key_file_col);
    if (stat(cfg->key_file, &st) != 0)
        return etx_error_set(err, ETX_CLASS_INPUT, errno, "config", where,
                             "cannot use key_file %s: %s", cfg->key_file,
                             strerror(errno));
    if (!S_ISREG(st.st_mode))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "config", where,
                             "key_file %s is not a regular file",
                             cfg->key_file);
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "config", where,
                             "key_file %s is owned by uid %u; it must be "
                             "owned by root or by the agent's user (uid %u)",
                             cfg->key_file, (unsigned)st.st_uid,
                             (unsigned)geteuid());
    if ((st.st_mode & 077) != 0)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "config", where,
                             "key_file %s has mode %04o: it must not be "
                             "readable or writable by group or others "
                             "(chmod 600 it)",
                             cfg->key_file, (unsigned)(st.st_mode & 07777));
    return ETX_OK;
}

bool
etx_agent_config_allows_unit(const struct etx_agent_config *cfg,
                             const char *unit)
{
    size_t i;

    for (i = 0; i < cfg->n_restart_units; i++)
        if (strcmp(cfg->restart_units[i], unit) == 0)
            return true;
    return false;
}

static bool
argv_listed(const struct etx_agent_argv *v, size_t n, size_t argc,
            const char *const *argv)
{
    size_t i, j;

    for (i = 0; i < n; i++) {
        if (v[i].argc != argc)
            continue;
        for (j = 0; j < argc && strcmp(v[i].argv[j], argv[j]) == 0; j++)
            continue;
        if (j == argc)
            return true;
    }
    return false;
}

bool
etx_agent_config_allows_restart_command(const struct etx_agent_config *cfg,
                                        size_t argc, const char *const *argv)
{
    return argv_listed(cfg->restart_commands, cfg->n_restart_commands, argc,
                       argv);
}

bool
etx_agent_config_allows_health_command(const struct etx_agent_config *cfg,
                                       size_t argc, const char *const *argv)
{
    return argv_listed(cfg->health_commands, cfg->n_health_commands, argc,
                       argv);
}
