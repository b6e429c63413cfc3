/* SPDX-License-Identifier: MIT */
/*
 * One conversation of the agent on one connection (TCP with TLS, or stdio
 * behind SSH): the client's Hello is answered with ours and the host's
 * facts, then requests are served one at a time, in order, each answered
 * by one Result carrying its id (docs/protocol.md). Reading stops while a
 * request is served, so a client cannot queue work faster than it is done.
 * File work runs on the libuv thread pool; restarts, health checks and
 * pulls run on the loop. A bad or unexpected frame closes this connection
 * only. The session logs every connection and request (agent/agentlog.h).
 */
#ifndef ETX_AGENT_SESSION_H
#define ETX_AGENT_SESSION_H

#include <uv.h>

#include "proto/conn.h"
#include "proto/error.h"

struct etx_agent_config;
struct etx_agentlog;
struct etx_engine;
struct etx_facts_host;
struct etx_session; /* opaque: agent/session.c */

/* What every session borrows from its owner; all must outlive it. */
struct etx_session_ctx {
    uv_loop_t *loop;
    const struct etx_agent_config *cfg; /* what may be run */
    struct etx_engine *engine;          /* where files are written */
    struct etx_agentlog *log;
    const struct etx_facts_host *host; /* sent in Hello */
};

/* The session is gone (its connection closed, nothing in flight); it is
 * freed when this returns. */
typedef void (*etx_session_done_cb)(struct etx_session *s, void *arg);

/*
 * A new session. Give its connection callbacks to the connection
 * (etx_session_conn_cbs()), then the connection (etx_session_attach()).
 * NULL on ENOMEM. Free with etx_session_free() only when no connection was
 * ever attached; afterwards it frees itself and calls 'done'.
 */
struct etx_session *etx_session_new(const struct etx_session_ctx *ctx,
                                    etx_session_done_cb done, void *arg);

/* Fill *cbs (on_frame, on_close, arg) for the connection to come. */
void etx_session_conn_cbs(struct etx_session *s, struct etx_conn_cbs *cbs);

/* The connection is open: the session starts waiting for Hello. */
void etx_session_attach(struct etx_session *s, struct etx_conn *c);

/* Free a session that never got a connection. NULL: no-op. */
void etx_session_free(struct etx_session *s);

/*
 * End the session (shutdown): a running restart, health check or pull is
 * stopped, the connection closed; 'done' follows once work in flight on
 * the thread pool has finished. Safe to call more than once.
 */
void etx_session_close(struct etx_session *s);

#endif /* ETX_AGENT_SESSION_H */
