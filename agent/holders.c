/* SPDX-License-Identifier: MIT */
/*
 * The /proc scan behind holders.h: for every process, the exe, cwd and root
 * links, the maps file and each descriptor are stat()ed or parsed and
 * matched against the wanted (dev, ino) pairs. Entries are read through a
 * descriptor of /proc/PID, so a pid reused mid-scan is never confused with
 * the process that died. Nothing here is kept between calls. What a scan
 * gives is named, formatted and turned into JSON in holders_report.c.
 */
#define _GNU_SOURCE
#include "agent/holders.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The state of one scan, and of the process being looked at. */
struct scan {
    const struct etx_file_id *ids;
    size_t n_ids;
    unsigned flags;
    struct etx_holders *out;
    size_t cap;
    int pid_fd; /* /proc/PID */
    pid_t pid;
    bool unknown;           /* some entry could not be read */
    bool vanished;          /* the process exited while we looked */
    bool have_info;         /* info is filled */
    struct etx_holder info; /* the per-process fields of its holders */
};

void
etx_holders_free(struct etx_holders *h)
{
    if (h == NULL)
        return;
    free(h->v);
    memset(h, 0, sizeof(*h));
}

/*
 * A failed read of a /proc entry: ENOENT/ESRCH mean the entry or the
 * process is gone (not a holder); anything else leaves us not knowing.
 */
static void
entry_failed(struct scan *s, int e)
{
    if (e != ENOENT && e != ESRCH)
        s->unknown = true;
}

/* Read a small /proc file below dirfd into buf (NUL-terminated); errno. */
static int
read_entry(int dirfd, const char *name, char *buf, size_t len, size_t *got)
{
    int fd = -1;
    ssize_t r = 0;
    size_t n = 0;
    int e = 0;

    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    while (n + 1 < len) {
        r = read(fd, buf + n, len - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (got != NULL)
        *got = n;
    return e;
}

/* comm, ppid and start time from /proc/PID/stat; -1 when malformed. */
static int
parse_stat(char *buf, struct etx_holder *h)
{
    char *open = strchr(buf, '(');
    char *close = strrchr(buf, ')');
    char *save = NULL;
    char *tok = NULL;
    size_t len = 0;
    int field = 3;

    if (open == NULL || close == NULL || close < open)
        return -1;
    len = (size_t)(close - open - 1);
    if (len >= sizeof(h->comm))
        len = sizeof(h->comm) - 1;
    memcpy(h->comm, open + 1, len);
    h->comm[len] = '\0';
    /* Fields count from 1; the first after ')' is field 3 (state). */
    for (tok = strtok_r(close + 1, " ", &save); tok != NULL;
         tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 4)
            h->ppid = (pid_t)strtol(tok, NULL, 10);
        if (field == 22) {
            h->start_time = strtoull(tok, NULL, 10);
            return 0;
        }
    }
    return -1;
}

/* The effective uid from the "Uid:" line of /proc/PID/status. */
static void
parse_uid(const char *buf, struct etx_holder *h)
{
    const char *p = strstr(buf, "\nUid:");
    unsigned real = 0;
    unsigned eff = 0;

    if (p != NULL && sscanf(p + 5, "%u %u", &real, &eff) == 2)
        h->uid = (uid_t)eff;
}

/* The command line with its NULs shown as spaces. */
static void
load_cmdline(int pid_fd, struct etx_holder *h)
{
    size_t n = 0;
    size_t i = 0;

    if (read_entry(pid_fd, "cmdline", h->cmdline, sizeof(h->cmdline), &n))
        return;
    for (i = 0; i < n; i++)
        if (h->cmdline[i] == '\0')
            h->cmdline[i] = ' ';
    while (n > 0 && h->cmdline[n - 1] == ' ')
        h->cmdline[--n] = '\0';
}

static bool
has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);

    return len >= sl && memcmp(s + len - sl, suffix, sl) == 0;
}

