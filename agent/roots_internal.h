/* SPDX-License-Identifier: MIT */
/* Test-only controls of agent/roots.c. */
#ifndef ETX_AGENT_ROOTS_INTERNAL_H
#define ETX_AGENT_ROOTS_INTERNAL_H

#include <stdbool.h>

#include "agent/roots.h"

/* Resolve with the component walk even where openat2() exists. */
void etx_roots_force_walk(struct etx_roots *r, bool on);

#endif /* ETX_AGENT_ROOTS_INTERNAL_H */
