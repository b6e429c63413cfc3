/* SPDX-License-Identifier: MIT */
/* Identities of files and trees, and one holders scan over all of them. */
#define _GNU_SOURCE
#include "agent/inuse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 64

struct etx_inuse {
    size_t n, cap;
    struct etx_file_id *ids;
    size_t *owner; /* owner of ids[i] */
};

struct etx_inuse *
etx_inuse_new(void)
{
    return calloc(1, sizeof(struct etx_inuse));
}

void
etx_inuse_free(struct etx_inuse *u)
{
    if (u == NULL)
        return;
    free(u->ids);
    free(u->owner);
    free(u);
}

static int
push(struct etx_inuse *u, size_t owner, const struct stat *st,
     struct etx_error *err)
{
    size_t cap = u->cap ? u->cap * 2 : 64;
    struct etx_file_id *ids = NULL;
    size_t *own = NULL;

    if (u->n == u->cap) {
        ids = realloc(u->ids, cap * sizeof(*ids));
        if (ids != NULL)
            u->ids = ids;
        own = realloc(u->owner, cap * sizeof(*own));
        if (own != NULL)
            u->owner = own;
        if (ids == NULL || own == NULL)
            return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "inuse", NULL,
                                 "allocate");
        u->cap = cap;
    }
    u->ids[u->n].dev = st->st_dev;
    u->ids[u->n].ino = st->st_ino;
    u->owner[u->n++] = owner;
    return ETX_OK;
}

static int add_at(struct etx_inuse *u, size_t owner, int dirfd,
                  const char *name, int depth, struct etx_error *err);

/* Every entry below the directory open as 'fd' (consumed). */
static int
add_below(struct etx_inuse *u, size_t owner, int fd, int depth,
          struct etx_error *err)
{
    DIR *d = fdopendir(fd);
    struct dirent *e = NULL;
    int rc = ETX_OK;

    if (d == NULL) {
        close(fd);
        return etx_error_sys(err, errno, ETX_CTX_FILE, "opendir", NULL,
                             "cannot list a directory");
    }
    while (rc == ETX_OK && (errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        rc = add_at(u, owner, dirfd(d), e->d_name, depth + 1, err);
    }
    if (rc == ETX_OK && e == NULL && errno != 0)
        rc = etx_error_sys(err, errno, ETX_CTX_FILE, "readdir", NULL,
                           "cannot list a directory");
    closedir(d);
    return rc;
}

static int
add_at(struct etx_inuse *u, size_t owner, int dirfd, const char *name,
       int depth, struct etx_error *err)
{
    struct stat st;
    int fd;

    if (depth > MAX_DEPTH)
        return etx_error_sys(err, ELOOP, ETX_CTX_FILE, "inuse", name,
                             "the tree is deeper than %d levels", MAX_DEPTH);
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fstatat", name,
                             "cannot inspect");
    if (push(u, owner, &st, err) != ETX_OK)
        return ETX_ERR;
    if (!S_ISDIR(st.st_mode))
        return ETX_OK;
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", name,
                             "cannot open the directory");
    return add_below(u, owner, fd, depth, err);
}

int
etx_inuse_add(struct etx_inuse *u, size_t owner, int dirfd, const char *name,
              struct etx_error *err)
{
    return add_at(u, owner, dirfd, name, 0, err);
}

int
etx_inuse_scan(struct etx_inuse *u, struct etx_inuse_hold *holds,
               size_t n_owners, struct etx_inuse_unknown *unknown,
               struct etx_error *err)
{
    struct etx_holders h = {0};
    size_t i, o;

    memset(holds, 0, n_owners * sizeof(*holds));
    memset(unknown, 0, sizeof(*unknown));
    if (u->n == 0)
        return ETX_OK;
    if (etx_holders_scan(u->ids, u->n, ETX_HOLDERS_ALL, &h, err) != ETX_OK)
        return ETX_ERR;
    if (h.n_more > 0) {
        etx_holders_free(&h);
        return etx_error_sys(err, EAGAIN, ETX_CTX_FILE, "inuse", NULL,
                             "more holders than one scan keeps; try again");
    }
    for (i = 0; i < h.n; i++) {
        if (h.v[i].id_index >= u->n)
            continue;
        o = u->owner[h.v[i].id_index];
        if (o >= n_owners || holds[o].held)
            continue;
        holds[o].held = true;
        holds[o].pid = h.v[i].pid;
        holds[o].rel = h.v[i].rel;
    }
    unknown->n = h.n_unknown;
    unknown->first = h.first_unknown;
    etx_holders_free(&h);
    return ETX_OK;
}
