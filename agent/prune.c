/* SPDX-License-Identifier: MIT */
/* Pruning generations and releases that no process holds. */
#define _GNU_SOURCE
#include "agent/prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fileinfo.h"
#include "agent/fsops.h"
#include "agent/inuse.h"
#include "agent/release.h"
#include "agent/symflip.h"
#include "agent/tempname.h"

static const char *const why_names[] = {
    [ETX_PRUNE_REMOVED] = "removed",
    [ETX_PRUNE_KEPT_CURRENT] = "current",
    [ETX_PRUNE_KEPT_PREVIOUS] = "previous",
    [ETX_PRUNE_KEPT_RECENT] = "recent",
    [ETX_PRUNE_KEPT_HELD] = "held",
    [ETX_PRUNE_KEPT_UNSURE] = "unsure",
};

const char *
etx_prune_why_name(enum etx_prune_why why)
{
    if ((unsigned)why >= sizeof(why_names) / sizeof(why_names[0]))
        return "unknown";
    return why_names[why];
}

void
etx_prune_result_free(struct etx_prune_result *r)
{
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* What a kind of version looks like and how it goes away. */
struct kind {
    const char *prefix; /* generations: "<name>-"; releases: "" */
    bool dirs;          /* releases are directories */
};

static bool
is_candidate(const struct kind *k, const char *name, const struct stat *st)
{
    if (etx_tempname_is_temp(name) || name[0] == '.')
        return false;
    if (strncmp(name, k->prefix, strlen(k->prefix)) != 0 ||
        name[strlen(k->prefix)] == '\0')
        return false;
    return k->dirs ? S_ISDIR(st->st_mode) : S_ISREG(st->st_mode);
}

static int
add_entry(struct etx_prune_result *r, const char *name, const struct stat *st,
          struct etx_error *err)
{
    struct etx_prune_entry *v = realloc(r->v, (r->n + 1) * sizeof(*v));

    if (v == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "prune", name,
                             "allocate");
    r->v = v;
    memset(&v[r->n], 0, sizeof(v[r->n]));
    snprintf(v[r->n].name, sizeof(v[r->n].name), "%s", name);
    v[r->n].mtime = st->st_mtim;
    v[r->n].why = ETX_PRUNE_REMOVED;
    r->n++;
    return ETX_OK;
}

static int
list_versions(int dirfd, const struct kind *k, struct etx_prune_result *r,
              struct etx_error *err)
{
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0), rc = ETX_OK;
    DIR *d = NULL;
    struct dirent *e = NULL;
    struct stat st;

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        return etx_error_sys(err, errno, ETX_CTX_FILE, "opendir", NULL,
                             "cannot list the versions");
    }
    rewinddir(d);
    while (rc == ETX_OK && (e = readdir(d)) != NULL) {
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone meanwhile */
        if (is_candidate(k, e->d_name, &st))
            rc = add_entry(r, e->d_name, &st, err);
    }
    closedir(d);
    return rc;
}

static int
newest_first(const void *a, const void *b)
{
    const struct etx_prune_entry *x = a, *y = b;

    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
    return -strcmp(x->name, y->name);
}

/* Current, previous and the newest up to 'keep' are kept. */
static void
mark_kept(struct etx_prune_result *r, const char *cur, const char *prev,
          unsigned keep)
{
    unsigned kept = 0;
    size_t i;

    for (i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].name, cur) == 0)
            r->v[i].why = ETX_PRUNE_KEPT_CURRENT;
        else if (strcmp(r->v[i].name, prev) == 0)
            r->v[i].why = ETX_PRUNE_KEPT_PREVIOUS;
        else
            continue;
        kept++;
    }
    for (i = 0; i < r->n; i++)
        if (r->v[i].why == ETX_PRUNE_REMOVED && kept < keep) {
            r->v[i].why = ETX_PRUNE_KEPT_RECENT;
            kept++;
        }
}

/* Keep what a process holds, and everything when unsure (unless ok). */
static int
mark_held(int dirfd, struct etx_prune_result *r, bool unknown_ok,
          struct etx_error *err)
{
    struct etx_inuse *u = etx_inuse_new();
    struct etx_inuse_hold *h = calloc(r->n + 1, sizeof(*h));
    struct etx_inuse_unknown unk;
    size_t i;
    int rc = ETX_ERR;

    if (u == NULL || h == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "prune", NULL, "allocate");
        goto out;
    }
    for (i = 0; i < r->n; i++)
        if (r->v[i].why == ETX_PRUNE_REMOVED &&
            etx_inuse_add(u, i, dirfd, r->v[i].name, err) != ETX_OK)
            goto out;
    if (etx_inuse_scan(u, h, r->n, &unk, err) != ETX_OK)
        goto out;
    r->n_unknown = unk.n;
    r->first_unknown = unk.first;
    for (i = 0; i < r->n; i++) {
        if (r->v[i].why != ETX_PRUNE_REMOVED)
            continue;
        if (h[i].held) {
            r->v[i].why = ETX_PRUNE_KEPT_HELD;
            r->v[i].pid = h[i].pid;
            r->v[i].rel = h[i].rel;
        } else if (unk.n > 0 && !unknown_ok) {
            r->v[i].why = ETX_PRUNE_KEPT_UNSURE;
        }
    }
    rc = ETX_OK;
