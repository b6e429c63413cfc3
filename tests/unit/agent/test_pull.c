/* SPDX-License-Identifier: MIT */
/*
 * Tests of the artifact pull (agent/pull.h) from a real nginx started by
 * the test, streaming into the real staging code (agent/stage.h) in a temp
 * directory: right digest (staged and verified), wrong digest, 404, a body
 * over the size bound (told by Content-Length, and streamed chunked by a
 * forked one-shot server), a refused connection, a stop (issue 4, test 5).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <uv.h>

#include "agent/pull.h"
#include "agent/stage.h"
#include "proto/digest.h"
#include "tests/integration/nginx_fixture.h"

#define ART_SIZE ((1u << 20) + 12345)

struct fixture {
    char dir[64];
    char stage_dir[128];
    char art_sha[ETX_DIGEST_HEX_LEN + 1];
    struct etx_test_nginx nginx;
    int nginx_ok;
    char why[512];
};

struct run {
    uv_loop_t loop;
    int dirfd;
    struct etx_stage *stage;
    unsigned discards;
    uint64_t written;
    struct etx_pull_result res;
    int calls;
};

static int
group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    unsigned char *buf = malloc(ART_SIZE);
    char path[400];
    struct etx_error err = {0};

    if (f == NULL || buf == NULL)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(f->dir, sizeof(f->dir), "/tmp/etx-pull-XXXXXX");
    if (mkdtemp(f->dir) == NULL || chmod(f->dir, 0755) != 0)
        return -1;
    snprintf(f->stage_dir, sizeof(f->stage_dir), "%s/stage", f->dir);
    if (mkdir(f->stage_dir, 0700) != 0)
        return -1;
    f->nginx_ok =
        etx_test_nginx_start(&f->nginx, f->dir, f->why, sizeof(f->why)) == 0;
    snprintf(path, sizeof(path), "%s/art.bin", f->nginx.www);
    if (getrandom(buf, ART_SIZE, 0) != ART_SIZE ||
        etx_test_write_file(path, buf, ART_SIZE) != 0 ||
        etx_digest_file(path, f->art_sha, NULL, &err) != ETX_OK)
        return -1;
    free(buf);
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

/* Temps of "artifact" left in the staging directory. */
static int
count_temps(struct fixture *f)
{
    DIR *d = opendir(f->stage_dir);
    struct dirent *e = NULL;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, ".artifact.etxroll.", 18) == 0)
            n++;
    closedir(d);
    return n;
}

static int
sink_write(void *arg, const void *buf, size_t len, struct etx_error *err)
{
    struct run *run = arg;

    run->written += len;
    return etx_stage_write(run->stage, buf, len, err);
}

static void
sink_discard(void *arg)
{
    struct run *run = arg;
    struct etx_error err = {0};

    run->discards++;
    etx_stage_discard(run->stage, &err);
}

static void
done_cb(const struct etx_pull_result *r, void *arg)
{
    struct run *run = arg;

    run->res = *r;
    run->calls++;
}

