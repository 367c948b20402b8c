/* trace-ringbuf.c - reading a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) from
 * its mapped pages, without libbpf: the library stays free of it, as
 * sticky-bpf.c is (the light skeletons load programs with plain bpf()).
 *
 * The kernel's layout (kernel/bpf/ringbuf.c): page 0 is the consumer
 * position, the only page userspace may write; page 1 the producer
 * position; then the data pages, mapped twice in a row so a record that
 * wraps reads as one piece.  Each record starts with an 8-byte header: a
 * 32-bit length whose top bit says "still being written" (busy) and the
 * next "discarded", then the payload, rounded up to 8 bytes.  The producer
 * position is read with acquire order before a header, and the consumer
 * position is published with release order after each record, so a record
 * is read only when committed and its space reused only when read. */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "trace-internal.h"

#define EP_RB_BUSY (1U << 31)
#define EP_RB_DISCARD (1U << 30)
#define EP_RB_HDR 8

int ep_ringbuf_open(ep_ringbuf *rb, int map_fd, size_t size)
{
    void *p;

    assert(size && (size & (size - 1)) == 0);
    memset(rb, 0, sizeof *rb);
    rb->fd = map_fd;
    rb->size = size;
    rb->page = (size_t)sysconf(_SC_PAGESIZE);
    p = mmap(NULL, rb->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    rb->consumer = p;
    rb->prod_len = rb->page + 2 * size;
    p = mmap(NULL, rb->prod_len, PROT_READ, MAP_SHARED, map_fd, (off_t)rb->page);
    if (p == MAP_FAILED) {
        int e = -errno;
        munmap(rb->consumer, rb->page);
        rb->consumer = NULL;
        return e;
    }
    rb->prod_map = p;
    rb->producer = p;
    rb->data = (const unsigned char *)p + rb->page;
    return 0;
}

int ep_ringbuf_consume(ep_ringbuf *rb, int (*fn)(const void *rec, size_t len, void *arg),
                       void *arg)
{
    unsigned long cons = __atomic_load_n(rb->consumer, __ATOMIC_ACQUIRE);
    int n = 0;

    for (;;) {
        unsigned long prod = __atomic_load_n(rb->producer, __ATOMIC_ACQUIRE);
        if (cons >= prod)
            break;
        while (cons < prod) {
            const unsigned char *hdr = rb->data + (cons & (rb->size - 1));
            uint32_t len = __atomic_load_n((const uint32_t *)hdr, __ATOMIC_ACQUIRE);
            int rc = 0;

            if (len & EP_RB_BUSY)
                return n; /* the next record is still being written */
            cons += ((len & ~(EP_RB_BUSY | EP_RB_DISCARD)) + EP_RB_HDR + 7) & ~7UL;
            if (!(len & EP_RB_DISCARD)) {
                rc = fn(hdr + EP_RB_HDR, len & ~(EP_RB_BUSY | EP_RB_DISCARD), arg);
                n++;
            }
            __atomic_store_n(rb->consumer, cons, __ATOMIC_RELEASE);
            if (rc)
                return rc;
        }
    }
    return n;
}

void ep_ringbuf_close(ep_ringbuf *rb)
{
    if (rb->prod_map)
        munmap(rb->prod_map, rb->prod_len);
    if (rb->consumer)
        munmap(rb->consumer, rb->page);
    memset(rb, 0, sizeof *rb);
    rb->fd = -1;
}
