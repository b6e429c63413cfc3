/* SPDX-License-Identifier: MIT */
/*
 * One conversation on one connection (see session.h): Hello, then requests
 * one at a time. This file holds the state machine, the dispatch, and the
 * life cycle of requests and of the session; the steps themselves are in
 * session_engine.c (file work) and session_run.c (restart, health, pull).
 */
#include "agent/session.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agentlog.h"
#include "agent/engine.h"
#include "agent/health.h"
#include "agent/pull.h"
#include "agent/restart.h"
#include "agent/session_internal.h"
#include "proto/frame.h"

#define NEXT(s) (1u << (s))

static const char *const state_names[ETX_SESSION_STATE_COUNT] = {
    [ETX_SESSION_HELLO] = "hello",
    [ETX_SESSION_READY] = "ready",
    [ETX_SESSION_STAGING] = "staging",
    [ETX_SESSION_STAGE_FAILED] = "stage-failed",
    [ETX_SESSION_STAGED] = "staged",
    [ETX_SESSION_VERIFIED] = "verified",
    [ETX_SESSION_CLOSING] = "closing",
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) ==
                   ETX_SESSION_STATE_COUNT,
               "one name per session state");

/* A new StageBegin or a pull may replace a stage in any served state. */
#define RESTAGE                                                                \
    (NEXT(ETX_SESSION_READY) | NEXT(ETX_SESSION_STAGING) |                     \
     NEXT(ETX_SESSION_STAGE_FAILED) | NEXT(ETX_SESSION_CLOSING))

static const uint32_t session_next[ETX_SESSION_STATE_COUNT] = {
    [ETX_SESSION_HELLO] = NEXT(ETX_SESSION_READY) | NEXT(ETX_SESSION_CLOSING),
    [ETX_SESSION_READY] = RESTAGE | NEXT(ETX_SESSION_STAGED),
    [ETX_SESSION_STAGING] = RESTAGE | NEXT(ETX_SESSION_STAGED),
    [ETX_SESSION_STAGE_FAILED] = RESTAGE,
    [ETX_SESSION_STAGED] = RESTAGE | NEXT(ETX_SESSION_VERIFIED),
    [ETX_SESSION_VERIFIED] = RESTAGE | NEXT(ETX_SESSION_VERIFIED),
    [ETX_SESSION_CLOSING] = 0,
};

void
etx_session__set_state(struct etx_session *s, enum etx_session_state to)
{
    assert(to < ETX_SESSION_STATE_COUNT && (session_next[s->state] & NEXT(to)));
    s->state = to; /* the only assignment */
}

struct etx_session *
etx_session_new(const struct etx_session_ctx *ctx, etx_session_done_cb done,
                void *arg)
{
    struct etx_session *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->ctx = *ctx;
    s->done = done;
    s->done_arg = arg;
    s->state = ETX_SESSION_HELLO;
    return s;
}

void
etx_session_free(struct etx_session *s)
{
    if (s == NULL)
        return;
    etx_engine_stage_free(s->stage);
    free(s);
}

/* Free the session once its connection is closed and nothing runs. */
static void
maybe_free(struct etx_session *s)
{
    if (s->conn != NULL || s->pending > 0)
        return;
    if (s->done != NULL)
        s->done(s, s->done_arg);
    etx_session_free(s);
}

void
etx_session__hold(struct etx_session *s)
{
    s->pending++;
}

void
etx_session__release(struct etx_session *s)
{
    assert(s->pending > 0);
    s->pending--;
    maybe_free(s);
}

static void
stop_runs(struct etx_session *s)
{
    if (s->restart != NULL)
        etx_restart_stop(s->restart);
    if (s->health != NULL)
        etx_health_stop(s->health);
    if (s->pull != NULL)
        etx_pull_stop(s->pull);
}

/* Runs in flight are stopped from on_close, once the connection is gone. */
void
etx_session_close(struct etx_session *s)
{
    if (s->conn != NULL)
        etx_conn_close(s->conn);
}

