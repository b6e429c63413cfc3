/* SPDX-License-Identifier: MIT */
/*
 * Framed connections on real sockets (127.0.0.1 only) and socketpairs, each
 * test with its own libuv loop that must close cleanly: hello both ways,
 * ten clients at once, a wrong key, garbage, an oversized frame after a good
 * handshake and a silent client (each closes only its own connection while a
 * good client keeps being served), connect failures and timeouts, the stdio
 * carrier without TLS, backpressure and read_stop/read_start.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/conn.h"
#include "proto/frame.h"
#include "proto/psk.h"
#include "proto/tls.h"

#define MAX_SIDES 32

struct test;

/* One end of a connection, as the test sees it. */
struct side {
    struct test *t;
    struct etx_conn *c;
    int frames;
    uint64_t next_id;
    int closes;
    bool failed;
    struct etx_error why;
    size_t bytes; /* StageChunk bytes received */
};

struct test {
    uv_loop_t loop;
    struct etx_psk key;
    struct etx_conn_opts opts;
    struct etx_conn_listener *l;
    int port;
    struct side srv[MAX_SIDES];
    int nsrv;
    int srv_closed;
    int srv_bad;      /* server closes for a reason other than eof */
    int srv_expect;   /* close the listener after this many closes */
    int per_client;   /* a client closes after this many echoes */
    int bad_expected; /* pingpong: the good client stops after these */
    bool echo;
    int cloexec_checked;
};

static void
fill_key(struct etx_psk *psk, unsigned char seed)
{
    size_t i;

    for (i = 0; i < ETX_PSK_LEN; i++)
        psk->key[i] = (unsigned char)(seed * 13 + i);
}

static void
test_init(struct test *t, uint64_t timeout_ms)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    fill_key(&t->key, 1);
    t->opts.psk = &t->key;
    t->opts.handshake_timeout_ms = timeout_ms;
    t->echo = true;
}

static void
test_done(struct test *t)
{
    assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

static int
send_hello(struct etx_conn *c, uint64_t id)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;
    struct etx_error err = {0};

    hello.protocol_version = ETX_PROTO_VERSION;
    hello.software_version = "etxroll test";
    env.id = id;
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    return etx_conn_send(c, &env, &err);
}

static int
send_chunk(struct etx_conn *c, uint64_t id, size_t len)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__StageChunk chunk = ETXROLL__STAGE_CHUNK__INIT;
    struct etx_error err = {0};
    uint8_t *data = calloc(1, len);
    int rc;

    assert_non_null(data);
    data[0] = (uint8_t)id;
    chunk.data.data = data;
    chunk.data.len = len;
    env.id = id;
    env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_CHUNK;
    env.stage_chunk = &chunk;
    rc = etx_conn_send(c, &env, &err);
    free(data);
    return rc;
}

static void
record_close(struct side *s, const struct etx_error *why)
{
    s->closes++;
    s->c = NULL;
    if (why != NULL) {
        s->failed = true;
        s->why = *why;
    }
}

static void
expect_reason(const struct side *s, enum etx_err_class cls, const char *text)
{
    assert_int_equal(s->closes, 1);
    assert_true(s->failed);
    if (s->why.cls != cls || strstr(s->why.msg, text) == NULL)
        fail_msg("closed with [%s] %s: %s, want [%s] ...%s...",
                 etx_error_class_name(s->why.cls), s->why.where, s->why.msg,
                 etx_error_class_name(cls), text);
}

/* Every socket this process holds must be close-on-exec. */
static int
check_sockets_cloexec(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e = NULL;
    struct stat st;
    int n = 0, fd;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == dirfd(d) || fstat(fd, &st) != 0 ||
            !S_ISSOCK(st.st_mode))
            continue;
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        n++;
    }
    closedir(d);
    return n;
}

/* ---- the server side: echo every frame ---- */

static void
srv_frame(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct side *s = arg;

    assert_int_equal(env->id, s->next_id);
    s->next_id++;
    s->frames++;
    if (s->t->echo)
        assert_int_equal(etx_conn_send(c, env, NULL), ETX_OK);
    etx_frame_free(env);
}

static void
srv_close(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    struct side *s = arg;
    struct test *t = s->t;

    (void)c;
    record_close(s, why);
    if (why != NULL && strcmp(why->op, "eof") != 0)
        t->srv_bad++;
    if (++t->srv_closed == t->srv_expect) {
        etx_conn_listener_close(t->l);
        t->l = NULL;
    }
}

