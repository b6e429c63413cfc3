/* SPDX-License-Identifier: MIT */
/*
 * The agent daemon against hostile and mistaken clients, on a real
 * etxroll-agent child process: a wrong key (nothing runs, the peer is
 * logged), a wrong protocol version, a client that sends nothing, garbage
 * before TLS, oversized, truncated and undecodable frames and unexpected
 * messages after a real TLS handshake (driven with proto/tls.h), targets
 * outside the roots, restarts and health commands the config does not
 * allow, and requests in the wrong state. Meanwhile a good client keeps
 * being served, and the agent is alive at the end and exits 0 on SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include "proto/conn.h"
#include "proto/tls.h"
#include "tests/integration/agent_fixture.h"

struct hostile {
    struct etx_test_agent a;
    uv_loop_t loop;
    char allowed[400]; /* an allowed restart command */
    char marker[400];  /* what the allowed command would create */
    char other[400];   /* a command that is not allowed */
};

static void
write_cmd(const char *path, const char *marker)
{
    char text[600];

    snprintf(text, sizeof(text), "#!/bin/sh\ntouch %s\n", marker);
    assert_int_equal(etx_test_write_file(path, text, strlen(text)), 0);
    assert_int_equal(chmod(path, 0755), 0);
}

static int
setup(void **state)
{
    struct hostile *h = calloc(1, sizeof(*h));
    char extra[1024];

    assert_non_null(h);
    etx_test_agent_setup(&h->a);
    snprintf(h->allowed, sizeof(h->allowed), "%s/allowed.sh", h->a.dir);
    snprintf(h->other, sizeof(h->other), "%s/other.sh", h->a.dir);
    snprintf(h->marker, sizeof(h->marker), "%s/marker", h->a.dir);
    write_cmd(h->allowed, h->marker);
    write_cmd(h->other, h->marker);
    snprintf(extra, sizeof(extra),
             "restart_units: [app.service]\n"
             "restart_commands:\n  - [%s, --graceful]\n",
             h->allowed);
    etx_test_agent_config(&h->a, extra);
    etx_test_agent_start(&h->a);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    *state = h;
    return 0;
}