void
etx_session__drop_stage(struct etx_session *s)
{
    etx_engine_stage_free(s->stage);
    s->stage = NULL;
    s->stage_path[0] = '\0';
    s->stage_sha[0] = '\0';
    etx_session__set_state(s, ETX_SESSION_READY);
}

/* Close this connection only: the peer broke the protocol. */
static void
drop_peer(struct etx_session *s, Etxroll__Envelope *env, const char *why)
{
    etx_agentlog_write(s->ctx.log, ETX_AGENTLOG_WARN, "conn.protocol", s->peer,
                       NULL, "closing the connection: %s", why);
    etx_frame_free(env);
    etx_session_close(s);
}

static void
send_hello(struct etx_session *s, uint64_t id)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;
    Etxroll__HostFacts facts = ETXROLL__HOST_FACTS__INIT;
    struct etx_facts_host *h = (struct etx_facts_host *)s->ctx.host;
    struct etx_error err = {0};

    facts.hostname = h->hostname;
    facts.machine_id = h->machine_id;
    facts.boot_id = h->boot_id;
    facts.kernel = h->kernel;
    facts.arch = h->arch;
    hello.protocol_version = ETX_PROTO_VERSION;
    hello.software_version = "etxroll-agent " ETX_VERSION;
    hello.facts = &facts;
    env.id = id;
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    if (etx_conn_send(s->conn, &env, &err) != ETX_OK)
        etx_session_close(s);
}

static void
on_hello(struct etx_session *s, Etxroll__Envelope *env)
{
    uint32_t v;

    if (env->body_case != ETXROLL__ENVELOPE__BODY_HELLO) {
        drop_peer(s, env, "the first frame was not Hello");
        return;
    }
    v = env->hello->protocol_version;
    send_hello(s, env->id);
    if (v != ETX_PROTO_VERSION) {
        etx_agentlog_write(
            s->ctx.log, ETX_AGENTLOG_WARN, "conn.version", s->peer,
            json_pack("{si si}", "theirs", (int)v, "ours", ETX_PROTO_VERSION),
            "the client speaks protocol version %u, this "
            "agent %u: closing",
            v, ETX_PROTO_VERSION);
        etx_frame_free(env);
        etx_session_close(s);
        return;
    }
    etx_agentlog_write(
        s->ctx.log, ETX_AGENTLOG_INFO, "conn.hello", s->peer,
        json_pack("{ss}", "client", env->hello->software_version),
        "hello from %s", env->hello->software_version);
    etx_frame_free(env);
    if (s->conn != NULL)
        etx_session__set_state(s, ETX_SESSION_READY);
}

/* One case per message kind, each calling its handler (STYLE R13). */
static void
dispatch(struct etx_session *s, Etxroll__Envelope *env)
{
    switch (env->body_case) {
    case ETXROLL__ENVELOPE__BODY_PROBE:
        return etx_session__probe(s, env);
    case ETXROLL__ENVELOPE__BODY_STAGE_BEGIN:
        return etx_session__stage_begin(s, env);
    case ETXROLL__ENVELOPE__BODY_STAGE_CHUNK:
        return etx_session__stage_chunk(s, env);
    case ETXROLL__ENVELOPE__BODY_STAGE_END:
        return etx_session__stage_end(s, env);
    case ETXROLL__ENVELOPE__BODY_PULL:
        return etx_session__pull(s, env);
    case ETXROLL__ENVELOPE__BODY_VERIFY:
        return etx_session__verify(s, env);
    case ETXROLL__ENVELOPE__BODY_SWAP:
        return etx_session__swap(s, env);
    case ETXROLL__ENVELOPE__BODY_RESTART:
        return etx_session__restart(s, env);
    case ETXROLL__ENVELOPE__BODY_HEALTH:
        return etx_session__health(s, env);
    case ETXROLL__ENVELOPE__BODY_ROLLBACK:
        return etx_session__rollback(s, env);
    case ETXROLL__ENVELOPE__BODY_PRUNE:
        return etx_session__prune(s, env);
    case ETXROLL__ENVELOPE__BODY_CLEANUP:
        return etx_session__cleanup(s, env);
    default: /* a second Hello, a Result: the client is confused */
        return drop_peer(s, env, "unexpected message from the client");
    }
}

