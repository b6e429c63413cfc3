/* SPDX-License-Identifier: MIT */
/*
 * The plan as people read it: a summary of what, where and how, then one
 * row per host in batch order. Printed from the plan document itself, so a
 * saved plan.json reads the same as a fresh plan.
 */
#ifndef ETX_COORDINATOR_PLANTABLE_H
#define ETX_COORDINATOR_PLANTABLE_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Print the plan document 'doc' (format etxroll-plan/1) to 'out'. */
void etx_plantable_print(const json_t *doc, FILE *out);

/* "500ms", "30s", "2m", "1h30m": the inventory's own duration style. */
void etx_plantable_duration(uint64_t ms, char *buf, size_t len);

#endif /* ETX_COORDINATOR_PLANTABLE_H */
