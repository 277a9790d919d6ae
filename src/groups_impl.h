/* The farms' second coordinator level, shared by the task farm (farm_group.c) and the command
 * farm (cmdfarm_relay.c): which ranks form a group, and --farm-groups auto|off|N. */
#ifndef TESSERA_GROUPS_IMPL_H
#define TESSERA_GROUPS_IMPL_H

#include <mpi.h>

#include "tessera/context.h"

/* --farm-groups auto|off|N into *groups (TSR_FARM_GROUPS_AUTO, TSR_FARM_GROUPS_OFF or N >= 2);
 * bad text is TSR_ERR_INPUT. Local. */
int tsr__groups_parse(tsr_ctx ctx, const char *text, int *groups);
/* This rank's group under `mode` (see tsr_farm_opts.groups): its lowest rank *leader and its size
 * *gsize. Rank 0 is alone; a rank whose group has a leader other than 0 and at least 2 ranks is
 * served by that leader (the leader serves *gsize - 1 ranks), any other rank by rank 0. Collective
 * over comm (with `auto`: an MPI error anywhere is every rank's). */
int tsr__groups_find(tsr_ctx ctx, MPI_Comm comm, int mode, int *leader, int *gsize);

#endif
