/* Rank 0's free task slots in the command farm (cmdfarm_impl.h): a ring of one token per free
 * slot and one of room queued ahead, so handing out a task and taking back an end cost O(1)
 * whatever the number of ranks. Tokens go back to the end of their ring when a run ends, so the
 * ranks take turns. No MPI. */
#include <stdlib.h>
#include <string.h>

#include "cmdfarm_impl.h"
#include "tessera/error.h"

static void push(tsr__cf_ring *q, int r) {
    q->r[(q->head + q->len++) % q->cap] = r;
}

static int pop(tsr__cf_ring *q) {
    int r = q->r[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return r;
}

int tsr__cf_slots_init(tsr__cf_slots *s, int first, int n, const int *slots, int ahead) {
    memset(s, 0, sizeof *s);
    s->first = first;
    s->n = n;
    s->ahead = ahead;
    int last = first + n, most = 0;
    int64_t total = 0;
    for (int r = first; r < last; r++) {
        total += slots[r];
        most = slots[r] > most ? slots[r] : most;
        s->serving += slots[r] > 0;
    }
    s->slots = calloc((size_t)last, sizeof *s->slots);
    s->out = calloc((size_t)last, sizeof *s->out);
    s->free.cap = (int)total > 0 ? (int)total : 1;
    s->room.cap = ahead * (int)total > 0 ? ahead * (int)total : 1;
    s->free.r = malloc((size_t)s->free.cap * sizeof *s->free.r);
    s->room.r = malloc((size_t)s->room.cap * sizeof *s->room.r);
    if (!s->slots || !s->out || !s->free.r || !s->room.r)
        return TSR_ERR_MEMORY;
    memcpy(s->slots + first, slots + first, (size_t)n * sizeof *slots);
    /* Round robin from the start: every rank's first slot, then every second one, ... */
    for (int k = 0; k < most; k++)
        for (int r = first; r < last; r++)
            if (k < slots[r])
                push(&s->free, r);
    for (int k = 0; k < ahead * most; k++)
        for (int r = first; r < last; r++)
            if (k < ahead * slots[r])
                push(&s->room, r);
    return 0;
}

void tsr__cf_slots_free(tsr__cf_slots *s) {
    free(s->slots);
    free(s->out);
    free(s->free.r);
    free(s->room.r);
    memset(s, 0, sizeof *s);
}

/* A token of q for a rank other than `avoid` (-1: any), whose tokens in q number `mine`; -1 when
 * q holds none. The avoided rank's tokens at the front go to the back: at most its slots. */
static int take(tsr__cf_ring *q, int avoid, int mine) {
    if (q->len - (avoid >= 0 ? mine : 0) <= 0)
        return -1;
    while (q->r[q->head] == avoid)
        push(q, pop(q));
    return pop(q);
}

int tsr__cf_slots_take(tsr__cf_slots *s, int avoid, bool ahead) {
    if (s->serving <= 1 || avoid < s->first || avoid >= s->first + s->n)
        avoid = -1; /* no other rank to retry on, or not one of these */
    int free_mine = 0, room_mine = 0;
    if (avoid >= 0) {
        int o = s->out[avoid], k = s->slots[avoid];
        free_mine = o < k ? k - o : 0;
        room_mine = (1 + s->ahead) * k - o < s->ahead * k ? (1 + s->ahead) * k - o : s->ahead * k;
    }
    int r = take(&s->free, avoid, free_mine);
    if (r < 0 && ahead)
        r = take(&s->room, avoid, room_mine);
    if (r < 0)
        return -1;
    if (s->out[r] < s->slots[r])
        s->running++;
    s->out[r]++;
    return r;
}

void tsr__cf_slots_give(tsr__cf_slots *s, int r) {
    s->out[r]--;
    if (s->out[r] < s->slots[r]) {
        push(&s->free, r);
        s->running--;
    } else {
        push(&s->room, r);
    }
}
