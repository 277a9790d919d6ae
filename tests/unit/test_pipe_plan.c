/* Unit tests of the pipeline's rank planner (tsr__pipe_make_plan): which ranks run which stages,
 * each link's credits and the source window, for several stage and rank counts, costs and
 * requested counts. No MPI: a pipeline definition is filled in directly, with no context (the
 * planner's errors then only return their code). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_impl.h"
#include "ck_main.h"

/* A pipeline of n stages with these costs and requested ranks (NULL: 0, the planner decides). */
static void define(struct tsr_pipeline_s *p, int n, const double *cost, const int *ranks) {
    memset(p, 0, sizeof *p);
    p->has_source = p->has_sink = true;
    p->nstages = n;
    for (int s = 0; s < n && s < TSR_PIPELINE_MAX_STAGES; s++) {
        snprintf(p->stages[s].name, sizeof p->stages[s].name, "s%d", s);
        p->stages[s].cost = cost[s];
        p->stages[s].ranks = ranks ? ranks[s] : 0;
    }
}

/* Checks the groups: stages first..last, rank0 and size of each, then credits per link. */
static void expect(const plan *pl, int ngroups, const int *first, const int *last, const int *rank0,
                   const int *size, const int *credits, int window) {
    ck_assert_int_eq(pl->ngroups, ngroups);
    for (int g = 0; g < ngroups; g++) {
        ck_assert_msg(pl->first[g] == first[g] && pl->last[g] == last[g],
                      "group %d: stages %d..%d, expected %d..%d", g, pl->first[g], pl->last[g],
                      first[g], last[g]);
        ck_assert_msg(pl->rank0[g] == rank0[g] && pl->size[g] == size[g],
                      "group %d: ranks %d+%d, expected %d+%d", g, pl->rank0[g], pl->size[g],
                      rank0[g], size[g]);
    }
    for (int l = 0; l <= ngroups; l++)
        ck_assert_msg(pl->credits[l] == credits[l], "link %d: %d credits, expected %d", l,
                      pl->credits[l], credits[l]);
    ck_assert_int_eq(pl->window, window);
}

START_TEST(one_rank_runs_everything) {
    struct tsr_pipeline_s p;
    plan pl;
    define(&p, 3, (double[]){1, 2, 3}, NULL);
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 1, &pl), TSR_SUCCESS);
    ck_assert_int_eq(pl.nstages, 3);
    ck_assert_int_eq(pl.nranks, 1);
    ck_assert_int_eq(pl.ngroups, 0);
}
END_TEST

START_TEST(one_rank_per_stage) {
    struct tsr_pipeline_s p;
    plan pl;
    define(&p, 3, (double[]){1, 1, 1}, NULL);
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 4, &pl), TSR_SUCCESS);
    /* Default credits: twice the receivers of each link; window: P-1 plus every credit. */
    expect(&pl, 3, (int[]){0, 1, 2}, (int[]){0, 1, 2}, (int[]){1, 2, 3}, (int[]){1, 1, 1},
           (int[]){2, 2, 2, 2}, 3 + 8);
    /* Oversubscribed: 4 per receiver by default; a --credits value stays as given. */
    p.oversubscribed = true;
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 4, &pl), TSR_SUCCESS);
    expect(&pl, 3, (int[]){0, 1, 2}, (int[]){0, 1, 2}, (int[]){1, 2, 3}, (int[]){1, 1, 1},
           (int[]){4, 4, 4, 4}, 3 + 16);
    p.credits = 3;
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 4, &pl), TSR_SUCCESS);
    ck_assert_int_eq(pl.credits[0], 3);
}
END_TEST

START_TEST(spare_ranks_go_to_the_costliest_per_rank) {
    struct tsr_pipeline_s p;
    plan pl;
    /* 5 ranks for 2 stages costing 1 and 3: 1+1, then s1 (3/1), s1 (3/2), then 1/1 = 3/3 ties
     * and the first stage wins. */
    define(&p, 2, (double[]){1, 3}, NULL);
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 6, &pl), TSR_SUCCESS);
    expect(&pl, 2, (int[]){0, 1}, (int[]){0, 1}, (int[]){1, 3}, (int[]){2, 3}, (int[]){4, 6, 2},
           5 + 12);
}
END_TEST

START_TEST(requested_counts_are_exact) {
    struct tsr_pipeline_s p;
    plan pl;
    /* s1 asks for 2 although it costs most: the spare rank goes to s2, not to s1. */
    define(&p, 3, (double[]){1, 5, 2}, (int[]){0, 2, 0});
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 6, &pl), TSR_SUCCESS);
    expect(&pl, 3, (int[]){0, 1, 2}, (int[]){0, 1, 2}, (int[]){1, 2, 4}, (int[]){1, 2, 2},
           (int[]){2, 4, 4, 2}, 5 + 12);
    /* Every stage requested: more ranks than they ask for go to the costliest per rank. */
    define(&p, 2, (double[]){1, 4}, (int[]){1, 1});
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 4, &pl), TSR_SUCCESS);
    expect(&pl, 2, (int[]){0, 1}, (int[]){0, 1}, (int[]){1, 2}, (int[]){1, 2}, (int[]){2, 4, 2},
           3 + 8);
}
END_TEST

