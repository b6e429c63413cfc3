/* SPDX-License-Identifier: MIT */
/*
 * The fleet lock file: holder records, taking the lock by link(2), and
 * checked removal (release, break) under flock(2) on the fleet directory.
 */
#include "coordinator/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include "coordinator/statedir.h"

#define LOCK_FILE     "lock.json"
#define LOCK_READ_MAX (64 * 1024) /* a bigger lock file is not ours */
#define ACQUIRE_TRIES 3           /* link again when the holder just left */

struct etx_lock {
    char dir[PATH_MAX]; /* the fleet directory */
    struct etx_lock_holder holder;
};

static int
join(char *buf, size_t len, const char *dir, const char *name,
     struct etx_error *err)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= len)
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "lock", dir,
                             "lock path too long");
    return ETX_OK;
}

static int
sync_dir(const char *dir, struct etx_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 ? fsync(fd) : -1;

    if (rc != 0)
        etx_error_sys(err, errno, ETX_CTX_FILE, "fsync", dir,
                      "cannot sync the fleet directory");
    if (fd >= 0)
        close(fd);
    return rc == 0 ? ETX_OK : ETX_ERR;
}

/*
 * flock(2) on the fleet directory, held only while a lock file is checked
 * and removed; closing the descriptor drops it. Returns the fd or -1.
 */
static int
guard_take(const char *dir, struct etx_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "open", dir,
                      "cannot open the fleet directory");
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            etx_error_sys(err, errno, ETX_CTX_LOCK, "flock", dir,
                          "cannot guard the fleet lock");
            close(fd);
            return -1;
        }
    }
    return fd;
}

static int
copy_str(char *dst, size_t len, const char *src)
{
    int n = snprintf(dst, len, "%s", src != NULL ? src : "");

    return n >= 0 && (size_t)n < len ? ETX_OK : ETX_ERR;
}

static bool
is_lock_id(const char *s)
{
    return strlen(s) == ETX_LOCK_ID_LEN &&
           strspn(s, "0123456789abcdef") == ETX_LOCK_ID_LEN;
}

static int
parse_holder(const char *buf, size_t len, struct etx_lock_holder *h)
{
    const char *id = NULL, *host = NULL, *ro = NULL, *ts = NULL, *msg = NULL;
    json_int_t pid = 0;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = ETX_ERR;

    if (root == NULL ||
        json_unpack(root, "{s:s,s:s,s:I,s:s,s:s,s?s}", "lock_id", &id, "host",
                    &host, "pid", &pid, "rollout", &ro, "started", &ts,
                    "message", &msg) != 0 ||
        !is_lock_id(id))
        goto out;
    memset(h, 0, sizeof(*h));
    h->pid = (long)pid;
    if (copy_str(h->lock_id, sizeof(h->lock_id), id) == ETX_OK &&
        copy_str(h->host, sizeof(h->host), host) == ETX_OK &&
        copy_str(h->rollout, sizeof(h->rollout), ro) == ETX_OK &&
        copy_str(h->started, sizeof(h->started), ts) == ETX_OK &&
        copy_str(h->message, sizeof(h->message), msg) == ETX_OK)
        rc = ETX_OK;
out:
    json_decref(root);
    return rc;
}

/* Read lock.json of 'dir': ETX_OK with *held false when there is none. */
static int
read_holder(const char *dir, struct etx_lock_holder *h, bool *held,
            struct etx_error *err)
{
    char path[PATH_MAX];
    char *buf = NULL;
    ssize_t n = 0;
    int fd, rc = ETX_ERR;