static void
srv_accept(struct etx_conn_listener *l, struct etx_conn *c,
           const struct etx_error *err, struct etx_conn_cbs *cbs, void *arg)
{
    struct test *t = arg;
    struct side *s = NULL;

    (void)l;
    assert_null(err);
    assert_true(t->nsrv < MAX_SIDES);
    s = &t->srv[t->nsrv++];
    s->t = t;
    s->c = c;
    s->next_id = 1;
    assert_memory_equal(etx_conn_peer(c), "127.0.0.1:", 10);
    cbs->on_frame = srv_frame;
    cbs->on_close = srv_close;
    cbs->arg = s;
}

static void
start_listener(struct test *t)
{
    struct etx_conn_accept acc = {srv_accept, t};
    struct etx_error err = {0};

    t->l = etx_conn_listen(&t->loop, "127.0.0.1:0", &t->opts, &acc, &err);
    if (t->l == NULL)
        fail_msg("listen: %s", err.msg);
    t->port = etx_conn_listener_port(t->l);
    assert_true(t->port > 0);
}

/* ---- the client side ---- */

static void
cli_frame(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct side *s = arg;
    struct test *t = s->t;

    assert_int_equal(env->body_case, ETXROLL__ENVELOPE__BODY_HELLO);
    assert_int_equal(env->id, s->next_id);
    etx_frame_free(env);
    s->next_id++;
    s->frames++;
    if (t->cloexec_checked == 0)
        t->cloexec_checked = check_sockets_cloexec();
    if (t->bad_expected > 0 && t->srv_bad < t->bad_expected)
        assert_int_equal(send_hello(c, s->next_id), ETX_OK);
    else if (t->bad_expected > 0 || s->frames == t->per_client)
        etx_conn_close(c);
}

static void
cli_close(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    (void)c;
    record_close(arg, why);
}

static void
start_client(struct test *t, struct side *s, const struct etx_psk *key,
             int frames)
{
    struct etx_conn_cbs cbs = {cli_frame, cli_close, NULL, s};
    struct etx_conn_opts opts = t->opts;
    struct etx_error err = {0};
    char addr[32];
    int i;

    opts.psk = key;
    s->t = t;
    s->next_id = 1;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", t->port);
    s->c = etx_conn_connect(&t->loop, addr, &opts, &cbs, &err);
    if (s->c == NULL)
        fail_msg("connect: %s", err.msg);
    assert_string_equal(etx_conn_peer(s->c), addr);
    /* Sent before the handshake: they wait for it. */
    for (i = 1; i <= frames; i++)
        assert_int_equal(send_hello(s->c, (uint64_t)i), ETX_OK);
}

static void
test_etx_conn_connect_ok(void **state)
{
    struct side cli = {0};
    struct test t;

    (void)state;
    test_init(&t, 0);
    t.srv_expect = 1;
    t.per_client = 1;
    start_listener(&t);
    start_client(&t, &cli, &t.key, 1);
    test_done(&t);
    assert_int_equal(cli.frames, 1);
    assert_int_equal(cli.closes, 1);
    assert_false(cli.failed);
    assert_int_equal(t.srv[0].frames, 1);
    /* The client's close_notify ends the server's side cleanly. */
    expect_reason(&t.srv[0], ETX_CLASS_TRANSIENT, "ended the TLS session");
    assert_string_equal(t.srv[0].why.op, "eof");
    assert_true(t.cloexec_checked >= 3); /* listener, client, accepted */
}

static void
test_etx_conn_connect_many(void **state)
{
    struct side cli[10];
    struct test t;
    int i;

    (void)state;
    memset(cli, 0, sizeof(cli));
    test_init(&t, 0);
    t.srv_expect = 10;
    t.per_client = 200;
    start_listener(&t);
    for (i = 0; i < 10; i++)
        start_client(&t, &cli[i], &t.key, t.per_client);
    test_done(&t);
    assert_int_equal(t.nsrv, 10);
    for (i = 0; i < 10; i++) {
        assert_int_equal(cli[i].frames, t.per_client);
        assert_int_equal(cli[i].closes, 1);
        assert_false(cli[i].failed);
        assert_int_equal(t.srv[i].frames, t.per_client);
        assert_string_equal(t.srv[i].why.op, "eof");
    }
}

