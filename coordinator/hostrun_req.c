/* SPDX-License-Identifier: MIT */
/*
 * The requests of a host's steps (coordinator/hostrun_internal.h): the
 * target and the step's message built from the inventory, the artifact
 * pushed in ETX_FRAME_CHUNK chunks with backpressure (StageBegin and
 * StageChunk go with etx_peer_send(): the agent answers them only when
 * they fail, and StageEnd then reports the same failure; on ETX_AGAIN the
 * push waits for the peer's drain callback), and the agent's
 * Error read back into ours. Chunks are read with pread(2) on the loop,
 * at most one chunk per send: a small, bounded read of a local file.
 */
#include "coordinator/hostrun_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/frame.h"

static const char *const step_names[] = {
    [HR_STEP_NONE] = "none",         [HR_STEP_PROBE] = "probe",
    [HR_STEP_CLEANUP] = "cleanup",   [HR_STEP_STAGE] = "stage",
    [HR_STEP_VERIFY] = "verify",     [HR_STEP_SWAP] = "swap",
    [HR_STEP_RESTART] = "restart",   [HR_STEP_CHECK] = "check",
    [HR_STEP_ROLLBACK] = "rollback", [HR_STEP_RB_RESTART] = "restart",
    [HR_STEP_RB_CHECK] = "check",    [HR_STEP_END] = "end",
};

_Static_assert(sizeof(step_names) / sizeof(step_names[0]) == HR_STEP_END + 1,
               "one name per step");

const char *
etx_hostrun__step_name(enum hostrun_step s)
{
    return step_names[s];
}

static void
fill_target(const struct etx_hostrun *h, Etxroll__Target *t)
{
    const struct etx_inventory *inv = h->env->inv;

    t->path = h->host->target_path;
    t->strategy = (Etxroll__Strategy)inv->target.strategy;
    t->mode_set = inv->target.mode_set;
    t->mode = inv->target.mode;
    t->owner = inv->target.owner != NULL ? inv->target.owner : "";
    t->group = inv->target.group != NULL ? inv->target.group : "";
    t->keep = inv->target.keep;
    t->version = inv->artifact.version != NULL ? inv->artifact.version : "";
}

static void
step_cb(struct etx_peer *p, const Etxroll__Result *res,
        const struct etx_error *err, void *arg)
{
    (void)p;
    etx_hostrun__result(arg, res, err);
}

static int
request(struct etx_hostrun *h, Etxroll__Envelope *env, struct etx_error *err)
{
    int rc = etx_peer_request(h->peer, env, step_cb, h, err);

    if (rc == ETX_OK)
        h->wait = HR_WAIT_RESULT;
    else if (rc == ETX_AGAIN)
        rc = etx_error_set(err, ETX_CLASS_TRANSIENT, EAGAIN, "send",
                           h->host->name, "the connection's queue is full");
    return rc;
}

static int
send_probe(struct etx_hostrun *h, struct etx_error *err)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__ProbeRequest r = ETXROLL__PROBE_REQUEST__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;

    fill_target(h, &t);
    r.target = &t;
    env.body_case = ETXROLL__ENVELOPE__BODY_PROBE;
    env.probe = &r;
    return request(h, &env, err);
}

static int
send_digest_step(struct etx_hostrun *h, struct etx_error *err)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__VerifyRequest v = ETXROLL__VERIFY_REQUEST__INIT;
    Etxroll__SwapRequest s = ETXROLL__SWAP_REQUEST__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;

    fill_target(h, &t);
    if (h->step == HR_STEP_VERIFY) {
        v.target = &t;
        v.sha256 = (char *)h->env->sha256;
        env.body_case = ETXROLL__ENVELOPE__BODY_VERIFY;
        env.verify = &v;
    } else {
        s.target = &t;
        s.sha256 = (char *)h->env->sha256;
        env.body_case = ETXROLL__ENVELOPE__BODY_SWAP;
        env.swap = &s;
    }
    return request(h, &env, err);
}