/* The last component of a cgroup path that names a systemd unit. */
static void
find_unit(const char *path, size_t len, struct etx_holder *h)
{
    const char *end = path + len;
    const char *c = path;
    const char *slash = NULL;
    size_t cl = 0;

    while (c < end) {
        slash = memchr(c, '/', (size_t)(end - c));
        cl = (size_t)((slash != NULL ? slash : end) - c);
        if ((has_suffix(c, cl, ".service") || has_suffix(c, cl, ".scope")) &&
            cl < sizeof(h->unit)) {
            memcpy(h->unit, c, cl);
            h->unit[cl] = '\0';
        }
        c += cl + 1;
    }
}

/* A run of exactly 64 hex digits in a cgroup path: a container id. */
static void
find_container(const char *path, size_t len, struct etx_holder *h)
{
    size_t i = 0;
    size_t run = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && strchr("0123456789abcdef", path[i]) != NULL &&
            path[i] != '\0') {
            run++;
            continue;
        }
        if (run == 64) {
            memcpy(h->container, path + i - 64, 64);
            h->container[64] = '\0';
        }
        run = 0;
    }
}

/* Unit and container from /proc/PID/cgroup ("id:controllers:path" lines). */
static void
load_cgroup(int pid_fd, struct etx_holder *h)
{
    char buf[4096];
    char *save = NULL;
    char *line = NULL;
    char *path = NULL;

    if (read_entry(pid_fd, "cgroup", buf, sizeof(buf), NULL) != 0)
        return;
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        path = strchr(line, ':');
        path = path != NULL ? strchr(path + 1, ':') : NULL;
        if (path == NULL)
            continue;
        path++;
        find_unit(path, strlen(path), h);
        find_container(path, strlen(path), h);
    }
}

/*
 * The per-process fields, read once when the first holder is found. A
 * process whose stat cannot be read any more has exited: it is skipped.
 */
static void
load_info(struct scan *s)
{
    char buf[2048];
    struct etx_holder *h = &s->info;
    int e = 0;

    memset(h, 0, sizeof(*h));
    h->pid = s->pid;
    h->fd = -1;
    e = read_entry(s->pid_fd, "stat", buf, sizeof(buf), NULL);
    if (e != 0 || parse_stat(buf, h) != 0) {
        if (e == 0 || e == ENOENT || e == ESRCH)
            s->vanished = true;
        else
            s->unknown = true;
        return;
    }
    if (read_entry(s->pid_fd, "status", buf, sizeof(buf), NULL) == 0)
        parse_uid(buf, h);
    load_cmdline(s->pid_fd, h);
    load_cgroup(s->pid_fd, h);
    s->have_info = true;
}

static bool
wanted(const struct scan *s, enum etx_holder_rel rel)
{
    if ((s->flags & ETX_HOLDERS_WRITERS) == 0)
        return true;
    return rel == ETX_HOLD_FD_W || rel == ETX_HOLD_MAP_W;
}

/* The index of (dev, ino) in the wanted ids, or n_ids. */
static size_t
match(const struct scan *s, dev_t dev, ino_t ino)
{
    size_t i = 0;

    for (i = 0; i < s->n_ids; i++)
        if (s->ids[i].dev == dev && s->ids[i].ino == ino)
            return i;
    return s->n_ids;
}

/*
 * True when this process already has this mapping holder: maps list a file
 * once per segment. Maps are scanned before descriptors, so the walk back
 * over this process's holders stays short.
 */
static bool
seen(const struct scan *s, enum etx_holder_rel rel, size_t idx)
{
    size_t i = s->out->n;

    if (rel != ETX_HOLD_MAP_R && rel != ETX_HOLD_MAP_W)
        return false;
    while (i > 0 && s->out->v[i - 1].pid == s->pid) {
        i--;
        if (s->out->v[i].rel == rel && s->out->v[i].id_index == idx)
            return true;
    }
    return false;
}

static int
grow(struct scan *s, struct etx_error *err)
{
    struct etx_holder *v = NULL;
    size_t cap = s->cap == 0 ? 16 : s->cap * 2;

    if (cap > ETX_HOLDERS_MAX)
        cap = ETX_HOLDERS_MAX;
    v = realloc(s->out->v, cap * sizeof(*v));
    if (v == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "holders-scan", "/proc",
                             "cannot grow the holder list");
    s->out->v = v;
    s->cap = cap;
    return ETX_OK;
}

