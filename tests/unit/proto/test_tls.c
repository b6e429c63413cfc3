/* SPDX-License-Identifier: MIT */
/*
 * TLS with the fleet key, two endpoints in memory with the ciphertext pumped
 * between them: handshake and plaintext both ways, a wrong key (both sides
 * fail and say why), bytes that are not TLS, a stock TLS client without the
 * key, a stock TLS server with a certificate, and close_notify.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "proto/psk.h"
#include "proto/tls.h"

static void
fill_key(struct etx_psk *psk, unsigned char seed)
{
    size_t i;

    for (i = 0; i < ETX_PSK_LEN; i++)
        psk->key[i] = (unsigned char)(seed + 7 * i);
}

/* Move all pending ciphertext from one side to the other. */
static size_t
move(struct etx_tls *from, struct etx_tls *to)
{
    struct etx_error err = {0};
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(etx_tls_take_ciphertext(from, &buf, &len, &err), ETX_OK);
    if (len > 0)
        assert_int_equal(etx_tls_feed_ciphertext(to, buf, len, &err), ETX_OK);
    free(buf);
    return len;
}

struct pair {
    struct etx_tls *c, *s;
    int rc_c, rc_s;
    struct etx_error err_c, err_s;
};

static void
handshake(struct pair *p)
{
    size_t moved;
    int round;

    for (round = 0; round < 20; round++) {
        p->rc_c = etx_tls_handshake(p->c, &p->err_c);
        moved = move(p->c, p->s);
        p->rc_s = etx_tls_handshake(p->s, &p->err_s);
        moved += move(p->s, p->c);
        if (moved == 0)
            break;
    }
    p->rc_c = etx_tls_handshake(p->c, &p->err_c);
}

static void
make_pair(struct pair *p, unsigned char seed_c, unsigned char seed_s)
{
    struct etx_psk kc, ks;
    struct etx_error err = {0};

    memset(p, 0, sizeof(*p));
    fill_key(&kc, seed_c);
    fill_key(&ks, seed_s);
    p->c = etx_tls_new(ETX_TLS_CLIENT, &kc, &err);
    assert_non_null(p->c);
    p->s = etx_tls_new(ETX_TLS_SERVER, &ks, &err);
    assert_non_null(p->s);
    etx_psk_clear(&kc);
    etx_psk_clear(&ks);
    handshake(p);
}

static void
free_pair(struct pair *p)
{
    etx_tls_free(p->c);
    etx_tls_free(p->s);
}

/* Send len bytes from one side and read them all on the other. */
static void
transfer(struct etx_tls *from, struct etx_tls *to, size_t len)
{
    struct etx_error err = {0};
    uint8_t *out = malloc(len), *in = malloc(len);
    size_t i, got = 0, n;

    assert_non_null(out);
    assert_non_null(in);
    for (i = 0; i < len; i++)
        out[i] = (uint8_t)(i * 31 + 5);
    assert_int_equal(etx_tls_write_plaintext(from, out, len, &err), ETX_OK);
    assert_true(etx_tls_pending_ciphertext(from) > len);
    move(from, to);
    while (got < len) {
        assert_int_equal(
            etx_tls_read_plaintext(to, in + got, len - got, &n, &err), ETX_OK);
        got += n;
    }
    assert_memory_equal(in, out, len);
    assert_int_equal(etx_tls_read_plaintext(to, in, len, &n, &err), ETX_AGAIN);
    free(out);
    free(in);
}

static void
test_etx_tls_handshake_ok(void **state)
{
    struct pair p;

    (void)state;
    make_pair(&p, 1, 1);
    assert_int_equal(p.rc_c, ETX_OK);
    assert_int_equal(p.rc_s, ETX_OK);
    assert_true(etx_tls_is_established(p.c));
    assert_true(etx_tls_is_established(p.s));
    transfer(p.c, p.s, 100);
    transfer(p.s, p.c, 1);
    transfer(p.s, p.c, 300 * 1024);
    transfer(p.c, p.s, 300 * 1024);
    free_pair(&p);
}

