/* SPDX-License-Identifier: MIT */
/*
 * Tests of agent/untar: real tarballs written with libarchive's writer (so
 * hostile entries can be crafted) into a memfd, unpacked into
 * <tmp>/release, then checked on disk; nothing may appear next to
 * "release". Also etx_untar_remove_tree() on real trees, tmpfs mounts
 * included (skipped when mount(2) is not allowed).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/untar.h"

#define HARD 0u /* tent.type of a hard link; data is its target */

struct fx {
    char outer[64]; /* mkdtemp dir holding "release" (and "mnt") */
    char mnt[96];   /* outer/mnt, a tmpfs in some tests */
    int outerfd;
    int dest; /* outer/release */
};

/* One entry to write: data is the content, or the link's target. */
struct tent {
    const char *path;
    unsigned type;
    unsigned mode;
    const char *data;
    size_t size; /* file size; 0: strlen(data) */
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->outer, sizeof(f->outer), "/tmp/etx-untar-XXXXXX");
    assert_non_null(mkdtemp(f->outer));
    snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->outer);
    f->outerfd = open(f->outer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->outerfd >= 0);
    assert_int_equal(mkdirat(f->outerfd, "release", 0755), 0);
    f->dest = openat(f->outerfd, "release",
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    assert_true(f->dest >= 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    struct etx_error err = {0};

    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    umount2(f->mnt, MNT_DETACH);
    close(f->dest);
    close(f->outerfd);
    assert_int_equal(etx_untar_remove_tree(tmp, f->outer + 5, &err), ETX_OK);
    close(tmp);
    free(f);
    return 0;
}

static void
write_entry(struct archive *a, const struct tent *t)
{
    struct archive_entry *e = archive_entry_new();
    size_t size = t->size;

    assert_non_null(e);
    archive_entry_set_pathname(e, t->path);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (t->type == HARD) {
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, t->data);
        size = 0;
    } else {
        archive_entry_set_filetype(e, t->type);
        archive_entry_set_perm(e, t->mode);
    }
    if (t->type == AE_IFLNK)
        archive_entry_set_symlink(e, t->data);
    if (t->type == AE_IFREG && size == 0 && t->data != NULL)
        size = strlen(t->data);
    if (t->type != AE_IFREG)
        size = 0;
    archive_entry_set_size(e, (la_int64_t)size);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    if (size > 0)
        assert_int_equal(archive_write_data(a, t->data, size),
                         (la_ssize_t)size);
    archive_entry_free(e);
}

/*
 * A pax tar of 'n' entries in a memfd at offset 0, through 'filter'
 * (NULL: none). Returns -2 when this libarchive cannot write 'filter'.
 */
static int
make_tar(const struct tent *t, size_t n, const char *filter)
{
    struct archive *a = archive_write_new();
    int fd = memfd_create("tar", MFD_CLOEXEC);
    size_t i;

    assert_non_null(a);
    assert_true(fd >= 0);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (filter != NULL &&
        archive_write_add_filter_by_name(a, filter) != ARCHIVE_OK) {
        archive_write_free(a);
        close(fd);
        return -2;
    }
    assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
    for (i = 0; i < n; i++)
        write_entry(a, &t[i]);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static int
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* Unpack t[0..n) into f->dest; checks that no descriptor leaked. */
static int
untar(struct fx *f, const struct tent *t, size_t n,
      const struct etx_untar_opts *o, struct etx_untar_stats *st,
      struct etx_error *err)
{
    int fd = make_tar(t, n, NULL);
    int before = count_fds(), rc;

    rc = etx_untar_fd(fd, f->dest, o, st, err);
    assert_int_equal(count_fds(), before);
    close(fd);
    return rc;
}

static size_t
count_entries(int dirfd, const char *path)
{
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *de = NULL;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Nothing but "release" next to the destination. */
static void
assert_outside_clean(struct fx *f)
{
    struct stat st;

    assert_int_equal(count_entries(f->outerfd, "."), 1);
    assert_int_equal(fstatat(f->outerfd, "release", &st, AT_SYMLINK_NOFOLLOW),
                     0);
    assert_true(S_ISDIR(st.st_mode));
}

static void
assert_refused(const struct etx_error *err, const char *where)
{
    assert_int_equal(err->cls, ETX_CLASS_INPUT);
    assert_string_equal(err->op, "untar");
    assert_string_equal(err->where, where);
    assert_true(strlen(err->msg) > 0);
}

/* Unpack one or more hostile entries: refused at 'where', outside clean. */
static void
refuse(struct fx *f, const struct tent *t, size_t n, const char *where)
{
    struct etx_error err = {0};

    assert_int_equal(untar(f, t, n, NULL, NULL, &err), ETX_ERR);
    assert_refused(&err, where);
    assert_outside_clean(f);
}

static void
assert_file(int dirfd, const char *path, const char *data, mode_t mode)
{
    char buf[4096];
    struct stat st;
    int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n;

    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf));
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    assert_int_equal(n, (ssize_t)strlen(data));
    assert_memory_equal(buf, data, strlen(data));
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
    assert_int_equal(st.st_mtime, 1700000000);
}

