/* SPDX-License-Identifier: MIT */
/*
 * Torture (issue test 2, MUST 7 and 13): while two processes exec the
 * target in a tight loop, each checking that it ran a whole v1 or v2, the
 * engine switches the target at least 500 times, alternating v1 and v2: no
 * exec may fail, no swap may fail, no run may see a partial file. The same
 * for a `generations` symlink and a `release-dir` `current` symlink, where
 * the readers also readlink the symlink before each exec.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/generations.h"
#include "agent/release.h"
#include "agent/stage.h"
#include "agent/swap.h"
#include "testlib_engine.h"

#define SWAPS   500
#define READERS 2

/* What one reader saw; sent back through a pipe when it stops. */
struct tally {
    unsigned long runs;
    unsigned long v1, v2;
    unsigned long fails;    /* exec failed, bad exit or bad output */
    unsigned long badlinks; /* readlink failed or gave an unknown target */
    int last_errno;
    char last_out[64];
};

struct reader {
    pid_t pid;
    int stop_w;   /* closed by the test: stop */
    int result_r; /* the reader's tally */
};

struct fx {
    char *dir;
    char *v1, *v2;
    int dirfd;
    struct reader rd[READERS];
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = etx_tl_scratch();
    f->v1 = etx_tl_bin("etx_prog_v1");
    f->v2 = etx_tl_bin("etx_prog_v2");
    f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->dirfd >= 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    size_t i;

    for (i = 0; i < READERS; i++)
        etx_tl_kill(f->rd[i].pid);
    close(f->dirfd);
    etx_tl_rmtree(f->dir);
    free(f->dir);
    free(f->v1);
    free(f->v2);
    free(f);
    return 0;
}

/* Exec 'path' once; account the outcome in 't'. */
static void
run_once(const char *path, struct tally *t)
{
    int p[2], st = 0;
    char out[64];
    ssize_t n, got = 0;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) != 0)
        _exit(3);
    pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        execl(path, path, (char *)NULL);
        dprintf(2, "exec %s: %s\n", path, strerror(errno));
        _exit(errno == ETXTBSY ? 126 : 127);
    }
    close(p[1]);
    while (got < (ssize_t)sizeof(out) - 1 &&
           (n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
        got += n;
    out[got] = '\0';
    close(p[0]);
    waitpid(pid, &st, 0);
    t->runs++;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
        strcmp(out, "etxroll-prog v1\n") == 0)
        t->v1++;
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
             strcmp(out, "etxroll-prog v2\n") == 0)
        t->v2++;
    else {
        t->fails++;
        t->last_errno = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        snprintf(t->last_out, sizeof(t->last_out), "%s", out);
    }
}

/* readlink 'link' must give one of the two allowed targets. */
static void
check_link(const char *link, const char *const ok[2], struct tally *t)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(link, buf, sizeof(buf) - 1);

    if (n < 0) {
        t->badlinks++;
        return;
    }
    buf[n] = '\0';
    if (strcmp(buf, ok[0]) != 0 && strcmp(buf, ok[1]) != 0)
        t->badlinks++;
}

/*
 * In a reader: close every descriptor but stdio and its own two, so that
 * it holds no end of another reader's stop pipe (which would keep that
 * reader from ever seeing its pipe closed).
 */
static void
close_others(int keep1, int keep2)
{
    int fd;

    for (fd = 3; fd < 1024; fd++)
        if (fd != keep1 && fd != keep2)
            close(fd);
}

/*
 * Start a reader that execs 'path' (and readlinks 'link' first when not
 * NULL) until the test closes its stop pipe. Returns once it ran once.
 */
static void
start_reader(struct reader *r, const char *path, const char *link,
             const char *const ok[2])
{
    int stop[2], res[2];
    struct tally t;
    struct pollfd pfd;
    char c = 'r';

    assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
    assert_int_equal(pipe2(res, O_CLOEXEC), 0);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        close_others(stop[0], res[1]);
        memset(&t, 0, sizeof(t));
        pfd.fd = stop[0];
        pfd.events = POLLIN;
        do {
            if (link != NULL)
                check_link(link, ok, &t);
            run_once(path, &t);
            if (t.runs == 1 && write(res[1], &c, 1) != 1)
                _exit(4);
        } while (poll(&pfd, 1, 0) == 0);
        _exit(write(res[1], &t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 5);
    }
    close(stop[0]);
    close(res[1]);
    r->stop_w = stop[1];
    r->result_r = res[0];
    assert_int_equal(read(r->result_r, &c, 1), 1);
}

