/* SPDX-License-Identifier: MIT */
/*
 * The libcurl multi-socket interface on libuv: libcurl says which sockets
 * to watch (socket_cb) and when to wake it (timer_cb); libuv tells it what
 * happened (curl_multi_socket_action) and finished transfers are handed to
 * their owners.
 */
#define _GNU_SOURCE
#include "agent/curlloop.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct sock { /* a socket libcurl asked us to watch */
    uv_poll_t poll;
    curl_socket_t fd;
    struct etx_curlloop *cl;
    bool closing;
    struct sock *prev, *next;
};

struct xfer { /* CURLOPT_PRIVATE of a running transfer */
    CURL *easy;
    etx_curlloop_done_cb cb;
    void *arg;
    struct xfer *prev, *next;
};

struct etx_curlloop {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct sock *socks;
    struct xfer *xfers;
    int handles; /* open uv handles: the timer and the polls */
    bool closed; /* etx_curlloop_close() was called */
    etx_curlloop_closed_cb closed_cb;
    void *closed_arg;
};

static void
handle_closed(struct etx_curlloop *cl)
{
    if (--cl->handles > 0 || !cl->closed)
        return;
    if (cl->closed_cb != NULL)
        cl->closed_cb(cl->closed_arg);
    free(cl);
}

static void
sock_closed_cb(uv_handle_t *h)
{
    struct sock *sk = h->data;
    struct etx_curlloop *cl = sk->cl;

    free(sk);
    handle_closed(cl);
}

static void
sock_close(struct sock *sk)
{
    struct etx_curlloop *cl = sk->cl;

    if (sk->closing)
        return;
    sk->closing = true;
    if (sk->prev != NULL)
        sk->prev->next = sk->next;
    else
        cl->socks = sk->next;
    if (sk->next != NULL)
        sk->next->prev = sk->prev;
    uv_close((uv_handle_t *)&sk->poll, sock_closed_cb);
}

static void
xfer_unlink(struct etx_curlloop *cl, struct xfer *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        cl->xfers = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
    free(x);
}

/* Hand finished transfers to their owners. */
static void
check_done(struct etx_curlloop *cl)
{
    CURLMsg *msg = NULL;
    struct xfer *x = NULL;
    int left = 0;

    while (!cl->closed &&
           (msg = curl_multi_info_read(cl->multi, &left)) != NULL) {
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        etx_curlloop_done_cb cb = NULL;
        void *arg = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(cl->multi, easy);
        if (x == NULL)
            continue;
        cb = x->cb;
        arg = x->arg;
        xfer_unlink(cl, x);
        cb(easy, rc, arg);
    }
}

static void
poll_cb(uv_poll_t *p, int status, int events)
{
    struct sock *sk = p->data;
    struct etx_curlloop *cl = sk->cl;
    int flags = 0;
    int running = 0;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(cl->multi, sk->fd, flags, &running);
    check_done(cl);
}

static void
timeout_cb(uv_timer_t *t)
{
    struct etx_curlloop *cl = t->data;
    int running = 0;

    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(cl);
}

static struct sock *
sock_new(struct etx_curlloop *cl, curl_socket_t s)
{
    struct sock *sk = calloc(1, sizeof(*sk));

    if (sk == NULL)
        return NULL;
    if (uv_poll_init_socket(cl->loop, &sk->poll, s) != 0) {
        free(sk);
        return NULL;
    }
    sk->fd = s;
    sk->cl = cl;
    sk->poll.data = sk;
    sk->next = cl->socks;
    if (cl->socks != NULL)
        cl->socks->prev = sk;
    cl->socks = sk;
    cl->handles++;
    curl_multi_assign(cl->multi, s, sk);
    return sk;
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget a socket. */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct etx_curlloop *cl = userp;
    struct sock *sk = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sk != NULL)
            sock_close(sk);
        if (!cl->closed)
            curl_multi_assign(cl->multi, s, NULL);
        return 0;
    }
    if (sk == NULL && (sk = sock_new(cl, s)) == NULL)
        return -1;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&sk->poll, events, poll_cb) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants to be woken after timeout_ms. */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct etx_curlloop *cl = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&cl->timer);
    else
        uv_timer_start(&cl->timer, timeout_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

int
etx_curlloop_new(uv_loop_t *loop, struct etx_curlloop **out,
                 struct etx_error *err)
{
    struct etx_curlloop *cl = calloc(1, sizeof(*cl));

    if (cl == NULL || (cl->multi = curl_multi_init()) == NULL) {
        free(cl);
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "curl", NULL,
                             "cannot create a libcurl multi handle");
    }
    cl->loop = loop;
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    uv_timer_init(loop, &cl->timer);
    cl->timer.data = cl;
    cl->handles = 1;
    *out = cl;
    return ETX_OK;
}

