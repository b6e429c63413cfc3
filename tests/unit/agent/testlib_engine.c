/* SPDX-License-Identifier: MIT */
/* Helpers shared by the replacement-engine tests (see the header). */
#define _GNU_SOURCE
#include "testlib_engine.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "agent/tempname.h"

extern char **environ;

char *
etx_tl_scratch(void)
{
    char *p = strdup("/var/tmp/etxroll-engine-test.XXXXXX");

    assert_non_null(p);
    assert_non_null(mkdtemp(p));
    return p;
}

void
etx_tl_rmtree(const char *path)
{
    char *argv[] = {"/bin/rm", "-rf", (char *)path, NULL};
    char out[256];

    if (path != NULL)
        etx_tl_run(argv, NULL, out, sizeof(out));
}

char *
etx_tl_join(const char *dir, const char *name)
{
    char *p = NULL;

    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

char *
etx_tl_bin(const char *name)
{
    const char *b = getenv("ETX_BINARY_DIR");
    char *p = NULL;

    assert_non_null(b);
    assert_true(asprintf(&p, "%s/tests/agent-engine/%s", b, name) > 0);
    return p;
}

void
etx_tl_write(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

void
etx_tl_copy(const char *src, const char *dst, mode_t mode)
{
    char buf[65536];
    ssize_t n;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

    assert_true(in >= 0);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    assert_int_equal(fchmod(out, mode), 0);
    assert_int_equal(close(in), 0);
    assert_int_equal(close(out), 0);
}

void
etx_tl_sha(const char *path, char hex[ETX_DIGEST_HEX_LEN + 1])
{
    struct etx_error err = {0};

    assert_int_equal(etx_digest_file(path, hex, NULL, &err), ETX_OK);
}

ino_t
etx_tl_ino(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

size_t
etx_tl_count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e = NULL;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (etx_tempname_is_temp(e->d_name))
            n++;
    closedir(d);
    return n;
}

/* environ plus 'env', in a new array (free the array only). */
static char **
merged_env(char *const env[])
{
    size_t n = 0, m = 0, i;
    char **v = NULL;

    while (environ[n] != NULL)
        n++;
    while (env != NULL && env[m] != NULL)
        m++;
    v = calloc(n + m + 1, sizeof(*v));
    assert_non_null(v);
    for (i = 0; i < m; i++)
        v[i] = env[i];
    for (i = 0; i < n; i++)
        v[m + i] = environ[i];
    return v;
}

int
etx_tl_run(char *const argv[], char *const env[], char *out, size_t len)
{
    char **envp = merged_env(env);
    int p[2], status = 0;
    size_t got = 0;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(p[1]);
    while ((n = read(p[0], out + got, len - 1 - got)) > 0 ||
           (n < 0 && errno == EINTR))
        if (n > 0 && (got += (size_t)n) == len - 1)
            break;
    out[got] = '\0';
    close(p[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    free(envp);
    return status;
}

pid_t
etx_tl_start_loop(const char *prog)
{
    char line[64];
    int p[2];
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        execl(prog, prog, "loop", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    do {
        n = read(p[0], line, sizeof(line));
    } while (n < 0 && errno == EINTR);
    close(p[0]);
    assert_true(n > 0);
    return pid;
}

void
etx_tl_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

bool
etx_tl_have(const char *tool)
{
    static const char *const dirs[] = {"/usr/bin", "/usr/sbin", "/bin",
                                       "/sbin"};
    char p[256];
    size_t i;

    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dirs[i], tool);
        if (access(p, X_OK) == 0)
            return true;
    }
    return false;
}

void
etx_tl_tar(const char *tar_path, const char *entry, const void *data,
           size_t len, mode_t mode)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();

    assert_non_null(a);
    assert_non_null(e);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, tar_path), ARCHIVE_OK);
    archive_entry_set_pathname(e, entry);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, (la_int64_t)len);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_entry_free(e);
    archive_write_free(a);
}

void *
etx_tl_slurp(const char *path, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}
