/* SPDX-License-Identifier: MIT */
/*
 * The probe's facts (facts.h): a target's identity, digest, file system,
 * mount and holders; the host; and their JSON. Read-only. The kernel's
 * ETXTBSY semantics are measured in facts_kernel.c.
 */
#define _GNU_SOURCE
#include "agent/facts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent/facts_internal.h"

struct fs_name {
    unsigned long magic;
    const char *name;
    bool network;
};

/* statfs magics (linux/magic.h and the file systems' own headers). */
static const struct fs_name fs_names[] = {
    {0xEF53UL, "ext4", false},         {0x01021994UL, "tmpfs", false},
    {0x58465342UL, "xfs", false},      {0x9123683EUL, "btrfs", false},
    {0x794c7630UL, "overlay", false},  {0x65735546UL, "fuse", false},
    {0x73717368UL, "squashfs", false}, {0x858458f6UL, "ramfs", false},
    {0xF2F52010UL, "f2fs", false},     {0x2fc12fc1UL, "zfs", false},
    {0x4d44UL, "vfat", false},         {0x9fa0UL, "proc", false},
    {0x62656572UL, "sysfs", false},    {0x6969UL, "nfs", true},
    {0xFF534D42UL, "cifs", true},      {0xFE534D42UL, "smb2", true},
    {0x517BUL, "smb", true},           {0x00c36400UL, "ceph", true},
    {0x01021997UL, "9p", true},        {0x5346414FUL, "afs", true},
};

/* mountinfo types of shared storage that the magic does not tell apart. */
static const char *const network_types[] = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "ceph",
    "glusterfs",
    "lustre",
    "afs",
    "9p",
    "gfs2",
    "ocfs2",
    "fuse.sshfs",
    "fuse.glusterfs",
    "fuse.s3fs",
    "fuse.rclone",
    "fuse.ceph-fuse",
    "fuse.gcsfuse",
    "fuse.juicefs",
};

static void
fs_from_magic(struct etx_facts_fs *fs)
{
    size_t i = 0;

    snprintf(fs->type, sizeof(fs->type), "unknown");
    for (i = 0; i < sizeof(fs_names) / sizeof(fs_names[0]); i++) {
        if (fs_names[i].magic == fs->magic) {
            snprintf(fs->type, sizeof(fs->type), "%s", fs_names[i].name);
            fs->is_network = fs_names[i].network;
        }
    }
}

static bool
is_network_type(const char *type)
{
    size_t i = 0;

    for (i = 0; i < sizeof(network_types) / sizeof(network_types[0]); i++)
        if (strcmp(type, network_types[i]) == 0)
            return true;
    return false;
}

