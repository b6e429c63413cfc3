/* SPDX-License-Identifier: MIT */
/*
 * The inventory's sections on what a rollout does on each host: the
 * artifact, the target and its strategy, the restart and the health
 * checks. Called in order by inventory.c (inventory_internal.h). The
 * strings that name host things may use variables: those are checked per
 * host, once inventory_vars.c has made each host's value.
 */
#include "coordinator/inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/inventory_internal.h"
#include "proto/digest.h"
#include "proto/units.h"
#include "proto/ydoc.h"

#define DEFAULT_TIMEOUT (60u * 1000)

bool
etx_inventory__is_template(const char *s)
{
    return strchr(s, '$') != NULL;
}

static bool
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
is_word(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

/* Why value is not what 'check' asks for, into msg; false if it is. */
static bool
why_bad(enum etx_inventory__check check, const char *what, const char *value,
        char *msg, size_t len)
{
    const char *why = NULL;
    uint16_t port = 0;

    switch (check) {
    case ETX_INVENTORY__CHECK_PATH:
        if (etx_units_abs_path(value, NULL) == ETX_OK)
            return false;
        snprintf(msg, len,
                 "expected an absolute path for the target, without '.', "
                 "'..', '//' or a trailing '/', found '%.64s'",
                 value);
        return true;
    case ETX_INVENTORY__CHECK_URL:
        if ((starts_with(value, "http://") && value[7] != '\0') ||
            (starts_with(value, "https://") && value[8] != '\0'))
            return false;
        snprintf(msg, len,
                 "expected an http:// or https:// URL for '%s', found '%.64s'",
                 what, value);
        return true;
    case ETX_INVENTORY__CHECK_ADDRESS:
        if (etx_units_host_port(value, NULL, 0, &port, &why) == ETX_OK)
            return false;
        snprintf(msg, len, "bad address '%.64s' for '%s': %s", value, what,
                 why);
        return true;
    case ETX_INVENTORY__CHECK_UNIT:
        if (etx_units_unit_name(value, &why) == ETX_OK)
            return false;
        snprintf(msg, len, "bad unit name '%.64s': %s", value, why);
        return true;
    case ETX_INVENTORY__CHECK_COMMAND:
    default:
        if (value[0] == '/')
            return false;
        snprintf(msg, len,
                 "expected an absolute path as the first word of '%s' (it "
                 "runs without a shell), found '%.64s'",
                 what, value);
        return true;
    }
}

int
etx_inventory__check_value(struct etx_inventory__ctx *c,
                           enum etx_inventory__check check,
                           const struct etx_ydoc_node *n, const char *what,
                           const char *value, const char *host)
{
    char msg[400];

    if (host != NULL && check != ETX_INVENTORY__CHECK_COMMAND &&
        !is_word(value))
        snprintf(msg, sizeof(msg),
                 "expected no blanks or control characters in '%s'", what);
    else if (!why_bad(check, what, value, msg, sizeof(msg)))
        return ETX_OK;
    if (host == NULL)
        return etx_ydoc_fail(c->err, n, "%s", msg);
    return etx_ydoc_fail(c->err, n, "%s (host '%s' makes it from '%.64s')", msg,
                         host, n->str);
}

/* argv for a command run without a shell: argv[0] must be absolute. */
static int
get_argv(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
         const char *what, size_t *argc, char ***argv)
{
    if (etx_ydoc_strv(n, what, argc, argv, c->err) != ETX_OK)
        return ETX_ERR;
    if (etx_inventory__is_template((*argv)[0]))
        return ETX_OK;
    return etx_inventory__check_value(c, ETX_INVENTORY__CHECK_COMMAND,
                                      n->items[0], what, (*argv)[0], NULL);
}

/* An http:// or https:// URL with something after the scheme. */
static int
get_url(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n,
        const char *what, char **out)
{
    const char *s = NULL;

    if (etx_inventory__get_word(c, n, what, &s) != ETX_OK)
        return ETX_ERR;
    if (!etx_inventory__is_template(s) &&
        etx_inventory__check_value(c, ETX_INVENTORY__CHECK_URL, n, what, s,
                                   NULL) != ETX_OK)
        return ETX_ERR;
    *out = strdup(s);
    return *out == NULL ? etx_inventory__no_memory(c) : ETX_OK;
}

static const char *const artifact_keys[] = {"path", "url", "sha256", "version",
                                            NULL};

static int
parse_artifact_sum(struct etx_inventory__ctx *c, const struct etx_ydoc_node *a)
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
    return etx_inventory__dup_name(c, ver, "artifact version", "._+-",
                                   &art->version);
}