static void
run_begin(struct fixture *f, struct run *run, const char *sha)
{
    struct etx_stage_opts o = {0};
    struct etx_error err = {0};

    o.sha256 = sha;
    run->dirfd = open(f->stage_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(run->dirfd >= 0);
    assert_int_equal(
        etx_stage_begin(run->dirfd, "artifact", &o, &run->stage, &err), ETX_OK);
    assert_int_equal(count_temps(f), 1);
    assert_int_equal(uv_loop_init(&run->loop), 0);
}

/* Pull 'path' from nginx (or 'url' when set) into a new stage. */
static void
run_pull(struct fixture *f, struct run *run, const char *url, const char *sha,
         uint64_t max)
{
    struct etx_pull_sink sink = {sink_write, sink_discard, run};
    struct etx_pull_spec s = {0};
    struct etx_error err = {0};

    s.url = url;
    s.sha256 = sha;
    s.max_size = max;
    s.timeout_ms = 60000;
    run_begin(f, run, sha);
    assert_int_equal(
        etx_pull_start(&run->loop, &s, &sink, done_cb, run, NULL, &err),
        ETX_OK);
    assert_int_equal(uv_run(&run->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(run->calls, 1);
    assert_int_equal(uv_loop_close(&run->loop), 0);
}

static void
run_end(struct run *run)
{
    etx_stage_free(run->stage);
    close(run->dirfd);
}

static struct fixture *
need_nginx(void **state)
{
    struct fixture *f = *state;

    if (!f->nginx_ok)
        fail_msg("%s", f->why);
    return f;
}

static void
test_pull_ok(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {0};
    struct etx_error err = {0};
    char url[128];

    snprintf(url, sizeof(url), "%s/art.bin", f->nginx.base);
    run_pull(f, &run, url, f->art_sha, 16u << 20);
    assert_int_equal(run.res.status, ETX_OK);
    assert_int_equal(run.res.http_status, 200);
    assert_int_equal(run.res.size, ART_SIZE);
    assert_int_equal(run.written, ART_SIZE);
    assert_string_equal(run.res.sha256, f->art_sha);
    assert_int_equal(run.discards, 0);
    assert_int_equal(etx_stage_finish(run.stage, &err), ETX_OK);
    assert_int_equal(etx_stage_verify(run.stage, &err), ETX_OK);
    assert_true(etx_stage_is_verified(run.stage));
    assert_int_equal(count_temps(f), 1);
    run_end(&run);
    assert_int_equal(count_temps(f), 0);
}

static void
test_pull_wrong_digest(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {0};
    char url[128];
    char other[ETX_DIGEST_HEX_LEN + 1];

    snprintf(other, sizeof(other), "%s", f->art_sha);
    other[0] = other[0] == '0' ? '1' : '0';
    snprintf(url, sizeof(url), "%s/art.bin", f->nginx.base);
    run_pull(f, &run, url, other, 16u << 20);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(run.res.err.msg, "digest mismatch"));
    assert_non_null(strstr(run.res.err.msg, f->art_sha));
    assert_int_equal(run.res.size, ART_SIZE);
    assert_int_equal(run.discards, 1);
    assert_int_equal(count_temps(f), 0);
    run_end(&run);
}

static void
test_pull_404(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {0};
    char url[128];

    snprintf(url, sizeof(url), "%s/missing.bin", f->nginx.base);
    run_pull(f, &run, url, f->art_sha, 16u << 20);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.http_status, 404);
    assert_int_equal(run.res.err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(run.res.err.sys_errno, ENOENT);
    assert_non_null(strstr(run.res.err.msg, "HTTP 404"));
    assert_int_equal(run.written, 0); /* nginx's error page stays out */
    assert_int_equal(run.discards, 1);
    assert_int_equal(count_temps(f), 0);
    run_end(&run);
}

/* nginx sends Content-Length: refused before any byte is staged. */
static void
test_pull_oversize(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {0};
    char url[128];

    snprintf(url, sizeof(url), "%s/art.bin", f->nginx.base);
    run_pull(f, &run, url, f->art_sha, ART_SIZE - 1);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_int_equal(run.res.err.sys_errno, EFBIG);
    assert_true(run.written < ART_SIZE);
    assert_int_equal(run.discards, 1);
    assert_int_equal(count_temps(f), 0);
    run_end(&run);
}

/* A one-shot HTTP server in a child: a chunked body of 'chunks' x 16 KiB. */
static pid_t
serve_chunked(unsigned *port, unsigned chunks)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    pid_t pid = 0;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static const char head[] = "HTTP/1.1 200 OK\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n";
        static char chunk[16384 + 16];
        char req[4096];
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        int n = snprintf(chunk, sizeof(chunk), "4000\r\n");

        memset(chunk + n, 'x', 16384);
        memcpy(chunk + n + 16384, "\r\n", 2);
        if (c < 0 || read(c, req, sizeof(req)) <= 0 ||
            write(c, head, sizeof(head) - 1) < 0)
            _exit(1);
        while (chunks-- > 0)
            if (write(c, chunk, (size_t)n + 16384 + 2) < 0)
                _exit(0); /* the client hung up: expected */
        if (write(c, "0\r\n\r\n", 5) < 0)
            _exit(0);
        _exit(0);
    }
    close(lfd);
    return pid;
}

