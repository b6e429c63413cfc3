/* SPDX-License-Identifier: MIT */
/*
 * Tests of the `rename` strategy (agent/swap.h) with real files and real
 * running processes: the ETXTBSY hazard, publish and rollback with their
 * metadata, the kept previous version, faults injected into a child that
 * runs the engine (etx_engine_driver + shim_engine.so), the bind-mount and
 * NFS placement errors, and the post-swap exec check. Test names carry the
 * number of the MUST requirement they show
 * (../shared/reference/etxtbsy-correctness.md §7).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/place.h"
#include "agent/stage.h"
#include "agent/swap.h"
#include "testlib_engine.h"

struct fx {
    char *dir;    /* scratch dir, also the root */
    char *target; /* dir/app */
    char *v1;     /* built helper programs */
    char *v2;
    int dirfd;
    pid_t kid;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = etx_tl_scratch();
    f->target = etx_tl_join(f->dir, "app");
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

    etx_tl_kill(f->kid);
    close(f->dirfd);
    etx_tl_rmtree(f->dir);
    free(f->dir);
    free(f->target);
    free(f->v1);
    free(f->v2);
    free(f);
    return 0;
}

/* Stage 'src' for 'name' (metadata from the live file) and publish. */
static int
publish(int dirfd, const char *name, const char *src,
        const struct etx_stage_opts *o, struct etx_swap_result *res,
        struct etx_error *err)
{
    struct etx_stage_opts def = {.meta_from = name};
    struct etx_stage *s = NULL;
    int fd = open(src, O_RDONLY | O_CLOEXEC), rc = ETX_ERR;

    assert_true(fd >= 0);
    if (etx_stage_begin(dirfd, name, o != NULL ? o : &def, &s, err) == ETX_OK &&
        etx_stage_copy_fd(s, fd, err) == ETX_OK &&
        etx_stage_finish(s, err) == ETX_OK &&
        etx_stage_verify(s, err) == ETX_OK)
        rc = etx_swap_publish(s, res, err);
    etx_stage_free(s);
    close(fd);
    return rc;
}

/* Run the driver with 'mode' for the shim (NULL: no shim). */
static int
drive(struct fx *f, const char *mode, const char *out_file, char *const *args,
      char *out, size_t len)
{
    char *shim = etx_tl_bin("etx_engine_shim.so");
    char *drv = etx_tl_bin("etx_engine_driver");
    char *argv[8] = {drv};
    char *env[5] = {NULL};
    char *e_pre = NULL, *e_mode = NULL, *e_out = NULL;
    int i, st, n = 0;

    for (i = 0; args[i] != NULL && i < 6; i++)
        argv[i + 1] = args[i];
    if (mode != NULL) {
        assert_true(asprintf(&e_pre, "LD_PRELOAD=%s", shim) > 0);
        assert_true(asprintf(&e_mode, "ETX_SHIM_MODE=%s", mode) > 0);
        assert_true(asprintf(&e_out, "ETX_SHIM_OUT=%s",
                             out_file ? out_file : "/dev/null") > 0);
        env[n++] = e_pre;
        env[n++] = e_mode;
        env[n++] = e_out;
        /* The driver may be an ASan build: let the shim come first. */
        env[n++] = "ASAN_OPTIONS=verify_asan_link_order=0";
    }
    (void)f;
    st = etx_tl_run(argv, env, out, len);
    free(e_pre);
    free(e_mode);
    free(e_out);
    free(shim);
    free(drv);
    return st;
}

static void
assert_same_file(const char *a, const char *b)
{
    char ha[ETX_DIGEST_HEX_LEN + 1], hb[ETX_DIGEST_HEX_LEN + 1];

    etx_tl_sha(a, ha);
    etx_tl_sha(b, hb);
    assert_string_equal(ha, hb);
}

