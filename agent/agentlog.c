/* SPDX-License-Identifier: MIT */
/* The agent's JSON-lines log (see agentlog.h). */
#include "agent/agentlog.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

static const char *const level_names[] = {
    [ETX_AGENTLOG_DEBUG] = "debug",
    [ETX_AGENTLOG_INFO] = "info",
    [ETX_AGENTLOG_WARN] = "warn",
    [ETX_AGENTLOG_ERROR] = "error",
};

const char *
etx_agentlog_level_name(enum etx_agentlog_level level)
{
    if ((size_t)level >= sizeof(level_names) / sizeof(level_names[0]))
        return "unknown";
    return level_names[level];
}

/* "2024-05-01T12:00:00.123Z": UTC with milliseconds. */
static void
format_ts(char *buf, size_t len)
{
    struct timespec now;
    struct tm tm;
    char day[32];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03ldZ", day, now.tv_nsec / 1000000L);
}

static void
emit(struct etx_agentlog *log, json_t *line)
{
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);

    if (text == NULL)
        return;
    fprintf(log->out, "%s\n", text);
    fflush(log->out);
    free(text);
}

void
etx_agentlog_write(struct etx_agentlog *log, enum etx_agentlog_level level,
                   const char *event, const char *peer, json_t *fields,
                   const char *fmt, ...)
{
    json_t *line = NULL;
    char ts[48];
    char msg[1024];
    va_list ap;

    if (level < log->min)
        goto out;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    format_ts(ts, sizeof(ts));
    line = json_object();
    if (line == NULL)
        goto out;
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level",
                        json_string(etx_agentlog_level_name(level)));
    json_object_set_new(line, "event", json_string(event));
    if (peer != NULL)
        json_object_set_new(line, "peer", json_string(peer));
    json_object_set_new(line, "msg", json_string(msg));
    if (fields != NULL)
        json_object_update_missing(line, fields);
    emit(log, line);
out:
    json_decref(fields);
    json_decref(line);
}