static void
stop_reader(struct reader *r, struct tally *t)
{
    int st = 0;

    close(r->stop_w);
    assert_int_equal(read(r->result_r, t, sizeof(*t)), (ssize_t)sizeof(*t));
    close(r->result_r);
    assert_int_equal(waitpid(r->pid, &st, 0), r->pid);
    r->pid = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
stop_and_check(struct fx *f, const char *what)
{
    struct tally t;
    size_t i;

    for (i = 0; i < READERS; i++) {
        stop_reader(&f->rd[i], &t);
        print_message("%s reader %zu: %lu runs, v1 %lu, v2 %lu, %lu failed "
                      "(last status %d, output \"%s\"), %lu bad links\n",
                      what, i, t.runs, t.v1, t.v2, t.fails, t.last_errno,
                      t.last_out, t.badlinks);
        assert_true(t.runs >= 1);
        assert_int_equal(t.fails, 0);
        assert_int_equal(t.badlinks, 0);
        assert_int_equal(t.v1 + t.v2, t.runs);
    }
}

static int
publish_file(int dirfd, const char *name, const char *src,
             struct etx_error *err)
{
    struct etx_stage_opts o = {.meta_from = name};
    struct etx_swap_result r;
    struct etx_stage *s = NULL;
    int fd = open(src, O_RDONLY | O_CLOEXEC), rc = ETX_ERR;

    assert_true(fd >= 0);
    if (etx_stage_begin(dirfd, name, &o, &s, err) == ETX_OK &&
        etx_stage_copy_fd(s, fd, err) == ETX_OK &&
        etx_stage_finish(s, err) == ETX_OK &&
        etx_stage_verify(s, err) == ETX_OK)
        rc = etx_swap_publish(s, &r, err);
    etx_stage_free(s);
    close(fd);
    return rc;
}

static void
test_must07_concurrent_exec_during_swaps(void **state)
{
    struct fx *f = *state;
    char *target = etx_tl_join(f->dir, "app");
    struct etx_error err = {0};
    char buf[600];
    int i, failed = 0;
    size_t k;

    etx_tl_copy(f->v1, target, 0755);
    for (k = 0; k < READERS; k++)
        start_reader(&f->rd[k], target, NULL, NULL);
    for (i = 0; i < SWAPS; i++) {
        if (publish_file(f->dirfd, "app", i % 2 ? f->v1 : f->v2, &err) !=
            ETX_OK) {
            print_message("swap %d: %s\n", i,
                          etx_error_format(&err, buf, sizeof(buf)));
            failed++;
        }
    }
    stop_and_check(f, "rename");
    assert_int_equal(failed, 0);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    free(target);
}

static int
publish_gen(int dirfd, const char *version, const char *src,
            struct etx_error *err)
{
    struct etx_swap_result r;
    struct etx_stage *s = NULL;
    int fd = open(src, O_RDONLY | O_CLOEXEC), rc = ETX_ERR;

    assert_true(fd >= 0);
    if (etx_generations_stage(dirfd, "app", version, NULL, &s, err) == ETX_OK &&
        etx_stage_copy_fd(s, fd, err) == ETX_OK &&
        etx_stage_finish(s, err) == ETX_OK &&
        etx_stage_verify(s, err) == ETX_OK)
        rc = etx_generations_publish(dirfd, "app", s, &r, err);
    etx_stage_free(s);
    close(fd);
    return rc;
}

/* MUST 13: the generations symlink flipped under concurrent exec. */
static void
test_must13_generations_flips_under_exec(void **state)
{
    struct fx *f = *state;
    char *link = etx_tl_join(f->dir, "app");
    const char *const ok[2] = {"app-1", "app-2"};
    struct etx_error err = {0};
    char buf[600];
    int i, failed = 0;
    size_t k;

    assert_int_equal(publish_gen(f->dirfd, "2", f->v2, &err), ETX_OK);
    assert_int_equal(publish_gen(f->dirfd, "1", f->v1, &err), ETX_OK);
    for (k = 0; k < READERS; k++)
        start_reader(&f->rd[k], link, link, ok);
    for (i = 0; i < SWAPS; i++) {
        if (publish_gen(f->dirfd, i % 2 ? "1" : "2", i % 2 ? f->v1 : f->v2,
                        &err) != ETX_OK) {
            print_message("flip %d: %s\n", i,
                          etx_error_format(&err, buf, sizeof(buf)));
            failed++;
        }
    }
    stop_and_check(f, "generations");
    assert_int_equal(failed, 0);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    free(link);
}

static int
publish_rel(int appfd, const char *id, const char *tar, struct etx_error *err)
{
    struct etx_swap_result r;
    int fd = open(tar, O_RDONLY | O_CLOEXEC), rc;

    assert_true(fd >= 0);
    rc = etx_release_publish(appfd, id, fd, NULL, &r, err);
    close(fd);
    return rc;
}

/* MUST 13: the release-dir `current` flipped under concurrent exec. */
static void
test_must13_release_current_flips_under_exec(void **state)
{
    struct fx *f = *state;
    char *t1 = etx_tl_join(f->dir, "r1.tar"),
         *t2 = etx_tl_join(f->dir, "r2.tar");
    char *cur = etx_tl_join(f->dir, "current");
    char *bin = etx_tl_join(f->dir, "current/bin/app");
    const char *const ok[2] = {"releases/r1", "releases/r2"};
    struct etx_error err = {0};
    char buf[600];
    void *body = NULL;
    size_t len;
    int i, failed = 0;
    size_t k;

    body = etx_tl_slurp(f->v1, &len);
    etx_tl_tar(t1, "bin/app", body, len, 0755);
    free(body);
    body = etx_tl_slurp(f->v2, &len);
    etx_tl_tar(t2, "bin/app", body, len, 0755);
    free(body);
    assert_int_equal(publish_rel(f->dirfd, "r2", t2, &err), ETX_OK);
    assert_int_equal(publish_rel(f->dirfd, "r1", t1, &err), ETX_OK);
    for (k = 0; k < READERS; k++)
        start_reader(&f->rd[k], bin, cur, ok);
    for (i = 0; i < SWAPS; i++) {
        if (publish_rel(f->dirfd, i % 2 ? "r1" : "r2", i % 2 ? t1 : t2, &err) !=
            ETX_OK) {
            print_message("flip %d: %s\n", i,
                          etx_error_format(&err, buf, sizeof(buf)));
            failed++;
        }
    }
    stop_and_check(f, "release-dir");
    assert_int_equal(failed, 0);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    free(t1);
    free(t2);
    free(cur);
    free(bin);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_must07_concurrent_exec_during_swaps, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_must13_generations_flips_under_exec, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_must13_release_current_flips_under_exec, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
