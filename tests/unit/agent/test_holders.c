/* SPDX-License-Identifier: MIT */
/*
 * Tests of the /proc holder scan and the exec check (agent/holders.h) with
 * real child processes that execute, open, map or sit in a temporary file
 * or directory (issue 3, tests 4 and 5). Every child is killed and reaped
 * and the directory removed in teardown, also when an assertion fails.
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/holders.h"

#define MAX_KIDS 8

struct fixture {
    char dir[64];
    char prog[96]; /* a copy of /bin/sleep in dir */
    pid_t kids[MAX_KIDS];
    size_t n_kids;
};

enum hold_kind { HOLD_READ, HOLD_WRITE, HOLD_MAP_W, HOLD_CWD, HOLD_MANY };

/* HOLD_MANY: this many descriptors of the file, past the holder cap. */
#define MANY_FDS (ETX_HOLDERS_MAX + 10)

static void
copy_file(const char *src, const char *dst, mode_t mode)
{
    char buf[65536];
    ssize_t n = 0;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

    assert_true(in >= 0);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    assert_int_equal(close(in), 0);
    assert_int_equal(close(out), 0);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/etx-holders-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->prog, sizeof(f->prog), "%s/prog", f->dir);
    copy_file("/bin/sleep", f->prog, 0755);
    *state = f;
    return 0;
}

static void
reap(struct fixture *f, pid_t pid)
{
    size_t i = 0;

    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    for (i = 0; i < f->n_kids; i++)
        if (f->kids[i] == pid)
            f->kids[i] = f->kids[--f->n_kids];
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    while (f->n_kids > 0)
        reap(f, f->kids[0]);
    unlink(f->prog);
    rmdir(f->dir);
    free(f);
    return 0;
}

static pid_t
track(struct fixture *f, pid_t pid)
{
    assert_true(pid > 0);
    assert_true(f->n_kids < MAX_KIDS);
    f->kids[f->n_kids++] = pid;
    return pid;
}

/*
 * Fork and execve path with argv; returns the child's pid once the exec has
 * happened (the close-on-exec pipe reads EOF), or 0 with *exec_errno set
 * when it failed (the child has been reaped then).
 */
static pid_t
spawn_exec(struct fixture *f, const char *path, const char *arg,
           int *exec_errno)
{
    char *argv[] = {(char *)"prog", (char *)arg, NULL};
    char *envp[] = {NULL};
    int p[2];
    int e = 0;
    pid_t pid = 0;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execve(path, argv, envp);
        e = errno;
        (void)!write(p[1], &e, sizeof(e));
        _exit(127);
    }
    track(f, pid);
    close(p[1]);
    *exec_errno = 0;
    if (read(p[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
        *exec_errno = e;
        reap(f, pid);
        pid = 0;
    }
    close(p[0]);
    return pid;
}

/* Duplicate fd until the file is open MANY_FDS times. */
static int
hold_many(int fd)
{
    struct rlimit rl = {.rlim_cur = MANY_FDS + 64, .rlim_max = MANY_FDS + 64};
    int i = 0;

    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    for (i = 1; i < MANY_FDS; i++)
        if (dup(fd) < 0)
            return -1;
    return 0;
}

static void
hold(const char *path, enum hold_kind kind, int ready)
{
    void *m = NULL;
    int fd = -1;

    if (kind == HOLD_CWD) {
        if (chdir(path) != 0)
            _exit(1);
    } else if (kind == HOLD_MAP_W) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        m = fd < 0
                ? MAP_FAILED
                : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED || close(fd) != 0)
            _exit(1);
        fd = -1;
    } else {
        fd = open(path, (kind == HOLD_WRITE ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
        if (fd < 0)
            _exit(1);
    }
    if (kind == HOLD_MANY && hold_many(fd) != 0)
        _exit(1);
    if (write(ready, &fd, sizeof(fd)) != (ssize_t)sizeof(fd))
        _exit(1);
    for (;;)
        pause();
}

/* A child that holds path as kind and waits; *fd gets its fd or -1. */
static pid_t
spawn_holder(struct fixture *f, const char *path, enum hold_kind kind, int *fd)
{
    int p[2];
    pid_t pid = 0;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        hold(path, kind, p[1]);
    }
    track(f, pid);
    close(p[1]);
    assert_int_equal(read(p[0], fd, sizeof(*fd)), sizeof(*fd));
    close(p[0]);
    return pid;
}

