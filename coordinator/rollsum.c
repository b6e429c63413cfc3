/* SPDX-License-Identifier: MIT */
/*
 * The rollout summary: the fold of a journal's records (replayed through
 * coordinator/journal.h) into where a rollout and each of its hosts stand,
 * and the listing of a fleet's rollouts.
 */
#include "coordinator/rollsum.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "coordinator/statedir.h"

static const char *const status_names[] = {
    [ETX_ROLLSUM_RUNNING] = "running",
    [ETX_ROLLSUM_HALTING] = "halting",
    [ETX_ROLLSUM_ROLLING_BACK] = "rolling_back",
    [ETX_ROLLSUM_DONE] = "done",
    [ETX_ROLLSUM_HALTED] = "halted",
    [ETX_ROLLSUM_ROLLED_BACK] = "rolled_back",
    [ETX_ROLLSUM_ROLLBACK_INCOMPLETE] = "rollback_incomplete",
};

_Static_assert(sizeof(status_names) / sizeof(status_names[0]) ==
                   ETX_ROLLSUM_STATUS_COUNT,
               "one name per rollout status");

const char *
etx_rollsum_status_name(enum etx_rollsum_status s)
{
    if ((unsigned)s >= ETX_ROLLSUM_STATUS_COUNT)
        return "unknown";
    return status_names[s];
}

bool
etx_rollsum_status_is_ended(enum etx_rollsum_status s)
{
    return s >= ETX_ROLLSUM_DONE && s < ETX_ROLLSUM_STATUS_COUNT;
}

/* ---- fold ---------------------------------------------------------- */

struct fold {
    struct etx_rollsum *s;
    json_t *index; /* host name -> index into s->hosts */
    size_t cap;
};

static int
bad(struct etx_error *err, const char *what, const char *key)
{
    return etx_error_set(err, ETX_CLASS_INPUT, 0, "journal", NULL,
                         "corrupt journal: %s \"%s\"", what, key);
}

static int
need_str(const json_t *rec, const char *key, const char **out,
         struct etx_error *err)
{
    *out = json_string_value(json_object_get(rec, key));
    return *out != NULL ? ETX_OK : bad(err, "missing string", key);
}

/* An optional count (>= 0); *out is left as is when the key is absent. */
static int
opt_long(const json_t *rec, const char *key, long *out, struct etx_error *err)
{
    const json_t *v = json_object_get(rec, key);

    if (v == NULL)
        return ETX_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > LONG_MAX)
        return bad(err, "not a count:", key);
    *out = (long)json_integer_value(v);
    return ETX_OK;
}

static void
copy_opt(char *dst, size_t len, const json_t *rec, const char *key)
{
    const char *v = json_string_value(json_object_get(rec, key));

    if (v != NULL)
        snprintf(dst, len, "%s", v);
}

static struct etx_rollsum_host *
find_host(struct fold *f, const char *name, struct etx_error *err)
{
    const json_t *idx = json_object_get(f->index, name);
    struct etx_rollsum *s = f->s;
    struct etx_rollsum_host *h = NULL;
    size_t ncap = f->cap != 0 ? f->cap * 2 : 16;

    if (idx != NULL)
        return &s->hosts[json_integer_value(idx)];
    if (s->n_hosts == f->cap) {
        h = realloc(s->hosts, ncap * sizeof(*h));
        if (h == NULL)
            goto oom;
        s->hosts = h;
        f->cap = ncap;
    }
    h = &s->hosts[s->n_hosts];
    memset(h, 0, sizeof(*h));
    h->name = strdup(name);
    if (h->name == NULL ||
        json_object_set_new(f->index, name,
                            json_integer((json_int_t)s->n_hosts)))
        goto oom;
    s->n_hosts++;
    return h;
oom:
    if (h != NULL)
        free(h->name);
    etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", name,
                  "cannot keep a host");
    return NULL;
}

static int
fold_start(struct fold *f, const json_t *rec, struct etx_error *err)
{
    struct etx_rollsum *s = f->s;
    const json_t *hosts = json_object_get(rec, "hosts");
    const json_t *v = NULL;
    size_t i;

    copy_opt(s->fleet, sizeof(s->fleet), rec, "fleet");
    copy_opt(s->plan_id, sizeof(s->plan_id), rec, "plan_id");
    if (opt_long(rec, "batches", &s->batches, err) != ETX_OK)
        return ETX_ERR;
    if (hosts != NULL && !json_is_array(hosts))
        return bad(err, "not an array:", "hosts");
    json_array_foreach(hosts, i, v)
    {
        if (!json_is_string(v))
            return bad(err, "not a host name in", "hosts");
        if (find_host(f, json_string_value(v), err) == NULL)
            return ETX_ERR;
    }
    return ETX_OK;
}

