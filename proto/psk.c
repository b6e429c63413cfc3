/* SPDX-License-Identifier: MIT */
/*
 * The fleet key file: generated from getrandom(), published atomically, and
 * loaded only from a private regular file of exactly one hex line. Key bytes
 * and their hex form are wiped from every buffer that held them.
 */
#define _GNU_SOURCE
#include "proto/psk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

static const char hex_digits[] = "0123456789abcdef";

static int
random_bytes(void *buf, size_t len, const char *path, struct etx_error *err)
{
    size_t done = 0;
    ssize_t n;

    while (done < len) {
        n = getrandom((char *)buf + done, len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return etx_error_sys(err, errno, ETX_CTX_FILE, "getrandom", path,
                                 "cannot get random bytes for a key");
        done += (size_t)n;
    }
    return ETX_OK;
}

static void
to_hex(const unsigned char *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0xf];
    }
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* dir gets the directory part of path ("." when it has none). */
static int
split_path(const char *path, char *dir, size_t dirlen, const char **base,
           struct etx_error *err)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    *base = slash != NULL ? slash + 1 : path;
    if (**base == '\0' || strlen(path) >= dirlen - 32)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "keygen", path,
                             "not a usable key file name");
    if (slash == NULL) {
        snprintf(dir, dirlen, ".");
        return ETX_OK;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    return ETX_OK;
}

static int
temp_name(const char *dir, const char *base, char *tmp, size_t len,
          struct etx_error *err)
{
    unsigned char r[8];
    char suffix[2 * sizeof(r) + 1];

    if (random_bytes(r, sizeof(r), dir, err) != ETX_OK)
        return ETX_ERR;
    to_hex(r, sizeof(r), suffix);
    suffix[sizeof(suffix) - 1] = '\0';
    if (snprintf(tmp, len, "%s/.%s.etxroll.%s", dir, base, suffix) >=
        (int)len)
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "keygen", dir,
                             "cannot name a temporary file here");
    return ETX_OK;
}

static int
write_all(int fd, const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write line to a new private file at tmp and fsync it. */
static int
write_temp(const char *tmp, const char *line, size_t len, struct etx_error *err)
{
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = ETX_ERR;

    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", tmp,
                             "cannot create a temporary key file");
    /* The umask may have taken bits away; it cannot have added any. */
    if (fchmod(fd, 0600) != 0 || write_all(fd, line, len) != 0 ||
        fsync(fd) != 0) {
        etx_error_sys(err, errno, ETX_CTX_FILE, "write", tmp,
                      "cannot write the key file");
        goto out;
    }
    rc = ETX_OK;
out:
    if (close(fd) != 0 && rc == ETX_OK)
        rc = etx_error_sys(err, errno, ETX_CTX_FILE, "close", tmp,
                           "cannot write the key file");
    return rc;
}

/* Put tmp in place at path; link() refuses an existing path atomically. */
static int
publish(const char *tmp, const char *path, bool force, struct etx_error *err)
{
    if (force) {
        if (rename(tmp, path) != 0)
            return etx_error_sys(err, errno, ETX_CTX_RENAME, "rename", path,
                                 "cannot put the key file in place");
        return ETX_OK;
    }
    if (link(tmp, path) != 0) {
        if (errno == EEXIST)
            return etx_error_set(err, ETX_CLASS_INPUT, EEXIST, "keygen", path,
                                 "a key file already exists; refusing to "
                                 "replace it; etxroll keygen --force "
                                 "replaces it");
        return etx_error_sys(err, errno, ETX_CTX_RENAME, "link", path,
                             "cannot put the key file in place");
    }
    if (unlink(tmp) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "unlink", tmp,
                             "cannot remove the temporary key file");
    return ETX_OK;
}

static int
sync_dir(const char *dir, struct etx_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = ETX_OK;

    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", dir,
                             "cannot open the key file's directory");
    if (fsync(fd) != 0)
        rc = etx_error_sys(err, errno, ETX_CTX_FILE, "fsync", dir,
                           "cannot sync the key file's directory");
    close(fd);
    return rc;
}

