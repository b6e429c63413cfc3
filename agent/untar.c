/* SPDX-License-Identifier: MIT */
/*
 * Unpacking a release tarball into an empty directory with libarchive's
 * reader and our own *at() calls (never archive_write_disk, which follows
 * names). The rules are in untar.h; removing a tree is in untar_rmtree.c.
 */
#define _GNU_SOURCE
#include "agent/untar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/untar_internal.h"

#define OP_UNTAR     "untar"
#define CHUNK        (64 * 1024)
#define ARRAY_LEN(x) (sizeof(x) / sizeof((x)[0]))

/*
 * Compression filters decoded in this process. Each is enabled only when
 * libarchive was built with its library: otherwise libarchive would run an
 * external program, a child process that could inherit staging fds.
 */
static int (*const filters[])(struct archive *) = {
    archive_read_support_filter_gzip,
    archive_read_support_filter_bzip2,
    archive_read_support_filter_xz,
    archive_read_support_filter_zstd,
};

struct untar {
    struct archive *a;
    int root;                /* destination, borrowed */
    int pfd;                 /* cached parent directory, or -1 */
    bool pdirty;             /* pfd got an entry since its last fsync */
    const char *raw;         /* current entry's name in the archive */
    struct etx_untar_opts o; /* defaults resolved */
    struct etx_untar_stats st;
    struct etx_error *err;
    char ppath[PATH_MAX]; /* normalised path of pfd, "" = root */
    char path[PATH_MAX];  /* normalised path of the current entry */
    char tpath[PATH_MAX]; /* normalised hard link target */
    char buf[CHUNK];
};

