/* SPDX-License-Identifier: MIT */
/*
 * The TCP listener of proto/conn.h, which hands each accepted connection to
 * its owner, and the parsing of "host:port" / "[v6]:port" addresses that it
 * shares with etx_conn_connect(). A listener owns its TCP handle and a copy
 * of the fleet key, and is freed in the handle's close callback.
 */
#include "proto/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/conn_internal.h"
#include "proto/psk.h"

#define LISTEN_QUEUE 128
#define ADDR_LEN     64

struct etx_conn_listener {
    uv_tcp_t tcp;
    struct etx_psk psk;
    struct etx_conn_opts opts; /* opts.psk points at psk above */
    struct etx_conn_accept acc;
    char addr[ADDR_LEN];
    int port;
    bool closing;
};

/* ---- addresses ---- */

int
etx_conn__split_addr(const char *addr, char *host, size_t hostlen, int *port,
                     struct etx_error *err)
{
    const char *h = addr, *colon = strrchr(addr, ':'), *end = NULL;
    char *stop = NULL;
    size_t n;
    long p;

    if (addr[0] == '[') {
        end = strchr(addr, ']');
        h = addr + 1;
        colon = end != NULL && end[1] == ':' ? end + 1 : NULL;
    } else if (colon != NULL) {
        end = colon;
        if (memchr(addr, ':', (size_t)(colon - addr)) != NULL)
            colon = NULL; /* a bare IPv6 address needs brackets */
    }
    if (colon == NULL || end <= h || (size_t)(end - h) >= hostlen)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "address", addr,
                             "not host:port (IPv6 as [address]:port)");
    n = (size_t)(end - h);
    memcpy(host, h, n);
    host[n] = '\0';
    errno = 0;
    p = strtol(colon + 1, &stop, 10);
    if (colon[1] < '0' || colon[1] > '9' || *stop != '\0' || p > 65535)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "address", addr,
                             "the port must be a number from 0 to 65535");
    *port = (int)p;
    return ETX_OK;
}

int
etx_conn__parse_literal(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return ETX_OK;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return ETX_OK;
    return ETX_AGAIN;
}

/* ---- listening ---- */

static void
listener_close_cb(uv_handle_t *h)
{
    struct etx_conn_listener *l = h->data;

    etx_psk_clear(&l->psk);
    free(l);
}

void
etx_conn_listener_close(struct etx_conn_listener *l)
{
    if (l == NULL || l->closing)
        return;
    l->closing = true;
    uv_close((uv_handle_t *)&l->tcp, listener_close_cb);
}

int
etx_conn_listener_port(const struct etx_conn_listener *l)
{
    return l->port;
}

static void
connection_cb(uv_stream_t *server, int status)
{
    struct etx_conn_listener *l = server->data;
    struct etx_conn_cbs cbs = {0};
    struct etx_error err = {0};
    struct etx_conn *c = NULL;

    if (status < 0)
        etx_error_sys(&err, -status, ETX_CTX_NET, "accept", l->addr,
                      "cannot accept a connection");
    else
        c = etx_conn__accept(server, &l->opts, l->addr, &err);
    if (c == NULL) {
        l->acc.cb(l, NULL, &err, NULL, l->acc.arg);
        return;
    }
    l->acc.cb(l, c, NULL, &cbs, l->acc.arg);
    etx_conn__start(c, &cbs);
}

static int
listener_bind(struct etx_conn_listener *l, const struct sockaddr *sa,
              struct etx_error *err)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss), r;

    r = uv_tcp_bind(&l->tcp, sa, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&l->tcp, LISTEN_QUEUE, connection_cb);
    if (r == 0)
        r = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
    if (r < 0)
        return etx_error_sys(err, -r, ETX_CTX_NET, "listen", l->addr,
                             "cannot listen");
    l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ETX_OK;
}

struct etx_conn_listener *
etx_conn_listen(uv_loop_t *loop, const char *addr,
                const struct etx_conn_opts *opts,
                const struct etx_conn_accept *acc, struct etx_error *err)
{
    struct etx_conn_listener *l = NULL;
    struct sockaddr_storage ss;
    char host[INET6_ADDRSTRLEN + 16];
    int port = 0;

    if (etx_conn__split_addr(addr, host, sizeof(host), &port, err) != ETX_OK)
        return NULL;
    if (etx_conn__parse_literal(host, port, &ss) != ETX_OK ||
        opts->psk == NULL || acc == NULL || acc->cb == NULL) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "listen", addr,
                      "an IP address literal, the fleet key and an accept "
                      "callback are required");
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "listen", addr,
                      "cannot listen");
        return NULL;
    }
    l->psk = *opts->psk;
    l->opts = *opts;
    l->opts.psk = &l->psk;
    l->acc = *acc;
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    uv_tcp_init(loop, &l->tcp);
    l->tcp.data = l;
    if (listener_bind(l, (struct sockaddr *)&ss, err) != ETX_OK) {
        etx_conn_listener_close(l);
        return NULL;
    }
    return l;
}
