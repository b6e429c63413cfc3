/* SPDX-License-Identifier: MIT */
/*
 * Reach one host of the inventory by its transport: TCP with TLS and the
 * fleet key to a resident agent, or SSH running the agent with --stdio
 * (coordinator/peer.h, coordinator/ssh.h). The planner's probes and the
 * rollout connect through here, so mixed fleets take one code path.
 */
#ifndef ETX_COORDINATOR_CARRIER_H
#define ETX_COORDINATOR_CARRIER_H

#include <stddef.h>

#include <uv.h>

#include "coordinator/inventory.h"
#include "coordinator/peer.h"
#include "proto/error.h"

struct etx_psk;

/*
 * Connect to host 'h' (borrowed for the call). 'psk' is the fleet key of
 * an agent host, or NULL to load it from h->transport.key_file; SSH hosts
 * ignore it. Returns the peer (see peer.h for its callbacks) or NULL with
 * err set.
 */
struct etx_peer *etx_carrier_connect(uv_loop_t *loop,
                                     const struct etx_inv_host *h,
                                     const struct etx_psk *psk,
                                     const struct etx_peer_cbs *cbs,
                                     struct etx_error *err);

/*
 * Load the fleet key of every agent host inv->hosts[order[0..n-1]] into
 * psks[order[i]] (an array of inv->n_hosts, zeroed by the caller, who
 * wipes each with etx_psk_clear()); SSH hosts need none and are skipped.
 */
int etx_carrier_load_keys(const struct etx_inventory *inv, const size_t *order,
                          size_t n, struct etx_psk *psks,
                          struct etx_error *err);

/*
 * The etxroll-agent binary that push_agent uploads: the one installed
 * next to this program's executable. Writes its path into buf.
 */
int etx_carrier_local_agent(char *buf, size_t len, struct etx_error *err);

#endif /* ETX_COORDINATOR_CARRIER_H */