static void
assert_link(int dirfd, const char *path, const char *target)
{
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dirfd, path, buf, sizeof(buf));

    assert_int_equal(n, (ssize_t)strlen(target));
    assert_memory_equal(buf, target, (size_t)n);
}

static void
assert_dir(int dirfd, const char *path, mode_t mode)
{
    struct stat st;

    assert_int_equal(fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
}

static void
test_etx_untar_fd_ok(void **state)
{
    static const struct tent t[] = {
        {"./", AE_IFDIR, 0755, NULL, 0},
        {"./bin/", AE_IFDIR, 0755, NULL, 0},
        {"./bin/app", AE_IFREG, 0755, "#!/bin/sh\necho v2\n", 0},
        {"lib", AE_IFDIR, 0750, NULL, 0},
        {"lib/libx.so.1", AE_IFREG, 0644, "\177ELF fake", 0},
        {"lib/libx.so", AE_IFLNK, 0777, "libx.so.1", 0},
        {"bin/tool", AE_IFLNK, 0777, "../lib/./libx.so.1", 0},
        {"share/doc/a/b/README", AE_IFREG, 0600, "read me\n", 0},
        {"share/doc/up", AE_IFLNK, 0777, "../..", 0},
        {"empty", AE_IFREG, 0644, "", 0},
    };
    struct fx *f = *state;
    struct etx_untar_stats st = {0};
    struct etx_error err = {0};

    assert_int_equal(untar(f, t, 10, NULL, &st, &err), ETX_OK);
    assert_file(f->dest, "bin/app", "#!/bin/sh\necho v2\n", 0755);
    assert_file(f->dest, "lib/libx.so.1", "\177ELF fake", 0644);
    assert_file(f->dest, "share/doc/a/b/README", "read me\n", 0600);
    assert_file(f->dest, "empty", "", 0644);
    assert_link(f->dest, "bin/tool", "../lib/./libx.so.1");
    assert_link(f->dest, "lib/libx.so", "libx.so.1");
    assert_link(f->dest, "share/doc/up", "../..");
    assert_dir(f->dest, "bin", 0755);
    assert_dir(f->dest, "lib", 0750);
    assert_dir(f->dest, "share/doc/a", 0755);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.files, 4);
    assert_int_equal(st.dirs, 6); /* bin lib share doc a b */
    assert_int_equal(st.symlinks, 3);
    assert_int_equal(st.bytes, 18 + 9 + 8);
    assert_outside_clean(f);
}

static void
test_etx_untar_fd_dotdot(void **state)
{
    static const struct tent t[] = {
        {"ok", AE_IFREG, 0644, "fine", 0},
        {"../evil", AE_IFREG, 0644, "evil", 0},
    };

    refuse(*state, t, 2, "../evil");
}

