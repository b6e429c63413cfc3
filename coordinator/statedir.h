/* SPDX-License-Identifier: MIT */
/*
 * Where etxroll keeps rollouts and locks on the coordinator's machine:
 *
 *   <state>/                    0700, see etx_statedir_resolve()
 *   <state>/<fleet>/            0700, one per fleet
 *   <state>/<fleet>/lock.json   the fleet lock (coordinator/lock.h)
 *   <state>/<fleet>/rollouts/   0700, one journal per rollout
 *                               (<rollout-id>.jsonl, coordinator/journal.h)
 *
 * Fleet names and rollout ids become file names, so both are checked here:
 * [A-Za-z0-9._-]+, not starting with '.', at most ETX_STATEDIR_NAME_MAX
 * bytes.
 */
#ifndef ETX_COORDINATOR_STATEDIR_H
#define ETX_COORDINATOR_STATEDIR_H

#include <stddef.h>
#include <sys/types.h>

#include "proto/error.h"

#define ETX_STATEDIR_NAME_MAX     128 /* longest fleet name or rollout id */
#define ETX_STATEDIR_ROOT_DEFAULT "/var/lib/etxroll"

/*
 * The state directory, first found of: 'override' (--state-dir, may be
 * NULL), $ETXROLL_STATE_DIR, ETX_STATEDIR_ROOT_DEFAULT when euid is 0,
 * $XDG_STATE_HOME/etxroll (absolute values only, as the XDG spec says),
 * $HOME/.local/state/etxroll. Empty values count as unset. 'euid' is
 * normally geteuid(). Nothing is created. Writes the path into buf; fails
 * with ETX_CLASS_INPUT when no candidate exists, ENAMETOOLONG when the path
 * does not fit.
 */
int etx_statedir_resolve(const char *override, uid_t euid, char *buf,
                         size_t len, struct etx_error *err);

/*
 * mkdir -p 'path' with mode 0700 for every directory it creates. Every
 * component must be a directory; the last one must not be a symbolic link
 * (ELOOP, a placement error) and must not be writable by group or others.
 */
int etx_statedir_ensure(const char *path, struct etx_error *err);

/*
 * ETX_OK when 'name' is usable as a file name component (see top of file);
 * else ETX_ERR, ETX_CLASS_INPUT, with 'what' ("fleet name", "rollout id")
 * in the message.
 */
int etx_statedir_check_name(const char *what, const char *name,
                            struct etx_error *err);

/* "<state>/<fleet>" into buf, after checking the fleet name; no I/O. */
int etx_statedir_fleet_path(const char *state, const char *fleet, char *buf,
                            size_t len, struct etx_error *err);

/*
 * Like etx_statedir_fleet_path(), and also creates <state>, <state>/<fleet>
 * and <state>/<fleet>/rollouts as etx_statedir_ensure() does.
 */
int etx_statedir_fleet_ensure(const char *state, const char *fleet, char *buf,
                              size_t len, struct etx_error *err);

#endif /* ETX_COORDINATOR_STATEDIR_H */
