/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the inventory loader: any bytes, loaded as an
 * inventory held in memory, must give ETX_OK or ETX_ERR with a filled
 * error, never a crash, a leak or a hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "coordinator/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    if (etx_inventory_load_buffer("fuzz.yml", (const char *)data, size, &inv,
                                  &err) == ETX_OK) {
        if (inv == NULL)
            abort();
        etx_inventory_free(inv);
    } else if (inv != NULL || err.cls != ETX_CLASS_INPUT || err.msg[0] == 0) {
        abort(); /* a failure must leave no model and say why */
    }
    return 0;
}