static void
test_swap_publish_ok(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r1, r2;
    struct etx_error err = {0};
    char *prev = etx_tl_join(f->dir, ".app.etxroll-prev");
    struct stat st;

    assert_int_equal(publish(f->dirfd, "app", f->v1, NULL, &r1, &err), ETX_OK);
    assert_false(r1.old.exists);
    assert_int_equal(lstat(f->target, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(st.st_ino, r1.new.ino);
    assert_same_file(f->target, f->v1);
    assert_int_equal(publish(f->dirfd, "app", f->v2, NULL, &r2, &err), ETX_OK);
    assert_true(r2.old.exists);
    assert_int_equal(r2.old.ino, r1.new.ino);
    assert_string_equal(r2.old.sha256, r1.new.sha256);
    assert_true(r2.steps & ETX_SWAP_KEPT_PREV);
    assert_true(r2.steps & ETX_SWAP_DIR_SYNCED);
    assert_true(r2.steps & ETX_SWAP_VERIFIED);
    assert_int_equal(etx_tl_ino(prev), r1.new.ino);
    assert_same_file(f->target, f->v2);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    free(prev);
}

/*
 * Issue test 1: the hazard is real here (an in-place write of a running
 * binary fails with ETXTBSY), and the engine's swap, run under a shim that
 * counts write-mode opens and truncates, succeeds without any.
 */
static void
test_must01_02_running_binary_never_written(void **state)
{
    struct fx *f = *state;
    char *out_file = etx_tl_join(f->dir, "shim.out");
    char *args[] = {"swap", f->dir, f->target, f->v2, NULL};
    char out[1024], report[4096], exe[64], link[512];
    ssize_t n;
    int fd, st;

    etx_tl_copy(f->v1, f->target, 0755);
    f->kid = etx_tl_start_loop(f->target);
    fd = open(f->target, O_WRONLY | O_CLOEXEC);
    assert_int_equal(fd, -1);
    assert_int_equal(errno, ETXTBSY);

    st = drive(f, "count", out_file, args, out, sizeof(out));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(out, "ok steps="));
    fd = open(out_file, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    n = read(fd, report, sizeof(report) - 1);
    assert_true(n > 0);
    report[n] = '\0';
    close(fd);
    assert_non_null(strstr(report, "exe_writes=0 nontemp_writes=0 "
                                   "truncates=0\n"));

    assert_int_equal(kill(f->kid, 0), 0);
    assert_int_equal(waitpid(f->kid, NULL, WNOHANG), 0);
    snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)f->kid);
    n = readlink(exe, link, sizeof(link) - 1);
    assert_true(n > 0);
    link[n] = '\0';
    assert_non_null(strstr(link, " (deleted)"));
    assert_same_file(f->target, f->v2);
    free(out_file);
}

/* Issue test 3: metadata carried over and restored by a rollback. */
static void
prepare_rich_v1(struct fx *f)
{
    char *setcap[] = {"/usr/sbin/setcap", "cap_net_bind_service=+ep", f->target,
                      NULL};
    char out[512];

    if (!etx_tl_have("setcap"))
        skip();
    etx_tl_copy(f->v1, f->target, 0755);
    assert_int_equal(chown(f->target, 1, 1), 0);
    assert_int_equal(chmod(f->target, 04755), 0);
    assert_int_equal(setxattr(f->target, "user.release", "r42", 3, 0), 0);
    assert_int_equal(etx_tl_run(setcap, NULL, out, sizeof(out)), 0);
}

static void
assert_rich(const char *path)
{
    char *getcap[] = {"/usr/sbin/getcap", (char *)path, NULL};
    char out[512], val[16];
    struct stat st;
    ssize_t n;

    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(st.st_uid, 1);
    assert_int_equal(st.st_gid, 1);
    n = getxattr(path, "user.release", val, sizeof(val));
    assert_int_equal(n, 3);
    assert_memory_equal(val, "r42", 3);
    assert_int_equal(etx_tl_run(getcap, NULL, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "cap_net_bind_service=ep"));
}

