/* SPDX-License-Identifier: MIT */
/* status, history, lock, unlock, continue, abort (rollcli.h). */
#include "coordinator/rollcli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/apply.h"
#include "coordinator/lock.h"
#include "coordinator/rollsum.h"
#include "coordinator/statedir.h"

/* The fleets to look at: one, or every directory of the state dir. */
struct fleets {
    char state[PATH_MAX];
    size_t n;
    char names[64][ETX_STATEDIR_NAME_MAX + 1];
};

static int
fail(const struct etx_error *e, int code)
{
    char line[1200];

    fprintf(stderr, "etxroll: %s\n", etx_error_format(e, line, sizeof(line)));
    return code;
}

static int
load_fleets(const struct etx_rollcli_opts *o, struct fleets *f,
            struct etx_error *err)
{
    DIR *d = NULL;
    struct dirent *de;

    if (etx_statedir_resolve(o->state_dir, geteuid(), f->state,
                             sizeof(f->state), err) != ETX_OK)
        return ETX_ERR;
    if (o->fleet != NULL) {
        f->n = 1;
        snprintf(f->names[0], sizeof(f->names[0]), "%s", o->fleet);
        return etx_statedir_check_name("fleet name", o->fleet, err);
    }
    d = opendir(f->state);
    if (d == NULL)
        return errno == ENOENT
                   ? ETX_OK
                   : etx_error_sys(err, errno, ETX_CTX_FILE, "opendir",
                                   f->state, "cannot list the fleets");
    while ((de = readdir(d)) != NULL && f->n < 64)
        if (etx_statedir_check_name("fleet name", de->d_name, NULL) == ETX_OK)
            snprintf(f->names[f->n++], sizeof(f->names[0]), "%.*s",
                     ETX_STATEDIR_NAME_MAX, de->d_name);
    closedir(d);
    return ETX_OK;
}

/* The fleet whose journal of rollout 'id' exists, or NULL. */
static const char *
fleet_of(const struct fleets *f, const char *id, char *path, size_t len)
{
    struct etx_error err = {0};
    struct stat st;
    size_t i;

    for (i = 0; i < f->n; i++)
        if (etx_journal_locate(f->state, f->names[i], id, path, len, &err) ==
                ETX_OK &&
            stat(path, &st) == 0)
            return f->names[i];
    return NULL;
}

static void
print_status(const struct etx_rollsum *s)
{
    size_t i;

    printf("rollout %s of fleet %s: %s\nstarted %s, last record %s\n",
           s->rollout, s->fleet, etx_rollsum_status_name(s->status), s->started,
           s->updated);
    if (s->reason[0] != '\0')
        printf("halted: %s\n", s->reason);
    printf("batch %ld of %ld%s", s->batch, s->batches,
           s->batch_done ? " (done)" : "");
    if (s->gate_batch > 0)
        printf("; waiting at the gate after batch %ld", s->gate_batch);
    printf("\n\n%-16s %5s  %-16s %-8s %s\n", "HOST", "BATCH", "STATE", "STEP",
           "LAST ERROR");
    for (i = 0; i < s->n_hosts; i++)
        printf("%-16s %5ld  %-16s %-8s %s\n", s->hosts[i].name,
               s->hosts[i].batch, etx_hoststate_name(s->hosts[i].state),
               s->hosts[i].step[0] ? s->hosts[i].step : "-",
               s->hosts[i].error[0] ? s->hosts[i].error : "-");
}

/* The newest rollout id over the fleets (ids sort by start time). */
static int
newest(const struct fleets *f, char *id, size_t len, struct etx_error *err)
{
    struct etx_rollsum_entry *e = NULL;
    size_t i, n = 0;

    id[0] = '\0';
    for (i = 0; i < f->n; i++) {
        if (etx_rollsum_list(f->state, f->names[i], &e, &n, err) != ETX_OK)
            return ETX_ERR;
        if (n > 0 && strcmp(e[n - 1].id, id) > 0)
            snprintf(id, len, "%s", e[n - 1].id);
        free(e);
    }
    return ETX_OK;
}

int
etx_rollcli_status(const struct etx_rollcli_opts *o)
{
    struct fleets *f = calloc(1, sizeof(*f));
    struct etx_rollsum s = {0};
    struct etx_error err = {0};
    char id[ETX_JOURNAL_ID_MAX], path[PATH_MAX];
    int code = ETX_EXIT_HALTED;

    if (f == NULL || load_fleets(o, f, &err) != ETX_OK ||
        (o->arg == NULL && newest(f, id, sizeof(id), &err) != ETX_OK)) {
        code = fail(&err, ETX_EXIT_HALTED);
        goto out;
    }
    if (o->arg != NULL)
        snprintf(id, sizeof(id), "%s", o->arg);
    if (id[0] == '\0' || fleet_of(f, id, path, sizeof(path)) == NULL) {
        fprintf(stderr, "etxroll status: no rollout %s in %s\n",
                id[0] ? id : "at all", f->state);
        code = ETX_EXIT_USAGE;
        goto out;
    }
    if (etx_rollsum_fold(path, &s, &err) != ETX_OK) {
        code = fail(&err, ETX_EXIT_HALTED);
        goto out;
    }
    print_status(&s);
    code = ETX_EXIT_DONE;
out:
    etx_rollsum_clear(&s);
    free(f);
    return code;
}

