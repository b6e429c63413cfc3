/* SPDX-License-Identifier: MIT */
/*
 * The session's steps that run on the loop (see session_internal.h): a
 * restart (agent/restart.h), a health check (agent/health.h) and a pull
 * (agent/pull.h). Which units and commands may run is the agent config's
 * decision, checked here before anything starts: a refused request runs
 * nothing. Each run holds the session until its callback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/health.h"
#include "agent/pull.h"
#include "agent/restart.h"
#include "agent/session_internal.h"
#include "proto/units.h"

/* The largest artifact a pull accepts (the spool is in state_dir). */
#define SESSION_PULL_MAX (64ull << 30)

/* A NULL-ended copy of a request's command into q->argv. */
static int
copy_argv(struct etx_session_req *q, const Etxroll__Command *c)
{
    size_t i;

    q->argv = calloc(c->n_argv + 1, sizeof(*q->argv));
    for (i = 0; q->argv != NULL && i < c->n_argv; i++)
        if ((q->argv[i] = strdup(c->argv[i])) == NULL)
            break;
    if (q->argv != NULL && i == c->n_argv)
        return ETX_OK;
    etx_session__refuse(q, ETX_CLASS_INTERNAL, "out of memory");
    return ETX_ERR;
}

/* ---- restart ---- */

/*
 * One try of the exec check and the start per request: a writer on the
 * target or ETXTBSY is answered at once as transient, and the coordinator
 * retries it under the inventory's retry policy, so that every try is in
 * its journal and JSON log (docs/rollout.md).
 */
static const struct etx_backoff_policy restart_once = {.attempts = 1};

static int
restart_allowed(struct etx_session_req *q, const Etxroll__RestartRequest *r)
{
    const struct etx_agent_config *cfg = q->s->ctx.cfg;
    const Etxroll__Command *c = r->command;

    if (r->how_case == ETXROLL__RESTART_REQUEST__HOW_UNIT) {
        if (etx_agent_config_allows_unit(cfg, r->unit))
            return ETX_OK;
        etx_session__refuse(q, ETX_CLASS_INPUT,
                            "restart of unit '%s' is not allowed by the "
                            "agent config (restart_units)",
                            r->unit);
        return ETX_ERR;
    }
    if (r->how_case != ETXROLL__RESTART_REQUEST__HOW_COMMAND || c == NULL ||
        c->n_argv == 0) {
        etx_session__refuse(q, ETX_CLASS_INPUT,
                            "the restart names neither a unit nor a command");
        return ETX_ERR;
    }
    if (!etx_agent_config_allows_restart_command(
            cfg, c->n_argv, (const char *const *)c->argv)) {
        etx_session__refuse(q, ETX_CLASS_INPUT,
                            "restart command %s is not allowed by the agent "
                            "config (restart_commands)",
                            c->argv[0]);
        return ETX_ERR;
    }
    return copy_argv(q, c);
}

static void
restart_done(const struct etx_restart_result *r, void *arg)
{
    struct etx_session_req *q = arg;
    struct etx_session *s = q->s;
    const struct etx_holders *h = &r->writers;

    s->restart = NULL;
    if (r->status == ETX_OK) {
        etx_reply_ok(q->reply, "restarted: pid %d runs the new inode",
                     r->running_new.n > 0 ? (int)r->running_new.v[0].pid : 0);
    } else {
        if (r->running_old.n > 0)
            h = &r->running_old;
        etx_reply_fail(q->reply, &r->err, h);
        etx_reply_attempts(q->reply, r->attempts, r->waited_ms);
    }
    etx_session__finish(q);
    etx_session__release(s);
}

