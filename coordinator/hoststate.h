/* SPDX-License-Identifier: MIT */
/*
 * The per-host state machine of a rollout (../shared/DESIGN.md "Data flow",
 * ../shared/STYLE.md R7): one enum in happy-path order, one const table of
 * allowed moves, and the names the journal stores. The scheduler keeps the
 * state of each host; this module only says which moves are legal.
 *
 * Rollback starts from swapped, restarting, checking or healthy, and also
 * from failed: a host can fail after it was swapped (restart, health), and
 * then it must be put back. A host that failed before it reached swapped
 * has nothing to put back, so whether failed -> rolling_back is taken is
 * the caller's decision, made from data it keeps ("reached swapped", which
 * etx_rollsum_fold() reports per host), not from this table.
 */
#ifndef ETX_COORDINATOR_HOSTSTATE_H
#define ETX_COORDINATOR_HOSTSTATE_H

#include <stdbool.h>

enum etx_host_state {
    ETX_HOST_PENDING = 0,     /* in the plan, nothing done on the host yet */
    ETX_HOST_STAGING,         /* writing the new file beside the target */
    ETX_HOST_STAGED,          /* new file written whole and fsynced */
    ETX_HOST_VERIFIED,        /* staged file's SHA-256 matches the artifact */
    ETX_HOST_SWAPPED,         /* new file renamed over the target */
    ETX_HOST_RESTARTING,      /* service restart under way */
    ETX_HOST_CHECKING,        /* health probes under way */
    ETX_HOST_HEALTHY,         /* new version runs and passed its checks */
    ETX_HOST_FAILED,          /* a step failed for good (counts as failure) */
    ETX_HOST_ROLLING_BACK,    /* putting the old version back, restarting */
    ETX_HOST_ROLLED_BACK,     /* old version back, restarted and healthy */
    ETX_HOST_ROLLBACK_FAILED, /* could not put it back: a human must look */
    ETX_HOST_STATE_COUNT
};

/* "pending", "rolling_back", ...; "unknown" for a value out of range. */
const char *etx_hoststate_name(enum etx_host_state s);

/*
 * The state called 'name' (exact, case-sensitive): ETX_OK and *out set,
 * or ETX_ERR (and *out untouched) for a name that is no state.
 */
int etx_hoststate_from_name(const char *name, enum etx_host_state *out);

/* True when the table allows the move from -> to; false out of range. */
bool etx_hoststate_can(enum etx_host_state from, enum etx_host_state to);

/*
 * True for states with no move out at all: rolled_back, rollback_failed.
 * healthy and failed are where a forward run rests, yet a rollback can
 * still leave them, so they are not terminal.
 */
bool etx_hoststate_is_terminal(enum etx_host_state s);

#endif /* ETX_COORDINATOR_HOSTSTATE_H */