static int input_err(struct untar *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
input_err(struct untar *u, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return etx_error_set(u->err, ETX_CLASS_INPUT, 0, OP_UNTAR,
                         u->raw != NULL ? u->raw : "archive", "%s", msg);
}

static int
sys_err(struct untar *u, int sys_errno, const char *what)
{
    return etx_error_sys(u->err, sys_errno, ETX_CTX_FILE, OP_UNTAR,
                         u->raw != NULL ? u->raw : "archive", "%s", what);
}

/* A failed create: an existing name is a duplicate entry. */
static int
create_err(struct untar *u, int sys_errno, const char *what)
{
    if (sys_errno == EEXIST)
        return input_err(u, "duplicate entry: the name exists already");
    return sys_err(u, sys_errno, what);
}

/* libarchive failed: a system error reading the archive, or bad input. */
static int
arch_err(struct untar *u)
{
    int e = archive_errno(u->a);
    const char *s = archive_error_string(u->a);

    if (s == NULL)
        s = "unknown libarchive error";
    if (e > 0 && e != EILSEQ && e != EINVAL)
        return etx_error_sys(u->err, e, ETX_CTX_FILE, OP_UNTAR,
                             u->raw != NULL ? u->raw : "archive",
                             "reading the archive: %s", s);
    return input_err(u, "bad archive: %s", s);
}

/*
 * Copy 'raw' to 'out' without "." and empty components; refuse what
 * untar.h refuses. *ncomp gets the number of components kept.
 */
static int
normalize(struct untar *u, const char *raw, const char *what, char *out,
          size_t *ncomp)
{
    const char *p = raw;
    const char *end = NULL;
    size_t len, o = 0;

    *ncomp = 0;
    if (raw == NULL || raw[0] == '\0')
        return input_err(u, "empty %s", what);
    if (strlen(raw) >= PATH_MAX)
        return input_err(u, "%s is %d bytes or longer", what, PATH_MAX);
    if (raw[0] == '/')
        return input_err(u, "absolute %s", what);
    while (*p != '\0') {
        end = strchrnul(p, '/');
        len = (size_t)(end - p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return input_err(u, "%s has a '..' component", what);
        if (len > NAME_MAX)
            return input_err(u, "%s has a component longer than %d bytes", what,
                             NAME_MAX);
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
            (*ncomp)++;
        }
        p = *end == '/' ? end + 1 : end;
    }
    out[o] = '\0';
    return ETX_OK;
}

/* Symlink targets: "../" x k then names, k <= depth (see untar.h). */
static int
check_target(struct untar *u, const char *t, size_t depth)
{
    const char *p = t;
    const char *end = NULL;
    size_t len, up = 0;
    bool named = false;

    if (t == NULL || t[0] == '\0')
        return input_err(u, "symlink with an empty target");
    if (strlen(t) >= PATH_MAX)
        return input_err(u, "symlink target is too long");
    if (t[0] == '/')
        return input_err(u, "symlink to an absolute path '%s'", t);
    for (; *p != '\0'; p = *end == '/' ? end + 1 : end) {
        end = strchrnul(p, '/');
        len = (size_t)(end - p);
        if (len == 0 || (len == 1 && p[0] == '.'))
            continue;
        if (len != 2 || p[0] != '.' || p[1] != '.') {
            named = true;
            continue;
        }
        if (named)
            return input_err(u,
                             "symlink target '%s' has '..' after a "
                             "name",
                             t);
        if (++up > depth)
            return input_err(u,
                             "symlink target '%s' points outside the "
                             "release",
                             t);
    }
    return ETX_OK;
}

/* Open (and with 'create', make) the directory 'name' in 'cur'. */
static int
step(struct untar *u, int cur, const char *name, bool create, int *next)
{
    *next = openat(cur, name, ETX_UNTAR__DIR_FLAGS);
    if (*next >= 0)
        return ETX_OK;
    if (errno == ENOENT && create) {
        if (mkdirat(cur, name, 0700) != 0)
            return sys_err(u, errno, "mkdirat");
        u->st.dirs++;
        if (fsync(cur) != 0)
            return sys_err(u, errno, "fsync of a directory");
        *next = openat(cur, name, ETX_UNTAR__DIR_FLAGS);
        if (*next >= 0 && fchmod(*next, 0755) != 0) {
            close(*next);
            *next = -1;
            return sys_err(u, errno, "fchmod");
        }
        if (*next >= 0)
            return ETX_OK;
    }
    if (errno == ELOOP || errno == ENOTDIR)
        return input_err(u,
                         "'%s' in the path is a symlink or a file "
                         "made by an earlier entry",
                         name);
    if (errno == ENOENT)
        return input_err(u, "'%s' in the path does not exist", name);
    return sys_err(u, errno, "openat");
}

/*
 * Open the normalised directory path 'dir' from the root, one component at
 * a time, never through a symlink. *fd_out is u->root for "", otherwise a
 * new fd the caller closes.
 */
static int
walk(struct untar *u, const char *dir, bool create, int *fd_out)
{
    char name[NAME_MAX + 1];
    const char *p = dir;
    const char *end = NULL;
    int cur = u->root, next = -1, rc = ETX_OK;

    while (*p != '\0' && rc == ETX_OK) {
        end = strchrnul(p, '/');
        memcpy(name, p, (size_t)(end - p));
        name[end - p] = '\0';
        rc = step(u, cur, name, create, &next);
        if (cur != u->root)
            close(cur);
        cur = next;
        p = *end == '/' ? end + 1 : end;
    }
    if (rc != ETX_OK && cur >= 0)
        close(cur);
    *fd_out = rc == ETX_OK ? cur : -1;
    return rc;
}

/* Forget the cached parent; fsync it first when 'sync' and it is dirty. */
static int
parent_flush(struct untar *u, bool sync)
{
    int rc = ETX_OK;

    if (u->pfd < 0)
        return ETX_OK;
    if (sync && u->pdirty && fsync(u->pfd) != 0)
        rc = etx_error_sys(u->err, errno, ETX_CTX_FILE, OP_UNTAR,
                           u->ppath[0] != '\0' ? u->ppath : ".",
                           "fsync of a directory");
    if (u->pfd != u->root)
        close(u->pfd);
    u->pfd = -1;
    u->pdirty = false;
    u->ppath[0] = '\0';
    return rc;
}

/* The directory of the current entry: its first 'plen' bytes of path. */
static int
parent_open(struct untar *u, size_t plen, int *fd_out)
{
    int rc;

    if (u->pfd >= 0 && strlen(u->ppath) == plen &&
        memcmp(u->ppath, u->path, plen) == 0) {
        *fd_out = u->pfd;
        return ETX_OK;
    }
    rc = parent_flush(u, true);
    if (rc != ETX_OK)
        return rc;
    memcpy(u->ppath, u->path, plen);
    u->ppath[plen] = '\0';
    rc = walk(u, u->ppath, true, &u->pfd);
    if (rc != ETX_OK)
        u->ppath[0] = '\0';
    *fd_out = u->pfd;
    return rc;
}

static mode_t
entry_mode(const struct untar *u, struct archive_entry *e)
{
    mode_t keep = u->o.keep_owner ? 06777 : 0777;

    return archive_entry_perm(e) & keep;
}

/* Owner (keep_owner), then mode, then the mtime of a file: fd only. */
static int
set_meta(struct untar *u, struct archive_entry *e, int fd, bool is_file)
{
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
    struct timespec ts[2];

    if (u->o.keep_owner) {
        if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
            return input_err(u, "uid or gid out of range");
        if (fchown(fd, (uid_t)uid, (gid_t)gid) != 0)
            return sys_err(u, errno, "fchown");
    }
    if (fchmod(fd, entry_mode(u, e)) != 0)
        return sys_err(u, errno, "fchmod");
    if (is_file && archive_entry_mtime_is_set(e)) {
        ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
        ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
        if (futimens(fd, ts) != 0)
            return sys_err(u, errno, "futimens");
    }
    return ETX_OK;
}

static int
write_all(struct untar *u, int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return sys_err(u, errno, "write");
        if (w == 0)
            return sys_err(u, ENOSPC, "write");
        p += w;
        n -= (size_t)w;
    }
    return ETX_OK;
}

