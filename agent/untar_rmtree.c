/* SPDX-License-Identifier: MIT */
/*
 * Removing a directory tree (etx_untar_remove_tree(), rules in untar.h):
 * one directory fd at a time, walking down and back up with every directory
 * checked by (device, inode), never following a symlink and never leaving
 * the file system or mount of the tree's root.
 */
#define _GNU_SOURCE
#include "agent/untar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/untar_internal.h"

#define OP_REMOVE "remove"

struct node {
    mode_t mode;
    dev_t dev;
    ino_t ino;
    uint64_t mnt; /* mount id, when has_mnt */
    bool has_mnt;
};

struct rm_level {
    dev_t dev;
    ino_t ino;
    size_t plen; /* length of rm.path at this level */
};

struct rm {
    int cur;             /* the directory being emptied */
    struct node top;     /* identity and mount of the tree's root */
    struct rm_level *lv; /* lv[0]: top ... lv[depth - 1]: cur */
    size_t depth, cap;
    struct etx_error *err;
    char path[PATH_MAX]; /* cur, relative to the parent (for errors) */
};

/* statx without following: "" stats dirfd itself. */
static int
node_stat(int dirfd, const char *name, struct node *n)
{
    int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;
    struct statx sx;

    if (name[0] == '\0')
        flags |= AT_EMPTY_PATH;
    if (statx(dirfd, name, flags, STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx) !=
        0)
        return -1;
    n->mode = sx.stx_mode;
    n->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    n->ino = sx.stx_ino;
    n->has_mnt = (sx.stx_mask & STATX_MNT_ID) != 0;
    n->mnt = sx.stx_mnt_id;
    return 0;
}

/* Same file system and, where the kernel tells, the same mount. */
static bool
same_mount(const struct node *a, const struct node *b)
{
    if (a->dev != b->dev)
        return false;
    return !a->has_mnt || !b->has_mnt || a->mnt == b->mnt;
}

static int
rm_err(struct rm *r, int sys_errno, const char *name, const char *what)
{
    return etx_error_sys(r->err, sys_errno, ETX_CTX_FILE, OP_REMOVE,
                         r->path[0] != '\0' ? r->path : ".", "%s '%s'", what,
                         name);
}

static int
rm_mount_err(struct rm *r, const char *name)
{
    return etx_error_set(r->err, ETX_CLASS_PLACEMENT, EXDEV, OP_REMOVE, r->path,
                         "'%s' is a mount point: not removed", name);
}

static int
rm_changed_err(struct rm *r)
{
    return etx_error_set(r->err, ETX_CLASS_CONFLICT, 0, OP_REMOVE, r->path,
                         "the tree changed during its removal (another "
                         "process writes in it)");
}