static struct etx_file_id
file_id(const char *path)
{
    struct stat st;
    struct etx_file_id id;

    assert_int_equal(stat(path, &st), 0);
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    return id;
}

static void
scan(const char *path, unsigned flags, struct etx_holders *h)
{
    struct etx_file_id id = file_id(path);
    struct etx_error err = {0};

    assert_int_equal(etx_holders_scan(&id, 1, flags, h, &err), ETX_OK);
}

static size_t
count(const struct etx_holders *h, pid_t pid, enum etx_holder_rel rel)
{
    size_t i = 0;
    size_t n = 0;

    for (i = 0; i < h->n; i++)
        if (h->v[i].pid == pid && h->v[i].rel == rel)
            n++;
    return n;
}

static const struct etx_holder *
find(const struct etx_holders *h, pid_t pid, enum etx_holder_rel rel)
{
    size_t i = 0;

    for (i = 0; i < h->n; i++)
        if (h->v[i].pid == pid && h->v[i].rel == rel)
            return &h->v[i];
    return NULL;
}

/* Field 22 of /proc/PID/stat, read independently of the code under test. */
static uint64_t
start_time_of(pid_t pid)
{
    char path[64];
    char buf[2048];
    char *p = NULL;
    unsigned long long start = 0;
    FILE *fp = NULL;
    int field = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fp = fopen(path, "re");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof(buf), fp));
    fclose(fp);
    p = strrchr(buf, ')');
    assert_non_null(p);
    for (field = 3; field <= 22; field++) {
        p = strchr(p + 1, ' ');
        assert_non_null(p);
    }
    assert_int_equal(sscanf(p + 1, "%llu", &start), 1);
    return start;
}

static void
test_must21_holders_scan_exec(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    const struct etx_holder *x = NULL;
    int e = 0;
    pid_t pid = spawn_exec(f, f->prog, "600", &e);

    assert_true(pid > 0);
    scan(f->prog, ETX_HOLDERS_ALL, &h);
    x = find(&h, pid, ETX_HOLD_EXEC);
    assert_non_null(x);
    assert_int_equal(x->start_time, start_time_of(pid));
    assert_int_equal(x->ppid, getpid());
    assert_int_equal(x->uid, geteuid());
    assert_int_equal(x->fd, -1);
    assert_string_equal(x->comm, "prog");
    assert_string_equal(x->cmdline, "prog 600");
    assert_string_equal(x->path, f->prog);
    /* The ELF is mapped in several segments: one MAP-R, deduplicated. */
    assert_int_equal(count(&h, pid, ETX_HOLD_MAP_R), 1);
    assert_int_equal(count(&h, pid, ETX_HOLD_MAP_W), 0);
    etx_holders_free(&h);
    assert_null(h.v);
}

static void
test_must21_holders_scan_fd_write(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    const struct etx_holder *x = NULL;
    int fd = -1;
    pid_t pid = spawn_holder(f, f->prog, HOLD_WRITE, &fd);

    scan(f->prog, ETX_HOLDERS_ALL, &h);
    x = find(&h, pid, ETX_HOLD_FD_W);
    assert_non_null(x);
    assert_int_equal(x->fd, fd);
    assert_int_equal(x->fd_flags & O_ACCMODE, O_WRONLY);
    assert_true((x->fd_flags & O_CLOEXEC) != 0);
    assert_string_equal(x->path, f->prog);
    assert_int_equal(x->start_time, start_time_of(pid));
    assert_null(find(&h, pid, ETX_HOLD_FD_R));
    etx_holders_free(&h);
}