static int
fold_result(struct etx_rollsum *s, const json_t *rec, struct etx_error *err)
{
    const char *result = NULL;
    unsigned i;

    if (need_str(rec, "result", &result, err) != ETX_OK)
        return ETX_ERR;
    for (i = ETX_ROLLSUM_DONE; i < ETX_ROLLSUM_STATUS_COUNT; i++) {
        if (strcmp(result, status_names[i]) == 0) {
            s->status = (enum etx_rollsum_status)i;
            return ETX_OK;
        }
    }
    return bad(err, "unknown result", result);
}

static int
fold_rollout(struct fold *f, const json_t *rec, struct etx_error *err)
{
    struct etx_rollsum *s = f->s;
    const char *ev = NULL;

    if (need_str(rec, "event", &ev, err) != ETX_OK)
        return ETX_ERR;
    if (strcmp(ev, "start") == 0)
        return fold_start(f, rec, err);
    if (strcmp(ev, "end") == 0)
        return fold_result(s, rec, err);
    if (strcmp(ev, "halt") == 0) {
        s->status = ETX_ROLLSUM_HALTING;
        copy_opt(s->reason, sizeof(s->reason), rec, "reason");
    } else if (strcmp(ev, "rollback") == 0) {
        s->status = ETX_ROLLSUM_ROLLING_BACK;
    } else if (strcmp(ev, "resume") != 0) {
        return bad(err, "unknown rollout event", ev);
    }
    return ETX_OK;
}

/* "batch" and "gate" records: which batch runs, which gate waits. */
static int
fold_batch(struct fold *f, const json_t *rec, bool gate, struct etx_error *err)
{
    struct etx_rollsum *s = f->s;
    const char *ev = NULL;
    long n = 0;

    if (need_str(rec, "event", &ev, err) != ETX_OK ||
        opt_long(rec, "batch", &n, err) != ETX_OK)
        return ETX_ERR;
    if (n < 1)
        return bad(err, "missing or zero", "batch");
    if (!gate && strcmp(ev, "start") == 0) {
        s->batch = n;
        s->batch_done = false;
    } else if (!gate && strcmp(ev, "done") == 0) {
        s->batch_done = s->batch_done || n == s->batch;
    } else if (gate && strcmp(ev, "wait") == 0) {
        s->gate_batch = n;
    } else if (gate &&
               (strcmp(ev, "continue") == 0 || strcmp(ev, "abort") == 0)) {
        s->gate_batch = 0;
    } else {
        return bad(err, gate ? "unknown gate event" : "unknown batch event",
                   ev);
    }
    return ETX_OK;
}

static void
host_error(struct etx_rollsum_host *h, const json_t *rec)
{
    const json_t *e = json_object_get(rec, "error");
    const char *f[5] = {"op", "path", "message", "errno_name", "class"};
    const char *v[5];
    size_t i;

    h->error[0] = '\0';
    if (!json_is_object(e))
        return;
    for (i = 0; i < 5; i++) {
        v[i] = json_string_value(json_object_get(e, f[i]));
        v[i] = v[i] != NULL ? v[i] : "";
    }
    snprintf(h->error, sizeof(h->error), "%s %s: %s [%s, %s]", v[0], v[1], v[2],
             v[3], v[4]);
}

/* intent, outcome and probe records: the host's state machine. */
static int
fold_host(struct fold *f, const json_t *rec, const char *kind,
          struct etx_error *err)
{
    const char *name = NULL, *state = NULL, *step = NULL;
    bool probe = strcmp(kind, "probe") == 0;
    struct etx_rollsum_host *h = NULL;
    enum etx_host_state to;

    if (need_str(rec, "host", &name, err) != ETX_OK ||
        need_str(rec, "state", &state, err) != ETX_OK ||
        (!probe && need_str(rec, "step", &step, err) != ETX_OK))
        return ETX_ERR;
    if (etx_hoststate_from_name(state, &to) != ETX_OK)
        return bad(err, "unknown host state", state);
    h = find_host(f, name, err);
    if (h == NULL || opt_long(rec, "batch", &h->batch, err) != ETX_OK)
        return ETX_ERR;
    if (!probe && to != h->state && !etx_hoststate_can(h->state, to))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "journal", NULL,
                             "corrupt journal: host %s cannot go from %s "
                             "to %s",
                             name, etx_hoststate_name(h->state), state);
    h->state = to;
    h->reached_swapped = h->reached_swapped ||
                         (to >= ETX_HOST_SWAPPED && to <= ETX_HOST_HEALTHY);
    h->in_flight = strcmp(kind, "intent") == 0;
    if (step != NULL && h->in_flight)
        snprintf(h->step, sizeof(h->step), "%s", step);
    if (!h->in_flight)
        host_error(h, rec);
    return ETX_OK;
}

