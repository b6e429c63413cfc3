/* SPDX-License-Identifier: MIT */
/*
 * The state directory: which one is chosen, how it is created (0700, no
 * symbolic link as the last component), fleet names. Real directories
 * under a temporary root; /var/lib/etxroll is only computed, never made.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinator/statedir.h"

#include "tests/unit/testutil.h"

struct fixture {
    char root[64];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (etx_test_tmpdir(f->root, sizeof(f->root), "statedir") != 0)
        return -1;
    unsetenv("ETXROLL_STATE_DIR");
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/someone", 1);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    etx_test_rmtree(f->root);
    free(f);
    return 0;
}

static mode_t
mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    return st.st_mode & 07777;
}

static void
test_statedir_resolve_order(void **state)
{
    struct etx_error err = {0};
    char buf[PATH_MAX];

    (void)state;
    assert_int_equal(etx_statedir_resolve(NULL, 1000, buf, sizeof(buf), &err),
                     ETX_OK);
    assert_string_equal(buf, "/home/someone/.local/state/etxroll");
    setenv("XDG_STATE_HOME", "relative/state", 1); /* ignored: not absolute */
    assert_int_equal(etx_statedir_resolve("", 1000, buf, sizeof(buf), &err),
                     ETX_OK);
    assert_string_equal(buf, "/home/someone/.local/state/etxroll");
    setenv("XDG_STATE_HOME", "/xdg/state", 1);
    assert_int_equal(etx_statedir_resolve(NULL, 1000, buf, sizeof(buf), &err),
                     ETX_OK);
    assert_string_equal(buf, "/xdg/state/etxroll");
    assert_int_equal(etx_statedir_resolve(NULL, 0, buf, sizeof(buf), &err),
                     ETX_OK);
    assert_string_equal(buf, "/var/lib/etxroll");
    setenv("ETXROLL_STATE_DIR", "/from/env", 1);
    assert_int_equal(etx_statedir_resolve(NULL, 0, buf, sizeof(buf), &err),
                     ETX_OK);
    assert_string_equal(buf, "/from/env");
    assert_int_equal(
        etx_statedir_resolve("/from/flag", 0, buf, sizeof(buf), &err), ETX_OK);
    assert_string_equal(buf, "/from/flag");
    setenv("ETXROLL_STATE_DIR", "", 1); /* empty counts as unset */
    assert_int_equal(etx_statedir_resolve(NULL, 0, buf, sizeof(buf), &err),
                     ETX_OK);
    assert_string_equal(buf, "/var/lib/etxroll");
}

