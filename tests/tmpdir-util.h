/* tmpdir-util.h - a temporary folder per test program, made and removed by
 * cmocka group setup and teardown: what the NAT log tests share. */
#ifndef EP_TEST_TMPDIR_UTIL_H
#define EP_TEST_TMPDIR_UTIL_H

/* The folder (valid between the two calls below). */
extern char ep_test_dir[64];

/* cmocka group setup: mkdtemp under /tmp.  0 or -1. */
int ep_test_dir_make(void **state);
/* cmocka group teardown: rm -rf the folder.  0 or -1. */
int ep_test_dir_remove(void **state);

#endif
