/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the agent config loader: any bytes, loaded as a
 * config held in memory, must give ETX_OK or ETX_ERR with a filled error,
 * never a crash, a leak or a hang.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct etx_agent_config *cfg = NULL;
    struct etx_error err = {0};

    if (etx_agent_config_load_buffer("fuzz.yml", (const char *)data, size, &cfg,
                                     &err) == ETX_OK) {
        if (cfg == NULL || cfg->n_roots == 0)
            abort();
        etx_agent_config_free(cfg);
    } else if (cfg != NULL || err.cls != ETX_CLASS_INPUT || err.msg[0] == 0) {
        abort(); /* a failure must leave no config and say why */
    }
    return 0;
}
