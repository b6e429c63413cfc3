/* SPDX-License-Identifier: MIT */
/*
 * What a running rollout tells people and tools: one JSON event per line
 * (--log-json FILE; jansson) with the rollout id, the host, the event and,
 * for failures, DESIGN.md's error fields; and for people, plain lines on
 * stdout, or on a terminal the same lines plus one live progress line that
 * is rewritten in place. Writes are small and buffered by stdio; the JSON
 * file is flushed after each event so a reader can follow it.
 */
#ifndef ETX_COORDINATOR_EVENTLOG_H
#define ETX_COORDINATOR_EVENTLOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "proto/error.h"

struct etx_eventlog; /* opaque */

/*
 * Open the log of rollout 'rollout' (copied): JSON events appended to
 * 'json_path' (NULL: none; created 0600 if missing, O_CLOEXEC), lines for
 * people to 'human' (borrowed; a terminal gets live progress). On success
 * *out is new (etx_eventlog_close()).
 */
int etx_eventlog_open(const char *json_path, const char *rollout, FILE *human,
                      struct etx_eventlog **out, struct etx_error *err);

void etx_eventlog_close(struct etx_eventlog *l); /* NULL: no-op */

/*
 * One event: 'fields' (stolen; NULL for none) is a JSON object to which
 * "ts", "rollout", "event" and "host" (when not NULL) are added; the
 * formatted sentence becomes "message" and the line for people.
 */
void etx_eventlog_emit(struct etx_eventlog *l, const char *host,
                       const char *event, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The same for the JSON log only (steps people need not watch). */
void etx_eventlog_record(struct etx_eventlog *l, const char *host,
                         const char *event, json_t *fields, const char *msg);

/*
 * The live progress line ("batch 2/3  healthy 3  staging 1 ..."); shown
 * only on a terminal, rewritten in place, never in the JSON log.
 */
void etx_eventlog_progress(struct etx_eventlog *l, const char *line);

/* True when lines for people go to a terminal. */
bool etx_eventlog_is_tty(const struct etx_eventlog *l);

#endif /* ETX_COORDINATOR_EVENTLOG_H */