static int
send_restart(struct etx_hostrun *h, struct etx_error *err)
{
    const struct etx_inv_restart *rs = &h->env->inv->restart;
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__RestartRequest r = ETXROLL__RESTART_REQUEST__INIT;
    Etxroll__Command cmd = ETXROLL__COMMAND__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;

    fill_target(h, &t);
    r.target = &t;
    r.timeout_ms = (uint32_t)rs->timeout_ms;
    r.confirm_ms = (uint32_t)rs->confirm_ms; /* at most 1 h (inventory) */
    if (rs->kind == ETX_RESTART_UNIT) {
        r.how_case = ETXROLL__RESTART_REQUEST__HOW_UNIT;
        r.unit = h->host->restart_unit;
    } else {
        cmd.n_argv = rs->argc;
        cmd.argv = h->host->restart_argv;
        r.how_case = ETXROLL__RESTART_REQUEST__HOW_COMMAND;
        r.command = &cmd;
    }
    env.body_case = ETXROLL__ENVELOPE__BODY_RESTART;
    env.restart = &r;
    return request(h, &env, err);
}

static int
send_health(struct etx_hostrun *h, struct etx_error *err)
{
    const struct etx_inv_health *hc = &h->env->inv->health;
    const struct etx_inv_host *ho = h->host;
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__HealthRequest r = ETXROLL__HEALTH_REQUEST__INIT;
    Etxroll__Command cmd = ETXROLL__COMMAND__INIT;

    r.http_url = ho->health_http_url != NULL ? ho->health_http_url : "";
    r.http_status = hc->http_status;
    r.http_body_contains =
        hc->http_body_contains != NULL ? hc->http_body_contains : "";
    r.tcp_address =
        ho->health_tcp_address != NULL ? ho->health_tcp_address : "";
    if (hc->exec_argc > 0) {
        cmd.n_argv = hc->exec_argc;
        cmd.argv = ho->health_exec_argv;
        r.exec = &cmd;
    }
    r.interval_ms = (uint32_t)hc->interval_ms;
    r.timeout_ms = (uint32_t)hc->timeout_ms;
    r.consecutive = hc->consecutive;
    r.deadline_ms = (uint32_t)hc->deadline_ms;
    env.body_case = ETXROLL__ENVELOPE__BODY_HEALTH;
    env.health = &r;
    return request(h, &env, err);
}

static int
send_rollback(struct etx_hostrun *h, struct etx_error *err)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__RollbackRequest r = ETXROLL__ROLLBACK_REQUEST__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;

    fill_target(h, &t);
    r.target = &t;
    env.body_case = ETXROLL__ENVELOPE__BODY_ROLLBACK;
    env.rollback = &r;
    return request(h, &env, err);
}

static int
send_cleanup(struct etx_hostrun *h, struct etx_error *err)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__CleanupRequest r = ETXROLL__CLEANUP_REQUEST__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;

    fill_target(h, &t);
    r.target = &t;
    r.older_than_s = 0; /* a temp nobody holds open is a dead run's */
    env.body_case = ETXROLL__ENVELOPE__BODY_CLEANUP;
    env.cleanup = &r;
    return request(h, &env, err);
}

static int
send_pull(struct etx_hostrun *h, struct etx_error *err)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__PullRequest r = ETXROLL__PULL_REQUEST__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;

    fill_target(h, &t);
    r.target = &t;
    r.url = h->env->inv->artifact.url;
    r.sha256 = (char *)h->env->sha256;
    env.body_case = ETXROLL__ENVELOPE__BODY_PULL;
    env.pull = &r;
    return request(h, &env, err);
}

void
etx_hostrun__push_end(struct etx_hostrun *h)
{
    if (h->art_fd >= 0)
        close(h->art_fd);
    h->art_fd = -1;
    free(h->chunk);
    h->chunk = NULL;
}

static int
send_stage_begin(struct etx_hostrun *h, struct etx_error *err)
{
    const char *path = h->env->inv->artifact.path;
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__StageBegin b = ETXROLL__STAGE_BEGIN__INIT;
    Etxroll__Target t = ETXROLL__TARGET__INIT;
    int rc;

    etx_hostrun__push_end(h);
    h->art_fd = open(path, O_RDONLY | O_CLOEXEC);
    h->chunk = malloc(ETX_FRAME_CHUNK);
    if (h->art_fd < 0 || h->chunk == NULL) {
        rc = etx_error_sys(err, h->chunk == NULL ? ENOMEM : errno, ETX_CTX_FILE,
                           "open", path, "cannot read the artifact");
        etx_hostrun__push_end(h);
        return rc;
    }
    h->art_off = 0;
    fill_target(h, &t);
    b.target = &t;
    b.sha256 = (char *)h->env->sha256;
    b.size = h->env->size;
    env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_BEGIN;
    env.stage_begin = &b;
    rc = etx_peer_send(h->peer, &env, err);
    if (rc != ETX_OK)
        return rc == ETX_AGAIN
                   ? etx_error_set(err, ETX_CLASS_TRANSIENT, EAGAIN, "send",
                                   h->host->name, "the queue is full")
                   : rc;
    return etx_hostrun__push(h, err);
}