static void
test_etx_holders_scan_fd_read(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    const struct etx_holder *x = NULL;
    int fd = -1;
    pid_t pid = spawn_holder(f, f->prog, HOLD_READ, &fd);

    scan(f->prog, ETX_HOLDERS_ALL, &h);
    x = find(&h, pid, ETX_HOLD_FD_R);
    assert_non_null(x);
    assert_int_equal(x->fd, fd);
    assert_int_equal(x->fd_flags & O_ACCMODE, O_RDONLY);
    assert_null(find(&h, pid, ETX_HOLD_FD_W));
    etx_holders_free(&h);
}

/* Experiment 16: an fd-less shared writable mapping still blocks exec. */
static void
test_must21_holders_scan_map_write(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    int fd = 0;
    int e = 0;
    pid_t pid = spawn_holder(f, f->prog, HOLD_MAP_W, &fd);

    assert_int_equal(fd, -1);
    scan(f->prog, ETX_HOLDERS_ALL, &h);
    assert_int_equal(count(&h, pid, ETX_HOLD_MAP_W), 1);
    assert_null(find(&h, pid, ETX_HOLD_FD_W));
    assert_null(find(&h, pid, ETX_HOLD_FD_R));
    etx_holders_free(&h);
    assert_int_equal(spawn_exec(f, f->prog, "0", &e), 0);
    assert_int_equal(e, ETXTBSY);
}

static void
test_must21_holders_scan_cwd(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    const struct etx_holder *x = NULL;
    int fd = 0;
    pid_t pid = spawn_holder(f, f->dir, HOLD_CWD, &fd);

    scan(f->dir, ETX_HOLDERS_ALL, &h);
    x = find(&h, pid, ETX_HOLD_CWD);
    assert_non_null(x);
    assert_string_equal(x->path, f->dir);
    assert_null(find(&h, pid, ETX_HOLD_ROOT));
    etx_holders_free(&h);
}

static void
test_etx_holders_scan_after_exit(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    int fd = 0;
    int e = 0;
    pid_t a = spawn_holder(f, f->prog, HOLD_READ, &fd);
    pid_t b = spawn_holder(f, f->prog, HOLD_MAP_W, &fd);

    scan(f->prog, ETX_HOLDERS_ALL, &h);
    assert_int_equal(h.n, 2);
    etx_holders_free(&h);
    reap(f, a);
    reap(f, b);
    a = spawn_exec(f, f->prog, "600", &e);
    assert_true(a > 0);
    reap(f, a);
    scan(f->prog, ETX_HOLDERS_ALL, &h);
    assert_int_equal(h.n, 0);
    etx_holders_free(&h);
}

static void
test_etx_holders_scan_writers(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    int fd = 0;
    pid_t r = spawn_holder(f, f->prog, HOLD_READ, &fd);
    pid_t w = spawn_holder(f, f->prog, HOLD_WRITE, &fd);
    pid_t m = spawn_holder(f, f->prog, HOLD_MAP_W, &fd);
    pid_t c = spawn_holder(f, f->dir, HOLD_CWD, &fd);
    struct etx_file_id ids[2] = {file_id(f->prog), file_id(f->dir)};
    struct etx_error err = {0};

    assert_int_equal(etx_holders_scan(ids, 2, ETX_HOLDERS_ALL, &h, &err),
                     ETX_OK);
    assert_non_null(find(&h, r, ETX_HOLD_FD_R));
    assert_non_null(find(&h, c, ETX_HOLD_CWD));
    assert_int_equal(find(&h, c, ETX_HOLD_CWD)->id_index, 1);
    etx_holders_free(&h);
    assert_int_equal(etx_holders_scan(ids, 2, ETX_HOLDERS_WRITERS, &h, &err),
                     ETX_OK);
    assert_int_equal(h.n, 2);
    assert_non_null(find(&h, w, ETX_HOLD_FD_W));
    assert_non_null(find(&h, m, ETX_HOLD_MAP_W));
    assert_int_equal(find(&h, w, ETX_HOLD_FD_W)->id_index, 0);
    etx_holders_free(&h);
}

