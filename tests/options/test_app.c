/* tsr_main and tsr_opts_finish at any rank count: a program as short as the apps' mains, whose
 * options choose how it ends. Exit statuses: 0 with --value N (after checking, on every rank,
 * that the command line was copied and that rank 0 alone ran the check), 2 for a bad value
 * found by the check (--value 13) or by the parse, 1 for --fail (a failure during the run), 3
 * for --stop (stopped after a checkpoint), 1 for --stop --fail (the failure wins). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tessera.h>

typedef struct values {
    int64_t value;
    double gain; /* in (1, 10]: an excluded minimum */
    bool fail, stop;
    char cmdline[TSR_OPT_STRLEN];
    double checks; /* times this rank ran the check */
} values;

static int check(tsr_ctx ctx, void *user) {
    values *v = user;
    v->checks++;
    TSR_CHECK(ctx, v->value != 13, TSR_ERR_INPUT, "--value %lld: unlucky", (long long)v->value);
    return TSR_SUCCESS;
}

/* What tsr_opts_finish left on this rank. */
static int verify(tsr_ctx ctx, const values *v, tsr_opts o, double checks) {
    TSR_CHECK(ctx, o == NULL, TSR_ERR_VERIFY, "the option table was not destroyed");
    TSR_CHECK(ctx, checks == 1 && v->checks == (tsr_ctx_rank(ctx) == 0 ? 1 : 0), TSR_ERR_VERIFY,
              "the check ran %g times, not once on rank 0", checks);
    TSR_CHECK(ctx, strstr(v->cmdline, "--value") != NULL, TSR_ERR_VERIFY,
              "command line not copied: '%s'", v->cmdline);
    return TSR_SUCCESS;
}

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    values v = {.value = 1, .gain = 2};
    bool done = false;
    tsr_opts o = NULL;
    TSR_CALL(ctx, tsr_opts_create(ctx, "tsr_main and tsr_opts_finish test.", &o));
    tsr_opts_add_int(o, "value", &v.value, 0, 100, "N", "a value the check refuses if 13");
    tsr_opts_add_double(o, "gain", &v.gain, nextafter(1.0, 2.0), 10, "G", "a factor above 1");
    tsr_opts_add_flag(o, "fail", &v.fail, "fail during the run (status 1)");
    tsr_opts_add_flag(o, "stop", &v.stop, "stop as after a checkpoint (status 3)");
    int err = tsr_opts_parse(o, argc, argv, &done);
    TSR_CALL(ctx, tsr_opts_finish(ctx, &o, err, done, v.cmdline, check, &v));
    if (done)
        return TSR_SUCCESS;
    double checks = 0;
    TSR_CALL(ctx, tsr_reduce_doubles(ctx, &v.checks, 1, TSR_REDUCE_SUM, &checks));
    TSR_CALL(ctx, tsr_ctx_agree(ctx, verify(ctx, &v, o, checks)));
    if (v.stop) {
        tsr_ctx_printf(ctx, stdout, "stopped as asked\n");
        *stopped = true;
    }
    /* A failure during the run, agreed as the body's errors must be. */
    TSR_CALL(ctx, tsr_ctx_agree(ctx, v.fail ? tsr_error_set(ctx, TSR_ERR_IO, __FILE__, __LINE__,
                                                            __func__, "failed as asked")
                                            : TSR_SUCCESS));
    tsr_ctx_printf(ctx, stdout, "value %lld\n", (long long)v.value);
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "test-app", run);
}
