/* SPDX-License-Identifier: MIT */
/*
 * The agent daemon end to end, through the protocol, on a real
 * etxroll-agent child process: a demo HTTP service is probed, v2 is pushed
 * in chunks, verified, swapped, restarted by the operator's script (an
 * allowed restart command) and health-checked (a wrong expected version
 * fails first), then rolled back to v1, restarted and checked again;
 * several clients are served at once; and the --stdio carrier serves a
 * probe without TLS.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "proto/conn.h"
#include "tests/integration/agent_fixture.h"

#define CHUNK 8192

struct flow {
    struct etx_test_agent a;
    uv_loop_t loop;
    char target[400];
    char script[400];
    char pid_file[400];
    unsigned demo_port;
};

static char *
demo_path(int v)
{
    static char path[3][512];

    snprintf(path[v - 1], sizeof(path[0]),
             "%s/tests/agent-daemon/etx_demo_service_v%d", etx_test_bindir(),
             v);
    return path[v - 1];
}

/* The operator's restart script: stop the demo, start what is live. */
static void
write_script(struct flow *f)
{
    char text[2048];

    snprintf(f->script, sizeof(f->script), "%s/restart-demo.sh", f->a.dir);
    snprintf(f->pid_file, sizeof(f->pid_file), "%s/demo.pid", f->a.dir);
    snprintf(text, sizeof(text),
             "#!/bin/sh\n"
             "if [ -f %s ]; then kill $(cat %s) 2>/dev/null; fi\n"
             "setsid %s %u </dev/null >/dev/null 2>&1 &\n"
             "echo $! > %s\n",
             f->pid_file, f->pid_file, f->target, f->demo_port, f->pid_file);
    assert_int_equal(etx_test_write_file(f->script, text, strlen(text)), 0);
    assert_int_equal(chmod(f->script, 0755), 0);
}

static int
setup(void **state)
{
    struct flow *f = calloc(1, sizeof(*f));
    char extra[1024];
    size_t len;
    void *v1 = NULL;

    assert_non_null(f);
    etx_test_agent_setup(&f->a);
    snprintf(f->target, sizeof(f->target), "%s/app", f->a.root);
    f->demo_port = etx_test_free_port();
    write_script(f);
    snprintf(extra, sizeof(extra), "restart_commands:\n  - [%s]\n", f->script);
    etx_test_agent_config(&f->a, extra);
    v1 = etx_test_slurp(demo_path(1), &len);
    assert_int_equal(etx_test_write_file(f->target, v1, len), 0);
    assert_int_equal(chmod(f->target, 0755), 0);
    free(v1);
    etx_test_agent_start(&f->a);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct flow *f = *state;
    char buf[32];

    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (etx_test_read_file(f->pid_file, buf, sizeof(buf)) == 0 && atoi(buf) > 0)
        kill(atoi(buf), SIGKILL);
    assert_true(etx_test_agent_alive(&f->a));
    assert_int_equal(etx_test_agent_stop(&f->a), 0);
    etx_test_agent_cleanup(&f->a);
    free(f);
    return 0;
}

static Etxroll__Result *
simple(struct etx_test_client *c, Etxroll__Envelope__BodyCase kind,
       const char *path, const char *sha256)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__VerifyRequest v = ETXROLL__VERIFY_REQUEST__INIT;
    Etxroll__SwapRequest s = ETXROLL__SWAP_REQUEST__INIT;
    Etxroll__RollbackRequest r = ETXROLL__ROLLBACK_REQUEST__INIT;
    Etxroll__Target t;

    etx_test_target(&t, path);
    env.body_case = kind;
    v.target = s.target = r.target = &t;
    v.sha256 = s.sha256 = (char *)(sha256 != NULL ? sha256 : "");
    env.verify = &v;
    if (kind == ETXROLL__ENVELOPE__BODY_SWAP)
        env.swap = &s;
    if (kind == ETXROLL__ENVELOPE__BODY_ROLLBACK)
        env.rollback = &r;
    return etx_test_call(c, &env);
}

static Etxroll__Result *
restart(struct etx_test_client *c, const char *path, char *argv0)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__RestartRequest r = ETXROLL__RESTART_REQUEST__INIT;
    Etxroll__Command cmd = ETXROLL__COMMAND__INIT;
    Etxroll__Target t;

    etx_test_target(&t, path);
    cmd.n_argv = 1;
    cmd.argv = &argv0;
    r.how_case = ETXROLL__RESTART_REQUEST__HOW_COMMAND;
    r.command = &cmd;
    r.timeout_ms = 10000;
    r.target = &t;
    env.body_case = ETXROLL__ENVELOPE__BODY_RESTART;
    env.restart = &r;
    return etx_test_call(c, &env);
}

