/* SPDX-License-Identifier: MIT */
/* SHA-256 through OpenSSL's EVP interface, in bounded chunks. */
#include "proto/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define CHUNK (256 * 1024)

struct etx_digest {
    EVP_MD_CTX *ctx;
};

struct etx_digest *
etx_digest_new(void)
{
    struct etx_digest *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->ctx = EVP_MD_CTX_new();
    if (d->ctx == NULL || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
        etx_digest_free(d);
        return NULL;
    }
    return d;
}

void
etx_digest_free(struct etx_digest *d)
{
    if (d == NULL)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

void
etx_digest_update(struct etx_digest *d, const void *buf, size_t len)
{
    EVP_DigestUpdate(d->ctx, buf, len);
}

void
etx_digest_final(struct etx_digest *d, char hex[ETX_DIGEST_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_DigestFinal_ex(d->ctx, md, &n);
    for (i = 0; i < n && i * 2 < ETX_DIGEST_HEX_LEN; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }
    hex[ETX_DIGEST_HEX_LEN] = '\0';
}

int
etx_digest_fd(int fd, char hex[ETX_DIGEST_HEX_LEN + 1], uint64_t *size,
              struct etx_error *err)
{
    struct etx_digest *d = NULL;
    unsigned char *buf = NULL;
    uint64_t total = 0;
    ssize_t n;
    int rc = ETX_ERR;

    d = etx_digest_new();
    buf = malloc(CHUNK);
    if (d == NULL || buf == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "digest", NULL, "allocate");
        goto out;
    }
    for (;;) {
        n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            etx_error_sys(err, errno, ETX_CTX_FILE, "read", NULL,
                          "cannot read for the digest");
            goto out;
        }
        if (n == 0)
            break;
        etx_digest_update(d, buf, (size_t)n);
        total += (uint64_t)n;
    }
    etx_digest_final(d, hex);
    if (size != NULL)
        *size = total;
    rc = ETX_OK;
out:
    free(buf);
    etx_digest_free(d);
    return rc;
}

int
etx_digest_file(const char *path, char hex[ETX_DIGEST_HEX_LEN + 1],
                uint64_t *size, struct etx_error *err)
{
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", path,
                             "cannot open for the digest");
    rc = etx_digest_fd(fd, hex, size, err);
    if (rc != ETX_OK && err != NULL)
        snprintf(err->where, sizeof(err->where), "%s", path);
    close(fd);
    return rc;
}

bool
etx_digest_is_hex(const char *s)
{
    size_t i;

    for (i = 0; i < ETX_DIGEST_HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[ETX_DIGEST_HEX_LEN] == '\0';
}
