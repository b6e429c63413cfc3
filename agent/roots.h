/* SPDX-License-Identifier: MIT */
/*
 * The roots the agent may write under, and the one way a target path is
 * turned into something to write: the target's parent directory opened as
 * a descriptor beneath a root, plus the final name (../shared/DESIGN.md
 * "Security", MUST 12). The parent is resolved with openat2() and
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS, or, on a
 * kernel without openat2 (ENOSYS), by a walk that opens one component at a
 * time with O_NOFOLLOW|O_DIRECTORY. Refused, all with class placement: a
 * path outside every root or equal to one, a "." or ".." component, a
 * symlink on the way (ELOOP), a final component that is a symlink (ELOOP,
 * unless asked for), a component longer than NAME_MAX (ENAMETOOLONG).
 */
#ifndef ETX_AGENT_ROOTS_H
#define ETX_AGENT_ROOTS_H

#include <limits.h>
#include <stddef.h>

#include "proto/error.h"

struct etx_roots; /* opaque: agent/roots.c */

/* The parent directory of a target and its final name. */
struct etx_roots_place {
    int dirfd;               /* O_RDONLY|O_DIRECTORY|O_CLOEXEC, or -1 */
    char name[NAME_MAX + 1]; /* final component */
    char path[PATH_MAX];     /* the target path, for messages */
};

/* The final component may be a symlink (generations, release-dir). */
#define ETX_ROOTS_FINAL_SYMLINK_OK (1u << 0)

/*
 * Open the roots 'paths[0..n)' (absolute, no "." or ".." components; the
 * configuration is trusted, so symlinks in a root's own path are
 * followed). On success stores a new set in *out (free with
 * etx_roots_free()).
 */
int etx_roots_new(const char *const *paths, size_t n, struct etx_roots **out,
                  struct etx_error *err);

void etx_roots_free(struct etx_roots *r); /* NULL: no-op */

/*
 * Resolve 'path' (absolute) beneath the root that contains it (the longest
 * one) and fill 'out' with its parent directory and final name; the final
 * name may be absent. Close with etx_roots_place_close().
 */
int etx_roots_open_parent(const struct etx_roots *r, const char *path,
                          unsigned flags, struct etx_roots_place *out,
                          struct etx_error *err);

/*
 * Open 'path' itself as a directory beneath its root (the app directory of
 * the release-dir strategy): its parent as above, then the final name with
 * O_DIRECTORY|O_NOFOLLOW. On success *dirfd_out is O_RDONLY|O_CLOEXEC
 * (close it).
 */
int etx_roots_open_dir(const struct etx_roots *r, const char *path,
                       int *dirfd_out, struct etx_error *err);

/* Close out->dirfd (if open) and set it to -1. */
void etx_roots_place_close(struct etx_roots_place *p);

#endif /* ETX_AGENT_ROOTS_H */