static Etxroll__Result *
health(struct etx_test_client *c, unsigned port, const char *want,
       unsigned deadline_ms)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__HealthRequest h = ETXROLL__HEALTH_REQUEST__INIT;
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
    h.http_url = url;
    h.http_status = 200;
    h.http_body_contains = (char *)want;
    h.interval_ms = 100;
    h.timeout_ms = 1000;
    h.consecutive = 2;
    h.deadline_ms = deadline_ms;
    env.body_case = ETXROLL__ENVELOPE__BODY_HEALTH;
    env.health = &h;
    return etx_test_call(c, &env);
}

static void
expect_ok(Etxroll__Result *r, const char *what)
{
    assert_non_null(r);
    if (!r->ok)
        fail_msg("%s failed: %s", what, r->detail);
    etx_test_result_free(r);
}

/* Restart by the script and check the demo answers 'want'. */
static void
restart_and_check(struct flow *f, struct etx_test_client *c, const char *want)
{
    expect_ok(restart(c, f->target, f->script), "restart");
    expect_ok(health(c, f->demo_port, want, 10000), "health");
}

static void
push_v2(struct flow *f, struct etx_test_client *c, char sha[65])
{
    struct etx_digest *d = etx_digest_new();
    size_t len;
    void *v2 = etx_test_slurp(demo_path(2), &len);
    Etxroll__Result *r = NULL;

    assert_true(len / CHUNK + 2 < 64 * 8);
    etx_digest_update(d, v2, len);
    etx_digest_final(d, sha);
    etx_digest_free(d);
    r = etx_test_stage(c, f->target, v2, len, len / 40 + 1);
    free(v2);
    expect_ok(r, "stage");
    expect_ok(simple(c, ETXROLL__ENVELOPE__BODY_VERIFY, f->target, sha),
              "verify");
    r = simple(c, ETXROLL__ENVELOPE__BODY_SWAP, f->target, sha);
    assert_non_null(r);
    assert_true(r->ok);
    assert_non_null(r->after);
    assert_string_equal(r->after->sha256, sha);
    assert_true(r->before->ino != r->after->ino);
    etx_test_result_free(r);
}

static void
test_agent_rollout_ok(void **state)
{
    struct flow *f = *state;
    struct etx_test_client c;
    Etxroll__Result *r = NULL;
    char sha[65];

    assert_true(etx_test_client_connect(&c, &f->loop, f->a.port, &f->a.psk));
    assert_true(c.kernel[0] != '\0');
    r = etx_test_probe(&c, f->target);
    assert_non_null(r);
    assert_true(r->ok);
    assert_true(r->before->exists);
    assert_int_equal(r->before->mode & 07777, 0755);
    etx_test_result_free(r);
    restart_and_check(f, &c, "version 1");
    push_v2(f, &c, sha);
    expect_ok(restart(&c, f->target, f->script), "restart v2");
    r = health(&c, f->demo_port, "version 1", 1500);
    assert_non_null(r);
    assert_false(r->ok);
    assert_int_equal(etx_test_class(r), ETXROLL__ERROR_CLASS__CLASS_INTEGRITY);
    assert_true(r->health_failures > 0);
    etx_test_result_free(r);
    expect_ok(health(&c, f->demo_port, "version 2", 10000), "health v2");
    expect_ok(simple(&c, ETXROLL__ENVELOPE__BODY_ROLLBACK, f->target, NULL),
              "rollback");
    restart_and_check(f, &c, "version 1");
    etx_test_client_close(&c);
    assert_true(
        etx_test_agent_log_has(&f->a, "\"op\":\"swap\"", "\"result\":\"ok\""));
    assert_true(etx_test_agent_log_has(&f->a, "\"event\":\"kernel.etxtbsy\"",
                                       "\"kernel\""));
}