static int
fold_cb(const json_t *rec, size_t line, void *arg, struct etx_error *err)
{
    struct fold *f = arg;
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    const char *ts = json_string_value(json_object_get(rec, "ts"));

    if (line == 1)
        snprintf(f->s->started, sizeof(f->s->started), "%s", ts);
    snprintf(f->s->updated, sizeof(f->s->updated), "%s", ts);
    if (strcmp(kind, "rollout") == 0)
        return fold_rollout(f, rec, err);
    if (strcmp(kind, "batch") == 0 || strcmp(kind, "gate") == 0)
        return fold_batch(f, rec, kind[0] == 'g', err);
    if (strcmp(kind, "intent") == 0 || strcmp(kind, "outcome") == 0 ||
        strcmp(kind, "probe") == 0)
        return fold_host(f, rec, kind, err);
    return ETX_OK;
}

void
etx_rollsum_clear(struct etx_rollsum *s)
{
    size_t i;

    for (i = 0; i < s->n_hosts; i++)
        free(s->hosts[i].name);
    free(s->hosts);
    memset(s, 0, sizeof(*s));
}

static int
fold_begin(struct fold *f, struct etx_rollsum *out, struct etx_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(f, 0, sizeof(*f));
    f->s = out;
    f->index = json_object();
    if (f->index == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", NULL,
                             "cannot start a fold");
    return ETX_OK;
}

static int
fold_finish(struct fold *f, const struct etx_journal_replay_info *info, int rc)
{
    struct etx_rollsum *s = f->s;

    json_decref(f->index);
    if (rc != ETX_OK) {
        etx_rollsum_clear(s);
        return rc;
    }
    snprintf(s->rollout, sizeof(s->rollout), "%s", info->rollout);
    s->records = info->records;
    s->torn_bytes = info->torn_bytes;
    return ETX_OK;
}

int
etx_rollsum_fold(const char *path, struct etx_rollsum *out,
                 struct etx_error *err)
{
    struct etx_journal_replay_info info;
    struct fold f;
    int rc;

    if (fold_begin(&f, out, err) != ETX_OK)
        return ETX_ERR;
    rc = etx_journal_replay(path, fold_cb, &f, &info, err);
    return fold_finish(&f, &info, rc);
}

int
etx_rollsum_fold_buf(const char *buf, size_t len, const char *name,
                     struct etx_rollsum *out, struct etx_error *err)
{
    struct etx_journal_replay_info info;
    struct fold f;
    int rc;

    if (fold_begin(&f, out, err) != ETX_OK)
        return ETX_ERR;
    rc = etx_journal_replay_buf(buf, len, name, fold_cb, &f, &info, err);
    return fold_finish(&f, &info, rc);
}

/* ---- listing ------------------------------------------------------- */

static int
is_journal(const struct dirent *de)
{
    size_t n = strlen(de->d_name);

    return de->d_name[0] != '.' && n > 6 &&
           strcmp(de->d_name + n - 6, ".jsonl") == 0;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void
list_one(const char *dir, const char *file, struct etx_rollsum_entry *e)
{
    struct etx_rollsum s;
    struct etx_error err = {0};
    char path[PATH_MAX + NAME_MAX + 2];

    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%.*s", (int)(strlen(file) - 6), file);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (etx_rollsum_fold(path, &s, &err) != ETX_OK) {
        e->corrupt = true;
        etx_error_format(&err, e->error, sizeof(e->error));
        return;
    }
    snprintf(e->started, sizeof(e->started), "%s", s.started);
    snprintf(e->updated, sizeof(e->updated), "%s", s.updated);
    e->status = s.status;
    e->n_hosts = s.n_hosts;
    etx_rollsum_clear(&s);
}

int
etx_rollsum_list(const char *state, const char *fleet,
                 struct etx_rollsum_entry **out, size_t *n,
                 struct etx_error *err)
{
    char dir[PATH_MAX];
    struct dirent **names = NULL;
    struct etx_rollsum_entry *e = NULL;
    int i, count;

    *out = NULL;
    *n = 0;
    if (etx_statedir_fleet_path(state, fleet, dir, sizeof(dir), err) != ETX_OK)
        return ETX_ERR;
    if (strlen(dir) + sizeof("/rollouts") > sizeof(dir))
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "journal", dir,
                             "rollouts directory path too long");
    strcat(dir, "/rollouts");
    count = scandir(dir, &names, is_journal, by_name);
    if (count < 0 && errno == ENOENT)
        return ETX_OK;
    if (count < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "scandir", dir,
                             "cannot list the rollouts");
    e = count > 0 ? calloc((size_t)count, sizeof(*e)) : NULL;
    for (i = 0; i < count; i++) {
        if (e != NULL)
            list_one(dir, names[i]->d_name, &e[i]);
        free(names[i]);
    }
    free(names);
    if (count > 0 && e == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", dir,
                             "cannot list the rollouts");
    *out = e;
    *n = (size_t)count;
    return ETX_OK;
}