static void
test_etx_conn_connect_wrong_key(void **state)
{
    struct side good = {0}, bad = {0};
    struct etx_psk other;
    struct test t;
    char where[32];
    int i;

    (void)state;
    test_init(&t, 0);
    fill_key(&other, 2);
    t.srv_expect = 2;
    t.per_client = 3;
    start_listener(&t);
    start_client(&t, &bad, &other, 1);
    start_client(&t, &good, &t.key, 3);
    test_done(&t);
    expect_reason(&bad, ETX_CLASS_INPUT, ETX_TLS_HANDSHAKE_FAILED);
    snprintf(where, sizeof(where), "127.0.0.1:%d", t.port);
    assert_string_equal(bad.why.where, where);
    assert_int_equal(bad.frames, 0);
    assert_int_equal(good.frames, 3);
    assert_false(good.failed);
    for (i = 0; i < t.nsrv; i++)
        if (t.srv[i].frames == 0)
            expect_reason(&t.srv[i], ETX_CLASS_INPUT, ETX_TLS_HANDSHAKE_FAILED);
    assert_int_equal(t.srv_bad, 1);
}

/* ---- raw clients that misbehave ---- */

enum raw_mode { RAW_GARBAGE, RAW_OVERSIZE, RAW_IDLE };

struct raw {
    struct test *t;
    enum raw_mode mode;
    uv_tcp_t tcp;
    uv_connect_t req;
    struct etx_tls *tls;
    bool sent;
    bool ended;
    char buf[16384];
};

struct raw_write {
    uv_write_t req;
    uint8_t *buf;
};

static void
raw_write_cb(uv_write_t *req, int status)
{
    struct raw_write *w = req->data;

    (void)status;
    free(w->buf);
    free(w);
}

static void
raw_write(struct raw *r, uint8_t *buf, size_t len)
{
    struct raw_write *w = calloc(1, sizeof(*w));
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned int)len);

    assert_non_null(w);
    w->buf = buf;
    w->req.data = w;
    assert_int_equal(
        uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, raw_write_cb), 0);
}

static void
raw_flush_tls(struct raw *r)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(etx_tls_take_ciphertext(r->tls, &buf, &len, NULL), ETX_OK);
    if (len > 0)
        raw_write(r, buf, len);
}

/* A TLS client that completes the handshake, then lies in a header. */
static void
raw_tls_step(struct raw *r)
{
    static const uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
    struct etx_error err = {0};

    if (etx_tls_handshake(r->tls, &err) == ETX_OK && !r->sent) {
        assert_int_equal(
            etx_tls_write_plaintext(r->tls, huge, sizeof(huge), &err), ETX_OK);
        r->sent = true;
    }
    raw_flush_tls(r);
}

static void
raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct raw *r = h->data;

    (void)hint;
    buf->base = r->buf;
    buf->len = sizeof(r->buf);
}

static void
raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct raw *r = s->data;

    if (n < 0) {
        r->ended = true;
        uv_close((uv_handle_t *)&r->tcp, NULL);
        return;
    }
    if (n > 0 && r->mode == RAW_OVERSIZE) {
        etx_tls_feed_ciphertext(r->tls, buf->base, (size_t)n, NULL);
        raw_tls_step(r);
    }
}

static void
raw_connected(uv_connect_t *req, int status)
{
    static const char garbage[] = "GET / HTTP/1.0\r\n\r\n";
    struct raw *r = req->data;
    uint8_t *copy = NULL;

    assert_int_equal(status, 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read),
                     0);
    if (r->mode == RAW_GARBAGE) {
        copy = malloc(sizeof(garbage));
        assert_non_null(copy);
        memcpy(copy, garbage, sizeof(garbage));
        raw_write(r, copy, sizeof(garbage) - 1);
    } else if (r->mode == RAW_OVERSIZE) {
        raw_tls_step(r);
    }
}

static void
raw_start(struct test *t, struct raw *r, enum raw_mode mode)
{
    struct sockaddr_in sa;

    r->t = t;
    r->mode = mode;
    if (mode == RAW_OVERSIZE) {
        r->tls = etx_tls_new(ETX_TLS_CLIENT, &t->key, NULL);
        assert_non_null(r->tls);
    }
    assert_int_equal(uv_ip4_addr("127.0.0.1", t->port, &sa), 0);
    assert_int_equal(uv_tcp_init(&t->loop, &r->tcp), 0);
    r->tcp.data = r;
    r->req.data = r;
    assert_int_equal(
        uv_tcp_connect(&r->req, &r->tcp, (struct sockaddr *)&sa, raw_connected),
        0);
}

