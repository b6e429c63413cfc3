/* SPDX-License-Identifier: MIT */
/*
 * Commands run without a shell on a libuv loop: argv straight to execve
 * through uv_spawn, a SIGTERM/SIGKILL timeout on the process group, and the
 * output captured in a sealed memfd.
 */
#define _GNU_SOURCE
#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct etx_spawn {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_timer_t timer;
    etx_spawn_done_cb cb;
    void *arg;
    int capfd;
    uint64_t start_ms;
    uint64_t grace_ms;
    bool running; /* spawned and its exit not seen yet */
    bool started; /* uv_spawn succeeded: the callback is owed */
    int closing;  /* handle closes not finished yet */
    struct etx_spawn_result res;
};

/* A memfd of exactly ETX_SPAWN_CAPTURE bytes that can never grow. */
static int
capture_open(const char *what, struct etx_error *err)
{
    int fd = memfd_create("etx-spawn", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "memfd_create", what,
                             "cannot create the output capture");
    if (ftruncate(fd, ETX_SPAWN_CAPTURE) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) !=
            0) {
        int e = errno;

        close(fd);
        return etx_error_sys(err, e, ETX_CTX_FILE, "memfd-seal", what,
                             "cannot bound the output capture");
    }
    return fd;
}

/* The child shares the capture's file offset: it says how much it wrote. */
static void
capture_read(struct etx_spawn *sp)
{
    off_t end = lseek(sp->capfd, 0, SEEK_CUR);
    size_t want = 0;
    size_t got = 0;
    ssize_t n = 0;

    if (end <= 0)
        return;
    want = (size_t)end < ETX_SPAWN_CAPTURE ? (size_t)end : ETX_SPAWN_CAPTURE;
    sp->res.output_cut = (size_t)end >= ETX_SPAWN_CAPTURE;
    while (got < want) {
        n = pread(sp->capfd, sp->res.output + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    sp->res.output_len = got;
    sp->res.output[got] = '\0';
}

static void
closed_cb(uv_handle_t *h)
{
    struct etx_spawn *sp = h->data;

    if (--sp->closing > 0)
        return;
    if (sp->started)
        sp->cb(&sp->res, sp->arg);
    free(sp);
}

/* Signal the command's process group and the command itself. */
static void
kill_all(struct etx_spawn *sp, int sig)
{
    if (!sp->running)
        return;
    uv_kill(-sp->res.pid, sig);
    uv_kill(sp->res.pid, sig);
}

static void
grace_cb(uv_timer_t *t)
{
    kill_all(t->data, SIGKILL);
}

static void
timeout_cb(uv_timer_t *t)
{
    struct etx_spawn *sp = t->data;

    sp->res.timed_out = true;
    kill_all(sp, SIGTERM);
    uv_timer_start(&sp->timer, grace_cb, sp->grace_ms, 0);
}

static void
exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    struct etx_spawn *sp = p->data;

    sp->running = false;
    uv_timer_stop(&sp->timer);
    sp->res.exited = term_signal == 0;
    sp->res.exit_status = (int)exit_status;
    sp->res.term_signal = term_signal;
    uv_update_time(sp->loop);
    sp->res.elapsed_ms = uv_now(sp->loop) - sp->start_ms;
    capture_read(sp);
    close(sp->capfd);
    sp->capfd = -1;
    sp->closing = 2;
    uv_close((uv_handle_t *)&sp->proc, closed_cb);
    uv_close((uv_handle_t *)&sp->timer, closed_cb);
}

static int
check_argv(const struct etx_spawn_opts *o, struct etx_error *err)
{
    if (o == NULL || o->argv == NULL || o->argv[0] == NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "spawn", NULL,
                             "no command given");
    if (o->argv[0][0] != '/')
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "spawn", o->argv[0],
                             "the command must be an absolute path");
    return ETX_OK;
}

