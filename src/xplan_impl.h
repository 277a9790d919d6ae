/* The exchange engine's plan as its two halves see it: exchange.c builds and caches plans,
 * exchange_run.c executes them. Private to those two files. */
#ifndef TESSERA_XPLAN_IMPL_H
#define TESSERA_XPLAN_IMPL_H

#include "exchange_impl.h"

/* One piece as this rank moves it. */
typedef struct xfer {
    int peer; /* the other rank; -1 for a copy on this rank */
    tsr__piece p;
    int64_t local; /* local index: of src (sends, in `from`) or of dst (receives, copies) */
    int64_t other; /* copies: local index of src in `from` */
    int64_t cells;
    int64_t offset; /* within one component's part of the peer's message */
    int64_t poff;   /* the same among the peer's pieces that are not whole */
    int pk;         /* index of the peer */
    bool whole;     /* remap piece that is the whole owned box of both its blocks */
} xfer;

typedef struct peer {
    int rank;
    int64_t cells;        /* per component */
    int64_t first, count; /* range in the xfer array */
    int64_t base;         /* start of its message in the buffer, for the current exchange */
    bool direct; /* one piece that is one contiguous row: with one component, sent from (received
                    into) the field itself, no packing */
    int64_t wcells, nwhole; /* per component cells and count of its whole pieces */
    unsigned dmask; /* current exchange: fields whose whole pieces travel in their own messages */
    int64_t len;    /* current exchange: doubles in the packed message */
    int64_t flags;  /* tracked exchange: where the change flags of its pieces start */
} peer;

typedef struct xlist {
    xfer *a;
    int64_t n, cap;
} xlist;

struct tsr__xplan {
    tsr_ctx ctx;
    tsr_map from, to;
    tsr__regions R;
    xlist sends, recvs, copies;
    int64_t copy_cells;   /* per component */
    int64_t *live, nlive; /* tracked exchanges: the copies whose source changed (copies.n slots) */
    peer *speers, *rpeers;
    int nspeers, nrpeers;
    double *sbuf, *rbuf;
    int64_t sbuf_cap, rbuf_cap; /* elements */
    MPI_Request *reqs;          /* receives first, then sends; nreq in the current exchange */
    int nreq;
    int64_t nwhole;                         /* whole pieces sent and received */
    MPI_Datatype wide[TSR_X_MAX_COMPS + 1]; /* T doubles, for messages past INT_MAX values */
    tsr_field src[TSR_X_MAX_FIELDS], dst[TSR_X_MAX_FIELDS];
    int nfields;
    int ncomps;                      /* components of the current exchange, all fields */
    int comp_field[TSR_X_MAX_COMPS]; /* field and component of each */
    int comp_index[TSR_X_MAX_COMPS];
    bool active;
    /* Change tracking of the current exchange (tsr__xplan_track), or NULL: which source blocks
     * changed, and which destination blocks receive a piece that changed in the last step. */
    const uint8_t *chg;
    uint8_t *nbr;
    /* Columns (tsr__xplan_defer_columns): same-rank copies into the ghosts beside a block's
     * owned rows along x. defer: the next begin leaves them to tsr__xplan_copy_columns; left:
     * the current exchange did. Indexed at the first deferral: col_idx[col_first[b] ..
     * col_first[b + 1]) are the columns into local block b, rest_idx the other copies. */
    bool defer, left;
    int64_t *col_first, *col_idx, *rest_idx;
    int64_t nrest, rest_cells;
    int64_t ndeferred; /* begins that left their columns to the tiles, for the tests */
};

#endif
