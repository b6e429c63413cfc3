/* SPDX-License-Identifier: MIT */
/*
 * Configured roots and path resolution beneath them: openat2() with
 * RESOLVE_BENEATH where the kernel has it, a component walk where not.
 */
#define _GNU_SOURCE
#include "agent/roots.h"
#include "agent/roots_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EAGAIN_TRIES 8 /* openat2 EAGAIN: a rename raced the lookup */

struct root {
    char *path; /* normalised, no trailing '/' except for "/" */
    size_t len;
    int fd;
};

struct etx_roots {
    size_t n;
    struct root *v;
    bool force_walk;
};

/*
 * Copy the absolute 'in' to 'out' with runs of '/' collapsed and no
 * trailing '/'. Refuses a relative path, "." and ".." components and
 * components longer than NAME_MAX.
 */
static int
normalize(const char *in, char *out, size_t out_len, enum etx_err_class cls,
          struct etx_error *err)
{
    const char *p = in, *end = NULL;
    size_t o = 0, len;

    if (in[0] != '/')
        return etx_error_set(err, cls, EINVAL, "resolve", in,
                             "the path is not absolute");
    while (*p != '\0') {
        while (*p == '/')
            p++;
        end = strchrnul(p, '/');
        len = (size_t)(end - p);
        if (len == 0)
            break;
        if ((len == 1 && p[0] == '.') || (len == 2 && strncmp(p, "..", 2) == 0))
            return etx_error_set(err, cls, EACCES, "resolve", in,
                                 "a \".\" or \"..\" component is refused");
        if (len > NAME_MAX)
            return etx_error_set(err, cls, ENAMETOOLONG, "resolve", in,
                                 "a component is longer than NAME_MAX");
        if (o + 1 + len + 1 > out_len)
            return etx_error_set(err, cls, ENAMETOOLONG, "resolve", in,
                                 "the path is too long");
        out[o++] = '/';
        memcpy(out + o, p, len);
        o += len;
        p = end;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return ETX_OK;
}

int
etx_roots_new(const char *const *paths, size_t n, struct etx_roots **out,
              struct etx_error *err)
{
    struct etx_roots *r = NULL;
    char norm[PATH_MAX];
    size_t i;
    int rc = ETX_ERR;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL || (n > 0 && (r->v = calloc(n, sizeof(*r->v))) == NULL)) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "roots", NULL, "allocate");
        goto out;
    }
    for (i = 0; i < n; i++, r->n++) {
        r->v[i].fd = -1;
        if (normalize(paths[i], norm, sizeof(norm), ETX_CLASS_INPUT, err) !=
            ETX_OK)
            goto out;
        r->v[i].path = strdup(norm);
        if (r->v[i].path == NULL) {
            etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "roots", NULL, "allocate");
            goto out;
        }
        r->v[i].len = strlen(norm);
        r->v[i].fd = open(norm, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r->v[i].fd < 0) {
            etx_error_sys(err, errno, ETX_CTX_FILE, "open", norm,
                          "cannot open the root");
            r->n++;
            goto out;
        }
    }
    *out = r;
    r = NULL;
    rc = ETX_OK;
out:
    etx_roots_free(r);
    return rc;
}

void
etx_roots_free(struct etx_roots *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->n; i++) {
        if (r->v[i].fd >= 0)
            close(r->v[i].fd);
        free(r->v[i].path);
    }
    free(r->v);
    free(r);
}

void
etx_roots_force_walk(struct etx_roots *r, bool on)
{
    r->force_walk = on;
}

void
etx_roots_place_close(struct etx_roots_place *p)
{
    if (p->dirfd >= 0)
        close(p->dirfd);
    p->dirfd = -1;
}

/* The longest root strictly above 'path' (normalised), or NULL. */
static const struct root *
find_root(const struct etx_roots *r, const char *path)
{
    const struct root *best = NULL;
    size_t i;

    for (i = 0; i < r->n; i++) {
        const struct root *c = &r->v[i];
        bool under = c->len == 1 ? path[1] != '\0'
                                 : strncmp(path, c->path, c->len) == 0 &&
                                       path[c->len] == '/';

        if (under && (best == NULL || c->len > best->len))
            best = c;
    }
    return best;
}

/* Report why opening directory 'comp' in 'fd' failed with 'e'. */
static int
dir_error(int fd, const char *comp, int e, const char *path,
          struct etx_error *err)
{
    struct stat st;

