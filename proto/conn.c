/* SPDX-License-Identifier: MIT */
/*
 * Framed connections on libuv streams, with TLS through memory BIOs so that
 * libuv does every read and write. A connection owns up to four handles (a
 * TCP socket or one or two pipes, a deadline timer and a kick timer) and is
 * freed only after the last close callback (and a pending name lookup) has
 * come back, right after on_close. The listener and the parsing of
 * addresses are in listen.c, the client side of TCP (resolving the host,
 * connecting) in dial.c, the writing half (the outgoing queue, frames sent
 * before the handshake ends, write callbacks, on_drain) in conn_io.c.
 */
#include "proto/conn.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/conn_internal.h"
#include "proto/frame.h"
#include "proto/psk.h"
#include "proto/tls.h"

#define NEXT(s)     (1u << (s))
#define KEEPALIVE_S 60

static const uint32_t conn_next[ETX_CONN__STATE_COUNT] = {
    [ETX_CONN__NEW] = NEXT(ETX_CONN__RESOLVING) | NEXT(ETX_CONN__CONNECTING) |
                      NEXT(ETX_CONN__HANDSHAKE) | NEXT(ETX_CONN__OPEN) |
                      NEXT(ETX_CONN__CLOSING),
    [ETX_CONN__RESOLVING] =
        NEXT(ETX_CONN__CONNECTING) | NEXT(ETX_CONN__CLOSING),
    [ETX_CONN__CONNECTING] =
        NEXT(ETX_CONN__HANDSHAKE) | NEXT(ETX_CONN__CLOSING),
    [ETX_CONN__HANDSHAKE] = NEXT(ETX_CONN__OPEN) | NEXT(ETX_CONN__DRAINING) |
                            NEXT(ETX_CONN__CLOSING),
    [ETX_CONN__OPEN] = NEXT(ETX_CONN__DRAINING) | NEXT(ETX_CONN__CLOSING),
    [ETX_CONN__DRAINING] = NEXT(ETX_CONN__CLOSING),
    [ETX_CONN__CLOSING] = 0,
};

/* What did not finish in time, by the state the deadline found. */
static const char *const late[ETX_CONN__STATE_COUNT] = {
    [ETX_CONN__NEW] = "the connection was not set up",
    [ETX_CONN__RESOLVING] = "the host name was not resolved",
    [ETX_CONN__CONNECTING] = "the TCP connection was not established",
    [ETX_CONN__HANDSHAKE] = "the TLS handshake did not complete",
    [ETX_CONN__OPEN] = "no whole frame arrived from the peer",
    [ETX_CONN__DRAINING] = "the last bytes were not sent",
    [ETX_CONN__CLOSING] = "the connection did not close",
};

static void begin_drain(struct etx_conn *c);
static void begin_close(struct etx_conn *c);

void
etx_conn__set_state(struct etx_conn *c, enum etx_conn__state to)
{
    assert(to < ETX_CONN__STATE_COUNT && (conn_next[c->state] & NEXT(to)));
    c->state = to; /* the only assignment */
}

bool
etx_conn__is_live(const struct etx_conn *c)
{
    return c->state == ETX_CONN__HANDSHAKE || c->state == ETX_CONN__OPEN;
}

void
etx_conn__fail(struct etx_conn *c, const struct etx_error *err)
{
    if (c->state >= ETX_CONN__DRAINING)
        return;
    c->why = *err;
    snprintf(c->why.where, sizeof(c->why.where), "%s", c->peer);
    c->failed = true;
    begin_drain(c);
}

void
etx_conn__fail_uv(struct etx_conn *c, int status, const char *op,
                  const char *what)
{
    struct etx_error err = {0};

    etx_error_sys(&err, -status, ETX_CTX_NET, op, c->peer, "%s", what);
    etx_conn__fail(c, &err);
}

/* ---- reading ---- */

