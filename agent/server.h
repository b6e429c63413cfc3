/* SPDX-License-Identifier: MIT */
/*
 * The agent's server: the TLS listener (proto/conn.h) that gives every
 * accepted connection its own session (agent/session.h), or one session on
 * stdin/stdout for the SSH carrier. It keeps the list of live sessions so
 * that a shutdown closes every one of them.
 */
#ifndef ETX_AGENT_SERVER_H
#define ETX_AGENT_SERVER_H

#include <uv.h>

#include "agent/session.h"
#include "proto/error.h"

struct etx_psk;
struct etx_server; /* opaque: agent/server.c */

struct etx_server_opts {
    struct etx_session_ctx ctx; /* borrowed by every session */
    const struct etx_psk *psk;  /* TCP: the fleet key (copied) */
    const char *listen;         /* TCP: "127.0.0.1:7420" (port 0: any) */
    const char *port_file;      /* TCP: write the bound port here, or NULL */
};

/*
 * Listen on o->listen with TLS and serve until etx_server_close(). When
 * o->port_file is set, the bound port is written there (a temp file renamed
 * over it) once listening. ETX_OK and a new server in *out (free with
 * etx_server_free() after the loop has stopped); or ETX_ERR with err
 * filled, *out NULL (the loop must still run to release the listener).
 */
int etx_server_listen(const struct etx_server_opts *o, struct etx_server **out,
                      struct etx_error *err);

/*
 * Serve one session without TLS on fd[0] (read) and fd[1] (write), which
 * the connection takes over. The loop ends when the session ends.
 */
int etx_server_stdio(const struct etx_server_opts *o, const int fd[2],
                     struct etx_server **out, struct etx_error *err);

/* Stop listening and close every session (async). Safe to repeat. */
void etx_server_close(struct etx_server *srv);

/* Free after the loop has run dry (every session gone). NULL: no-op. */
void etx_server_free(struct etx_server *srv);

/* The bound TCP port (0 for stdio). */
int etx_server_port(const struct etx_server *srv);

#endif /* ETX_AGENT_SERVER_H */
