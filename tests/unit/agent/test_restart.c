/* SPDX-License-Identifier: MIT */
/*
 * Tests of the restart (agent/restart.h) and of running commands
 * (agent/spawn.h) with real processes: the "service" is a copy of
 * /bin/sleep in a temp directory, published by rename as the swap does; the
 * restart command is the operator's script (a /bin/sh script file written
 * by the test; the agent itself never builds a shell command). The test is
 * a child subreaper, so that services the scripts start in the background
 * become its children and are killed and reaped in teardown (issue 4).
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "agent/restart.h"
#include "agent/spawn.h"
#include "tests/integration/nginx_fixture.h"

#define MAX_KIDS 8

struct fixture {
    char dir[64];
    char app[128];     /* the published target */
    char pidfile[128]; /* the pid of the service the script started */
    char script[128];  /* the restart script */
    struct etx_file_id old_id, new_id;
    pid_t kids[MAX_KIDS];
    size_t n_kids;
};

struct run {
    uv_loop_t loop;
    struct etx_restart_result res;
    char writers[512];
    char running_new[512];
    char running_old[512];
    pid_t new_pid; /* first process running the new inode */
    pid_t old_pid; /* first process running the old inode */
    pid_t writer_pid;
    int calls;
    unsigned retries;
    pid_t release; /* a holder to kill at the first retry */
    struct fixture *f;
};

static void
copy_file(const char *src, const char *dst)
{
    char buf[65536];
    ssize_t n = 0;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);

    assert_true(in >= 0);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    assert_int_equal(close(in), 0);
    assert_int_equal(close(out), 0);
}

static struct etx_file_id
id_of(const char *path)
{
    struct stat st;
    struct etx_file_id id;

    assert_int_equal(stat(path, &st), 0);
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    return id;
}

static void
write_script(const char *path, const char *body)
{
    char text[2048];
    int n = snprintf(text, sizeof(text), "#!/bin/sh\n%s", body);

    unlink(path);
    assert_int_equal(etx_test_write_file(path, text, (size_t)n), 0);
    assert_int_equal(chmod(path, 0755), 0);
}

/* Old version in place, then the new one published by rename. */
static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char next[128];
    char body[1024];

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/etx-restart-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->app, sizeof(f->app), "%s/app", f->dir);
    snprintf(f->pidfile, sizeof(f->pidfile), "%s/pid", f->dir);
    snprintf(f->script, sizeof(f->script), "%s/restart.sh", f->dir);
    snprintf(next, sizeof(next), "%s/.app.new", f->dir);
    copy_file("/bin/sleep", f->app);
    f->old_id = id_of(f->app);
    copy_file("/bin/sleep", next);
    snprintf(body, sizeof(body),
             "[ -f %s ] && kill \"$(cat %s)\"\n"
             "%s 1000 </dev/null >/dev/null 2>&1 &\n"
             "echo $! >%s\n"
             "echo restarted\n",
             f->pidfile, f->pidfile, f->app, f->pidfile);
    write_script(f->script, body);
    *state = f;
    return 0;
}

static pid_t
read_pidfile(struct fixture *f)
{
    FILE *fp = fopen(f->pidfile, "re");
    int pid = 0;

    if (fp == NULL)
        return 0;
    if (fscanf(fp, "%d", &pid) != 1)
        pid = 0;
    fclose(fp);
    return pid;
}

static void
reap(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    size_t i = 0;

    for (i = 0; i < f->n_kids; i++)
        reap(f->kids[i]);
    reap(read_pidfile(f));
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    etx_test_rmtree(f->dir);
    free(f);
    return 0;
}

static void
publish(struct fixture *f)
{
    char next[128];

    snprintf(next, sizeof(next), "%s/.app.new", f->dir);
    assert_int_equal(rename(next, f->app), 0);
    f->new_id = id_of(f->app);
    assert_true(f->new_id.ino != f->old_id.ino);
}

