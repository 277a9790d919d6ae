/* tessera-farm's rank 0: its own work per ended task, without the messages (an input of
 * bench/farm_sim, --c-task).
 *
 *   build/bench/cmdfarm_cost --tasks 200000 --per-flush 64 --joblog /tmp/x.joblog
 *
 * For each task, what rank 0 does with its end besides receiving it: give its slot back and take
 * one for the next task (tsr__cf_slots), add its time to the median's histogram, and write its
 * job-log line; the log is flushed once per --per-flush ends (rank 0 flushes once per pass of its
 * loop: 1 when ends come one by one, a batch's worth behind a relay) and synced every 2 s as the
 * farm does. Prints "us per task <x>": the median of 5 blocks. Private API; no MPI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmdfarm_impl.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long long tasks = 200000, per_flush = 1;
    const char *path = "cmdfarm_cost.joblog";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tasks"))
            tasks = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--per-flush"))
            per_flush = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--joblog"))
            path = argv[i + 1];
        else
            break;
    }
    if (argc % 2 == 0 || tasks < 5 || per_flush < 1) {
        fprintf(stderr, "usage: cmdfarm_cost [--tasks N>=5] [--per-flush K>=1] [--joblog FILE]\n");
        return 2;
    }
    /* 64 ranks of 2 slots: a node behind its relay. */
    enum { RANKS = 64, SLOTS = 2 };
    int slots[RANKS + 1];
    for (int r = 0; r <= RANKS; r++)
        slots[r] = r ? SLOTS : 0;
    tsr__cf_slots free_slots;
    tsr__cf_log log;
    tsr__qhist hist;
    memset(&hist, 0, sizeof hist);
    char msg[256];
    if (tsr__cf_slots_init(&free_slots, 1, RANKS, slots, TSR__CF_AHEAD) ||
        tsr__cf_log_open(&log, path, false, msg, sizeof msg)) {
        fprintf(stderr, "cmdfarm_cost: cannot set up (%s)\n", path);
        return 1;
    }
    char command[] = "./simulate --input data/sample_000123.dat --seed 123 > out/123.txt";
    tsr__task_entry t = {.line = 124, .command = command};
    long long block = tasks / 5, done = 0;
    double us[5], t0 = now();
    for (int b = 0; b < 5; b++) {
        double start = now();
        for (long long k = 0; k < block; k++, done++) {
            int r = tsr__cf_slots_take(&free_slots, -1, true);
            if (r < 0) {
                fprintf(stderr, "cmdfarm_cost: no free slot\n");
                return 1;
            }
            double end = t0 + 1e-6 * (double)done;
            tsr__cf_end e = {.id = done,
                             .pid = 100000 + done % 50000,
                             .bytes = 12,
                             .rank = r,
                             .how = TSR__CF_EXITED,
                             .start = end - 0.0123,
                             .end = end};
            tsr__cf_slots_give(&free_slots, r);
            tsr__qhist_add(&hist, e.end - e.start);
            if (tsr__cf_log_write(&log, &e, &t, "node0042") ||
                ((done + 1) % per_flush == 0 && tsr__cf_log_flush(&log)) ||
                tsr__cf_log_sync(&log, 2.0)) {
                fprintf(stderr, "cmdfarm_cost: cannot write %s\n", path);
                return 1;
            }
        }
        us[b] = (now() - start) / (double)block * 1e6;
    }
    if (tsr__cf_log_close(&log))
        return 1;
    tsr__cf_slots_free(&free_slots);
    unlink(path);
    qsort(us, 5, sizeof *us, cmp_double);
    printf("tasks %lld per-flush %lld us per task %.4f\n", 5 * block, per_flush, us[2]);
    return 0;
}