static void
start_restart(struct etx_session_req *q, const struct etx_fileinfo *new_fi,
              const struct etx_fileinfo *old_fi)
{
    const Etxroll__RestartRequest *r = q->env->restart;
    struct etx_restart_spec spec = {0};
    struct etx_error err = {0};
    struct etx_session *s = q->s;

    if (r->how_case == ETXROLL__RESTART_REQUEST__HOW_UNIT)
        spec.unit = r->unit;
    spec.argv = (const char *const *)q->argv;
    spec.target = q->t.path;
    spec.new_id = etx_fileinfo_id(new_fi);
    spec.has_old_id = old_fi != NULL && old_fi->exists;
    if (spec.has_old_id)
        spec.old_id = etx_fileinfo_id(old_fi);
    spec.timeout_ms = r->timeout_ms;
    spec.confirm_ms = r->confirm_ms;
    spec.retry = &restart_once;
    if (etx_restart_start(s->ctx.loop, &spec, restart_done, q, &s->restart,
                          &err) != ETX_OK) {
        etx_session__fail(q, &err, NULL);
        return;
    }
    etx_session__hold(s);
}

/* No swap in this session named the target: restart on what is live. */
static void
after_restart_probe(struct etx_session_req *q)
{
    const struct etx_facts_target *f = q->facts;
    const struct etx_fileinfo *fi = NULL;

    if (q->status != ETX_OK) {
        etx_session__fail(q, &q->err, NULL);
        return;
    }
    fi = f->link_text[0] != '\0' ? &f->resolved : &f->file;
    if (!fi->exists) {
        etx_session__refuse(q, ETX_CLASS_PLACEMENT,
                            "the target does not exist: nothing to restart");
        return;
    }
    start_restart(q, fi, NULL);
}

void
etx_session__restart(struct etx_session *s, Etxroll__Envelope *env)
{
    struct etx_session_req *q = etx_session__req_new(s, env, "restart");

    if (q == NULL || etx_session__target(q, env->restart->target) != ETX_OK ||
        restart_allowed(q, env->restart) != ETX_OK)
        return;
    if (s->has_swap && strcmp(s->swap_path, q->t.path) == 0)
        start_restart(q, &s->swap.new, &s->swap.old);
    else
        etx_session__probe_then(q, after_restart_probe);
}

/* ---- health ---- */

static void
health_done(const struct etx_health_result *r, void *arg)
{
    struct etx_session_req *q = arg;
    struct etx_session *s = q->s;

    s->health = NULL;
    etx_reply_health(q->reply, r->passes, r->failures);
    if (r->healthy)
        etx_reply_ok(q->reply,
                     "healthy: %u probe(s) passed of %u in %" PRIu64 " ms",
                     r->passes, r->probes, r->elapsed_ms);
    else
        etx_reply_fail(q->reply, &r->err, NULL);
    etx_session__finish(q);
    etx_session__release(s);
}

static int
health_kind(struct etx_session_req *q, const Etxroll__HealthRequest *h,
            struct etx_health_spec *spec, char *host, size_t hostlen)
{
    const char *why = NULL;
    uint16_t port = 0;
    int n = (h->http_url[0] != '\0') + (h->tcp_address[0] != '\0') +
            (h->exec != NULL && h->exec->n_argv > 0);

    if (n != 1) {
        etx_session__refuse(q, ETX_CLASS_INPUT,
                            "a health check names exactly one of http_url, "
                            "tcp_address and exec");
        return ETX_ERR;
    }
    if (h->http_url[0] != '\0') {
        spec->kind = ETX_HEALTH_HTTP;
        spec->url = q->path = h->http_url;
        spec->status = h->http_status;
        if (h->http_body_contains[0] != '\0')
            spec->body_contains = h->http_body_contains;
        return ETX_OK;
    }
    if (h->tcp_address[0] != '\0') {
        q->path = h->tcp_address;
        if (etx_units_host_port(h->tcp_address, host, hostlen, &port, &why) !=
            ETX_OK) {
            etx_session__refuse(q, ETX_CLASS_INPUT, "%s", why);
            return ETX_ERR;
        }
        spec->kind = ETX_HEALTH_TCP;
        spec->host = host;
        spec->port = port;
        return ETX_OK;
    }
    q->path = h->exec->argv[0];
    if (!etx_agent_config_allows_health_command(
            q->s->ctx.cfg, h->exec->n_argv,
            (const char *const *)h->exec->argv)) {
        etx_session__refuse(q, ETX_CLASS_INPUT,
                            "health command %s is not allowed by the agent "
                            "config (health_commands)",
                            h->exec->argv[0]);
        return ETX_ERR;
    }
    spec->kind = ETX_HEALTH_EXEC;
    return copy_argv(q, h->exec);
}