static void
test_etx_untar_fd_absolute(void **state)
{
    static const struct tent t[] = {{"/etc/x", AE_IFREG, 0644, "x", 0}};
    struct fx *f = *state;

    refuse(f, t, 1, "/etc/x");
    assert_int_equal(count_entries(f->dest, "."), 0);
}

static void
test_etx_untar_fd_inner_dotdot(void **state)
{
    static const struct tent t[] = {
        {"a/", AE_IFDIR, 0755, NULL, 0},
        {"a/../../x", AE_IFREG, 0644, "x", 0},
    };

    refuse(*state, t, 2, "a/../../x");
}

static void
test_etx_untar_fd_symlink_absolute(void **state)
{
    static const struct tent t[] = {{"link", AE_IFLNK, 0777, "/etc", 0}};
    struct fx *f = *state;

    refuse(f, t, 1, "link");
    assert_int_equal(count_entries(f->dest, "."), 0);
}

static void
test_etx_untar_fd_symlink_outside(void **state)
{
    static const struct tent t1[] = {
        {"sub/link", AE_IFLNK, 0777, "../../outside", 0},
    };
    static const struct tent t2[] = {
        {"link", AE_IFLNK, 0777, "..", 0},
    };

    refuse(*state, t1, 1, "sub/link");
    refuse(*state, t2, 1, "link");
}

/*
 * d/a/b is the root; d/c -> a/b/.. stays inside lexically (it names d/a)
 * but resolves above the root.
 */
static void
test_etx_untar_fd_symlink_dotdot_after_name(void **state)
{
    static const struct tent t[] = {
        {"d/a/b", AE_IFLNK, 0777, "../..", 0},
        {"d/c", AE_IFLNK, 0777, "a/b/..", 0},
    };
    struct fx *f = *state;

    refuse(f, t, 2, "d/c");
    assert_link(f->dest, "d/a/b", "../..");
}

static void
test_etx_untar_fd_through_symlink(void **state)
{
    static const struct tent t[] = {
        {"sub/", AE_IFDIR, 0755, NULL, 0},
        {"link", AE_IFLNK, 0777, "sub", 0},
        {"link/x", AE_IFREG, 0644, "through", 0},
    };
    static const struct tent t2[] = {
        {"file", AE_IFREG, 0644, "f", 0},
        {"file/x", AE_IFREG, 0644, "under a file", 0},
    };
    struct fx *f = *state;

    refuse(f, t, 3, "link/x");
    assert_int_equal(count_entries(f->dest, "sub"), 0);
    refuse(f, t2, 2, "file/x");
}

static void
test_etx_untar_fd_device(void **state)
{
    static const struct tent t[] = {{"dev", AE_IFCHR, 0666, NULL, 0}};
    static const struct tent t2[] = {{"blk", AE_IFBLK, 0666, NULL, 0}};
    struct fx *f = *state;

    refuse(f, t, 1, "dev");
    refuse(f, t2, 1, "blk");
    assert_int_equal(count_entries(f->dest, "."), 0);
}

static void
test_etx_untar_fd_fifo(void **state)
{
    static const struct tent t[] = {{"fifo", AE_IFIFO, 0644, NULL, 0}};
    struct fx *f = *state;

    refuse(f, t, 1, "fifo");
    assert_int_equal(count_entries(f->dest, "."), 0);
}

static void
test_etx_untar_fd_duplicate(void **state)
{
    static const struct tent t[] = {
        {"a", AE_IFREG, 0644, "first", 0},
        {"a", AE_IFREG, 0644, "second", 0},
    };
    static const struct tent t2[] = {
        {"d/", AE_IFDIR, 0755, NULL, 0},
        {"d", AE_IFLNK, 0777, "a", 0},
    };
    static const struct tent t3[] = {{"a/", AE_IFDIR, 0755, NULL, 0}};
    struct fx *f = *state;

    refuse(f, t, 2, "a");
    assert_file(f->dest, "a", "first", 0644);
    refuse(f, t2, 2, "d");
    refuse(f, t3, 1, "a/");
}

