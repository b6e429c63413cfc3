/* SPDX-License-Identifier: MIT */
/*
 * Tests of the `release-dir` strategy (agent/release.h): tar artifacts
 * unpacked into releases/<id>/, the `current` flip and its rollback, and
 * the refusals (hostile archive, digest mismatch, a changed release id, a
 * `current` that is a real directory), each leaving `current` untouched.
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
#include <unistd.h>

#include "agent/release.h"
#include "agent/roots.h"
#include "testlib_engine.h"

struct fx {
    char *dir; /* the root */
    char *app; /* dir/app: the app directory */
    int appfd;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct etx_roots *roots = NULL;
    struct etx_error err = {0};
    const char *rv[1];

    assert_non_null(f);
    f->dir = etx_tl_scratch();
    f->app = etx_tl_join(f->dir, "app");
    assert_int_equal(mkdir(f->app, 0755), 0);
    rv[0] = f->dir;
    assert_int_equal(etx_roots_new(rv, 1, &roots, &err), ETX_OK);
    assert_int_equal(etx_roots_open_dir(roots, f->app, &f->appfd, &err),
                     ETX_OK);
    etx_roots_free(roots);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    close(f->appfd);
    etx_tl_rmtree(f->dir);
    free(f->dir);
    free(f->app);
    free(f);
    return 0;
}

/* Publish release 'id' from a one-file tar (entry, content). */
static int
publish(struct fx *f, const char *id, const char *entry, const char *content,
        const char *sha, struct etx_swap_result *res, struct etx_error *err)
{
    char *tar = etx_tl_join(f->dir, "artifact.tar");
    struct etx_release_opts o = {.sha256 = sha};
    int fd, rc;

    unlink(tar);
    etx_tl_tar(tar, entry, content, strlen(content), 0755);
    fd = open(tar, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    rc = etx_release_publish(f->appfd, id, fd, &o, res, err);
    close(fd);
    free(tar);
    return rc;
}

static void
assert_current(struct fx *f, const char *want)
{
    char *p = etx_tl_join(f->app, "current"), buf[PATH_MAX];
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);

    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
    free(p);
}

static size_t
release_temps(struct fx *f)
{
    char *p = etx_tl_join(f->app, "releases");
    size_t n = etx_tl_count_temps(p);

    free(p);
    return n;
}

static void
test_release_publish_and_rollback(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r, rb;
    struct etx_error err = {0};
    char *bin = etx_tl_join(f->app, "current/bin/app");
    char *body = NULL;
    size_t len;

    assert_int_equal(publish(f, "r1", "bin/app", "one\n", NULL, &r, &err),
                     ETX_OK);
    assert_string_equal(r.link, "releases/r1");
    assert_true(r.steps & ETX_SWAP_PUBLISHED);
    assert_int_equal(publish(f, "r2", "bin/app", "two\n", NULL, &r, &err),
                     ETX_OK);
    assert_string_equal(r.prev, "releases/r1");
    assert_current(f, "releases/r2");
    body = etx_tl_slurp(bin, &len);
    assert_memory_equal(body, "two\n", 4);
    free(body);
    assert_int_equal(etx_release_rollback(f->appfd, &rb, &err), ETX_OK);
    assert_current(f, "releases/r1");
    assert_int_equal(rb.new.ino, r.old.ino); /* MUST 14 */
    body = etx_tl_slurp(bin, &len);
    assert_memory_equal(body, "one\n", 4);
    free(body);
    /* Re-publishing an unchanged release reuses it. */
    assert_int_equal(publish(f, "r2", "bin/app", "two\n", NULL, &r, &err),
                     ETX_OK);
    assert_true(r.steps & ETX_SWAP_REUSED);
    assert_current(f, "releases/r2");
    assert_int_equal(release_temps(f), 0);
    free(bin);
}

/* Issue test 6: a tar with a ../ entry is refused, nothing changes. */
static void
test_release_publish_hostile_tar(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r;
    struct etx_error err = {0};
    char *evil = etx_tl_join(f->dir, "evil");
    struct stat st;

    assert_int_equal(publish(f, "r1", "bin/app", "one\n", NULL, &r, &err),
                     ETX_OK);
    assert_int_equal(publish(f, "r2", "../../evil", "pwned\n", NULL, &r, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_int_equal(lstat(evil, &st), -1);
    assert_current(f, "releases/r1");
    assert_int_equal(release_temps(f), 0);
    free(evil);
}

static void
test_release_publish_digest_mismatch(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r;
    struct etx_error err = {0};
    char wrong[ETX_DIGEST_HEX_LEN + 1];

    memset(wrong, 'a', ETX_DIGEST_HEX_LEN);
    wrong[ETX_DIGEST_HEX_LEN] = '\0';
    assert_int_equal(publish(f, "r1", "bin/app", "one\n", wrong, &r, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(err.msg, "expected"));
}

static void
test_release_publish_changed_id_refused(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r;
    struct etx_error err = {0};

    assert_int_equal(publish(f, "r1", "bin/app", "one\n", NULL, &r, &err),
                     ETX_OK);
    assert_int_equal(publish(f, "r1", "bin/app", "other\n", NULL, &r, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(err.msg, "immutable"));
    assert_current(f, "releases/r1");
}

/* MUST 13: a `current` that is a real directory is never renamed over. */
static void
test_must13_current_real_dir_refused(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r;
    struct etx_error err = {0};
    char *cur = etx_tl_join(f->app, "current");
    struct stat st;

    assert_int_equal(mkdir(cur, 0755), 0);
    assert_int_equal(publish(f, "r1", "bin/app", "one\n", NULL, &r, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(err.sys_errno, EISDIR);
    assert_int_equal(lstat(cur, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    free(cur);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_release_publish_and_rollback,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_publish_hostile_tar, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_release_publish_digest_mismatch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_publish_changed_id_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must13_current_real_dir_refused,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
