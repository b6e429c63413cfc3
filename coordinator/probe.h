/* SPDX-License-Identifier: MIT */
/*
 * `etxroll probe`: ask the agents of an inventory's hosts, all at once on
 * one libuv loop, what they see: the agent's host facts (from its Hello)
 * and the inventory's target (a ProbeRequest: identity, digest, mode,
 * owner, file system, free space, holders). Read-only: nothing on a host
 * changes. Results are printed per host, as text or as one JSON object.
 */
#ifndef ETX_COORDINATOR_PROBE_H
#define ETX_COORDINATOR_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/error.h"

struct etx_inventory;

#define ETX_PROBE_TIMEOUT_MS 15000 /* default for the whole probe */

struct etx_probe_opts {
    const char *const *hosts; /* host names to probe; none: every host */
    size_t n_hosts;
    bool json;           /* one JSON object keyed by host, else text */
    uint64_t timeout_ms; /* for all hosts together; 0: the default */
};

/*
 * Probe and print the results to 'out' in inventory order. Returns ETX_OK
 * with *n_failed set to the hosts that did not answer (unreachable, wrong
 * key or host key, timeout, refused, no agent on an ssh host);
 * or ETX_ERR with err (class input) when a named host is not in the
 * inventory, and nothing is contacted.
 */
int etx_probe_run(const struct etx_inventory *inv,
                  const struct etx_probe_opts *o, FILE *out, size_t *n_failed,
                  struct etx_error *err);

#endif /* ETX_COORDINATOR_PROBE_H */
