/* SPDX-License-Identifier: MIT */
/*
 * One agent connection, coordinator side: hello, requests, results. Over
 * SSH the frames run on a local socket that coordinator/ssh.c pumps to
 * the remote agent's stdin/stdout; the peer then ends when both the
 * connection and the SSH session are closed.
 */
#include "coordinator/peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator/ssh.h"
#include "proto/conn.h"
#include "proto/frame.h"

struct pending {
    struct pending *next;
    uint64_t id;
    etx_peer_result_cb cb; /* NULL: sent with etx_peer_send() */
    void *arg;
};

struct etx_peer {
    uv_loop_t *loop;
    struct etx_conn *conn; /* NULL before the SSH carrier opens, and after
                            * the connection closed */
    struct etx_ssh *ssh;   /* the SSH carrier, NULL for TCP or once closed */
    struct etx_peer_cbs cbs;
    char *name;
    bool ready;
    uint64_t next_id;
    struct pending *pending;
    Etxroll__Envelope *hello; /* the agent's Hello frame, kept for facts */
    struct etx_error why;     /* set when the peer itself ends the link */
    bool failed;
    struct etx_error ssh_why; /* why the SSH carrier ended on its own */
    bool ssh_failed;
    struct etx_error conn_why; /* why the connection ended, if it said */
    bool conn_failed;
};

static void
fail_pending(struct etx_peer *p, const struct etx_error *why)
{
    struct etx_error lost = {0};
    struct pending *q;

    if (why == NULL) {
        etx_error_set(&lost, ETX_CLASS_TRANSIENT, ECONNRESET, "request",
                      p->name, "the connection was closed");
        why = &lost;
    }
    while ((q = p->pending) != NULL) {
        p->pending = q->next;
        if (q->cb != NULL)
            q->cb(p, NULL, why, q->arg);
        free(q);
    }
}

/* Stop talking to a peer that broke the protocol; 'why' is reported. */
static void
peer_fail(struct etx_peer *p, const struct etx_error *why)
{
    if (!p->failed) {
        p->why = *why;
        p->failed = true;
    }
    if (p->conn != NULL)
        etx_conn_close(p->conn);
    else if (p->ssh != NULL)
        etx_ssh_close(p->ssh);
}

static void
on_hello(struct etx_peer *p, Etxroll__Envelope *env)
{
    struct etx_error err = {0};

    if (env->body_case != ETXROLL__ENVELOPE__BODY_HELLO) {
        etx_error_set(&err, ETX_CLASS_INPUT, 0, "hello", p->name,
                      "the agent did not start with Hello");
        etx_frame_free(env);
        peer_fail(p, &err);
        return;
    }
    if (env->hello->protocol_version != ETX_PROTO_VERSION) {
        etx_error_set(&err, ETX_CLASS_PLACEMENT, 0, "hello", p->name,
                      "the agent speaks protocol version %u, this etxroll "
                      "speaks %u: upgrade one of them",
                      env->hello->protocol_version, ETX_PROTO_VERSION);
        etx_frame_free(env);
        peer_fail(p, &err);
        return;
    }
    p->hello = env;
    p->ready = true;
    p->cbs.ready(p, env->hello, p->cbs.arg);
}

/*
 * The agent serves frames in order: once it answers id N, every quiet
 * frame sent before N was handled without an answer and is forgotten.
 */
static void
forget_quiet_before(struct etx_peer *p, uint64_t id)
{
    struct pending **link = &p->pending, *q;

    while ((q = *link) != NULL) {
        if (q->cb == NULL && q->id < id) {
            *link = q->next;
            free(q);
        } else
            link = &q->next;
    }
}

static void
on_result(struct etx_peer *p, Etxroll__Envelope *env)
{
    struct pending **link = &p->pending, *q;
    struct etx_error err = {0};

    forget_quiet_before(p, env->id);
    while (*link != NULL && (*link)->id != env->id)
        link = &(*link)->next;
    if (env->body_case != ETXROLL__ENVELOPE__BODY_RESULT || *link == NULL) {
        etx_error_set(&err, ETX_CLASS_INPUT, 0, "frame", p->name,
                      "unexpected message from the agent (id %llu)",
                      (unsigned long long)env->id);
        etx_frame_free(env);
        peer_fail(p, &err);
        return;
    }
    q = *link;
    *link = q->next;
    if (q->cb != NULL)
        q->cb(p, env->result, NULL, q->arg);
    else if (p->cbs.unsolicited != NULL)
        p->cbs.unsolicited(p, env->result, p->cbs.arg);
    free(q);
    etx_frame_free(env);
}

static void
on_frame(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct etx_peer *p = arg;

    (void)c;
    if (!p->ready)
        on_hello(p, env);
    else
        on_result(p, env);
}

static void
on_drain(struct etx_conn *c, void *arg)
{
    struct etx_peer *p = arg;

    (void)c;
    if (p->cbs.drain != NULL)
        p->cbs.drain(p, p->cbs.arg);
}

/* Both carriers are gone: fail what waits, report once, free. */
static void
finish(struct etx_peer *p)
{
    const struct etx_error *why = NULL;
    struct etx_error named;

    if (p->failed)
        why = &p->why;
    else if (p->ssh_failed)
        why = &p->ssh_why; /* says more than the end of file it caused */
    else if (p->conn_failed)
        why = &p->conn_why;
    if (why != NULL) {
        named = *why;
        snprintf(named.where, sizeof(named.where), "%s", p->name);
        why = &named;
    }
    fail_pending(p, why);
    p->cbs.closed(p, why, p->cbs.arg);
    etx_frame_free(p->hello);
    free(p->name);
    free(p);
}