/* Stream the entry's data into fd in CHUNK pieces, within the limits. */
static int
copy_data(struct untar *u, int fd)
{
    uint64_t written = 0;
    la_ssize_t n;
    int rc;

    for (;;) {
        n = archive_read_data(u->a, u->buf, sizeof(u->buf));
        if (n == 0)
            return ETX_OK;
        if (n < 0)
            return arch_err(u);
        if ((uint64_t)n > u->o.max_entry_bytes - written)
            return input_err(u,
                             "file larger than the limit of %" PRIu64 " bytes",
                             u->o.max_entry_bytes);
        if ((uint64_t)n > u->o.max_total_bytes - u->st.bytes)
            return input_err(
                u, "more file data than the limit of %" PRIu64 " bytes",
                u->o.max_total_bytes);
        rc = write_all(u, fd, u->buf, (size_t)n);
        if (rc != ETX_OK)
            return rc;
        written += (uint64_t)n;
        u->st.bytes += (uint64_t)n;
    }
}

static int
do_file(struct untar *u, struct archive_entry *e, int dir, const char *name)
{
    int fd, rc;

    if (archive_entry_size_is_set(e) &&
        (uint64_t)archive_entry_size(e) > u->o.max_entry_bytes)
        return input_err(u, "file larger than the limit of %" PRIu64 " bytes",
                         u->o.max_entry_bytes);
    fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
    if (fd < 0)
        return create_err(u, errno, "openat");
    u->pdirty = true;
    rc = copy_data(u, fd);
    if (rc == ETX_OK)
        rc = set_meta(u, e, fd, true);
    if (rc == ETX_OK && fsync(fd) != 0)
        rc = sys_err(u, errno, "fsync");
    if (close(fd) != 0 && rc == ETX_OK)
        rc = sys_err(u, errno, "close");
    if (rc == ETX_OK)
        u->st.files++;
    return rc;
}

static int
do_dir(struct untar *u, struct archive_entry *e, int dir, const char *name)
{
    int fd, rc;

    if (mkdirat(dir, name, 0700) == 0) {
        u->pdirty = true;
        u->st.dirs++;
    } else if (errno != EEXIST) {
        return sys_err(u, errno, "mkdirat");
    }
    fd = openat(dir, name, ETX_UNTAR__DIR_FLAGS);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        return input_err(u, "duplicate entry: the name exists and is not "
                            "a directory");
    if (fd < 0)
        return sys_err(u, errno, "openat");
    rc = set_meta(u, e, fd, false);
    close(fd);
    return rc;
}

