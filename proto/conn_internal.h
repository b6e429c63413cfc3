/* SPDX-License-Identifier: MIT */
/*
 * What proto/conn.c (connections), proto/conn_io.c (their writing half),
 * proto/listen.c (addresses and the listener) and proto/dial.c (the client
 * side of TCP) share; not part of the conn API (see conn.h).
 */
#ifndef ETX_PROTO_CONN_INTERNAL_H
#define ETX_PROTO_CONN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "proto/conn.h"
#include "proto/error.h"
#include "proto/tls.h"

#define ETX_CONN__PLAIN_CHUNK (16u * 1024u)
#define ETX_CONN__READ_BUF    (64u * 1024u)
#define ETX_CONN__PEER_LEN    64

struct etx_frame_reader;
struct etx_conn__early; /* a frame sent before the handshake ended */

enum etx_conn__state {
    ETX_CONN__NEW,        /* allocated, no stream yet */
    ETX_CONN__RESOLVING,  /* client: looking the host name up */
    ETX_CONN__CONNECTING, /* client: TCP connect in flight */
    ETX_CONN__HANDSHAKE,  /* TLS handshake in flight */
    ETX_CONN__OPEN,       /* frames flow both ways */
    ETX_CONN__DRAINING,   /* last bytes (alert, close_notify, frames) leaving */
    ETX_CONN__CLOSING,    /* handles closing; freed after the last callback */
    ETX_CONN__STATE_COUNT
};

/* Only conn.c, conn_io.c and dial.c touch the fields. */
struct etx_conn {
    uv_loop_t *loop;
    enum etx_conn__state state;
    uv_tcp_t tcp;
    uv_pipe_t pipe_in, pipe_out;
    uv_stream_t *rd, *wr;
    uv_timer_t deadline; /* connect+handshake+first frame, then drain */
    uv_timer_t kick;     /* delivers buffered frames after read_start */
    uv_handle_t *handles[4];
    int nhandles;
    int pending; /* close callbacks and lookups still to come */
    uv_connect_t connect_req;
    uv_getaddrinfo_t gai;
    bool resolving;
    uv_shutdown_t shutdown_req;
    struct etx_tls *tls; /* NULL on the stdio carrier */
    struct etx_frame_reader *reader;
    struct etx_conn_cbs cbs;
    uint64_t timeout_ms;
    size_t queue_max;
    size_t queued; /* early frames + writes not yet completed */
    struct etx_conn__early *early, **early_tail;
    bool got_frame, paused, reading, want_drain, failed;
    struct etx_error why;
    size_t in_off, in_len; /* unread plaintext in rbuf (stdio) */
    char peer[ETX_CONN__PEER_LEN];
    /* ETX_CONN__READ_BUF bytes while a read is handled, or while stdio
     * plaintext waits in it; NULL otherwise, so that the many idle
     * connections of a coordinator hold no read buffer. */
    uint8_t *rbuf;
};

/* ---- defined in conn.c, for dial.c ---- */

/*
 * A connection in ETX_CONN__NEW with its deadline and kick timers, a frame
 * reader and, when opts->psk is set, TLS in 'role'; the deadline runs. NULL
 * with err filled when that fails. The stream handle is the caller's to add
 * (etx_conn__add_handle()).
 */
struct etx_conn *etx_conn__new(uv_loop_t *loop,
                               const struct etx_conn_opts *opts,
                               enum etx_tls_role role, struct etx_error *err);

/* Make h one of c's handles: closed with it, h->data = c. */
void etx_conn__add_handle(struct etx_conn *c, uv_handle_t *h);

/* ETX_OK when cbs has on_frame and on_close, else ETX_ERR (err may be NULL). */
int etx_conn__check_cbs(const struct etx_conn_cbs *cbs, struct etx_error *err);

/* Move to state 'to'; a move the transition table forbids is a bug. */
void etx_conn__set_state(struct etx_conn *c, enum etx_conn__state to);

/* Fail c with err (where becomes the peer) and drain it; once only. */
void etx_conn__fail(struct etx_conn *c, const struct etx_error *err);

/* The same for a libuv status (a negative errno): op failed, "what". */
void etx_conn__fail_uv(struct etx_conn *c, int status, const char *op,
                       const char *what);

/* The connected TCP socket is the stream: peer name, options, handshake. */
void etx_conn__tcp_ready(struct etx_conn *c);

/* Step the handshake, deliver whole frames, send what TLS produced. */
void etx_conn__advance(struct etx_conn *c);

/* One close callback or lookup has come back; the last one frees c. */
void etx_conn__close_done(struct etx_conn *c);

/* ---- defined in conn.c, for conn_io.c ---- */

/* True in ETX_CONN__HANDSHAKE and ETX_CONN__OPEN: bytes may still flow. */
bool etx_conn__is_live(const struct etx_conn *c);

/* ---- defined in conn_io.c, for conn.c ---- */

/*
 * Send what TLS has produced. On failure the connection is failed and err
 * (which may be NULL) is filled.
 */
int etx_conn__flush_tls(struct etx_conn *c, struct etx_error *err);

/*
 * Send the frames queued before the handshake ended, in order. On failure
 * the connection is failed and err (which may be NULL) is filled.
 */
int etx_conn__flush_early(struct etx_conn *c, struct etx_error *err);

/* Free the frames queued before the handshake ended, unsent. */
void etx_conn__free_early(struct etx_conn *c);

/* ---- defined in listen.c, for dial.c ---- */

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

/* ---- defined in conn.c, for listen.c ---- */

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
