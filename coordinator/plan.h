/* SPDX-License-Identifier: MIT */
/*
 * Plans for change approval: what a rollout of an inventory will do, as a
 * JSON document (jansson) and a table for people. The plan id is the
 * SHA-256 of the plan's canonical JSON (keys sorted, compact, without the
 * "plan_id" and "meta" members), so it depends on the inventory's values and
 * the artifact's bytes (and, for a probed plan, on each host's current
 * target and the kinds of hazard found), not on comments, key order or
 * where files live.
 * docs/plan.md describes the document.
 */
#ifndef ETX_COORDINATOR_PLAN_H
#define ETX_COORDINATOR_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "coordinator/inventory.h"
#include "proto/error.h"

#define ETX_PLAN_FORMAT "etxroll-plan/1"

struct etx_plan; /* opaque */

struct etx_plan_opts {
    bool offline;        /* no host is contacted; current state "not probed" */
    uint64_t timeout_ms; /* probing all hosts; 0: the default (15 s) */
};

/*
 * Plan a rollout of 'inv'. Reads the artifact when it is a local file (its
 * SHA-256 must match artifact.sha256 when both are given). Without
 * 'offline', probes every planned host (read-only, all at once): each
 * host's "current" and the "hazards" are filled (an unreachable host is a
 * hazard, not a failure). On success *out
 * is a new plan (etx_plan_free()); the plan does not keep 'inv'.
 */
int etx_plan_build(const struct etx_inventory *inv,
                   const struct etx_plan_opts *opts, struct etx_plan **out,
                   struct etx_error *err);

void etx_plan_free(struct etx_plan *p); /* NULL: no-op */

/* 64 hex characters; valid as long as the plan. */
const char *etx_plan_id(const struct etx_plan *p);

/* The whole document, plan_id included; borrowed, valid as long as p. */
const json_t *etx_plan_json(const struct etx_plan *p);

/*
 * The id of a plan document: SHA-256 of its canonical form without
 * "plan_id" and "meta". Writes 64 hex characters and a NUL into id.
 */
int etx_plan_compute_id(const json_t *doc, char id[65], struct etx_error *err);

/*
 * Write the JSON document to 'path' atomically (a temporary file in the same
 * directory, fsync, rename), so a reader never sees half a plan.
 */
int etx_plan_save(const struct etx_plan *p, const char *path,
                  struct etx_error *err);

/*
 * Load a saved plan document from 'path' into *doc (caller json_decref()s).
 * ETX_ERR (class input) when it is not JSON or not format etxroll-plan/1.
 */
int etx_plan_load(const char *path, json_t **doc, struct etx_error *err);

/* Whether 'path' holds a plan document (JSON object with our format). */
bool etx_plan_is_plan_file(const char *path);

/*
 * Name the members where two plan documents differ, without "plan_id" and
 * "meta": top-level members ("artifact", "batches", ...), and for "hosts"
 * each host's differing members ("hosts.h3.current", "hosts.h9" when one
 * side lacks it). Comma-separated into buf (truncated with "..."). Returns
 * the number of differences.
 */
size_t etx_plan_diff(const json_t *a, const json_t *b, char *buf, size_t len);

#endif /* ETX_COORDINATOR_PLAN_H */
