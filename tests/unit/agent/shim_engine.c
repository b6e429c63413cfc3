/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for the engine tests, loaded into etx_engine_driver.
 * ETX_SHIM_MODE (comma-separated) selects what it does:
 *   count             count write-mode opens (O_WRONLY, O_RDWR, O_TRUNC),
 *                     creat, truncate and ftruncate of files that already
 *                     exist and are not engine temps, and of files that are
 *                     some process's /proc/PID/exe; the counts and the
 *                     offending paths go to $ETX_SHIM_OUT at exit
 *                     (MUST 1 and 2: with 6.11 semantics they would succeed)
 *   fsync_eio         fsync/fdatasync of an engine temp fail with EIO (MUST 5)
 *   kill_after_rename a renameat onto a name that is not an engine name
 *                     succeeds, then the process gets SIGKILL (MUST 15)
 *   rename_etimedout  that renameat succeeds but reports ETIMEDOUT (MUST 9)
 * The temp pattern is re-implemented here on purpose: an independent oracle.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOTE_MAX 2048

struct shim_counts {
    unsigned long exe_writes;     /* write-mode on a running exe's inode */
    unsigned long nontemp_writes; /* write-mode on an existing non-temp */
    unsigned long truncates;      /* any truncate/ftruncate */
    char notes[NOTE_MAX];
};

/* The shim's only state; a test shim, not project code. */
static struct shim_counts counts;

static bool
mode_has(const char *what)
{
    const char *m = getenv("ETX_SHIM_MODE");

    return m != NULL && strstr(m, what) != NULL;
}

static const char *
base_of(const char *path)
{
    const char *s = strrchr(path, '/');

    return s != NULL ? s + 1 : path;
}

/* ".<x>.etxroll.<16 lower-case hex>" */
static bool
is_temp(const char *name)
{
    size_t len = strlen(name), i;
    const char *p = NULL;

    if (name[0] != '.' || len < 2 + 9 + 16)
        return false;
    p = name + len - 16;
    if (strncmp(p - 9, ".etxroll.", 9) != 0)
        return false;
    for (i = 0; i < 16; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}

/* Engine names: temps and the kept previous version. */
static bool
is_engine_name(const char *name)
{
    size_t len = strlen(name), plen = strlen(".etxroll-prev");

    return is_temp(name) ||
           (len > plen && strcmp(name + len - plen, ".etxroll-prev") == 0);
}

static bool
is_some_exe(dev_t dev, ino_t ino)
{
    DIR *d = opendir("/proc");
    struct dirent *e = NULL;
    char p[300];
    struct stat st;
    bool hit = false;

    if (d == NULL)
        return false;
    while (!hit && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (snprintf(p, sizeof(p), "/proc/%s/exe", e->d_name) >= (int)sizeof(p))
            continue;
        if (stat(p, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
            hit = true;
    }
    closedir(d);
    return hit;
}

static void
note(const char *what, const char *path)
{
    size_t n = strlen(counts.notes);

    snprintf(counts.notes + n, sizeof(counts.notes) - n, "%s %s\n", what, path);
}

static void
check_write_open(int dirfd, const char *path, int flags)
{
    struct stat st;
    int at = (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0;

    if ((flags & O_ACCMODE) == O_RDONLY && (flags & O_TRUNC) == 0)
        return;
    if (fstatat(dirfd, path, &st, at) != 0)
        return; /* a new file: fine */
    if (!is_temp(base_of(path))) {
        counts.nontemp_writes++;
        note("write-open of existing non-temp", path);
    }
    if (is_some_exe(st.st_dev, st.st_ino)) {
        counts.exe_writes++;
        note("write-open of a running executable", path);
    }
}

static void
check_truncate(const char *path)
{
    counts.truncates++;
    note("truncate", path);
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open_fn)(const char *, int, ...);

static mode_t
mode_arg(int flags, va_list ap)
{
    if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE)
        return (mode_t)va_arg(ap, int);
    return 0;
}

int
open(const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;

    va_start(ap, flags);
    m = mode_arg(flags, ap);
    va_end(ap);
    if (mode_has("count"))
        check_write_open(AT_FDCWD, path, flags);
    return REAL("open", open_fn)(path, flags, m);
}

int
open64(const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;

    va_start(ap, flags);
    m = mode_arg(flags, ap);
    va_end(ap);
    if (mode_has("count"))
        check_write_open(AT_FDCWD, path, flags);
    return REAL("open64", open_fn)(path, flags, m);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;

    va_start(ap, flags);
    m = mode_arg(flags, ap);
    va_end(ap);
    if (mode_has("count"))
        check_write_open(dirfd, path, flags);
    return REAL("openat", openat_fn)(dirfd, path, flags, m);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t m;

    va_start(ap, flags);
    m = mode_arg(flags, ap);
    va_end(ap);
    if (mode_has("count"))
        check_write_open(dirfd, path, flags);
    return REAL("openat64", openat_fn)(dirfd, path, flags, m);
}

int
creat(const char *path, mode_t m)
{
    if (mode_has("count"))
        check_write_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC);
    return REAL("creat", int (*)(const char *, mode_t))(path, m);
}

int
creat64(const char *path, mode_t m)
{
    if (mode_has("count"))
        check_write_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC);
    return REAL("creat64", int (*)(const char *, mode_t))(path, m);
}

int
truncate(const char *path, off_t len)
{
    check_truncate(path);
    return REAL("truncate", int (*)(const char *, off_t))(path, len);
}

int
truncate64(const char *path, off_t len)
{
    check_truncate(path);
    return REAL("truncate64", int (*)(const char *, off_t))(path, len);
}

int
ftruncate(int fd, off_t len)
{
    check_truncate("(fd)");
    return REAL("ftruncate", int (*)(int, off_t))(fd, len);
}

int
ftruncate64(int fd, off_t len)
{
    check_truncate("(fd)");
    return REAL("ftruncate64", int (*)(int, off_t))(fd, len);
}

static bool
fd_is_temp(int fd)
{
    char link[64], path[PATH_MAX];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n < 0)
        return false;
    path[n] = '\0';
    return is_temp(base_of(path));
}

int
fsync(int fd)
{
    if (mode_has("fsync_eio") && fd_is_temp(fd)) {
        errno = EIO;
        return -1;
    }
    return REAL("fsync", int (*)(int))(fd);
}

int
fdatasync(int fd)
{
    if (mode_has("fsync_eio") && fd_is_temp(fd)) {
        errno = EIO;
        return -1;
    }
    return REAL("fdatasync", int (*)(int))(fd);
}

int
renameat(int odir, const char *from, int ndir, const char *to)
{
    int rc = REAL("renameat", int (*)(int, const char *, int, const char *))(
        odir, from, ndir, to);

    if (rc != 0 || is_engine_name(base_of(to)))
        return rc;
    if (mode_has("kill_after_rename"))
        raise(SIGKILL);
    if (mode_has("rename_etimedout")) {
        errno = ETIMEDOUT;
        return -1;
    }
    return rc;
}

__attribute__((destructor)) static void
shim_report(void)
{
    const char *out = getenv("ETX_SHIM_OUT");
    char buf[NOTE_MAX + 128];
    int fd, n;

    if (out == NULL || !mode_has("count"))
        return;
    n = snprintf(buf, sizeof(buf),
                 "exe_writes=%lu nontemp_writes=%lu truncates=%lu\n%s",
                 counts.exe_writes, counts.nontemp_writes, counts.truncates,
                 counts.notes);
    fd = (int)syscall(SYS_openat, AT_FDCWD, out,
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (write(fd, buf,
              (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1)) < 0)
        n = 0;
    close(fd);
}