static const struct side *
srv_with_reason(const struct test *t, const char *text)
{
    int i;

    for (i = 0; i < t->nsrv; i++)
        if (t->srv[i].failed && strstr(t->srv[i].why.msg, text) != NULL)
            return &t->srv[i];
    fail_msg("no server connection closed with \"%s\"", text);
    return NULL;
}

static void
test_etx_conn_listen_hostile(void **state)
{
    struct raw raws[3];
    struct side good = {0};
    struct test t;
    int i;

    (void)state;
    memset(raws, 0, sizeof(raws));
    test_init(&t, 400);
    t.srv_expect = 4;
    t.bad_expected = 3;
    start_listener(&t);
    start_client(&t, &good, &t.key, 1);
    raw_start(&t, &raws[0], RAW_GARBAGE);
    raw_start(&t, &raws[1], RAW_OVERSIZE);
    raw_start(&t, &raws[2], RAW_IDLE);
    test_done(&t);
    expect_reason(srv_with_reason(&t, "http request"), ETX_CLASS_INPUT,
                  ETX_TLS_HANDSHAKE_FAILED);
    expect_reason(srv_with_reason(&t, "exceeds the limit"), ETX_CLASS_INPUT,
                  "frame of 2147483647 bytes");
    expect_reason(srv_with_reason(&t, "within 400 ms"), ETX_CLASS_TRANSIENT,
                  "TLS handshake did not complete");
    assert_int_equal(srv_with_reason(&t, "within 400 ms")->why.sys_errno,
                     ETIMEDOUT);
    /* The good client was served all along, and left on its own. */
    assert_true(good.frames >= 3);
    assert_int_equal(good.closes, 1);
    assert_false(good.failed);
    for (i = 0; i < 3; i++) {
        assert_true(raws[i].ended);
        etx_tls_free(raws[i].tls);
    }
}

static void
refuse_accept(struct etx_conn_listener *l, struct etx_conn *c,
              const struct etx_error *err, struct etx_conn_cbs *cbs, void *arg)
{
    struct test *t = arg;

    (void)l;
    (void)cbs; /* left empty: refused */
    assert_non_null(c);
    assert_null(err);
    t->nsrv++;
}

static void
refuse_client_close(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    struct side *s = arg;

    (void)c;
    record_close(s, why);
    etx_conn_listener_close(s->t->l);
}

/* An owner that leaves the callbacks empty refuses the connection. */
static void
test_etx_conn_listen_refuse(void **state)
{
    struct etx_conn_cbs cbs = {cli_frame, refuse_client_close, NULL, NULL};
    struct etx_conn_accept acc = {refuse_accept, NULL};
    struct etx_error err = {0};
    struct side cli = {0};
    struct test t;
    char addr[32];

    (void)state;
    test_init(&t, 0);
    acc.arg = &t;
    t.l = etx_conn_listen(&t.loop, "127.0.0.1:0", &t.opts, &acc, &err);
    assert_non_null(t.l);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", etx_conn_listener_port(t.l));
    cli.t = &t;
    cbs.arg = &cli;
    cli.c = etx_conn_connect(&t.loop, addr, &t.opts, &cbs, &err);
    assert_non_null(cli.c);
    test_done(&t);
    assert_int_equal(t.nsrv, 1);
    expect_reason(&cli, ETX_CLASS_TRANSIENT, "during the TLS handshake");
}

/* ---- connect failures ---- */

static void
test_etx_conn_connect_refused(void **state)
{
    struct side cli = {0};
    struct test t;
    int port;

    (void)state;
    test_init(&t, 0);
    start_listener(&t);
    port = t.port;
    etx_conn_listener_close(t.l);
    assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
    t.port = port;
    start_client(&t, &cli, &t.key, 1);
    test_done(&t);
    expect_reason(&cli, ETX_CLASS_TRANSIENT, "cannot connect");
    assert_int_equal(cli.why.sys_errno, ECONNREFUSED);
}

/* A peer that accepts the TCP connection and never answers. */
struct mute {
    uv_tcp_t srv, peer;
    bool accepted;
};

