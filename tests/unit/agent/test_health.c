/* SPDX-License-Identifier: MIT */
/*
 * Tests of the health checks (agent/health.h) against real peers: nginx
 * started by the test (tests/integration/nginx.sh) for HTTP and TCP, a
 * listening socket that never answers for the timeout, closed ports, and
 * real commands for exec checks (issue 4, test 4). Without nginx installed
 * the HTTP tests fail with a message saying so.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

#include "agent/health.h"
#include "tests/integration/nginx_fixture.h"

struct fixture {
    char dir[64];
    char health_txt[400];
    struct etx_test_nginx nginx;
    int nginx_ok;
    char why[512];
};

struct run {
    uv_loop_t loop;
    struct etx_health_result res;
    int calls;
    /* on_probe actions */
    struct fixture *f;
    unsigned fails_before_fix; /* create health.txt after this many */
    unsigned fails_seen;
    unsigned stop_after; /* etx_health_stop() after this many probes */
    unsigned probes_seen;
    struct etx_health *h;
};

static int
group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(f->dir, sizeof(f->dir), "/tmp/etx-health-XXXXXX");
    if (mkdtemp(f->dir) == NULL || chmod(f->dir, 0755) != 0)
        return -1;
    f->nginx_ok =
        etx_test_nginx_start(&f->nginx, f->dir, f->why, sizeof(f->why)) == 0;
    snprintf(f->health_txt, sizeof(f->health_txt), "%s/health.txt",
             f->nginx.www);
    *state = f;
    return 0;
}

static int
group_teardown(void **state)
{
    struct fixture *f = *state;

    etx_test_nginx_stop(&f->nginx);
    etx_test_rmtree(f->dir);
    free(f);
    curl_global_cleanup();
    return 0;
}

static struct fixture *
need_nginx(void **state)
{
    struct fixture *f = *state;

    if (!f->nginx_ok)
        fail_msg("%s", f->why);
    unlink(f->health_txt);
    return f;
}

static void
done_cb(const struct etx_health_result *r, void *arg)
{
    struct run *run = arg;

    run->res = *r;
    run->calls++;
}

static void
probe_cb(bool ok, const char *reason, void *arg)
{
    struct run *run = arg;

    (void)reason;
    run->probes_seen++;
    if (!ok && ++run->fails_seen == run->fails_before_fix)
        assert_int_equal(etx_test_write_file(run->f->health_txt, "ok\n", 3), 0);
    if (run->stop_after != 0 && run->probes_seen == run->stop_after)
        etx_health_stop(run->h);
}

