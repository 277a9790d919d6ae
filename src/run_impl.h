/* What the run module's two halves share: run_load.c (options, paths, initial state) and run.c
 * (the loop). */
#ifndef TESSERA_RUN_IMPL_H
#define TESSERA_RUN_IMPL_H

#include "field_impl.h"
#include "tessera/report.h"
#include "tessera/run.h"

#define MAX_STATE (TSR_RUN_MAX_FIELDS * TSR_RUN_MAX_LEVELS)
/* The sweep's limit on the fields one kernel sees. */
#define MAX_KERNEL_FIELDS 16

static inline tsr_ctx tsr__run_ctx(const tsr_run *r) {
    return r->fields[0].level[0]->ctx;
}

/* The fields a checkpoint holds, and their names: level 0 of every field under its name, then
 * the older levels k >= 2 as <name>.prev<k-1> (what a scheme with more levels needs to go on
 * exactly). Returns how many. */
int tsr__run_history(const tsr_run *r, tsr_field *f, char (*names)[80], const char **ptrs);

#endif
