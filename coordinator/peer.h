/* SPDX-License-Identifier: MIT */
/*
 * The coordinator's side of one agent connection: connect (TCP with TLS,
 * or stdio for the SSH carrier), exchange Hello and check the protocol
 * version, then send requests and route each Result to the callback of the
 * request with the same id. A lost connection fails every request still
 * waiting, then reports once through 'closed'.
 */
#ifndef ETX_COORDINATOR_PEER_H
#define ETX_COORDINATOR_PEER_H

#include <uv.h>

#include "proto/error.h"
#include "proto/etxroll.pb-c.h"

struct etx_peer; /* opaque */
struct etx_psk;
struct etx_ssh_target;

/* The agent answered Hello with our protocol version; 'hello' is borrowed
 * for the call (its facts stay available through etx_peer_facts()). */
typedef void (*etx_peer_ready_cb)(struct etx_peer *p,
                                  const Etxroll__Hello *hello, void *arg);

/*
 * A request ended: 'res' is the agent's Result (borrowed for the call), or
 * NULL when the connection was lost first (then 'err' says why; class
 * transient).
 */
typedef void (*etx_peer_result_cb)(struct etx_peer *p,
                                   const Etxroll__Result *res,
                                   const struct etx_error *err, void *arg);

/* The connection is gone; 'why' is NULL after etx_peer_close(). The peer
 * is freed when this returns. */
typedef void (*etx_peer_closed_cb)(struct etx_peer *p,
                                   const struct etx_error *why, void *arg);

/* The agent answered a frame sent with etx_peer_send() (it failed). */
typedef void (*etx_peer_unsolicited_cb)(struct etx_peer *p,
                                        const Etxroll__Result *res, void *arg);

/* The outgoing queue fell below half after etx_peer_send/request gave
 * ETX_AGAIN. */
typedef void (*etx_peer_drain_cb)(struct etx_peer *p, void *arg);

struct etx_peer_cbs {
    etx_peer_ready_cb ready;   /* required */
    etx_peer_closed_cb closed; /* required */
    void *arg;
    etx_peer_unsolicited_cb unsolicited; /* optional */
    etx_peer_drain_cb drain;             /* optional */
};

/*
 * Connect to the agent at "host:port" with TLS authenticated by 'psk'
 * (copied). 'name' (copied) names the host in errors. Returns the new peer
 * or NULL with err set; later failures come through cbs->closed.
 */
struct etx_peer *etx_peer_connect(uv_loop_t *loop, const char *name,
                                  const char *addr, const struct etx_psk *psk,
                                  const struct etx_peer_cbs *cbs,
                                  struct etx_error *err);

/*
 * Connect over SSH (coordinator/ssh.h): run the agent on the host with
 * `--stdio` and speak the same frames on its stdin/stdout. 't' is copied;
 * t->name names the host. Returns the new peer or NULL with err set; SSH
 * failures (host key, authentication, a missing agent, its exit status
 * and last stderr line) come through cbs->closed.
 */
struct etx_peer *etx_peer_connect_ssh(uv_loop_t *loop,
                                      const struct etx_ssh_target *t,
                                      const struct etx_peer_cbs *cbs,
                                      struct etx_error *err);

/*
 * Send a request: 'env' has its body set; the peer assigns env->id. 'cb'
 * is called exactly once. ETX_AGAIN when the outgoing queue is full.
 */
int etx_peer_request(struct etx_peer *p, Etxroll__Envelope *env,
                     etx_peer_result_cb cb, void *arg, struct etx_error *err);

/*
 * Send a frame the agent answers only when it fails (a StageChunk): the
 * peer assigns env->id. If the agent does answer it, 'cb' of etx_peer_cbs
 * 'unsolicited' gets the Result (the first failed chunk; the StageEnd that
 * follows answers again). ETX_AGAIN when the outgoing queue is full.
 */
int etx_peer_send(struct etx_peer *p, Etxroll__Envelope *env,
                  struct etx_error *err);

/* Bytes queued for sending (for backpressure on artifact streams). */
size_t etx_peer_queued_bytes(const struct etx_peer *p);

/* The agent's host facts from its Hello (NULL before ready). */
const Etxroll__HostFacts *etx_peer_facts(const struct etx_peer *p);

/* The host name given at connect. */
const char *etx_peer_name(const struct etx_peer *p);

/* Close: waiting requests fail, then 'closed' is called with why NULL. */
void etx_peer_close(struct etx_peer *p);

#endif /* ETX_COORDINATOR_PEER_H */
