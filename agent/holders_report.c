/* SPDX-License-Identifier: MIT */
/*
 * What a holder list from holders.c's /proc scan becomes for people and
 * programs (holders.h): relation names, the one-line text, the engine's
 * exec check with its ETXTBSY message naming the writers, and JSON.
 */
#include "agent/holders.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const rel_names[ETX_HOLD_REL_COUNT] = {
    [ETX_HOLD_EXEC] = "EXEC",   [ETX_HOLD_MAP_R] = "MAP-R",
    [ETX_HOLD_MAP_W] = "MAP-W", [ETX_HOLD_FD_R] = "FD-R",
    [ETX_HOLD_FD_W] = "FD-W",   [ETX_HOLD_CWD] = "CWD",
    [ETX_HOLD_ROOT] = "ROOT",
};

const char *
etx_holders_rel_name(enum etx_holder_rel rel)
{
    if ((unsigned)rel >= ETX_HOLD_REL_COUNT)
        return "?";
    return rel_names[rel];
}

/* Append to buf at *used, cutting what does not fit. */
static void __attribute__((format(printf, 4, 5)))
append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (*used + 1 >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *used += (size_t)n;
    if (*used >= len)
        *used = len - 1;
}

static void
format_one(const struct etx_holder *h, char *buf, size_t len, size_t *used)
{
    append(buf, len, used, "pid %d (%s) %s", (int)h->pid, h->comm,
           etx_holders_rel_name(h->rel));
    if (h->fd >= 0)
        append(buf, len, used, " fd %d", h->fd);
    append(buf, len, used, " %s, started at tick %" PRIu64 ", uid %u", h->path,
           h->start_time, (unsigned)h->uid);
    if (h->unit[0] != '\0')
        append(buf, len, used, ", unit %s", h->unit);
    if (h->container[0] != '\0')
        append(buf, len, used, ", container %.12s", h->container);
}

const char *
etx_holders_format(const struct etx_holders *h, char *buf, size_t len)
{
    size_t used = 0;
    size_t i = 0;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    for (i = 0; i < h->n; i++) {
        if (i > 0)
            append(buf, len, &used, "; ");
        format_one(&h->v[i], buf, len, &used);
    }
    if (h->n_more > 0)
        append(buf, len, &used, "%s+%zu more", used > 0 ? "; " : "", h->n_more);
    if (h->n_unknown > 0)
        append(buf, len, &used, "%s%zu processes could not be inspected",
               used > 0 ? "; " : "", h->n_unknown);
    return buf;
}

int
etx_holders_check_exec(const struct etx_file_id *id, const char *path,
                       struct etx_holders *writers_out, struct etx_error *err)
{
    struct etx_holders w;
    char list[400];
    size_t used = 0;
    size_t i = 0;
    int rc = ETX_OK;

    if (writers_out != NULL)
        memset(writers_out, 0, sizeof(*writers_out));
    if (etx_holders_scan(id, 1, ETX_HOLDERS_WRITERS, &w, err) != ETX_OK)
        return ETX_ERR;
    list[0] = '\0';
    for (i = 0; i < w.n; i++)
        append(list, sizeof(list), &used, "%spid %d (%s) %s", i ? ", " : "",
               (int)w.v[i].pid, w.v[i].comm, etx_holders_rel_name(w.v[i].rel));
    if (w.n + w.n_more > 0)
        rc = etx_error_sys(err, ETXTBSY, ETX_CTX_EXEC, "exec-check", path,
                           "%zu holder(s) have it open for writing or "
                           "mapped shared-writable: %s%s",
                           w.n + w.n_more, list, w.n_more ? ", ..." : "");
    if (writers_out != NULL)
        *writers_out = w;
    else
        etx_holders_free(&w);
    return rc;
}

/*
 * A JSON string from /proc text, which need not be UTF-8 (jansson refuses
 * that): bytes outside ASCII are shown as '?' when the text is not valid.
 */
static json_t *
text(const char *s)
{
    char copy[sizeof(((struct etx_holder *)NULL)->path)];
    json_t *j = json_string(s);
    size_t i = 0;

    if (j != NULL)
        return j;
    snprintf(copy, sizeof(copy), "%s", s);
    for (i = 0; copy[i] != '\0'; i++)
        if ((unsigned char)copy[i] >= 0x80)
            copy[i] = '?';
    return json_string(copy);
}

static json_t *
holder_to_json(const struct etx_holder *h)
{
    json_t *o = NULL;

    o = json_pack("{s:i, s:i, s:I, s:I, s:s, s:I, s:o, s:o, s:o, s:s, s:o}",
                  "pid", (int)h->pid, "ppid", (int)h->ppid, "uid",
                  (json_int_t)h->uid, "start_time", (json_int_t)h->start_time,
                  "relation", etx_holders_rel_name(h->rel), "id_index",
                  (json_int_t)h->id_index, "comm", text(h->comm), "cmdline",
                  text(h->cmdline), "unit", text(h->unit), "container",
                  h->container, "path", text(h->path));
    if (o == NULL || h->fd < 0)
        return o;
    if (json_object_set_new(o, "fd", json_integer(h->fd)) != 0 ||
        json_object_set_new(o, "fd_flags", json_integer(h->fd_flags)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *
etx_holders_to_json(const struct etx_holders *h)
{
    json_t *list = NULL;
    json_t *item = NULL;
    size_t i = 0;

    list = json_array();
    if (list == NULL)
        return NULL;
    for (i = 0; i < h->n; i++) {
        item = holder_to_json(&h->v[i]);
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return json_pack("{s:o, s:I, s:i, s:I}", "holders", list, "unknown",
                     (json_int_t)h->n_unknown, "first_unknown",
                     (int)h->first_unknown, "more", (json_int_t)h->n_more);
}
