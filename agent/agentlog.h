/* SPDX-License-Identifier: MIT */
/*
 * The agent's log: one JSON object per line (jansson) on a stream, stderr
 * in the daemon: {"ts", "level", "event", "peer", "msg", ...fields}. stdout
 * is never used, so `--stdio` keeps it for frames. The owner (struct
 * etx_server, main) embeds the log; there is no global logger.
 */
#ifndef ETX_AGENT_AGENTLOG_H
#define ETX_AGENT_AGENTLOG_H

#include <stdio.h>

#include <jansson.h>

enum etx_agentlog_level {
    ETX_AGENTLOG_DEBUG = 0,
    ETX_AGENTLOG_INFO,
    ETX_AGENTLOG_WARN,
    ETX_AGENTLOG_ERROR,
};

/* Embedded by its owner; 'out' is borrowed and must outlive the log. */
struct etx_agentlog {
    FILE *out;
    enum etx_agentlog_level min; /* lines below this level are dropped */
};

/*
 * Write one line: 'event' names what happened ("conn.accepted",
 * "request"), 'peer' the connection's address (NULL: left out), 'fields'
 * more members (stolen: the call decrefs it; NULL: none), then a message
 * for people. Out of memory loses the line, never the caller's work.
 */
void etx_agentlog_write(struct etx_agentlog *log, enum etx_agentlog_level level,
                        const char *event, const char *peer, json_t *fields,
                        const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* "debug", "info", "warn", "error". */
const char *etx_agentlog_level_name(enum etx_agentlog_level level);

#endif /* ETX_AGENT_AGENTLOG_H */
