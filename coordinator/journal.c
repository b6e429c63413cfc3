/* SPDX-License-Identifier: MIT */
/*
 * The rollout journal: ids and timestamps, the append side (one write(2)
 * per line, fdatasync on request, cut back on a failed write) and replay
 * (streamed, bounded lines, one torn final line tolerated). The fold into a
 * summary and the listing of rollouts are in coordinator/rollsum.c.
 */
#include "coordinator/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coordinator/hoststate.h"
#include "coordinator/statedir.h"

struct etx_journal {
    int fd;
    size_t seq;     /* seq of the last record in the file */
    uint64_t end;   /* file size just past the last whole record */
    size_t dropped; /* torn bytes cut off at open */
    char id[ETX_JOURNAL_ID_MAX];
    char path[PATH_MAX];
};

void
etx_journal_timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    unsigned ms;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    ms = (unsigned)(ts.tv_nsec / 1000000) % 1000u;
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", ms);
}

int
etx_journal_new_id(char *buf, size_t len, struct etx_error *err)
{
    unsigned char r[4];
    time_t now = time(NULL);
    struct tm tm;

    if (len < ETX_JOURNAL_ID_MAX)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "journal", NULL,
                             "rollout id buffer too small");
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return etx_error_sys(err, errno, ETX_CTX_FILE, "getrandom", NULL,
                             "no random bytes for a rollout id");
    gmtime_r(&now, &tm);
    snprintf(buf, len, "%04d%02d%02dT%02d%02d%02dZ-%02x%02x%02x%02x",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, r[0], r[1], r[2], r[3]);
    return ETX_OK;
}

int
etx_journal_locate(const char *state, const char *fleet, const char *rollout_id,
                   char *buf, size_t len, struct etx_error *err)
{
    char dir[PATH_MAX];
    int n;

    if (etx_statedir_fleet_path(state, fleet, dir, sizeof(dir), err) !=
            ETX_OK ||
        etx_statedir_check_name("rollout id", rollout_id, err) != ETX_OK)
        return ETX_ERR;
    n = snprintf(buf, len, "%s/rollouts/%s.jsonl", dir, rollout_id);
    if (n < 0 || (size_t)n >= len)
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "journal", dir,
                             "journal path too long");
    return ETX_OK;
}

static struct etx_journal *
journal_new(const char *state, const char *fleet, const char *rollout_id,
            struct etx_error *err)
{
    struct etx_journal *j = calloc(1, sizeof(*j));

    if (j == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", rollout_id,
                      "cannot allocate a journal");
        return NULL;
    }
    j->fd = -1;
    if (etx_journal_locate(state, fleet, rollout_id, j->path, sizeof(j->path),
                           err) != ETX_OK) {
        free(j);
        return NULL;
    }
    snprintf(j->id, sizeof(j->id), "%s", rollout_id);
    return j;
}

/* fsync the directory holding 'path', so that a new name in it lasts. */
static int
sync_parent(const char *path, struct etx_error *err)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd, rc;

    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", dir,
                             "cannot open the directory to sync it");
    rc = fsync(fd);
    if (rc != 0)
        etx_error_sys(err, errno, ETX_CTX_FILE, "fsync", dir,
                      "cannot sync the directory");
    close(fd);
    return rc == 0 ? ETX_OK : ETX_ERR;
}

int
etx_journal_create(const char *state, const char *fleet, const char *rollout_id,
                   struct etx_journal **out, struct etx_error *err)
{
    char dir[PATH_MAX];
    struct etx_journal *j = NULL;
    int rc = ETX_ERR;

    j = journal_new(state, fleet, rollout_id, err);
    if (j == NULL)
        return ETX_ERR;
    if (etx_statedir_fleet_ensure(state, fleet, dir, sizeof(dir), err) !=
        ETX_OK)
        goto out;
    j->fd = open(
        j->path,
        O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (j->fd < 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "open", j->path,
                      "cannot create the journal");
        goto out;
    }
    if (fchmod(j->fd, 0600) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "chmod", j->path,
                      "cannot set mode 0600 on the journal");
        goto unlink_out;
    }
    if (sync_parent(j->path, err) != ETX_OK)
        goto unlink_out;
    *out = j;
    j = NULL;
    rc = ETX_OK;
    goto out;