static int
teardown(void **state)
{
    struct hostile *h = *state;

    uv_run(&h->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    assert_true(etx_test_agent_alive(&h->a));
    assert_int_equal(etx_test_agent_stop(&h->a), 0);
    etx_test_agent_cleanup(&h->a);
    free(h);
    return 0;
}

/* A good client gets a probe answered: the agent still serves. */
static void
expect_served(struct hostile *h)
{
    struct etx_test_client c;
    Etxroll__Result *r = NULL;
    char path[400];

    snprintf(path, sizeof(path), "%s/absent", h->a.root);
    assert_true(etx_test_client_connect(&c, &h->loop, h->a.port, &h->a.psk));
    r = etx_test_probe(&c, path);
    assert_non_null(r);
    assert_true(r->ok);
    assert_false(r->before->exists);
    etx_test_result_free(r);
    etx_test_client_close(&c);
}

static void
test_agent_wrong_key(void **state)
{
    struct hostile *h = *state;
    struct etx_test_client c;
    struct etx_psk other;
    char path[400];
    Etxroll__Result *r = NULL;

    memset(&other, 0x5a, sizeof(other));
    snprintf(path, sizeof(path), "%s/evil", h->a.root);
    etx_test_client_start(&c, &h->loop, h->a.port, &other);
    r = etx_test_stage(&c, path, "evil", 4, 4);
    assert_null(r);
    while (!c.closed)
        uv_run(&h->loop, UV_RUN_ONCE);
    assert_false(c.ready);
    assert_int_equal(access(path, F_OK), -1);
    assert_true(etx_test_agent_log_wait(&h->a, "TLS handshake failed",
                                        "\"peer\":\"127.0.0.1:"));
    assert_false(etx_test_agent_log_has(&h->a, "\"event\":\"request\"", NULL));
    expect_served(h);
}

/* ---- raw clients ---- */

static int
raw_connect(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {20, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* True when the agent closes: EOF or reset before the receive timeout. */
static bool
raw_closed_by_agent(int fd)
{
    char buf[4096];
    ssize_t n;

    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    return n == 0 || errno == ECONNRESET;
}

static void
test_agent_silent_client(void **state)
{
    struct hostile *h = *state;
    int fd = raw_connect(h->a.port);

    expect_served(h); /* while the silent one waits for its handshake */
    close(fd);
}

static void
test_agent_garbage_before_tls(void **state)
{
    struct hostile *h = *state;
    const char junk[] = "GET / HTTP/1.0\r\nHost: agent\r\n\r\n";
    int fd = raw_connect(h->a.port);

    assert_int_equal(send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL),
                     (ssize_t)(sizeof(junk) - 1));
    expect_served(h);
    assert_true(raw_closed_by_agent(fd));
    close(fd);
    assert_true(etx_test_agent_log_wait(&h->a, "\"event\":\"conn.closed\"",
                                        "TLS handshake failed"));
}

/* ---- a TLS client driven by hand, to send bad frames ---- */

static void
tls_flush(int fd, struct etx_tls *t)
{
    struct etx_error err = {0};
    uint8_t *out = NULL;
    size_t len = 0;

    assert_int_equal(etx_tls_take_ciphertext(t, &out, &len, &err), ETX_OK);
    if (len > 0)
        assert_int_equal(send(fd, out, len, MSG_NOSIGNAL), (ssize_t)len);
    free(out);
}

static struct etx_tls *
tls_connect(struct hostile *h, int *fdp)
{
    struct etx_error err = {0};
    struct etx_tls *t = etx_tls_new(ETX_TLS_CLIENT, &h->a.psk, &err);
    char buf[4096];
    ssize_t n;
    int rc, fd = raw_connect(h->a.port);

    assert_non_null(t);
    while ((rc = etx_tls_handshake(t, &err)) == ETX_AGAIN) {
        tls_flush(fd, t);
        n = recv(fd, buf, sizeof(buf), 0);
        assert_true(n > 0);
        assert_int_equal(etx_tls_feed_ciphertext(t, buf, (size_t)n, &err),
                         ETX_OK);
    }
    assert_int_equal(rc, ETX_OK);
    tls_flush(fd, t);
    *fdp = fd;
    return t;
}

static void
tls_send(int fd, struct etx_tls *t, const void *buf, size_t len)
{
    struct etx_error err = {0};

    assert_int_equal(etx_tls_write_plaintext(t, buf, len, &err), ETX_OK);
    tls_flush(fd, t);
}

static void
tls_send_env(int fd, struct etx_tls *t, const Etxroll__Envelope *env)
{
    struct etx_error err = {0};
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(etx_frame_encode(env, &buf, &len, &err), ETX_OK);
    tls_send(fd, t, buf, len);
    free(buf);
}

static void
tls_send_hello(int fd, struct etx_tls *t)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;

    hello.protocol_version = ETX_PROTO_VERSION;
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    tls_send_env(fd, t, &env);
}

/* Send 'bytes' after a good handshake (and Hello when 'hello'). */
static void
bad_stream(struct hostile *h, bool hello, const void *bytes, size_t len,
           bool then_shutdown)
{
    struct etx_tls *t = NULL;
    int fd = -1;

    t = tls_connect(h, &fd);
    if (hello)
        tls_send_hello(fd, t);
    tls_send(fd, t, bytes, len);
    if (then_shutdown)
        shutdown(fd, SHUT_WR);
    expect_served(h);
    assert_true(raw_closed_by_agent(fd));
    close(fd);
    etx_tls_free(t);
}

static void
test_agent_oversized_frame(void **state)
{
    static const uint8_t head[4] = {0x7f, 0xff, 0xff, 0xff};

    bad_stream(*state, false, head, sizeof(head), false);
    bad_stream(*state, true, head, sizeof(head), false);
    assert_true(etx_test_agent_log_wait(&((struct hostile *)*state)->a,
                                        "\"event\":\"conn.closed\"",
                                        "exceeds the limit"));
}

static void
test_agent_truncated_frame(void **state)
{
    static const uint8_t part[10] = {0, 0, 0, 100, 1, 2, 3, 4, 5, 6};

    bad_stream(*state, true, part, sizeof(part), true);
}

static void
test_agent_garbage_frame(void **state)
{
    static const uint8_t junk[9] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff};

    bad_stream(*state, true, junk, sizeof(junk), false);
}