/* Four probes and a staging at once, on four plus one connections. */
static void
test_agent_concurrent_ok(void **state)
{
    struct flow *f = *state;
    struct etx_test_client c[5];
    struct etx_test_call k[4];
    Etxroll__Envelope env[4];
    Etxroll__ProbeRequest pr[4];
    Etxroll__Target t[4];
    Etxroll__Result *r = NULL;
    char big[256 * 1024];
    char staged[400];
    int i;

    for (i = 0; i < 5; i++)
        etx_test_client_start(&c[i], &f->loop, f->a.port, &f->a.psk);
    for (i = 0; i < 5; i++)
        while (!c[i].ready)
            uv_run(&f->loop, UV_RUN_ONCE);
    for (i = 0; i < 4; i++) {
        etxroll__envelope__init(&env[i]);
        etxroll__probe_request__init(&pr[i]);
        etx_test_target(&t[i], f->target);
        pr[i].target = &t[i];
        env[i].body_case = ETXROLL__ENVELOPE__BODY_PROBE;
        env[i].probe = &pr[i];
        etx_test_send(&c[i], &env[i], &k[i]);
    }
    memset(big, 'x', sizeof(big));
    snprintf(staged, sizeof(staged), "%s/data.bin", f->a.root);
    r = etx_test_stage(&c[4], staged, big, sizeof(big), 16384);
    expect_ok(r, "stage while probing");
    for (i = 0; i < 4; i++) {
        etx_test_wait(&c[i], &k[i]);
        assert_non_null(k[i].res);
        assert_true(k[i].res->ok);
        assert_true(k[i].res->before->exists);
        etx_test_result_free(k[i].res);
    }
    for (i = 0; i < 5; i++)
        etx_test_client_close(&c[i]);
}

/* The client end of a --stdio session: Hello, then one probe. */
struct stdio_client {
    const char *target;
    int frames;
    bool hello_ok, probe_ok, closed;
};

static void
stdio_send_probe(struct etx_conn *c, struct stdio_client *sc)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__ProbeRequest pr = ETXROLL__PROBE_REQUEST__INIT;
    struct etx_error err = {0};
    Etxroll__Target t;

    etx_test_target(&t, sc->target);
    pr.target = &t;
    env.id = 7;
    env.body_case = ETXROLL__ENVELOPE__BODY_PROBE;
    env.probe = &pr;
    assert_int_equal(etx_conn_send(c, &env, &err), ETX_OK);
}

static void
stdio_frame_cb(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct stdio_client *sc = arg;

    if (sc->frames++ == 0) {
        sc->hello_ok = env->body_case == ETXROLL__ENVELOPE__BODY_HELLO &&
                       env->hello->protocol_version == ETX_PROTO_VERSION;
        stdio_send_probe(c, sc);
    } else {
        sc->probe_ok = env->body_case == ETXROLL__ENVELOPE__BODY_RESULT &&
                       env->id == 7 && env->result->ok &&
                       env->result->before->exists;
        etx_conn_close(c);
    }
    etx_frame_free(env);
}

static void
stdio_close_cb(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    struct stdio_client *sc = arg;

    (void)c;
    (void)why;
    sc->closed = true;
}

static pid_t
spawn_stdio_agent(struct flow *f, int fd)
{
    char bin[512];
    pid_t pid;

    snprintf(bin, sizeof(bin), "%s/etxroll-agent", etx_test_bindir());
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, 0);
        dup2(fd, 1);
        fd = open(f->a.log, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd >= 0)
            dup2(fd, 2);
        execl(bin, bin, "--stdio", "--config", f->a.cfg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* --stdio: the same protocol on a socketpair, no TLS; exit 0 at its end. */
static void
test_agent_stdio_ok(void **state)
{
    struct flow *f = *state;
    struct stdio_client sc = {.target = f->target};
    struct etx_conn_cbs cbs = {stdio_frame_cb, stdio_close_cb, NULL, &sc};
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;
    struct etx_conn_opts opts = {0};
    struct etx_error err = {0};
    struct etx_conn *c = NULL;
    int sv[2], fds[2], status = 0;
    pid_t pid;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid = spawn_stdio_agent(f, sv[1]);
    close(sv[1]);
    fds[0] = fds[1] = sv[0];
    c = etx_conn_open_stdio(&f->loop, fds, &opts, &cbs, &err);
    assert_non_null(c);
    hello.protocol_version = ETX_PROTO_VERSION;
    hello.software_version = "test";
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    assert_int_equal(etx_conn_send(c, &env, &err), ETX_OK);
    while (!sc.closed)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(sc.hello_ok);
    assert_true(sc.probe_ok);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_rollout_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_concurrent_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agent_stdio_ok, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
