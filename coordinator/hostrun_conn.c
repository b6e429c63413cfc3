/* SPDX-License-Identifier: MIT */
/*
 * One host's connection to its agent and its life as an object
 * (coordinator/hostrun_internal.h): connecting (coordinator/peer.h), the
 * peer's ready, closed and drain callbacks, creating the host and
 * freeing it once its timer and its connection are closed.
 */
#include "coordinator/hostrun_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/carrier.h"

static void ready_cb(struct etx_peer *p, const Etxroll__Hello *hello,
                     void *arg);
static void closed_cb(struct etx_peer *p, const struct etx_error *why,
                      void *arg);
static void drain_cb(struct etx_peer *p, void *arg);

void
etx_hostrun__connect(struct etx_hostrun *h)
{
    struct etx_peer_cbs cbs = {
        .ready = ready_cb, .closed = closed_cb, .drain = drain_cb, .arg = h};
    struct etx_error err = {0};

    h->wait = HR_WAIT_CONNECT;
    if (h->peer != NULL)
        return; /* already on its way */
    h->peer = etx_carrier_connect(h->env->loop, h->host, h->psk, &cbs, &err);
    if (h->peer == NULL) {
        h->wait = HR_WAIT_NONE;
        etx_hostrun__step_failed(h, &err, NULL);
    }
}

static void
ready_cb(struct etx_peer *p, const Etxroll__Hello *hello, void *arg)
{
    struct etx_hostrun *h = arg;

    (void)p;
    (void)hello;
    h->peer_ready = true;
    if (h->wait == HR_WAIT_CONNECT) {
        h->wait = HR_WAIT_NONE;
        etx_hostrun__run_step(h);
    }
}

static void
maybe_free(struct etx_hostrun *h)
{
    if (h->closing && h->timer_closed && h->peer == NULL) {
        etx_hostrun__push_end(h);
        free(h);
    }
}

static void
closed_cb(struct etx_peer *p, const struct etx_error *why, void *arg)
{
    struct etx_hostrun *h = arg;
    struct etx_error lost = {0};

    (void)p;
    h->peer = NULL;
    h->peer_ready = false;
    if (h->closing) {
        maybe_free(h);
        return;
    }
    if (h->wait != HR_WAIT_CONNECT && h->wait != HR_WAIT_DRAIN)
        return; /* idle, or a waiting request already heard of it */
    h->wait = HR_WAIT_NONE;
    if (why == NULL) {
        etx_error_set(&lost, ETX_CLASS_TRANSIENT, ECONNRESET, "connect",
                      h->host->name, "the connection was closed");
        why = &lost;
    }
    etx_hostrun__step_failed(h, why, NULL);
}

static void
drain_cb(struct etx_peer *p, void *arg)
{
    struct etx_hostrun *h = arg;
    struct etx_error err = {0};

    (void)p;
    if (h->closing || h->wait != HR_WAIT_DRAIN)
        return;
    h->wait = HR_WAIT_NONE;
    if (etx_hostrun__push(h, &err) != ETX_OK)
        etx_hostrun__step_failed(h, &err, NULL);
}

static void
timer_closed_cb(uv_handle_t *t)
{
    struct etx_hostrun *h = t->data;

    h->timer_closed = true;
    maybe_free(h);
}

struct etx_hostrun *
etx_hostrun_new(const struct etx_hostrun_env *env, size_t host, unsigned batch,
                const struct etx_psk *psk, etx_hostrun_done_cb cb, void *arg)
{
    struct etx_hostrun *h = calloc(1, sizeof(*h)); /* pending (0) */
    const struct etx_inv_host *ho = &env->inv->hosts[host];

    if (h == NULL)
        return NULL;
    h->env = env;
    h->host = ho;
    h->psk = psk;
    h->batch = batch;
    h->done = cb;
    h->done_arg = arg;
    h->art_fd = -1;
    uv_timer_init(env->loop, &h->timer);
    h->timer.data = h;
    return h;
}

void
etx_hostrun_release(struct etx_hostrun *h)
{
    if (h->running || h->peer == NULL)
        return;
    h->peer_ready = false; /* a later step waits for a new connection */
    etx_peer_close(h->peer); /* closed_cb: idle, nothing waits */
}

void
etx_hostrun_close(struct etx_hostrun *h)
{
    if (h == NULL)
        return;
    h->closing = true;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, timer_closed_cb);
    if (h->peer != NULL)
        etx_peer_close(h->peer);
}