START_TEST(stage_ranks_and_credits) {
    struct tsr_pipeline_s p;
    plan pl;
    define(&p, 2, (double[]){1, 1}, NULL);
    snprintf(p.stage_ranks, sizeof p.stage_ranks, "2,1");
    p.credits = 3; /* at least one per receiver */
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 4, &pl), TSR_SUCCESS);
    expect(&pl, 2, (int[]){0, 1}, (int[]){0, 1}, (int[]){1, 3}, (int[]){2, 1}, (int[]){3, 3, 3},
           3 + 9);
    snprintf(p.stage_ranks, sizeof p.stage_ranks, "1,5");
    p.credits = 1; /* raised to the 5 receivers of link 1 */
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 7, &pl), TSR_SUCCESS);
    expect(&pl, 2, (int[]){0, 1}, (int[]){0, 1}, (int[]){1, 2}, (int[]){1, 5}, (int[]){1, 5, 1},
           6 + 7);
}
END_TEST

START_TEST(more_stages_than_ranks_are_fused) {
    struct tsr_pipeline_s p;
    plan pl;
    /* 3 stages on 2 stage ranks: {3 | 1,1} (largest 3) beats {3,1 | 1} (4). */
    define(&p, 3, (double[]){3, 1, 1}, NULL);
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 3, &pl), TSR_SUCCESS);
    expect(&pl, 2, (int[]){0, 1}, (int[]){0, 2}, (int[]){1, 2}, (int[]){1, 1}, (int[]){2, 2, 2},
           2 + 6);
    /* Equal costs: 2 and 2. */
    define(&p, 4, (double[]){1, 1, 1, 1}, NULL);
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 3, &pl), TSR_SUCCESS);
    expect(&pl, 2, (int[]){0, 2}, (int[]){1, 3}, (int[]){1, 2}, (int[]){1, 1}, (int[]){2, 2, 2},
           2 + 6);
    /* One stage rank: every stage in one group. */
    define(&p, 5, (double[]){1, 2, 3, 4, 5}, NULL);
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 2, &pl), TSR_SUCCESS);
    expect(&pl, 1, (int[]){0}, (int[]){4}, (int[]){1}, (int[]){1}, (int[]){2, 2}, 1 + 4);
    /* Five on three: {1,2,3 | 4 | 5} has largest 6, {1,2 | 3,4 | 5} 7. */
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 4, &pl), TSR_SUCCESS);
    expect(&pl, 3, (int[]){0, 3, 4}, (int[]){2, 3, 4}, (int[]){1, 2, 3}, (int[]){1, 1, 1},
           (int[]){2, 2, 2, 2}, 3 + 8);
}
END_TEST

START_TEST(bad_definitions_are_input_errors) {
    struct tsr_pipeline_s p;
    plan pl;
    define(&p, 2, (double[]){1, 0}, NULL); /* cost 0 */
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 3, &pl), TSR_ERR_INPUT);
    define(&p, 2, (double[]){1, 1}, (int[]){3, 0}); /* 3 + 1 ranks wanted, 2 there */
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 3, &pl), TSR_ERR_INPUT);
    define(&p, 2, (double[]){1, 1}, NULL);
    snprintf(p.stage_ranks, sizeof p.stage_ranks, "1,1"); /* sums to 2, 3 there */
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 4, &pl), TSR_ERR_INPUT);
    snprintf(p.stage_ranks, sizeof p.stage_ranks, "1,x");
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 3, &pl), TSR_ERR_INPUT);
    snprintf(p.stage_ranks, sizeof p.stage_ranks, "2"); /* one count for two stages */
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 3, &pl), TSR_ERR_INPUT);
    define(&p, 0, NULL, NULL);
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 2, &pl), TSR_ERR_INPUT);
    define(&p, TSR_PIPELINE_MAX_STAGES + 1, (double[TSR_PIPELINE_MAX_STAGES + 1]){1}, NULL);
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 2, &pl), TSR_ERR_INPUT);
    define(&p, 1, (double[]){1}, NULL);
    p.has_sink = false;
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 2, &pl), TSR_ERR_INPUT);
    define(&p, 1, (double[]){1}, NULL);
    p.credits = -1;
    ck_assert_int_eq(tsr__pipe_make_plan(&p, 2, &pl), TSR_ERR_INPUT);
}
END_TEST

TSR_CK_MAIN("pipe_plan", "plan", one_rank_runs_everything, one_rank_per_stage,
            spare_ranks_go_to_the_costliest_per_rank, requested_counts_are_exact,
            stage_ranks_and_credits, more_stages_than_ranks_are_fused,
            bad_definitions_are_input_errors)