    if (e == ELOOP || (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISLNK(st.st_mode)))
        return etx_error_sys(err, ELOOP, ETX_CTX_FILE, "resolve", path,
                             "a symlink on the way to the target's directory "
                             "is refused (only real directories are followed)");
    if (e == EXDEV)
        return etx_error_sys(err, e, ETX_CTX_FILE, "resolve", path,
                             "the path escapes its root");
    return etx_error_sys(err, e, ETX_CTX_FILE, "resolve", path,
                         "cannot open the target's directory \"%s\"", comp);
}

/* Open 'rel' (relative, normalised, "." for the root) beneath 'rootfd'. */
static int
walk(int rootfd, const char *rel, const char *path, struct etx_error *err)
{
    char buf[PATH_MAX];
    char *comp = NULL, *save = NULL;
    int fd, next;

    fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "dup", path,
                      "cannot duplicate the root descriptor");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", rel);
    for (comp = strtok_r(buf, "/", &save); comp != NULL;
         comp = strtok_r(NULL, "/", &save)) {
        if (strcmp(comp, ".") == 0)
            continue;
        next =
            openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            dir_error(fd, comp, errno, path, err);
            close(fd);
            return -1;
        }
        close(fd);
        fd = next;
    }
    return fd;
}

/* openat2() beneath 'rootfd'; -1 with errno ENOSYS when not available. */
static int
beneath(int rootfd, const char *rel)
{
    struct open_how how;
    long fd = -1;
    int i;

    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    for (i = 0; i < EAGAIN_TRIES; i++) {
        fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        if (fd >= 0 || (errno != EAGAIN && errno != EINTR))
            break;
    }
    return (int)fd;
}

static int
open_dir(const struct etx_roots *r, int rootfd, const char *rel,
         const char *path, struct etx_error *err)
{
    int fd;

    if (!r->force_walk) {
        fd = beneath(rootfd, rel);
        if (fd >= 0)
            return fd;
        if (errno != ENOSYS) {
            dir_error(rootfd, rel, errno, path, err);
            return -1;
        }
    }
    return walk(rootfd, rel, path, err);
}

/* Refuse a final component that is a symlink unless 'flags' allow it. */
static int
check_final(int dirfd, const char *name, unsigned flags, const char *path,
            struct etx_error *err)
{
    struct stat st;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return ETX_OK;
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fstatat", path,
                             "cannot inspect the target");
    }
    if (S_ISLNK(st.st_mode) && (flags & ETX_ROOTS_FINAL_SYMLINK_OK) == 0)
        return etx_error_sys(err, ELOOP, ETX_CTX_FILE, "resolve", path,
                             "the target is a symlink; refusing to replace "
                             "or follow it");
    return ETX_OK;
}

int
etx_roots_open_parent(const struct etx_roots *r, const char *path,
                      unsigned flags, struct etx_roots_place *out,
                      struct etx_error *err)
{
    char norm[PATH_MAX];
    const struct root *root = NULL;
    char *rel = NULL, *slash = NULL;

    out->dirfd = -1;
    snprintf(out->path, sizeof(out->path), "%s", path);
    if (normalize(path, norm, sizeof(norm), ETX_CLASS_PLACEMENT, err) != ETX_OK)
        return ETX_ERR;
    root = find_root(r, norm);
    if (root == NULL)
        return etx_error_sys(err, EACCES, ETX_CTX_FILE, "resolve", path,
                             "the target is not beneath any configured root");
    rel = norm + (root->len == 1 ? 1 : root->len + 1);
    slash = strrchr(rel, '/');
    if (slash != NULL) {
        *slash = '\0';
        snprintf(out->name, sizeof(out->name), "%s", slash + 1);
    } else {
        snprintf(out->name, sizeof(out->name), "%s", rel);
        rel = ".";
    }
    out->dirfd = open_dir(r, root->fd, rel, path, err);
    if (out->dirfd < 0)
        return ETX_ERR;
    if (check_final(out->dirfd, out->name, flags, path, err) != ETX_OK) {
        etx_roots_place_close(out);
        return ETX_ERR;
    }
    return ETX_OK;
}

int
etx_roots_open_dir(const struct etx_roots *r, const char *path, int *dirfd_out,
                   struct etx_error *err)
{
    struct etx_roots_place pl;
    int fd;

    *dirfd_out = -1;
    if (etx_roots_open_parent(r, path, 0, &pl, err) != ETX_OK)
        return ETX_ERR;
    fd = openat(pl.dirfd, pl.name,
                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        dir_error(pl.dirfd, pl.name, errno, path, err);
    etx_roots_place_close(&pl);
    *dirfd_out = fd;
    return fd < 0 ? ETX_ERR : ETX_OK;
}