/* A NULL buffer makes libuv report UV_ENOBUFS to read_cb. */
static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct etx_conn *c = h->data;

    (void)hint;
    if (c->rbuf == NULL)
        c->rbuf = malloc(ETX_CONN__READ_BUF);
    buf->base = (char *)c->rbuf;
    buf->len = c->rbuf != NULL ? ETX_CONN__READ_BUF : 0;
}

/* The read buffer goes once nothing in it waits to be framed. */
static void
release_rbuf(struct etx_conn *c)
{
    if (c->tls != NULL || c->in_off == c->in_len) {
        free(c->rbuf);
        c->rbuf = NULL;
    }
}

static void
read_eof(struct etx_conn *c)
{
    struct etx_error err = {0};

    if (c->state == ETX_CONN__HANDSHAKE)
        etx_error_set(&err, ETX_CLASS_TRANSIENT, 0, "eof", c->peer,
                      "the peer closed the connection during the TLS "
                      "handshake");
    else if (etx_frame_reader_pending(c->reader) > 0)
        etx_error_set(&err, ETX_CLASS_INPUT, 0, "frame", c->peer,
                      "the peer closed the connection in the middle of a "
                      "frame");
    else
        etx_error_set(&err, ETX_CLASS_TRANSIENT, 0, "eof", c->peer,
                      "the peer closed the connection");
    etx_conn__fail(c, &err);
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct etx_conn *c = s->data;
    struct etx_error err = {0};

    if (n <= 0 || !etx_conn__is_live(c)) {
        release_rbuf(c);
        if (n == UV_EOF && etx_conn__is_live(c))
            read_eof(c);
        else if (n < 0 && etx_conn__is_live(c))
            etx_conn__fail_uv(c, (int)n, "read", "cannot read from the peer");
        return;
    }
    if (c->tls == NULL) {
        c->in_off = 0;
        c->in_len = (size_t)n;
    } else if (etx_tls_feed_ciphertext(c->tls, buf->base, (size_t)n, &err) !=
               ETX_OK) {
        release_rbuf(c);
        etx_conn__fail(c, &err);
        return;
    }
    release_rbuf(c);
    etx_conn__advance(c);
}

/* Read the socket only when there is room and somebody to deliver to. */
static void
update_reading(struct etx_conn *c)
{
    bool want = etx_conn__is_live(c) && !c->paused &&
                (c->tls != NULL || c->in_off == c->in_len);
    int r;

    if (want == c->reading)
        return;
    if (!want) {
        uv_read_stop(c->rd);
        c->reading = false;
        return;
    }
    r = uv_read_start(c->rd, alloc_cb, read_cb);
    if (r < 0) {
        etx_conn__fail_uv(c, r, "read", "cannot read from the peer");
        return;
    }
    c->reading = true;
}

/* Move up to one chunk of plaintext into the frame reader. */
static int
pull_plaintext(struct etx_conn *c, struct etx_error *err)
{
    uint8_t chunk[ETX_CONN__PLAIN_CHUNK];
    size_t n = 0;
    int rc;

    if (c->tls != NULL) {
        rc = etx_tls_read_plaintext(c->tls, chunk, sizeof(chunk), &n, err);
        if (rc != ETX_OK)
            return rc;
        return etx_frame_reader_feed(c->reader, chunk, n, err);
    }
    if (c->in_off == c->in_len)
        return ETX_AGAIN;
    n = c->in_len - c->in_off;
    if (n > ETX_CONN__PLAIN_CHUNK)
        n = ETX_CONN__PLAIN_CHUNK;
    rc = etx_frame_reader_feed(c->reader, c->rbuf + c->in_off, n, err);
    c->in_off += n;
    release_rbuf(c);
    return rc;
}

static void
deliver(struct etx_conn *c, Etxroll__Envelope *env)
{
    if (!c->got_frame) {
        c->got_frame = true;
        uv_timer_stop(&c->deadline);
    }
    c->cbs.on_frame(c, env, c->cbs.arg);
}