int
etx_psk_generate(const char *path, bool force, struct etx_error *err)
{
    unsigned char key[ETX_PSK_LEN];
    char line[ETX_PSK_HEX_LEN + 1];
    char dir[PATH_MAX], tmp[PATH_MAX];
    const char *base = NULL;
    bool made = false;
    int rc = ETX_ERR;

    if (split_path(path, dir, sizeof(dir), &base, err) != ETX_OK ||
        temp_name(dir, base, tmp, sizeof(tmp), err) != ETX_OK ||
        random_bytes(key, sizeof(key), path, err) != ETX_OK)
        goto out;
    to_hex(key, sizeof(key), line);
    line[ETX_PSK_HEX_LEN] = '\n';
    if (write_temp(tmp, line, sizeof(line), err) != ETX_OK)
        goto out;
    made = true;
    if (publish(tmp, path, force, err) != ETX_OK)
        goto out;
    made = false;
    rc = sync_dir(dir, err);
out:
    if (made)
        unlink(tmp);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(line, sizeof(line));
    return rc;
}

static int
open_error(const char *path, int e, struct etx_error *err)
{
    if (e == ELOOP)
        return etx_error_set(err, ETX_CLASS_INPUT, e, "key", path,
                             "the key file is a symbolic link; name the "
                             "file itself");
    return etx_error_set(err, ETX_CLASS_INPUT, e, "key", path,
                         "cannot open the key file: %s", strerror(e));
}

static int
check_file(int fd, const char *path, struct etx_error *err)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return etx_error_set(err, ETX_CLASS_INPUT, errno, "key", path,
                             "cannot stat the key file: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "key", path,
                             "the key file is not a regular file");
    if ((st.st_mode & 077) != 0)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "key", path,
                             "the key file may be read or written by group "
                             "or others (mode %04o); run: chmod 600 %s",
                             (unsigned)(st.st_mode & 07777), path);
    return ETX_OK;
}

/* Read up to len bytes (fewer only at end of file). */
static ssize_t
read_upto(int fd, char *buf, size_t len)
{
    size_t done = 0;
    ssize_t n;

    while (done < len) {
        n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int
parse_line(const char *buf, ssize_t n, struct etx_psk *key, const char *path,
           struct etx_error *err)
{
    int hi, lo;
    size_t i;

    if (n != ETX_PSK_HEX_LEN + 1 || buf[ETX_PSK_HEX_LEN] != '\n')
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "key", path,
                             "the key file must hold exactly one line of %d "
                             "lower-case hex characters",
                             ETX_PSK_HEX_LEN);
    for (i = 0; i < ETX_PSK_LEN; i++) {
        hi = hex_value(buf[2 * i]);
        lo = hex_value(buf[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return etx_error_set(err, ETX_CLASS_INPUT, 0, "key", path,
                                 "the key file holds a character that is "
                                 "not lower-case hex");
        key->key[i] = (unsigned char)(hi << 4 | lo);
    }
    return ETX_OK;
}

int
etx_psk_load(const char *path, struct etx_psk *out, struct etx_error *err)
{
    char buf[ETX_PSK_HEX_LEN + 2];
    struct etx_psk key;
    ssize_t n;
    int fd, rc = ETX_ERR;

    /* O_NONBLOCK: a FIFO in the key's place must not hang the open. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return open_error(path, errno, err);
    if (check_file(fd, path, err) != ETX_OK)
        goto out;
    n = read_upto(fd, buf, sizeof(buf));
    if (n < 0) {
        etx_error_set(err, ETX_CLASS_INPUT, errno, "key", path,
                      "cannot read the key file: %s", strerror(errno));
        goto out;
    }
    if (parse_line(buf, n, &key, path, err) != ETX_OK)
        goto out;
    *out = key;
    rc = ETX_OK;
out:
    close(fd);
    OPENSSL_cleanse(buf, sizeof(buf));
    OPENSSL_cleanse(&key, sizeof(key));
    return rc;
}

void
etx_psk_clear(struct etx_psk *psk)
{
    if (psk != NULL)
        OPENSSL_cleanse(psk, sizeof(*psk));
}