/* Undo mountinfo's octal escapes ("\040" for a space) in place. */
static void
unescape(char *s)
{
    char *out = s;

    for (; *s != '\0'; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
            s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + s[3] - '0');
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* One parsed line of /proc/self/mountinfo (fields point into the line). */
struct mnt_line {
    uint64_t id;
    char *point;
    char *options;
    char *type;
    char *source;
};

/* "id parent maj:min root point options [optional...] - type source ..." */
static bool
parse_mnt_line(char *line, struct mnt_line *m)
{
    char *save = NULL;
    char *tok[6] = {NULL};
    char *dash = NULL;
    size_t i = 0;

    dash = strstr(line, " - ");
    if (dash == NULL)
        return false;
    *dash = '\0';
    for (i = 0; i < 6; i++) {
        tok[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
        if (tok[i] == NULL)
            return false;
    }
    m->id = strtoull(tok[0], NULL, 10);
    m->point = tok[4];
    m->options = tok[5];
    m->type = strtok_r(dash + 3, " \n", &save);
    m->source = strtok_r(NULL, " \n", &save);
    if (m->type == NULL || m->source == NULL)
        return false;
    unescape(m->point);
    unescape(m->source);
    return true;
}

/* Length of the mount point when it is a path prefix of path, else 0. */
static size_t
prefix_len(const char *point, const char *path)
{
    size_t n = strlen(point);

    if (strcmp(point, "/") == 0)
        return 1;
    if (strncmp(point, path, n) == 0 && (path[n] == '/' || path[n] == '\0'))
        return n;
    return 0;
}

static void
take_mount(struct etx_facts_fs *fs, const struct mnt_line *m)
{
    fs->mount_id = m->id;
    snprintf(fs->mount_point, sizeof(fs->mount_point), "%s", m->point);
    snprintf(fs->mount_options, sizeof(fs->mount_options), "%s", m->options);
    snprintf(fs->mount_source, sizeof(fs->mount_source), "%s", m->source);
    snprintf(fs->type, sizeof(fs->type), "%s", m->type);
    if (is_network_type(m->type))
        fs->is_network = true;
}

/*
 * The mount holding 'canon' (a canonical path): the one with id 'mnt_id',
 * or without an id the longest mount-point prefix (the last one mounted
 * wins a tie, as it hides the others). Not finding one is not an error.
 */
static void
find_mount(const char *canon, uint64_t mnt_id, struct etx_facts_fs *fs)
{
    struct mnt_line m;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    size_t best = 0;
    size_t n = 0;

    f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return;
    while (getline(&line, &cap, f) > 0) {
        if (!parse_mnt_line(line, &m))
            continue;
        if (mnt_id != 0 && m.id == mnt_id) {
            take_mount(fs, &m);
            break;
        }
        n = mnt_id == 0 ? prefix_len(m.point, canon) : 0;
        if (n > 0 && n >= best) {
            best = n;
            take_mount(fs, &m);
        }
    }
    free(line);
    fclose(f);
}

/* The mount id of path (flags: 0 or AT_SYMLINK_NOFOLLOW); 0 if unknown. */
static uint64_t
mount_id_of(const char *path, int flags)
{
    struct statx stx;

    if (statx(AT_FDCWD, path, flags, STATX_MNT_ID, &stx) != 0 ||
        (stx.stx_mask & STATX_MNT_ID) == 0)
        return 0;
    return stx.stx_mnt_id;
}

int
etx_facts_fs(const char *path, struct etx_facts_fs *out, struct etx_error *err)
{
    struct statfs sf;
    struct statvfs sv;
    char canon[PATH_MAX];

    memset(out, 0, sizeof(*out));
    if (statfs(path, &sf) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "statfs", path,
                             "cannot read the file system");
    if (statvfs(path, &sv) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "statvfs", path,
                             "cannot read the free space");
    if (realpath(path, canon) == NULL)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "realpath", path,
                             "cannot resolve");
    out->magic = (unsigned long)sf.f_type;
    fs_from_magic(out);
    out->read_only = (sv.f_flag & ST_RDONLY) != 0;
    out->free_bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    out->free_inodes = (uint64_t)sv.f_favail;
    find_mount(canon, mount_id_of(path, 0), out);
    return ETX_OK;
}

/* Split path into its canonical directory and its last component. */
static int
split_path(const char *path, char *dir, char *base, struct etx_error *err)
{
    char tmp[PATH_MAX];
    char *slash = NULL;
    size_t n = strlen(path);

    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof(tmp))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "facts", path,
                             "the target path is empty or too long");
    memcpy(tmp, path, n);
    tmp[n] = '\0';
    slash = strrchr(tmp, '/');
    n = strlen(slash != NULL ? slash + 1 : tmp);
    if (n > NAME_MAX)
        return etx_error_set(err, ETX_CLASS_PLACEMENT, ENAMETOOLONG, "facts",
                             path, "the target's name is too long");
    memcpy(base, slash != NULL ? slash + 1 : tmp, n + 1);
    if (slash == tmp)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    if (realpath(slash != NULL ? tmp : ".", dir) == NULL)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "realpath", path,
                             "cannot resolve the target's directory");
    return ETX_OK;
}

