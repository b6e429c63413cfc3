/* SPDX-License-Identifier: MIT */
/*
 * Framing of the etxroll protocol: a frame is a u32 big-endian length and
 * that many bytes of one packed etxroll.Envelope (proto/etxroll.proto). The
 * length is checked against ETX_FRAME_MAX before anything is allocated for
 * the body, and the only hand-written decoding is these four bytes; fields
 * are protobuf-c's. A frame that fails here closes its connection only.
 */
#ifndef ETX_PROTO_FRAME_H
#define ETX_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"
#include "proto/etxroll.pb-c.h"

#define ETX_PROTO_VERSION 1
#define ETX_FRAME_HEADER  4
#define ETX_FRAME_MAX     (1024u * 1024u) /* largest body accepted */
#define ETX_FRAME_CHUNK   (256u * 1024u)  /* largest StageChunk.data sent */

/*
 * Decode one frame from buf[0..len). Returns ETX_OK with a new envelope in
 * *out (free with etx_frame_free()) and *consumed set to the frame's size;
 * ETX_AGAIN when buf holds less than one whole frame (nothing consumed); or
 * ETX_ERR with class ETX_CLASS_INPUT when the length is 0 or over
 * ETX_FRAME_MAX, the body does not unpack, or the envelope has no body.
 */
int etx_frame_decode(const uint8_t *buf, size_t len, size_t *consumed,
                     Etxroll__Envelope **out, struct etx_error *err);

void etx_frame_free(Etxroll__Envelope *env); /* NULL: no-op */

/*
 * Encode env as one frame into a new buffer *out of *out_len bytes (free()
 * it). Fails with ETX_CLASS_INTERNAL when the body would exceed
 * ETX_FRAME_MAX: the sender's bug, refused before it reaches the wire.
 */
int etx_frame_encode(const Etxroll__Envelope *env, uint8_t **out,
                     size_t *out_len, struct etx_error *err);

/*
 * A reader for a byte stream: feed it what arrives, take whole frames out.
 * It holds at most one partial frame, and refuses a header announcing more
 * than ETX_FRAME_MAX as soon as the four bytes are in.
 */
struct etx_frame_reader;

struct etx_frame_reader *etx_frame_reader_new(void); /* NULL on ENOMEM */
void etx_frame_reader_free(struct etx_frame_reader *r); /* NULL: no-op */

/* Append len bytes. ETX_ERR (input) when the stream is already bad. */
int etx_frame_reader_feed(struct etx_frame_reader *r, const void *data,
                          size_t len, struct etx_error *err);

/*
 * The next whole frame: ETX_OK with *out (etx_frame_free()), ETX_AGAIN when
 * none is complete yet, ETX_ERR when the stream is bad (then it stays bad).
 */
int etx_frame_reader_next(struct etx_frame_reader *r, Etxroll__Envelope **out,
                          struct etx_error *err);

/* Bytes held but not yet returned as frames (0 at a clean end of stream). */
size_t etx_frame_reader_pending(const struct etx_frame_reader *r);

#endif /* ETX_PROTO_FRAME_H */
