/* SPDX-License-Identifier: MIT */
/*
 * Probing for `etxroll plan` (without --offline): ask the agents of the
 * hosts being planned, all at once on one libuv loop with one timeout,
 * what their target is now (read-only), then turn the answers into each
 * host's "current" member and the plan's hazards. docs/plan.md lists the
 * hazards and which of their parts the plan id covers.
 */
#ifndef ETX_COORDINATOR_PLANPROBE_H
#define ETX_COORDINATOR_PLANPROBE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "coordinator/inventory.h"
#include "proto/error.h"

#define ETX_PLANPROBE_TIMEOUT_MS 15000
#define ETX_PLANPROBE_PARALLEL   64 /* connections open at once */

/*
 * Probe the hosts inv->hosts[idx[0..n-1]]. On success *out is a new JSON
 * object (caller json_decref()s) keyed by host name: {"ok": true,
 * "machine_id", "exists", "sha256", "size", "network_fs", "mount_point",
 * "mount_source", "fs_type", "free_bytes", "exec_count", "exec_pid"} or
 * {"ok": false, "error": "..."}. A host that does not answer is not an
 * error of the call; ETX_ERR only for lack of memory or an event loop.
 */
int etx_planprobe_run(const struct etx_inventory *inv, const size_t *idx,
                      size_t n, uint64_t timeout_ms, json_t **out,
                      struct etx_error *err);

/* A host's "current" member from its probe answer (new reference):
 * {"state": "probed", "exists", "sha256"} or {"state": "unreachable"}. */
json_t *etx_planprobe_current(const json_t *answer);

/*
 * Append the hazards found in 'probed' (from etx_planprobe_run) to
 * 'hazards' ([{"host", "kind"}], covered by the plan id) and to 'details'
 * ([{"host", "kind", "detail"}], the same in the same order with numbers
 * that drift, such as free bytes and pids: kept out of the id).
 * 'artifact_size' is 0 when unknown (no space check then).
 */
int etx_planprobe_hazards(const struct etx_inventory *inv, const json_t *probed,
                          uint64_t artifact_size, json_t *hazards,
                          json_t *details, struct etx_error *err);

#endif /* ETX_COORDINATOR_PLANPROBE_H */