static void
on_frame(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct etx_session *s = arg;

    (void)c;
    if (s->state == ETX_SESSION_CLOSING)
        etx_frame_free(env);
    else if (s->state == ETX_SESSION_HELLO)
        on_hello(s, env);
    else
        dispatch(s, env);
}

static void
on_close(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    struct etx_session *s = arg;
    char line[1200];
    bool eof = why == NULL || strcmp(why->op, "eof") == 0;

    (void)c;
    etx_agentlog_write(s->ctx.log, eof ? ETX_AGENTLOG_INFO : ETX_AGENTLOG_WARN,
                       "conn.closed", s->peer,
                       json_pack("{ss}", "state", state_names[s->state]), "%s",
                       why == NULL ? "closed by the agent"
                                   : etx_error_format(why, line, sizeof(line)));
    s->conn = NULL;
    if (s->state != ETX_SESSION_CLOSING)
        etx_session__set_state(s, ETX_SESSION_CLOSING);
    stop_runs(s);
    maybe_free(s);
}

void
etx_session_conn_cbs(struct etx_session *s, struct etx_conn_cbs *cbs)
{
    memset(cbs, 0, sizeof(*cbs));
    cbs->on_frame = on_frame;
    cbs->on_close = on_close;
    cbs->arg = s;
}

void
etx_session_attach(struct etx_session *s, struct etx_conn *c)
{
    s->conn = c;
    snprintf(s->peer, sizeof(s->peer), "%s", etx_conn_peer(c));
    etx_agentlog_write(s->ctx.log, ETX_AGENTLOG_INFO, "conn.accepted", s->peer,
                       NULL, "connection from %s", s->peer);
}

/* ---- requests ---- */

struct etx_session_req *
etx_session__req_new(struct etx_session *s, Etxroll__Envelope *env,
                     const char *op)
{
    struct etx_session_req *q = calloc(1, sizeof(*q));

    if (q != NULL && (q->reply = etx_reply_new()) == NULL) {
        free(q);
        q = NULL;
    }
    if (q == NULL) {
        drop_peer(s, env, "out of memory");
        return NULL;
    }
    q->s = s;
    q->env = env;
    q->op = op;
    q->path = "";
    q->spool_fd = -1;
    q->start_ms = uv_now(s->ctx.loop);
    q->work.data = q;
    s->cur = q;
    etx_conn_read_stop(s->conn);
    return q;
}

static enum etx_engine_strategy
strategy_of(Etxroll__Strategy st)
{
    if (st == ETXROLL__STRATEGY__STRATEGY_GENERATIONS)
        return ETX_ENGINE_GENERATIONS;
    if (st == ETXROLL__STRATEGY__STRATEGY_RELEASE_DIR)
        return ETX_ENGINE_RELEASE_DIR;
    return ETX_ENGINE_RENAME;
}

int
etx_session__target(struct etx_session_req *q, const Etxroll__Target *t)
{
    if (t == NULL || t->path == NULL || t->path[0] == '\0') {
        etx_session__refuse(q, ETX_CLASS_INPUT, "the request names no target");
        return ETX_ERR;
    }
    q->path = t->path;
    q->t.path = t->path;
    q->t.strategy = strategy_of(t->strategy);
    q->t.version = t->version[0] != '\0' ? t->version : NULL;
    q->t.mode_set = t->mode_set;
    q->t.mode = t->mode;
    q->t.owner = t->owner;
    q->t.group = t->group;
    q->t.keep = t->keep;
    return ETX_OK;
}

static void
work_cb(uv_work_t *w)
{
    struct etx_session_req *q = w->data;

    q->run(q);
}