/* Run one check to its end on a fresh loop. */
static void
run_check(struct run *run, struct etx_health_spec *spec)
{
    struct etx_error err = {0};

    spec->on_probe = probe_cb;
    spec->probe_arg = run;
    assert_int_equal(uv_loop_init(&run->loop), 0);
    assert_int_equal(
        etx_health_start(&run->loop, spec, done_cb, run, &run->h, &err),
        ETX_OK);
    assert_int_equal(uv_run(&run->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(run->calls, 1);
    assert_int_equal(uv_loop_close(&run->loop), 0);
}

static void
url(struct fixture *f, const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", f->nginx.base, path);
}

static void
test_health_http_500_then_200(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {.f = f, .fails_before_fix = 2};
    struct etx_health_spec s = {0};
    char u[128];

    url(f, "/health", u, sizeof(u));
    s.kind = ETX_HEALTH_HTTP;
    s.url = u;
    s.body_contains = "ok";
    s.interval_ms = 20;
    s.timeout_ms = 5000;
    s.consecutive = 2;
    s.deadline_ms = 60000;
    run_check(&run, &s);
    assert_true(run.res.healthy);
    assert_false(run.res.deadline_passed);
    assert_int_equal(run.res.failures, 2);
    assert_int_equal(run.res.passes, 2);
    assert_int_equal(run.res.probes, 4);
    assert_string_equal(run.res.last_failure, "HTTP 500");
    assert_int_equal(run.res.err.cls, ETX_CLASS_NONE);
}

static void
test_health_http_refused_until_deadline(void **state)
{
    struct run run = {.f = *state};
    struct etx_health_spec s = {0};
    char u[128];

    snprintf(u, sizeof(u), "http://127.0.0.1:%u/health", etx_test_free_port());
    s.kind = ETX_HEALTH_HTTP;
    s.url = u;
    s.interval_ms = 50;
    s.deadline_ms = 400;
    run_check(&run, &s);
    assert_false(run.res.healthy);
    assert_true(run.res.deadline_passed);
    assert_true(run.res.failures >= 1);
    assert_int_equal(run.res.passes, 0);
    assert_string_equal(run.res.last_failure, "connection refused");
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(run.res.err.msg, "connection refused"));
    assert_non_null(strstr(run.res.err.msg, "deadline"));
}

static void
test_health_http_body_mismatch(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {.f = f};
    struct etx_health_spec s = {0};
    char u[128];

    assert_int_equal(etx_test_write_file(f->health_txt, "ok\n", 3), 0);
    url(f, "/health", u, sizeof(u));
    s.kind = ETX_HEALTH_HTTP;
    s.url = u;
    s.body_contains = "ready";
    s.interval_ms = 50;
    s.deadline_ms = 400;
    run_check(&run, &s);
    assert_false(run.res.healthy);
    assert_true(run.res.deadline_passed);
    assert_int_equal(run.res.passes, 0);
    assert_string_equal(run.res.last_failure, "body does not contain 'ready'");
}

static void
test_health_http_wrong_status(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {.f = f, .stop_after = 0};
    struct etx_health_spec s = {0};
    char u[128];

    url(f, "/missing", u, sizeof(u));
    s.kind = ETX_HEALTH_HTTP;
    s.url = u;
    s.status = 204;
    s.deadline_ms = 300;
    s.interval_ms = 50;
    run_check(&run, &s);
    assert_false(run.res.healthy);
    assert_string_equal(run.res.last_failure, "HTTP 404");
}

/* Every probe passes, but fewer in a row than needed before the deadline. */
static void
test_health_http_deadline_passes(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {.f = f};
    struct etx_health_spec s = {0};
    char u[128];

    assert_int_equal(etx_test_write_file(f->health_txt, "ok\n", 3), 0);
    url(f, "/health", u, sizeof(u));
    s.kind = ETX_HEALTH_HTTP;
    s.url = u;
    s.interval_ms = 100;
    s.consecutive = 1000000;
    s.deadline_ms = 300;
    run_check(&run, &s);
    assert_false(run.res.healthy);
    assert_true(run.res.deadline_passed);
    assert_true(run.res.passes >= 1);
    assert_int_equal(run.res.failures, 0);
    assert_string_equal(run.res.last_failure, "");
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
}

/* A server that accepts the connection (backlog) and never answers. */
static void
test_health_http_timeout(void **state)
{
    struct run run = {.f = *state};
    struct etx_health_spec s = {0};
    unsigned port = etx_test_free_port();
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char u[128];

    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/health", port);
    s.kind = ETX_HEALTH_HTTP;
    s.url = u;
    s.timeout_ms = 200;
    s.deadline_ms = 30000;
    run.stop_after = 1;
    run_check(&run, &s);
    close(fd);
    assert_true(run.res.stopped);
    assert_int_equal(run.res.failures, 1);
    assert_string_equal(run.res.last_failure, "timeout after 0.2s");
}

static void
test_health_tcp_ok(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {.f = f};
    struct etx_health_spec s = {0};

    s.kind = ETX_HEALTH_TCP;
    s.host = "127.0.0.1";
    s.port = f->nginx.port;
    s.consecutive = 2;
    s.interval_ms = 10;
    run_check(&run, &s);
    assert_true(run.res.healthy);
    assert_int_equal(run.res.passes, 2);
    assert_int_equal(run.res.failures, 0);
}

static void
test_health_tcp_refused(void **state)
{
    struct run run = {.f = *state};
    struct etx_health_spec s = {0};

    s.kind = ETX_HEALTH_TCP;
    s.host = "127.0.0.1";
    s.port = etx_test_free_port();
    s.interval_ms = 50;
    s.deadline_ms = 300;
    run_check(&run, &s);
    assert_false(run.res.healthy);
    assert_true(run.res.deadline_passed);
    assert_true(run.res.failures >= 1);
    assert_string_equal(run.res.last_failure, "connection refused");
}

static void
test_health_exec_true(void **state)
{
    struct run run = {.f = *state};
    struct etx_health_spec s = {0};
    const char *argv[] = {"/bin/true", NULL};

    s.kind = ETX_HEALTH_EXEC;
    s.argv = argv;
    s.consecutive = 3;
    run_check(&run, &s);
    assert_true(run.res.healthy);
    assert_int_equal(run.res.passes, 3);
}

static void
test_health_exec_false(void **state)
{
    struct run run = {.f = *state};
    struct etx_health_spec s = {0};
    const char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};

    s.kind = ETX_HEALTH_EXEC;
    s.argv = argv;
    s.interval_ms = 50;
    s.deadline_ms = 300;
    run_check(&run, &s);
    assert_false(run.res.healthy);
    assert_true(run.res.deadline_passed);
    assert_string_equal(run.res.last_failure, "exit status 3");
}