static void
test_statedir_resolve_empty(void **state)
{
    struct etx_error err = {0};
    char buf[PATH_MAX];

    (void)state;
    unsetenv("HOME");
    assert_int_equal(etx_statedir_resolve(NULL, 1000, buf, sizeof(buf), &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_non_null(strstr(err.msg, "--state-dir"));
}

static void
test_statedir_resolve_oversize(void **state)
{
    struct etx_error err = {0};
    char buf[16];

    (void)state;
    assert_int_equal(etx_statedir_resolve(NULL, 1000, buf, sizeof(buf), &err),
                     ETX_ERR);
    assert_int_equal(err.sys_errno, ENAMETOOLONG);
    assert_int_equal(
        etx_statedir_resolve("/exactly/fifteen", 0, buf, sizeof(buf), &err),
        ETX_ERR);
    assert_int_equal(
        etx_statedir_resolve("/exactly/fiftee", 0, buf, sizeof(buf), &err),
        ETX_OK);
}

static void
test_statedir_ensure_ok(void **state)
{
    struct fixture *f = *state;
    struct etx_error err = {0};
    char path[PATH_MAX], part[PATH_MAX];
    mode_t old = umask(0277); /* would give 0500 without the fchmod */

    snprintf(path, sizeof(path), "%s/a//b/c/", f->root);
    assert_int_equal(etx_statedir_ensure(path, &err), ETX_OK);
    umask(old);
    snprintf(part, sizeof(part), "%s/a", f->root);
    assert_int_equal(mode_of(part), 0700);
    snprintf(part, sizeof(part), "%s/a/b", f->root);
    assert_int_equal(mode_of(part), 0700);
    snprintf(part, sizeof(part), "%s/a/b/c", f->root);
    assert_int_equal(mode_of(part), 0700);
    /* Again: everything exists, nothing changes. */
    assert_int_equal(etx_statedir_ensure(path, &err), ETX_OK);
}

static void
test_statedir_ensure_symlink_last(void **state)
{
    struct fixture *f = *state;
    struct etx_error err = {0};
    char real[PATH_MAX], link_path[PATH_MAX], below[PATH_MAX + 8];

    snprintf(real, sizeof(real), "%s/real", f->root);
    snprintf(link_path, sizeof(link_path), "%s/link", f->root);
    assert_int_equal(mkdir(real, 0700), 0);
    assert_int_equal(symlink(real, link_path), 0);
    assert_int_equal(etx_statedir_ensure(link_path, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ELOOP);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    /* A link earlier in the path is followed (/var may be one). */
    snprintf(below, sizeof(below), "%s/sub", link_path);
    assert_int_equal(etx_statedir_ensure(below, &err), ETX_OK);
    snprintf(below, sizeof(below), "%s/sub", real);
    assert_int_equal(mode_of(below), 0700);
}

static void
test_statedir_ensure_hostile(void **state)
{
    struct fixture *f = *state;
    struct etx_error err = {0};
    char path[PATH_MAX];
    FILE *fp = NULL;

    snprintf(path, sizeof(path), "%s/file", f->root);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(etx_statedir_ensure(path, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENOTDIR);
    snprintf(path, sizeof(path), "%s/file/below", f->root);
    assert_int_equal(etx_statedir_ensure(path, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENOTDIR);
    snprintf(path, sizeof(path), "%s/open", f->root);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(chmod(path, 0770), 0);
    assert_int_equal(etx_statedir_ensure(path, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_non_null(strstr(err.msg, "chmod 0700"));
    assert_int_equal(etx_statedir_ensure("", &err), ETX_ERR);
}

static void
test_statedir_check_name_ok(void **state)
{
    char longest[ETX_STATEDIR_NAME_MAX + 1];

    (void)state;
    memset(longest, 'x', ETX_STATEDIR_NAME_MAX);
    longest[ETX_STATEDIR_NAME_MAX] = '\0';
    assert_int_equal(etx_statedir_check_name("fleet name", "web", NULL), 0);
    assert_int_equal(etx_statedir_check_name("fleet name", "a.B_c-9", NULL), 0);
    assert_int_equal(etx_statedir_check_name("fleet name", longest, NULL), 0);
}

static void
test_statedir_check_name_hostile(void **state)
{
    static const char *const bad[] = {
        "", ".", "..", ".hidden", "a/b", "../x", "a b", "web\n", "wéb", "a*",
    };
    char toolong[ETX_STATEDIR_NAME_MAX + 2];
    struct etx_error err = {0};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(etx_statedir_check_name("fleet name", bad[i], &err),
                         ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
        assert_non_null(strstr(err.msg, "fleet name"));
    }
    assert_int_equal(etx_statedir_check_name("fleet name", NULL, &err),
                     ETX_ERR);
    memset(toolong, 'x', sizeof(toolong) - 1);
    toolong[sizeof(toolong) - 1] = '\0';
    assert_int_equal(etx_statedir_check_name("fleet name", toolong, &err),
                     ETX_ERR);
}

static void
test_statedir_fleet_ensure_ok(void **state)
{
    struct fixture *f = *state;
    struct etx_error err = {0};
    char st[PATH_MAX], buf[PATH_MAX], part[PATH_MAX + 16];

    snprintf(st, sizeof(st), "%s/state", f->root);
    assert_int_equal(
        etx_statedir_fleet_ensure(st, "web", buf, sizeof(buf), &err), ETX_OK);
    snprintf(part, sizeof(part), "%s/web", st);
    assert_string_equal(buf, part);
    assert_int_equal(mode_of(st), 0700);
    assert_int_equal(mode_of(part), 0700);
    snprintf(part, sizeof(part), "%s/web/rollouts", st);
    assert_int_equal(mode_of(part), 0700);
}

static void
test_statedir_fleet_ensure_hostile(void **state)
{
    struct fixture *f = *state;
    struct etx_error err = {0};
    char st[PATH_MAX], buf[PATH_MAX];
    struct stat sb;

    snprintf(st, sizeof(st), "%s/state", f->root);
    assert_int_equal(
        etx_statedir_fleet_ensure(st, "../evil", buf, sizeof(buf), &err),
        ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_int_equal(stat(st, &sb), -1); /* nothing was created */
    assert_int_equal(etx_statedir_fleet_path(st, "web", buf, 8, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENAMETOOLONG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_statedir_resolve_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statedir_resolve_empty, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statedir_resolve_oversize, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statedir_ensure_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statedir_ensure_symlink_last,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_statedir_ensure_hostile, setup,
                                        teardown),
        cmocka_unit_test(test_statedir_check_name_ok),
        cmocka_unit_test(test_statedir_check_name_hostile),
        cmocka_unit_test_setup_teardown(test_statedir_fleet_ensure_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_statedir_fleet_ensure_hostile,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
