/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 with an external pre-shared key on OpenSSL 3 memory BIOs. The
 * session that carries the key is built on demand in the PSK callbacks:
 * SSL_SESSION_new() with the key as its master key, TLS_AES_128_GCM_SHA256
 * (its SHA-256 is the PSK's hash) and TLS 1.3 as its version. The client
 * also refuses any certificate (SSL_VERIFY_PEER with no trust anchors), and
 * both sides check that the key was really used, so a peer that ignores the
 * PSK cannot complete a handshake.
 */
#include "proto/tls.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "proto/psk.h"

#define CIPHER_SUITE "TLS_AES_128_GCM_SHA256"

struct etx_tls {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio; /* ciphertext from the peer; owned by ssl */
    BIO *wbio; /* ciphertext for the peer; owned by ssl */
    bool established;
    bool failed;
    struct etx_error why; /* the handshake failure, once failed */
    unsigned char key[ETX_PSK_LEN];
};

/* OpenSSL's first queued error as text; the queue is emptied. */
static void
ossl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();

    if (e == 0)
        snprintf(buf, len, "no reason given by OpenSSL");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
}

static SSL_SESSION *
make_session(const struct etx_tls *t, SSL *ssl)
{
    static const unsigned char aes128gcm_sha256[2] = {0x13, 0x01};
    const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);
    SSL_SESSION *s = NULL;

    if (cipher == NULL)
        return NULL;
    s = SSL_SESSION_new();
    if (s == NULL ||
        SSL_SESSION_set1_master_key(s, t->key, sizeof(t->key)) != 1 ||
        SSL_SESSION_set_cipher(s, cipher) != 1 ||
        SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

/* Client: offer the fleet key under the fleet identity. */
static int
use_session_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
               size_t *idlen, SSL_SESSION **sess)
{
    const struct etx_tls *t = SSL_get_app_data(ssl);
    SSL_SESSION *s = make_session(t, ssl);
    const SSL_CIPHER *cipher = NULL;

    *sess = NULL;
    *id = NULL;
    *idlen = 0;
    if (s == NULL)
        return 0;
    cipher = SSL_SESSION_get0_cipher(s);
    /* After a HelloRetryRequest md is the chosen suite's hash. */
    if (md != NULL && EVP_MD_get_type(SSL_CIPHER_get_handshake_digest(
                          cipher)) != EVP_MD_get_type(md)) {
        SSL_SESSION_free(s);
        return 1;
    }
    *sess = s;
    *id = (const unsigned char *)ETX_PSK_IDENTITY;
    *idlen = strlen(ETX_PSK_IDENTITY);
    return 1;
}

/* Server: an unknown identity gets no key, and the handshake then fails. */
static int
find_session_cb(SSL *ssl, const unsigned char *identity, size_t len,
                SSL_SESSION **sess)
{
    const struct etx_tls *t = SSL_get_app_data(ssl);

    *sess = NULL;
    if (len != strlen(ETX_PSK_IDENTITY) ||
        memcmp(identity, ETX_PSK_IDENTITY, len) != 0)
        return 1;
    *sess = make_session(t, ssl);
    return *sess != NULL;
}

static SSL_CTX *
make_ctx(enum etx_tls_role role)
{
    SSL_CTX *ctx = SSL_CTX_new(role == ETX_TLS_CLIENT ? TLS_client_method()
                                                      : TLS_server_method());

    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, CIPHER_SUITE) != 1 ||
        SSL_CTX_set_num_tickets(ctx, 0) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (role == ETX_TLS_CLIENT)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    else
        SSL_CTX_set_psk_find_session_callback(ctx, find_session_cb);
    return ctx;
}

static int
make_ssl(struct etx_tls *t, enum etx_tls_role role)
{
    t->ssl = SSL_new(t->ctx);
    if (t->ssl == NULL)
        return ETX_ERR;
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        t->rbio = t->wbio = NULL;
        return ETX_ERR;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    /* An idle connection keeps no 16 KiB read and write buffers. */
    SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_set_app_data(t->ssl, t);
    if (role == ETX_TLS_CLIENT) {
        SSL_set_psk_use_session_callback(t->ssl, use_session_cb);
        SSL_set_connect_state(t->ssl);
    } else {
        SSL_set_accept_state(t->ssl);
    }
    return ETX_OK;
}

struct etx_tls *
etx_tls_new(enum etx_tls_role role, const struct etx_psk *psk,
            struct etx_error *err)
{
    struct etx_tls *t = calloc(1, sizeof(*t));
    char reason[256];