/* A second Hello, or a Result, from the client closes its connection. */
static void
test_agent_unexpected_message(void **state)
{
    struct hostile *h = *state;
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Result res = ETXROLL__RESULT__INIT;
    struct etx_tls *t = NULL;
    int fd = -1;

    t = tls_connect(h, &fd);
    tls_send_hello(fd, t);
    env.body_case = ETXROLL__ENVELOPE__BODY_RESULT;
    env.result = &res;
    tls_send_env(fd, t, &env);
    assert_true(raw_closed_by_agent(fd));
    close(fd);
    etx_tls_free(t);
    t = tls_connect(h, &fd);
    tls_send_hello(fd, t);
    tls_send_hello(fd, t);
    assert_true(raw_closed_by_agent(fd));
    close(fd);
    etx_tls_free(t);
    expect_served(h);
    assert_true(etx_test_agent_log_wait(&h->a, "\"event\":\"conn.protocol\"",
                                        "unexpected message"));
}

/* ---- refusals ---- */

static Etxroll__Result *
restart_req(struct etx_test_client *c, const char *target, const char *unit,
            char **argv, size_t argc)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__RestartRequest r = ETXROLL__RESTART_REQUEST__INIT;
    Etxroll__Command cmd = ETXROLL__COMMAND__INIT;
    Etxroll__Target t;

    etx_test_target(&t, target);
    r.target = &t;
    if (unit != NULL) {
        r.how_case = ETXROLL__RESTART_REQUEST__HOW_UNIT;
        r.unit = (char *)unit;
    } else {
        cmd.n_argv = argc;
        cmd.argv = argv;
        r.how_case = ETXROLL__RESTART_REQUEST__HOW_COMMAND;
        r.command = &cmd;
    }
    env.body_case = ETXROLL__ENVELOPE__BODY_RESTART;
    env.restart = &r;
    return etx_test_call(c, &env);
}

static void
expect_refused(Etxroll__Result *r, int cls, const char *text)
{
    assert_non_null(r);
    assert_false(r->ok);
    assert_int_equal(etx_test_class(r), cls);
    if (text != NULL && strstr(r->detail, text) == NULL)
        fail_msg("'%s' does not say '%s'", r->detail, text);
    etx_test_result_free(r);
}

static void
test_agent_refuses_not_allowed(void **state)
{
    struct hostile *h = *state;
    struct etx_test_client c;
    char target[400], *argv[2] = {h->other, NULL};
    char *allowed_bad[1] = {h->allowed};

    snprintf(target, sizeof(target), "%s/app", h->a.root);
    assert_int_equal(etx_test_write_file(target, "x", 1), 0);
    assert_true(etx_test_client_connect(&c, &h->loop, h->a.port, &h->a.psk));
    expect_refused(restart_req(&c, target, "sshd.service", NULL, 0),
                   ETXROLL__ERROR_CLASS__CLASS_INPUT, "not allowed");
    expect_refused(restart_req(&c, target, NULL, argv, 1),
                   ETXROLL__ERROR_CLASS__CLASS_INPUT, "not allowed");
    /* The allowed command's path with other arguments is another command. */
    expect_refused(restart_req(&c, target, NULL, allowed_bad, 1),
                   ETXROLL__ERROR_CLASS__CLASS_INPUT, "not allowed");
    etx_test_client_close(&c);
    assert_int_equal(access(h->marker, F_OK), -1);
}

