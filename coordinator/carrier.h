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
 * The fleet keys of the agent hosts inv->hosts[order[0..n-1]]: a new
 * array of inv->n_hosts keys, entry order[i] loaded from that host's
 * key_file (SSH hosts need none: their entries stay zero). Free it with
 * etx_carrier_free_keys(). NULL with err set on a missing or bad key or
 * lack of memory.
 */
struct etx_psk *etx_carrier_load_keys(const struct etx_inventory *inv,
                                      const size_t *order, size_t n,
                                      struct etx_error *err);

/* Wipe and free keys from etx_carrier_load_keys() (n_hosts of them). */
void etx_carrier_free_keys(struct etx_psk *psks, size_t n_hosts);

/*
 * The etxroll-agent binary that push_agent uploads: the one installed
 * next to this program's executable. Writes its path into buf.
 */
int etx_carrier_local_agent(char *buf, size_t len, struct etx_error *err);

#endif /* ETX_COORDINATOR_CARRIER_H */