/* Past the cap holders are counted, not dropped silently. */
static void
test_etx_holders_scan_over_max(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    char buf[256];
    int fd = 0;

    spawn_holder(f, f->prog, HOLD_MANY, &fd);
    scan(f->prog, ETX_HOLDERS_ALL, &h);
    assert_int_equal(h.n, ETX_HOLDERS_MAX);
    assert_int_equal(h.n_more, MANY_FDS - ETX_HOLDERS_MAX);
    etx_holders_free(&h);
    h.n_more = 10;
    h.n_unknown = 1;
    assert_string_equal(etx_holders_format(&h, buf, sizeof(buf)),
                        "+10 more; 1 processes could not be inspected");
}

static void
test_etx_holders_scan_none(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;

    scan(f->prog, ETX_HOLDERS_ALL, &h);
    assert_int_equal(h.n, 0);
    assert_int_equal(h.n_more, 0);
    etx_holders_free(&h);
}

/* The scan as an unprivileged user cannot read root's fds: unknown. */
static void
test_must21_holders_scan_unknown(void **state)
{
    struct fixture *f = *state;
    struct etx_file_id id = file_id(f->prog);
    size_t res[3] = {0, 0, 0};
    int fd = 0;
    int p[2];
    pid_t root = spawn_holder(f, f->prog, HOLD_READ, &fd);
    pid_t pid = 0;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    if (pid == 0) {
        struct etx_holders h;
        struct etx_error err = {0};

        if (setgid(65534) != 0 || setuid(65534) != 0 ||
            etx_holders_scan(&id, 1, ETX_HOLDERS_ALL, &h, &err) != ETX_OK)
            _exit(1);
        res[0] = h.n;
        res[1] = h.n_unknown;
        res[2] = (size_t)h.first_unknown;
        _exit(write(p[1], res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1);
    }
    track(f, pid);
    close(p[1]);
    assert_int_equal(read(p[0], res, sizeof(res)), sizeof(res));
    close(p[0]);
    reap(f, pid);
    assert_int_equal(res[0], 0); /* root's holder cannot be seen ... */
    assert_true(res[1] > 0);     /* ... and is counted as unknown */
    assert_true(res[2] > 0);
    assert_true(root > 0);
}

static void
test_etx_holders_format_text(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    char buf[1024];
    char want[64];
    int fd = 0;
    pid_t pid = spawn_holder(f, f->prog, HOLD_WRITE, &fd);

    scan(f->prog, ETX_HOLDERS_ALL, &h);
    etx_holders_format(&h, buf, sizeof(buf));
    snprintf(want, sizeof(want), "pid %d (test_holders) FD-W fd %d", (int)pid,
             fd);
    assert_non_null(strstr(buf, want));
    etx_holders_format(&h, buf, 16);
    assert_int_equal(strlen(buf), 15);
    etx_holders_free(&h);
    h.n_unknown = 2;
    assert_string_equal(etx_holders_format(&h, buf, sizeof(buf)),
                        "2 processes could not be inspected");
    h.n_unknown = 0;
    assert_string_equal(etx_holders_format(&h, buf, sizeof(buf)), "");
}

static void
test_etx_holders_rel_name_all(void **state)
{
    (void)state;
    assert_string_equal(etx_holders_rel_name(ETX_HOLD_EXEC), "EXEC");
    assert_string_equal(etx_holders_rel_name(ETX_HOLD_MAP_R), "MAP-R");
    assert_string_equal(etx_holders_rel_name(ETX_HOLD_MAP_W), "MAP-W");
    assert_string_equal(etx_holders_rel_name(ETX_HOLD_FD_R), "FD-R");
    assert_string_equal(etx_holders_rel_name(ETX_HOLD_FD_W), "FD-W");
    assert_string_equal(etx_holders_rel_name(ETX_HOLD_CWD), "CWD");
    assert_string_equal(etx_holders_rel_name(ETX_HOLD_ROOT), "ROOT");
    assert_string_equal(etx_holders_rel_name(ETX_HOLD_REL_COUNT), "?");
}

/* Issue 3 test 5: a leaked write descriptor makes exec fail, transiently. */
static void
test_etx_holders_check_exec_write_holder(void **state)
{
    struct fixture *f = *state;
    struct etx_file_id id = file_id(f->prog);
    struct etx_holders w;
    struct etx_error err = {0};
    char want[32];
    int fd = 0;
    int e = 0;
    pid_t holder = spawn_holder(f, f->prog, HOLD_WRITE, &fd);

    assert_int_equal(spawn_exec(f, f->prog, "0", &e), 0);
    assert_int_equal(e, ETXTBSY);
    assert_int_equal(etx_holders_check_exec(&id, f->prog, &w, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_TRANSIENT);
    assert_int_equal(err.sys_errno, ETXTBSY);
    assert_string_equal(err.op, "exec-check");
    assert_string_equal(err.where, f->prog);
    assert_true(etx_error_is_retryable(&err));
    assert_int_equal(w.n, 1);
    assert_int_equal(w.v[0].pid, holder);
    assert_int_equal(w.v[0].rel, ETX_HOLD_FD_W);
    snprintf(want, sizeof(want), "pid %d ", (int)holder);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "FD-W"));
    etx_holders_free(&w);

    reap(f, holder);
    memset(&err, 0, sizeof(err));
    assert_int_equal(etx_holders_check_exec(&id, f->prog, &w, &err), ETX_OK);
    assert_int_equal(w.n, 0);
    assert_int_equal(err.cls, ETX_CLASS_NONE);
    etx_holders_free(&w);
    assert_true(spawn_exec(f, f->prog, "0", &e) > 0);
    assert_int_equal(e, 0);
}

