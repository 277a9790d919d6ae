/* Which ranks form a farm group (groups_impl.h). */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "groups_impl.h"
#include "options_impl.h"
#include "tessera/error.h"
#include "tessera/farm.h"

int tsr__groups_parse(tsr_ctx ctx, const char *t, int *groups) {
    if (strcmp(t, "auto") == 0) {
        *groups = TSR_FARM_GROUPS_AUTO;
        return TSR_SUCCESS;
    }
    if (strcmp(t, "off") == 0) {
        *groups = TSR_FARM_GROUPS_OFF;
        return TSR_SUCCESS;
    }
    long long n = 0;
    TSR_CHECK(ctx, tsr__parse_int(t, &n), TSR_ERR_INPUT,
              "--farm-groups: cannot parse '%.64s' (expected auto, off or a number of ranks per "
              "group)",
              t);
    TSR_CHECK(ctx, n >= 2 && n <= INT_MAX, TSR_ERR_INPUT,
              "--farm-groups: a group needs from 2 to %d ranks, not %.64s", INT_MAX, t);
    *groups = (int)n;
    return TSR_SUCCESS;
}

int tsr__groups_find(tsr_ctx ctx, MPI_Comm comm, int mode, int *leader_out, int *gsize_out) {
    int rank, size;
    TSR_MPI(ctx, MPI_Comm_rank(comm, &rank));
    TSR_MPI(ctx, MPI_Comm_size(comm, &size));
    int leader = 0, gsize = 1;
    bool on = false;
    if (mode > 0) {
        /* Rank 0 alone, then groups of `mode` from rank 1: even 3 ranks have a sub-coordinator,
         * which is what tests need; on a real machine `auto` follows the nodes. */
        leader = rank == 0 ? 0 : 1 + (rank - 1) / mode * mode;
        gsize = rank == 0 ? 1 : (size - leader < mode ? size - leader : mode);
        on = true;
    } else if (mode == TSR_FARM_GROUPS_AUTO && size >= TSR_FARM_GROUPS_MIN_RANKS) {
        /* Every rank reaches the Allreduce, even after a failure in its node's split, so that
         * a local MPI error becomes everyone's error instead of a hang. */
        MPI_Comm node = MPI_COMM_NULL;
        int rc = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
        const char *call = "MPI_Comm_split_type";
        leader = rank;
        if (rc == MPI_SUCCESS) {
            call = "MPI_Bcast";
            rc = MPI_Bcast(&leader, 1, MPI_INT, 0, node); /* node rank 0 is its lowest rank */
            if (rc == MPI_SUCCESS) {
                call = "MPI_Comm_size";
                rc = MPI_Comm_size(node, &gsize);
            }
            MPI_Comm_free(&node);
        }
        int count[2] = {rc == MPI_SUCCESS && rank == leader, rc != MPI_SUCCESS};
        TSR_MPI(ctx, MPI_Allreduce(MPI_IN_PLACE, count, 2, MPI_INT, MPI_SUM, comm));
        if (rc != MPI_SUCCESS)
            return tsr_error_mpi(ctx, rc, call, __FILE__, __LINE__, __func__);
        TSR_CHECK(ctx, count[1] == 0, TSR_ERR_MPI,
                  "farm groups: %d rank(s) could not find the ranks of their node", count[1]);
        on = count[0] > 1;
    }
    if (!on) {
        leader = 0;
        gsize = 1;
    }
    *leader_out = leader;
    *gsize_out = gsize;
    return TSR_SUCCESS;
}