/* Wait until 'pid' has exec'ed the file 'id' (at most ~10 s). */
static void
wait_exec(pid_t pid, const struct etx_file_id *id)
{
    char exe[64];
    struct stat st;
    int i = 0;

    snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
    for (i = 0; i < 2000; i++) {
        if (stat(exe, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino)
            return;
        usleep(5000);
    }
    fail_msg("pid %d did not exec the service", (int)pid);
}

/* The old version running as a service started by the test. */
static pid_t
start_old_service(struct fixture *f)
{
    char pid[32];
    pid_t p = fork();

    assert_true(p >= 0);
    if (p == 0) {
        execl(f->app, "app", "1000", (char *)NULL);
        _exit(127);
    }
    f->kids[f->n_kids++] = p;
    wait_exec(p, &f->old_id);
    snprintf(pid, sizeof(pid), "%d\n", (int)p);
    assert_int_equal(etx_test_write_file(f->pidfile, pid, strlen(pid)), 0);
    return p;
}

/* A process that holds 'path' open for writing until killed. */
static pid_t
start_writer(struct fixture *f, const char *path)
{
    int sync[2];
    char c = 0;
    pid_t p = 0;

    assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
    p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0 || write(sync[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(sync[1]);
    assert_int_equal(read(sync[0], &c, 1), 1);
    close(sync[0]);
    f->kids[f->n_kids++] = p;
    return p;
}

static void
done_cb(const struct etx_restart_result *r, void *arg)
{
    struct run *run = arg;

    run->res = *r;
    run->calls++;
    /* The holder lists live during the callback only: keep what we test. */
    etx_holders_format(&r->writers, run->writers, sizeof(run->writers));
    etx_holders_format(&r->running_new, run->running_new,
                       sizeof(run->running_new));
    etx_holders_format(&r->running_old, run->running_old,
                       sizeof(run->running_old));
    run->new_pid = r->running_new.n > 0 ? r->running_new.v[0].pid : 0;
    run->old_pid = r->running_old.n > 0 ? r->running_old.v[0].pid : 0;
    run->writer_pid = r->writers.n > 0 ? r->writers.v[0].pid : 0;
    memset(&run->res.writers, 0, sizeof(run->res.writers));
    memset(&run->res.running_new, 0, sizeof(run->res.running_new));
    memset(&run->res.running_old, 0, sizeof(run->res.running_old));
}

static void
retry_cb(const struct etx_error *e, unsigned attempt, uint64_t delay_ms,
         void *arg)
{
    struct run *run = arg;
    size_t i = 0;

    (void)delay_ms;
    assert_int_equal(e->sys_errno, ETXTBSY);
    assert_int_equal(e->cls, ETX_CLASS_TRANSIENT);
    assert_int_equal(attempt, run->retries + 1);
    run->retries++;
    if (run->release == 0)
        return;
    reap(run->release);
    for (i = 0; i < run->f->n_kids; i++)
        if (run->f->kids[i] == run->release)
            run->f->kids[i] = 0;
    run->release = 0;
}

static void
spec_init(struct fixture *f, struct etx_restart_spec *s,
          const char *const *argv)
{
    static const struct etx_backoff_policy fast = {
        .attempts = 3,
        .first_ms = 10,
        .multiplier = 2,
        .cap_ms = 40,
        .jitter = ETX_JITTER_NONE,
    };

    memset(s, 0, sizeof(*s));
    s->argv = argv;
    s->target = f->app;
    s->new_id = f->new_id;
    s->has_old_id = true;
    s->old_id = f->old_id;
    s->timeout_ms = 30000;
    s->confirm_ms = 10000;
    s->poll_ms = 20;
    s->retry = &fast;
    s->on_retry = retry_cb;
}

static void
run_restart(struct run *run, struct etx_restart_spec *s)
{
    struct etx_error err = {0};

    s->retry_arg = run;
    assert_int_equal(uv_loop_init(&run->loop), 0);
    assert_int_equal(etx_restart_start(&run->loop, s, done_cb, run, NULL, &err),
                     ETX_OK);
    assert_int_equal(uv_run(&run->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(run->calls, 1);
    assert_int_equal(uv_loop_close(&run->loop), 0);
}

static void
assert_ok(const struct run *run)
{
    if (run->res.status != ETX_OK)
        fail_msg("restart failed: %s: %s [%s]", run->res.err.where,
                 run->res.err.msg, etx_error_class_name(run->res.err.cls));
}

/* The script stops the old service and starts the published file. */
static void
test_restart_command_runs_new_inode(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {f->script, NULL};
    pid_t old = start_old_service(f);

    publish(f);
    spec_init(f, &s, argv);
    run_restart(&run, &s);
    assert_ok(&run);
    assert_true(run.res.ran);
    assert_true(etx_spawn_is_success(&run.res.run));
    assert_non_null(strstr(run.res.run.output, "restarted"));
    assert_int_equal(run.res.attempts, 1);
    assert_true(run.new_pid > 0);
    assert_int_equal(run.new_pid, read_pidfile(f));
    assert_true(run.new_pid != old);
}

/* MUST 16: a restart that leaves the old process running is caught. */
static void
test_must16_restart_old_binary(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {"/bin/true", NULL};
    pid_t old = start_old_service(f);
    char pid[32];

    publish(f);
    spec_init(f, &s, argv);
    s.confirm_ms = 300;
    run_restart(&run, &s);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(run.res.err.msg, "running the old binary"));
    snprintf(pid, sizeof(pid), "pid %d", (int)old);
    assert_non_null(strstr(run.res.err.msg, pid));
    assert_int_equal(run.old_pid, old);
    assert_int_equal(run.new_pid, 0);
}

/*
 * MUST 16 literally: the script restarts the service from the old
 * process's /proc/PID/exe, so the new process runs the old inode.
 */
static void
test_must16_restart_reexec_proc_exe(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {f->script, NULL};
    char body[1024];
    char pid[32];
    pid_t old = start_old_service(f);

    publish(f);
    snprintf(body, sizeof(body),
             "old=$(cat %s)\n"
             "/proc/$old/exe 1000 </dev/null >/dev/null 2>&1 &\n"
             "echo $! >%s\n"
             "i=0\n"
             "while ! [ /proc/$!/exe -ef /proc/$old/exe ] && "
             "[ $i -lt 100000 ]; do i=$((i+1)); done\n"
             "kill $old\n"
             /* Wait until the old process no longer runs (a zombie has
              * no exe), so only the re-exec'ed one holds the old inode
              * when the restart checks; bounded like the loop above. */
             "i=0\n"
             "while [ -e /proc/$old/exe ] && [ $i -lt 100000 ]; "
             "do i=$((i+1)); done\n",
             f->pidfile, f->pidfile);
    write_script(f->script, body);
    spec_init(f, &s, argv);
    s.confirm_ms = 300;
    run_restart(&run, &s);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(run.res.err.msg, "running the old binary"));
    assert_true(read_pidfile(f) != old);
    snprintf(pid, sizeof(pid), "pid %d", (int)read_pidfile(f));
    assert_non_null(strstr(run.res.err.msg, pid));
    assert_int_equal(run.new_pid, 0);
}

/* Nothing runs either inode after the restart: did not start. */
static void
test_restart_nothing_runs(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {"/bin/true", NULL};

    publish(f);
    spec_init(f, &s, argv);
    s.confirm_ms = 200;
    run_restart(&run, &s);
    assert_int_equal(run.res.status, ETX_ERR);
    if (strstr(run.res.err.msg, "did not start") == NULL)
        fail_msg("%s: %s", run.res.err.where, run.res.err.msg);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
}

/* A writer on the new file: ETXTBSY retried; it goes away; success. */
static void
test_must11_restart_writer_retried(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {f->script, NULL};

    publish(f);
    run.release = start_writer(f, f->app);
    spec_init(f, &s, argv);
    run_restart(&run, &s);
    assert_ok(&run);
    assert_int_equal(run.retries, 1);
    assert_int_equal(run.res.attempts, 2);
    assert_int_equal(run.res.waited_ms, 10);
    assert_true(run.new_pid > 0);
}

/* A writer that stays: a design conflict naming it (MUST 11). */
static void
test_must11_restart_writer_conflict(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {f->script, NULL};
    pid_t w = 0;
    char pid[32];

    publish(f);
    w = start_writer(f, f->app);
    spec_init(f, &s, argv);
    run_restart(&run, &s);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.err.cls, ETX_CLASS_CONFLICT);
    assert_int_equal(run.res.err.sys_errno, ETXTBSY);
    snprintf(pid, sizeof(pid), "pid %d", (int)w);
    assert_non_null(strstr(run.res.err.msg, pid));
    assert_non_null(strstr(run.res.err.msg, "FD-W"));
    assert_int_equal(run.writer_pid, w);
    assert_int_equal(run.res.attempts, 3);
    assert_int_equal(run.retries, 2);
    assert_int_equal(run.res.waited_ms, 10 + 20);
    assert_false(run.res.ran);
    assert_int_equal(read_pidfile(f), 0);
}

/* The restart command itself held open for writing is checked too. */
static void
test_restart_command_file_writer(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {f->script, NULL};
    pid_t w = 0;

    publish(f);
    w = start_writer(f, f->script);
    spec_init(f, &s, argv);
    run_restart(&run, &s);
    if (run.res.err.cls != ETX_CLASS_CONFLICT)
        fail_msg("class %s: %s: %s", etx_error_class_name(run.res.err.cls),
                 run.res.err.where, run.res.err.msg);
    assert_string_equal(run.res.err.where, f->script);
    assert_int_equal(run.writer_pid, w);
    assert_false(run.res.ran);
}

static void
test_restart_exit_status(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {f->script, NULL};

    publish(f);
    write_script(f->script, "echo 'app: bad config' >&2\nexit 3\n");
    spec_init(f, &s, argv);
    run_restart(&run, &s);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(run.res.err.msg, "did not start"));
    assert_non_null(strstr(run.res.err.msg, "exit status 3"));
    assert_non_null(strstr(run.res.err.msg, "app: bad config"));
    assert_true(run.res.ran);
    assert_int_equal(run.res.run.exit_status, 3);
}

static void
test_restart_bin_false(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {"/bin/false", NULL};

    publish(f);
    spec_init(f, &s, argv);
    run_restart(&run, &s);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_non_null(strstr(run.res.err.msg, "exit status 1"));
}

static void
test_restart_timeout(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {"/bin/sleep", "60", NULL};

    publish(f);
    spec_init(f, &s, argv);
    s.timeout_ms = 200;
    run_restart(&run, &s);
    assert_int_equal(run.res.status, ETX_ERR);
    assert_int_equal(run.res.err.cls, ETX_CLASS_INTEGRITY);
    assert_int_equal(run.res.err.sys_errno, ETIMEDOUT);
    assert_non_null(strstr(run.res.err.msg, "timeout after 0.2s"));
    assert_true(run.res.run.timed_out);
    assert_false(run.res.run.exited);
    assert_int_equal(run.res.run.term_signal, SIGTERM);
}

static void
test_restart_missing_command(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    const char *argv[] = {"/nonexistent/etx-restart", NULL};

    publish(f);
    spec_init(f, &s, argv);
    run_restart(&run, &s);
    assert_int_equal(run.res.err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(run.res.err.sys_errno, ENOENT);
    assert_false(run.res.ran);
}

static void
test_restart_stop(void **state)
{
    struct fixture *f = *state;
    struct run run = {.f = f};
    struct etx_restart_spec s;
    struct etx_restart *r = NULL;
    struct etx_error err = {0};
    const char *argv[] = {"/bin/sleep", "60", NULL};

    publish(f);
    spec_init(f, &s, argv);
    assert_int_equal(uv_loop_init(&run.loop), 0);
    assert_int_equal(etx_restart_start(&run.loop, &s, done_cb, &run, &r, &err),
                     ETX_OK);
    etx_restart_stop(r);
    assert_int_equal(uv_run(&run.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&run.loop), 0);
    assert_int_equal(run.calls, 1);
    assert_int_equal(run.res.err.cls, ETX_CLASS_AMBIGUOUS);
    assert_int_equal(run.res.err.sys_errno, ECANCELED);
}

static void
test_restart_start_hostile(void **state)
{
    struct fixture *f = *state;
    uv_loop_t loop;
    struct etx_restart_spec s;
    struct etx_error err = {0};
    const char *rel[] = {"bin/restart", NULL};
    const char *bad_units[] = {"a/b.service", "-H.service", "", "app service",
                               "app;x.service"};
    size_t i = 0;

    assert_int_equal(uv_loop_init(&loop), 0);
    spec_init(f, &s, rel);
    assert_int_equal(etx_restart_start(&loop, &s, done_cb, NULL, NULL, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    s.argv = NULL;
    for (i = 0; i < sizeof(bad_units) / sizeof(bad_units[0]); i++) {
        s.unit = bad_units[i];
        memset(&err, 0, sizeof(err));
        assert_int_equal(
            etx_restart_start(&loop, &s, done_cb, NULL, NULL, &err), ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
        assert_false(etx_restart_unit_is_valid(bad_units[i]));
    }
    s.unit = NULL;
    assert_int_equal(etx_restart_start(&loop, &s, done_cb, NULL, NULL, &err),
                     ETX_ERR);
    assert_true(etx_restart_unit_is_valid("app.service"));
    assert_true(etx_restart_unit_is_valid("getty@tty1.service"));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

struct spawn_run {
    struct etx_spawn_result res;
    int calls;
};

static void
spawn_done(const struct etx_spawn_result *r, void *arg)
{
    struct spawn_run *sr = arg;

    sr->res = *r;
    sr->calls++;
}

static void
run_spawn(const char *const *argv, uint64_t timeout_ms, struct spawn_run *sr)
{
    uv_loop_t loop;
    struct etx_spawn_opts o = {0};
    struct etx_error err = {0};

    o.argv = argv;
    o.timeout_ms = timeout_ms;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(etx_spawn_start(&loop, &o, spawn_done, sr, NULL, &err),
                     ETX_OK);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(sr->calls, 1);
}

/* uv_spawn's UV_ETXTBSY is mapped to ETXTBSY, transient (exec context). */
static void
test_spawn_start_etxtbsy(void **state)
{
    struct fixture *f = *state;
    uv_loop_t loop;
    struct etx_spawn_opts o = {0};
    struct etx_error err = {0};
    const char *argv[] = {f->app, "0", NULL};
    int fd = open(f->app, O_WRONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    o.argv = argv;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(etx_spawn_start(&loop, &o, spawn_done, NULL, NULL, &err),
                     ETX_ERR);
    close(fd);
    assert_int_equal(err.sys_errno, ETXTBSY);
    assert_int_equal(err.cls, ETX_CLASS_TRANSIENT);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Output past the capture is cut, never grown. */
static void
test_spawn_output_oversize(void **state)
{
    struct spawn_run sr = {0};
    const char *argv[] = {"/bin/sh", "-c",
                          "i=0; while [ $i -lt 2000 ]; do echo 0123456789;"
                          " i=$((i+1)); done; exit 0",
                          NULL};

    (void)state;
    run_spawn(argv, 30000, &sr);
    assert_true(etx_spawn_is_success(&sr.res));
    assert_true(sr.res.output_cut);
    assert_int_equal(sr.res.output_len, ETX_SPAWN_CAPTURE);
    assert_int_equal(strncmp(sr.res.output, "0123456789\n0123", 15), 0);
}

/* A background child keeping the output open does not hold the result. */
static void
test_spawn_background_child(void **state)
{
    struct fixture *f = *state;
    struct spawn_run sr = {0};
    char cmd[256];
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};

    snprintf(cmd, sizeof(cmd), "/bin/sleep 600 & echo $! >%s; echo started",
             f->pidfile);
    run_spawn(argv, 30000, &sr);
    assert_true(etx_spawn_is_success(&sr.res));
    assert_string_equal(sr.res.output, "started\n");
    assert_false(sr.res.output_cut);
    assert_true(read_pidfile(f) > 0);
    assert_int_equal(kill(read_pidfile(f), 0), 0); /* still running */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart_command_runs_new_inode,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must16_restart_old_binary, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must16_restart_reexec_proc_exe,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_nothing_runs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_must11_restart_writer_retried,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_must11_restart_writer_conflict,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_command_file_writer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_exit_status, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_bin_false, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_missing_command, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_start_hostile, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spawn_start_etxtbsy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spawn_output_oversize, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spawn_background_child, setup,
                                        teardown),
    };

    /* Services the scripts start in the background become our children. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