static void
test_must04_14_rollback_restores_metadata(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r, rb;
    struct etx_error err = {0};
    char h1[ETX_DIGEST_HEX_LEN + 1];
    ino_t ino1;

    prepare_rich_v1(f);
    etx_tl_sha(f->target, h1);
    ino1 = etx_tl_ino(f->target);
    assert_int_equal(publish(f->dirfd, "app", f->v2, NULL, &r, &err), ETX_OK);
    assert_rich(f->target); /* MUST 4: kept across the swap */
    assert_same_file(f->target, f->v2);
    assert_int_equal(r.new.mode & 07777, 04755);

    assert_int_equal(etx_swap_rollback(f->dirfd, "app", &rb, &err), ETX_OK);
    assert_true(rb.steps & ETX_SWAP_RENAMED);
    assert_int_equal(etx_tl_ino(f->target), ino1); /* MUST 14 */
    assert_int_equal(rb.new.ino, ino1);
    assert_string_equal(rb.new.sha256, h1);
    assert_rich(f->target);
    assert_int_equal(rb.old.ino, r.new.ino);

    /* Again: a no-op that still checks. */
    assert_int_equal(etx_swap_rollback(f->dirfd, "app", &rb, &err), ETX_OK);
    assert_true(rb.steps & ETX_SWAP_NOOP);
    assert_int_equal(etx_tl_ino(f->target), ino1);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
}