static void
test_pull_oversize_streamed(void **state)
{
    struct fixture *f = *state;
    struct run run = {0};
    unsigned port = 0;
    pid_t pid = serve_chunked(&port, 64); /* 1 MiB */
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/art.bin", port);
    run_pull(f, &run, url, f->art_sha, 100000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_int_equal(run.res.err.sys_errno, EFBIG);
    assert_true(run.written <= 100000);
    assert_int_equal(run.discards, 1);
    assert_int_equal(count_temps(f), 0);
    run_end(&run);
}

static void
test_pull_refused(void **state)
{
    struct fixture *f = *state;
    struct run run = {0};
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/art.bin",
             etx_test_free_port());
    run_pull(f, &run, url, f->art_sha, 1000);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.http_status, 0);
    assert_int_equal(run.res.err.cls, ETX_CLASS_TRANSIENT);
    assert_int_equal(run.res.err.sys_errno, ECONNREFUSED);
    assert_int_equal(run.discards, 1);
    assert_int_equal(count_temps(f), 0);
    run_end(&run);
}

static void
test_pull_stop(void **state)
{
    struct fixture *f = need_nginx(state);
    struct run run = {0};
    struct etx_pull_sink sink = {sink_write, sink_discard, &run};
    struct etx_pull_spec s = {0};
    struct etx_pull *p = NULL;
    struct etx_error err = {0};
    char url[128];

    snprintf(url, sizeof(url), "%s/art.bin", f->nginx.base);
    s.url = url;
    s.sha256 = f->art_sha;
    s.max_size = 16u << 20;
    run_begin(f, &run, f->art_sha);
    assert_int_equal(
        etx_pull_start(&run.loop, &s, &sink, done_cb, &run, &p, &err), ETX_OK);
    etx_pull_stop(p);
    assert_int_equal(uv_run(&run.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(run.calls, 1);
    assert_int_equal(uv_loop_close(&run.loop), 0);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.err.sys_errno, ECANCELED);
    assert_int_equal(run.discards, 1);
    assert_int_equal(count_temps(f), 0);
    run_end(&run);
}

static void
test_pull_start_hostile(void **state)
{
    struct fixture *f = *state;
    uv_loop_t loop;
    struct run run = {0};
    struct etx_pull_sink sink = {sink_write, sink_discard, &run};
    struct etx_pull_spec s = {0};
    struct etx_error err = {0};

    assert_int_equal(uv_loop_init(&loop), 0);
    s.url = "file:///etc/passwd";
    s.sha256 = f->art_sha;
    s.max_size = 1;
    assert_int_equal(
        etx_pull_start(&loop, &s, &sink, done_cb, &run, NULL, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    s.url = "http://127.0.0.1/x";
    s.sha256 = "ABC";
    assert_int_equal(
        etx_pull_start(&loop, &s, &sink, done_cb, &run, NULL, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    s.sha256 = f->art_sha;
    s.max_size = 0;
    assert_int_equal(
        etx_pull_start(&loop, &s, &sink, done_cb, &run, NULL, &err), ETX_ERR);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(run.calls, 0);
    assert_int_equal(run.discards, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull_ok),
        cmocka_unit_test(test_pull_wrong_digest),
        cmocka_unit_test(test_pull_404),
        cmocka_unit_test(test_pull_oversize),
        cmocka_unit_test(test_pull_oversize_streamed),
        cmocka_unit_test(test_pull_refused),
        cmocka_unit_test(test_pull_stop),
        cmocka_unit_test(test_pull_start_hostile),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
