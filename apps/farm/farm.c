/* tessera-farm: a file of shell commands run across the ranks of an allocation.
 *
 *   mpirun -np R tessera-farm TASKFILE [options]      (srun tessera-farm TASKFILE ... in Slurm)
 *
 * Rank 0 reads the task file and hands the commands to the other ranks, which run as many at
 * once as their cores allow; a job log records every ended task, so that --resume after a
 * killed or stopped job runs only what is left. Exit status: 0 every task ok, 1 some failed
 * (listed), 2 bad input, 3 stopped by SIGTERM/SIGUSR1 (resubmit with --resume). */
#include <stdlib.h>
#include <string.h>

#include <tessera.h>

static int run(tsr_ctx ctx, int argc, char **argv, bool *stopped) {
    /* The task file may come first, as a plain argument: it is --tasks FILE then. */
    char **args = calloc((size_t)argc + 2, sizeof *args);
    TSR_CHECK(ctx, args, TSR_ERR_MEMORY, "no memory for the arguments");
    int n = 0;
    args[n++] = argv[0];
    char tasks_arg[TSR_OPT_STRLEN + 16];
    if (argc > 1 && (argv[1][0] != '-' || !strcmp(argv[1], "-"))) {
        snprintf(tasks_arg, sizeof tasks_arg, "--tasks=%s", argv[1]);
        args[n++] = tasks_arg;
        for (int i = 2; i < argc; i++)
            args[n++] = argv[i];
    } else {
        for (int i = 1; i < argc; i++)
            args[n++] = argv[i];
    }

    tsr_cmdfarm_opts o;
    tsr_cmdfarm_opts_init(&o);
    tsr_opts opts = NULL;
    int err = tsr_opts_create(ctx, "Runs a file of shell commands across the ranks.", &opts);
    if (!err) {
        tsr_cmdfarm_add_options(opts, &o);
        bool done = false;
        err = tsr_opts_parse(opts, n, args, &done);
        err = tsr_opts_finish(ctx, &opts, err, done, NULL, NULL, NULL);
        if (done) {
            free(args);
            return err;
        }
    }
    free(args);
    if (err)
        return err;
    tsr_cmdfarm_result res;
    TSR_CALL(ctx, tsr_cmdfarm_run(ctx, &o, &res));
    *stopped = res.stopped;
    if (res.stopped)
        tsr_ctx_printf(ctx, stderr,
                       "stopped before the end (a signal, or the job's end near): %lld tasks not "
                       "run; rerun with --resume\n",
                       (long long)res.not_run);
    return TSR_SUCCESS;
}

int main(int argc, char **argv) {
    return tsr_main(argc, argv, "tessera-farm", run);
}