out:
    free(h);
    etx_inuse_free(u);
    return rc;
}

static int
remove_generation(int dirfd, const char *name, struct etx_error *err)
{
    struct etx_fileinfo fi;

    if (etx_fileinfo_at(dirfd, name, 0, &fi, err) != ETX_OK)
        return ETX_ERR;
    if (!fi.exists)
        return ETX_OK;
    if (etx_fsops_secure_drop(dirfd, name, &fi, err) != ETX_OK)
        return ETX_ERR;
    if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", name,
                             "cannot remove the generation");
    return ETX_OK;
}

static int
remove_release(int relfd, const char *id, struct etx_error *err)
{
    char rec[NAME_MAX + 1];

    if (etx_untar_remove_tree(relfd, id, err) != ETX_OK ||
        etx_tempname_aside(id, ETX_RELEASE_RECORD, rec, err) != ETX_OK)
        return ETX_ERR;
    if (unlinkat(relfd, rec, 0) != 0 && errno != ENOENT)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", rec,
                             "cannot remove the digest record");
    return ETX_OK;
}

/* The whole pass over one directory of versions. */
static int
prune_dir(int dirfd, const struct kind *k, const char *cur, const char *prev,
          const struct etx_prune_opts *o, struct etx_prune_result *out,
          struct etx_error *err)
{
    size_t i;

    if (list_versions(dirfd, k, out, err) != ETX_OK)
        return ETX_ERR;
    qsort(out->v, out->n, sizeof(*out->v), newest_first);
    mark_kept(out, cur, prev, o->keep);
    if (mark_held(dirfd, out, o->unknown_ok, err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < out->n; i++) {
        if (out->v[i].why != ETX_PRUNE_REMOVED)
            continue;
        if ((k->dirs ? remove_release(dirfd, out->v[i].name, err)
                     : remove_generation(dirfd, out->v[i].name, err)) != ETX_OK)
            return ETX_ERR;
    }
    return ETX_OK;
}

int
etx_prune_generations(int dirfd, const char *name,
                      const struct etx_prune_opts *o,
                      struct etx_prune_result *out, struct etx_error *err)
{
    char prefix[NAME_MAX + 2], rec[NAME_MAX + 1];
    char cur[PATH_MAX], prev[PATH_MAX];
    struct kind k = {.prefix = prefix, .dirs = false};

    memset(out, 0, sizeof(*out));
    snprintf(prefix, sizeof(prefix), "%s-", name);
    if (etx_tempname_prev(name, rec, err) != ETX_OK ||
        etx_symflip_read(dirfd, name, cur, sizeof(cur), err) != ETX_OK ||
        etx_symflip_read(dirfd, rec, prev, sizeof(prev), err) != ETX_OK)
        return ETX_ERR;
    if (prune_dir(dirfd, &k, cur, prev, o, out, err) != ETX_OK) {
        etx_prune_result_free(out);
        return ETX_ERR;
    }
    return ETX_OK;
}

/* "releases/<id>" -> "<id>"; anything else (or "") stays as it is. */
static const char *
release_id(const char *target)
{
    size_t n = strlen(ETX_RELEASE_DIR);

    if (strncmp(target, ETX_RELEASE_DIR "/", n + 1) == 0)
        return target + n + 1;
    return target;
}

int
etx_prune_releases(int appfd, const struct etx_prune_opts *o,
                   struct etx_prune_result *out, struct etx_error *err)
{
    char rec[NAME_MAX + 1], cur[PATH_MAX], prev[PATH_MAX];
    struct kind k = {.prefix = "", .dirs = true};
    int relfd = -1, rc = ETX_ERR;

    memset(out, 0, sizeof(*out));
    if (etx_tempname_prev(ETX_RELEASE_CURRENT, rec, err) != ETX_OK ||
        etx_symflip_read(appfd, ETX_RELEASE_CURRENT, cur, sizeof(cur), err) !=
            ETX_OK ||
        etx_symflip_read(appfd, rec, prev, sizeof(prev), err) != ETX_OK)
        return ETX_ERR;
    relfd = openat(appfd, ETX_RELEASE_DIR,
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (relfd < 0) {
        if (errno == ENOENT)
            return ETX_OK;
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", ETX_RELEASE_DIR,
                             "cannot open the releases");
    }
    rc = prune_dir(relfd, &k, release_id(cur), release_id(prev), o, out, err);
    if (rc != ETX_OK)
        etx_prune_result_free(out);
    close(relfd);
    return rc;
}