    if (t == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "tls", NULL,
                      "cannot set up TLS");
        return NULL;
    }
    memcpy(t->key, psk->key, sizeof(t->key));
    ERR_clear_error();
    t->ctx = make_ctx(role);
    if (t->ctx == NULL || make_ssl(t, role) != ETX_OK) {
        ossl_reason(reason, sizeof(reason));
        etx_error_set(err, ETX_CLASS_INTERNAL, 0, "tls", NULL,
                      "cannot set up TLS: %s", reason);
        etx_tls_free(t);
        return NULL;
    }
    return t;
}

void
etx_tls_free(struct etx_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    OPENSSL_cleanse(t->key, sizeof(t->key));
    free(t);
}

int
etx_tls_feed_ciphertext(struct etx_tls *t, const void *buf, size_t len,
                        struct etx_error *err)
{
    if (len == 0)
        return ETX_OK;
    if (len > INT_MAX || BIO_write(t->rbio, buf, (int)len) != (int)len) {
        ERR_clear_error();
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "tls", NULL,
                             "cannot buffer %zu bytes from the peer", len);
    }
    return ETX_OK;
}

static int
handshake_failed(struct etx_tls *t, const char *reason, struct etx_error *err)
{
    t->failed = true;
    etx_error_set(&t->why, ETX_CLASS_INPUT, 0, "tls", NULL,
                  ETX_TLS_HANDSHAKE_FAILED " (%s)", reason);
    if (err != NULL)
        *err = t->why;
    return ETX_ERR;
}

int
etx_tls_handshake(struct etx_tls *t, struct etx_error *err)
{
    char reason[256];
    int r;

    if (t->failed) {
        if (err != NULL)
            *err = t->why;
        return ETX_ERR;
    }
    if (t->established)
        return ETX_OK;
    ERR_clear_error();
    r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        if (!SSL_session_reused(t->ssl))
            return handshake_failed(t, "the peer did not use the key", err);
        t->established = true;
        return ETX_OK;
    }
    r = SSL_get_error(t->ssl, r);
    if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE)
        return ETX_AGAIN;
    ossl_reason(reason, sizeof(reason));
    return handshake_failed(t, reason, err);
}

bool
etx_tls_is_established(const struct etx_tls *t)
{
    return t->established && !t->failed;
}

int
etx_tls_read_plaintext(struct etx_tls *t, void *buf, size_t cap, size_t *got,
                       struct etx_error *err)
{
    char reason[256];
    int r;

    *got = 0;
    if (!etx_tls_is_established(t))
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "tls", NULL,
                             "read before the TLS handshake completed");
    ERR_clear_error();
    if (SSL_read_ex(t->ssl, buf, cap, got) == 1)
        return ETX_OK;
    r = SSL_get_error(t->ssl, 0);
    if (r == SSL_ERROR_WANT_READ)
        return ETX_AGAIN;
    if (r == SSL_ERROR_ZERO_RETURN)
        return etx_error_set(err, ETX_CLASS_TRANSIENT, 0, "eof", NULL,
                             "the peer ended the TLS session");
    ossl_reason(reason, sizeof(reason));
    return etx_error_set(err, ETX_CLASS_INPUT, 0, "tls", NULL,
                         "TLS record layer failed (%s)", reason);
}

int
etx_tls_write_plaintext(struct etx_tls *t, const void *buf, size_t len,
                        struct etx_error *err)
{
    char reason[256];
    size_t done = 0;

    if (!etx_tls_is_established(t))
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "tls", NULL,
                             "write before the TLS handshake completed");
    if (len == 0)
        return ETX_OK;
    ERR_clear_error();
    if (SSL_write_ex(t->ssl, buf, len, &done) == 1 && done == len)
        return ETX_OK;
    ossl_reason(reason, sizeof(reason));
    return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "tls", NULL,
                         "cannot encrypt %zu bytes (%s)", len, reason);
}

void
etx_tls_close_notify(struct etx_tls *t)
{
    if (!etx_tls_is_established(t))
        return;
    ERR_clear_error();
    /* 0 means "sent ours, the peer's not seen yet": all we want. */
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
}

size_t
etx_tls_pending_ciphertext(const struct etx_tls *t)
{
    return BIO_ctrl_pending(t->wbio);
}

int
etx_tls_take_ciphertext(struct etx_tls *t, uint8_t **out, size_t *len,
                        struct etx_error *err)
{
    size_t n = BIO_ctrl_pending(t->wbio);
    uint8_t *buf = NULL;

    *out = NULL;
    *len = 0;
    if (n == 0)
        return ETX_OK;
    buf = malloc(n);
    if (buf == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "tls", NULL,
                             "cannot take %zu bytes of ciphertext", n);
    if (n > INT_MAX || BIO_read(t->wbio, buf, (int)n) != (int)n) {
        free(buf);
        ERR_clear_error();
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "tls", NULL,
                             "cannot take %zu bytes of ciphertext", n);
    }
    *out = buf;
    *len = n;
    return ETX_OK;
}