unlink_out:
    unlink(j->path);
out:
    etx_journal_close(j);
    return rc;
}

/* Cut a torn last line off so that the next record starts a line. */
static int
drop_torn(struct etx_journal *j, const struct etx_journal_replay_info *info,
          struct etx_error *err)
{
    if (info->torn_bytes == 0)
        return ETX_OK;
    if (ftruncate(j->fd, (off_t)info->good_end) != 0 || fdatasync(j->fd) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "ftruncate", j->path,
                             "cannot cut the torn last record off");
    j->dropped = info->torn_bytes;
    return ETX_OK;
}

int
etx_journal_open(const char *state, const char *fleet, const char *rollout_id,
                 struct etx_journal **out, struct etx_error *err)
{
    struct etx_journal_replay_info info;
    struct etx_journal *j = journal_new(state, fleet, rollout_id, err);
    int rc = ETX_ERR;

    if (j == NULL)
        return ETX_ERR;
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (j->fd < 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "open", j->path,
                      "cannot open the journal");
        goto out;
    }
    if (etx_journal_replay(j->path, NULL, NULL, &info, err) != ETX_OK)
        goto out;
    if (info.records > 0 && strcmp(info.rollout, j->id) != 0) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "journal", j->path,
                      "journal holds rollout %s, not %s", info.rollout, j->id);
        goto out;
    }
    if (drop_torn(j, &info, err) != ETX_OK)
        goto out;
    j->seq = info.records;
    j->end = info.good_end;
    *out = j;
    j = NULL;
    rc = ETX_OK;
out:
    etx_journal_close(j);
    return rc;
}

void
etx_journal_close(struct etx_journal *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

const char *
etx_journal_id(const struct etx_journal *j)
{
    return j->id;
}

const char *
etx_journal_path(const struct etx_journal *j)
{
    return j->path;
}

size_t
etx_journal_dropped(const struct etx_journal *j)
{
    return j->dropped;
}

static int
check_record(const json_t *rec, const char *path, struct etx_error *err)
{
    const json_t *kind = json_object_get(rec, "kind");
    const json_t *state = json_object_get(rec, "state");
    enum etx_host_state s;

    if (!json_is_object(rec) || !json_is_string(kind) ||
        json_string_length(kind) == 0)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "journal", path,
                             "a record is an object with a \"kind\"");
    if (json_object_get(rec, "seq") != NULL ||
        json_object_get(rec, "ts") != NULL ||
        json_object_get(rec, "rollout") != NULL)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "journal", path,
                             "seq, ts and rollout are set by the journal");
    if (state != NULL &&
        etx_hoststate_from_name(json_string_value(state), &s) != ETX_OK)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "journal", path,
                             "\"state\" is not a host state");
    return ETX_OK;
}

/* The record as one line: seq, ts and rollout first, then rec's fields. */
static char *
render_line(struct etx_journal *j, json_t *rec, size_t *len)
{
    char ts[ETX_JOURNAL_TS_MAX];
    json_t *obj = NULL;
    char *buf = NULL;
    size_t n = 0;

    etx_journal_timestamp(ts, sizeof(ts));
    obj = json_pack("{s:I,s:s,s:s}", "seq", (json_int_t)(j->seq + 1), "ts", ts,
                    "rollout", j->id);
    if (obj == NULL || json_object_update(obj, rec) != 0)
        goto out;
    n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
    if (n == 0 || n > ETX_JOURNAL_LINE_MAX)
        goto out;
    buf = malloc(n + 1);
    if (buf != NULL && json_dumpb(obj, buf, n, JSON_COMPACT) == n) {
        buf[n] = '\n';
        *len = n + 1;
    } else {
        free(buf);
        buf = NULL;
    }
out:
    json_decref(obj);
    if (buf == NULL)
        *len = n;
    return buf;
}

/*
 * One write(2) of the whole line. A regular file only writes short when
 * it fails (ENOSPC, EFBIG); then the file is cut back to the last whole
 * record so that no torn line is left before later ones.
 */
static int
write_line(struct etx_journal *j, const char *buf, size_t len,
           struct etx_error *err)
{
    size_t done = 0;
    ssize_t n;
    int saved;