/* Record one holder of ids[idx]; fd is -1 unless rel is FD_R/FD_W. */
static int
add(struct scan *s, enum etx_holder_rel rel, size_t idx, int fd,
    unsigned fd_flags, const char *path, struct etx_error *err)
{
    struct etx_holder *h = NULL;

    if (!wanted(s, rel) || s->vanished || seen(s, rel, idx))
        return ETX_OK;
    if (!s->have_info)
        load_info(s);
    if (!s->have_info)
        return ETX_OK;
    if (s->out->n == ETX_HOLDERS_MAX) {
        s->out->n_more++;
        return ETX_OK;
    }
    if (s->out->n == s->cap && grow(s, err) != ETX_OK)
        return ETX_ERR;
    h = &s->out->v[s->out->n++];
    *h = s->info;
    h->rel = rel;
    h->fd = fd;
    h->fd_flags = fd_flags;
    h->id_index = idx;
    snprintf(h->path, sizeof(h->path), "%s", path);
    return ETX_OK;
}

/* exe, cwd or root of the process: a magic link to stat. */
static int
scan_link(struct scan *s, const char *name, enum etx_holder_rel rel,
          struct etx_error *err)
{
    struct stat st;
    char path[sizeof(s->info.path)];
    ssize_t n = 0;
    size_t idx = 0;

    if (fstatat(s->pid_fd, name, &st, 0) != 0) {
        entry_failed(s, errno);
        return ETX_OK;
    }
    idx = match(s, st.st_dev, st.st_ino);
    if (idx == s->n_ids)
        return ETX_OK;
    n = readlinkat(s->pid_fd, name, path, sizeof(path) - 1);
    path[n > 0 ? n : 0] = '\0';
    return add(s, rel, idx, -1, 0, path, err);
}

/* One line of /proc/PID/maps: "start-end perms offset maj:min inode path". */
static int
scan_map_line(struct scan *s, char *line, struct etx_error *err)
{
    char perms[5] = "";
    unsigned maj = 0;
    unsigned min = 0;
    unsigned long ino = 0;
    int off = 0;
    size_t idx = 0;
    enum etx_holder_rel rel = ETX_HOLD_MAP_R;

    if (sscanf(line, "%*x-%*x %4s %*x %x:%x %lu %n", perms, &maj, &min, &ino,
               &off) != 4 ||
        ino == 0)
        return ETX_OK;
    idx = match(s, makedev(maj, min), (ino_t)ino);
    if (idx == s->n_ids)
        return ETX_OK;
    if (perms[1] == 'w' && perms[3] == 's')
        rel = ETX_HOLD_MAP_W;
    line[off + (int)strcspn(line + off, "\n")] = '\0';
    return add(s, rel, idx, -1, 0, line + off, err);
}

static int
scan_maps(struct scan *s, struct etx_error *err)
{
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    int fd = -1;
    int rc = ETX_OK;

    fd = openat(s->pid_fd, "maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        entry_failed(s, errno);
        return ETX_OK;
    }
    f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        return etx_error_sys(err, errno, ETX_CTX_FILE, "holders-scan", "/proc",
                             "cannot read maps of pid %d", s->pid);
    }
    while (rc == ETX_OK && getline(&line, &cap, f) > 0)
        rc = scan_map_line(s, line, err);
    if (rc == ETX_OK && ferror(f))
        entry_failed(s, errno);
    free(line);
    fclose(f);
    return rc;
}

/* The "flags:" line of /proc/PID/fdinfo/N (octal); errno or 0. */
static int
fd_flags(struct scan *s, const char *fd_name, unsigned *flags)
{
    char name[64];
    char buf[1024];
    const char *p = NULL;
    int e = 0;

    /* fd names are decimal numbers; a longer name is not an fd entry. */
    if (snprintf(name, sizeof(name), "fdinfo/%s", fd_name) >= (int)sizeof(name))
        return ENOENT;
    e = read_entry(s->pid_fd, name, buf, sizeof(buf), NULL);
    if (e != 0)
        return e;
    p = strstr(buf, "flags:");
    if (p == NULL)
        return ENOENT;
    *flags = (unsigned)strtoul(p + 6, NULL, 8);
    return 0;
}