static int
send_chunk(struct etx_hostrun *h, size_t n, struct etx_error *err)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__StageChunk c = ETXROLL__STAGE_CHUNK__INIT;

    c.data.data = h->chunk;
    c.data.len = n;
    env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_CHUNK;
    env.stage_chunk = &c;
    return etx_peer_send(h->peer, &env, err);
}

static int
send_stage_end(struct etx_hostrun *h, struct etx_error *err)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__StageEnd e = ETXROLL__STAGE_END__INIT;
    int rc;

    env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_END;
    env.stage_end = &e;
    rc = request(h, &env, err);
    if (rc == ETX_ERR && err->sys_errno == EAGAIN) {
        h->wait = HR_WAIT_DRAIN; /* StageEnd again after the drain */
        return ETX_OK;
    }
    return rc;
}

int
etx_hostrun__push(struct etx_hostrun *h, struct etx_error *err)
{
    const char *path = h->env->inv->artifact.path;
    ssize_t n;
    int rc;

    while (h->art_off < h->env->size) {
        n = pread(h->art_fd, h->chunk, ETX_FRAME_CHUNK, (off_t)h->art_off);
        if (n <= 0)
            return etx_error_sys(err, n == 0 ? EIO : errno, ETX_CTX_FILE,
                                 "read", path,
                                 "cannot read the artifact (changed "
                                 "while rolling out?)");
        rc = send_chunk(h, (size_t)n, err);
        if (rc == ETX_AGAIN) {
            h->wait = HR_WAIT_DRAIN; /* the drain callback comes back */
            return ETX_OK;
        }
        if (rc != ETX_OK)
            return rc;
        h->art_off += (uint64_t)n;
    }
    etx_hostrun__push_end(h);
    return send_stage_end(h, err);
}

int
etx_hostrun__send(struct etx_hostrun *h, struct etx_error *err)
{
    switch (h->step) {
    case HR_STEP_PROBE:
        return send_probe(h, err);
    case HR_STEP_CLEANUP:
        return send_cleanup(h, err);
    case HR_STEP_STAGE:
        if (h->env->inv->artifact.url != NULL)
            return send_pull(h, err);
        return send_stage_begin(h, err);
    case HR_STEP_VERIFY:
    case HR_STEP_SWAP:
        return send_digest_step(h, err);
    case HR_STEP_RESTART:
    case HR_STEP_RB_RESTART:
        return send_restart(h, err);
    case HR_STEP_CHECK:
    case HR_STEP_RB_CHECK:
        return send_health(h, err);
    case HR_STEP_ROLLBACK:
        return send_rollback(h, err);
    default:
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "step", h->host->name,
                             "no request for step %d", (int)h->step);
    }
}

static json_t *
holder_json(const Etxroll__Holder *ho)
{
    return json_pack("{si sI ss si ss ss ss}", "pid", (int)ho->pid,
                     "start_time", (json_int_t)ho->start_time, "relation",
                     ho->relation, "fd", (int)ho->fd, "cmdline", ho->cmdline,
                     "unit", ho->unit, "container", ho->container);
}

void
etx_hostrun__error_from_pb(const Etxroll__Error *pe, const char *host,
                           struct etx_error *e, json_t **holders)
{
    enum etx_err_class cls = ETX_CLASS_INTERNAL;
    size_t i;

    *holders = json_array();
    if (pe == NULL) {
        etx_error_set(e, ETX_CLASS_INTERNAL, 0, "result", host,
                      "the agent reported a failure without an error");
        return;
    }
    if ((unsigned)pe->class_ < ETX_CLASS_COUNT)
        cls = (enum etx_err_class)pe->class_;
    etx_error_set(e, cls, pe->errno_value, pe->op, pe->path, "%s", pe->message);
    for (i = 0; *holders != NULL && i < pe->n_holders; i++)
        json_array_append_new(*holders, holder_json(pe->holders[i]));
}