static int
do_symlink(struct untar *u, struct archive_entry *e, int dir, const char *name,
           size_t depth)
{
    const char *t = archive_entry_symlink(e);
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
    int rc;

    if (t == NULL)
        t = archive_entry_symlink_utf8(e);
    rc = check_target(u, t, depth);
    if (rc != ETX_OK)
        return rc;
    if (symlinkat(t, dir, name) != 0)
        return create_err(u, errno, "symlinkat");
    u->pdirty = true;
    if (u->o.keep_owner) {
        if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
            return input_err(u, "uid or gid out of range");
        if (fchownat(dir, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) !=
            0)
            return sys_err(u, errno, "fchownat");
    }
    u->st.symlinks++;
    return ETX_OK;
}

/* Hard links: only to a regular file made by an earlier entry. */
static int
do_hardlink(struct untar *u, struct archive_entry *e, int dir, const char *name)
{
    const char *t = archive_entry_hardlink(e);
    char *slash = NULL;
    const char *tname = u->tpath, *tdirpath = "";
    struct stat st;
    size_t n;
    int tdir = -1, rc;

    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
        return input_err(u, "hard link entry that carries data");
    if (t == NULL)
        t = archive_entry_hardlink_utf8(e);
    rc = normalize(u, t, "hard link target", u->tpath, &n);
    if (rc != ETX_OK)
        return rc;
    if (n == 0)
        return input_err(u, "hard link to the release root");
    slash = strrchr(u->tpath, '/');
    if (slash != NULL) {
        *slash = '\0';
        tdirpath = u->tpath;
        tname = slash + 1;
    }
    rc = walk(u, tdirpath, false, &tdir);
    if (rc != ETX_OK)
        return rc;
    if (fstatat(tdir, tname, &st, AT_SYMLINK_NOFOLLOW) != 0)
        rc = errno == ENOENT
                 ? input_err(u, "hard link target '%s' is no earlier entry", t)
                 : sys_err(u, errno, "fstatat");
    else if (!S_ISREG(st.st_mode))
        rc = input_err(u, "hard link target '%s' is not a regular file", t);
    else if (linkat(tdir, tname, dir, name, 0) != 0)
        rc = create_err(u, errno, "linkat");
    if (tdir != u->root)
        close(tdir);
    if (rc == ETX_OK) {
        u->pdirty = true;
        u->st.hardlinks++;
    }
    return rc;
}

static int
check_type(struct untar *u, struct archive_entry *e)
{
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
    case AE_IFDIR:
    case AE_IFLNK:
        return ETX_OK;
    case AE_IFCHR:
    case AE_IFBLK:
        return input_err(u, "device node refused");
    case AE_IFIFO:
        return input_err(u, "FIFO refused");
    case AE_IFSOCK:
        return input_err(u, "socket refused");
    default:
        return input_err(u, "entry of unknown type refused");
    }
}

static int
do_entry(struct untar *u, struct archive_entry *e)
{
    bool hard = archive_entry_hardlink(e) != NULL ||
                archive_entry_hardlink_utf8(e) != NULL;
    const char *name = NULL;
    size_t ncomp, plen;
    int dir = -1, rc;

    u->raw = archive_entry_pathname(e);
    if (u->raw == NULL)
        u->raw = archive_entry_pathname_utf8(e);
    if (++u->st.entries > u->o.max_entries)
        return input_err(u, "more than %" PRIu64 " entries", u->o.max_entries);
    rc = normalize(u, u->raw, "name", u->path, &ncomp);
    if (rc != ETX_OK)
        return rc;
    if (!hard && (rc = check_type(u, e)) != ETX_OK)
        return rc;
    if (ncomp == 0 && !hard && archive_entry_filetype(e) == AE_IFDIR)
        return ETX_OK; /* the root itself: it exists, leave it alone */
    if (ncomp == 0)
        return input_err(u, "empty name");
    name = strrchr(u->path, '/');
    plen = name != NULL ? (size_t)(name - u->path) : 0;
    name = name != NULL ? name + 1 : u->path;
    rc = parent_open(u, plen, &dir);
    if (rc != ETX_OK)
        return rc;
    if (hard)
        return do_hardlink(u, e, dir, name);
    if (archive_entry_filetype(e) == AE_IFDIR)
        return do_dir(u, e, dir, name);
    if (archive_entry_filetype(e) == AE_IFLNK)
        return do_symlink(u, e, dir, name, ncomp - 1);
    return do_file(u, e, dir, name);
}

