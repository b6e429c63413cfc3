/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the journal reader: replay and fold of arbitrary bytes must give
 * records or a clean error, never a crash, a leak or an overflow.
 */
#include <stddef.h>
#include <stdint.h>

#include "coordinator/journal.h"
#include "coordinator/rollsum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count(const json_t *rec, size_t line, void *arg, struct etx_error *err)
{
    size_t *n = arg;

    (void)rec;
    (void)line;
    (void)err;
    (*n)++;
    return ETX_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct etx_journal_replay_info info;
    struct etx_rollsum s;
    struct etx_error err = {0};
    const char *buf = (const char *)data;
    size_t n = 0;

    if (etx_journal_replay_buf(buf, size, "fuzz", count, &n, &info, &err) ==
            ETX_OK &&
        n != info.records)
        __builtin_trap();
    if (etx_rollsum_fold_buf(buf, size, "fuzz", &s, &err) == ETX_OK)
        etx_rollsum_clear(&s);
    return 0;
}