int
etx_rollcli_history(const struct etx_rollcli_opts *o)
{
    struct fleets *f = calloc(1, sizeof(*f));
    struct etx_rollsum_entry *e = NULL;
    struct etx_error err = {0};
    size_t i, j, n = 0;
    int code = ETX_EXIT_DONE;

    if (f == NULL || load_fleets(o, f, &err) != ETX_OK) {
        free(f);
        return fail(&err, ETX_EXIT_HALTED);
    }
    printf("%-14s %-28s %-20s %-25s %5s\n", "FLEET", "ROLLOUT", "STATUS",
           "STARTED", "HOSTS");
    for (i = 0; i < f->n && code == ETX_EXIT_DONE; i++) {
        if (etx_rollsum_list(f->state, f->names[i], &e, &n, &err) != ETX_OK) {
            code = fail(&err, ETX_EXIT_HALTED);
            break;
        }
        for (j = 0; j < n; j++)
            printf("%-14s %-28s %-20s %-25s %5zu\n", f->names[i], e[j].id,
                   e[j].corrupt ? "corrupt"
                                : etx_rollsum_status_name(e[j].status),
                   e[j].started, e[j].n_hosts);
        free(e);
    }
    free(f);
    return code;
}

static int
each_lock(const struct etx_rollcli_opts *o, bool do_break)
{
    struct fleets *f = calloc(1, sizeof(*f));
    struct etx_lock_holder h;
    struct etx_error err = {0};
    bool held = false, found = false;
    size_t i;
    int code = ETX_EXIT_DONE;

    if (f == NULL || load_fleets(o, f, &err) != ETX_OK) {
        free(f);
        return fail(&err, ETX_EXIT_HALTED);
    }
    for (i = 0; i < f->n && code == ETX_EXIT_DONE; i++) {
        if (etx_lock_show(f->state, f->names[i], &h, &held, &err) != ETX_OK)
            code = fail(&err, ETX_EXIT_HALTED);
        else if (held && !do_break)
            printf("fleet %s: locked by %s pid %ld, rollout %s, since %s%s%s"
                   " (lock id %s)\n",
                   f->names[i], h.host, h.pid, h.rollout, h.started,
                   h.message[0] ? ": " : "", h.message, h.lock_id);
        else if (held && strcmp(h.lock_id, o->arg) == 0) {
            found = true;
            if (etx_lock_break(f->state, f->names[i], o->arg, &err) != ETX_OK)
                code = fail(&err, ETX_EXIT_HALTED);
            else
                printf("fleet %s: lock %s broken\n", f->names[i], o->arg);
        }
        found = found || (held && !do_break);
    }
    if (code == ETX_EXIT_DONE && !found) {
        fprintf(do_break ? stderr : stdout, "%s\n",
                do_break ? "etxroll unlock: no fleet holds that lock id"
                         : "no fleet is locked");
        code = do_break ? ETX_EXIT_USAGE : ETX_EXIT_DONE;
    }
    free(f);
    return code;
}

int
etx_rollcli_lock(const struct etx_rollcli_opts *o)
{
    return each_lock(o, false);
}

int
etx_rollcli_unlock(const struct etx_rollcli_opts *o)
{
    return each_lock(o, true);
}

/* Write 'word' to the control file whole: a temp file, then rename. */
static int
write_control(const char *path, const char *word, struct etx_error *err)
{
    char tmp[PATH_MAX + 8];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, word, strlen(word)) != (ssize_t)strlen(word) ||
        fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "write", path,
                      "cannot answer the gate");
        if (fd >= 0)
            unlink(tmp);
        return ETX_ERR;
    }
    return ETX_OK;
}

int
etx_rollcli_gate(const struct etx_rollcli_opts *o, const char *word)
{
    struct fleets *f = calloc(1, sizeof(*f));
    struct etx_rollsum s = {0};
    struct etx_error err = {0};
    char path[PATH_MAX], ctl[PATH_MAX];
    const char *fleet = NULL;
    int code = ETX_EXIT_USAGE;

    if (f == NULL || load_fleets(o, f, &err) != ETX_OK) {
        code = fail(&err, ETX_EXIT_HALTED);
        goto out;
    }
    fleet = fleet_of(f, o->arg, path, sizeof(path));
    if (fleet == NULL || etx_rollsum_fold(path, &s, &err) != ETX_OK ||
        s.gate_batch == 0 || etx_rollsum_status_is_ended(s.status)) {
        fprintf(stderr, "etxroll %s: rollout %s is not waiting at a gate\n",
                word, o->arg);
        goto out;
    }
    if (etx_apply_control_path(f->state, fleet, o->arg, ctl, sizeof(ctl),
                               &err) != ETX_OK ||
        write_control(ctl, word, &err) != ETX_OK) {
        code = fail(&err, ETX_EXIT_HALTED);
        goto out;
    }
    printf("rollout %s: %s sent to the gate after batch %ld\n", o->arg, word,
           s.gate_batch);
    code = ETX_EXIT_DONE;
out:
    etx_rollsum_clear(&s);
    free(f);
    return code;
}
