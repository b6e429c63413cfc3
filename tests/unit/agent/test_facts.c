/* SPDX-License-Identifier: MIT */
/*
 * Tests of the probe's facts (agent/facts.h) on real files, a tmpfs and a
 * single-file bind mount made by the test (in a private mount namespace
 * when the kernel allows one), real processes, and the kernel's own
 * ETXTBSY behaviour. Children are reaped and mounts and files removed in
 * teardown, also when an assertion fails.
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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/facts.h"
#include "proto/digest.h"

/* SHA-256 of "hello\n". */
#define HELLO_SHA256                                                           \
    "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

struct fixture {
    char dir[64];
    char path[8][128]; /* data, prog, link, dangling, mnt, mnt/f, src, x */
    pid_t kid;
    struct etx_facts_target t;
};

enum { DATA, PROG, LINK, DANGLING, MNT, MNT_FILE, SRC, SCRATCH };

static const char *const names[] = {"data", "prog",  "link", "dangling",
                                    "mnt",  "mnt/f", "src",  "scratch"};

static void
write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
}

static void
copy_file(const char *src, const char *dst)
{
    char buf[65536];
    ssize_t n = 0;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);

    assert_true(in >= 0 && out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(close(in), 0);
    assert_int_equal(close(out), 0);
}

/* Mounts made here stay private to this process when possible. */
static int
group_setup(void **state)
{
    (void)state;
    if (unshare(CLONE_NEWNS) == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    return 0;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    size_t i = 0;

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/etx-facts-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        snprintf(f->path[i], sizeof(f->path[i]), "%s/%s", f->dir, names[i]);
    write_file(f->path[DATA], "hello\n", 0644);
    write_file(f->path[SRC], "bound\n", 0600);
    copy_file("/bin/sleep", f->path[PROG]);
    assert_int_equal(symlink("prog", f->path[LINK]), 0);
    assert_int_equal(symlink("nothing", f->path[DANGLING]), 0);
    assert_int_equal(mkdir(f->path[MNT], 0755), 0);
    assert_int_equal(mkdir(f->path[SCRATCH], 0755), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    size_t i = sizeof(names) / sizeof(names[0]);

    if (f->kid > 0) {
        kill(f->kid, SIGKILL);
        waitpid(f->kid, NULL, 0);
    }
    etx_facts_target_free(&f->t);
    umount2(f->path[DATA], MNT_DETACH);
    umount2(f->path[MNT], MNT_DETACH);
    while (i-- > 0)
        if (unlink(f->path[i]) != 0)
            rmdir(f->path[i]);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A child that runs path ("prog 600"), returned once it has executed. */
static pid_t
spawn_exec(struct fixture *f, const char *path)
{
    char *argv[] = {(char *)"prog", (char *)"600", NULL};
    char *envp[] = {NULL};
    int p[2];
    int e = 0;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    f->kid = fork();
    if (f->kid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execve(path, argv, envp);
        e = errno;
        (void)!write(p[1], &e, sizeof(e));
        _exit(127);
    }
    assert_true(f->kid > 0);
    close(p[1]);
    assert_int_equal(read(p[0], &e, sizeof(e)), 0);
    close(p[0]);
    return f->kid;
}

/* A child that holds path open for writing. */
static pid_t
spawn_writer(struct fixture *f, const char *path)
{
    int p[2];
    int fd = -1;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    f->kid = fork();
    if (f->kid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        (void)!write(p[1], &fd, sizeof(fd));
        for (;;)
            pause();
    }
    assert_true(f->kid > 0);
    close(p[1]);
    assert_int_equal(read(p[0], &fd, sizeof(fd)), sizeof(fd));
    close(p[0]);
    assert_true(fd >= 0);
    return f->kid;
}

static void
facts(struct fixture *f, const char *path)
{
    struct etx_error err = {0};

    etx_facts_target_free(&f->t);
    assert_int_equal(etx_facts_target(path, &f->t, &err), ETX_OK);
}

static void
test_etx_facts_target_file(void **state)
{
    struct fixture *f = *state;
    struct etx_facts_target *t = &f->t;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    struct statfs sf;
    struct stat st;

    facts(f, f->path[DATA]);
    assert_int_equal(lstat(f->path[DATA], &st), 0);
    assert_int_equal(statfs(f->path[DATA], &sf), 0);
    assert_true(t->file.exists);
    assert_int_equal(t->file.dev, st.st_dev);
    assert_int_equal(t->file.ino, st.st_ino);
    assert_int_equal(t->file.mode, st.st_mode);
    assert_int_equal(t->file.uid, st.st_uid);
    assert_int_equal(t->file.gid, st.st_gid);
    assert_int_equal(t->file.size, 6);
    assert_string_equal(t->file.sha256, HELLO_SHA256);
    assert_int_equal(etx_digest_file(f->path[DATA], hex, NULL, &err), ETX_OK);
    assert_string_equal(t->file.sha256, hex);
    assert_string_equal(t->link_text, "");
    assert_false(t->resolved.exists);
    assert_false(t->is_mount_point);
    assert_int_equal(t->fs.magic, (unsigned long)sf.f_type);
    assert_true(t->fs.free_bytes > 0);
    assert_true(t->fs.free_inodes > 0);
    assert_true(t->fs.mount_id > 0);
    assert_true(t->fs.type[0] != '\0');
    assert_true(t->fs.mount_source[0] != '\0');
    assert_true(strncmp(t->fs.mount_point, f->dir, strlen(t->fs.mount_point)) ==
                0);
    assert_int_equal(t->holders.n, 0);
}

static void
test_etx_facts_target_absent(void **state)
{
    struct fixture *f = *state;
    char path[160];
    struct statfs sf;

    snprintf(path, sizeof(path), "%s/absent", f->dir);
    facts(f, path);
    assert_int_equal(statfs(f->dir, &sf), 0);
    assert_false(f->t.file.exists);
    assert_false(f->t.is_mount_point);
    assert_int_equal(f->t.fs.magic, (unsigned long)sf.f_type);
    assert_true(f->t.fs.free_bytes > 0);
    assert_int_equal(f->t.holders.n, 0);
}

static void
test_etx_facts_target_no_dir(void **state)
{
    struct fixture *f = *state;
    struct etx_error err = {0};
    char path[160];

    snprintf(path, sizeof(path), "%s/no-dir/x", f->dir);
    assert_int_equal(etx_facts_target(path, &f->t, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_string_equal(err.where, path);
}

static void
test_etx_facts_target_symlink(void **state)
{
    struct fixture *f = *state;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    struct stat st;
    pid_t pid = spawn_exec(f, f->path[PROG]);
    size_t i = 0;

    facts(f, f->path[LINK]);
    assert_true(S_ISLNK(f->t.file.mode));
    assert_string_equal(f->t.file.sha256, "");
    assert_string_equal(f->t.link_text, "prog");
    assert_int_equal(stat(f->path[PROG], &st), 0);
    assert_true(f->t.resolved.exists);
    assert_int_equal(f->t.resolved.ino, st.st_ino);
    assert_int_equal(etx_digest_file(f->path[PROG], hex, NULL, &err), ETX_OK);
    assert_string_equal(f->t.resolved.sha256, hex);
    for (i = 0; i < f->t.holders.n; i++)
        if (f->t.holders.v[i].pid == pid &&
            f->t.holders.v[i].rel == ETX_HOLD_EXEC)
            break;
    assert_true(i < f->t.holders.n);

    facts(f, f->path[DANGLING]);
    assert_true(f->t.file.exists);
    assert_string_equal(f->t.link_text, "nothing");
    assert_false(f->t.resolved.exists);
    assert_int_equal(f->t.holders.n, 0);
}

static void
test_etx_facts_target_holders(void **state)
{
    struct fixture *f = *state;
    pid_t pid = spawn_writer(f, f->path[DATA]);

    facts(f, f->path[DATA]);
    assert_int_equal(f->t.holders.n, 1);
    assert_int_equal(f->t.holders.v[0].pid, pid);
    assert_int_equal(f->t.holders.v[0].rel, ETX_HOLD_FD_W);
}

static void
test_etx_facts_target_tmpfs(void **state)
{
    struct fixture *f = *state;
    char canon[PATH_MAX];

    if (mount("etx-test", f->path[MNT], "tmpfs", 0, "size=1m") != 0) {
        print_message("cannot mount a tmpfs (%s): skipped\n", strerror(errno));
        skip();
    }
    write_file(f->path[MNT_FILE], "hello\n", 0644);
    assert_non_null(realpath(f->path[MNT], canon));
    facts(f, f->path[MNT_FILE]);
    assert_string_equal(f->t.fs.type, "tmpfs");
    assert_int_equal(f->t.fs.magic, 0x01021994UL);
    assert_false(f->t.fs.is_network);
    assert_false(f->t.fs.read_only);
    assert_string_equal(f->t.fs.mount_source, "etx-test");
    assert_string_equal(f->t.fs.mount_point, canon);
    assert_non_null(strstr(f->t.fs.mount_options, "rw"));
    assert_true(f->t.fs.free_bytes > 0);
    assert_true(f->t.fs.free_bytes <= 1024 * 1024);
    /* A file in a mounted directory is not itself a mount point ... */
    assert_false(f->t.is_mount_point);
    /* ... the mounted directory is. */
    facts(f, f->path[MNT]);
    assert_true(f->t.is_mount_point);
    assert_int_equal(unlink(f->path[MNT_FILE]), 0);
}

/* A single file bind-mounted over the target: the placement hazard. */
static void
test_etx_facts_target_bind_mount(void **state)
{
    struct fixture *f = *state;
    char canon[PATH_MAX];
    struct stat st;

    if (mount(f->path[SRC], f->path[DATA], NULL, MS_BIND, NULL) != 0) {
        print_message("cannot bind-mount a file (%s): skipped\n",
                      strerror(errno));
        skip();
    }
    assert_int_equal(stat(f->path[SRC], &st), 0);
    assert_non_null(realpath(f->path[DATA], canon));
    facts(f, f->path[DATA]);
    assert_true(f->t.is_mount_point);
    assert_int_equal(f->t.file.ino, st.st_ino);
    assert_string_equal(f->t.fs.mount_point, canon);
    facts(f, f->path[PROG]);
    assert_false(f->t.is_mount_point);
    facts(f, f->path[LINK]);
    assert_false(f->t.is_mount_point);
}

static void
test_etx_facts_host_ok(void **state)
{
    struct etx_facts_host h;
    struct etx_error err = {0};
    struct utsname u;
    char boot[64] = "";
    FILE *fp = NULL;

    (void)state;
    assert_int_equal(etx_facts_host(&h, &err), ETX_OK);
    assert_int_equal(uname(&u), 0);
    fp = fopen("/proc/sys/kernel/random/boot_id", "re");
    assert_non_null(fp);
    assert_non_null(fgets(boot, sizeof(boot), fp));
    fclose(fp);
    assert_int_equal(strlen(h.boot_id), 36);
    assert_int_equal(strncmp(h.boot_id, boot, 36), 0);
    assert_string_equal(h.kernel, u.release);
    assert_string_equal(h.arch, u.machine);
    assert_string_equal(h.hostname, u.nodename);
    assert_true(h.hostname[0] != '\0');
    if (access("/etc/machine-id", R_OK) == 0)
        assert_int_equal(strlen(h.machine_id), 32);
}

static size_t
entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de = NULL;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Semantics differ per kernel (reference §1.2): only the shape is checked. */
static void
test_etx_facts_etxtbsy_probe_ok(void **state)
{
    struct fixture *f = *state;
    struct etx_facts_etxtbsy p;
    struct etx_error err = {0};
    struct utsname u;

    assert_int_equal(etx_facts_etxtbsy_probe(f->path[SCRATCH], &p, &err),
                     ETX_OK);
    print_message("kernel %s: write_denied %d (%s), exec_denied %d (%s)\n",
                  p.kernel, p.write_denied, strerror(p.write_errno),
                  p.exec_denied, strerror(p.exec_errno));
    assert_int_equal(uname(&u), 0);
    assert_string_equal(p.kernel, u.release);
    assert_int_equal(p.write_denied, p.write_errno == ETXTBSY);
    assert_int_equal(p.exec_denied, p.exec_errno == ETXTBSY);
    assert_true(p.fs.type[0] != '\0');
    assert_int_equal(entries(f->path[SCRATCH]), 0);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void
test_etx_facts_etxtbsy_probe_no_dir(void **state)
{
    struct fixture *f = *state;
    struct etx_facts_etxtbsy p;
    struct etx_error err = {0};
    char path[160];

    snprintf(path, sizeof(path), "%s/no-dir", f->dir);
    assert_int_equal(etx_facts_etxtbsy_probe(path, &p, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void
test_etx_facts_to_json_fields(void **state)
{
    struct fixture *f = *state;
    struct etx_facts_host h;
    struct etx_facts_etxtbsy p;
    struct etx_error err = {0};
    json_t *j = NULL;
    json_t *t = NULL;
    char *dump = NULL;

    assert_int_equal(etx_facts_host(&h, &err), ETX_OK);
    assert_int_equal(etx_facts_etxtbsy_probe(f->path[SCRATCH], &p, &err),
                     ETX_OK);
    facts(f, f->path[DATA]);
    j = etx_facts_to_json(&h, &p, &f->t, 1);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(j, "host"), "boot_id")),
                        h.boot_id);
    assert_true(json_is_boolean(
        json_object_get(json_object_get(j, "etxtbsy"), "write_denied")));
    assert_non_null(json_object_get(json_object_get(j, "etxtbsy"), "fs"));
    t = json_array_get(json_object_get(j, "targets"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "path")),
                        f->path[DATA]);
    assert_true(json_is_null(json_object_get(t, "link")));
    assert_true(json_is_null(json_object_get(t, "resolved")));
    assert_true(json_is_false(json_object_get(t, "is_mount_point")));
    t = json_object_get(t, "file");
    assert_string_equal(json_string_value(json_object_get(t, "sha256")),
                        HELLO_SHA256);
    assert_string_equal(json_string_value(json_object_get(t, "mode")), "0644");
    assert_string_equal(json_string_value(json_object_get(t, "type")), "file");
    assert_non_null(json_object_get(t, "dev"));
    assert_non_null(json_object_get(t, "ino"));
    t = json_array_get(json_object_get(j, "targets"), 0);
    assert_non_null(json_object_get(json_object_get(t, "fs"), "free_bytes"));
    assert_non_null(json_object_get(json_object_get(t, "fs"), "mount_point"));
    assert_true(json_is_array(
        json_object_get(json_object_get(t, "holders"), "holders")));
    dump = json_dumps(j, JSON_COMPACT);
    assert_non_null(dump);
    free(dump);
    json_decref(j);

    facts(f, f->path[LINK]);
    j = etx_facts_target_to_json(&f->t);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "link")), "prog");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "file"), "type")),
        "symlink");
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_etx_facts_target_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_target_absent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_target_no_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_target_symlink, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_target_holders, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_target_tmpfs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_target_bind_mount, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_host_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_etxtbsy_probe_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_etxtbsy_probe_no_dir,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etx_facts_to_json_fields, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
