/* SPDX-License-Identifier: MIT */
/*
 * The client side of TCP in proto/conn.h: etx_conn_connect() looks the host
 * name up (unless it is an IP literal), connects, and hands the socket to
 * conn.c for the TLS handshake. A lookup in flight counts as a pending
 * callback of the connection (see conn.c).
 */
#include "proto/conn.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "proto/conn_internal.h"

static void
connect_cb(uv_connect_t *req, int status)
{
    struct etx_conn *c = req->data;

    if (c->state != ETX_CONN__CONNECTING)
        return; /* closed meanwhile: status is UV_ECANCELED */
    if (status < 0) {
        etx_conn__fail_uv(c, status, "connect", "cannot connect");
        return;
    }
    etx_conn__tcp_ready(c);
    etx_conn__advance(c); /* sends the ClientHello */
}

static void
start_connect(struct etx_conn *c, const struct sockaddr *sa)
{
    int r;

    etx_conn__set_state(c, ETX_CONN__CONNECTING);
    c->connect_req.data = c;
    r = uv_tcp_connect(&c->connect_req, &c->tcp, sa, connect_cb);
    if (r < 0)
        etx_conn__fail_uv(c, r, "connect", "cannot connect");
}

static void
resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct etx_conn *c = req->data;
    struct etx_error err = {0};

    c->resolving = false;
    if (c->state == ETX_CONN__CLOSING) {
        uv_freeaddrinfo(res);
        etx_conn__close_done(c);
        return;
    }
    if (status < 0 || res == NULL) {
        etx_error_set(&err,
                      status == UV_EAI_AGAIN ? ETX_CLASS_TRANSIENT
                                             : ETX_CLASS_INPUT,
                      0, "resolve", c->peer, "cannot resolve the host: %s",
                      uv_strerror(status));
        uv_freeaddrinfo(res);
        etx_conn__fail(c, &err);
        return;
    }
    start_connect(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

static int
start_resolve(struct etx_conn *c, const char *host, int port,
              struct etx_error *err)
{
    struct addrinfo hints;
    char service[8];
    int r;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%d", port);
    etx_conn__set_state(c, ETX_CONN__RESOLVING);
    c->gai.data = c;
    r = uv_getaddrinfo(c->loop, &c->gai, resolved_cb, host, service, &hints);
    if (r < 0)
        return etx_error_set(err, ETX_CLASS_TRANSIENT, 0, "resolve", c->peer,
                             "cannot resolve the host: %s", uv_strerror(r));
    c->resolving = true;
    return ETX_OK;
}

struct etx_conn *
etx_conn_connect(uv_loop_t *loop, const char *addr,
                 const struct etx_conn_opts *opts,
                 const struct etx_conn_cbs *cbs, struct etx_error *err)
{
    struct sockaddr_storage ss;
    struct etx_conn *c = NULL;
    char host[256];
    int port = 0;

    if (etx_conn__check_cbs(cbs, err) != ETX_OK ||
        etx_conn__split_addr(addr, host, sizeof(host), &port, err) != ETX_OK)
        return NULL;
    if (port == 0 || opts->psk == NULL) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "connect", addr,
                      "a port and the fleet key are required");
        return NULL;
    }
    c = etx_conn__new(loop, opts, ETX_TLS_CLIENT, err);
    if (c == NULL)
        return NULL;
    snprintf(c->peer, sizeof(c->peer), "%s", addr);
    uv_tcp_init(loop, &c->tcp);
    etx_conn__add_handle(c, (uv_handle_t *)&c->tcp);
    c->cbs = *cbs;
    if (etx_conn__parse_literal(host, port, &ss) == ETX_OK)
        start_connect(c, (struct sockaddr *)&ss);
    else if (start_resolve(c, host, port, err) != ETX_OK)
        etx_conn__fail(c, err);
    return c;
}
