/* SPDX-License-Identifier: MIT */
/*
 * Tests of the `generations` strategy (agent/generations.h) and of the
 * symlink flip under it (agent/symflip.h), with real files.
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

#include "agent/generations.h"
#include "testlib_engine.h"

struct fx {
    char *dir;
    int dirfd;
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

    close(f->dirfd);
    etx_tl_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int
publish(struct fx *f, const char *version, const char *content,
        struct etx_swap_result *res, struct etx_error *err)
{
    struct etx_stage_opts o = {.mode_set = true, .mode = 0755};
    struct etx_stage *s = NULL;
    int rc = ETX_ERR;

    if (etx_generations_stage(f->dirfd, "app", version, &o, &s, err) ==
            ETX_OK &&
        etx_stage_write(s, content, strlen(content), err) == ETX_OK &&
        etx_stage_finish(s, err) == ETX_OK &&
        etx_stage_verify(s, err) == ETX_OK)
        rc = etx_generations_publish(f->dirfd, "app", s, res, err);
    etx_stage_free(s);
    return rc;
}

static void
assert_link(struct fx *f, const char *name, const char *want)
{
    char *p = etx_tl_join(f->dir, name), buf[PATH_MAX];
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);

    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
    free(p);
}

static void
test_generations_publish_ok(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r;
    struct etx_error err = {0};
    char *app = etx_tl_join(f->dir, "app"), *g1 = etx_tl_join(f->dir, "app-1");
    size_t len;
    char *body = NULL;

    assert_int_equal(publish(f, "1", "one\n", &r, &err), ETX_OK);
    assert_false(r.old.exists);
    assert_string_equal(r.prev, "");
    assert_string_equal(r.link, "app-1");
    assert_true(r.steps & ETX_SWAP_PUBLISHED);
    assert_link(f, "app", "app-1");
    body = etx_tl_slurp(app, &len);
    assert_memory_equal(body, "one\n", 4);
    free(body);
    assert_int_equal(publish(f, "2", "two\n", &r, &err), ETX_OK);
    assert_string_equal(r.prev, "app-1");
    assert_int_equal(r.old.ino, etx_tl_ino(g1));
    assert_link(f, "app", "app-2");
    assert_link(f, ".app.etxroll-prev", "app-1");
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    free(app);
    free(g1);
}

/* An existing generation: reused when identical, refused when not. */
static void
test_generations_publish_existing(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r;
    struct etx_error err = {0};

    assert_int_equal(publish(f, "1", "one\n", &r, &err), ETX_OK);
    assert_int_equal(publish(f, "2", "two\n", &r, &err), ETX_OK);
    assert_int_equal(publish(f, "1", "one\n", &r, &err), ETX_OK);
    assert_true(r.steps & ETX_SWAP_REUSED);
    assert_true(r.steps & ETX_SWAP_RENAMED);
    assert_link(f, "app", "app-1");
    assert_int_equal(publish(f, "1", "one\n", &r, &err), ETX_OK);
    assert_true(r.steps & ETX_SWAP_NOOP);
    assert_int_equal(publish(f, "2", "tampered\n", &r, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(err.msg, "immutable"));
    assert_link(f, "app", "app-1");
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
}

/* MUST 14 for generations: rollback re-publishes the previous inode. */
static void
test_must14_generations_rollback(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r, rb;
    struct etx_error err = {0};
    char *app = etx_tl_join(f->dir, "app");
    struct stat st;

    assert_int_equal(publish(f, "1", "one\n", &r, &err), ETX_OK);
    assert_int_equal(etx_generations_rollback(f->dirfd, "app", &rb, &err),
                     ETX_ERR); /* nothing recorded yet */
    assert_int_equal(publish(f, "2", "two\n", &r, &err), ETX_OK);
    assert_int_equal(etx_generations_rollback(f->dirfd, "app", &rb, &err),
                     ETX_OK);
    assert_string_equal(rb.prev, "app-2");
    assert_string_equal(rb.link, "app-1");
    assert_true(rb.steps & ETX_SWAP_RENAMED);
    assert_link(f, "app", "app-1");
    assert_int_equal(stat(app, &st), 0);
    assert_int_equal(st.st_ino, r.old.ino);
    assert_int_equal(rb.new.ino, r.old.ino);
    assert_int_equal(etx_generations_rollback(f->dirfd, "app", &rb, &err),
                     ETX_OK);
    assert_true(rb.steps & ETX_SWAP_NOOP);
    free(app);
}

static void
test_generations_publish_refuses_regular_file(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r;
    struct etx_error err = {0};
    char *app = etx_tl_join(f->dir, "app");

    etx_tl_write(app, "plain\n", 6, 0755);
    assert_int_equal(publish(f, "1", "one\n", &r, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_non_null(strstr(err.msg, "not a symlink"));
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    free(app);
}

static void
test_generations_file_names(void **state)
{
    char out[NAME_MAX + 1], big[NAME_MAX];
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(etx_generations_file("app", "1.2.3", out, &err), ETX_OK);
    assert_string_equal(out, "app-1.2.3");
    assert_int_equal(etx_generations_file("app", "../x", out, &err), ETX_ERR);
    assert_int_equal(etx_generations_file("app", ".x", out, &err), ETX_ERR);
    assert_int_equal(etx_generations_file("app", "", out, &err), ETX_ERR);
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(etx_generations_file("app", big, out, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENAMETOOLONG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generations_publish_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_generations_publish_existing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must14_generations_rollback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_generations_publish_refuses_regular_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generations_file_names, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
