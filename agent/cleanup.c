/* SPDX-License-Identifier: MIT */
/* Reaping stale engine temps that no process holds. */
#define _GNU_SOURCE
#include "agent/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/inuse.h"
#include "agent/tempname.h"
#include "agent/untar.h"

static const char *const why_names[] = {
    [ETX_CLEANUP_REMOVED] = "removed",
    [ETX_CLEANUP_KEPT_FRESH] = "fresh",
    [ETX_CLEANUP_KEPT_HELD] = "held",
    [ETX_CLEANUP_KEPT_UNSURE] = "unsure",
};

const char *
etx_cleanup_why_name(enum etx_cleanup_why why)
{
    if ((unsigned)why >= sizeof(why_names) / sizeof(why_names[0]))
        return "unknown";
    return why_names[why];
}

void
etx_cleanup_result_free(struct etx_cleanup_result *r)
{
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

static int
add_entry(struct etx_cleanup_result *r, const char *name, const struct stat *st,
          time_t now, unsigned max_age_s, struct etx_error *err)
{
    struct etx_cleanup_entry *v = realloc(r->v, (r->n + 1) * sizeof(*v));

    if (v == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "cleanup", name,
                             "allocate");
    r->v = v;
    memset(&v[r->n], 0, sizeof(v[r->n]));
    snprintf(v[r->n].name, sizeof(v[r->n].name), "%s", name);
    v[r->n].is_dir = S_ISDIR(st->st_mode);
    v[r->n].why = st->st_mtim.tv_sec + (time_t)max_age_s < now
                      ? ETX_CLEANUP_REMOVED
                      : ETX_CLEANUP_KEPT_FRESH;
    r->n++;
    return ETX_OK;
}

static int
list_temps(int dirfd, unsigned max_age_s, struct etx_cleanup_result *r,
           struct etx_error *err)
{
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0), rc = ETX_OK;
    time_t now = time(NULL);
    struct dirent *e = NULL;
    DIR *d = NULL;
    struct stat st;

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return etx_error_sys(err, errno, ETX_CTX_FILE, "opendir", NULL,
                             "cannot list the directory");
    }
    rewinddir(d);
    while (rc == ETX_OK && (e = readdir(d)) != NULL) {
        if (!etx_tempname_is_temp(e->d_name) ||
            fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        rc = add_entry(r, e->d_name, &st, now, max_age_s, err);
    }
    closedir(d);
    return rc;
}

static int
mark_held(int dirfd, struct etx_cleanup_result *r, bool unknown_ok,
          struct etx_error *err)
{
    struct etx_inuse *u = etx_inuse_new();
    struct etx_inuse_hold *h = calloc(r->n + 1, sizeof(*h));
    struct etx_inuse_unknown unk;
    size_t i;
    int rc = ETX_ERR;

    if (u == NULL || h == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "cleanup", NULL, "allocate");
        goto out;
    }
    for (i = 0; i < r->n; i++)
        if (r->v[i].why == ETX_CLEANUP_REMOVED &&
            etx_inuse_add(u, i, dirfd, r->v[i].name, err) != ETX_OK)
            goto out;
    if (etx_inuse_scan(u, h, r->n, &unk, err) != ETX_OK)
        goto out;
    r->n_unknown = unk.n;
    r->first_unknown = unk.first;
    for (i = 0; i < r->n; i++) {
        if (r->v[i].why != ETX_CLEANUP_REMOVED)
            continue;
        if (h[i].held) {
            r->v[i].why = ETX_CLEANUP_KEPT_HELD;
            r->v[i].pid = h[i].pid;
            r->v[i].rel = h[i].rel;
        } else if (unk.n > 0 && !unknown_ok) {
            r->v[i].why = ETX_CLEANUP_KEPT_UNSURE;
        }
    }
    rc = ETX_OK;
out:
    free(h);
    etx_inuse_free(u);
    return rc;
}

int
etx_cleanup_dir(int dirfd, const struct etx_cleanup_opts *o,
                struct etx_cleanup_result *out, struct etx_error *err)
{
    size_t i;
    int rc = ETX_ERR;

    memset(out, 0, sizeof(*out));
    if (list_temps(dirfd, o->max_age_s, out, err) != ETX_OK ||
        mark_held(dirfd, out, o->unknown_ok, err) != ETX_OK)
        goto out;
    for (i = 0; i < out->n; i++) {
        if (out->v[i].why != ETX_CLEANUP_REMOVED)
            continue;
        if (out->v[i].is_dir) {
            if (etx_untar_remove_tree(dirfd, out->v[i].name, err) != ETX_OK)
                goto out;
        } else if (unlinkat(dirfd, out->v[i].name, 0) != 0 && errno != ENOENT) {
            etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", out->v[i].name,
                          "cannot remove a stale temp");
            goto out;
        }
    }
    rc = ETX_OK;
out:
    if (rc != ETX_OK)
        etx_cleanup_result_free(out);
    return rc;
}