/* A directory entry for an existing directory only sets its mode. */
static void
test_etx_untar_fd_dir_again(void **state)
{
    static const struct tent t[] = {
        {"d/f", AE_IFREG, 0644, "f", 0},
        {"d/", AE_IFDIR, 0711, NULL, 0},
    };
    struct fx *f = *state;
    struct etx_error err = {0};

    assert_int_equal(untar(f, t, 2, NULL, NULL, &err), ETX_OK);
    assert_dir(f->dest, "d", 0711);
    assert_file(f->dest, "d/f", "f", 0644);
}

static void
test_etx_untar_fd_limit_entries(void **state)
{
    static const struct tent t[] = {
        {"1", AE_IFREG, 0644, "1", 0},
        {"2", AE_IFREG, 0644, "2", 0},
        {"3", AE_IFREG, 0644, "3", 0},
        {"4", AE_IFREG, 0644, "4", 0},
    };
    struct etx_untar_opts o = {.max_entries = 3};
    struct etx_untar_stats st = {0};
    struct etx_error err = {0};
    struct fx *f = *state;

    assert_int_equal(untar(f, t, 4, &o, &st, &err), ETX_ERR);
    assert_refused(&err, "4");
    assert_int_equal(st.files, 3);
    assert_int_equal(count_entries(f->dest, "."), 3);
}

static void
test_etx_untar_fd_limit_bytes(void **state)
{
    static const struct tent t[] = {
        {"a", AE_IFREG, 0644, "0123456789012345678901234567890123456789", 0},
        {"b", AE_IFREG, 0644, "0123456789012345678901234567890123456789", 0},
    };
    struct etx_untar_opts total = {.max_total_bytes = 60};
    struct etx_untar_opts one = {.max_entry_bytes = 39};
    struct etx_error err = {0};
    struct fx *f = *state;

    assert_int_equal(untar(f, t, 2, &total, NULL, &err), ETX_ERR);
    assert_refused(&err, "b");
    assert_int_equal(etx_untar_remove_tree(f->outerfd, "release", &err),
                     ETX_OK);
    assert_int_equal(mkdirat(f->outerfd, "release", 0755), 0);
    close(f->dest);
    f->dest = openat(f->outerfd, "release", O_RDONLY | O_DIRECTORY);
    assert_int_equal(untar(f, t, 2, &one, NULL, &err), ETX_ERR);
    assert_refused(&err, "a");
}

static void
test_etx_untar_fd_compressed(void **state)
{
    static const char *const names[] = {"gzip", "bzip2", "xz", "zstd"};
    static const struct tent t[] = {{"f", AE_IFREG, 0640, "packed", 0}};
    struct fx *f = *state;
    struct etx_error err = {0};
    char dir[16];
    int fd, dirfd;
    size_t i;

    for (i = 0; i < 4; i++) {
        fd = make_tar(t, 1, names[i]);
        if (fd == -2 && i == 0)
            fail_msg("libarchive cannot write gzip");
        if (fd == -2)
            continue;
        snprintf(dir, sizeof(dir), "r%zu", i);
        assert_int_equal(mkdirat(f->dest, dir, 0755), 0);
        dirfd = openat(f->dest, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(etx_untar_fd(fd, dirfd, NULL, NULL, &err), ETX_OK);
        assert_file(dirfd, "f", "packed", 0640);
        close(dirfd);
        close(fd);
    }
}

static void
test_etx_untar_fd_garbage(void **state)
{
    static const struct tent t[] = {
        {"big", AE_IFREG, 0644,
         "0123456789012345678901234567890123456789012345678901234567890", 0},
    };
    struct fx *f = *state;
    struct etx_error err = {0};
    char junk[3000], tar[4096];
    size_t i;
    ssize_t n;
    int fd;

    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 7919 % 251);
    assert_int_equal(
        etx_untar_buffer(junk, sizeof(junk), f->dest, NULL, NULL, &err),
        ETX_ERR);
    assert_refused(&err, "archive");
    assert_non_null(strstr(err.msg, "bad archive"));
    fd = make_tar(t, 1, NULL);
    n = read(fd, tar, sizeof(tar));
    close(fd);
    assert_true(n > 600);
    assert_int_equal(etx_untar_buffer(tar, 520, f->dest, NULL, NULL, &err),
                     ETX_ERR); /* cut inside the data of "big" */
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_outside_clean(f);
}