/*
 * Whole frames are taken out before more plaintext goes in, so the reader
 * never holds more than one partial frame and a chunk.
 */
static void
process_input(struct etx_conn *c)
{
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    int rc;

    while (c->state == ETX_CONN__OPEN && !c->paused) {
        rc = ETX_AGAIN;
        if (etx_frame_reader_pending(c->reader) > 0)
            rc = etx_frame_reader_next(c->reader, &env, &err);
        if (rc == ETX_OK) {
            deliver(c, env);
            continue;
        }
        if (rc == ETX_AGAIN)
            rc = pull_plaintext(c, &err);
        if (rc == ETX_AGAIN)
            break;
        if (rc == ETX_ERR) {
            etx_conn__fail(c, &err);
            return;
        }
    }
}

static int
handshake_step(struct etx_conn *c)
{
    struct etx_error err = {0};
    int rc = etx_tls_handshake(c->tls, &err);

    if (rc == ETX_ERR) {
        etx_conn__fail(c, &err); /* the drain sends the alert that says why */
        return ETX_ERR;
    }
    /* The next flight; a failure to send it fails the connection. */
    if (etx_conn__flush_tls(c, NULL) != ETX_OK || rc == ETX_AGAIN)
        return rc == ETX_AGAIN ? ETX_AGAIN : ETX_ERR;
    etx_conn__set_state(c, ETX_CONN__OPEN);
    return etx_conn__flush_early(c, NULL);
}

void
etx_conn__advance(struct etx_conn *c)
{
    if (c->state == ETX_CONN__HANDSHAKE && handshake_step(c) != ETX_OK) {
        update_reading(c);
        return;
    }
    process_input(c);
    /* Reading can produce records too (a key update's answer); a failure
     * to send them fails the connection. */
    if (etx_conn__is_live(c))
        (void)etx_conn__flush_tls(c, NULL);
    update_reading(c);
}

static void
kick_cb(uv_timer_t *t)
{
    etx_conn__advance(t->data);
}

void
etx_conn_read_stop(struct etx_conn *c)
{
    if (c->state >= ETX_CONN__DRAINING)
        return;
    c->paused = true;
    update_reading(c);
}

void
etx_conn_read_start(struct etx_conn *c)
{
    if (!c->paused || c->state >= ETX_CONN__DRAINING)
        return;
    c->paused = false;
    uv_timer_start(&c->kick, kick_cb, 0, 0);
}

/* ---- closing ---- */

static void
finish(struct etx_conn *c)
{
    if (c->cbs.on_close != NULL)
        c->cbs.on_close(c, c->failed ? &c->why : NULL, c->cbs.arg);
    etx_conn__free_early(c);
    etx_tls_free(c->tls);
    etx_frame_reader_free(c->reader);
    free(c->rbuf);
    free(c);
}

void
etx_conn__close_done(struct etx_conn *c)
{
    if (--c->pending == 0)
        finish(c);
}

static void
close_cb(uv_handle_t *h)
{
    etx_conn__close_done(h->data);
}

static void
begin_close(struct etx_conn *c)
{
    int i;

    etx_conn__set_state(c, ETX_CONN__CLOSING);
    etx_conn__free_early(c);
    c->reading = false;
    c->pending = c->nhandles;
    if (c->resolving) {
        c->pending++;
        uv_cancel((uv_req_t *)&c->gai);
    }
    for (i = 0; i < c->nhandles; i++)
        uv_close(c->handles[i], close_cb);
}

static void
shutdown_cb(uv_shutdown_t *req, int status)
{
    struct etx_conn *c = req->data;

    (void)status;
    if (c->state == ETX_CONN__DRAINING)
        begin_close(c);
}

