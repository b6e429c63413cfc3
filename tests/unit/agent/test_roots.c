/* SPDX-License-Identifier: MIT */
/*
 * Tests of path resolution beneath the configured roots (agent/roots.h),
 * each run twice: with openat2(RESOLVE_BENEATH) and with the component
 * walk used where the kernel lacks openat2.
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

#include "agent/roots.h"
#include "agent/roots_internal.h"
#include "agent/stage.h"
#include "agent/swap.h"
#include "testlib_engine.h"

struct fx {
    char *dir;   /* scratch */
    char *root;  /* dir/root: the configured root */
    char *other; /* dir/other: outside the root */
    struct etx_roots *roots;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct etx_error err = {0};
    char p[PATH_MAX];
    const char *rv[1];

    assert_non_null(f);
    f->dir = etx_tl_scratch();
    f->root = etx_tl_join(f->dir, "root");
    f->other = etx_tl_join(f->dir, "other");
    assert_int_equal(mkdir(f->root, 0755), 0);
    assert_int_equal(mkdir(f->other, 0755), 0);
    snprintf(p, sizeof(p), "%s/srv", f->root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/srv/bin", f->root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/srv/bin/app", f->root);
    etx_tl_write(p, "v1\n", 3, 0755);
    snprintf(p, sizeof(p), "%s/secret", f->other);
    etx_tl_write(p, "secret\n", 7, 0644);
    snprintf(p, sizeof(p), "%s/srv/link", f->root); /* dir symlink out */
    assert_int_equal(symlink(f->other, p), 0);
    snprintf(p, sizeof(p), "%s/srv/inner", f->root); /* dir symlink in */
    assert_int_equal(symlink("bin", p), 0);
    rv[0] = f->root;
    assert_int_equal(etx_roots_new(rv, 1, &f->roots, &err), ETX_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    etx_roots_free(f->roots);
    etx_tl_rmtree(f->dir);
    free(f->dir);
    free(f->root);
    free(f->other);
    free(f);
    return 0;
}

/* Resolve root/<rel> in both modes; returns the status of the walk. */
static int
resolve(struct fx *f, const char *rel, unsigned flags,
        struct etx_roots_place *pl, struct etx_error *err)
{
    char p[PATH_MAX];
    int rc2, rc1;

    snprintf(p, sizeof(p), "%s/%s", f->root, rel);
    etx_roots_force_walk(f->roots, false);
    rc1 = etx_roots_open_parent(f->roots, p, flags, pl, err);
    if (rc1 == ETX_OK)
        etx_roots_place_close(pl);
    etx_roots_force_walk(f->roots, true);
    rc2 = etx_roots_open_parent(f->roots, p, flags, pl, err);
    assert_int_equal(rc1, rc2); /* both modes agree */
    return rc2;
}