static void
expect_failed(int rc, const struct etx_error *err)
{
    assert_int_equal(rc, ETX_ERR);
    assert_int_equal(err->cls, ETX_CLASS_INPUT);
    assert_memory_equal(err->msg, ETX_TLS_HANDSHAKE_FAILED,
                        strlen(ETX_TLS_HANDSHAKE_FAILED));
    /* OpenSSL's reason follows in parentheses. */
    assert_non_null(strstr(err->msg, " (error:"));
}

static void
test_etx_tls_handshake_wrong_key(void **state)
{
    struct etx_error err = {0};
    struct pair p;
    char buf[16];
    size_t n;

    (void)state;
    make_pair(&p, 1, 2);
    expect_failed(p.rc_s, &p.err_s);
    expect_failed(p.rc_c, &p.err_c);
    print_message("server: %s\nclient: %s\n", p.err_s.msg, p.err_c.msg);
    assert_false(etx_tls_is_established(p.c));
    assert_false(etx_tls_is_established(p.s));
    /* A failure is final. */
    assert_int_equal(etx_tls_handshake(p.s, &err), ETX_ERR);
    assert_string_equal(err.msg, p.err_s.msg);
    assert_int_equal(etx_tls_write_plaintext(p.c, "x", 1, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTERNAL);
    assert_int_equal(etx_tls_read_plaintext(p.s, buf, sizeof(buf), &n, &err),
                     ETX_ERR);
    free_pair(&p);
}

static void
expect_server_refuses(const void *bytes, size_t len)
{
    struct etx_error err = {0};
    struct etx_psk k;
    struct etx_tls *s = NULL;
    uint8_t *alert = NULL;
    size_t alert_len = 0;

    fill_key(&k, 1);
    s = etx_tls_new(ETX_TLS_SERVER, &k, &err);
    assert_non_null(s);
    assert_int_equal(etx_tls_feed_ciphertext(s, bytes, len, &err), ETX_OK);
    expect_failed(etx_tls_handshake(s, &err), &err);
    print_message("server: %s\n", err.msg);
    assert_int_equal(etx_tls_take_ciphertext(s, &alert, &alert_len, &err),
                     ETX_OK);
    free(alert);
    etx_tls_free(s);
}

static void
test_etx_tls_handshake_hostile(void **state)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    uint8_t junk[600];
    size_t i;

    (void)state;
    expect_server_refuses(http, sizeof(http) - 1);
    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 131 + 17);
    expect_server_refuses(junk, sizeof(junk));
    /* A plausible record header announcing a huge handshake record. */
    junk[0] = 0x16;
    junk[1] = 0x03;
    junk[2] = 0x01;
    junk[3] = 0xff;
    junk[4] = 0xff;
    expect_server_refuses(junk, sizeof(junk));
}

/* A stock OpenSSL TLS 1.3 endpoint over memory BIOs, driven by hand. */
struct stock {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
};

static void
stock_init(struct stock *st, SSL_CTX *ctx, int server)
{
    st->ctx = ctx;
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), 1);
    st->ssl = SSL_new(ctx);
    st->in = BIO_new(BIO_s_mem());
    st->out = BIO_new(BIO_s_mem());
    SSL_set_bio(st->ssl, st->in, st->out);
    if (server)
        SSL_set_accept_state(st->ssl);
    else
        SSL_set_connect_state(st->ssl);
}

static void
stock_free(struct stock *st)
{
    SSL_free(st->ssl);
    SSL_CTX_free(st->ctx);
}

/* Pump between a stock endpoint and ours until nothing moves. */
static int
stock_pump(struct stock *st, struct etx_tls *t, struct etx_error *err)
{
    uint8_t buf[16384];
    uint8_t *ours = NULL;
    size_t len = 0;
    int n, rc = ETX_AGAIN, round;

    for (round = 0; round < 20; round++) {
        SSL_do_handshake(st->ssl);
        n = BIO_read(st->out, buf, sizeof(buf));
        if (n > 0)
            etx_tls_feed_ciphertext(t, buf, (size_t)n, err);
        rc = etx_tls_handshake(t, err);
        assert_int_equal(etx_tls_take_ciphertext(t, &ours, &len, err), ETX_OK);
        if (len > 0)
            BIO_write(st->in, ours, (int)len);
        free(ours);
        if (n <= 0 && len == 0)
            break;
    }
    return rc;
}

