/* SPDX-License-Identifier: MIT */
/*
 * Small file-system primitives the swap strategies share, each relative to
 * a directory descriptor and each checking every result: fsync of a
 * directory, an atomic "make 'to' another name of the inode 'from' names"
 * (link to a temp, then one rename), a no-replace rename, and dpkg's
 * secure_unlink rule for set-id files.
 */
#ifndef ETX_AGENT_FSOPS_H
#define ETX_AGENT_FSOPS_H

#include "agent/fileinfo.h"
#include "proto/error.h"

/* fsync(dirfd); 'where' names it in errors. */
int etx_fsops_sync_dir(int dirfd, const char *where, struct etx_error *err);

/*
 * Atomically make 'to' a hard link of the inode 'from' names, which must
 * be 'expect' (checked on the temp link): linkat(from, temp) ->
 * renameat(temp, to). The temp is named after 'to' and removed on
 * failure. No fsync: the caller syncs the directory.
 */
int etx_fsops_link_over(int dirfd, const char *from, const char *to,
                        const struct etx_fileinfo *expect,
                        struct etx_error *err);

/*
 * Rename 'from' to 'to' in 'dirfd' unless 'to' exists (EEXIST): renameat2
 * RENAME_NOREPLACE, or where a file system rejects the flag (EINVAL, e.g.
 * NFS) linkat + unlinkat for a file and renameat for a directory (which
 * cannot replace a non-empty one).
 */
int etx_fsops_rename_noreplace(int dirfd, const char *from, const char *to,
                               struct etx_error *err);

/*
 * dpkg's secure_unlink rule: before the last name we keep of a set-id
 * file is dropped, the file is chmod'ed 0600, so that a stray hard link
 * cannot keep a set-id binary around. etx_fsops_setid_open() opens 'name'
 * (O_RDONLY, checked to be 'fi') into *fd_out when 'fi' is a set-id
 * regular file and sets *fd_out to -1 otherwise; etx_fsops_setid_clear()
 * chmods an open one 0600 and closes it (fd -1: no-op). Split so that the
 * chmod of a live file can wait until after the rename that replaces it.
 */
int etx_fsops_setid_open(int dirfd, const char *name,
                         const struct etx_fileinfo *fi, int *fd_out,
                         struct etx_error *err);
int etx_fsops_setid_clear(int fd, const char *where, struct etx_error *err);

/* Both at once, for a name that is not live. */
int etx_fsops_secure_drop(int dirfd, const char *name,
                          const struct etx_fileinfo *fi, struct etx_error *err);

#endif /* ETX_AGENT_FSOPS_H */
