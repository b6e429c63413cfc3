/* SPDX-License-Identifier: MIT */
/*
 * The agent's answer to one request: an etxroll.Result (proto/etxroll.proto)
 * built from the engine's reports (struct etx_error, etx_holders,
 * etx_fileinfo, etx_facts_target) with every string and holder it points to
 * owned by the reply, so the Result stays valid until etx_reply_free().
 * Holders past ETX_REPLY_HOLDERS_MAX are counted in the message, never
 * dropped silently.
 */
#ifndef ETX_AGENT_REPLY_H
#define ETX_AGENT_REPLY_H

#include <stdint.h>

#include "agent/facts.h"
#include "agent/fileinfo.h"
#include "agent/holders.h"
#include "proto/error.h"
#include "proto/etxroll.pb-c.h"

#define ETX_REPLY_HOLDERS_MAX 64 /* holders sent in one Result */

struct etx_reply; /* opaque: agent/reply.c */

/* A new reply, ok = false and empty. NULL on ENOMEM. */
struct etx_reply *etx_reply_new(void);
void etx_reply_free(struct etx_reply *r); /* NULL: no-op */

/* Mark it a success with a detail line for people. */
void etx_reply_ok(struct etx_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Mark it a failure from 'e' (op, where as path, errno, class, message);
 * 'h' (may be NULL) adds the holders. The detail line is the formatted
 * error.
 */
void etx_reply_fail(struct etx_reply *r, const struct etx_error *e,
                    const struct etx_holders *h);

/*
 * Holders for a successful probe: carried in Result.error with class NONE
 * (docs/protocol.md "Probe"). 'h' is copied.
 */
void etx_reply_holders(struct etx_reply *r, const struct etx_holders *h);

/* The retry figures of a failure (after etx_reply_fail()). */
void etx_reply_attempts(struct etx_reply *r, unsigned attempt,
                        uint64_t waited_ms);

/* Result.before / Result.after from a file's facts (copied). */
void etx_reply_before(struct etx_reply *r, const struct etx_fileinfo *fi);
void etx_reply_after(struct etx_reply *r, const struct etx_fileinfo *fi);

/* Result.before from a probe: the file, its link text, its file system. */
void etx_reply_probe(struct etx_reply *r, const struct etx_facts_target *t);

/* Result.health_passes / health_failures. */
void etx_reply_health(struct etx_reply *r, unsigned passes, unsigned failures);

/* The Result, owned by the reply: valid until etx_reply_free(). */
const Etxroll__Result *etx_reply_result(const struct etx_reply *r);

/* Whether it is a success (for logs). */
bool etx_reply_is_ok(const struct etx_reply *r);

#endif /* ETX_AGENT_REPLY_H */
