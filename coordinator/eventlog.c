/* SPDX-License-Identifier: MIT */
/* The rollout's event log: JSON lines for tools, lines for people. */
#define _GNU_SOURCE
#include "coordinator/eventlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator/journal.h"

struct etx_eventlog {
    FILE *json;  /* owned, or NULL */
    FILE *human; /* borrowed */
    bool tty;
    bool progress_shown; /* a progress line is on screen */
    char rollout[ETX_JOURNAL_ID_MAX];
};

int
etx_eventlog_open(const char *json_path, const char *rollout, FILE *human,
                  struct etx_eventlog **out, struct etx_error *err)
{
    struct etx_eventlog *l = calloc(1, sizeof(*l));
    int fd = -1;

    if (l == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "log", json_path,
                             "cannot open the event log");
    snprintf(l->rollout, sizeof(l->rollout), "%s", rollout);
    l->human = human;
    l->tty = human != NULL && isatty(fileno(human));
    if (json_path != NULL) {
        fd = open(json_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0 || (l->json = fdopen(fd, "a")) == NULL) {
            etx_error_sys(err, errno, ETX_CTX_FILE, "open", json_path,
                          "cannot open the JSON log");
            if (fd >= 0)
                close(fd);
            free(l);
            return ETX_ERR;
        }
    }
    *out = l;
    return ETX_OK;
}

void
etx_eventlog_close(struct etx_eventlog *l)
{
    if (l == NULL)
        return;
    if (l->progress_shown && l->human != NULL)
        fputs("\r\033[K", l->human);
    if (l->json != NULL)
        fclose(l->json);
    free(l);
}

static void
clear_progress(struct etx_eventlog *l)
{
    if (l->progress_shown) {
        fputs("\r\033[K", l->human);
        l->progress_shown = false;
    }
}

static void
write_json(struct etx_eventlog *l, const char *host, const char *event,
           json_t *fields, const char *msg)
{
    char ts[ETX_JOURNAL_TS_MAX];
    char *line = NULL;

    if (fields == NULL)
        fields = json_object();
    if (fields == NULL)
        return;
    etx_journal_timestamp(ts, sizeof(ts));
    json_object_set_new(fields, "ts", json_string(ts));
    json_object_set_new(fields, "rollout", json_string(l->rollout));
    json_object_set_new(fields, "event", json_string(event));
    if (host != NULL)
        json_object_set_new(fields, "host", json_string(host));
    json_object_set_new(fields, "message", json_string(msg));
    line = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
    if (line != NULL && l->json != NULL) {
        fprintf(l->json, "%s\n", line);
        fflush(l->json);
    }
    free(line);
    json_decref(fields);
}

void
etx_eventlog_emit(struct etx_eventlog *l, const char *host, const char *event,
                  json_t *fields, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->human != NULL) {
        clear_progress(l);
        if (host != NULL)
            fprintf(l->human, "%-12s %s\n", host, msg);
        else
            fprintf(l->human, "%s\n", msg);
        fflush(l->human);
    }
    write_json(l, host, event, fields, msg);
}

void
etx_eventlog_record(struct etx_eventlog *l, const char *host, const char *event,
                    json_t *fields, const char *msg)
{
    write_json(l, host, event, fields, msg);
}

void
etx_eventlog_progress(struct etx_eventlog *l, const char *line)
{
    if (!l->tty)
        return;
    fprintf(l->human, "\r\033[K%s", line);
    fflush(l->human);
    l->progress_shown = true;
}

bool
etx_eventlog_is_tty(const struct etx_eventlog *l)
{
    return l->tty;
}
