/* Point-to-point messaging for the farm and the pipeline: synchronous nonblocking sends whose
 * buffers the outbox owns, receives of any size, and quiescence (every rank stops sending, every
 * message sent is received, then all return), so that a run ends cleanly whether it finished
 * or was aborted half-way. */
#ifndef TESSERA_MSG_IMPL_H
#define TESSERA_MSG_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "context_impl.h"

/* Sends in progress on one communicator, in no particular order (a finished one is replaced by
 * the last). Progress tests a few of them in turn, not all: a coordinator with thousands of
 * sends to busy workers still in flight pays the same per message as with none. */
typedef struct tsr__outbox {
    tsr_ctx ctx;
    MPI_Comm comm;
    int n, cap;
    MPI_Request *reqs;
    void **bufs;
    int *idx;  /* scratch for MPI_Testsome */
    int front; /* where the next progress starts testing */
} tsr__outbox;

/* Sends tested per tsr__outbox_progress: enough to keep up with a few sends per message. */
#define TSR__OUTBOX_TESTS 4

/* A received message; buf is reused between receives and freed by tsr__msg_free. */
typedef struct tsr__msg {
    int source, tag;
    void *buf;
    size_t len, cap;
    /* tsr_wtime() when this rank started on the message: when the nonblocking receive that found
     * it began, or, after a blocking one, when the probe found it less the time the receive
     * spent before waiting; tsr_wtime() - arrived is the time spent on it, waiting left out. */
    double arrived;
} tsr__msg;

int tsr__outbox_init(tsr__outbox *ob, tsr_ctx ctx, MPI_Comm comm);
/* Frees the outbox; sends still in flight (only after an error) are cancelled and their buffers
 * left alone, since MPI may still read them. */
void tsr__outbox_free(tsr__outbox *ob);

/* Starts an MPI_Issend of a copy of `len` bytes of buf (NULL for an empty message) to `dest`.
 * The copy is freed when the send completes. Not collective. */
int tsr__outbox_send(tsr__outbox *ob, const void *buf, size_t len, int dest, int tag);
/* Like tsr__outbox_send but takes ownership of `buf` (from malloc), without a copy. */
int tsr__outbox_send_owned(tsr__outbox *ob, void *buf, size_t len, int dest, int tag);
/* Tests the next TSR__OUTBOX_TESTS sends in turn and frees the buffers of those that finished:
 * a bounded cost whatever the number in flight. When the arrays are full, every send is tested
 * before they grow, so memory stays within twice the sends really in flight and each send is
 * tested O(1) times on average. Not collective. */
int tsr__outbox_progress(tsr__outbox *ob);
/* Sends not yet matched by their receiver. */
static inline int tsr__outbox_pending(const tsr__outbox *ob) {
    return ob->n;
}

/* Receives the next message from anyone on the outbox's communicator into m. With `wait`,
 * blocks until one arrives (*got is then true); otherwise returns at once. Progresses the
 * outbox. Not collective. */
int tsr__msg_recv(tsr__outbox *ob, bool wait, tsr__msg *m, bool *got);
void tsr__msg_free(tsr__msg *m);

/* An idle rank's pause: polling MPI (or its children) in a busy loop would take a core from the
 * ranks it waits for on an oversubscribed node, so it sleeps, from min_us doubling up to max_us
 * while nothing happens; reset when something does. */
typedef struct tsr__backoff {
    long us, min_us, max_us;
} tsr__backoff;

static inline tsr__backoff tsr__backoff_make(long min_us, long max_us) {
    return (tsr__backoff){min_us, min_us, max_us};
}
static inline void tsr__backoff_reset(tsr__backoff *b) {
    b->us = b->min_us;
}
/* Sleeps the current pause, then doubles it (up to max_us). Not collective. */
void tsr__backoff_nap(tsr__backoff *b);

/* Ends a run on every rank: the caller sends nothing more; messages arriving meanwhile are
 * received and discarded, this rank's own sends are completed (so they were all received), then
 * a nonblocking barrier tells when every rank has done so. Collective over the outbox's
 * communicator. */
int tsr__quiesce(tsr__outbox *ob);

#endif
