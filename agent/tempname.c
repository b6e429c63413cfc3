/* SPDX-License-Identifier: MIT */
/* Temp and kept-previous names of the replacement engine. */
#define _GNU_SOURCE
#include "agent/tempname.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "proto/digest.h"

#define KEEP_BYTES 200 /* of a name too long to be embedded whole */
#define HASH_CHARS 16

/*
 * Write the part of 'name' that goes between the leading '.' and the
 * suffix: the name itself when ".<name><suffix>" fits NAME_MAX, else its
 * first KEEP_BYTES bytes, '~' and HASH_CHARS hex of its SHA-256.
 */
static int
embed(const char *name, size_t suffix_len, char *out, size_t out_len,
      struct etx_error *err)
{
    char hex[ETX_DIGEST_HEX_LEN + 1];
    struct etx_digest *d = NULL;
    size_t len = strlen(name);

    if (len == 0 || len > NAME_MAX || strchr(name, '/') != NULL ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return etx_error_set(err, ETX_CLASS_INPUT, EINVAL, "tempname", name,
                             "not a valid file name");
    if (1 + len + suffix_len <= NAME_MAX) {
        snprintf(out, out_len, "%s", name);
        return ETX_OK;
    }
    d = etx_digest_new();
    if (d == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "tempname", name,
                             "cannot hash a long name");
    etx_digest_update(d, name, len);
    etx_digest_final(d, hex);
    etx_digest_free(d);
    snprintf(out, out_len, "%.*s~%.*s", KEEP_BYTES, name, HASH_CHARS, hex);
    return ETX_OK;
}

/* embed() keeps every result within NAME_MAX; say so if that ever breaks. */
static int
fit(int n, const char *name, struct etx_error *err)
{
    if (n < 0 || n > NAME_MAX)
        return etx_error_set(err, ETX_CLASS_INTERNAL, ENAMETOOLONG, "tempname",
                             name, "a derived name is too long");
    return ETX_OK;
}

int
etx_tempname_make(const char *name, char out[NAME_MAX + 1],
                  struct etx_error *err)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char rnd[ETX_TEMPNAME_RAND_LEN / 2];
    char base[NAME_MAX + 1];
    char suffix[ETX_TEMPNAME_RAND_LEN + 1];
    size_t i;
    ssize_t n;

    if (embed(name, strlen(ETX_TEMPNAME_MARK) + ETX_TEMPNAME_RAND_LEN, base,
              sizeof(base), err) != ETX_OK)
        return ETX_ERR;
    do {
        n = getrandom(rnd, sizeof(rnd), 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(rnd))
        return etx_error_sys(err, n < 0 ? errno : EIO, ETX_CTX_FILE,
                             "getrandom", name, "no random bytes for a temp");
    for (i = 0; i < sizeof(rnd); i++) {
        suffix[2 * i] = digits[rnd[i] >> 4];
        suffix[2 * i + 1] = digits[rnd[i] & 0xf];
    }
    suffix[ETX_TEMPNAME_RAND_LEN] = '\0';
    return fit(
        snprintf(out, NAME_MAX + 1, ".%s%s%s", base, ETX_TEMPNAME_MARK, suffix),
        name, err);
}

int
etx_tempname_aside(const char *name, const char *suffix, char out[NAME_MAX + 1],
                   struct etx_error *err)
{
    char base[NAME_MAX + 1];

    if (embed(name, strlen(suffix), base, sizeof(base), err) != ETX_OK)
        return ETX_ERR;
    return fit(snprintf(out, NAME_MAX + 1, ".%s%s", base, suffix), name, err);
}

int
etx_tempname_prev(const char *name, char out[NAME_MAX + 1],
                  struct etx_error *err)
{
    return etx_tempname_aside(name, ETX_TEMPNAME_PREV, out, err);
}

bool
etx_tempname_is_temp(const char *entry)
{
    size_t len = strlen(entry);
    size_t mark = strlen(ETX_TEMPNAME_MARK);
    const char *p = NULL;
    size_t i;

    if (entry[0] != '.' || len < 2 + mark + ETX_TEMPNAME_RAND_LEN)
        return false;
    p = entry + len - ETX_TEMPNAME_RAND_LEN - mark;
    if (memcmp(p, ETX_TEMPNAME_MARK, mark) != 0)
        return false;
    for (i = 0, p += mark; i < ETX_TEMPNAME_RAND_LEN; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}