static void
test_etx_untar_fd_long_name(void **state)
{
    char name[251], longer[301];
    struct tent t[] = {{name, AE_IFREG, 0644, "long", 0}};
    struct tent t2[] = {{longer, AE_IFREG, 0644, "too long", 0}};
    struct fx *f = *state;
    struct etx_error err = {0};

    memset(name, 'n', 250);
    name[250] = '\0';
    memset(longer, 'l', 300);
    longer[300] = '\0';
    assert_int_equal(untar(f, t, 1, NULL, NULL, &err), ETX_OK);
    assert_file(f->dest, name, "long", 0644);
    refuse(f, t2, 1, longer);
}

static void
test_etx_untar_fd_utf8_name(void **state)
{
    static const struct tent t[] = {{"caf\xc3\xa9", AE_IFREG, 0644, "c", 0}};
    struct fx *f = *state;
    struct etx_error err = {0};

    int fd;

    /* Written as UTF-8 in a pax header, read in the "C" locale. */
    assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
    fd = make_tar(t, 1, NULL);
    assert_non_null(setlocale(LC_CTYPE, "C"));
    assert_int_equal(etx_untar_fd(fd, f->dest, NULL, NULL, &err), ETX_OK);
    close(fd);
    assert_file(f->dest, "caf\xc3\xa9", "c", 0644);
}

static void
test_etx_untar_fd_hardlink(void **state)
{
    static const struct tent t[] = {
        {"d/a", AE_IFREG, 0755, "shared", 0},
        {"b", HARD, 0, "d/a", 0},
    };
    static const struct tent bad1[] = {{"x", HARD, 0, "nothere", 0}};
    static const struct tent bad2[] = {
        {"s", AE_IFLNK, 0777, "b", 0},
        {"y", HARD, 0, "s", 0},
    };
    static const struct tent bad3[] = {{"z", HARD, 0, "../release/b", 0}};
    struct fx *f = *state;
    struct etx_untar_stats st = {0};
    struct etx_error err = {0};
    struct stat sa, sb;

    assert_int_equal(untar(f, t, 2, NULL, &st, &err), ETX_OK);
    assert_int_equal(fstatat(f->dest, "d/a", &sa, 0), 0);
    assert_int_equal(fstatat(f->dest, "b", &sb, 0), 0);
    assert_int_equal(sa.st_ino, sb.st_ino);
    assert_int_equal(st.hardlinks, 1);
    refuse(f, bad1, 1, "x");
    refuse(f, bad2, 2, "y");
    refuse(f, bad3, 1, "z");
}

static void
test_etx_untar_fd_setid(void **state)
{
    static const struct tent t[] = {{"su", AE_IFREG, 04755, "s", 0}};
    struct etx_untar_opts keep = {.keep_owner = true};
    struct fx *f = *state;
    struct etx_error err = {0};
    struct archive_entry *e = archive_entry_new();
    struct archive *a = archive_write_new();
    char buf[8192];
    size_t used = 0;
    struct stat st;

    assert_int_equal(untar(f, t, 1, NULL, NULL, &err), ETX_OK);
    assert_file(f->dest, "su", "s", 0755);
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_memory(a, buf, sizeof(buf), &used),
                     ARCHIVE_OK);
    archive_entry_set_pathname(e, "owned");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 06750);
    archive_entry_set_uid(e, 1234);
    archive_entry_set_gid(e, 5678);
    archive_entry_set_size(e, 1);
    archive_entry_set_mtime(e, 1700000000, 0);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, "o", 1), 1);
    archive_write_close(a);
    archive_write_free(a);
    archive_entry_free(e);
    assert_int_equal(etx_untar_buffer(buf, used, f->dest, &keep, NULL, &err),
                     ETX_OK);
    assert_file(f->dest, "owned", "o", 06750);
    assert_int_equal(fstatat(f->dest, "owned", &st, 0), 0);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 5678);
}

