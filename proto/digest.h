/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 digests in the one format both sides use: 64 lower-case hex
 * characters. Streaming (bounded memory) and whole-file helpers, on OpenSSL's
 * EVP interface.
 */
#ifndef ETX_PROTO_DIGEST_H
#define ETX_PROTO_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"

#define ETX_DIGEST_HEX_LEN 64

struct etx_digest; /* opaque streaming state */

/* A new streaming digest, or NULL on ENOMEM. Free with etx_digest_free(). */
struct etx_digest *etx_digest_new(void);
void etx_digest_free(struct etx_digest *d); /* NULL: no-op */
void etx_digest_update(struct etx_digest *d, const void *buf, size_t len);
/* Writes 64 hex chars and a NUL into hex; the digest can then be freed. */
void etx_digest_final(struct etx_digest *d, char hex[ETX_DIGEST_HEX_LEN + 1]);

/*
 * Digest everything readable from fd (from its current offset) in bounded
 * chunks; *size (if not NULL) gets the byte count. EINTR is restarted.
 */
int etx_digest_fd(int fd, char hex[ETX_DIGEST_HEX_LEN + 1], uint64_t *size,
                  struct etx_error *err);

/* Digest the file at path (opened O_RDONLY|O_CLOEXEC). */
int etx_digest_file(const char *path, char hex[ETX_DIGEST_HEX_LEN + 1],
                    uint64_t *size, struct etx_error *err);

/* True when s is exactly 64 lower-case hex characters. */
bool etx_digest_is_hex(const char *s);

#endif /* ETX_PROTO_DIGEST_H */
