/* SPDX-License-Identifier: MIT */
/*
 * The fleet lock: one rollout per fleet at a time (../shared/DESIGN.md
 * "Journal, resume, locking"). The lock is the file <state>/<fleet>/lock.json
 * holding its holder's record; it is made by writing the record to a
 * temporary file in the same directory, fsyncing it and link(2)ing it to
 * lock.json, which fails with EEXIST when somebody holds it, so taking the
 * lock is atomic and the file is always whole. Release and break check the
 * lock id under flock(2) on the fleet directory, so they never remove a
 * lock that somebody else took in the meantime.
 *
 * A lock whose process died is still a lock: only `etxroll unlock LOCK_ID`
 * (etx_lock_break() with the exact id) removes it.
 */
#ifndef ETX_COORDINATOR_LOCK_H
#define ETX_COORDINATOR_LOCK_H

#include <stdbool.h>

#include "coordinator/journal.h"
#include "proto/error.h"

#define ETX_LOCK_ID_LEN 16 /* hex digits of a lock id */

/* Who holds a fleet lock: the content of lock.json. */
struct etx_lock_holder {
    char lock_id[ETX_LOCK_ID_LEN + 1];
    char host[256]; /* gethostname() of the holder */
    long pid;
    char rollout[ETX_JOURNAL_ID_MAX]; /* rollout id */
    char started[ETX_JOURNAL_TS_MAX]; /* RFC 3339 UTC, ms */
    char message[256];                /* `-m` text, "" when none */
};

struct etx_lock; /* opaque: a lock we hold */

/*
 * Take the lock of 'fleet' for 'rollout_id', with 'message' (may be NULL)
 * for people who meet it. Creates the fleet directories when missing. On
 * success *out is new: give it back with etx_lock_release(). When held,
 * fails with ETX_CLASS_CONFLICT and a message naming the holder's host,
 * pid, rollout, start time and message and the command that breaks it
 * (`etxroll unlock LOCK_ID`), adding "pid N is not running on this host"
 * when that is so.
 */
int etx_lock_acquire(const char *state, const char *fleet,
                     const char *rollout_id, const char *message,
                     struct etx_lock **out, struct etx_error *err);

/* Our holder record; valid until etx_lock_release(). */
const struct etx_lock_holder *etx_lock_holder(const struct etx_lock *lock);

/*
 * Remove lock.json if it is still ours (same lock id) and free 'lock'
 * (always; NULL is a no-op returning ETX_OK). When the lock was broken
 * meanwhile, leaves the file alone and fails with ETX_CLASS_CONFLICT.
 */
int etx_lock_release(struct etx_lock *lock, struct etx_error *err);

/*
 * Who holds the lock of 'fleet': ETX_OK with *held set, and *out filled
 * when it is held. An unreadable lock file is an error naming it.
 */
int etx_lock_show(const char *state, const char *fleet,
                  struct etx_lock_holder *out, bool *held,
                  struct etx_error *err);

/*
 * Break the lock of 'fleet', only when its id is exactly 'lock_id'; else
 * fails (ETX_CLASS_INPUT) naming the actual id, or saying there is none.
 */
int etx_lock_break(const char *state, const char *fleet, const char *lock_id,
                   struct etx_error *err);

#endif /* ETX_COORDINATOR_LOCK_H */
