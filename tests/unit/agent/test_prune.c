/* SPDX-License-Identifier: MIT */
/*
 * Tests of pruning (agent/prune.h): the live and previous versions and the
 * newest ones are kept, and so is any version a running process executes
 * or sits in (MUST 17, locally), with the reason reported.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/generations.h"
#include "agent/prune.h"
#include "agent/release.h"
#include "testlib_engine.h"

struct fx {
    char *dir;
    int dirfd;
    pid_t kid;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = etx_tl_scratch();
    f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->dirfd >= 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    etx_tl_kill(f->kid);
    close(f->dirfd);
    etx_tl_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Distinct, ordered modification times: version i is i minutes old. */
static void
age(int dirfd, const char *name, int minutes_old)
{
    struct timespec ts[2];

    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 60 * minutes_old;
    ts[1] = ts[0];
    assert_int_equal(utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static const struct etx_prune_entry *
entry(const struct etx_prune_result *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return &r->v[i];
    fail_msg("no entry %s", name);
    return NULL;
}

static void
publish_gen(struct fx *f, const char *version, const char *src)
{
    struct etx_swap_result r;
    struct etx_error err = {0};
    struct etx_stage *s = NULL;
    int fd = open(src, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(
        etx_generations_stage(f->dirfd, "app", version, NULL, &s, &err),
        ETX_OK);
    assert_int_equal(etx_stage_copy_fd(s, fd, &err), ETX_OK);
    assert_int_equal(etx_stage_finish(s, &err), ETX_OK);
    assert_int_equal(etx_stage_verify(s, &err), ETX_OK);
    assert_int_equal(etx_generations_publish(f->dirfd, "app", s, &r, &err),
                     ETX_OK);
    etx_stage_free(s);
    close(fd);
}

/* MUST 17 (locally): a generation a process executes is never pruned. */
static void
test_must17_prune_keeps_executed_generation(void **state)
{
    struct fx *f = *state;
    char *v1 = etx_tl_bin("etx_prog_v1"), *g1 = etx_tl_join(f->dir, "app-1");
    char *g2 = etx_tl_join(f->dir, "app-2");
    struct etx_prune_opts o = {.keep = 3, .unknown_ok = true};
    struct etx_prune_opts strict = {.keep = 3};
    struct etx_prune_result r;
    struct etx_error err = {0};
    char ver[8], name[16];
    struct stat st;
    int i;

    for (i = 1; i <= 5; i++) {
        snprintf(ver, sizeof(ver), "%d", i);
        snprintf(name, sizeof(name), "app-%d", i);
        publish_gen(f, ver, v1);
        age(f->dirfd, name, 10 - i);
    }
    f->kid = etx_tl_start_loop(g1);
    /* Unreadable processes (e.g. an init out of reach) keep everything. */
    assert_int_equal(etx_prune_generations(f->dirfd, "app", &strict, &r, &err),
                     ETX_OK);
    assert_int_equal(entry(&r, "app-1")->why, ETX_PRUNE_KEPT_HELD);
    assert_int_equal(entry(&r, "app-2")->why, r.n_unknown > 0
                                                  ? ETX_PRUNE_KEPT_UNSURE
                                                  : ETX_PRUNE_REMOVED);
    etx_prune_result_free(&r);
    assert_int_equal(etx_prune_generations(f->dirfd, "app", &o, &r, &err),
                     ETX_OK);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.v[0].name, "app-5"); /* newest first */
    assert_int_equal(entry(&r, "app-5")->why, ETX_PRUNE_KEPT_CURRENT);
    assert_int_equal(entry(&r, "app-4")->why, ETX_PRUNE_KEPT_PREVIOUS);
    assert_int_equal(entry(&r, "app-3")->why, ETX_PRUNE_KEPT_RECENT);
    assert_int_equal(entry(&r, "app-2")->why, ETX_PRUNE_REMOVED);
    assert_int_equal(entry(&r, "app-1")->why, ETX_PRUNE_KEPT_HELD);
    assert_int_equal(entry(&r, "app-1")->pid, f->kid);
    assert_int_equal(entry(&r, "app-1")->rel, ETX_HOLD_EXEC);
    assert_string_equal(etx_prune_why_name(ETX_PRUNE_KEPT_HELD), "held");
    assert_int_equal(stat(g1, &st), 0);
    assert_int_equal(stat(g2, &st), -1);
    etx_prune_result_free(&r);
    /* Once the process is gone, the next pass removes it. */
    etx_tl_kill(f->kid);
    f->kid = 0;
    assert_int_equal(etx_prune_generations(f->dirfd, "app", &o, &r, &err),
                     ETX_OK);
    assert_int_equal(entry(&r, "app-1")->why, ETX_PRUNE_REMOVED);
    assert_int_equal(stat(g1, &st), -1);
    etx_prune_result_free(&r);
    free(v1);
    free(g1);
    free(g2);
}

static void
publish_rel(struct fx *f, const char *id)
{
    char *tar = etx_tl_join(f->dir, "a.tar");
    struct etx_swap_result r;
    struct etx_error err = {0};
    int fd;

    unlink(tar);
    etx_tl_tar(tar, "bin/app", id, strlen(id), 0755);
    fd = open(tar, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(etx_release_publish(f->dirfd, id, fd, NULL, &r, &err),
                     ETX_OK);
    close(fd);
    free(tar);
}

static void
test_prune_releases_keeps_cwd_holder(void **state)
{
    struct fx *f = *state;
    char *r1bin = etx_tl_join(f->dir, "releases/r1/bin");
    char *r2 = etx_tl_join(f->dir, "releases/r2");
    char *r2rec = etx_tl_join(f->dir, "releases/.r2.etxroll-sha256");
    int relfd, go[2];
    struct etx_prune_opts o = {.keep = 2, .unknown_ok = true};
    struct etx_prune_result r;
    struct etx_error err = {0};
    struct stat st;
    char c = 0, name[8];
    int i;

    for (i = 1; i <= 4; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        publish_rel(f, name);
    }
    relfd = openat(f->dirfd, "releases", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (i = 1; i <= 4; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        age(relfd, name, 10 - i);
    }
    close(relfd);
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    f->kid = fork();
    assert_true(f->kid >= 0);
    if (f->kid == 0) {
        c = chdir(r1bin) == 0 ? 'y' : 'n';
        if (write(go[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(go[1]);
    assert_int_equal(read(go[0], &c, 1), 1);
    close(go[0]);
    assert_int_equal(c, 'y');
    assert_int_equal(etx_prune_releases(f->dirfd, &o, &r, &err), ETX_OK);
    assert_int_equal(r.n, 4);
    assert_int_equal(entry(&r, "r4")->why, ETX_PRUNE_KEPT_CURRENT);
    assert_int_equal(entry(&r, "r3")->why, ETX_PRUNE_KEPT_PREVIOUS);
    assert_int_equal(entry(&r, "r2")->why, ETX_PRUNE_REMOVED);
    assert_int_equal(entry(&r, "r1")->why, ETX_PRUNE_KEPT_HELD);
    assert_int_equal(entry(&r, "r1")->rel, ETX_HOLD_CWD);
    assert_int_equal(lstat(r2, &st), -1);
    assert_int_equal(lstat(r2rec, &st), -1);
    assert_int_equal(stat(r1bin, &st), 0);
    etx_prune_result_free(&r);
    free(r1bin);
    free(r2);
    free(r2rec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_must17_prune_keeps_executed_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_releases_keeps_cwd_holder,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
