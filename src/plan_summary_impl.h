/* The per-rank part of --plan and the host names of the end-of-run report, as pure functions
 * (arrays in, text out; no MPI) so that the unit tests can check their exact lines at any P. */
#ifndef TESSERA_PLAN_SUMMARY_IMPL_H
#define TESSERA_PLAN_SUMMARY_IMPL_H

#include <stdbool.h>
#include <stdio.h>

#include "layout_impl.h"

/* Above this many ranks --plan prints a summary instead of a line per rank (unless full). */
#define TSR__PLAN_TABLE_MAX_RANKS 64
/* Ranks listed as the most loaded, and bins of the cells-per-rank histogram. */
#define TSR__PLAN_TOP 10
#define TSR__PLAN_BINS 10

/* Writes the per-rank lines of a plan: the table of every rank when full or nranks <= 64;
 * otherwise min/mean/max of blocks, cells, peers and halo bytes, a histogram of cells per rank
 * and the most loaded ranks. Then the imbalance line. O(nranks) time, O(1) extra memory. */
void tsr__plan_print_ranks(FILE *out, const tsr__rank_stats *st, int nranks, bool full);

/* Distinct host names: first[r] is the lowest rank whose name equals names[r] (so the distinct
 * names are the r with first[r] == r). order is scratch of n ints. Returns the number of
 * distinct names. O(n log n) time. */
int tsr__hosts_dedup(const char *const *names, int n, int *order, int *first);

/* "hosts: N distinct: a, b, c" with at most `show` names (then ", ... (M more)"), from
 * tsr__hosts_dedup's first[]; truncated to len. */
void tsr__hosts_line(char *buf, size_t len, const char *const *names, const int *first, int n,
                     int distinct, int show);

#endif