static void
on_close(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    struct etx_peer *p = arg;

    (void)c;
    p->conn = NULL;
    if (why != NULL) {
        p->conn_why = *why;
        p->conn_failed = true;
    }
    if (p->ssh != NULL)
        etx_ssh_close(p->ssh); /* its closed callback finishes */
    else
        finish(p);
}

static int
send_hello(struct etx_peer *p, struct etx_error *err)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;

    hello.protocol_version = ETX_PROTO_VERSION;
    hello.software_version = "etxroll " ETX_VERSION;
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    return etx_conn_send(p->conn, &env, err);
}

static struct etx_peer *
peer_new(uv_loop_t *loop, const char *name, const struct etx_peer_cbs *cbs,
         struct etx_error *err)
{
    struct etx_peer *p = calloc(1, sizeof(*p));

    if (p == NULL || (p->name = strdup(name)) == NULL) {
        free(p);
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "connect", name,
                      "cannot connect");
        return NULL;
    }
    p->loop = loop;
    p->cbs = *cbs;
    p->next_id = 1;
    return p;
}

struct etx_peer *
etx_peer_connect(uv_loop_t *loop, const char *name, const char *addr,
                 const struct etx_psk *psk, const struct etx_peer_cbs *cbs,
                 struct etx_error *err)
{
    struct etx_conn_opts opts = {.psk = psk};
    struct etx_conn_cbs ccbs = {
        .on_frame = on_frame, .on_close = on_close, .on_drain = on_drain};
    struct etx_peer *p = peer_new(loop, name, cbs, err);

    if (p == NULL)
        return NULL;
    ccbs.arg = p;
    p->conn = etx_conn_connect(loop, addr, &opts, &ccbs, err);
    if (p->conn == NULL) {
        snprintf(err->where, sizeof(err->where), "%s", name);
        free(p->name);
        free(p);
        return NULL;
    }
    /* Queued until the handshake is done; a failure shows in on_close. */
    send_hello(p, err);
    return p;
}

/* The remote agent runs: speak the frames on the local end of its pipe. */
static void
ssh_open_cb(struct etx_ssh *s, int fd, void *arg)
{
    struct etx_peer *p = arg;
    struct etx_conn_cbs ccbs = {.on_frame = on_frame,
                                .on_close = on_close,
                                .on_drain = on_drain,
                                .arg = p};
    struct etx_conn_opts opts = {0};
    const int fds[2] = {fd, fd};
    struct etx_error err = {0};

    (void)s;
    p->conn = etx_conn_open_stdio(p->loop, fds, &opts, &ccbs, &err);
    if (p->conn == NULL) {
        close(fd);
        peer_fail(p, &err); /* closes s */
        return;
    }
    send_hello(p, &err);
}

static void
ssh_closed_cb(struct etx_ssh *s, const struct etx_error *why, void *arg)
{
    struct etx_peer *p = arg;

    (void)s;
    p->ssh = NULL;
    if (why != NULL) {
        p->ssh_why = *why;
        p->ssh_failed = true;
    }
    if (p->conn != NULL)
        etx_conn_close(p->conn); /* its on_close finishes */
    else
        finish(p);
}

struct etx_peer *
etx_peer_connect_ssh(uv_loop_t *loop, const struct etx_ssh_target *t,
                     const struct etx_peer_cbs *cbs, struct etx_error *err)
{
    struct etx_ssh_cbs scbs = {.open = ssh_open_cb, .closed = ssh_closed_cb};
    struct etx_peer *p = peer_new(loop, t->name, cbs, err);

    if (p == NULL)
        return NULL;
    scbs.arg = p;
    p->ssh = etx_ssh_open(loop, t, &scbs, err);
    if (p->ssh == NULL) {
        free(p->name);
        free(p);
        return NULL;
    }
    return p;
}

static int
send_tracked(struct etx_peer *p, Etxroll__Envelope *env, etx_peer_result_cb cb,
             void *arg, struct etx_error *err)
{
    struct pending *q = calloc(1, sizeof(*q));
    int rc;

    if (q == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "request", p->name,
                             "cannot queue a request");
    if (p->conn == NULL) {
        free(q);
        return etx_error_set(err, ETX_CLASS_TRANSIENT, ENOTCONN, "request",
                             p->name, "the agent is not connected");
    }
    env->id = p->next_id++;
    rc = etx_conn_send(p->conn, env, err);
    if (rc != ETX_OK) {
        free(q);
        return rc;
    }
    q->id = env->id;
    q->cb = cb;
    q->arg = arg;
    q->next = p->pending;
    p->pending = q;
    return ETX_OK;
}

int
etx_peer_request(struct etx_peer *p, Etxroll__Envelope *env,
                 etx_peer_result_cb cb, void *arg, struct etx_error *err)
{
    return send_tracked(p, env, cb, arg, err);
}

int
etx_peer_send(struct etx_peer *p, Etxroll__Envelope *env, struct etx_error *err)
{
    return send_tracked(p, env, NULL, NULL, err);
}

size_t
etx_peer_queued_bytes(const struct etx_peer *p)
{
    return p->conn != NULL ? etx_conn_queued_bytes(p->conn) : 0;
}

const Etxroll__HostFacts *
etx_peer_facts(const struct etx_peer *p)
{
    return p->hello != NULL ? p->hello->hello->facts : NULL;
}

const char *
etx_peer_name(const struct etx_peer *p)
{
    return p->name;
}

void
etx_peer_close(struct etx_peer *p)
{
    if (p->conn != NULL)
        etx_conn_close(p->conn);
    else if (p->ssh != NULL)
        etx_ssh_close(p->ssh);
}
