/* SPDX-License-Identifier: MIT */
/*
 * A tiny program whose version is compiled in (-DETX_PROG_VERSION=N): the
 * target the engine tests replace while it runs or is exec'ed in a loop.
 * Prints "etxroll-prog vN" and exits 0; with the argument "loop" it then
 * waits until killed (a running binary to replace).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef ETX_PROG_VERSION
#error "build with -DETX_PROG_VERSION=N"
#endif

int
main(int argc, char **argv)
{
    printf("etxroll-prog v%d\n", ETX_PROG_VERSION);
    if (fflush(stdout) != 0)
        return 1;
    if (argc > 1 && strcmp(argv[1], "loop") == 0)
        for (;;)
            pause();
    return 0;
}
