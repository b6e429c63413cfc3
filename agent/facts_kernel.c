/* SPDX-License-Identifier: MIT */
/*
 * The kernel's ETXTBSY semantics, measured for diagnostics (facts.h, MUST
 * 24): a scratch copy of ETX_FACTS_PROBE_PROGRAM is run, opened for
 * writing, stopped, then held open for writing and executed. The copy is
 * removed and every child killed and reaped before returning.
 */
#define _GNU_SOURCE
#include "agent/facts.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/facts_internal.h"

/* Stop and reap a child of the probe. */
static void
probe_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Copy everything from in to out, handling short writes; errno or 0. */
static int
copy_fd(int in, int out)
{
    char buf[65536];
    ssize_t n = 0;
    ssize_t w = 0;
    ssize_t off = 0;

    for (;;) {
        n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : 0;
        for (off = 0; off < n; off += w) {
            w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                return errno;
            if (w < 0)
                w = 0;
        }
    }
}

/* A new executable copy of the probe program in dir; its name in path. */
static int
probe_copy(const char *dir, char *path, size_t len, struct etx_error *err)
{
    int in = -1;
    int out = -1;
    int e = 0;

    snprintf(path, len, "%s/.etxroll-probe-XXXXXX", dir);
    in = open(ETX_FACTS_PROBE_PROGRAM, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open",
                             ETX_FACTS_PROBE_PROGRAM,
                             "cannot read the probe program");
    out = mkostemp(path, O_CLOEXEC);
    if (out < 0) {
        e = errno;
        path[0] = '\0';
        close(in);
        return etx_error_sys(err, e, ETX_CTX_FILE, "mkostemp", dir,
                             "cannot create the probe copy");
    }
    e = copy_fd(in, out);
    if (e == 0 && fchmod(out, 0700) != 0)
        e = errno;
    if (close(out) != 0 && e == 0)
        e = errno;
    close(in);
    if (e != 0)
        return etx_error_sys(err, e, ETX_CTX_FILE, "copy", path,
                             "cannot write the probe copy");
    return ETX_OK;
}

/*
 * Run path in a child. *pid gets the child once it has executed (the
 * close-on-exec pipe reads end of file), or stays 0 with *exec_errno set
 * when execve failed (that child is reaped).
 */
static int
probe_spawn(const char *path, pid_t *pid, int *exec_errno,
            struct etx_error *err)
{
    char *argv[] = {(char *)"etxroll-probe", (char *)"60", NULL};
    char *envp[] = {NULL};
    pid_t child = 0;
    ssize_t n = 0;
    int p[2];
    int e = 0;

    *pid = 0;
    *exec_errno = 0;
    if (pipe2(p, O_CLOEXEC) != 0)
        return etx_error_sys(err, errno, ETX_CTX_EXEC, "pipe2", path,
                             "cannot start the probe");
    child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execve(path, argv, envp);
        e = errno;
        n = write(p[1], &e, sizeof(e));
        _exit(n == (ssize_t)sizeof(e) ? 127 : 126);
    }
    e = errno;
    close(p[1]);
    if (child < 0) {
        close(p[0]);
        return etx_error_sys(err, e, ETX_CTX_EXEC, "fork", path,
                             "cannot start the probe");
    }
    do
        n = read(p[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == (ssize_t)sizeof(e)) {
        *exec_errno = e;
        probe_reap(child);
    } else {
        *pid = child;
    }
    return ETX_OK;
}

/* The two measurements on the copy at path; children are left in *pid. */
static int
probe_run(const char *path, struct etx_facts_etxtbsy *out, pid_t *pid, int *fd,
          struct etx_error *err)
{
    int e = 0;

    if (probe_spawn(path, pid, &e, err) != ETX_OK)
        return ETX_ERR;
    if (*pid == 0)
        return etx_error_sys(err, e, ETX_CTX_EXEC, "execve", path,
                             "cannot run the probe copy");
    /* A running program: may it be opened for writing? */
    *fd = open(path, O_WRONLY | O_CLOEXEC);
    out->write_errno = *fd < 0 ? errno : 0;
    if (*fd >= 0)
        close(*fd);
    probe_reap(*pid);
    *pid = 0;
    /* A file open for writing: may it be executed? */
    *fd = open(path, O_WRONLY | O_CLOEXEC);
    if (*fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_WRITE_OPEN, "open", path,
                             "cannot open the stopped probe copy");
    if (probe_spawn(path, pid, &out->exec_errno, err) != ETX_OK)
        return ETX_ERR;
    out->write_denied = out->write_errno == ETXTBSY;
    out->exec_denied = out->exec_errno == ETXTBSY;
    return ETX_OK;
}

int
etx_facts_etxtbsy_probe(const char *scratch_dir, struct etx_facts_etxtbsy *out,
                        struct etx_error *err)
{
    char path[PATH_MAX];
    struct utsname u;
    pid_t pid = 0;
    int fd = -1;
    int rc = ETX_ERR;

    memset(out, 0, sizeof(*out));
    path[0] = '\0';
    if (uname(&u) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "uname", NULL,
                             "cannot read the kernel release");
    snprintf(out->kernel, sizeof(out->kernel), "%s", u.release);
    if (etx_facts_fs(scratch_dir, &out->fs, err) != ETX_OK)
        return ETX_ERR;
    if (probe_copy(scratch_dir, path, sizeof(path), err) != ETX_OK)
        goto out;
    rc = probe_run(path, out, &pid, &fd, err);
out:
    if (pid > 0)
        probe_reap(pid);
    if (fd >= 0)
        close(fd);
    if (path[0] != '\0')
        unlink(path);
    return rc;
}

static const char *
errno_name(int e)
{
    return e == 0 ? "" : etx_error_errno_name(e);
}

json_t *
etx_facts_etxtbsy_to_json(const struct etx_facts_etxtbsy *p)
{
    return json_pack("{s:b, s:b, s:s, s:s, s:o, s:o}", "write_denied",
                     (int)p->write_denied, "exec_denied", (int)p->exec_denied,
                     "write_errno", errno_name(p->write_errno), "exec_errno",
                     errno_name(p->exec_errno), "kernel",
                     etx_facts__text(p->kernel), "fs",
                     etx_facts__fs_to_json(&p->fs));
}