    while (done < len) {
        n = write(j->fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            saved = n < 0 ? errno : EIO;
            if (done > 0 && ftruncate(j->fd, (off_t)j->end) != 0)
                saved = errno;
            return etx_error_sys(err, saved, ETX_CTX_FILE, "write", j->path,
                                 "cannot append to the journal");
        }
        done += (size_t)n;
    }
    j->end += len;
    j->seq++;
    return ETX_OK;
}

int
etx_journal_append(struct etx_journal *j, json_t *rec, bool sync,
                   struct etx_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = ETX_ERR;

    if (check_record(rec, j->path, err) != ETX_OK)
        return ETX_ERR;
    buf = render_line(j, rec, &len);
    if (buf == NULL && len > ETX_JOURNAL_LINE_MAX)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "journal", j->path,
                             "record of %zu bytes is over the %d limit", len,
                             ETX_JOURNAL_LINE_MAX);
    if (buf == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", j->path,
                             "cannot render the record");
    if (write_line(j, buf, len, err) != ETX_OK)
        goto out;
    if (sync && fdatasync(j->fd) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "fdatasync", j->path,
                      "cannot sync the journal");
        goto out;
    }
    rc = ETX_OK;
out:
    free(buf);
    return rc;
}

json_t *
etx_journal_error_json(const struct etx_error *e, unsigned attempt,
                       uint64_t waited_ms, json_t *holders)
{
    const char *ename =
        e->sys_errno != 0 ? etx_error_errno_name(e->sys_errno) : "";

    if (holders == NULL)
        holders = json_array();
    return json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:I,s:I,s:o}", "op", e->op,
                     "path", e->where, "errno", e->sys_errno, "errno_name",
                     ename, "class", etx_error_class_name(e->cls), "message",
                     e->msg, "attempt", (json_int_t)attempt, "waited_ms",
                     (json_int_t)waited_ms, "holders", holders);
}

/* ---- replay -------------------------------------------------------- */

struct replay {
    const char *name; /* path or buffer name, for messages */
    etx_journal_record_cb cb;
    void *arg;
    size_t line; /* lines seen so far */
    struct etx_journal_replay_info info;
};