static void
test_etx_tls_handshake_stock_client(void **state)
{
    struct etx_error err = {0};
    struct stock st;
    struct etx_psk k;
    struct etx_tls *s = NULL;

    (void)state;
    fill_key(&k, 1);
    s = etx_tls_new(ETX_TLS_SERVER, &k, &err);
    assert_non_null(s);
    stock_init(&st, SSL_CTX_new(TLS_client_method()), 0);
    expect_failed(stock_pump(&st, s, &err), &err);
    print_message("server: %s\n", err.msg);
    assert_int_equal(SSL_is_init_finished(st.ssl), 0);
    stock_free(&st);
    etx_tls_free(s);
}

static void
self_signed(SSL_CTX *ctx)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = NULL;

    assert_non_null(pkey);
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"impostor", -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, pkey), 1);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

/* A server that ignores the key and shows a certificate is refused. */
static void
test_etx_tls_handshake_stock_server(void **state)
{
    struct etx_error err = {0};
    struct stock st;
    struct etx_psk k;
    struct etx_tls *c = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    (void)state;
    fill_key(&k, 1);
    c = etx_tls_new(ETX_TLS_CLIENT, &k, &err);
    assert_non_null(c);
    self_signed(ctx);
    stock_init(&st, ctx, 1);
    assert_int_equal(etx_tls_handshake(c, &err), ETX_AGAIN);
    expect_failed(stock_pump(&st, c, &err), &err);
    print_message("client: %s\n", err.msg);
    assert_false(etx_tls_is_established(c));
    stock_free(&st);
    etx_tls_free(c);
}

static void
test_etx_tls_read_plaintext_eof(void **state)
{
    struct etx_error err = {0};
    struct pair p;
    char buf[16];
    size_t n = 99;

    (void)state;
    make_pair(&p, 3, 3);
    assert_int_equal(p.rc_c, ETX_OK);
    transfer(p.c, p.s, 10);
    etx_tls_close_notify(p.c);
    assert_true(move(p.c, p.s) > 0);
    assert_int_equal(etx_tls_read_plaintext(p.s, buf, sizeof(buf), &n, &err),
                     ETX_ERR);
    assert_int_equal(n, 0);
    assert_string_equal(err.op, "eof");
    assert_int_equal(err.cls, ETX_CLASS_TRANSIENT);
    free_pair(&p);
}

static void
test_etx_tls_write_plaintext_early(void **state)
{
    struct etx_error err = {0};
    struct etx_psk k;
    struct etx_tls *c = NULL;
    uint8_t *hello = NULL;
    size_t len = 0;

    (void)state;
    fill_key(&k, 1);
    c = etx_tls_new(ETX_TLS_CLIENT, &k, &err);
    assert_non_null(c);
    assert_int_equal(etx_tls_take_ciphertext(c, &hello, &len, &err), ETX_OK);
    assert_null(hello);
    assert_int_equal(etx_tls_write_plaintext(c, "x", 1, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTERNAL);
    assert_int_equal(etx_tls_handshake(c, &err), ETX_AGAIN);
    assert_int_equal(etx_tls_take_ciphertext(c, &hello, &len, &err), ETX_OK);
    assert_non_null(hello);
    assert_true(len > 5);
    assert_int_equal(hello[0], 0x16); /* a handshake record */
    /* The ClientHello names the identity, never the key. */
    assert_non_null(
        memmem(hello, len, ETX_PSK_IDENTITY, strlen(ETX_PSK_IDENTITY)));
    assert_null(memmem(hello, len, k.key, ETX_PSK_LEN));
    free(hello);
    etx_tls_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etx_tls_handshake_ok),
        cmocka_unit_test(test_etx_tls_handshake_wrong_key),
        cmocka_unit_test(test_etx_tls_handshake_hostile),
        cmocka_unit_test(test_etx_tls_handshake_stock_client),
        cmocka_unit_test(test_etx_tls_handshake_stock_server),
        cmocka_unit_test(test_etx_tls_read_plaintext_eof),
        cmocka_unit_test(test_etx_tls_write_plaintext_early),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
