/* SPDX-License-Identifier: MIT */
/*
 * Tests of staging (agent/stage.h) and temp naming (agent/tempname.h):
 * streaming, the digest checks before publishing, faults (ENOSPC on a small
 * tmpfs, corruption between write and verify), long names, and that no
 * child process can inherit a staging descriptor.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/stage.h"
#include "agent/swap.h"
#include "agent/tempname.h"
#include "testlib_engine.h"

struct fx {
    char *dir;
    char *mnt; /* tmpfs mounted by a test, or NULL */
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
    if (f->mnt != NULL)
        umount2(f->mnt, MNT_DETACH);
    free(f->mnt);
    etx_tl_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void
digest_of(const void *buf, size_t len, char hex[ETX_DIGEST_HEX_LEN + 1])
{
    struct etx_digest *d = etx_digest_new();

    assert_non_null(d);
    etx_digest_update(d, buf, len);
    etx_digest_final(d, hex);
    etx_digest_free(d);
}

/* True when this process has a descriptor open for writing on 'ino'. */
static bool
have_write_fd(ino_t ino)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e = NULL;
    char p[300], info[256];
    struct stat st;
    bool hit = false;
    FILE *fi = NULL;
    unsigned flags = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
        if (e->d_name[0] == '.' || stat(p, &st) != 0 || st.st_ino != ino)
            continue;
        snprintf(p, sizeof(p), "/proc/self/fdinfo/%s", e->d_name);
        fi = fopen(p, "re");
        while (fi != NULL && fgets(info, sizeof(info), fi) != NULL)
            if (sscanf(info, "flags: %o", &flags) == 1 &&
                (flags & O_ACCMODE) != O_RDONLY)
                hit = true;
        if (fi != NULL)
            fclose(fi);
    }
    closedir(d);
    return hit;
}

static void
test_stage_write_chunks_ok(void **state)
{
    struct fx *f = *state;
    struct etx_stage_opts o = {.mode_set = true, .mode = 0700};
    struct etx_stage *s = NULL;
    struct etx_error err = {0};
    char buf[4096], hex[ETX_DIGEST_HEX_LEN + 1];
    const struct etx_fileinfo *fi = NULL;
    struct etx_digest *d = etx_digest_new();
    char *temp = NULL;
    struct stat st;
    int i;

    assert_int_equal(etx_stage_begin(f->dirfd, "app", &o, &s, &err), ETX_OK);
    assert_true(etx_tempname_is_temp(etx_stage_temp(s)));
    for (i = 0; i < 100; i++) {
        memset(buf, 'a' + i % 26, sizeof(buf));
        etx_digest_update(d, buf, sizeof(buf));
        assert_int_equal(etx_stage_write(s, buf, sizeof(buf), &err), ETX_OK);
    }
    etx_digest_final(d, hex);
    etx_digest_free(d);
    assert_true(have_write_fd(etx_stage_file(s)->ino));
    assert_int_equal(etx_stage_finish(s, &err), ETX_OK);
    assert_false(have_write_fd(etx_stage_file(s)->ino));
    assert_false(etx_stage_is_verified(s));
    assert_int_equal(etx_stage_verify(s, &err), ETX_OK);
    fi = etx_stage_file(s);
    assert_string_equal(fi->sha256, hex);
    assert_int_equal(fi->size, 100 * sizeof(buf));
    assert_int_equal(fi->mode & 07777, 0700);
    temp = etx_tl_join(f->dir, etx_stage_temp(s));
    assert_int_equal(lstat(temp, &st), 0);
    assert_int_equal(st.st_ino, fi->ino);
    /* Not published: freeing removes the temp. */
    etx_stage_free(s);
    assert_int_equal(lstat(temp, &st), -1);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    free(temp);
}