    *held = false;
    if (join(path, sizeof(path), dir, LOCK_FILE, err) != ETX_OK)
        return ETX_ERR;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return ETX_OK;
    buf = fd >= 0 ? malloc(LOCK_READ_MAX) : NULL;
    if (buf != NULL) {
        do
            n = read(fd, buf, LOCK_READ_MAX);
        while (n < 0 && errno == EINTR);
    }
    if (fd < 0 || buf == NULL || n < 0)
        etx_error_sys(err, fd < 0 || n < 0 ? errno : ENOMEM, ETX_CTX_FILE,
                      "read", path, "cannot read the fleet lock");
    else if (n == LOCK_READ_MAX || parse_holder(buf, (size_t)n, h) != ETX_OK)
        etx_error_set(err, ETX_CLASS_INPUT, 0, "lock", path,
                      "the fleet lock file is not an etxroll lock; look at "
                      "it and remove it by hand");
    else
        rc = ETX_OK;
    *held = rc == ETX_OK;
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

/* Cut 's' to fit 'len' on a UTF-8 character boundary. */
static void
copy_utf8(char *dst, size_t len, const char *s)
{
    size_t n = strlen(s);

    if (n >= len) {
        n = len - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static int
fill_holder(struct etx_lock_holder *h, const char *rollout_id,
            const char *message, struct etx_error *err)
{
    unsigned char r[ETX_LOCK_ID_LEN / 2];
    size_t i;

    memset(h, 0, sizeof(*h));
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return etx_error_sys(err, errno, ETX_CTX_FILE, "getrandom", NULL,
                             "no random bytes for a lock id");
    for (i = 0; i < sizeof(r); i++)
        snprintf(h->lock_id + 2 * i, 3, "%02x", r[i]);
    if (gethostname(h->host, sizeof(h->host) - 1) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "gethostname", NULL,
                             "cannot name this host in the lock");
    h->pid = (long)getpid();
    copy_utf8(h->rollout, sizeof(h->rollout), rollout_id);
    etx_journal_timestamp(h->started, sizeof(h->started));
    copy_utf8(h->message, sizeof(h->message), message != NULL ? message : "");
    return ETX_OK;
}

static int
write_all(int fd, const char *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The holder record, whole and fsynced, in the temporary file 'tmp'. */
static int
write_temp(const char *tmp, const struct etx_lock_holder *h,
           struct etx_error *err)
{
    json_t *rec =
        json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "lock_id", h->lock_id, "host",
                  h->host, "pid", (json_int_t)h->pid, "rollout", h->rollout,
                  "started", h->started, "message", h->message);
    char *text = rec != NULL ? json_dumps(rec, JSON_INDENT(2)) : NULL;
    int fd = -1, rc = ETX_ERR;

    if (text == NULL) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "lock", tmp,
                      "cannot write the lock record (is the message UTF-8?)");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) != 0 ||
        write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "write", tmp,
                      "cannot write the lock record");
        if (fd >= 0)
            unlink(tmp);
        goto out;
    }
    rc = ETX_OK;
out:
    if (fd >= 0)
        close(fd);
    free(text);
    json_decref(rec);
    return rc;
}

/* Tell who holds the lock and how to break it. */
static int
held_error(const char *path, const char *fleet, const struct etx_lock_holder *h,
           struct etx_error *err)
{
    char me[256] = "";
    char hint[96] = "";
    char msg[300] = "";

    if (gethostname(me, sizeof(me) - 1) == 0 && strcmp(me, h->host) == 0 &&
        h->pid > 0 && kill((pid_t)h->pid, 0) != 0 && errno == ESRCH)
        snprintf(hint, sizeof(hint), "; pid %ld is not running on this host",
                 h->pid);
    if (h->message[0] != '\0')
        snprintf(msg, sizeof(msg), "; its message: \"%s\"", h->message);
    return etx_error_set(err, ETX_CLASS_CONFLICT, 0, "lock", path,
                         "fleet %s is locked by rollout %s (host %s, pid %ld, "
                         "since %s)%s; if that rollout is gone, break the "
                         "lock with `etxroll unlock %s`%s",
                         fleet, h->rollout, h->host, h->pid, h->started, hint,
                         h->lock_id, msg);
}

/* link(2) the temporary file to lock.json; *held when somebody has it. */
static int
try_link(const char *tmp, const char *path, const char *dir,
         struct etx_lock_holder *other, bool *held, struct etx_error *err)
{
    int tries;

    for (tries = 0; tries < ACQUIRE_TRIES; tries++) {
        if (link(tmp, path) == 0) {
            *held = false;
            return ETX_OK;
        }
        if (errno != EEXIST)
            return etx_error_sys(err, errno, ETX_CTX_LOCK, "link", path,
                                 "cannot take the fleet lock");
        /* Held; unless the holder left just now, report it. */
        if (read_holder(dir, other, held, err) != ETX_OK)
            return ETX_ERR;
        if (*held)
            return ETX_OK;
    }
    return etx_error_set(err, ETX_CLASS_TRANSIENT, 0, "lock", path,
                         "the fleet lock keeps changing hands; try again");
}

int
etx_lock_acquire(const char *state, const char *fleet, const char *rollout_id,
                 const char *message, struct etx_lock **out,
                 struct etx_error *err)
{
    struct etx_lock_holder other;
    char path[PATH_MAX], tmp[PATH_MAX];
    struct etx_lock *lk = calloc(1, sizeof(*lk));
    bool held = false;
    int rc = ETX_ERR;