static int corrupt(struct replay *r, struct etx_error *err, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

static int
corrupt(struct replay *r, struct etx_error *err, const char *fmt, ...)
{
    char where[PATH_MAX + 32];
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(where, sizeof(where), "%s:%zu", r->name, r->line);
    return etx_error_set(err, ETX_CLASS_INPUT, 0, "journal", where,
                         "corrupt journal: %s", msg);
}

/* The fields every record carries, checked against the lines before. */
static int
check_envelope(struct replay *r, const json_t *rec, struct etx_error *err)
{
    const json_t *seq = json_object_get(rec, "seq");
    const json_t *kind = json_object_get(rec, "kind");
    const char *id = json_string_value(json_object_get(rec, "rollout"));
    size_t want = r->info.records + 1;

    if (!json_is_object(rec))
        return corrupt(r, err, "a record is not a JSON object");
    if (!json_is_integer(seq) || json_integer_value(seq) != (json_int_t)want)
        return corrupt(r, err, "\"seq\" is not %zu", want);
    if (!json_is_string(json_object_get(rec, "ts")) || !json_is_string(kind) ||
        json_string_length(kind) == 0)
        return corrupt(r, err, "\"ts\" or \"kind\" missing");
    if (id == NULL || etx_statedir_check_name("rollout id", id, NULL) != ETX_OK)
        return corrupt(r, err, "\"rollout\" missing or invalid");
    if (want == 1)
        snprintf(r->info.rollout, sizeof(r->info.rollout), "%s", id);
    else if (strcmp(id, r->info.rollout) != 0)
        return corrupt(r, err, "rollout %s in a journal of %s", id,
                       r->info.rollout);
    return ETX_OK;
}

static int
replay_line(struct replay *r, const char *p, size_t len, struct etx_error *err)
{
    json_error_t jerr;
    json_t *rec = NULL;
    int rc = ETX_ERR;

    if (len == 0)
        return corrupt(r, err, "empty line");
    rec = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
    if (rec == NULL)
        return corrupt(r, err, "not JSON: %s at column %d", jerr.text,
                       jerr.column);
    if (check_envelope(r, rec, err) != ETX_OK)
        goto out;
    r->info.records++;
    if (r->cb != NULL && r->cb(rec, r->line, r->arg, err) != ETX_OK) {
        if (err != NULL)
            snprintf(err->where, sizeof(err->where), "%s:%zu", r->name,
                     r->line);
        goto out;
    }
    rc = ETX_OK;
out:
    json_decref(rec);
    return rc;
}

/* Replay every whole line in buf; *used is how many bytes they took. */
static int
feed_lines(struct replay *r, const char *buf, size_t have, size_t *used,
           struct etx_error *err)
{
    const char *nl = NULL;
    size_t pos = 0, len;

    while ((nl = memchr(buf + pos, '\n', have - pos)) != NULL) {
        len = (size_t)(nl - (buf + pos));
        r->line++;
        if (len > ETX_JOURNAL_LINE_MAX)
            return corrupt(r, err, "line longer than %d bytes",
                           ETX_JOURNAL_LINE_MAX);
        if (replay_line(r, buf + pos, len, err) != ETX_OK)
            return ETX_ERR;
        pos += len + 1;
        r->info.good_end += len + 1;
    }
    *used = pos;
    return ETX_OK;
}

/* Bytes after the last newline: a record torn by a crash, ignored. */
static int
finish(struct replay *r, size_t tail, struct etx_error *err)
{
    if (tail == 0)
        return ETX_OK;
    r->line++;
    if (tail > ETX_JOURNAL_LINE_MAX)
        return corrupt(r, err, "line longer than %d bytes",
                       ETX_JOURNAL_LINE_MAX);
    r->info.torn_line = r->line;
    r->info.torn_bytes = tail;
    return ETX_OK;
}

static void
replay_init(struct replay *r, const char *name, etx_journal_record_cb cb,
            void *arg)
{
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->cb = cb;
    r->arg = arg;
}

int
etx_journal_replay_buf(const char *buf, size_t len, const char *name,
                       etx_journal_record_cb cb, void *arg,
                       struct etx_journal_replay_info *info,
                       struct etx_error *err)
{
    struct replay r;
    size_t used = 0;
    int rc;

    replay_init(&r, name, cb, arg);
    rc = feed_lines(&r, buf, len, &used, err);
    if (rc == ETX_OK)
        rc = finish(&r, len - used, err);
    if (info != NULL)
        *info = r.info;
    return rc;
}

/* Make room for more of the current line, up to one whole longest line. */
static int
grow(struct replay *r, char **buf, size_t *cap, struct etx_error *err)
{
    size_t ncap = *cap * 2;
    char *p = NULL;

    if (*cap > ETX_JOURNAL_LINE_MAX) {
        r->line++;
        return corrupt(r, err, "line longer than %d bytes",
                       ETX_JOURNAL_LINE_MAX);
    }
    if (ncap > ETX_JOURNAL_LINE_MAX + 1)
        ncap = ETX_JOURNAL_LINE_MAX + 1;
    p = realloc(*buf, ncap);
    if (p == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", r->name,
                             "cannot grow the line buffer");
    *buf = p;
    *cap = ncap;
    return ETX_OK;
}

static int
read_lines(struct replay *r, int fd, struct etx_error *err)
{
    size_t cap = 64 * 1024, have = 0, used;
    char *buf = malloc(cap);
    ssize_t n;
    int rc = ETX_ERR;

    if (buf == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "journal", r->name,
                             "cannot allocate the line buffer");
    for (;;) {
        if (have == cap && grow(r, &buf, &cap, err) != ETX_OK)
            goto out;
        n = read(fd, buf + have, cap - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            etx_error_sys(err, errno, ETX_CTX_FILE, "read", r->name,
                          "cannot read the journal");
            goto out;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (feed_lines(r, buf, have, &used, err) != ETX_OK)
            goto out;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    rc = finish(r, have, err);
out:
    free(buf);
    return rc;
}

int
etx_journal_replay(const char *path, etx_journal_record_cb cb, void *arg,
                   struct etx_journal_replay_info *info, struct etx_error *err)
{
    struct replay r;
    int fd, rc;

    replay_init(&r, path, cb, arg);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = etx_error_sys(err, errno, ETX_CTX_FILE, "open", path,
                           "cannot open the journal");
    } else {
        rc = read_lines(&r, fd, err);
        close(fd);
    }
    if (info != NULL)
        *info = r.info;
    return rc;
}
