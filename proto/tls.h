/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 between the coordinator and an agent, authenticated by the fleet's
 * pre-shared key (proto/psk.h) alone: no certificates, one cipher suite
 * (TLS_AES_128_GCM_SHA256), PSK with (EC)DHE key exchange. The object does
 * no I/O: ciphertext from the socket is fed in, ciphertext to send is taken
 * out, so the event loop (proto/conn.h) does all the waiting. A handshake
 * that did not use the key (a peer with another key, a plain TLS server
 * with a certificate, or not TLS at all) fails on both sides.
 */
#ifndef ETX_PROTO_TLS_H
#define ETX_PROTO_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"

struct etx_psk;

enum etx_tls_role {
    ETX_TLS_CLIENT, /* the coordinator: sends the ClientHello */
    ETX_TLS_SERVER, /* the agent */
};

/* Message prefix of every handshake failure. */
#define ETX_TLS_HANDSHAKE_FAILED                                               \
    "TLS handshake failed: wrong pre-shared key or not an etxroll peer"

struct etx_tls;

/*
 * A new TLS endpoint keyed by psk (copied; the caller may clear its own
 * copy). Returns NULL with err filled (ETX_CLASS_INTERNAL) when OpenSSL
 * cannot set it up. Free with etx_tls_free(), which wipes the key.
 */
struct etx_tls *etx_tls_new(enum etx_tls_role role, const struct etx_psk *psk,
                            struct etx_error *err);
void etx_tls_free(struct etx_tls *t); /* NULL: no-op */

/* Append len bytes received from the peer. ETX_ERR only on ENOMEM. */
int etx_tls_feed_ciphertext(struct etx_tls *t, const void *buf, size_t len,
                            struct etx_error *err);

/*
 * Advance the handshake with what was fed so far (a client's first call
 * produces its ClientHello). ETX_OK once established, ETX_AGAIN while it
 * waits for the peer, ETX_ERR (class ETX_CLASS_INPUT, message starting with
 * ETX_TLS_HANDSHAKE_FAILED and ending with OpenSSL's reason) when it failed;
 * it then stays failed. Take the ciphertext after every call: it may hold
 * the next flight, or the alert that tells the peer why it failed.
 */
int etx_tls_handshake(struct etx_tls *t, struct etx_error *err);

/* True once the handshake completed with the pre-shared key. */
bool etx_tls_is_established(const struct etx_tls *t);

/*
 * Decrypt up to cap bytes into buf (established sessions only). ETX_OK with
 * *got > 0; ETX_AGAIN when more ciphertext is needed; ETX_ERR when the
 * record layer fails (class ETX_CLASS_INPUT) or the peer ended the session
 * with close_notify (class ETX_CLASS_TRANSIENT, op "eof").
 */
int etx_tls_read_plaintext(struct etx_tls *t, void *buf, size_t cap,
                           size_t *got, struct etx_error *err);

/*
 * Encrypt all len bytes (established sessions only; ETX_ERR with class
 * ETX_CLASS_INTERNAL before that). The records wait for
 * etx_tls_take_ciphertext().
 */
int etx_tls_write_plaintext(struct etx_tls *t, const void *buf, size_t len,
                            struct etx_error *err);

/* Queue a close_notify alert (established sessions; otherwise nothing). */
void etx_tls_close_notify(struct etx_tls *t);

/* Bytes of ciphertext waiting to be taken. */
size_t etx_tls_pending_ciphertext(const struct etx_tls *t);

/*
 * Move all ciphertext waiting to be sent into a new buffer *out of *len
 * bytes (free() it). With nothing waiting, ETX_OK with *out NULL and *len 0.
 * ETX_ERR only on ENOMEM.
 */
int etx_tls_take_ciphertext(struct etx_tls *t, uint8_t **out, size_t *len,
                            struct etx_error *err);

#endif /* ETX_PROTO_TLS_H */
