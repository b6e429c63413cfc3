/* SPDX-License-Identifier: MIT */
/*
 * Staging: temp creation, streaming, metadata in the safe order, fsync,
 * close, the flock drain barrier and the read-back verification.
 */
#define _GNU_SOURCE
#include "agent/stage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "agent/tempname.h"
#include "proto/digest.h"

#define CREATE_TRIES 16          /* temp name collisions before giving up */
#define COPY_CHUNK   (1u << 20)  /* bytes per read of a source fd */
#define XATTR_MAX    (64u << 10) /* XATTR_SIZE_MAX and XATTR_LIST_MAX */
#define DEFAULT_MODE 0755
#define FLUSH_EVERY  (8u << 20) /* start writeback of each 8 MiB written */

enum stage_state {
    STAGE_WRITING = 0, /* write fd open */
    STAGE_FINISHED,    /* closed, fsynced, drained */
    STAGE_VERIFIED,    /* read back and checked */
    STAGE_PUBLISHED,   /* renamed away by a swap: not ours any more */
    STAGE_DEAD,        /* failed or discarded */
};

struct etx_stage {
    enum stage_state state;
    int dirfd; /* borrowed */
    int fd;    /* write fd while STAGE_WRITING, else -1 */
    char name[NAME_MAX + 1];
    char temp[NAME_MAX + 1];
    char expect[ETX_DIGEST_HEX_LEN + 1]; /* "" when not given */
    char streamed[ETX_DIGEST_HEX_LEN + 1];
    char meta_from[NAME_MAX + 1]; /* "" when none */
    struct etx_stage_opts opts;
    struct etx_digest *dig;
    uint64_t written;
    uint64_t flushed;   /* writeback started up to here */
    bool no_early_sync; /* sync_file_range() not supported here */
    struct etx_fileinfo file;
};

/* Remove the temp if it is still the inode we created. */
static int
remove_temp(struct etx_stage *s, struct etx_error *err)
{
    struct stat st;

    if (fstatat(s->dirfd, s->temp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return ETX_OK;
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fstatat", s->temp,
                             "cannot inspect the temp before removing it");
    }
    if (st.st_dev != s->file.dev || st.st_ino != s->file.ino)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "unlink", s->temp,
                             "the temp is not the file staged; left alone");
    if (unlinkat(s->dirfd, s->temp, 0) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", s->temp,
                             "cannot remove the temp");
    return ETX_OK;
}

int
etx_stage_discard(struct etx_stage *s, struct etx_error *err)
{
    int rc = ETX_OK;

    if (s->fd >= 0)
        close(s->fd); /* discarding: the data no longer matters */
    s->fd = -1;
    if (s->state != STAGE_PUBLISHED && s->state != STAGE_DEAD)
        rc = remove_temp(s, err);
    if (s->state != STAGE_PUBLISHED)
        s->state = STAGE_DEAD;
    return rc;
}

/* After a failure already in 'err': discard the temp and say so. */
static int
fail(struct etx_stage *s, struct etx_error *err)
{
    struct etx_error derr = {0};
    const char *note = " (temp removed)";
    size_t n;

    if (s->state == STAGE_DEAD || s->state == STAGE_PUBLISHED)
        return ETX_ERR;
    if (etx_stage_discard(s, &derr) != ETX_OK)
        note = " (the temp could not be removed)";
    if (err != NULL) {
        n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, "%s", note);
    }
    return ETX_ERR;
}

static int
create_temp(struct etx_stage *s, struct etx_error *err)
{
    int i;

    for (i = 0; i < CREATE_TRIES; i++) {
        if (etx_tempname_make(s->name, s->temp, err) != ETX_OK)
            return ETX_ERR;
        s->fd =
            openat(s->dirfd, s->temp,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s->fd >= 0)
            return ETX_OK;
        if (errno != EEXIST)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "open", s->temp,
                                 "cannot create the temp for \"%s\"", s->name);
    }
    return etx_error_sys(err, EEXIST, ETX_CTX_FILE, "open", s->temp,
                         "%d temp names collided", CREATE_TRIES);
}

static void
copy_opts(struct etx_stage *s, const struct etx_stage_opts *o)
{
    if (o == NULL)
        return;
    s->opts = *o;
    if (o->sha256 != NULL)
        snprintf(s->expect, sizeof(s->expect), "%s", o->sha256);
    if (o->meta_from != NULL)
        snprintf(s->meta_from, sizeof(s->meta_from), "%s", o->meta_from);
    s->opts.sha256 = NULL;
    s->opts.meta_from = NULL;
}

