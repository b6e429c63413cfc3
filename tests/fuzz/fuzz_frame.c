/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the frame decoder and the stream reader: any bytes, split at a point
 * the input chooses, must give frames or a clean error, never a crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
drain(struct etx_frame_reader *r)
{
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};

    while (etx_frame_reader_next(r, &env, &err) == ETX_OK)
        etx_frame_free(env);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct etx_frame_reader *r = NULL;
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    size_t used = 0, split;

    if (etx_frame_decode(data, size, &used, &env, &err) == ETX_OK)
        etx_frame_free(env);
    r = etx_frame_reader_new();
    if (r == NULL)
        return 0;
    split = size > 0 ? data[0] % (size + 1) : 0;
    if (etx_frame_reader_feed(r, data, split, &err) == ETX_OK)
        drain(r);
    if (etx_frame_reader_feed(r, data + split, size - split, &err) == ETX_OK)
        drain(r);
    etx_frame_reader_free(r);
    return 0;
}