static void
deadline_cb(uv_timer_t *t)
{
    struct etx_conn *c = t->data;
    struct etx_error err = {0};

    if (c->state == ETX_CONN__DRAINING) {
        begin_close(c);
        return;
    }
    etx_error_set(&err, ETX_CLASS_TRANSIENT, ETIMEDOUT, "timeout", c->peer,
                  "%s within %llu ms", late[c->state],
                  (unsigned long long)c->timeout_ms);
    etx_conn__fail(c, &err);
}

/* Flush what is queued (the alert, close_notify), then shut down. */
static void
begin_drain(struct etx_conn *c)
{
    if (!etx_conn__is_live(c)) {
        begin_close(c);
        return;
    }
    etx_conn__set_state(c, ETX_CONN__DRAINING);
    etx_conn__free_early(c);
    uv_timer_stop(&c->kick);
    if (c->reading)
        uv_read_stop(c->rd);
    c->reading = false;
    (void)etx_conn__flush_tls(c, NULL); /* a failure here changes nothing */
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, c->wr, shutdown_cb) != 0) {
        begin_close(c);
        return;
    }
    uv_timer_start(&c->deadline, deadline_cb, c->timeout_ms, 0);
}

void
etx_conn_close(struct etx_conn *c)
{
    if (c == NULL || c->state >= ETX_CONN__DRAINING)
        return;
    if (c->tls != NULL)
        etx_tls_close_notify(c->tls);
    begin_drain(c);
}

const char *
etx_conn_peer(const struct etx_conn *c)
{
    return c->peer;
}

/* ---- creation ---- */

void
etx_conn__add_handle(struct etx_conn *c, uv_handle_t *h)
{
    h->data = c;
    c->handles[c->nhandles++] = h;
}

/* A connection in ETX_CONN__NEW with its timers, reader and (psk) TLS. */
struct etx_conn *
etx_conn__new(uv_loop_t *loop, const struct etx_conn_opts *opts,
              enum etx_tls_role role, struct etx_error *err)
{
    struct etx_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "connect", NULL,
                      "cannot set up a connection");
        return NULL;
    }
    c->loop = loop;
    c->early_tail = &c->early;
    c->timeout_ms = opts->handshake_timeout_ms != 0
                        ? opts->handshake_timeout_ms
                        : ETX_CONN_HANDSHAKE_TIMEOUT_MS;
    c->queue_max = opts->queue_max != 0 ? opts->queue_max : ETX_CONN_QUEUE_MAX;
    uv_timer_init(loop, &c->deadline);
    etx_conn__add_handle(c, (uv_handle_t *)&c->deadline);
    uv_timer_init(loop, &c->kick);
    etx_conn__add_handle(c, (uv_handle_t *)&c->kick);
    c->reader = etx_frame_reader_new();
    if (c->reader == NULL)
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "connect", NULL,
                      "cannot set up a connection");
    else if (opts->psk != NULL)
        c->tls = etx_tls_new(role, opts->psk, err);
    if (c->reader == NULL || (opts->psk != NULL && c->tls == NULL)) {
        begin_close(c);
        return NULL;
    }
    uv_timer_start(&c->deadline, deadline_cb, c->timeout_ms, 0);
    return c;
}

int
etx_conn__check_cbs(const struct etx_conn_cbs *cbs, struct etx_error *err)
{
    if (cbs == NULL || cbs->on_frame == NULL || cbs->on_close == NULL)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "connect", NULL,
                             "on_frame and on_close are required");
    return ETX_OK;
}

static int
open_pipe(struct etx_conn *c, uv_pipe_t *p, int fd, struct etx_error *err)
{
    int r;

    uv_pipe_init(c->loop, p, 0);
    etx_conn__add_handle(c, (uv_handle_t *)p);
    r = uv_pipe_open(p, fd);
    if (r < 0)
        return etx_error_sys(err, -r, ETX_CTX_NET, "open", "stdio",
                             "cannot use descriptor %d", fd);
    return ETX_OK;
}

