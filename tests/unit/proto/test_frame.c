/* SPDX-License-Identifier: MIT */
/*
 * Frames: round trip, truncated, oversize (refused from the header alone),
 * exact limit, empty, garbage, no body, and the stream reader fed byte by
 * byte and several frames at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/frame.h"

static uint8_t *
encode_hello(uint64_t id, size_t *len)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;
    struct etx_error err = {0};
    uint8_t *buf = NULL;

    hello.protocol_version = ETX_PROTO_VERSION;
    hello.software_version = "etxroll test";
    env.id = id;
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    assert_int_equal(etx_frame_encode(&env, &buf, len, &err), ETX_OK);
    return buf;
}

static void
test_etx_frame_decode_ok(void **state)
{
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    size_t len, used;
    uint8_t *buf = encode_hello(7, &len);

    (void)state;
    assert_int_equal(etx_frame_decode(buf, len, &used, &env, &err), ETX_OK);
    assert_int_equal(used, len);
    assert_int_equal(env->id, 7);
    assert_int_equal(env->body_case, ETXROLL__ENVELOPE__BODY_HELLO);
    assert_int_equal(env->hello->protocol_version, ETX_PROTO_VERSION);
    assert_string_equal(env->hello->software_version, "etxroll test");
    etx_frame_free(env);
    free(buf);
}

static void
test_etx_frame_decode_truncated(void **state)
{
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    size_t len, used = 99, i;
    uint8_t *buf = encode_hello(1, &len);

    (void)state;
    for (i = 0; i < len; i++) {
        assert_int_equal(etx_frame_decode(buf, i, &used, &env, &err),
                         ETX_AGAIN);
        assert_int_equal(used, 0);
        assert_null(env);
    }
    free(buf);
}

static void
test_etx_frame_decode_oversize(void **state)
{
    const uint8_t header[4] = {0x00, 0x10, 0x00, 0x01}; /* 1 MiB + 1 */
    const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    size_t used;

    (void)state;
    /* Four bytes are enough to refuse: nothing waits for the body. */
    assert_int_equal(etx_frame_decode(header, 4, &used, &env, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_non_null(strstr(err.msg, "exceeds the limit"));
    assert_int_equal(etx_frame_decode(huge, 4, &used, &env, &err), ETX_ERR);
}

static void
test_etx_frame_decode_exact(void **state)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__StageChunk chunk = ETXROLL__STAGE_CHUNK__INIT;
    Etxroll__Envelope *back = NULL;
    struct etx_error err = {0};
    uint8_t *buf = NULL;
    size_t len, used;

    (void)state;
    env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_CHUNK;
    env.stage_chunk = &chunk;
    chunk.data.data = calloc(1, ETX_FRAME_MAX);
    /* The largest body that fits: varint lengths make some sizes
     * unreachable, so walk down from the limit. */
    chunk.data.len = ETX_FRAME_MAX;
    while (etxroll__envelope__get_packed_size(&env) > ETX_FRAME_MAX)
        chunk.data.len--;
    assert_true(etxroll__envelope__get_packed_size(&env) >=
                ETX_FRAME_MAX - 4);
    assert_int_equal(etx_frame_encode(&env, &buf, &len, &err), ETX_OK);
    assert_int_equal(etx_frame_decode(buf, len, &used, &back, &err), ETX_OK);
    assert_int_equal(back->stage_chunk->data.len, chunk.data.len);
    etx_frame_free(back);
    free(buf);
    chunk.data.len++;
    assert_int_equal(etx_frame_encode(&env, &buf, &len, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTERNAL);
    assert_null(buf);
    free(chunk.data.data);
}

static void
test_etx_frame_decode_hostile(void **state)
{
    const uint8_t empty[4] = {0, 0, 0, 0};
    const uint8_t garbage[8] = {0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff};
    const uint8_t no_body[6] = {0, 0, 0, 2, 0x08, 0x05}; /* id = 5 only */
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    size_t used;

    (void)state;
    assert_int_equal(etx_frame_decode(empty, 4, &used, &env, &err), ETX_ERR);
    assert_non_null(strstr(err.msg, "empty frame"));
    assert_int_equal(etx_frame_decode(garbage, 8, &used, &env, &err), ETX_ERR);
    assert_non_null(strstr(err.msg, "not a valid envelope"));
    assert_int_equal(etx_frame_decode(no_body, 6, &used, &env, &err),
                     ETX_ERR);
    assert_non_null(strstr(err.msg, "envelope 5 carries no message"));
    assert_null(env);
}

/* Found by fuzz_conn_server: the id was read after the envelope was freed. */
static void
test_etx_frame_decode_no_body_with_fields(void **state)
{
    /* "AAAABggBMgIIAQ==": id 1 and an unknown field 6, no body. */
    const uint8_t frame[10] = {0, 0, 0, 6, 0x08, 0x01, 0x32, 0x02, 0x08, 0x01};
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    size_t used;

    (void)state;
    assert_int_equal(etx_frame_decode(frame, 10, &used, &env, &err), ETX_ERR);
    assert_non_null(strstr(err.msg, "envelope 1 carries no message"));
}

static void
test_etx_frame_reader_empty(void **state)
{
    struct etx_frame_reader *r = etx_frame_reader_new();
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(etx_frame_reader_next(r, &env, &err), ETX_AGAIN);
    assert_int_equal(etx_frame_reader_pending(r), 0);
    etx_frame_reader_free(r);
}

static void
test_etx_frame_reader_byte_by_byte(void **state)
{
    struct etx_frame_reader *r = etx_frame_reader_new();
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    size_t len, i, got = 0;
    uint8_t *buf = encode_hello(3, &len);

    (void)state;
    for (i = 0; i < len; i++) {
        assert_int_equal(etx_frame_reader_feed(r, buf + i, 1, &err), ETX_OK);
        if (etx_frame_reader_next(r, &env, &err) == ETX_OK) {
            assert_int_equal(env->id, 3);
            etx_frame_free(env);
            got++;
        }
    }
    assert_int_equal(got, 1);
    assert_int_equal(etx_frame_reader_pending(r), 0);
    etx_frame_reader_free(r);
    free(buf);
}

static void
test_etx_frame_reader_many_frames_one_feed(void **state)
{
    struct etx_frame_reader *r = etx_frame_reader_new();
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    uint8_t stream[4096];
    size_t len, at = 0, k;
    uint8_t *one;

    (void)state;
    for (k = 1; k <= 10; k++) {
        one = encode_hello(k, &len);
        memcpy(stream + at, one, len);
        at += len;
        free(one);
    }
    assert_int_equal(etx_frame_reader_feed(r, stream, at - 3, &err), ETX_OK);
    for (k = 1; k <= 9; k++) {
        assert_int_equal(etx_frame_reader_next(r, &env, &err), ETX_OK);
        assert_int_equal(env->id, k);
        etx_frame_free(env);
    }
    assert_int_equal(etx_frame_reader_next(r, &env, &err), ETX_AGAIN);
    assert_int_equal(etx_frame_reader_feed(r, stream + at - 3, 3, &err),
                     ETX_OK);
    assert_int_equal(etx_frame_reader_next(r, &env, &err), ETX_OK);
    assert_int_equal(env->id, 10);
    etx_frame_free(env);
    etx_frame_reader_free(r);
}

static void
test_etx_frame_reader_oversize_stays_bad(void **state)
{
    struct etx_frame_reader *r = etx_frame_reader_new();
    const uint8_t header[4] = {0x7f, 0, 0, 0};
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    size_t len;
    uint8_t *good = encode_hello(1, &len);

    (void)state;
    assert_int_equal(etx_frame_reader_feed(r, header, 2, &err), ETX_OK);
    assert_int_equal(etx_frame_reader_feed(r, header + 2, 2, &err), ETX_ERR);
    assert_non_null(strstr(err.msg, "exceeds the limit"));
    memset(&err, 0, sizeof(err));
    assert_int_equal(etx_frame_reader_feed(r, good, len, &err), ETX_ERR);
    assert_non_null(strstr(err.msg, "exceeds the limit"));
    assert_int_equal(etx_frame_reader_next(r, &env, &err), ETX_ERR);
    etx_frame_reader_free(r);
    free(good);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etx_frame_decode_ok),
        cmocka_unit_test(test_etx_frame_decode_truncated),
        cmocka_unit_test(test_etx_frame_decode_oversize),
        cmocka_unit_test(test_etx_frame_decode_exact),
        cmocka_unit_test(test_etx_frame_decode_hostile),
        cmocka_unit_test(test_etx_frame_decode_no_body_with_fields),
        cmocka_unit_test(test_etx_frame_reader_empty),
        cmocka_unit_test(test_etx_frame_reader_byte_by_byte),
        cmocka_unit_test(test_etx_frame_reader_many_frames_one_feed),
        cmocka_unit_test(test_etx_frame_reader_oversize_stays_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