/* uv_spawn proper; on failure the process handle is closed (and sp freed). */
static int
spawn_process(struct etx_spawn *sp, const struct etx_spawn_opts *o,
              struct etx_error *err)
{
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];
    int rc = 0;

    memset(&po, 0, sizeof(po));
    memset(stdio, 0, sizeof(stdio));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = sp->capfd;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = sp->capfd;
    po.file = o->argv[0];
    po.args = (char **)o->argv;
    po.cwd = "/";
    po.flags = UV_PROCESS_DETACHED;
    po.stdio_count = 3;
    po.stdio = stdio;
    po.exit_cb = exit_cb;
    sp->proc.data = sp;
    rc = uv_spawn(sp->loop, &sp->proc, &po);
    if (rc == 0)
        return ETX_OK;
    etx_error_sys(err, -rc, ETX_CTX_EXEC, "spawn", o->argv[0],
                  "cannot start %s", o->argv[0]);
    close(sp->capfd);
    sp->closing = 1;
    uv_close((uv_handle_t *)&sp->proc, closed_cb);
    return ETX_ERR;
}

int
etx_spawn_start(uv_loop_t *loop, const struct etx_spawn_opts *o,
                etx_spawn_done_cb cb, void *arg, struct etx_spawn **out,
                struct etx_error *err)
{
    struct etx_spawn *sp = NULL;
    int fd = -1;

    if (check_argv(o, err) != ETX_OK)
        return ETX_ERR;
    fd = capture_open(o->argv[0], err);
    if (fd < 0)
        return ETX_ERR;
    sp = calloc(1, sizeof(*sp));
    if (sp == NULL) {
        close(fd);
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "spawn", o->argv[0],
                             "out of memory");
    }
    sp->loop = loop;
    sp->cb = cb;
    sp->arg = arg;
    sp->capfd = fd;
    sp->grace_ms = o->grace_ms != 0 ? o->grace_ms : ETX_SPAWN_GRACE_MS;
    uv_update_time(loop);
    sp->start_ms = uv_now(loop);
    if (spawn_process(sp, o, err) != ETX_OK)
        return ETX_ERR;
    sp->started = true;
    sp->running = true;
    sp->res.pid = sp->proc.pid;
    uv_timer_init(loop, &sp->timer);
    sp->timer.data = sp;
    if (o->timeout_ms != 0)
        uv_timer_start(&sp->timer, timeout_cb, o->timeout_ms, 0);
    if (out != NULL)
        *out = sp;
    return ETX_OK;
}

void
etx_spawn_stop(struct etx_spawn *sp)
{
    if (sp == NULL || !sp->running)
        return;
    sp->res.timed_out = true;
    uv_timer_stop(&sp->timer);
    kill_all(sp, SIGKILL);
}

const char *
etx_spawn_describe(const struct etx_spawn_result *r, uint64_t timeout_ms,
                   char *buf, size_t len)
{
    if (r->timed_out && timeout_ms != 0) {
        snprintf(buf, len, "timeout after %gs", (double)timeout_ms / 1000);
    } else if (r->timed_out) {
        snprintf(buf, len, "stopped");
    } else if (r->exited) {
        snprintf(buf, len, "exit status %d", r->exit_status);
    } else {
        snprintf(buf, len, "killed by signal %d (SIG%s)", r->term_signal,
                 sigabbrev_np(r->term_signal) != NULL
                     ? sigabbrev_np(r->term_signal)
                     : "?");
    }
    return buf;
}

bool
etx_spawn_is_success(const struct etx_spawn_result *r)
{
    return r->exited && r->exit_status == 0 && !r->timed_out;
}

char **
etx_spawn_argv_dup(const char *const *argv)
{
    char **v = NULL;
    size_t n = 0;
    size_t i = 0;

    while (argv[n] != NULL)
        n++;
    v = calloc(n + 1, sizeof(*v));
    for (i = 0; v != NULL && i < n; i++) {
        v[i] = strdup(argv[i]);
        if (v[i] == NULL) {
            etx_spawn_argv_free(v);
            return NULL;
        }
    }
    return v;
}

void
etx_spawn_argv_free(char **argv)
{
    size_t i;

    for (i = 0; argv != NULL && argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}
