/* SPDX-License-Identifier: MIT */
/*
 * A test fixture, not project HTTP code: the "service" the agent's
 * integration tests roll out. `etx_demo_service_vN PORT` listens on
 * 127.0.0.1:PORT (retrying the bind for a few seconds while an old
 * version still holds it) and answers every connection, after its first
 * bytes, with a canned HTTP/1.0 200 whose body is "demo-service version N\n",
 * then closes it. Built with DEMO_BROKEN it exits 1 at start (a broken v3).
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#ifndef DEMO_VERSION
#error "build with -DDEMO_VERSION=N"
#endif
#define STR2(x) #x
#define STR(x)  STR2(x)
#define BODY    "demo-service version " STR(DEMO_VERSION) "\n"
#ifdef DEMO_BROKEN
#define BROKEN 1
#else
#define BROKEN 0
#endif

struct client {
    uv_tcp_t tcp;
    uv_write_t wr;
    char head[160];
    char buf[512];
    bool answered;
};

static void
free_cb(uv_handle_t *h)
{
    free(h->data);
}

static void
written_cb(uv_write_t *w, int status)
{
    struct client *c = w->data;

    (void)status;
    uv_close((uv_handle_t *)&c->tcp, free_cb);
}

static void
alloc_cb(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
    struct client *c = h->data;

    (void)want;
    *buf = uv_buf_init(c->buf, sizeof(c->buf));
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct client *c = s->data;
    uv_buf_t out[2];

    (void)buf;
    if (n == 0 || c->answered)
        return;
    if (n < 0) {
        uv_close((uv_handle_t *)&c->tcp, free_cb);
        return;
    }
    c->answered = true;
    uv_read_stop(s);
    snprintf(c->head, sizeof(c->head),
             "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
             "Content-Length: %zu\r\n\r\n",
             strlen(BODY));
    out[0] = uv_buf_init(c->head, (unsigned)strlen(c->head));
    out[1] = uv_buf_init((char *)BODY, (unsigned)strlen(BODY));
    c->wr.data = c;
    uv_write(&c->wr, s, out, 2, written_cb);
}

static void
conn_cb(uv_stream_t *server, int status)
{
    struct client *c = NULL;

    if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, free_cb);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* An old version may still hold the port for a moment: retry 5 s. */
static int
listen_retry(uv_tcp_t *srv, int port)
{
    struct sockaddr_in a;
    struct timespec pause = {0, 50 * 1000 * 1000};
    int i, fd = -1, one = 1;

    uv_ip4_addr("127.0.0.1", port, &a);
    for (i = 0; i < 100 && fd < 0; i++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            listen(fd, 16) != 0) {
            close(fd);
            fd = -1;
            nanosleep(&pause, NULL);
        }
    }
    if (fd < 0 || uv_tcp_open(srv, fd) != 0)
        return -1;
    return uv_listen((uv_stream_t *)srv, 16, conn_cb);
}

int
main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t srv;

    if (BROKEN) {
        fprintf(stderr, "demo-service v%d: broken on purpose\n", DEMO_VERSION);
        return 1;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    uv_tcp_init(loop, &srv);
    if (listen_retry(&srv, atoi(argv[1])) != 0) {
        fprintf(stderr, "demo-service: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
