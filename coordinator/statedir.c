/* SPDX-License-Identifier: MIT */
/*
 * The state directory: choosing it, creating it 0700 one component at a
 * time (each opened with O_DIRECTORY, the last with O_NOFOLLOW, so nothing
 * is created under a symbolic link planted in the last place), and the
 * per-fleet paths beneath it.
 */
#include "coordinator/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *
env_value(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

static int
put_path(char *buf, size_t len, const char *a, const char *b,
         struct etx_error *err)
{
    int n = snprintf(buf, len, "%s%s", a, b);

    if (n < 0 || (size_t)n >= len)
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "statedir", a,
                             "state directory path too long");
    return ETX_OK;
}

int
etx_statedir_resolve(const char *override, uid_t euid, char *buf, size_t len,
                     struct etx_error *err)
{
    const char *v = NULL;

    if (override != NULL && override[0] != '\0')
        return put_path(buf, len, override, "", err);
    v = env_value("ETXROLL_STATE_DIR");
    if (v != NULL)
        return put_path(buf, len, v, "", err);
    if (euid == 0)
        return put_path(buf, len, ETX_STATEDIR_ROOT_DEFAULT, "", err);
    v = env_value("XDG_STATE_HOME");
    if (v != NULL && v[0] == '/')
        return put_path(buf, len, v, "/etxroll", err);
    v = env_value("HOME");
    if (v != NULL)
        return put_path(buf, len, v, "/.local/state/etxroll", err);
    return etx_error_set(err, ETX_CLASS_INPUT, 0, "statedir", NULL,
                         "no state directory: give --state-dir or set "
                         "ETXROLL_STATE_DIR (HOME is not set)");
}

/* Refuse a last directory that others could fill with locks or journals. */
static int
check_private(int fd, const char *path, struct etx_error *err)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "stat", path,
                             "cannot check the state directory");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return etx_error_set(err, ETX_CLASS_PLACEMENT, 0, "statedir", path,
                             "state directory is writable by group or "
                             "others (mode %04o); run chmod 0700 on it",
                             (unsigned)(st.st_mode & 07777));
    return ETX_OK;
}

static bool
is_symlink(int dfd, const char *name)
{
    struct stat st;

    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISLNK(st.st_mode);
}

/*
 * Create (when missing) and open one component below 'dfd'. Returns the
 * new directory descriptor or -1 with err filled.
 */
static int
step_into(int dfd, const char *comp, bool last, const char *path,
          struct etx_error *err)
{
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    bool created = mkdirat(dfd, comp, 0700) == 0;
    int fd;

    if (!created && errno != EEXIST) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "mkdir", path,
                      "cannot create the state directory");
        return -1;
    }
    if (last)
        flags |= O_NOFOLLOW;
    fd = openat(dfd, comp, flags);
    if (fd < 0 && last && errno == ENOTDIR && is_symlink(dfd, comp))
        errno = ELOOP; /* O_DIRECTORY answers first for a link */
    if (fd < 0 && errno == ELOOP) {
        etx_error_sys(err, ELOOP, ETX_CTX_FILE, "open", path,
                      "'%s' is a symbolic link; give the real directory", comp);
        return -1;
    }
    if (fd < 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "open", path,
                      "cannot open '%s' as a directory", comp);
        return -1;
    }
    /* The umask could leave less than 0700; make it exactly that. */
    if (created && fchmod(fd, 0700) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "chmod", path,
                      "cannot set mode 0700");
        close(fd);
        return -1;
    }
    return fd;
}

/* The next non-empty component of *p, copied into comp; false at the end. */
static bool
next_comp(const char **p, char *comp, size_t len)
{
    const char *s = *p;
    size_t n;

    while (*s == '/')
        s++;
    n = strcspn(s, "/");
    if (n == 0 || n >= len)
        return false;
    memcpy(comp, s, n);
    comp[n] = '\0';
    *p = s + n;
    return true;
}

static bool
is_last(const char *p)
{
    return p[strspn(p, "/")] == '\0';
}

int
etx_statedir_ensure(const char *path, struct etx_error *err)
{
    char comp[NAME_MAX + 1];
    const char *p = path;
    int dfd = -1, fd, rc = ETX_ERR;

    if (path == NULL || path[0] == '\0')
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "statedir", NULL,
                             "empty state directory path");
    dfd = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", path,
                             "cannot open the start of the path");
    while (next_comp(&p, comp, sizeof(comp))) {
        fd = step_into(dfd, comp, is_last(p), path, err);
        if (fd < 0)
            goto out;
        close(dfd);
        dfd = fd;
    }
    if (!is_last(p)) {
        etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "statedir", path,
                      "a path component is too long");
        goto out;
    }
    rc = check_private(dfd, path, err);
out:
    close(dfd);
    return rc;
}

int
etx_statedir_check_name(const char *what, const char *name,
                        struct etx_error *err)
{
    size_t n = name != NULL ? strlen(name) : 0;
    size_t ok;

    if (n == 0)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "statedir", NULL,
                             "empty %s", what);
    ok = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789._-");
    if (ok != n || name[0] == '.' || n > ETX_STATEDIR_NAME_MAX)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "statedir", name,
                             "invalid %s: use 1 to %d of A-Z a-z 0-9 . _ - "
                             "not starting with '.'",
                             what, ETX_STATEDIR_NAME_MAX);
    return ETX_OK;
}

int
etx_statedir_fleet_path(const char *state, const char *fleet, char *buf,
                        size_t len, struct etx_error *err)
{
    int n;

    if (etx_statedir_check_name("fleet name", fleet, err) != ETX_OK)
        return ETX_ERR;
    n = snprintf(buf, len, "%s/%s", state, fleet);
    if (n < 0 || (size_t)n >= len)
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "statedir", state,
                             "fleet directory path too long");
    return ETX_OK;
}

int
etx_statedir_fleet_ensure(const char *state, const char *fleet, char *buf,
                          size_t len, struct etx_error *err)
{
    char rollouts[PATH_MAX];

    if (etx_statedir_fleet_path(state, fleet, buf, len, err) != ETX_OK ||
        put_path(rollouts, sizeof(rollouts), buf, "/rollouts", err) != ETX_OK)
        return ETX_ERR;
    if (etx_statedir_ensure(state, err) != ETX_OK ||
        etx_statedir_ensure(buf, err) != ETX_OK ||
        etx_statedir_ensure(rollouts, err) != ETX_OK)
        return ETX_ERR;
    return ETX_OK;
}