/* A symlink's text and what it finally names (dangling: not there). */
static int
resolve_link(struct etx_facts_target *t, struct etx_error *err)
{
    char target[PATH_MAX];
    ssize_t n = 0;

    n = readlink(t->path, t->link_text, sizeof(t->link_text) - 1);
    if (n < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "readlink", t->path,
                             "cannot read the symlink");
    t->link_text[n] = '\0';
    if (realpath(t->path, target) == NULL)
        return ETX_OK;
    return etx_fileinfo_at(AT_FDCWD, target, ETX_FILEINFO_DIGEST, &t->resolved,
                           err);
}

/*
 * The target itself is mounted on when its mount differs from its
 * directory's; without mount ids, when a mount point is the path itself.
 */
static void
check_mount_point(struct etx_facts_target *t, const char *dir, const char *base)
{
    char canon[PATH_MAX + NAME_MAX + 2];
    struct etx_facts_fs fs;
    uint64_t mine = mount_id_of(t->path, AT_SYMLINK_NOFOLLOW);
    uint64_t parent = mount_id_of(dir, 0);

    if (mine != 0 && parent != 0) {
        t->is_mount_point = mine != parent;
        return;
    }
    snprintf(canon, sizeof(canon), "%s%s%s", dir,
             strcmp(dir, "/") == 0 ? "" : "/", base);
    memset(&fs, 0, sizeof(fs));
    find_mount(canon, 0, &fs);
    t->is_mount_point = strcmp(fs.mount_point, canon) == 0;
}

int
etx_facts_target(const char *path, struct etx_facts_target *out,
                 struct etx_error *err)
{
    char dir[PATH_MAX];
    char base[NAME_MAX + 1];
    struct etx_file_id id;
    const struct etx_fileinfo *held = &out->file;

    memset(out, 0, sizeof(*out));
    if (snprintf(out->path, sizeof(out->path), "%s", path) >=
        (int)sizeof(out->path))
        return etx_error_set(err, ETX_CLASS_INPUT, ENAMETOOLONG, "facts", path,
                             "the target path is too long");
    if (split_path(path, dir, base, err) != ETX_OK)
        return ETX_ERR;
    if (etx_fileinfo_at(AT_FDCWD, path, ETX_FILEINFO_DIGEST, &out->file, err) !=
        ETX_OK)
        return ETX_ERR;
    if (out->file.exists && S_ISLNK(out->file.mode)) {
        if (resolve_link(out, err) != ETX_OK)
            return ETX_ERR;
        held = &out->resolved;
    }
    if (etx_facts_fs(out->file.exists && !S_ISLNK(out->file.mode) ? path : dir,
                     &out->fs, err) != ETX_OK)
        return ETX_ERR;
    if (!out->file.exists)
        return ETX_OK;
    check_mount_point(out, dir, base);
    if (!held->exists)
        return ETX_OK;
    id = etx_fileinfo_id(held);
    return etx_holders_scan(&id, 1, ETX_HOLDERS_ALL, &out->holders, err);
}

void
etx_facts_target_free(struct etx_facts_target *t)
{
    if (t != NULL)
        etx_holders_free(&t->holders);
}

/* The first line of a small file, without its newline; errno or 0. */
static int
read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    int e = 0;

    buf[0] = '\0';
    if (f == NULL)
        return errno;
    if (fgets(buf, (int)len, f) == NULL)
        e = ferror(f) ? EIO : 0;
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return e;
}

int
etx_facts_host(struct etx_facts_host *out, struct etx_error *err)
{
    struct utsname u;
    int e = 0;

    memset(out, 0, sizeof(*out));
    if (uname(&u) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "uname", NULL,
                             "cannot read the kernel's names");
    snprintf(out->hostname, sizeof(out->hostname), "%s", u.nodename);
    snprintf(out->kernel, sizeof(out->kernel), "%s", u.release);
    snprintf(out->arch, sizeof(out->arch), "%s", u.machine);
    e = read_line("/proc/sys/kernel/random/boot_id", out->boot_id,
                  sizeof(out->boot_id));
    if (e != 0)
        return etx_error_sys(err, e, ETX_CTX_FILE, "read",
                             "/proc/sys/kernel/random/boot_id",
                             "cannot read the boot id");
    e = read_line("/etc/machine-id", out->machine_id, sizeof(out->machine_id));
    if (e != 0 && e != ENOENT)
        return etx_error_sys(err, e, ETX_CTX_FILE, "read", "/etc/machine-id",
                             "cannot read the machine id");
    return ETX_OK;
}