/* One open descriptor: stat through the link, then its access mode. */
static int
scan_fd(struct scan *s, int fd_dir, const char *name, struct etx_error *err)
{
    struct stat st;
    char path[sizeof(s->info.path)];
    unsigned flags = 0;
    ssize_t n = 0;
    size_t idx = 0;
    int e = 0;

    if (fstatat(fd_dir, name, &st, 0) != 0) {
        entry_failed(s, errno);
        return ETX_OK;
    }
    idx = match(s, st.st_dev, st.st_ino);
    if (idx == s->n_ids)
        return ETX_OK;
    e = fd_flags(s, name, &flags);
    if (e != 0) {
        entry_failed(s, e);
        return ETX_OK;
    }
    n = readlinkat(fd_dir, name, path, sizeof(path) - 1);
    path[n > 0 ? n : 0] = '\0';
    return add(s,
               (flags & O_ACCMODE) == O_RDONLY ? ETX_HOLD_FD_R : ETX_HOLD_FD_W,
               idx, atoi(name), flags, path, err);
}

static int
scan_fds(struct scan *s, struct etx_error *err)
{
    DIR *dir = NULL;
    struct dirent *de = NULL;
    int fd = -1;
    int rc = ETX_OK;

    fd = openat(s->pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        entry_failed(s, errno);
        return ETX_OK;
    }
    dir = fdopendir(fd);
    if (dir == NULL && (errno == ENOENT || errno == ESRCH)) {
        close(fd); /* it exited between the two calls: not a holder */
        return ETX_OK;
    }
    if (dir == NULL) {
        close(fd);
        return etx_error_sys(err, errno, ETX_CTX_FILE, "holders-scan", "/proc",
                             "cannot list fds of pid %d", s->pid);
    }
    while (rc == ETX_OK && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        rc = scan_fd(s, dirfd(dir), de->d_name, err);
    }
    closedir(dir);
    return rc;
}

/* Every relation of one process; an unreadable part makes it unknown. */
static int
scan_pid(struct scan *s, int proc_fd, const char *name, struct etx_error *err)
{
    int rc = ETX_OK;

    s->pid = (pid_t)atoi(name);
    s->unknown = false;
    s->vanished = false;
    s->have_info = false;
    s->pid_fd = openat(proc_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->pid_fd < 0) {
        entry_failed(s, errno);
        goto out;
    }
    if ((s->flags & ETX_HOLDERS_WRITERS) == 0) {
        rc = scan_link(s, "exe", ETX_HOLD_EXEC, err);
        if (rc == ETX_OK)
            rc = scan_link(s, "cwd", ETX_HOLD_CWD, err);
        if (rc == ETX_OK)
            rc = scan_link(s, "root", ETX_HOLD_ROOT, err);
    }
    if (rc == ETX_OK)
        rc = scan_maps(s, err);
    if (rc == ETX_OK)
        rc = scan_fds(s, err);
out:
    if (s->unknown && !s->vanished) {
        if (s->out->n_unknown++ == 0)
            s->out->first_unknown = s->pid;
    }
    if (s->pid_fd >= 0)
        close(s->pid_fd);
    s->pid_fd = -1;
    return rc;
}

static bool
is_pid_name(const char *name)
{
    if (*name == '\0')
        return false;
    for (; *name != '\0'; name++)
        if (*name < '0' || *name > '9')
            return false;
    return true;
}

int
etx_holders_scan(const struct etx_file_id *ids, size_t n_ids, unsigned flags,
                 struct etx_holders *out, struct etx_error *err)
{
    struct scan s = {
        .ids = ids, .n_ids = n_ids, .flags = flags, .out = out, .pid_fd = -1};
    DIR *proc = NULL;
    struct dirent *de = NULL;
    pid_t self = getpid();
    int rc = ETX_ERR;

    memset(out, 0, sizeof(*out));
    proc = opendir("/proc");
    if (proc == NULL)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "holders-scan", "/proc",
                             "cannot list processes");
    while ((de = readdir(proc)) != NULL) {
        if (!is_pid_name(de->d_name) || atoi(de->d_name) == self)
            continue;
        if (scan_pid(&s, dirfd(proc), de->d_name, err) != ETX_OK)
            goto out;
    }
    rc = ETX_OK;
out:
    closedir(proc);
    if (rc != ETX_OK)
        etx_holders_free(out);
    return rc;
}