static void
test_etx_holders_check_exec_map_holder(void **state)
{
    struct fixture *f = *state;
    struct etx_file_id id = file_id(f->prog);
    struct etx_error err = {0};
    char want[32];
    int fd = 0;
    pid_t holder = spawn_holder(f, f->prog, HOLD_MAP_W, &fd);

    assert_int_equal(etx_holders_check_exec(&id, f->prog, NULL, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, ETXTBSY);
    snprintf(want, sizeof(want), "pid %d (test_holders) MAP-W", (int)holder);
    assert_non_null(strstr(err.msg, want));
}

static void
test_etx_holders_to_json_fields(void **state)
{
    struct fixture *f = *state;
    struct etx_holders h;
    json_t *j = NULL;
    json_t *x = NULL;
    int fd = 0;
    pid_t pid = spawn_holder(f, f->prog, HOLD_WRITE, &fd);

    scan(f->prog, ETX_HOLDERS_ALL, &h);
    snprintf(h.v[0].cmdline, sizeof(h.v[0].cmdline), "bad \xff utf-8");
    j = etx_holders_to_json(&h);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "holders")), 1);
    x = json_array_get(json_object_get(j, "holders"), 0);
    assert_int_equal(json_integer_value(json_object_get(x, "pid")), pid);
    assert_int_equal(json_integer_value(json_object_get(x, "fd")), fd);
    assert_string_equal(json_string_value(json_object_get(x, "relation")),
                        "FD-W");
    assert_string_equal(json_string_value(json_object_get(x, "cmdline")),
                        "bad ? utf-8");
    assert_string_equal(json_string_value(json_object_get(x, "path")), f->prog);
    assert_int_equal(json_integer_value(json_object_get(x, "start_time")),
                     start_time_of(pid));
    assert_non_null(json_object_get(x, "ppid"));
    assert_non_null(json_object_get(x, "uid"));
    assert_non_null(json_object_get(x, "unit"));
    assert_non_null(json_object_get(x, "container"));
    assert_non_null(json_object_get(j, "unknown"));
    assert_non_null(json_object_get(j, "more"));
    json_decref(j);
    etx_holders_free(&h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_must21_holders_scan_exec, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must21_holders_scan_fd_write,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_scan_fd_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must21_holders_scan_map_write,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must21_holders_scan_cwd, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_scan_after_exit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_scan_writers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_scan_over_max, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_scan_none, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must21_holders_scan_unknown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_format_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_rel_name_all, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_etx_holders_check_exec_write_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_check_exec_map_holder,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_etx_holders_to_json_fields, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