/* CURLOPT_OPENSOCKETFUNCTION: every socket close-on-exec from birth. */
static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    int fd = -1;

    (void)clientp;
    (void)purpose;
    fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

CURL *
etx_curlloop_easy_new(const char *url, char *errbuf, struct etx_error *err)
{
    CURL *e = curl_easy_init();
    CURLcode rc = CURLE_OK;

    if (e == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "curl", url,
                      "cannot create a libcurl handle");
        return NULL;
    }
    errbuf[0] = '\0';
    rc = curl_easy_setopt(e, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc != CURLE_OK) {
        curl_easy_cleanup(e);
        etx_error_set(err, ETX_CLASS_INPUT, 0, "curl", url,
                      "URL not accepted: %s", curl_easy_strerror(rc));
        return NULL;
    }
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    return e;
}

int
etx_curlloop_start(struct etx_curlloop *cl, CURL *easy, etx_curlloop_done_cb cb,
                   void *arg, struct etx_error *err)
{
    struct xfer *x = calloc(1, sizeof(*x));
    CURLMcode mc = CURLM_OK;

    if (x == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "curl", NULL,
                             "out of memory");
    x->easy = easy;
    x->cb = cb;
    x->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    mc = curl_multi_add_handle(cl->multi, easy);
    if (mc != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "curl", NULL,
                             "cannot start a transfer: %s",
                             curl_multi_strerror(mc));
    }
    x->next = cl->xfers;
    if (cl->xfers != NULL)
        cl->xfers->prev = x;
    cl->xfers = x;
    return ETX_OK;
}

void
etx_curlloop_abort(struct etx_curlloop *cl, CURL *easy)
{
    struct xfer *x = NULL;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (x == NULL)
        return;
    curl_multi_remove_handle(cl->multi, easy);
    xfer_unlink(cl, x);
}

static void
timer_closed_cb(uv_handle_t *h)
{
    handle_closed(h->data);
}

void
etx_curlloop_close(struct etx_curlloop *cl, etx_curlloop_closed_cb cb,
                   void *arg)
{
    if (cl == NULL)
        return;
    while (cl->xfers != NULL)
        etx_curlloop_abort(cl, cl->xfers->easy);
    cl->closed = true;
    cl->closed_cb = cb;
    cl->closed_arg = arg;
    /* Polls go before the sockets: libcurl closes them in cleanup. */
    while (cl->socks != NULL)
        sock_close(cl->socks);
    curl_multi_cleanup(cl->multi);
    cl->multi = NULL;
    uv_close((uv_handle_t *)&cl->timer, timer_closed_cb);
}

/* "Connection refused" -> "connection refused". */
static void
lower_first(const char *s, char *out, size_t len)
{
    snprintf(out, len, "%s", s);
    if (out[0] != '\0')
        out[0] = (char)tolower((unsigned char)out[0]);
}

static int
errno_of(CURL *easy, CURLcode rc)
{
    long os = 0;

    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os);
    if (os != 0 && rc != CURLE_OPERATION_TIMEDOUT)
        return (int)os;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return ETIMEDOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return ECONNRESET;
    case CURLE_OUT_OF_MEMORY:
        return ENOMEM;
    default:
        return 0;
    }
}

static enum etx_err_class
class_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
        return ETX_CLASS_INTEGRITY;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return ETX_CLASS_INPUT;
    default:
        return ETX_CLASS_TRANSIENT;
    }
}

int
etx_curlloop_error(CURL *easy, CURLcode rc, const char *errbuf,
                   uint64_t timeout_ms, const char *op, struct etx_error *err,
                   char *reason, size_t len)
{
    char r[256];
    const char *url = NULL;
    const char *detail =
        errbuf != NULL && errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    int e = errno_of(easy, rc);

    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
    if (rc == CURLE_OPERATION_TIMEDOUT && timeout_ms != 0)
        snprintf(r, sizeof(r), "timeout after %gs", (double)timeout_ms / 1000);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(r, sizeof(r), "timed out");
    else if (e != 0)
        lower_first(strerror(e), r, sizeof(r));
    else
        lower_first(detail, r, sizeof(r));
    if (reason != NULL)
        snprintf(reason, len, "%s", r);
    if (e != 0)
        return etx_error_set(err, etx_error_classify(e, ETX_CTX_NET), e, op,
                             url, "%s (%s)", r, detail);
    return etx_error_set(err, class_of(rc), 0, op, url, "%s", r);
}
