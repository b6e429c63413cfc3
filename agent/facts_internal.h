/* SPDX-License-Identifier: MIT */
/*
 * What agent/facts.c (targets, host, JSON) and agent/facts_kernel.c (the
 * ETXTBSY probe) share; not part of the facts API (see facts.h).
 */
#ifndef ETX_AGENT_FACTS_INTERNAL_H
#define ETX_AGENT_FACTS_INTERNAL_H

#include <jansson.h>

#include "agent/facts.h"

/*
 * A JSON string of any bytes: non-UTF-8 text has its high bytes as '?'.
 * A new reference, or NULL when out of memory.
 */
json_t *etx_facts__text(const char *s);

/* The "fs" object of facts.h; a new reference, or NULL (out of memory). */
json_t *etx_facts__fs_to_json(const struct etx_facts_fs *fs);

#endif /* ETX_AGENT_FACTS_INTERNAL_H */
