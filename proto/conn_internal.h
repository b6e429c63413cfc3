/* SPDX-License-Identifier: MIT */
/*
 * What proto/conn.c (connections) and proto/listen.c (addresses and the
 * listener) share; not part of the conn API (see conn.h).
 */
#ifndef ETX_PROTO_CONN_INTERNAL_H
#define ETX_PROTO_CONN_INTERNAL_H

#include <stddef.h>
#include <sys/socket.h>

#include <uv.h>

#include "proto/conn.h"
#include "proto/error.h"

/*
 * Split addr, "host:port" or "[v6]:port", into host (hostlen bytes) and
 * *port. ETX_ERR with class ETX_CLASS_INPUT (where = addr) when it is not of
 * that form or the port is not a number from 0 to 65535.
 */
int etx_conn__split_addr(const char *addr, char *host, size_t hostlen,
                         int *port, struct etx_error *err);

/* An IP literal and port into ss; ETX_AGAIN when host is not a literal. */
int etx_conn__parse_literal(const char *host, int port,
                            struct sockaddr_storage *ss);

/*
 * Accept the connection waiting on server as the server side of a new TLS
 * connection with opts, in its handshake, not reading, without callbacks
 * (etx_conn__start() gives them). NULL with err filled (where for a failed
 * accept) when that fails; the waiting connection has then been taken off
 * the queue and closed.
 */
struct etx_conn *etx_conn__accept(uv_stream_t *server,
                                  const struct etx_conn_opts *opts,
                                  const char *where, struct etx_error *err);

/*
 * Give an accepted connection the callbacks its owner filled in and start
 * reading. Without on_frame or on_close it is refused: closed without any
 * callback.
 */
void etx_conn__start(struct etx_conn *c, const struct etx_conn_cbs *cbs);

#endif /* ETX_PROTO_CONN_INTERNAL_H */
