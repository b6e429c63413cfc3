/* SPDX-License-Identifier: MIT */
/*
 * Plans for change approval: what a rollout of an inventory will do, as a
 * JSON document (jansson) and a table for people. The plan id is the
 * SHA-256 of the plan's canonical JSON (keys sorted, compact, without the
 * "plan_id" and "meta" members), so it depends on the inventory's values and
 * the artifact's bytes, not on comments, key order or where files live.
 * docs/plan.md describes the document.
 */
#ifndef ETX_COORDINATOR_PLAN_H
#define ETX_COORDINATOR_PLAN_H

#include <stdbool.h>

#include <jansson.h>

#include "coordinator/inventory.h"
#include "proto/error.h"

#define ETX_PLAN_FORMAT "etxroll-plan/1"

struct etx_plan; /* opaque */

struct etx_plan_opts {
    bool offline; /* no host is contacted; current state "not probed" */
};

/*
 * Plan a rollout of 'inv'. Reads the artifact when it is a local file (its
 * SHA-256 must match artifact.sha256 when both are given). On success *out
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

#endif /* ETX_COORDINATOR_PLAN_H */