int
etx_inventory__parse_artifact(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *a =
        etx_inventory__need(c, c->root, "artifact", "the inventory");
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
    if (path != NULL &&
        etx_inventory__dup_path(c, path, "path", &art->path) != ETX_OK)
        return ETX_ERR;
    if (url != NULL && get_url(c, url, "url", &art->url) != ETX_OK)
        return ETX_ERR;
    return parse_artifact_sum(c, a);
}

static const char *const target_keys[] = {"path",  "strategy", "mode", "owner",
                                          "group", "keep",     NULL};

static int
parse_target_owner(struct etx_inventory__ctx *c, const struct etx_ydoc_node *t)
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
        etx_inventory__dup_name(c, n, "owner", "._-", &tg->owner) != ETX_OK)
        return ETX_ERR;
    if ((n = etx_ydoc_get(t, "group")) != NULL &&
        etx_inventory__dup_name(c, n, "group", "._-", &tg->group) != ETX_OK)
        return ETX_ERR;
    if ((n = etx_ydoc_get(t, "keep")) != NULL &&
        etx_ydoc_uint(n, "keep", 2, 1000, &keep, c->err) != ETX_OK)
        return ETX_ERR;
    tg->keep = (unsigned)keep;
    return ETX_OK;
}

int
etx_inventory__parse_target(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *t =
        etx_inventory__need(c, c->root, "target", "the inventory");
    const struct etx_ydoc_node *path = NULL;
    const struct etx_ydoc_node *strat = NULL;
    struct etx_inv_target *tg = &c->inv->target;
    int s = ETX_STRATEGY_RENAME;

    if (t == NULL ||
        etx_ydoc_check_keys(t, target_keys, "target", c->err) != ETX_OK ||
        (path = etx_inventory__need(c, t, "path", "target")) == NULL ||
        etx_inventory__dup_word(c, path, "path", &tg->path) != ETX_OK)
        return ETX_ERR;
    if (!etx_inventory__is_template(tg->path) &&
        etx_inventory__check_value(c, ETX_INVENTORY__CHECK_PATH, path, "path",
                                   tg->path, NULL) != ETX_OK)
        return ETX_ERR;
    strat = etx_ydoc_get(t, "strategy");
    if (strat != NULL &&
        etx_ydoc_choice(strat, "strategy", etx_inventory__strategy_names, &s,
                        c->err) != ETX_OK)
        return ETX_ERR;
    tg->strategy = (enum etx_strategy)s;
    if (tg->strategy != ETX_STRATEGY_RENAME && c->inv->artifact.version == NULL)
        return etx_ydoc_fail(c->err, strat,
                             "strategy '%s' needs "
                             "artifact.version (it names each %s)",
                             etx_inventory__strategy_names[s],
                             s == ETX_STRATEGY_GENERATIONS ? "generation"
                                                           : "release");
    return parse_target_owner(c, t);
}

/* A systemd unit name: no path, no blank, not an option. */
static int
check_unit(struct etx_inventory__ctx *c, const struct etx_ydoc_node *n)
{
    if (etx_ydoc_expect(n, ETX_YDOC_SCALAR, "unit", c->err) != ETX_OK)
        return ETX_ERR;
    if (etx_inventory__is_template(n->str))
        return ETX_OK;
    return etx_inventory__check_value(c, ETX_INVENTORY__CHECK_UNIT, n, "unit",
                                      n->str, NULL);
}

static const char *const restart_keys[] = {"unit", "command", "timeout",
                                           "confirm", NULL};

/* restart.confirm: a duration above 0, at most an hour (it goes as u32). */
static int
get_confirm(struct etx_inventory__ctx *c, const struct etx_ydoc_node *r)
{
    const struct etx_ydoc_node *n = etx_ydoc_get(r, "confirm");
    uint64_t *ms = &c->inv->restart.confirm_ms;

    if (n == NULL)
        return ETX_OK;
    if (etx_inventory__positive_duration(c, n, "confirm", ms) != ETX_OK)
        return ETX_ERR;
    if (*ms > ETX_INVENTORY_CONFIRM_MAX_MS)
        return etx_ydoc_fail(c->err, n,
                             "expected a duration of at most 1h for "
                             "'confirm', found '%.64s'",
                             n->str);
    return ETX_OK;
}