/* Take LOCK_EX and record the identity of the new temp. */
static int
lock_and_identify(struct etx_stage *s, struct etx_error *err)
{
    struct stat st;

    if (fstat(s->fd, &st) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fstat", s->temp,
                             "cannot stat the temp");
    etx_fileinfo_from_stat(&st, &s->file);
    if (flock(s->fd, LOCK_EX) != 0)
        return etx_error_sys(err, errno, ETX_CTX_LOCK, "flock", s->temp,
                             "cannot lock the temp");
    return ETX_OK;
}

int
etx_stage_begin(int dirfd, const char *name, const struct etx_stage_opts *o,
                struct etx_stage **out, struct etx_error *err)
{
    struct etx_stage *s = NULL;

    *out = NULL;
    if (o != NULL && o->sha256 != NULL && !etx_digest_is_hex(o->sha256))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "stage", name,
                             "the expected digest is not 64 hex characters");
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dig = etx_digest_new()) == NULL) {
        free(s);
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "stage", name,
                             "allocate");
    }
    s->state = STAGE_DEAD; /* nothing to remove until the temp exists */
    s->dirfd = dirfd;
    s->fd = -1;
    snprintf(s->name, sizeof(s->name), "%s", name);
    copy_opts(s, o);
    if (strlen(name) > NAME_MAX) {
        etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "stage", name,
                      "the name is longer than NAME_MAX");
    } else if (create_temp(s, err) == ETX_OK) {
        s->state = STAGE_WRITING;
        if (lock_and_identify(s, err) == ETX_OK) {
            *out = s;
            return ETX_OK;
        }
        fail(s, err);
    }
    etx_stage_free(s);
    return ETX_ERR;
}

static int
write_all(struct etx_stage *s, const unsigned char *p, size_t len,
          struct etx_error *err)
{
    ssize_t n;

    while (len > 0) {
        n = write(s->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "write", s->temp,
                                 "cannot write the temp for \"%s\"", s->name);
        p += n;
        len -= (size_t)n;
    }
    return ETX_OK;
}

/*
 * Start writeback of what was written so far (not waiting for it), so the
 * final fsync does not have to flush the whole file at once. Only a hint:
 * where the file system does not support it, it is not tried again, and
 * write errors surface at fsync, which is checked.
 */
static void
early_writeback(struct etx_stage *s)
{
    if (s->no_early_sync || s->written - s->flushed < FLUSH_EVERY)
        return;
    if (sync_file_range(s->fd, (off_t)s->flushed,
                        (off_t)(s->written - s->flushed),
                        SYNC_FILE_RANGE_WRITE) != 0)
        s->no_early_sync = true;
    s->flushed = s->written;
}

int
etx_stage_write(struct etx_stage *s, const void *buf, size_t len,
                struct etx_error *err)
{
    if (s->state != STAGE_WRITING)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "write", s->temp,
                             "the stage is not open for writing");
    if (write_all(s, buf, len, err) != ETX_OK)
        return fail(s, err);
    etx_digest_update(s->dig, buf, len);
    s->written += len;
    early_writeback(s);
    return ETX_OK;
}

int
etx_stage_copy_fd(struct etx_stage *s, int src_fd, struct etx_error *err)
{
    unsigned char *buf = NULL;
    ssize_t n;
    int rc = ETX_ERR;

    buf = malloc(COPY_CHUNK);
    if (buf == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "stage", s->name, "allocate");
        goto out;
    }
    for (;;) {
        n = read(src_fd, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            etx_error_sys(err, errno, ETX_CTX_FILE, "read", s->name,
                          "cannot read the source");
            fail(s, err);
            goto out;
        }
        if (n == 0)
            break;
        if (etx_stage_write(s, buf, (size_t)n, err) != ETX_OK)
            goto out;
    }
    rc = ETX_OK;
out:
    free(buf);
    return rc;
}

/* Metadata of the file opts->meta_from names, when it exists. */
struct prev_meta {
    int fd; /* O_RDONLY, for its xattrs; -1 when there is none */
    struct stat st;
};