static void
test_etx_untar_fd_enospc(void **state)
{
    struct fx *f = *state;
    struct etx_error err = {0};
    size_t size = 1024 * 1024;
    char *data = malloc(size);
    struct tent t[] = {{"big", AE_IFREG, 0644, data, size}};
    int fd, dest;

    assert_non_null(data);
    memset(data, 'x', size);
    assert_int_equal(mkdirat(f->outerfd, "mnt", 0755), 0);
    if (mount("tmpfs", f->mnt, "tmpfs", 0, "size=256k") != 0) {
        free(data);
        skip();
    }
    assert_int_equal(mkdirat(f->outerfd, "mnt/release", 0755), 0);
    dest = openat(f->outerfd, "mnt/release", O_RDONLY | O_DIRECTORY);
    fd = make_tar(t, 1, NULL);
    assert_int_equal(etx_untar_fd(fd, dest, NULL, NULL, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(err.sys_errno, ENOSPC);
    assert_string_equal(err.where, "big");
    close(fd);
    close(dest);
    free(data);
    assert_int_equal(umount2(f->mnt, 0), 0);
}

static void
test_etx_untar_remove_tree_symlink_outside(void **state)
{
    static const struct tent t[] = {
        {"a/b/c/file", AE_IFREG, 0644, "in", 0},
        {"a/b/c/more", AE_IFREG, 0644, "in", 0},
        {"a/b/d", AE_IFDIR, 0755, NULL, 0},
        {"a/e", AE_IFDIR, 0555, NULL, 0},
        {"top", AE_IFREG, 0444, "t", 0},
    };
    struct fx *f = *state;
    struct etx_error err = {0};
    int before = count_fds();

    assert_int_equal(untar(f, t, 5, NULL, NULL, &err), ETX_OK);
    assert_int_equal(mkdirat(f->outerfd, "keep", 0755), 0);
    assert_int_equal(mknodat(f->outerfd, "keep/target", S_IFREG | 0644, 0), 0);
    assert_int_equal(symlinkat("../../keep", f->dest, "a/to_dir"), 0);
    assert_int_equal(symlinkat("../keep/target", f->dest, "to_file"), 0);
    assert_int_equal(etx_untar_remove_tree(f->outerfd, "release", &err),
                     ETX_OK);
    assert_int_equal(
        faccessat(f->outerfd, "release", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(faccessat(f->outerfd, "keep/target", F_OK, 0), 0);
    assert_int_equal(count_fds(), before);
    assert_int_equal(etx_untar_remove_tree(f->outerfd, "release", &err),
                     ETX_OK); /* missing: nothing to do */
    assert_int_equal(mkdirat(f->outerfd, "release", 0755), 0);
}

/* Deeper than the fd limit: descriptors must stay constant. */
static void
test_etx_untar_remove_tree_deep(void **state)
{
    struct fx *f = *state;
    struct etx_error err = {0};
    int cur = dup(f->dest), next, i;

    for (i = 0; i < 3000; i++) {
        assert_int_equal(mkdirat(cur, "d", 0755), 0);
        assert_int_equal(mknodat(cur, "f", S_IFREG | 0644, 0), 0);
        next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(next >= 0);
        close(cur);
        cur = next;
    }
    close(cur);
    assert_int_equal(etx_untar_remove_tree(f->outerfd, "release", &err),
                     ETX_OK);
    assert_int_equal(count_entries(f->outerfd, "."), 0);
    assert_int_equal(mkdirat(f->outerfd, "release", 0755), 0);
}

/* A set-id file hard-linked outside loses its set-id bits. */
static void
test_etx_untar_remove_tree_setid(void **state)
{
    struct fx *f = *state;
    struct etx_error err = {0};
    struct stat st;

    assert_int_equal(mkdirat(f->dest, "bin", 0755), 0);
    assert_int_equal(mknodat(f->dest, "bin/su", S_IFREG | 0644, 0), 0);
    assert_int_equal(fchmodat(f->dest, "bin/su", 04755, 0), 0);
    assert_int_equal(linkat(f->dest, "bin/su", f->outerfd, "kept", 0), 0);
    assert_int_equal(etx_untar_remove_tree(f->outerfd, "release", &err),
                     ETX_OK);
    assert_int_equal(fstatat(f->outerfd, "kept", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(mkdirat(f->outerfd, "release", 0755), 0);
}

static void
test_etx_untar_remove_tree_mount_point(void **state)
{
    struct fx *f = *state;
    struct etx_error err = {0};

    assert_int_equal(mkdirat(f->outerfd, "mnt", 0755), 0);
    if (mount("tmpfs", f->mnt, "tmpfs", 0, "size=64k") != 0)
        skip();
    assert_int_equal(mknodat(f->outerfd, "mnt/precious", S_IFREG | 0644, 0), 0);
    assert_int_equal(etx_untar_remove_tree(AT_FDCWD, f->mnt, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTERNAL); /* not one component */
    assert_int_equal(etx_untar_remove_tree(f->outerfd, "mnt", &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(err.sys_errno, EXDEV);
    assert_int_equal(faccessat(f->outerfd, "mnt/precious", F_OK, 0), 0);
    assert_int_equal(umount2(f->mnt, 0), 0);
    /* A mount deeper in the tree, beside a symlink to the outside. */
    assert_int_equal(mkdirat(f->dest, "sub", 0755), 0);
    assert_int_equal(symlinkat("../..", f->dest, "sub/up"), 0);
    assert_int_equal(mkdirat(f->dest, "sub/m", 0755), 0);
    snprintf(f->mnt, sizeof(f->mnt), "%s/release/sub/m", f->outer);
    assert_int_equal(mount("tmpfs", f->mnt, "tmpfs", 0, "size=64k"), 0);
    assert_int_equal(mknodat(f->dest, "sub/m/precious", S_IFREG | 0644, 0), 0);
    assert_int_equal(etx_untar_remove_tree(f->outerfd, "release", &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_int_equal(err.sys_errno, EXDEV);
    assert_string_equal(err.where, "release/sub");
    assert_int_equal(faccessat(f->dest, "sub/m/precious", F_OK, 0), 0);
    assert_int_equal(faccessat(f->outerfd, "mnt", F_OK, 0), 0);
    assert_int_equal(umount2(f->mnt, 0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_etx_untar_fd_ok),
        T(test_etx_untar_fd_dotdot),
        T(test_etx_untar_fd_absolute),
        T(test_etx_untar_fd_inner_dotdot),
        T(test_etx_untar_fd_symlink_absolute),
        T(test_etx_untar_fd_symlink_outside),
        T(test_etx_untar_fd_symlink_dotdot_after_name),
        T(test_etx_untar_fd_through_symlink),
        T(test_etx_untar_fd_device),
        T(test_etx_untar_fd_fifo),
        T(test_etx_untar_fd_duplicate),
        T(test_etx_untar_fd_dir_again),
        T(test_etx_untar_fd_limit_entries),
        T(test_etx_untar_fd_limit_bytes),
        T(test_etx_untar_fd_compressed),
        T(test_etx_untar_fd_garbage),
        T(test_etx_untar_fd_long_name),
        T(test_etx_untar_fd_utf8_name),
        T(test_etx_untar_fd_hardlink),
        T(test_etx_untar_fd_setid),
        T(test_etx_untar_fd_enospc),
        T(test_etx_untar_remove_tree_symlink_outside),
        T(test_etx_untar_remove_tree_deep),
        T(test_etx_untar_remove_tree_setid),
        T(test_etx_untar_remove_tree_mount_point),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
