/* Progress line on rank 0. */
#include <unistd.h>

#include "context_impl.h"
#include "tessera/report.h"

void tsr_progress_start(tsr_progress *p, tsr_ctx ctx, int64_t total, bool enabled) {
    p->ctx = ctx;
    p->total = total;
    p->start = p->last = tsr_wtime();
    p->enabled = enabled && ctx->rank == 0;
    p->unit = "step";
}

void tsr_progress_update(tsr_progress *p, int64_t done) {
    if (!p->enabled)
        return;
    double now = tsr_wtime();
    if (now - p->last < 1.0)
        return;
    p->last = now;
    double rate = done / (now - p->start);
    double eta = rate > 0 ? (p->total - done) / rate : 0;
    bool tty = isatty(fileno(stderr));
    fprintf(stderr, "%s%s: %s %lld/%lld (%.0f%%), %.1f %ss/s, ETA %.0f s%s", tty ? "\r" : "",
            p->ctx->name, p->unit, (long long)done, (long long)p->total,
            p->total ? 100.0 * done / p->total : 100.0, rate, p->unit, eta, tty ? "   " : "\n");
    fflush(stderr);
}

void tsr_progress_end(tsr_progress *p) {
    if (p->enabled && p->last > p->start && isatty(fileno(stderr)))
        fputc('\n', stderr);
}