static int
open_prev(struct etx_stage *s, struct prev_meta *pm, struct etx_error *err)
{
    pm->fd = -1;
    if (s->meta_from[0] == '\0')
        return ETX_OK;
    pm->fd = openat(s->dirfd, s->meta_from,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (pm->fd < 0) {
        if (errno == ENOENT)
            return ETX_OK;
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", s->meta_from,
                             "cannot open the previous version for its "
                             "metadata");
    }
    if (fstat(pm->fd, &pm->st) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fstat", s->meta_from,
                             "cannot stat the previous version");
    if (!S_ISREG(pm->st.st_mode))
        return etx_error_sys(err, EISDIR, ETX_CTX_FILE, "open", s->meta_from,
                             "the previous version is not a regular file");
    return ETX_OK;
}

/* Copy one xattr 'name' from the previous version to the temp. */
static int
copy_xattr(struct etx_stage *s, int from, const char *name,
           struct etx_error *err)
{
    char *val = NULL;
    ssize_t n;
    int rc = ETX_ERR;

    val = malloc(XATTR_MAX);
    if (val == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "xattr", s->temp, "allocate");
        goto out;
    }
    n = fgetxattr(from, name, val, XATTR_MAX);
    if (n < 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "fgetxattr", s->meta_from,
                      "cannot read xattr %s", name);
        goto out;
    }
    if (fsetxattr(s->fd, name, val, (size_t)n, 0) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "fsetxattr", s->temp,
                      "cannot set xattr %s", name);
        goto out;
    }
    rc = ETX_OK;
out:
    free(val);
    return rc;
}

/* The file capability and the user.* xattrs of the previous version. */
static int
copy_xattrs(struct etx_stage *s, int from, struct etx_error *err)
{
    char *list = NULL, *p = NULL;
    ssize_t n;
    int rc = ETX_ERR;

    list = malloc(XATTR_MAX);
    if (list == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "xattr", s->temp, "allocate");
        goto out;
    }
    n = flistxattr(from, list, XATTR_MAX);
    if (n < 0 && (errno == EOPNOTSUPP || errno == ENOTSUP))
        n = 0;
    if (n < 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "flistxattr", s->meta_from,
                      "cannot list the xattrs of the previous version");
        goto out;
    }
    for (p = list; p < list + n; p += strlen(p) + 1) {
        if (strcmp(p, "security.capability") != 0 &&
            strncmp(p, "user.", 5) != 0)
            continue;
        if (copy_xattr(s, from, p, err) != ETX_OK)
            goto out;
    }
    rc = ETX_OK;
out:
    free(list);
    return rc;
}

/* fchown -> fchmod -> xattrs and capabilities: chown clears both later. */
static int
apply_meta(struct etx_stage *s, const struct prev_meta *pm,
           struct etx_error *err)
{
    const struct etx_stage_opts *o = &s->opts;
    mode_t mode = DEFAULT_MODE;
    size_t i;

    if (o->owner_set || pm->fd >= 0) {
        uid_t uid = o->owner_set ? o->uid : pm->st.st_uid;
        gid_t gid = o->owner_set ? o->gid : pm->st.st_gid;

        if (fchown(s->fd, uid, gid) != 0)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "fchown", s->temp,
                                 "cannot set the owner %u:%u", (unsigned)uid,
                                 (unsigned)gid);
    }
    if (o->mode_set)
        mode = o->mode;
    else if (pm->fd >= 0)
        mode = pm->st.st_mode;
    if (fchmod(s->fd, mode & 07777) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fchmod", s->temp,
                             "cannot set the mode %04o",
                             (unsigned)(mode & 07777));
    if (pm->fd >= 0 && copy_xattrs(s, pm->fd, err) != ETX_OK)
        return ETX_ERR;
    for (i = 0; i < o->n_xattrs; i++)
        if (fsetxattr(s->fd, o->xattrs[i].name, o->xattrs[i].value,
                      o->xattrs[i].len, 0) != 0)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "fsetxattr", s->temp,
                                 "cannot set xattr %s", o->xattrs[i].name);
    return ETX_OK;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * The flock drain barrier: LOCK_SH on a new read-only descriptor is
 * granted only when no inherited copy of the write descriptor (which holds
 * LOCK_EX) is left. Polled, so that a stuck child cannot hang the agent.
 */
