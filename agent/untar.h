/* SPDX-License-Identifier: MIT */
/*
 * Safe unpacking of a release tarball (the release-dir strategy of
 * ../shared/DESIGN.md) into a new, empty directory, and safe removal of a
 * directory tree (failed temps, pruned releases).
 *
 * Formats: tar (ustar, pax, GNU) only, plain or compressed with gzip, bzip2,
 * xz or zstd, decompressed inside the process (a filter that libarchive
 * would run as an external program is not enabled: no child process).
 *
 * What an archive may contain, and what is refused (ETX_ERR, class
 * ETX_CLASS_INPUT, op "untar", where = the entry's path as in the archive),
 * unpacking stopping at the first refused entry:
 * - Relative names only. Refused: an absolute name, a ".." component, an
 *   empty name, a component longer than NAME_MAX, a name of PATH_MAX bytes
 *   or more. "." and empty components ("./a", "a//b") are dropped; a
 *   directory entry that names the root itself (".", "./") is skipped.
 * - Regular files, directories, symlinks and hard links. Refused: device
 *   nodes, FIFOs, sockets and unknown types.
 * - Every name is created with *at() calls relative to directory fds; each
 *   intermediate directory is opened O_NOFOLLOW|O_DIRECTORY, so nothing is
 *   ever created through a symlink: an entry whose path goes through a
 *   symlink or a file made by an earlier entry is refused. A missing
 *   intermediate directory is created with mode 0755.
 * - Duplicates: a file, symlink or hard link whose name exists is refused
 *   (O_EXCL). A directory entry naming an existing directory only sets its
 *   mode (archives list directories that earlier entries created).
 * - Symlinks: the target must be non-empty, relative, shorter than PATH_MAX,
 *   and of the form "../" x k followed by names only (no ".." after a name),
 *   with k at most the depth of the entry's directory. Lexical resolution is
 *   not enough on its own: with "a/b -> ..", the target "a/b/.." stays
 *   inside lexically but resolves above the root. With this form every
 *   symlink of the tree resolves inside the tree.
 * - Hard links: only to a regular file made by an earlier entry (the
 *   destination starts empty, so anything there came from the archive);
 *   a hard link entry that carries data is refused.
 * - Modes: permission bits & 0777; setuid/setgid only with keep_owner;
 *   the sticky bit never. With keep_owner the numeric uid/gid of the
 *   archive are applied (fchown, then fchmod); names are ignored.
 * - Files get the archive's mtime; directory mtimes are left alone.
 * - Limits: entries, bytes of one file, bytes of all files (counted as
 *   written, so a lying header does not help).
 *
 * Each file is created 0600 with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC,
 * written fully in bounded chunks (memory stays constant whatever the
 * archive's size), fchown'd, fchmod'ed, fsync'ed and closed, each result
 * checked. Every directory the unpacking added an entry to is fsync'ed,
 * the destination included. A directory is given its final mode when its
 * entry is met, so a directory without owner write permission can only be
 * filled by root (the agent's normal case).
 *
 * Errors from the file system (ENOSPC, EDQUOT, EROFS, EIO...) are reported
 * with etx_error_sys(ETX_CTX_FILE): class from the errno (ENOSPC is
 * placement). A bad or truncated archive is ETX_CLASS_INPUT.
 *
 * On failure the destination is left half-filled; the caller removes it
 * (etx_untar_remove_tree()).
 */
#ifndef ETX_AGENT_UNTAR_H
#define ETX_AGENT_UNTAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"

#define ETX_UNTAR_DEFAULT_MAX_TOTAL   (UINT64_C(4) << 30) /* 4 GiB */
#define ETX_UNTAR_DEFAULT_MAX_ENTRIES UINT64_C(100000)

/* A field left 0 takes its default. */
struct etx_untar_opts {
    uint64_t max_total_bytes; /* data of all files; 0: 4 GiB */
    uint64_t max_entries;     /* archive entries; 0: 100000 */
    uint64_t max_entry_bytes; /* data of one file; 0: max_total_bytes */
    bool keep_owner;          /* apply uid/gid and set-id bits (root) */
};

/* Filled on success and on failure (what was done until the stop). */
struct etx_untar_stats {
    uint64_t entries;   /* archive entries read, root entry included */
    uint64_t files;     /* regular files written */
    uint64_t dirs;      /* directories created, implicit ones included */
    uint64_t symlinks;  /* symlinks created */
    uint64_t hardlinks; /* hard links created */
    uint64_t bytes;     /* file data written */
};

/*
 * Unpack the tar read from 'archive_fd' (borrowed, read from its current
 * offset, never closed; its offset moves) into the empty directory
 * 'dest_dirfd' (borrowed). 'o' may be NULL (all defaults); 'stats_out' may
 * be NULL. Returns ETX_OK, or ETX_ERR with 'err' filled.
 */
int etx_untar_fd(int archive_fd, int dest_dirfd, const struct etx_untar_opts *o,
                 struct etx_untar_stats *stats_out, struct etx_error *err);

/* The same, reading the archive from memory ('buf', 'len': borrowed). */
int etx_untar_buffer(const void *buf, size_t len, int dest_dirfd,
                     const struct etx_untar_opts *o,
                     struct etx_untar_stats *stats_out, struct etx_error *err);

/*
 * Remove 'name' in 'parent_dirfd' (borrowed; AT_FDCWD allowed) and, when it
 * is a directory, everything below it. Symlinks are removed, never
 * followed; every directory is opened O_NOFOLLOW|O_DIRECTORY and checked
 * (device, inode) on the way down and up; a mount point met below 'name',
 * or 'name' itself being one, stops the removal (class placement, EXDEV)
 * and nothing in that file system is touched. A set-id file is chmod'ed
 * 0600 before it is unlinked, so a hard link kept elsewhere loses the set-id
 * bits (dpkg's secure_unlink). Open descriptors stay constant whatever the
 * depth. 'name' missing is ETX_OK. Returns ETX_OK or ETX_ERR with 'err'
 * filled (op "remove", where = the entry that failed, relative to
 * parent_dirfd).
 */
int etx_untar_remove_tree(int parent_dirfd, const char *name,
                          struct etx_error *err);

#endif /* ETX_AGENT_UNTAR_H */
