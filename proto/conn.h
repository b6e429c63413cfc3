/* SPDX-License-Identifier: MIT */
/*
 * One framed connection of the etxroll protocol on a libuv stream: TCP with
 * TLS 1.3 and the fleet key (proto/tls.h), or stdin/stdout in the clear for
 * `etxroll-agent --stdio` behind SSH (SSH authenticates there). It owns its
 * handles, a frame reader (proto/frame.h) and a bounded outgoing queue. A
 * bad frame, a failed handshake, a timeout, a reset or an end of stream
 * closes that connection only and says why in on_close. proto/ never logs:
 * the owner does, from that report (err->where is the peer's address).
 */
#ifndef ETX_PROTO_CONN_H
#define ETX_PROTO_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proto/error.h"
#include "proto/etxroll.pb-c.h"

struct etx_psk;
struct etx_conn;
struct etx_conn_listener;

#define ETX_CONN_HANDSHAKE_TIMEOUT_MS 10000u
#define ETX_CONN_QUEUE_MAX            (8u * 1024u * 1024u)

/* A whole frame arrived; the callee owns env (free: etx_frame_free()). */
typedef void (*etx_conn_frame_cb)(struct etx_conn *c, Etxroll__Envelope *env,
                                  void *arg);
/*
 * Called exactly once per connection, when all of its handles are closed;
 * c is freed when it returns. why is NULL after etx_conn_close(), otherwise
 * the reason (borrowed for the call): class ETX_CLASS_INPUT for a bad frame
 * or a failed TLS handshake, ETX_CLASS_TRANSIENT for a reset, a timeout
 * (sys_errno ETIMEDOUT) or an end of stream between frames (op "eof").
 */
typedef void (*etx_conn_close_cb)(struct etx_conn *c,
                                  const struct etx_error *why, void *arg);
/* After etx_conn_send() returned ETX_AGAIN: the queue is half empty. */
typedef void (*etx_conn_drain_cb)(struct etx_conn *c, void *arg);

struct etx_conn_cbs {
    etx_conn_frame_cb on_frame; /* required */
    etx_conn_close_cb on_close; /* required */
    etx_conn_drain_cb on_drain; /* optional */
    void *arg;
};

struct etx_conn_opts {
    const struct etx_psk *psk; /* TCP: the fleet key, copied; stdio: unused */
    /* Connect, TLS handshake and the peer's first whole frame must all be
     * done within this; it also bounds the flush on close. 0: the default
     * ETX_CONN_HANDSHAKE_TIMEOUT_MS. */
    uint64_t handshake_timeout_ms;
    size_t queue_max; /* outgoing bytes; 0: ETX_CONN_QUEUE_MAX */
};

/*
 * A connection came in (c != NULL, err NULL): fill *cbs (zeroed) to take it;
 * leaving on_frame or on_close NULL refuses it, and it is then closed
 * without any callback. Or accepting failed (c NULL, cbs NULL, err set).
 */
typedef void (*etx_conn_accept_cb)(struct etx_conn_listener *l,
                                   struct etx_conn *c,
                                   const struct etx_error *err,
                                   struct etx_conn_cbs *cbs, void *arg);

struct etx_conn_accept {
    etx_conn_accept_cb cb;
    void *arg;
};

/*
 * Listen on addr, an IPv4 or bracketed IPv6 literal and a port
 * ("127.0.0.1:7420", "[::]:7420"; port 0 picks a free one). opts->psk is
 * required: every accepted connection speaks TLS. Returns a listener (close
 * with etx_conn_listener_close()) or NULL with err filled (class
 * ETX_CLASS_INPUT for a bad address); after a failure the loop must still
 * run to release what was set up.
 */
struct etx_conn_listener *etx_conn_listen(uv_loop_t *loop, const char *addr,
                                          const struct etx_conn_opts *opts,
                                          const struct etx_conn_accept *acc,
                                          struct etx_error *err);

/* The port the listener is bound to. */
int etx_conn_listener_port(const struct etx_conn_listener *l);

/*
 * Stop listening; the listener is freed in its close callback (async).
 * Accepted connections are not affected. NULL: no-op.
 */
void etx_conn_listener_close(struct etx_conn_listener *l);

/*
 * Connect to addr ("host:port", "10.0.0.5:7420", "[::1]:7420"; a name is
 * resolved with uv_getaddrinfo and its first address is used) and run the
 * TLS handshake with opts->psk (required). Returns the connection at once
 * (frames may be sent before it is open; they wait); connect, resolve and
 * handshake failures arrive through cbs->on_close. NULL with err filled
 * only for a malformed address or missing callbacks.
 */
struct etx_conn *etx_conn_connect(uv_loop_t *loop, const char *addr,
                                  const struct etx_conn_opts *opts,
                                  const struct etx_conn_cbs *cbs,
                                  struct etx_error *err);

/*
 * A connection without TLS on fd[0] (read) and fd[1] (write), which may be
 * the same descriptor: stdin and stdout under SSH, or one end of a
 * socketpair. On success the connection owns the descriptors and closes
 * them. NULL with err filled when one is not an open descriptor (checked
 * before either is taken: both stay the caller's) or libuv refuses it.
 */
struct etx_conn *etx_conn_open_stdio(uv_loop_t *loop, const int fd[2],
                                     const struct etx_conn_opts *opts,
                                     const struct etx_conn_cbs *cbs,
                                     struct etx_error *err);

/*
 * Queue env as one frame. ETX_OK: queued (before the handshake completes
 * it waits for it). ETX_AGAIN: opts->queue_max bytes are already queued;
 * nothing was queued, and on_drain is called once the queue is half
 * empty. ETX_ERR: the frame is too large (class ETX_CLASS_INTERNAL) or the
 * connection is closing or broken.
 */
int etx_conn_send(struct etx_conn *c, const Etxroll__Envelope *env,
                  struct etx_error *err);

/* Bytes queued for the peer and not yet handed to the kernel. */
size_t etx_conn_queued_bytes(const struct etx_conn *c);

/*
 * Stop delivering frames and reading the socket, so that a slow consumer
 * bounds memory; etx_conn_read_start() resumes, delivering frames already
 * buffered from a later loop iteration, never from inside the call.
 */
void etx_conn_read_stop(struct etx_conn *c);
void etx_conn_read_start(struct etx_conn *c);

/*
 * Close: queued frames are flushed (bounded by the handshake timeout), TLS
 * sends close_notify, then handles close and on_close(c, NULL) follows from
 * the loop. Safe from inside any callback; a second call is a no-op.
 */
void etx_conn_close(struct etx_conn *c);

/* "192.0.2.7:40112", "[2001:db8::1]:7420", the address given, or "stdio". */
const char *etx_conn_peer(const struct etx_conn *c);

#endif /* ETX_PROTO_CONN_H */