static void
test_health_exec_bin_false(void **state)
{
    struct run run = {.f = *state, .stop_after = 1};
    struct etx_health_spec s = {0};
    const char *argv[] = {"/bin/false", NULL};

    s.kind = ETX_HEALTH_EXEC;
    s.argv = argv;
    run_check(&run, &s);
    assert_false(run.res.healthy);
    assert_true(run.res.stopped);
    assert_int_equal(run.res.failures, 1);
    assert_string_equal(run.res.last_failure, "exit status 1");
    assert_int_equal(run.res.err.cls, ETX_CLASS_AMBIGUOUS);
}

static void
test_health_exec_timeout(void **state)
{
    struct run run = {.f = *state, .stop_after = 1};
    struct etx_health_spec s = {0};
    const char *argv[] = {"/bin/sleep", "30", NULL};

    s.kind = ETX_HEALTH_EXEC;
    s.argv = argv;
    s.timeout_ms = 200;
    run_check(&run, &s);
    assert_int_equal(run.res.failures, 1);
    assert_string_equal(run.res.last_failure, "timeout after 0.2s");
}

/* A command that does not exist cannot get better: no waiting. */
static void
test_health_exec_missing(void **state)
{
    struct run run = {.f = *state};
    struct etx_health_spec s = {0};
    const char *argv[] = {"/nonexistent/etx-health-check", NULL};

    s.kind = ETX_HEALTH_EXEC;
    s.argv = argv;
    s.deadline_ms = 600000;
    run_check(&run, &s);
    assert_false(run.res.healthy);
    assert_false(run.res.deadline_passed);
    assert_int_equal(run.res.err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(run.res.err.sys_errno, ENOENT);
}

/* The deadline stops a probe in flight (a command is killed). */
static void
test_health_deadline_during_probe(void **state)
{
    struct run run = {.f = *state};
    struct etx_health_spec s = {0};
    const char *argv[] = {"/bin/sleep", "30", NULL};

    s.kind = ETX_HEALTH_EXEC;
    s.argv = argv;
    s.timeout_ms = 60000;
    s.deadline_ms = 200;
    run_check(&run, &s);
    assert_true(run.res.deadline_passed);
    assert_int_equal(run.res.probes, 0);
}

static void
test_health_start_hostile(void **state)
{
    uv_loop_t loop;
    struct etx_error err = {0};
    struct etx_health_spec s = {0};
    const char *rel[] = {"bin/true", NULL};

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    s.kind = ETX_HEALTH_HTTP;
    s.url = "ftp://127.0.0.1/x";
    assert_int_equal(etx_health_start(&loop, &s, done_cb, NULL, NULL, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    s.kind = ETX_HEALTH_TCP;
    s.host = "localhost";
    s.port = 80;
    assert_int_equal(etx_health_start(&loop, &s, done_cb, NULL, NULL, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    s.host = "127.0.0.1";
    s.port = 70000;
    assert_int_equal(etx_health_start(&loop, &s, done_cb, NULL, NULL, &err),
                     ETX_ERR);
    s.kind = ETX_HEALTH_EXEC;
    s.argv = rel;
    assert_int_equal(etx_health_start(&loop, &s, done_cb, NULL, NULL, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_http_500_then_200),
        cmocka_unit_test(test_health_http_refused_until_deadline),
        cmocka_unit_test(test_health_http_body_mismatch),
        cmocka_unit_test(test_health_http_wrong_status),
        cmocka_unit_test(test_health_http_deadline_passes),
        cmocka_unit_test(test_health_http_timeout),
        cmocka_unit_test(test_health_tcp_ok),
        cmocka_unit_test(test_health_tcp_refused),
        cmocka_unit_test(test_health_exec_true),
        cmocka_unit_test(test_health_exec_false),
        cmocka_unit_test(test_health_exec_bin_false),
        cmocka_unit_test(test_health_exec_timeout),
        cmocka_unit_test(test_health_exec_missing),
        cmocka_unit_test(test_health_deadline_during_probe),
        cmocka_unit_test(test_health_start_hostile),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