/*
 * Only pipes and sockets can be polled: libuv aborts on /dev/null, a
 * terminal or a regular file (epoll refuses them).
 */
static int
check_stream_fd(int fd, struct etx_error *err)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return etx_error_sys(err, errno, ETX_CTX_NET, "open", "stdio",
                             "cannot use descriptor %d", fd);
    if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "open", "stdio",
                             "descriptor %d is not a pipe or a socket: "
                             "--stdio serves a pipe, as under SSH",
                             fd);
    return ETX_OK;
}

struct etx_conn *
etx_conn_open_stdio(uv_loop_t *loop, const int fd[2],
                    const struct etx_conn_opts *opts,
                    const struct etx_conn_cbs *cbs, struct etx_error *err)
{
    struct etx_conn_opts plain = *opts;
    struct etx_conn *c = NULL;

    if (etx_conn__check_cbs(cbs, err) != ETX_OK)
        return NULL;
    /* Check both before taking either: a failure leaves them open. */
    if (check_stream_fd(fd[0], err) != ETX_OK ||
        check_stream_fd(fd[1], err) != ETX_OK)
        return NULL;
    plain.psk = NULL;
    c = etx_conn__new(loop, &plain, ETX_TLS_SERVER, err);
    if (c == NULL)
        return NULL;
    snprintf(c->peer, sizeof(c->peer), "stdio");
    c->rd = c->wr = (uv_stream_t *)&c->pipe_in;
    if (open_pipe(c, &c->pipe_in, fd[0], err) != ETX_OK ||
        (fd[1] != fd[0] && open_pipe(c, &c->pipe_out, fd[1], err) != ETX_OK)) {
        begin_close(c);
        return NULL;
    }
    if (fd[1] != fd[0])
        c->wr = (uv_stream_t *)&c->pipe_out;
    c->cbs = *cbs;
    etx_conn__set_state(c, ETX_CONN__OPEN);
    update_reading(c);
    return c;
}

/* ---- TCP ---- */

static void
format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(s6, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        uv_ip4_name(s4, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

void
etx_conn__tcp_ready(struct etx_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        format_addr((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_S);
    c->rd = c->wr = (uv_stream_t *)&c->tcp;
    etx_conn__set_state(c, ETX_CONN__HANDSHAKE);
}

/* ---- accepting (proto/listen.c) ---- */

static void
free_handle_cb(uv_handle_t *h)
{
    free(h);
}

/*
 * libuv stops polling the listening socket while a connection waits to be
 * accepted, so one that cannot be served is still accepted, then closed.
 */
static void
discard_pending(uv_stream_t *server)
{
    uv_tcp_t *t = malloc(sizeof(*t));

    if (t == NULL)
        return;
    uv_tcp_init(server->loop, t);
    uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, free_handle_cb);
}

struct etx_conn *
etx_conn__accept(uv_stream_t *server, const struct etx_conn_opts *opts,
                 const char *where, struct etx_error *err)
{
    struct etx_conn *c = etx_conn__new(server->loop, opts, ETX_TLS_SERVER, err);
    int r;

    if (c == NULL) {
        discard_pending(server);
        return NULL;
    }
    uv_tcp_init(server->loop, &c->tcp);
    etx_conn__add_handle(c, (uv_handle_t *)&c->tcp);
    r = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (r < 0) {
        begin_close(c);
        etx_error_sys(err, -r, ETX_CTX_NET, "accept", where,
                      "cannot accept a connection");
        return NULL;
    }
    etx_conn__tcp_ready(c);
    return c;
}

void
etx_conn__start(struct etx_conn *c, const struct etx_conn_cbs *cbs)
{
    if (etx_conn__check_cbs(cbs, NULL) != ETX_OK) {
        begin_close(c); /* refused: no callbacks at all */
        return;
    }
    c->cbs = *cbs;
    update_reading(c);
}
