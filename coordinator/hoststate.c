/* SPDX-License-Identifier: MIT */
/*
 * The host state table and names. Every legal move is one bit in
 * host_next[]; nothing else decides what a host may do next.
 */
#include "coordinator/hoststate.h"

#include <string.h>

#include "proto/error.h"

#define NEXT(s) (1u << (s))

/* Any state that does work on the host may fail. */
#define FAIL NEXT(ETX_HOST_FAILED)

/* From swapped on, the host runs (or may run) the new file. */
#define BACK NEXT(ETX_HOST_ROLLING_BACK)

static const unsigned host_next[ETX_HOST_STATE_COUNT] = {
    [ETX_HOST_PENDING] = NEXT(ETX_HOST_STAGING) | FAIL,
    [ETX_HOST_STAGING] = NEXT(ETX_HOST_STAGED) | FAIL,
    [ETX_HOST_STAGED] = NEXT(ETX_HOST_VERIFIED) | FAIL,
    [ETX_HOST_VERIFIED] = NEXT(ETX_HOST_SWAPPED) | FAIL,
    [ETX_HOST_SWAPPED] = NEXT(ETX_HOST_RESTARTING) | FAIL | BACK,
    [ETX_HOST_RESTARTING] = NEXT(ETX_HOST_CHECKING) | FAIL | BACK,
    [ETX_HOST_CHECKING] = NEXT(ETX_HOST_HEALTHY) | FAIL | BACK,
    /* Healthy fails when a check during the batch's bake time fails
     * (etx_hostrun_bake(), coordinator/hostrun.c). */
    [ETX_HOST_HEALTHY] = FAIL | BACK,
    [ETX_HOST_FAILED] = BACK,
    [ETX_HOST_ROLLING_BACK] =
        NEXT(ETX_HOST_ROLLED_BACK) | NEXT(ETX_HOST_ROLLBACK_FAILED),
    [ETX_HOST_ROLLED_BACK] = 0,
    [ETX_HOST_ROLLBACK_FAILED] = 0,
};

static const char *const host_names[] = {
    [ETX_HOST_PENDING] = "pending",
    [ETX_HOST_STAGING] = "staging",
    [ETX_HOST_STAGED] = "staged",
    [ETX_HOST_VERIFIED] = "verified",
    [ETX_HOST_SWAPPED] = "swapped",
    [ETX_HOST_RESTARTING] = "restarting",
    [ETX_HOST_CHECKING] = "checking",
    [ETX_HOST_HEALTHY] = "healthy",
    [ETX_HOST_FAILED] = "failed",
    [ETX_HOST_ROLLING_BACK] = "rolling_back",
    [ETX_HOST_ROLLED_BACK] = "rolled_back",
    [ETX_HOST_ROLLBACK_FAILED] = "rollback_failed",
};

_Static_assert(sizeof(host_names) / sizeof(host_names[0]) ==
                   ETX_HOST_STATE_COUNT,
               "one name per host state");
_Static_assert(ETX_HOST_STATE_COUNT <= 32, "NEXT() masks fit in 32 bits");

const char *
etx_hoststate_name(enum etx_host_state s)
{
    if ((unsigned)s >= ETX_HOST_STATE_COUNT)
        return "unknown";
    return host_names[s];
}

int
etx_hoststate_from_name(const char *name, enum etx_host_state *out)
{
    unsigned i;

    if (name == NULL)
        return ETX_ERR;
    for (i = 0; i < ETX_HOST_STATE_COUNT; i++) {
        if (strcmp(host_names[i], name) == 0) {
            *out = (enum etx_host_state)i;
            return ETX_OK;
        }
    }
    return ETX_ERR;
}

bool
etx_hoststate_can(enum etx_host_state from, enum etx_host_state to)
{
    if ((unsigned)from >= ETX_HOST_STATE_COUNT ||
        (unsigned)to >= ETX_HOST_STATE_COUNT)
        return false;
    return (host_next[from] & NEXT(to)) != 0;
}

bool
etx_hoststate_is_terminal(enum etx_host_state s)
{
    return (unsigned)s < ETX_HOST_STATE_COUNT && host_next[s] == 0;
}
