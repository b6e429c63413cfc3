/* SPDX-License-Identifier: MIT */
/*
 * Facts for the probe (read-only, nothing is changed): about a target
 * path (identity, digest, file system and mount, placement hazards, free
 * space, holders), about the host (name, machine and boot id, kernel), and
 * a probe of the kernel's ETXTBSY semantics for diagnostics (MUST 24).
 * Each has a JSON rendering with jansson for the CLI and the protocol.
 */
#ifndef ETX_AGENT_FACTS_H
#define ETX_AGENT_FACTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/fileinfo.h"
#include "agent/holders.h"
#include "proto/error.h"

/* The file system and mount that hold a path. */
struct etx_facts_fs {
    char type[64];              /* mountinfo fstype ("ext4", "fuse.sshfs"), else
                                   a name for magic ("tmpfs"), else "unknown" */
    unsigned long magic;        /* statfs f_type */
    bool is_network;            /* NFS, CIFS/SMB, Ceph, 9p, AFS, sshfs, ...:
                                   no cross-client ETXTBSY (DESIGN.md) */
    bool read_only;             /* statvfs ST_RDONLY */
    uint64_t mount_id;          /* mountinfo's first field; 0 when not found */
    char mount_source[256];     /* mountinfo source ("/dev/vda") */
    char mount_point[PATH_MAX]; /* as this process sees it */
    char mount_options[256];    /* per-mount options ("rw,relatime") */
    uint64_t free_bytes;        /* statvfs f_bavail * f_frsize */
    uint64_t free_inodes;       /* statvfs f_favail */
};

/*
 * Facts about one target path. The path itself is never followed for its
 * identity; a symlink's target is described separately in 'resolved'.
 */
struct etx_facts_target {
    char path[PATH_MAX];          /* as given */
    struct etx_fileinfo file;     /* lstat of path; sha256 of a regular
                                     file; file.exists false when absent */
    char link_text[PATH_MAX];     /* a symlink's readlink text, else "" */
    struct etx_fileinfo resolved; /* a symlink's final target (followed,
                                     digested when regular); exists false
                                     when not a symlink or dangling */
    bool is_mount_point;          /* the target itself is mounted on (a
                                     single-file bind mount): a placement
                                     hazard. Its directory being a mount
                                     point is not. */
    struct etx_facts_fs fs;       /* of the path when it exists and is not a
                                     symlink, else of its directory */
    struct etx_holders holders;   /* processes holding the file (a
                                     symlink's resolved file); empty when
                                     absent */
};

/*
 * Collect the facts about 'path' into *out (caller-allocated; free the
 * holders with etx_facts_target_free()). An absent path is ETX_OK with
 * out->file.exists false; a missing or unreadable directory is ETX_ERR
 * with err filled. The mount is found by statx STATX_MNT_ID in
 * /proc/self/mountinfo, or by the longest mount-point prefix where the
 * kernel has no mount ids.
 */
int etx_facts_target(const char *path, struct etx_facts_target *out,
                     struct etx_error *err);
void etx_facts_target_free(struct etx_facts_target *t); /* NULL: no-op */

/* The file system facts of an existing path (followed when a symlink). */
int etx_facts_fs(const char *path, struct etx_facts_fs *out,
                 struct etx_error *err);

struct etx_facts_host {
    char hostname[65];   /* uname nodename */
    char machine_id[33]; /* /etc/machine-id, "" when the file is absent */
    char boot_id[37];    /* /proc/sys/kernel/random/boot_id */
    char kernel[65];     /* uname -r */
    char arch[65];       /* uname -m */
};

/* Fill *out; ETX_ERR with err filled when uname or boot_id fail. */
int etx_facts_host(struct etx_facts_host *out, struct etx_error *err);

/* The kernel's ETXTBSY semantics, measured (reference §1.2, MUST 24). */
struct etx_facts_etxtbsy {
    bool write_denied;      /* open(O_WRONLY) of a running program: ETXTBSY */
    bool exec_denied;       /* execve of a file open for writing: ETXTBSY */
    int write_errno;        /* what that open got; 0: it succeeded */
    int exec_errno;         /* what that execve got; 0: it succeeded */
    char kernel[65];        /* uname -r */
    struct etx_facts_fs fs; /* of the scratch directory */
};

/* The program copied and run by the probe (it takes a number of seconds). */
#define ETX_FACTS_PROBE_PROGRAM "/bin/sleep"

/*
 * Copy ETX_FACTS_PROBE_PROGRAM into a new file in 'scratch_dir', run it,
 * try to open it for writing, stop it, then hold it open for writing and
 * try to execute it. Everything made is removed and every child killed and
 * reaped before returning. For diagnostics only: nothing may depend on the
 * result. Returns ETX_OK with *out filled, or ETX_ERR with err filled when
 * the probe itself could not run (copy failed, scratch dir noexec, ...).
 */
int etx_facts_etxtbsy_probe(const char *scratch_dir,
                            struct etx_facts_etxtbsy *out,
                            struct etx_error *err);

/*
 * JSON renderings; each returns a new reference (json_decref()) or NULL
 * when out of memory.
 *
 * fs:      {"type", "magic", "network", "read_only", "mount_id",
 *           "mount_source", "mount_point", "mount_options", "free_bytes",
 *           "free_inodes"}
 * file:    {"exists", "type" ("file", "symlink", "directory", "other"),
 *           "dev" ("major:minor"), "ino", "mode" (octal string "0755"),
 *           "uid", "gid", "size", "sha256" ("" unless a regular file)};
 *           an absent file is {"exists": false}
 * target:  {"path", "file": file, "link" (readlink text or null),
 *           "resolved": file or null, "is_mount_point", "fs": fs,
 *           "holders": etx_holders_to_json()}
 * host:    {"hostname", "machine_id", "boot_id", "kernel", "arch"}
 * etxtbsy: {"write_denied", "exec_denied", "write_errno", "exec_errno"
 *           (errno names, "" for none), "kernel", "fs": fs}
 * all:     {"host": host, "etxtbsy": etxtbsy (left out when NULL),
 *           "targets": [target, ...]}
 */
json_t *etx_facts_target_to_json(const struct etx_facts_target *t);
json_t *etx_facts_host_to_json(const struct etx_facts_host *h);
json_t *etx_facts_etxtbsy_to_json(const struct etx_facts_etxtbsy *p);
json_t *etx_facts_to_json(const struct etx_facts_host *host,
                          const struct etx_facts_etxtbsy *probe,
                          const struct etx_facts_target *targets,
                          size_t n_targets);

#endif /* ETX_AGENT_FACTS_H */