static void
test_agent_refuses_outside_roots(void **state)
{
    struct hostile *h = *state;
    struct etx_test_client c;
    Etxroll__Result *r = NULL;
    char outside[400], target[450];

    snprintf(outside, sizeof(outside), "%s/outside", h->a.dir);
    snprintf(target, sizeof(target), "%s/app", outside);
    assert_int_equal(mkdir(outside, 0755), 0);
    assert_true(etx_test_client_connect(&c, &h->loop, h->a.port, &h->a.psk));
    r = etx_test_stage(&c, target, "evil", 4, 4);
    assert_non_null(r);
    assert_false(r->ok);
    etx_test_result_free(r);
    /* The begin was answered with its error, once, as it failed. */
    assert_int_equal(c.n_unsolicited, 1);
    assert_non_null(c.unsolicited.res);
    assert_false(c.unsolicited.res->ok);
    etx_test_result_free(c.unsolicited.res);
    r = etx_test_probe(&c, target);
    assert_non_null(r);
    assert_false(r->ok);
    etx_test_result_free(r);
    etx_test_client_close(&c);
    assert_int_equal(access(target, F_OK), -1);
    assert_int_equal(rmdir(outside), 0); /* nothing was written in it */
}

/* Verify with nothing staged, a chunk without a begin: refused, and the
 * connection keeps serving. */
static void
test_agent_wrong_state(void **state)
{
    struct hostile *h = *state;
    struct etx_test_client c;
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__VerifyRequest v = ETXROLL__VERIFY_REQUEST__INIT;
    Etxroll__StageChunk ch = ETXROLL__STAGE_CHUNK__INIT;
    Etxroll__Target t;
    Etxroll__Result *r = NULL;
    char target[400];

    snprintf(target, sizeof(target), "%s/app", h->a.root);
    assert_true(etx_test_client_connect(&c, &h->loop, h->a.port, &h->a.psk));
    etx_test_target(&t, target);
    v.target = &t;
    env.body_case = ETXROLL__ENVELOPE__BODY_VERIFY;
    env.verify = &v;
    expect_refused(etx_test_call(&c, &env), ETXROLL__ERROR_CLASS__CLASS_INPUT,
                   "nothing is staged");
    ch.data.data = (uint8_t *)"abc";
    ch.data.len = 3;
    env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_CHUNK;
    env.stage_chunk = &ch;
    expect_refused(etx_test_call(&c, &env), ETXROLL__ERROR_CLASS__CLASS_INPUT,
                   "without StageBegin");
    r = etx_test_probe(&c, target);
    assert_non_null(r);
    etx_test_result_free(r);
    etx_test_client_close(&c);
}

/* Protocol version 99: the agent answers its own Hello, then closes. */
struct vclient {
    uint32_t version;
    bool closed;
};

static void
v_frame_cb(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct vclient *v = arg;

    (void)c;
    if (env->body_case == ETXROLL__ENVELOPE__BODY_HELLO)
        v->version = env->hello->protocol_version;
    etx_frame_free(env);
}

static void
v_close_cb(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    (void)c;
    (void)why;
    ((struct vclient *)arg)->closed = true;
}

static void
test_agent_wrong_version(void **state)
{
    struct hostile *h = *state;
    struct vclient v = {0};
    struct etx_conn_cbs cbs = {v_frame_cb, v_close_cb, NULL, &v};
    struct etx_conn_opts opts = {.psk = &h->a.psk};
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;
    struct etx_error err = {0};
    struct etx_conn *c = NULL;
    char addr[64];

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", h->a.port);
    c = etx_conn_connect(&h->loop, addr, &opts, &cbs, &err);
    assert_non_null(c);
    hello.protocol_version = 99;
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    assert_int_equal(etx_conn_send(c, &env, &err), ETX_OK);
    while (!v.closed)
        uv_run(&h->loop, UV_RUN_ONCE);
    assert_int_equal(v.version, ETX_PROTO_VERSION);
    assert_true(etx_test_agent_log_wait(&h->a, "\"event\":\"conn.version\"",
                                        "\"theirs\":99"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_wrong_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_wrong_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_silent_client, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_garbage_before_tls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_oversized_frame, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_truncated_frame, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_garbage_frame, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_unexpected_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_refuses_not_allowed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_refuses_outside_roots, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_wrong_state, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