/* Explicit metadata wins over the previous version's. */
static void
test_swap_publish_explicit_meta(void **state)
{
    struct fx *f = *state;
    static const unsigned char cap[] = {
        0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    struct etx_stage_xattr xa[] = {{"security.capability", cap, sizeof(cap)},
                                   {"user.release", "r43", 3}};
    struct etx_stage_opts o = {.meta_from = "app",
                               .mode_set = true,
                               .mode = 0750,
                               .owner_set = true,
                               .uid = 2,
                               .gid = 3,
                               .xattrs = xa,
                               .n_xattrs = 2};
    struct etx_swap_result r;
    struct etx_error err = {0};
    char val[32];
    struct stat st;

    etx_tl_copy(f->v1, f->target, 0755);
    assert_int_equal(publish(f->dirfd, "app", f->v2, &o, &r, &err), ETX_OK);
    assert_int_equal(lstat(f->target, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_uid, 2);
    assert_int_equal(st.st_gid, 3);
    assert_int_equal(getxattr(f->target, "user.release", val, sizeof(val)), 3);
    assert_memory_equal(val, "r43", 3);
    assert_int_equal(
        getxattr(f->target, "security.capability", val, sizeof(val)),
        (ssize_t)sizeof(cap));
}

/* MUST 5: an fsync EIO on the temp: no rename, temp removed, reported. */
static void
test_must05_fsync_eio_discards_temp(void **state)
{
    struct fx *f = *state;
    char *args[] = {"swap", f->dir, f->target, f->v2, NULL};
    char out[1024];
    int st;
    ino_t ino;

    etx_tl_copy(f->v1, f->target, 0755);
    ino = etx_tl_ino(f->target);
    st = drive(f, "fsync_eio", NULL, args, out, sizeof(out));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_non_null(strstr(out, "cannot flush the temp"));
    assert_non_null(strstr(out, "temp removed"));
    assert_non_null(strstr(out, "EIO"));
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    assert_int_equal(etx_tl_ino(f->target), ino);
    assert_same_file(f->target, f->v1);
}

/* MUST 8: strace shows fsync(dir) after the rename, before "ok". */
static void
test_must08_dir_fsync_after_rename(void **state)
{
    struct fx *f = *state;
    char *log = etx_tl_join(f->dir, "strace.log");
    char *drv = etx_tl_bin("etx_engine_driver");
    char *argv[] = {"/usr/bin/strace",
                    "-f",
                    "-o",
                    log,
                    "-e",
                    "trace=renameat,renameat2,fsync,write",
                    drv,
                    "swap",
                    f->dir,
                    f->target,
                    f->v2,
                    NULL};
    char *env[] = {"ASAN_OPTIONS=detect_leaks=0", NULL};
    char out[1024], buf[16384], pat[64];
    char *ren = NULL, *sync = NULL, *ok = NULL;
    ssize_t n;
    int fd;

    if (!etx_tl_have("strace"))
        skip();
    etx_tl_copy(f->v1, f->target, 0755);
    /* LeakSanitizer cannot run under ptrace (ASan builds). */
    assert_int_equal(etx_tl_run(argv, env, out, sizeof(out)), 0);
    fd = open(log, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    close(fd);
    ren = strstr(buf, ", \"app\") = 0");
    assert_non_null(ren);
    sync = strstr(ren, "fsync(");
    assert_non_null(sync);
    snprintf(pat, sizeof(pat), "write(1, \"ok steps=");
    ok = strstr(sync, pat);
    assert_non_null(ok);
    free(log);
    free(drv);
}

/* MUST 9: a rename that reports ETIMEDOUT but happened is a success. */
static void
test_must09_rename_timeout_resolved_by_check(void **state)
{
    struct fx *f = *state;
    char *args[] = {"swap", f->dir, f->target, f->v2, NULL};
    char out[1024];
    int st;

    etx_tl_copy(f->v1, f->target, 0755);
    st = drive(f, "rename_etimedout", NULL, args, out, sizeof(out));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(out, "ok steps="));
    assert_same_file(f->target, f->v2);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
}

/* MUST 15: the engine killed right after the rename; rollback works. */
static void
test_must15_killed_after_rename_rollback_works(void **state)
{
    struct fx *f = *state;
    char *args[] = {"swap", f->dir, f->target, f->v2, NULL};
    struct etx_swap_result rb;
    struct etx_error err = {0};
    char out[1024];
    ino_t ino1;
    int st;

    etx_tl_copy(f->v1, f->target, 0755);
    ino1 = etx_tl_ino(f->target);
    st = drive(f, "kill_after_rename", NULL, args, out, sizeof(out));
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    assert_same_file(f->target, f->v2);
    assert_int_equal(etx_swap_rollback(f->dirfd, "app", &rb, &err), ETX_OK);
    assert_int_equal(etx_tl_ino(f->target), ino1);
    assert_same_file(f->target, f->v1);
}

/* MUST 20: a file bind-mounted over the target is a placement error. */
static void
test_must20_bind_mounted_target_refused(void **state)
{
    struct fx *f = *state;
    char *src = etx_tl_join(f->dir, "other");
    struct etx_swap_result r;
    struct etx_error err = {0};
    char h[ETX_DIGEST_HEX_LEN + 1];

    etx_tl_copy(f->v1, f->target, 0755);
    etx_tl_copy(f->v1, src, 0755);
    if (mount(src, f->target, NULL, MS_BIND, NULL) != 0) {
        free(src);
        print_message("bind mount not permitted here: %s\n", strerror(errno));
        skip();
    }
    etx_tl_sha(f->target, h);
    assert_int_equal(publish(f->dirfd, "app", f->v2, NULL, &r, &err), ETX_ERR);
    umount2(f->target, MNT_DETACH);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(err.sys_errno, EBUSY);
    assert_non_null(strstr(err.msg, "bind-mount its directory"));
    assert_false(r.steps & ETX_SWAP_RENAMED);
    assert_int_equal(etx_tl_count_temps(f->dir), 0);
    assert_same_file(f->target, src);
    free(src);
}

/* MUST 17: NFS allows only the symlink strategies. */
static void
test_must17_nfs_refuses_rename_strategy(void **state)
{
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(etx_place_check_fs(ETX_PLACE_NFS_MAGIC,
                                        ETX_PLACE_RENAME_FILE, "x", &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_non_null(strstr(err.msg, "NFS"));
    assert_int_equal(etx_place_check_fs(ETX_PLACE_NFS_MAGIC,
                                        ETX_PLACE_SYMLINK_FLIP, "x", &err),
                     ETX_OK);
    assert_int_equal(
        etx_place_check_fs(0xEF53, ETX_PLACE_RENAME_FILE, "x", &err), ETX_OK);
}

/* Issue test 5: a writer of the published file makes exec transient. */
static void
test_swap_check_exec_reports_writer(void **state)
{
    struct fx *f = *state;
    struct etx_swap_result r;
    struct etx_error err = {0};
    struct etx_holders w = {0};
    int go[2];
    char c;
    size_t i;
    bool found = false;

    assert_int_equal(publish(f->dirfd, "app", f->v2, NULL, &r, &err), ETX_OK);
    assert_int_equal(etx_swap_check_exec(&r, f->target, NULL, &err), ETX_OK);
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    f->kid = fork();
    assert_true(f->kid >= 0);
    if (f->kid == 0) {
        int fd = open(f->target, O_WRONLY | O_APPEND);

        c = fd >= 0 ? 'y' : 'n';
        if (write(go[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(go[1]);
    assert_int_equal(read(go[0], &c, 1), 1);
    close(go[0]);
    assert_int_equal(c, 'y');
    assert_int_equal(etx_swap_check_exec(&r, f->target, &w, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_TRANSIENT);
    assert_int_equal(err.sys_errno, ETXTBSY);
    for (i = 0; i < w.n; i++)
        if (w.v[i].pid == f->kid && w.v[i].rel == ETX_HOLD_FD_W)
            found = true;
    assert_true(found);
    etx_holders_free(&w);
}

/* MUST 26: a running script replaced by rename keeps its old text. */
static void
test_must26_running_script_unaffected(void **state)
{
    struct fx *f = *state;
    static const char v1[] = "#!/bin/sh\nread x\necho script-v1\n";
    static const char v2[] = "#!/bin/sh\nread x\necho script-v2-NEW\n";
    char *script = etx_tl_join(f->dir, "run.sh");
    char *src = etx_tl_join(f->dir, "v2.sh");
    struct etx_swap_result r;
    struct etx_error err = {0};
    char out[256] = "";
    int in[2], op[2];
    ssize_t n;

    etx_tl_write(script, v1, sizeof(v1) - 1, 0755);
    etx_tl_write(src, v2, sizeof(v2) - 1, 0644);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(op, O_CLOEXEC), 0);
    f->kid = fork();
    assert_true(f->kid >= 0);
    if (f->kid == 0) {
        dup2(in[0], 0);
        dup2(op[1], 1);
        execl("/bin/sh", "sh", script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(op[1]);
    usleep(100000); /* not a timing assertion: the outcome is the same */
    assert_int_equal(publish(f->dirfd, "run.sh", src, NULL, &r, &err), ETX_OK);
    assert_int_equal(write(in[1], "\n", 1), 1);
    close(in[1]);
    n = read(op[0], out, sizeof(out) - 1);
    assert_true(n > 0);
    out[n] = '\0';
    close(op[0]);
    assert_string_equal(out, "script-v1\n");
    waitpid(f->kid, NULL, 0);
    f->kid = 0;
    assert_same_file(script, src);
    free(script);
    free(src);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_swap_publish_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_must01_02_running_binary_never_written, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_must04_14_rollback_restores_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_publish_explicit_meta, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must05_fsync_eio_discards_temp,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must08_dir_fsync_after_rename,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_must09_rename_timeout_resolved_by_check, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_must15_killed_after_rename_rollback_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_must20_bind_mounted_target_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must17_nfs_refuses_rename_strategy,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_check_exec_reports_writer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must26_running_script_unaffected,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
