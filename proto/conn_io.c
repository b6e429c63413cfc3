/* SPDX-License-Identifier: MIT */
/*
 * The writing half of a framed connection (see conn.c): frames encoded and
 * handed to libuv, through TLS when there is TLS, frames queued before the
 * handshake ends and flushed once it has, the count of bytes not yet
 * written and the on_drain callback when that count falls back.
 */
#include "proto/conn.h"

#include <errno.h>
#include <stdlib.h>

#include "proto/conn_internal.h"
#include "proto/frame.h"
#include "proto/tls.h"

struct etx_conn__early {
    struct etx_conn__early *next;
    uint8_t *buf; /* one encoded frame */
    size_t len;
};

struct wreq {
    uv_write_t req;
    struct etx_conn *c;
    uint8_t *buf;
    size_t len;
};

static void
maybe_drained(struct etx_conn *c)
{
    if (!c->want_drain || c->queued > c->queue_max / 2 || !etx_conn__is_live(c))
        return;
    c->want_drain = false;
    if (c->cbs.on_drain != NULL)
        c->cbs.on_drain(c, c->cbs.arg);
}

static void
write_cb(uv_write_t *req, int status)
{
    struct wreq *w = req->data;
    struct etx_conn *c = w->c;

    c->queued -= w->len;
    free(w->buf);
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        etx_conn__fail_uv(c, status, "write", "cannot write to the peer");
    else
        maybe_drained(c);
}

/*
 * The stream lost bytes or cannot take more: fail the connection with e and
 * copy e to err (which may be NULL).
 */
static int
broken(struct etx_conn *c, const struct etx_error *e, struct etx_error *err)
{
    etx_conn__fail(c, e);
    if (err != NULL)
        *err = *e;
    return ETX_ERR;
}

/* Hand buf (taken over) to libuv. On failure the connection is failed. */
static int
write_buf(struct etx_conn *c, uint8_t *buf, size_t len, struct etx_error *err)
{
    struct wreq *w = calloc(1, sizeof(*w));
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned int)len);
    struct etx_error e = {0};
    int r = UV_ENOMEM;

    if (w != NULL) {
        w->c = c;
        w->buf = buf;
        w->len = len;
        w->req.data = w;
        r = uv_write(&w->req, c->wr, &b, 1, write_cb);
    }
    if (r < 0) {
        free(buf);
        free(w);
        etx_error_sys(&e, -r, ETX_CTX_NET, "write", c->peer,
                      "cannot write to the peer");
        return broken(c, &e, err);
    }
    c->queued += len;
    return ETX_OK;
}

/* Send what TLS has produced. On failure the connection is failed. */
int
etx_conn__flush_tls(struct etx_conn *c, struct etx_error *err)
{
    struct etx_error e = {0};
    uint8_t *buf = NULL;
    size_t len = 0;

    if (c->tls == NULL || etx_tls_pending_ciphertext(c->tls) == 0)
        return ETX_OK;
    if (etx_tls_take_ciphertext(c->tls, &buf, &len, &e) != ETX_OK)
        return broken(c, &e, err);
    return write_buf(c, buf, len, err);
}

/* Send one encoded frame (taken over); on failure the connection fails. */
static int
send_frame(struct etx_conn *c, uint8_t *frame, size_t len,
           struct etx_error *err)
{
    struct etx_error e = {0};
    int rc;

    if (c->tls == NULL)
        return write_buf(c, frame, len, err);
    rc = etx_tls_write_plaintext(c->tls, frame, len, &e);
    free(frame);
    if (rc != ETX_OK)
        return broken(c, &e, err);
    return etx_conn__flush_tls(c, err);
}

void
etx_conn__free_early(struct etx_conn *c)
{
    struct etx_conn__early *e = NULL;

    while ((e = c->early) != NULL) {
        c->early = e->next;
        c->queued -= e->len;
        free(e->buf);
        free(e);
    }
    c->early_tail = &c->early;
}

static int
queue_early(struct etx_conn *c, uint8_t *frame, size_t len,
            struct etx_error *err)
{
    struct etx_conn__early *e = calloc(1, sizeof(*e));

    if (e == NULL) {
        free(frame);
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "send", c->peer,
                             "cannot queue a frame");
    }
    e->buf = frame;
    e->len = len;
    *c->early_tail = e;
    c->early_tail = &e->next;
    c->queued += len;
    return ETX_OK;
}

int
etx_conn__flush_early(struct etx_conn *c, struct etx_error *err)
{
    struct etx_conn__early *e = NULL;

    while ((e = c->early) != NULL) {
        c->early = e->next;
        c->queued -= e->len;
        if (send_frame(c, e->buf, e->len, err) != ETX_OK) {
            free(e);
            return ETX_ERR;
        }
        free(e);
    }
    c->early_tail = &c->early;
    return ETX_OK;
}

int
etx_conn_send(struct etx_conn *c, const Etxroll__Envelope *env,
              struct etx_error *err)
{
    uint8_t *frame = NULL;
    size_t len = 0;

    if (c->state >= ETX_CONN__DRAINING)
        return etx_error_set(err, ETX_CLASS_TRANSIENT, 0, "send", c->peer,
                             "the connection is closing");
    if (c->queued >= c->queue_max) {
        c->want_drain = true;
        return ETX_AGAIN;
    }
    if (etx_frame_encode(env, &frame, &len, err) != ETX_OK)
        return ETX_ERR;
    if (c->state != ETX_CONN__OPEN)
        return queue_early(c, frame, len, err);
    return send_frame(c, frame, len, err);
}

size_t
etx_conn_queued_bytes(const struct etx_conn *c)
{
    return c->queued;
}