static void
mute_accept(uv_stream_t *s, int status)
{
    struct mute *m = s->data;

    assert_int_equal(status, 0);
    assert_int_equal(uv_tcp_init(s->loop, &m->peer), 0);
    assert_int_equal(uv_accept(s, (uv_stream_t *)&m->peer), 0);
    m->accepted = true;
}

static void
test_etx_conn_connect_timeout(void **state)
{
    struct sockaddr_storage ss;
    struct side cli = {0};
    struct mute m = {0};
    struct test t;
    int len = sizeof(ss);

    (void)state;
    test_init(&t, 300);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, (struct sockaddr_in *)&ss), 0);
    assert_int_equal(uv_tcp_init(&t.loop, &m.srv), 0);
    m.srv.data = &m;
    assert_int_equal(uv_tcp_bind(&m.srv, (struct sockaddr *)&ss, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&m.srv, 4, mute_accept), 0);
    assert_int_equal(uv_tcp_getsockname(&m.srv, (struct sockaddr *)&ss, &len),
                     0);
    t.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    start_client(&t, &cli, &t.key, 1);
    while (cli.closes == 0)
        uv_run(&t.loop, UV_RUN_ONCE);
    expect_reason(&cli, ETX_CLASS_TRANSIENT, "TLS handshake did not complete");
    assert_int_equal(cli.why.sys_errno, ETIMEDOUT);
    assert_true(m.accepted);
    uv_close((uv_handle_t *)&m.peer, NULL);
    uv_close((uv_handle_t *)&m.srv, NULL);
    test_done(&t);
}

static void
test_etx_conn_listen_bad_address(void **state)
{
    static const char *const bad[] = {
        "localhost:0",     "127.0.0.1",    "127.0.0.1:",
        "127.0.0.1:65536", "127.0.0.1:7x", "::1:7420",
        "[::1]7420",       ":7420",        "",
    };
    struct etx_conn_accept acc = {srv_accept, NULL};
    struct etx_error err = {0};
    struct test t;
    size_t i;

    (void)state;
    test_init(&t, 0);
    acc.arg = &t;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_null(etx_conn_listen(&t.loop, bad[i], &t.opts, &acc, &err));
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
        assert_string_equal(err.where, bad[i]);
    }
    t.opts.psk = NULL;
    assert_null(etx_conn_listen(&t.loop, "127.0.0.1:0", &t.opts, &acc, &err));
    assert_null(
        etx_conn_connect(&t.loop, "127.0.0.1:7420", &t.opts, NULL, &err));
    test_done(&t);
}

/* ---- the stdio carrier ---- */

struct stdio_pair {
    struct test t; /* first: a side's t is the pair */
    struct side a, b;
    int total; /* frames a sends */
    int sent;
    int drains;
    size_t chunk; /* StageChunk size; 0: Hello */
    bool pause_b; /* b stops reading after its first frame */
    uv_timer_t resume;
    int frames_at_resume;
};

static void pair_frame_b(struct etx_conn *c, Etxroll__Envelope *env, void *arg);

static void
pair_frame_a(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct side *s = arg;
    struct stdio_pair *p = (struct stdio_pair *)s->t;

    assert_int_equal(env->id, s->next_id);
    etx_frame_free(env);
    s->next_id++;
    if (++s->frames == p->total)
        etx_conn_close(c);
}

static void
pair_close(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    (void)c;
    record_close(arg, why);
}

/* Send from a until the queue is full or all is sent. */
static void
pair_pump(struct stdio_pair *p)
{
    int rc;

    while (p->sent < p->total) {
        rc = p->chunk > 0 ? send_chunk(p->a.c, (uint64_t)p->sent + 1, p->chunk)
                          : send_hello(p->a.c, (uint64_t)p->sent + 1);
        if (rc == ETX_AGAIN)
            return;
        assert_int_equal(rc, ETX_OK);
        p->sent++;
    }
    if (p->chunk > 0)
        etx_conn_close(p->a.c);
}

static void
pair_drain(struct etx_conn *c, void *arg)
{
    struct side *s = arg;
    struct stdio_pair *p = (struct stdio_pair *)s->t;

    assert_ptr_equal(c, p->a.c);
    assert_true(etx_conn_queued_bytes(c) <= p->t.opts.queue_max / 2);
    p->drains++;
    pair_pump(p);
}

