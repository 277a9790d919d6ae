/* Block storage (slab_impl.h). A region starts with its own record, then each block follows a
 * header of one cache line that names the region; the region's count of live blocks frees it.
 * The record lives in the region rather than in an allocation of its own: a leak checker does
 * not follow pointers in the poisoned headers, so only the region's memory may hold it. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "context_impl.h"
#include "sanitizer_impl.h"
#include "slab_impl.h"

enum { LINE = 64 };

typedef union region {
    struct {
        size_t total;
        int64_t live;
    } r;
    char pad[LINE];
} region;

/* One cache line, so that blocks stay 64-byte aligned. */
typedef union header {
    struct {
        region *r;
        size_t bytes;
    } h;
    char pad[LINE];
} header;

static size_t lines(size_t bytes) {
    return (bytes + LINE - 1) / LINE * LINE;
}

bool tsr__slab_alloc(int64_t n, const size_t *bytes, double **out) {
    size_t total = sizeof(region);
    int64_t count = 0;
    bool fits = true;
    for (int64_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (!bytes[i])
            continue;
        fits = fits && bytes[i] <= SIZE_MAX / 4 && total <= SIZE_MAX / 4;
        total += sizeof(header) + lines(bytes[i]);
        count++;
    }
    if (!count)
        return true;
    region *r = fits ? tsr__aligned_malloc(total) : NULL;
    if (!r)
        return false;
    r->r.total = total;
    r->r.live = count;
    char *at = (char *)r + sizeof *r;
    for (int64_t i = 0; i < n; i++) {
        if (!bytes[i])
            continue;
        header *h = (header *)at;
        h->h.r = r;
        h->h.bytes = bytes[i];
        TSR_POISON(h, sizeof *h);
        out[i] = (double *)(at + sizeof *h);
        TSR_POISON((char *)out[i] + bytes[i], lines(bytes[i]) - bytes[i]);
        at += sizeof *h + lines(bytes[i]);
    }
    return true;
}

void tsr__slab_free(double *block) {
    if (!block)
        return;
    header *h = (header *)((char *)block - sizeof(header));
    TSR_UNPOISON(h, sizeof *h);
    region *r = h->h.r;
    size_t bytes = h->h.bytes;
    if (--r->r.live == 0) {
        TSR_UNPOISON(r, r->r.total);
        free(r);
        return;
    }
    TSR_POISON(h, sizeof *h);
    TSR_POISON(block, bytes);
    /* The block's whole pages go back now; the pages it shares with live blocks stay. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)block + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)block + bytes) / page * page;
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