static void
test_stage_finish_digest_mismatch(void **state)
{
    struct fx *f = *state;
    char wrong[ETX_DIGEST_HEX_LEN + 1];
    struct etx_stage_opts o = {.sha256 = wrong};
    struct etx_stage *s = NULL;
    struct etx_error err = {0};

    digest_of("other", 5, wrong);
    assert_int_equal(etx_stage_begin(f->dirfd, "app", &o, &s, &err), ETX_OK);
    assert_int_equal(etx_stage_write(s, "content", 7, &err), ETX_OK);
    assert_int_equal(etx_stage_finish(s, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(err.msg, "expected"));
    assert_non_null(strstr(err.msg, "temp removed"));
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    assert_int_equal(etx_stage_verify(s, &err), ETX_ERR);
    etx_stage_free(s);
}

/* MUST 6: one byte corrupted between write and verify: no publish. */
static void
test_must06_corruption_before_verify(void **state)
{
    struct fx *f = *state;
    char *target = etx_tl_join(f->dir, "app");
    char good[ETX_DIGEST_HEX_LEN + 1], now[ETX_DIGEST_HEX_LEN + 1];
    struct etx_stage_opts o = {.sha256 = good, .meta_from = "app"};
    struct etx_stage *s = NULL;
    struct etx_swap_result r;
    struct etx_error err = {0};
    char *temp = NULL;
    int fd;

    etx_tl_write(target, "live v1\n", 8, 0755);
    digest_of("new v2\n", 7, good);
    assert_int_equal(etx_stage_begin(f->dirfd, "app", &o, &s, &err), ETX_OK);
    assert_int_equal(etx_stage_write(s, "new v2\n", 7, &err), ETX_OK);
    assert_int_equal(etx_stage_finish(s, &err), ETX_OK);
    temp = etx_tl_join(f->dir, etx_stage_temp(s));
    fd = open(temp, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "N", 1, 0), 1);
    close(fd);
    assert_int_equal(etx_stage_verify(s, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(err.msg, "temp removed"));
    assert_int_equal(etx_swap_publish(s, &r, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTERNAL);
    etx_stage_free(s);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    etx_tl_sha(target, now);
    digest_of("live v1\n", 8, good);
    assert_string_equal(now, good);
    free(temp);
    free(target);
}

/* MUST 3 (and issue test 6): a 250-byte target name works end to end. */
static void
test_must03_long_target_name(void **state)
{
    struct fx *f = *state;
    char name[251], tmp[NAME_MAX + 1];
    struct etx_stage *s = NULL;
    struct etx_swap_result r;
    struct etx_error err = {0};
    int round;

    memset(name, 'x', 250);
    name[250] = '\0';
    assert_int_equal(etx_tempname_make(name, tmp, &err), ETX_OK);
    assert_true(strlen(tmp) <= NAME_MAX);
    assert_true(etx_tempname_is_temp(tmp));
    assert_int_equal(etx_tempname_prev(name, tmp, &err), ETX_OK);
    assert_true(strlen(tmp) <= NAME_MAX);
    for (round = 0; round < 2; round++) {
        struct etx_stage_opts o = {.meta_from = name};

        assert_int_equal(etx_stage_begin(f->dirfd, name, &o, &s, &err), ETX_OK);
        assert_int_equal(etx_stage_write(s, round ? "b" : "a", 1, &err),
                         ETX_OK);
        assert_int_equal(etx_stage_finish(s, &err), ETX_OK);
        assert_int_equal(etx_stage_verify(s, &err), ETX_OK);
        assert_int_equal(etx_swap_publish(s, &r, &err), ETX_OK);
        etx_stage_free(s);
    }
    assert_true(r.steps & ETX_SWAP_KEPT_PREV);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
}

static void
test_tempname_shapes(void **state)
{
    struct etx_error err = {0};
    char a[NAME_MAX + 1], b[NAME_MAX + 1];

    (void)state;
    assert_int_equal(etx_tempname_make("app", a, &err), ETX_OK);
    assert_int_equal(etx_tempname_make("app", b, &err), ETX_OK);
    assert_string_not_equal(a, b); /* a collision gets a new name */
    assert_int_equal(strncmp(a, ".app.etxroll.", 13), 0);
    assert_true(etx_tempname_is_temp(a));
    assert_int_equal(etx_tempname_prev("app", a, &err), ETX_OK);
    assert_string_equal(a, ".app.etxroll-prev");
    assert_false(etx_tempname_is_temp(a));
    assert_false(etx_tempname_is_temp("app"));
    assert_false(etx_tempname_is_temp(".app.etxroll.0123456789abcdeG"));
    assert_false(etx_tempname_is_temp("x.app.etxroll.0123456789abcdef"));
    assert_true(etx_tempname_is_temp(".app.etxroll.0123456789abcdef"));
    assert_int_equal(etx_tempname_make("a/b", a, &err), ETX_ERR);
    assert_int_equal(etx_tempname_make("..", a, &err), ETX_ERR);
    assert_int_equal(etx_tempname_make("", a, &err), ETX_ERR);
}

/*
 * MUST 23 (issue test 6): ENOSPC while staging on a small tmpfs: the live
 * target stays byte-identical, no temp is left, class placement.
 */
static void
test_must23_enospc_leaves_target(void **state)
{
    struct fx *f = *state;
    char *target = NULL;
    char h0[ETX_DIGEST_HEX_LEN + 1], h1[ETX_DIGEST_HEX_LEN + 1];
    struct etx_stage_opts o = {.meta_from = "app"};
    struct etx_stage *s = NULL;
    struct etx_error err = {0};
    char *buf = calloc(1, 128 * 1024);
    int dfd, i, rc = ETX_OK;

    f->mnt = etx_tl_join(f->dir, "small");
    assert_int_equal(mkdir(f->mnt, 0755), 0);
    if (mount("tmpfs", f->mnt, "tmpfs", 0, "size=1m") != 0) {
        print_message("cannot mount a tmpfs here (%s): skipped\n",
                      strerror(errno));
        free(f->mnt);
        f->mnt = NULL;
        free(buf);
        skip();
    }
    target = etx_tl_join(f->mnt, "app");
    etx_tl_write(target, buf, 100 * 1024, 0755);
    etx_tl_sha(target, h0);
    dfd = open(f->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    assert_int_equal(etx_stage_begin(dfd, "app", &o, &s, &err), ETX_OK);
    for (i = 0; i < 32 && rc == ETX_OK; i++)
        rc = etx_stage_write(s, buf, 64 * 1024, &err);
    assert_int_equal(rc, ETX_ERR);
    assert_int_equal(err.sys_errno, ENOSPC);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_non_null(strstr(err.msg, "temp removed"));
    etx_stage_free(s);
    close(dfd);
    assert_int_equal(etx_tl_count_temps(f->mnt), 0);
    etx_tl_sha(target, h1);
    assert_string_equal(h0, h1);
    free(target);
    free(buf);
}

/* A thread that forks and execs /bin/true until told to stop. */
struct spawner {
    atomic_bool stop;
    unsigned long spawned;
};

static void *
spawn_loop(void *arg)
{
    struct spawner *sp = arg;
    pid_t pid;

    while (!atomic_load(&sp->stop)) {
        pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        if (pid > 0) {
            waitpid(pid, NULL, 0);
            sp->spawned++;
        }
    }
    return NULL;
}

/* Exec 'path' and return its errno (0: it ran and exited 0). */
static int
exec_errno(const char *path)
{
    int p[2], e = 0, st = 0;
    pid_t pid;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);

        dup2(fd, 1);
        execl(path, path, (char *)NULL);
        e = errno;
        if (write(p[1], &e, sizeof(e)) < 0)
            _exit(126);
        _exit(127);
    }
    close(p[1]);
    if (read(p[0], &e, sizeof(e)) != (ssize_t)sizeof(e))
        e = 0;
    close(p[0]);
    waitpid(pid, &st, 0);
    if (e == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        e = -1;
    return e;
}

/*
 * MUST 10: staging executables while another thread keeps forking children
 * never leaves an inherited write descriptor behind: exec of each staged
 * file right after etx_stage_finish() never fails with ETXTBSY.
 */
static void
test_must10_no_inherited_staging_fd(void **state)
{
    struct fx *f = *state;
    char *v1 = etx_tl_bin("etx_prog_v1");
    struct spawner sp = {.spawned = 0};
    struct etx_error err = {0};
    struct etx_stage *s = NULL;
    pthread_t th;
    char *temp = NULL;
    int i, src, busy = 0, other = 0, e;

    atomic_init(&sp.stop, false);
    assert_int_equal(pthread_create(&th, NULL, spawn_loop, &sp), 0);
    for (i = 0; i < 300; i++) {
        struct etx_stage_opts o = {.mode_set = true, .mode = 0755};

        src = open(v1, O_RDONLY | O_CLOEXEC);
        assert_true(src >= 0);
        assert_int_equal(etx_stage_begin(f->dirfd, "tool", &o, &s, &err),
                         ETX_OK);
        assert_int_equal(etx_stage_copy_fd(s, src, &err), ETX_OK);
        close(src);
        assert_int_equal(etx_stage_finish(s, &err), ETX_OK);
        temp = etx_tl_join(f->dir, etx_stage_temp(s));
        e = exec_errno(temp);
        busy += e == ETXTBSY;
        other += e != 0 && e != ETXTBSY;
        free(temp);
        etx_stage_free(s);
    }
    atomic_store(&sp.stop, true);
    pthread_join(th, NULL);
    print_message("staged 300 executables while %lu children were spawned\n",
                  sp.spawned);
    assert_int_equal(busy, 0);
    assert_int_equal(other, 0);
    free(v1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stage_write_chunks_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stage_finish_digest_mismatch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must06_corruption_before_verify,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must03_long_target_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tempname_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_must23_enospc_leaves_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must10_no_inherited_staging_fd,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