static void
resume_cb(uv_timer_t *timer)
{
    struct stdio_pair *p = timer->data;

    /* Nothing was delivered while b was stopped. */
    assert_int_equal(p->b.frames, 1);
    p->frames_at_resume = p->b.frames;
    etx_conn_read_start(p->b.c);
    assert_int_equal(p->b.frames, 1); /* delivery is never synchronous */
    uv_close((uv_handle_t *)timer, NULL);
}

static void
pair_frame_b(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct side *s = arg;
    struct stdio_pair *p = (struct stdio_pair *)s->t;

    assert_int_equal(env->id, s->next_id);
    s->next_id++;
    s->frames++;
    if (env->body_case == ETXROLL__ENVELOPE__BODY_STAGE_CHUNK)
        s->bytes += env->stage_chunk->data.len;
    else
        assert_int_equal(etx_conn_send(c, env, NULL), ETX_OK);
    etx_frame_free(env);
    if (p->pause_b && s->frames == 1) {
        etx_conn_read_stop(c);
        uv_timer_start(&p->resume, resume_cb, 100, 0);
    }
}

static void
pair_open(struct stdio_pair *p, const int fa[2], const int fb[2])
{
    struct etx_conn_cbs ca = {pair_frame_a, pair_close, pair_drain, &p->a};
    struct etx_conn_cbs cb = {pair_frame_b, pair_close, NULL, &p->b};
    struct etx_error err = {0};

    p->a.t = p->b.t = &p->t;
    p->a.next_id = p->b.next_id = 1;
    p->a.c = etx_conn_open_stdio(&p->t.loop, fa, &p->t.opts, &ca, &err);
    assert_non_null(p->a.c);
    assert_string_equal(etx_conn_peer(p->a.c), "stdio");
    p->b.c = etx_conn_open_stdio(&p->t.loop, fb, &p->t.opts, &cb, &err);
    assert_non_null(p->b.c);
    if (p->pause_b) {
        assert_int_equal(uv_timer_init(&p->t.loop, &p->resume), 0);
        p->resume.data = p; /* closed by resume_cb */
    }
}

static struct stdio_pair *
pair_new(size_t queue_max)
{
    struct stdio_pair *p = calloc(1, sizeof(*p));

    assert_non_null(p);
    test_init(&p->t, 0);
    p->t.opts.psk = NULL;
    p->t.opts.queue_max = queue_max;
    return p;
}

static void
pair_finish(struct stdio_pair *p)
{
    test_done(&p->t);
    assert_int_equal(p->a.closes, 1);
    assert_int_equal(p->b.closes, 1);
    assert_false(p->a.failed);
    /* a closed first: b saw a clean end of stream. */
    expect_reason(&p->b, ETX_CLASS_TRANSIENT, "closed the connection");
    assert_string_equal(p->b.why.op, "eof");
}

