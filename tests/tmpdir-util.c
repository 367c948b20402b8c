/* tmpdir-util.c - see tmpdir-util.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpdir-util.h"

char ep_test_dir[64];

int ep_test_dir_make(void **state)
{
    (void)state;
    snprintf(ep_test_dir, sizeof ep_test_dir, "/tmp/ep-test-XXXXXX");
    return mkdtemp(ep_test_dir) ? 0 : -1;
}

int ep_test_dir_remove(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ep_test_dir);
    return system(cmd) == 0 ? 0 : -1;
}
