/* SPDX-License-Identifier: MIT */
/*
 * The fleet's pre-shared key: 32 random bytes that authenticate the
 * coordinator and every agent to each other over TLS 1.3 (proto/tls.h). The
 * key file holds exactly one line of 64 lower-case hex characters and a
 * newline, mode 0600. These calls do blocking file I/O: they run at start-up
 * and in `etxroll keygen`, before any event loop runs.
 */
#ifndef ETX_PROTO_PSK_H
#define ETX_PROTO_PSK_H

#include <stdbool.h>

#include "proto/error.h"

#define ETX_PSK_LEN      32
#define ETX_PSK_HEX_LEN  (2 * ETX_PSK_LEN)
#define ETX_PSK_IDENTITY "etxroll-fleet" /* the TLS PSK identity */

/* Embedded by its owner; wipe it with etx_psk_clear() when done. */
struct etx_psk {
    unsigned char key[ETX_PSK_LEN];
};

/*
 * Write a new random key to 'path', atomically: a temporary file in the same
 * directory (O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600), fsync, then
 * rename over 'path' when 'force', or link to 'path' (which fails when it
 * exists) otherwise, then fsync of the directory. An existing 'path' without
 * 'force' is ETX_ERR with class ETX_CLASS_INPUT and sys_errno EEXIST.
 */
int etx_psk_generate(const char *path, bool force, struct etx_error *err);

/*
 * Read the key at 'path' into *out. Refused (ETX_ERR, class
 * ETX_CLASS_INPUT, where = path) when 'path' is a symbolic link or not a
 * regular file, when group or others may read or write it (the message says
 * "chmod 600 <path>"), or when it is not exactly 64 lower-case hex
 * characters and a newline. *out is written only on success. Messages never
 * contain key material.
 */
int etx_psk_load(const char *path, struct etx_psk *out, struct etx_error *err);

/* Overwrite the key bytes (OPENSSL_cleanse). NULL: no-op. */
void etx_psk_clear(struct etx_psk *psk);

#endif /* ETX_PROTO_PSK_H */