static void
after_work_cb(uv_work_t *w, int status)
{
    struct etx_session_req *q = w->data;
    struct etx_session *s = q->s;

    (void)status; /* never cancelled */
    /* Once the connection is gone nothing more is started or kept. */
    if (q->after != NULL && s->state != ETX_SESSION_CLOSING)
        q->after(q);
    else
        etx_session__finish(q);
    etx_session__release(s);
}

void
etx_session__queue(struct etx_session_req *q, etx_session_work_fn run,
                   etx_session_after_fn after)
{
    struct etx_error err = {0};
    int rc;

    q->run = run;
    q->after = after;
    rc = uv_queue_work(q->s->ctx.loop, &q->work, work_cb, after_work_cb);
    if (rc != 0) {
        etx_error_set(&err, ETX_CLASS_INTERNAL, 0, "queue", q->path,
                      "cannot queue the work: %s", uv_strerror(rc));
        etx_session__fail(q, &err, NULL);
        return;
    }
    etx_session__hold(q->s);
}

static void
log_request(struct etx_session_req *q)
{
    const Etxroll__Result *r = etx_reply_result(q->reply);
    const Etxroll__Error *e = r->error;
    bool ok = r->ok;
    uint64_t ms = uv_now(q->s->ctx.loop) - q->start_ms;

    etx_agentlog_write(
        q->s->ctx.log, ok ? ETX_AGENTLOG_INFO : ETX_AGENTLOG_WARN, "request",
        q->s->peer,
        json_pack("{sI ss ss ss ss ss sI}", "id", (json_int_t)q->env->id, "op",
                  q->op, "target", q->path, "result", ok ? "ok" : "failed",
                  "errno", !ok && e != NULL ? e->errno_name : "", "class",
                  !ok && e != NULL
                      ? etx_error_class_name((enum etx_err_class)e->class_)
                      : "",
                  "elapsed_ms", (json_int_t)ms),
        "%s %s: %s", q->op, q->path, r->detail);
}

static void
send_reply(struct etx_session_req *q)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    struct etx_error err = {0};
    struct etx_session *s = q->s;

    log_request(q);
    if (s->conn == NULL)
        return;
    env.id = q->env->id;
    env.body_case = ETXROLL__ENVELOPE__BODY_RESULT;
    env.result = (Etxroll__Result *)etx_reply_result(q->reply);
    if (etx_conn_send(s->conn, &env, &err) != ETX_OK) {
        etx_agentlog_write(s->ctx.log, ETX_AGENTLOG_WARN, "conn.send", s->peer,
                           NULL, "cannot answer: %s; closing", err.msg);
        etx_session_close(s);
    }
}

void
etx_session__finish(struct etx_session_req *q)
{
    struct etx_session *s = q->s;
    size_t i;

    if (!q->quiet || !etx_reply_is_ok(q->reply))
        send_reply(q);
    s->cur = NULL;
    if (q->facts != NULL)
        etx_facts_target_free(q->facts);
    free(q->facts);
    for (i = 0; q->argv != NULL && q->argv[i] != NULL; i++)
        free(q->argv[i]);
    free(q->argv);
    if (q->spool_fd >= 0)
        close(q->spool_fd);
    etx_engine_stage_free(q->stage);
    etx_reply_free(q->reply);
    etx_frame_free(q->env);
    free(q);
    if (s->conn != NULL)
        etx_conn_read_start(s->conn);
}

void
etx_session__fail(struct etx_session_req *q, const struct etx_error *err,
                  const struct etx_holders *h)
{
    etx_reply_fail(q->reply, err, h);
    etx_session__finish(q);
}

void
etx_session__refuse(struct etx_session_req *q, enum etx_err_class cls,
                    const char *fmt, ...)
{
    struct etx_error err = {0};
    char msg[sizeof(err.msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    etx_error_set(&err, cls, 0, q->op, q->path, "%s", msg);
    etx_session__fail(q, &err, NULL);
}
