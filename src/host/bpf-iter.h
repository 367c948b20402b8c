/* bpf-iter.h - what the loaders of ephport's BPF programs share
 * (bpf-iter.c): the kernel-BTF check every CO-RE program needs, the
 * sentence for a failure, and, for iterators (sticky-bpf.c, bound-bpf.c, ehash-bpf.c),
 * attaching one and reading its fixed-size records.  Internal to
 * libephport-host; only built with BPF. */
#ifndef EP_HOST_BPF_ITER_H
#define EP_HOST_BPF_ITER_H

#include <stdbool.h>
#include <stddef.h>

/* 0 when /sys/kernel/btf/vmlinux is readable; else -ENOTSUP (a kernel
 * without CONFIG_DEBUG_INFO_BTF) or -EACCES, with why filled. */
int ep_bpf_btf_check(char *why, size_t len);

/* Whether this process's effective capabilities allow loading ephport's
 * programs: CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON (/proc/self/status;
 * false when unreadable). */
bool ep_bpf_privileged(void);

/* err (negative) with why filled: without the privilege, for -EPERM and
 * -EACCES, the privilege needed; with it, what the kernel's refusal means
 * (-EPERM: lockdown or a security module; -EACCES: the verifier rejected
 * the program); else "what: strerror". */
int ep_bpf_fail(int err, char *why, size_t len, const char *what);

/* Attach the loaded iterator program prog_fd and create an iterator:
 * the iterator's fd (read it, close it) and *link (close it after), or
 * -errno with why saying which step failed ("attaching WHAT", "creating
 * WHAT"). */
int ep_bpf_iter_start(int prog_fd, const char *what, int *link, char *why, size_t len);

/* Read an iterator to its end in records of rec bytes, calling fn for each
 * (a non-zero return stops and is returned).  -EPROTO when the output ends
 * inside a record; -errno for a failed read; -ENOMEM. */
int ep_bpf_iter_read(int fd, size_t rec, int (*fn)(const void *rec, void *arg), void *arg);

#endif