/* Unlink a non-directory; a set-id file loses its set-id bits first. */
static int
rm_file(struct rm *r, const char *name, const struct node *n)
{
    if (S_ISREG(n->mode) && (n->mode & (S_ISUID | S_ISGID)) != 0 &&
        fchmodat(r->cur, name, 0600, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno != ENOENT)
        return rm_err(r, errno, name, "chmod 0600 of set-id file");
    if (unlinkat(r->cur, name, 0) != 0 && errno != ENOENT)
        return rm_err(r, errno, name, "unlinkat");
    return ETX_OK;
}

static int
rm_push(struct rm *r, int fd, const struct node *n, const char *name)
{
    struct rm_level *lv = NULL;
    size_t plen = r->depth > 0 ? r->lv[r->depth - 1].plen : 0;
    int w;

    if (r->depth == r->cap) {
        lv = realloc(r->lv, (r->cap * 2 + 16) * sizeof(*lv));
        if (lv == NULL) {
            close(fd);
            return rm_err(r, ENOMEM, name, "descending into");
        }
        r->lv = lv;
        r->cap = r->cap * 2 + 16;
    }
    w = snprintf(r->path + plen, sizeof(r->path) - plen, "%s%s",
                 plen > 0 ? "/" : "", name);
    plen = w < 0 || (size_t)w >= sizeof(r->path) - plen ? sizeof(r->path) - 1
                                                        : plen + (size_t)w;
    if (r->depth > 0)
        close(r->cur); /* at depth 0 cur is the borrowed parent */
    r->lv[r->depth++] = (struct rm_level){n->dev, n->ino, plen};
    r->cur = fd;
    return ETX_OK;
}

/* Open the non-empty directory 'name' of cur and make it cur. */
static int
rm_down(struct rm *r, const char *name, const struct node *n)
{
    struct node m;
    int fd = openat(r->cur, name, ETX_UNTAR__DIR_FLAGS);

    if (fd < 0)
        return rm_err(r, errno, name, "openat");
    if (node_stat(fd, "", &m) != 0 || m.dev != n->dev || m.ino != n->ino) {
        close(fd);
        return rm_changed_err(r);
    }
    return rm_push(r, fd, n, name);
}

/* Back to the parent of cur, checking it is the one we came from. */
static int
rm_up(struct rm *r)
{
    const struct rm_level *want = &r->lv[r->depth - 2];
    struct node m;
    int fd = openat(r->cur, "..", ETX_UNTAR__DIR_FLAGS);

    if (fd < 0)
        return rm_err(r, errno, "..", "openat");
    if (node_stat(fd, "", &m) != 0 || m.dev != want->dev ||
        m.ino != want->ino) {
        close(fd);
        return rm_changed_err(r);
    }
    close(r->cur);
    r->cur = fd;
    r->depth--;
    r->path[want->plen] = '\0';
    return ETX_OK;
}

/* One entry of cur: removed, or *down set when it is a full directory. */
static int
rm_entry(struct rm *r, const char *name, bool *down)
{
    struct node n;

    if (node_stat(r->cur, name, &n) != 0)
        return errno == ENOENT ? ETX_OK : rm_err(r, errno, name, "statx");
    if (!same_mount(&r->top, &n))
        return rm_mount_err(r, name);
    if (!S_ISDIR(n.mode))
        return rm_file(r, name, &n);
    if (unlinkat(r->cur, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
        return ETX_OK;
    if (errno != ENOTEMPTY && errno != EEXIST)
        return rm_err(r, errno, name, "rmdir");
    *down = true;
    return rm_down(r, name, &n);
}

/*
 * Remove what cur holds; stop early after descending into a non-empty
 * directory (*down). A fresh directory stream each time: what was removed
 * is not listed again, so each entry is read about once.
 */
static int
rm_scan(struct rm *r, bool *down)
{
    struct dirent *de = NULL;
    DIR *d = NULL;
    int fd = openat(r->cur, ".", ETX_UNTAR__DIR_FLAGS), rc = ETX_OK;

    *down = false;
    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        rc = rm_err(r, errno, ".", "opendir");
        if (fd >= 0)
            close(fd);
        return rc;
    }
    while (rc == ETX_OK && !*down) {
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = rm_err(r, errno, ".", "readdir");
            break;
        }
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            rc = rm_entry(r, de->d_name, down);
    }
    closedir(d);
    return rc;
}

/* Empty the directory r->cur (the top, depth 1) with constant fds. */
static int
rm_tree(struct rm *r)
{
    bool down = false;
    int rc = ETX_OK;

    while (rc == ETX_OK) {
        rc = rm_scan(r, &down);
        if (rc != ETX_OK || down)
            continue;
        if (r->depth == 1)
            break;
        rc = rm_up(r);
    }
    return rc;
}

static int
rm_top(struct rm *r, int parent_dirfd, const char *name)
{
    struct node parent;
    int rc;

    if (node_stat(parent_dirfd, "", &parent) != 0)
        return rm_err(r, errno, ".", "statx");
    if (node_stat(parent_dirfd, name, &r->top) != 0)
        return errno == ENOENT ? ETX_OK : rm_err(r, errno, name, "statx");
    if (!same_mount(&parent, &r->top))
        return rm_mount_err(r, name);
    r->cur = parent_dirfd; /* borrowed until rm_down() replaces it */
    if (!S_ISDIR(r->top.mode))
        return rm_file(r, name, &r->top);
    rc = rm_down(r, name, &r->top);
    if (rc == ETX_OK) {
        rc = rm_tree(r);
        close(r->cur);
    }
    r->cur = -1;
    if (rc == ETX_OK && unlinkat(parent_dirfd, name, AT_REMOVEDIR) != 0 &&
        errno != ENOENT)
        rc = etx_error_sys(r->err, errno, ETX_CTX_FILE, OP_REMOVE, name,
                           "rmdir");
    return rc;
}

int
etx_untar_remove_tree(int parent_dirfd, const char *name, struct etx_error *err)
{
    struct rm r = {.cur = -1, .err = err};
    int rc;

    if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return etx_error_set(err, ETX_CLASS_INTERNAL, EINVAL, OP_REMOVE, name,
                             "not a single path component");
    rc = rm_top(&r, parent_dirfd, name);
    free(r.lv);
    return rc;
}