/* A JSON string of any bytes: non-UTF-8 text has its high bytes as '?'. */
json_t *
etx_facts__text(const char *s)
{
    json_t *j = json_string(s);
    char *copy = NULL;
    size_t i = 0;

    if (j != NULL)
        return j;
    copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (i = 0; copy[i] != '\0'; i++)
        if ((unsigned char)copy[i] >= 0x80)
            copy[i] = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

json_t *
etx_facts__fs_to_json(const struct etx_facts_fs *fs)
{
    return json_pack(
        "{s:o, s:I, s:b, s:b, s:I, s:o, s:o, s:o, s:I, s:I}", "type",
        etx_facts__text(fs->type), "magic", (json_int_t)fs->magic, "network",
        (int)fs->is_network, "read_only", (int)fs->read_only, "mount_id",
        (json_int_t)fs->mount_id, "mount_source",
        etx_facts__text(fs->mount_source), "mount_point",
        etx_facts__text(fs->mount_point), "mount_options",
        etx_facts__text(fs->mount_options), "free_bytes",
        (json_int_t)fs->free_bytes, "free_inodes", (json_int_t)fs->free_inodes);
}

static const char *
file_type(mode_t mode)
{
    if (S_ISREG(mode))
        return "file";
    if (S_ISLNK(mode))
        return "symlink";
    if (S_ISDIR(mode))
        return "directory";
    return "other";
}

static json_t *
file_to_json(const struct etx_fileinfo *fi)
{
    char dev[32];
    char mode[8];

    if (!fi->exists)
        return json_pack("{s:b}", "exists", 0);
    snprintf(dev, sizeof(dev), "%u:%u", major(fi->dev), minor(fi->dev));
    snprintf(mode, sizeof(mode), "%04o", (unsigned)(fi->mode & 07777));
    return json_pack("{s:b, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:s}", "exists",
                     1, "type", file_type(fi->mode), "dev", dev, "ino",
                     (json_int_t)fi->ino, "mode", mode, "uid",
                     (json_int_t)fi->uid, "gid", (json_int_t)fi->gid, "size",
                     (json_int_t)fi->size, "sha256", fi->sha256);
}

json_t *
etx_facts_target_to_json(const struct etx_facts_target *t)
{
    bool link = t->file.exists && S_ISLNK(t->file.mode);

    return json_pack(
        "{s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "path", etx_facts__text(t->path),
        "file", file_to_json(&t->file), "link",
        link ? etx_facts__text(t->link_text) : json_null(), "resolved",
        link ? file_to_json(&t->resolved) : json_null(), "is_mount_point",
        (int)t->is_mount_point, "fs", etx_facts__fs_to_json(&t->fs), "holders",
        etx_holders_to_json(&t->holders));
}

json_t *
etx_facts_host_to_json(const struct etx_facts_host *h)
{
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o}", "hostname", etx_facts__text(h->hostname),
        "machine_id", etx_facts__text(h->machine_id), "boot_id",
        etx_facts__text(h->boot_id), "kernel", etx_facts__text(h->kernel),
        "arch", etx_facts__text(h->arch));
}

json_t *
etx_facts_to_json(const struct etx_facts_host *host,
                  const struct etx_facts_etxtbsy *probe,
                  const struct etx_facts_target *targets, size_t n_targets)
{
    json_t *list = json_array();
    json_t *o = NULL;
    size_t i = 0;

    for (i = 0; list != NULL && i < n_targets; i++) {
        if (json_array_append_new(list,
                                  etx_facts_target_to_json(&targets[i])) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    o = json_pack("{s:o, s:o}", "host", etx_facts_host_to_json(host), "targets",
                  list);
    if (o != NULL && probe != NULL &&
        json_object_set_new(o, "etxtbsy", etx_facts_etxtbsy_to_json(probe)) !=
            0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}