static void
test_etx_conn_open_stdio_socketpair(void **state)
{
    struct stdio_pair *p = pair_new(0);
    int sv[2], fa[2], fb[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fa[0] = fa[1] = sv[0];
    fb[0] = fb[1] = sv[1];
    p->total = 50;
    pair_open(p, fa, fb);
    pair_pump(p);
    pair_finish(p);
    assert_int_equal(p->a.frames, 50);
    assert_int_equal(p->b.frames, 50);
    free(p);
}

/* stdin and stdout as two pipes, as under SSH. */
static void
test_etx_conn_open_stdio_pipes(void **state)
{
    struct stdio_pair *p = pair_new(0);
    int ab[2], ba[2], fa[2], fb[2];

    (void)state;
    assert_int_equal(pipe2(ab, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ba, O_CLOEXEC), 0);
    fa[0] = ba[0];
    fa[1] = ab[1];
    fb[0] = ab[0];
    fb[1] = ba[1];
    p->total = 20;
    pair_open(p, fa, fb);
    pair_pump(p);
    pair_finish(p);
    assert_int_equal(p->a.frames, 20);
    free(p);
}

static void
test_etx_conn_open_stdio_bad_fd(void **state)
{
    struct etx_conn_cbs cbs = {pair_frame_a, pair_close, NULL, NULL};
    struct etx_error err = {0};
    struct test t;
    int sv[2], fd[2];

    (void)state;
    test_init(&t, 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fd[0] = sv[0];
    fd[1] = 1000;
    assert_null(etx_conn_open_stdio(&t.loop, fd, &t.opts, &cbs, &err));
    assert_int_equal(err.sys_errno, EBADF);
    /* Neither descriptor was taken. */
    assert_int_equal(fcntl(sv[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(sv[0]);
    close(sv[1]);
    test_done(&t);
}

/* /dev/null cannot be polled: refused with a message, not a libuv abort. */
static void
test_etx_conn_open_stdio_not_a_stream(void **state)
{
    struct etx_conn_cbs cbs = {pair_frame_a, pair_close, NULL, NULL};
    struct etx_error err = {0};
    struct test t;
    int sv[2], fd[2];

    (void)state;
    test_init(&t, 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fd[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd[0] >= 0);
    fd[1] = sv[0];
    assert_null(etx_conn_open_stdio(&t.loop, fd, &t.opts, &cbs, &err));
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_non_null(strstr(err.msg, "not a pipe or a socket"));
    assert_int_equal(fcntl(fd[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(fd[0]);
    close(sv[0]);
    close(sv[1]);
    test_done(&t);
}

/* The queue refuses past its cap, then on_drain lets the sender go on. */
static void
test_etx_conn_send_backpressure(void **state)
{
    struct stdio_pair *p = pair_new(64 * 1024);
    int sv[2], fa[2], fb[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fa[0] = fa[1] = sv[0];
    fb[0] = fb[1] = sv[1];
    p->total = 200;
    p->chunk = 16 * 1024;
    pair_open(p, fa, fb);
    pair_pump(p);
    /* No write completes before the loop runs: the cap must bite. */
    assert_true(p->sent <= 5);
    assert_true(etx_conn_queued_bytes(p->a.c) >= 64 * 1024);
    assert_int_equal(send_hello(p->a.c, 999), ETX_AGAIN);
    test_done(&p->t);
    assert_int_equal(p->sent, 200);
    assert_true(p->drains >= 1);
    assert_int_equal(p->b.frames, 200);
    assert_int_equal(p->b.bytes, 200 * 16 * 1024);
    assert_false(p->a.failed);
    free(p);
}

static void
test_etx_conn_read_stop_ok(void **state)
{
    struct stdio_pair *p = pair_new(0);
    int sv[2], fa[2], fb[2];

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fa[0] = fa[1] = sv[0];
    fb[0] = fb[1] = sv[1];
    p->total = 30;
    p->pause_b = true;
    pair_open(p, fa, fb);
    pair_pump(p);
    pair_finish(p);
    assert_int_equal(p->frames_at_resume, 1);
    assert_int_equal(p->b.frames, 30);
    assert_int_equal(p->a.frames, 30);
    free(p);
}

/* A frame that is not an envelope closes a stdio connection too. */
static void
test_etx_conn_open_stdio_garbage(void **state)
{
    static const uint8_t junk[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
    struct etx_conn_cbs cbs = {pair_frame_a, pair_close, NULL, NULL};
    struct etx_error err = {0};
    struct side s = {0};
    struct test t;
    int sv[2], fd[2];

    (void)state;
    test_init(&t, 0);
    s.t = &t;
    cbs.arg = &s;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fd[0] = fd[1] = sv[0];
    s.c = etx_conn_open_stdio(&t.loop, fd, &t.opts, &cbs, &err);
    assert_non_null(s.c);
    assert_int_equal(write(sv[1], junk, sizeof(junk)), (ssize_t)sizeof(junk));
    test_done(&t);
    expect_reason(&s, ETX_CLASS_INPUT, "not a valid envelope");
    assert_string_equal(s.why.where, "stdio");
    close(sv[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etx_conn_connect_ok),
        cmocka_unit_test(test_etx_conn_connect_many),
        cmocka_unit_test(test_etx_conn_connect_wrong_key),
        cmocka_unit_test(test_etx_conn_listen_hostile),
        cmocka_unit_test(test_etx_conn_listen_refuse),
        cmocka_unit_test(test_etx_conn_connect_refused),
        cmocka_unit_test(test_etx_conn_connect_timeout),
        cmocka_unit_test(test_etx_conn_listen_bad_address),
        cmocka_unit_test(test_etx_conn_open_stdio_socketpair),
        cmocka_unit_test(test_etx_conn_open_stdio_pipes),
        cmocka_unit_test(test_etx_conn_open_stdio_not_a_stream),
        cmocka_unit_test(test_etx_conn_open_stdio_bad_fd),
        cmocka_unit_test(test_etx_conn_send_backpressure),
        cmocka_unit_test(test_etx_conn_read_stop_ok),
        cmocka_unit_test(test_etx_conn_open_stdio_garbage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
