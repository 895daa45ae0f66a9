/* A scratch directory for the agent's tests that write files: made before a test (or a group of
 * tests) and removed with all it holds after it, as cmocka fixtures. The including file defines
 * _POSIX_C_SOURCE 200809L (mkdtemp) and names the directory with SCRATCH_NAME before it
 * includes this header. */
#ifndef TS_AGENT_TEST_SCRATCH_H
#define TS_AGENT_TEST_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>

#ifndef SCRATCH_NAME
#error "define SCRATCH_NAME (a word in the directory's name) before including scratch.h"
#endif

/** The directory, valid from scratch_setup() to scratch_teardown(). */
static char dir[64];

static int scratch_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ts-agent-" SCRATCH_NAME "-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

/* A test may leave a directory without write or search permission: restored before removal. */
static int scratch_teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' && rm -rf '%s'", dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