int
etx_inventory__parse_restart(struct etx_inventory__ctx *c)
{
    const struct etx_ydoc_node *r = etx_ydoc_get(c->root, "restart");
    const struct etx_ydoc_node *unit = NULL;
    const struct etx_ydoc_node *cmd = NULL;
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_restart *rs = &c->inv->restart;

    rs->timeout_ms = DEFAULT_TIMEOUT;
    rs->confirm_ms = ETX_INVENTORY_CONFIRM_MS;
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
            etx_inventory__dup_word(c, unit, "unit", &rs->unit) != ETX_OK)
            return ETX_ERR;
    } else {
        rs->kind = ETX_RESTART_COMMAND;
        if (get_argv(c, cmd, "command", &rs->argc, &rs->argv) != ETX_OK)
            return ETX_ERR;
    }
    n = etx_ydoc_get(r, "timeout");
    if (n != NULL && etx_inventory__positive_duration(
                         c, n, "timeout", &rs->timeout_ms) != ETX_OK)
        return ETX_ERR;
    return get_confirm(c, r);
}

static const char *const http_keys[] = {"url", "status", "body_contains", NULL};

static int
parse_http(struct etx_inventory__ctx *c, const struct etx_ydoc_node *h)
{
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_health *hl = &c->inv->health;
    uint64_t status = 200;

    if (etx_ydoc_check_keys(h, http_keys, "health.http", c->err) != ETX_OK ||
        (n = etx_inventory__need(c, h, "url", "health.http")) == NULL ||
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
parse_tcp(struct etx_inventory__ctx *c, const struct etx_ydoc_node *t)
{
    static const char *const tcp_keys[] = {"address", NULL};
    const struct etx_ydoc_node *n = NULL;

    if (etx_ydoc_check_keys(t, tcp_keys, "health.tcp", c->err) != ETX_OK ||
        (n = etx_inventory__need(c, t, "address", "health.tcp")) == NULL ||
        etx_inventory__dup_word(c, n, "address", &c->inv->health.tcp_address) !=
            ETX_OK)
        return ETX_ERR;
    if (etx_inventory__is_template(n->str))
        return ETX_OK;
    return etx_inventory__check_value(c, ETX_INVENTORY__CHECK_ADDRESS, n,
                                      "address", n->str, NULL);
}

static const char *const health_keys[] = {"http",     "tcp",     "exec",
                                          "interval", "timeout", "consecutive",
                                          "deadline", NULL};

static int
parse_health_timing(struct etx_inventory__ctx *c, const struct etx_ydoc_node *h)
{
    const struct etx_ydoc_node *n = NULL;
    struct etx_inv_health *hl = &c->inv->health;
    uint64_t cons = 3;

    if (((n = etx_ydoc_get(h, "interval")) != NULL &&
         etx_inventory__positive_duration(c, n, "interval", &hl->interval_ms) !=
             ETX_OK) ||
        ((n = etx_ydoc_get(h, "timeout")) != NULL &&
         etx_inventory__positive_duration(c, n, "timeout", &hl->timeout_ms) !=
             ETX_OK) ||
        ((n = etx_ydoc_get(h, "deadline")) != NULL &&
         etx_inventory__positive_duration(c, n, "deadline", &hl->deadline_ms) !=
             ETX_OK) ||
        ((n = etx_ydoc_get(h, "consecutive")) != NULL &&
         etx_ydoc_uint(n, "consecutive", 1, 1000, &cons, c->err) != ETX_OK))
        return ETX_ERR;
    hl->consecutive = (unsigned)cons;
    return ETX_OK;
}

int
etx_inventory__parse_health(struct etx_inventory__ctx *c)
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
            (n = etx_inventory__need(c, n, "command", "health.exec")) == NULL ||
            get_argv(c, n, "command", &hl->exec_argc, &hl->exec_argv) != ETX_OK)
            return ETX_ERR;
    }
    return parse_health_timing(c, h);
}