    if (lk == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "lock", fleet,
                             "cannot allocate a lock");
    if (etx_statedir_check_name("rollout id", rollout_id, err) != ETX_OK ||
        etx_statedir_fleet_ensure(state, fleet, lk->dir, sizeof(lk->dir),
                                  err) != ETX_OK ||
        fill_holder(&lk->holder, rollout_id, message, err) != ETX_OK ||
        join(path, sizeof(path), lk->dir, LOCK_FILE, err) != ETX_OK ||
        join(tmp, sizeof(tmp), lk->dir, ".lock.json.tmp-", err) != ETX_OK)
        goto out;
    strncat(tmp, lk->holder.lock_id, sizeof(tmp) - strlen(tmp) - 1);
    if (write_temp(tmp, &lk->holder, err) != ETX_OK)
        goto out;
    rc = try_link(tmp, path, lk->dir, &other, &held, err);
    unlink(tmp);
    if (rc == ETX_OK && held)
        rc = held_error(path, fleet, &other, err);
    if (rc == ETX_OK)
        rc = sync_dir(lk->dir, err);
    if (rc == ETX_OK) {
        *out = lk;
        lk = NULL;
    }
out:
    free(lk);
    return rc;
}

const struct etx_lock_holder *
etx_lock_holder(const struct etx_lock *lock)
{
    return &lock->holder;
}

/*
 * Remove lock.json of 'dir' when its id is 'lock_id', under the guard.
 * *found tells whether a lock was there, *now who holds it.
 */
static int
remove_if(const char *dir, const char *lock_id, struct etx_lock_holder *now,
          bool *found, struct etx_error *err)
{
    char path[PATH_MAX];
    int g, rc = ETX_ERR;

    if (join(path, sizeof(path), dir, LOCK_FILE, err) != ETX_OK)
        return ETX_ERR;
    g = guard_take(dir, err);
    if (g < 0)
        return ETX_ERR;
    if (read_holder(dir, now, found, err) != ETX_OK)
        goto out;
    if (*found && strcmp(now->lock_id, lock_id) == 0) {
        if (unlink(path) != 0) {
            etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", path,
                          "cannot remove the fleet lock");
            goto out;
        }
        rc = sync_dir(dir, err);
        goto out;
    }
    rc = ETX_AGAIN;
out:
    close(g);
    return rc;
}

int
etx_lock_release(struct etx_lock *lock, struct etx_error *err)
{
    struct etx_lock_holder now;
    bool found = false;
    int rc;

    if (lock == NULL)
        return ETX_OK;
    rc = remove_if(lock->dir, lock->holder.lock_id, &now, &found, err);
    if (rc == ETX_AGAIN && found)
        rc = etx_error_set(err, ETX_CLASS_CONFLICT, 0, "lock", lock->dir,
                           "our lock %s was broken; the fleet is now locked "
                           "by rollout %s (host %s, pid %ld, lock %s); left "
                           "it alone",
                           lock->holder.lock_id, now.rollout, now.host, now.pid,
                           now.lock_id);
    else if (rc == ETX_AGAIN)
        rc = etx_error_set(err, ETX_CLASS_CONFLICT, 0, "lock", lock->dir,
                           "our lock %s was broken; the fleet is not locked",
                           lock->holder.lock_id);
    free(lock);
    return rc;
}

int
etx_lock_show(const char *state, const char *fleet, struct etx_lock_holder *out,
              bool *held, struct etx_error *err)
{
    char dir[PATH_MAX];

    *held = false;
    if (etx_statedir_fleet_path(state, fleet, dir, sizeof(dir), err) != ETX_OK)
        return ETX_ERR;
    return read_holder(dir, out, held, err);
}

int
etx_lock_break(const char *state, const char *fleet, const char *lock_id,
               struct etx_error *err)
{
    struct etx_lock_holder now;
    char dir[PATH_MAX];
    bool found = false;
    int rc;

    if (etx_statedir_fleet_path(state, fleet, dir, sizeof(dir), err) != ETX_OK)
        return ETX_ERR;
    if (lock_id == NULL || lock_id[0] == '\0')
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "unlock", fleet,
                             "give the id of the lock to break");
    rc = remove_if(dir, lock_id, &now, &found, err);
    if (rc == ETX_AGAIN && found)
        rc = etx_error_set(err, ETX_CLASS_INPUT, 0, "unlock", fleet,
                           "the lock of fleet %s has id %s, not %s; nothing "
                           "was removed",
                           fleet, now.lock_id, lock_id);
    else if (rc == ETX_AGAIN)
        rc = etx_error_set(err, ETX_CLASS_INPUT, 0, "unlock", fleet,
                           "fleet %s is not locked", fleet);
    return rc;
}
