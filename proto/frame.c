/* SPDX-License-Identifier: MIT */
/* Frame encoding and decoding, and a bounded reader for byte streams. */
#include "proto/frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The reader never holds more than two largest frames. */
#define READER_LIMIT (2 * (ETX_FRAME_HEADER + ETX_FRAME_MAX))

struct etx_frame_reader {
    uint8_t *buf;
    size_t off; /* start of the first byte not yet returned */
    size_t len; /* end of the data */
    size_t cap;
    bool bad;
    struct etx_error why; /* what made the stream bad */
};

static uint32_t
peek_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static int
check_length(uint32_t n, struct etx_error *err)
{
    if (n == 0)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "frame", NULL,
                             "empty frame");
    if (n > ETX_FRAME_MAX)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "frame", NULL,
                             "frame of %u bytes exceeds the limit of %u", n,
                             ETX_FRAME_MAX);
    return ETX_OK;
}

int
etx_frame_decode(const uint8_t *buf, size_t len, size_t *consumed,
                 Etxroll__Envelope **out, struct etx_error *err)
{
    Etxroll__Envelope *env = NULL;
    uint32_t n;

    *out = NULL;
    *consumed = 0;
    if (len < ETX_FRAME_HEADER)
        return ETX_AGAIN;
    n = peek_u32(buf);
    if (check_length(n, err) != ETX_OK)
        return ETX_ERR;
    if (len - ETX_FRAME_HEADER < n)
        return ETX_AGAIN;
    env = etxroll__envelope__unpack(NULL, n, buf + ETX_FRAME_HEADER);
    if (env == NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "frame", NULL,
                             "frame of %u bytes is not a valid envelope", n);
    if (env->body_case == ETXROLL__ENVELOPE__BODY__NOT_SET) {
        unsigned long long id = (unsigned long long)env->id;

        etx_frame_free(env);
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "frame", NULL,
                             "envelope %llu carries no message", id);
    }
    *out = env;
    *consumed = ETX_FRAME_HEADER + n;
    return ETX_OK;
}

void
etx_frame_free(Etxroll__Envelope *env)
{
    if (env != NULL)
        etxroll__envelope__free_unpacked(env, NULL);
}

int
etx_frame_encode(const Etxroll__Envelope *env, uint8_t **out, size_t *out_len,
                 struct etx_error *err)
{
    size_t n = etxroll__envelope__get_packed_size(env);
    uint8_t *buf = NULL;

    *out = NULL;
    *out_len = 0;
    if (n == 0 || n > ETX_FRAME_MAX)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "frame", NULL,
                             "refusing to send a frame of %zu bytes "
                             "(limit %u)",
                             n, ETX_FRAME_MAX);
    buf = malloc(ETX_FRAME_HEADER + n);
    if (buf == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "frame", NULL,
                             "cannot encode a frame");
    buf[0] = (uint8_t)(n >> 24);
    buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    etxroll__envelope__pack(env, buf + ETX_FRAME_HEADER);
    *out = buf;
    *out_len = ETX_FRAME_HEADER + n;
    return ETX_OK;
}

struct etx_frame_reader *
etx_frame_reader_new(void)
{
    return calloc(1, sizeof(struct etx_frame_reader));
}

void
etx_frame_reader_free(struct etx_frame_reader *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    free(r);
}

static int
go_bad(struct etx_frame_reader *r, struct etx_error *err)
{
    r->bad = true;
    if (err != NULL)
        r->why = *err;
    return ETX_ERR;
}

static int
make_room(struct etx_frame_reader *r, size_t more, struct etx_error *err)
{
    size_t want;
    uint8_t *p;

    if (r->off > 0) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (more > READER_LIMIT - r->len)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "frame", NULL,
                             "peer sent more than %u bytes without a "
                             "whole frame",
                             READER_LIMIT);
    if (r->len + more <= r->cap)
        return ETX_OK;
    want = r->cap > 0 ? r->cap : 64 * 1024;
    while (want < r->len + more)
        want *= 2;
    p = realloc(r->buf, want);
    if (p == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "frame", NULL,
                             "cannot buffer a frame");
    r->buf = p;
    r->cap = want;
    return ETX_OK;
}

int
etx_frame_reader_feed(struct etx_frame_reader *r, const void *data, size_t len,
                      struct etx_error *err)
{
    if (r->bad) {
        if (err != NULL)
            *err = r->why;
        return ETX_ERR;
    }
    if (make_room(r, len, err) != ETX_OK)
        return go_bad(r, err);
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    /* Refuse an oversized frame as soon as its header is in. */
    if (r->len - r->off >= ETX_FRAME_HEADER &&
        check_length(peek_u32(r->buf + r->off), err) != ETX_OK)
        return go_bad(r, err);
    return ETX_OK;
}

int
etx_frame_reader_next(struct etx_frame_reader *r, Etxroll__Envelope **out,
                      struct etx_error *err)
{
    size_t used = 0;
    int rc;

    *out = NULL;
    if (r->bad) {
        if (err != NULL)
            *err = r->why;
        return ETX_ERR;
    }
    if (r->buf == NULL) /* never fed: nothing to decode */
        return ETX_AGAIN;
    rc = etx_frame_decode(r->buf + r->off, r->len - r->off, &used, out, err);
    if (rc == ETX_ERR)
        return go_bad(r, err);
    r->off += used;
    if (r->off == r->len) {
        /* Nothing pending: an idle connection keeps no buffer. */
        free(r->buf);
        r->buf = NULL;
        r->off = r->len = r->cap = 0;
    }
    return rc;
}

size_t
etx_frame_reader_pending(const struct etx_frame_reader *r)
{
    return r->len - r->off;
}
