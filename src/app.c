/* What every program's main() and option parse end with (app.h). */
#include <stdio.h>

#include "tessera/app.h"
#include "tessera/report.h"
#include "tessera/run.h"

int tsr_main(int argc, char **argv, const char *name, tsr_main_fn run) {
    tsr_ctx ctx = NULL;
    bool stopped = false;
    int err = tsr_init(&argc, &argv, name, &ctx);
    if (!err && !run)
        err = tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                            "tsr_main: no run function");
    if (!err)
        err = run(ctx, argc, argv, &stopped);
    int status = tsr_finalize(&ctx, err);
    return status ? status : stopped ? TSR_EXIT_CHECKPOINTED : 0;
}

int tsr_opts_finish(tsr_ctx ctx, tsr_opts *opts, int err, bool done, char *command_line,
                    tsr_opts_check_fn check, void *values) {
    if (!opts || !*opts)
        return tsr_error_set(ctx, TSR_ERR_ARG, __FILE__, __LINE__, __func__,
                             "tsr_opts_finish: no option table");
    /* A rank that cannot keep the values (no memory) tells the others through the agreement
     * below rather than leaving them in it. */
    int kept = err || done ? TSR_SUCCESS : tsr_report_keep_options(ctx, *opts);
    if (command_line)
        snprintf(command_line, TSR_OPT_STRLEN, "%s", tsr_opts_command_line(*opts));
    tsr_opts_destroy(opts);
    TSR_CALL(ctx, err);
    if (done)
        return TSR_SUCCESS;
    if (!kept && check && tsr_ctx_rank(ctx) == 0)
        kept = check(ctx, values);
    TSR_CALL(ctx, tsr_ctx_agree(ctx, kept));
    return TSR_SUCCESS;
}