static int
drain(struct etx_stage *s, struct etx_error *err)
{
    unsigned limit = s->opts.drain_ms ? s->opts.drain_ms : ETX_STAGE_DRAIN_MS;
    unsigned waited = 0, step = 1;
    struct stat st;
    int fd, rc = ETX_ERR;

    fd = openat(s->dirfd, s->temp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", s->temp,
                             "cannot re-open the temp");
    if (fstat(fd, &st) != 0 || st.st_dev != s->file.dev ||
        st.st_ino != s->file.ino) {
        etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "open", s->temp,
                      "the temp is no longer the file written");
        goto out;
    }
    while (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            etx_error_sys(err, errno, ETX_CTX_LOCK, "flock", s->temp,
                          "cannot wait for inherited descriptors");
            goto out;
        }
        if (waited >= limit) {
            etx_error_sys(err, EAGAIN, ETX_CTX_LOCK, "flock", s->temp,
                          "a child process still holds an inherited write "
                          "descriptor of the temp after %u ms",
                          waited);
            goto out;
        }
        sleep_ms(step);
        waited += step;
        step = step < 64 ? step * 2 : step;
    }
    rc = ETX_OK;
out:
    close(fd);
    return rc;
}

/* Everything between the last write and the drain; 'fail' is the caller's. */
static int
seal(struct etx_stage *s, struct etx_error *err)
{
    struct prev_meta pm;
    int rc, fd;

    rc = open_prev(s, &pm, err);
    if (rc == ETX_OK)
        rc = apply_meta(s, &pm, err);
    if (pm.fd >= 0)
        close(pm.fd);
    if (rc != ETX_OK)
        return ETX_ERR;
    if (fsync(s->fd) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fsync", s->temp,
                             "cannot flush the temp to disk (never retried)");
    fd = s->fd;
    s->fd = -1;
    if (close(fd) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "close", s->temp,
                             "closing the temp reported a write error");
    return drain(s, err);
}

int
etx_stage_finish(struct etx_stage *s, struct etx_error *err)
{
    if (s->state != STAGE_WRITING)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "finish", s->temp,
                             "the stage is not open for writing");
    etx_digest_final(s->dig, s->streamed);
    if (s->expect[0] != '\0' && strcmp(s->expect, s->streamed) != 0) {
        etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "digest", s->name,
                      "the content received has SHA-256 %s, expected %s",
                      s->streamed, s->expect);
        return fail(s, err);
    }
    if (seal(s, err) != ETX_OK)
        return fail(s, err);
    s->state = STAGE_FINISHED;
    return ETX_OK;
}

/* Read back: same inode, same size, same SHA-256 as streamed. */
static int
read_back(struct etx_stage *s, struct etx_error *err)
{
    char hex[ETX_DIGEST_HEX_LEN + 1];
    struct stat st;
    uint64_t size = 0;
    int fd, rc = ETX_ERR;

    fd = openat(s->dirfd, s->temp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", s->temp,
                             "cannot re-open the temp to verify it");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_dev != s->file.dev || st.st_ino != s->file.ino) {
        etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "verify", s->temp,
                      "the temp is no longer the file written");
        goto out;
    }
    if (etx_digest_fd(fd, hex, &size, err) != ETX_OK)
        goto out;
    if (size != s->written || strcmp(hex, s->streamed) != 0) {
        etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "verify", s->temp,
                      "read back %llu bytes with SHA-256 %s, wrote %llu "
                      "bytes with SHA-256 %s",
                      (unsigned long long)size, hex,
                      (unsigned long long)s->written, s->streamed);
        goto out;
    }
    etx_fileinfo_from_stat(&st, &s->file);
    snprintf(s->file.sha256, sizeof(s->file.sha256), "%s", hex);
    rc = ETX_OK;
out:
    close(fd);
    return rc;
}

int
etx_stage_verify(struct etx_stage *s, struct etx_error *err)
{
    if (s->state != STAGE_FINISHED)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "verify", s->temp,
                             "the stage is not finished");
    if (read_back(s, err) != ETX_OK)
        return fail(s, err);
    s->state = STAGE_VERIFIED;
    return ETX_OK;
}

bool
etx_stage_is_verified(const struct etx_stage *s)
{
    return s->state == STAGE_VERIFIED;
}

int
etx_stage_dirfd(const struct etx_stage *s)
{
    return s->dirfd;
}

const char *
etx_stage_name(const struct etx_stage *s)
{
    return s->name;
}

const char *
etx_stage_temp(const struct etx_stage *s)
{
    return s->temp;
}

const struct etx_fileinfo *
etx_stage_file(const struct etx_stage *s)
{
    return &s->file;
}

void
etx_stage_published(struct etx_stage *s)
{
    s->state = STAGE_PUBLISHED;
}

void
etx_stage_free(struct etx_stage *s)
{
    if (s == NULL)
        return;
    etx_stage_discard(s, NULL);
    etx_digest_free(s->dig);
    free(s);
}