static void
test_roots_open_parent_ok(void **state)
{
    struct fx *f = *state;
    struct etx_roots_place pl;
    struct etx_error err = {0};
    struct stat a, b;
    char p[PATH_MAX];

    assert_int_equal(resolve(f, "srv//bin/app", 0, &pl, &err), ETX_OK);
    assert_string_equal(pl.name, "app");
    assert_int_equal(fstat(pl.dirfd, &a), 0);
    snprintf(p, sizeof(p), "%s/srv/bin", f->root);
    assert_int_equal(stat(p, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    assert_true(fcntl(pl.dirfd, F_GETFD) & FD_CLOEXEC);
    etx_roots_place_close(&pl);
    /* A target that does not exist yet, directly in the root. */
    assert_int_equal(resolve(f, "newfile", 0, &pl, &err), ETX_OK);
    assert_string_equal(pl.name, "newfile");
    etx_roots_place_close(&pl);
}

static void
test_roots_open_parent_outside(void **state)
{
    struct fx *f = *state;
    struct etx_roots_place pl;
    struct etx_error err = {0};
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/secret", f->other);
    assert_int_equal(etx_roots_open_parent(f->roots, p, 0, &pl, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_non_null(strstr(err.msg, "not beneath any configured root"));
    /* The root itself is not a target, nor a path sharing its prefix. */
    assert_int_equal(etx_roots_open_parent(f->roots, f->root, 0, &pl, &err),
                     ETX_ERR);
    snprintf(p, sizeof(p), "%s2/x", f->root);
    assert_int_equal(etx_roots_open_parent(f->roots, p, 0, &pl, &err), ETX_ERR);
    assert_int_equal(etx_roots_open_parent(f->roots, "rel/x", 0, &pl, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
}

static void
test_roots_open_parent_dotdot(void **state)
{
    struct fx *f = *state;
    struct etx_roots_place pl;
    struct etx_error err = {0};

    assert_int_equal(resolve(f, "srv/../../other/secret", 0, &pl, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_non_null(strstr(err.msg, "\"..\""));
    assert_int_equal(resolve(f, "srv/./bin/app", 0, &pl, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
}

static void
test_roots_open_parent_symlinked_dir(void **state)
{
    struct fx *f = *state;
    struct etx_roots_place pl;
    struct etx_error err = {0};

    /* Out of the root and inside it: both refused. */
    assert_int_equal(resolve(f, "srv/link/secret", 0, &pl, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(err.sys_errno, ELOOP);
    assert_non_null(strstr(err.msg, "symlink on the way"));
    assert_int_equal(resolve(f, "srv/inner/app", 0, &pl, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ELOOP);
}

static void
test_roots_open_parent_name_max(void **state)
{
    struct fx *f = *state;
    struct etx_roots_place pl;
    struct etx_error err = {0};
    char name[NAME_MAX + 8];

    memset(name, 'n', NAME_MAX + 1);
    name[NAME_MAX + 1] = '\0';
    assert_int_equal(resolve(f, name, 0, &pl, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(err.sys_errno, ENAMETOOLONG);
    name[NAME_MAX] = '\0';
    assert_int_equal(resolve(f, name, 0, &pl, &err), ETX_OK);
    etx_roots_place_close(&pl);
}

/* MUST 12: a target replaced by a symlink to a file outside is refused. */
static void
test_must12_final_symlink_refused(void **state)
{
    struct fx *f = *state;
    struct etx_roots_place pl;
    struct etx_error err = {0};
    char p[PATH_MAX], secret[PATH_MAX], h0[ETX_DIGEST_HEX_LEN + 1];
    char h1[ETX_DIGEST_HEX_LEN + 1];
    struct etx_stage *s = NULL;
    struct etx_swap_result r;
    int dirfd;

    snprintf(secret, sizeof(secret), "%s/secret", f->other);
    snprintf(p, sizeof(p), "%s/srv/bin/app", f->root);
    etx_tl_sha(secret, h0);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink(secret, p), 0);
    assert_int_equal(resolve(f, "srv/bin/app", 0, &pl, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(err.sys_errno, ELOOP);
    assert_non_null(strstr(err.msg, "symlink"));
    /* Allowed only when asked for; then the swap itself refuses it. */
    assert_int_equal(
        resolve(f, "srv/bin/app", ETX_ROOTS_FINAL_SYMLINK_OK, &pl, &err),
        ETX_OK);
    dirfd = pl.dirfd;
    assert_int_equal(etx_stage_begin(dirfd, "app", NULL, &s, &err), ETX_OK);
    assert_int_equal(etx_stage_write(s, "v2\n", 3, &err), ETX_OK);
    assert_int_equal(etx_stage_finish(s, &err), ETX_OK);
    assert_int_equal(etx_stage_verify(s, &err), ETX_OK);
    assert_int_equal(etx_swap_publish(s, &r, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ELOOP);
    etx_stage_free(s);
    etx_roots_place_close(&pl);
    etx_tl_sha(secret, h1);
    assert_string_equal(h0, h1);
    snprintf(p, sizeof(p), "%s/srv/bin", f->root);
    assert_int_equal(etx_tl_count_temps(p), 0);
}

static void
test_roots_new_longest_root_wins(void **state)
{
    struct fx *f = *state;
    struct etx_roots *r = NULL;
    struct etx_roots_place pl;
    struct etx_error err = {0};
    char inner[PATH_MAX], p[PATH_MAX];
    const char *rv[2];

    snprintf(inner, sizeof(inner), "%s/srv/bin/", f->root);
    rv[0] = f->root;
    rv[1] = inner;
    assert_int_equal(etx_roots_new(rv, 2, &r, &err), ETX_OK);
    snprintf(p, sizeof(p), "%s/srv/bin/app", f->root);
    assert_int_equal(etx_roots_open_parent(r, p, 0, &pl, &err), ETX_OK);
    etx_roots_place_close(&pl);
    etx_roots_free(r);
    rv[0] = "relative/root";
    assert_int_equal(etx_roots_new(rv, 1, &r, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_null(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roots_open_parent_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_roots_open_parent_outside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_roots_open_parent_dotdot, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_roots_open_parent_symlinked_dir,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_roots_open_parent_name_max, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must12_final_symlink_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_roots_new_longest_root_wins, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
