/* SPDX-License-Identifier: MIT */
/*
 * Which of a set of files or whole directory trees some process uses:
 * the (dev, ino) of every entry is collected (symlinks never followed) and
 * one holders scan (holders.h) finds the processes that execute, map, hold
 * open, or sit in (cwd/root) any of them. Used before anything the engine
 * made is removed (prune, cleanup; MUST 17, 23).
 */
#ifndef ETX_AGENT_INUSE_H
#define ETX_AGENT_INUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/holders.h"
#include "proto/error.h"

struct etx_inuse; /* opaque: agent/inuse.c */

/* One result per owner index given to etx_inuse_add(). */
struct etx_inuse_hold {
    bool held;
    pid_t pid;               /* one holder, when held */
    enum etx_holder_rel rel; /* its relation */
};

/* A new empty set, or NULL on ENOMEM. Free with etx_inuse_free(). */
struct etx_inuse *etx_inuse_new(void);
void etx_inuse_free(struct etx_inuse *u); /* NULL: no-op */

/*
 * Add 'name' in 'dirfd' for owner 'owner': its own identity and, for a
 * directory, that of everything below it (depth at most 64, else ELOOP).
 */
int etx_inuse_add(struct etx_inuse *u, size_t owner, int dirfd,
                  const char *name, struct etx_error *err);

/* Processes whose /proc entries could not be read during a scan. */
struct etx_inuse_unknown {
    size_t n;
    pid_t first; /* one of them, for the report, or 0 */
};

/*
 * Scan once and fill holds[0..n_owners) (owners never added stay not
 * held) and *unknown: when unknown->n > 0, "not held" is not certain.
 * More holders than a scan keeps (ETX_HOLDERS_MAX) is an error
 * (transient): nothing can be decided then.
 */
int etx_inuse_scan(struct etx_inuse *u, struct etx_inuse_hold *holds,
                   size_t n_owners, struct etx_inuse_unknown *unknown,
                   struct etx_error *err);

#endif /* ETX_AGENT_INUSE_H */