/* A reader for tar formats and in-process filters only. */
static struct archive *
reader_new(void)
{
    struct archive *probe = archive_read_new();
    struct archive *a = NULL;
    bool ok[ARRAY_LEN(filters)];
    size_t i;

    if (probe == NULL)
        return NULL;
    for (i = 0; i < ARRAY_LEN(filters); i++)
        ok[i] = filters[i](probe) == ARCHIVE_OK;
    archive_read_free(probe);
    a = archive_read_new();
    if (a == NULL)
        return NULL;
    for (i = 0; i < ARRAY_LEN(filters); i++)
        if (ok[i])
            filters[i](a);
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_format_gnutar(a) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static struct untar *
untar_new(int dest_dirfd, const struct etx_untar_opts *o, struct etx_error *err)
{
    struct untar *u = calloc(1, sizeof(*u));

    if (u == NULL || (u->a = reader_new()) == NULL) {
        free(u);
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, OP_UNTAR, "archive",
                      "setting up the tar reader");
        return NULL;
    }
    if (o != NULL)
        u->o = *o;
    if (u->o.max_total_bytes == 0)
        u->o.max_total_bytes = ETX_UNTAR_DEFAULT_MAX_TOTAL;
    if (u->o.max_entries == 0)
        u->o.max_entries = ETX_UNTAR_DEFAULT_MAX_ENTRIES;
    if (u->o.max_entry_bytes == 0)
        u->o.max_entry_bytes = u->o.max_total_bytes;
    u->root = dest_dirfd;
    u->pfd = -1;
    u->err = err;
    return u;
}

/* Read every entry of the opened archive ('opened': archive_read_open*). */
static int
untar_run(struct untar *u, int opened, struct etx_untar_stats *stats_out)
{
    struct archive_entry *e = NULL;
    int r = opened, rc = ETX_OK;

    if (r != ARCHIVE_OK)
        rc = arch_err(u);
    while (rc == ETX_OK) {
        u->raw = NULL;
        r = archive_read_next_header(u->a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            rc = arch_err(u);
        else
            rc = do_entry(u, e);
    }
    u->raw = NULL;
    if (rc == ETX_OK)
        rc = parent_flush(u, true);
    parent_flush(u, false);
    if (stats_out != NULL)
        *stats_out = u->st;
    archive_read_free(u->a);
    free(u);
    return rc;
}

int
etx_untar_fd(int archive_fd, int dest_dirfd, const struct etx_untar_opts *o,
             struct etx_untar_stats *stats_out, struct etx_error *err)
{
    struct untar *u = untar_new(dest_dirfd, o, err);

    if (stats_out != NULL)
        *stats_out = (struct etx_untar_stats){0};
    if (u == NULL)
        return ETX_ERR;
    return untar_run(u, archive_read_open_fd(u->a, archive_fd, CHUNK),
                     stats_out);
}

int
etx_untar_buffer(const void *buf, size_t len, int dest_dirfd,
                 const struct etx_untar_opts *o,
                 struct etx_untar_stats *stats_out, struct etx_error *err)
{
    struct untar *u = untar_new(dest_dirfd, o, err);

    if (stats_out != NULL)
        *stats_out = (struct etx_untar_stats){0};
    if (u == NULL)
        return ETX_ERR;
    return untar_run(u, archive_read_open_memory(u->a, buf, len), stats_out);
}
