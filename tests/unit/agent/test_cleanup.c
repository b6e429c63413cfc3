/* SPDX-License-Identifier: MIT */
/*
 * Tests of the cleanup of a dead run's temps (agent/cleanup.h, MUST 23):
 * a stale temp file and a stale release temp directory go; a fresh temp,
 * a stale temp a process holds open, and files that are not temps stay.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/cleanup.h"
#include "testlib_engine.h"

#define STALE   ".app.etxroll.00112233445566aa"
#define FRESH   ".app.etxroll.00112233445566bb"
#define HELD    ".app.etxroll.00112233445566cc"
#define TMPDIR  ".r9.etxroll.00112233445566dd"
#define KEPTOLD ".app.etxroll-prev"

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

static void
make_old(struct fx *f, const char *name)
{
    struct timespec ts[2];

    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 7200;
    ts[1] = ts[0];
    assert_int_equal(utimensat(f->dirfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void
put(struct fx *f, const char *name)
{
    char *p = etx_tl_join(f->dir, name);

    etx_tl_write(p, "partial", 7, 0600);
    free(p);
}

static const struct etx_cleanup_entry *
entry(const struct etx_cleanup_result *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return &r->v[i];
    fail_msg("no entry %s", name);
    return NULL;
}

static bool
exists(struct fx *f, const char *name)
{
    struct stat st;

    return fstatat(f->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Start a child holding 'name' open read-only. */
static void
hold(struct fx *f, const char *name)
{
    int go[2];
    char c = 0;

    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    f->kid = fork();
    assert_true(f->kid >= 0);
    if (f->kid == 0) {
        c = openat(f->dirfd, name, O_RDONLY) >= 0 ? 'y' : 'n';
        if (write(go[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(go[1]);
    assert_int_equal(read(go[0], &c, 1), 1);
    close(go[0]);
    assert_int_equal(c, 'y');
}

static void
test_must23_cleanup_stale_temps(void **state)
{
    struct fx *f = *state;
    struct etx_cleanup_opts o = {.max_age_s = 3600, .unknown_ok = true};
    struct etx_cleanup_result r;
    struct etx_error err = {0};
    char *sub = etx_tl_join(f->dir, TMPDIR "/bin");

    put(f, STALE);
    put(f, FRESH);
    put(f, HELD);
    put(f, KEPTOLD);
    put(f, "app");
    assert_int_equal(mkdirat(f->dirfd, TMPDIR, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    free(sub);
    put(f, TMPDIR "/bin/app");
    make_old(f, STALE);
    make_old(f, HELD);
    make_old(f, KEPTOLD);
    make_old(f, "app");
    make_old(f, TMPDIR);
    hold(f, HELD);

    assert_int_equal(etx_cleanup_dir(f->dirfd, &o, &r, &err), ETX_OK);
    assert_int_equal(r.n, 4);
    assert_int_equal(entry(&r, STALE)->why, ETX_CLEANUP_REMOVED);
    assert_int_equal(entry(&r, FRESH)->why, ETX_CLEANUP_KEPT_FRESH);
    assert_int_equal(entry(&r, HELD)->why, ETX_CLEANUP_KEPT_HELD);
    assert_int_equal(entry(&r, HELD)->pid, f->kid);
    assert_int_equal(entry(&r, HELD)->rel, ETX_HOLD_FD_R);
    assert_int_equal(entry(&r, TMPDIR)->why, ETX_CLEANUP_REMOVED);
    assert_true(entry(&r, TMPDIR)->is_dir);
    assert_string_equal(etx_cleanup_why_name(ETX_CLEANUP_KEPT_FRESH), "fresh");
    etx_cleanup_result_free(&r);
    assert_false(exists(f, STALE));
    assert_false(exists(f, TMPDIR));
    assert_true(exists(f, FRESH));
    assert_true(exists(f, HELD));
    assert_true(exists(f, KEPTOLD));
    assert_true(exists(f, "app"));
}

/* Without unknown_ok, an uninspectable process keeps everything. */
static void
test_cleanup_dir_unsure_keeps(void **state)
{
    struct fx *f = *state;
    struct etx_cleanup_opts o = {.max_age_s = 3600};
    struct etx_cleanup_result r;
    struct etx_error err = {0};

    put(f, STALE);
    make_old(f, STALE);
    assert_int_equal(etx_cleanup_dir(f->dirfd, &o, &r, &err), ETX_OK);
    assert_int_equal(r.n, 1);
    if (r.n_unknown > 0) {
        assert_int_equal(r.v[0].why, ETX_CLEANUP_KEPT_UNSURE);
        assert_true(exists(f, STALE));
    } else {
        assert_int_equal(r.v[0].why, ETX_CLEANUP_REMOVED);
        assert_false(exists(f, STALE));
    }
    etx_cleanup_result_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_must23_cleanup_stale_temps, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_dir_unsure_keeps, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