void
etx_session__health(struct etx_session *s, Etxroll__Envelope *env)
{
    const Etxroll__HealthRequest *h = env->health;
    struct etx_session_req *q = etx_session__req_new(s, env, "health");
    struct etx_health_spec spec = {0};
    struct etx_error err = {0};
    char host[256];

    if (q == NULL || health_kind(q, h, &spec, host, sizeof(host)) != ETX_OK)
        return;
    spec.argv = (const char *const *)q->argv;
    spec.interval_ms = h->interval_ms;
    spec.timeout_ms = h->timeout_ms;
    spec.consecutive = h->consecutive;
    spec.deadline_ms = h->deadline_ms;
    if (etx_health_start(s->ctx.loop, &spec, health_done, q, &s->health,
                         &err) != ETX_OK) {
        etx_session__fail(q, &err, NULL);
        return;
    }
    etx_session__hold(s);
}

/* ---- pull: download into an unnamed spool file, then stage it ---- */

static int
spool_write(void *arg, const void *buf, size_t len, struct etx_error *err)
{
    struct etx_session_req *q = arg;
    const char *p = buf;
    ssize_t n;

    while (len > 0) {
        n = write(q->spool_fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "pull",
                                 q->s->ctx.cfg->state_dir,
                                 "cannot spool the download");
        p += n;
        len -= (size_t)n;
        q->spool_size += (uint64_t)n;
    }
    return ETX_OK;
}

static void
spool_discard(void *arg)
{
    struct etx_session_req *q = arg;

    if (q->spool_fd >= 0)
        close(q->spool_fd); /* unnamed: closing it removes it */
    q->spool_fd = -1;
    q->spool_size = 0;
}

static void
pull_done(const struct etx_pull_result *r, void *arg)
{
    struct etx_session_req *q = arg;
    struct etx_session *s = q->s;

    s->pull = NULL;
    if (r->status != ETX_OK)
        etx_session__fail(q, &r->err, NULL);
    else if (s->state == ETX_SESSION_CLOSING)
        etx_session__finish(q);
    else
        etx_session__stage_spool(q);
    etx_session__release(s);
}

static int
open_spool(struct etx_session_req *q)
{
    const char *dir = q->s->ctx.cfg->state_dir;
    struct etx_error err = {0};

    q->spool_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (q->spool_fd >= 0)
        return ETX_OK;
    etx_error_sys(&err, errno, ETX_CTX_FILE, "pull", dir,
                  "cannot make a spool file for the download");
    etx_session__fail(q, &err, NULL);
    return ETX_ERR;
}

void
etx_session__pull(struct etx_session *s, Etxroll__Envelope *env)
{
    const Etxroll__PullRequest *p = env->pull;
    struct etx_session_req *q = etx_session__req_new(s, env, "pull");
    struct etx_pull_spec spec = {
        .url = p->url, .sha256 = p->sha256, .max_size = SESSION_PULL_MAX};
    struct etx_pull_sink sink = {spool_write, spool_discard, NULL};
    struct etx_error err = {0};

    if (q == NULL || etx_session__target(q, p->target) != ETX_OK)
        return;
    etx_session__drop_stage(s); /* a pull replaces any stage */
    if (open_spool(q) != ETX_OK)
        return;
    sink.arg = q;
    if (etx_pull_start(s->ctx.loop, &spec, &sink, pull_done, q, &s->pull,
                       &err) != ETX_OK) {
        etx_session__fail(q, &err, NULL);
        return;
    }
    etx_session__hold(s);
}
