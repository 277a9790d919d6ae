/* What every program's main() and option parse end with: the context's life around the run, the
 * exit status, and the tail of the parse (the report's copy of the options, the command line,
 * rank 0's checks and the agreement on them). */
#ifndef TESSERA_APP_H
#define TESSERA_APP_H

#include <stdbool.h>

#include "context.h"
#include "options.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A program's body: everything between tsr_init and tsr_finalize. Returns an error code (0 on
 * success) that must be the same on every rank (agreed with tsr_ctx_agree, as the library's
 * collective calls do). Sets *stopped when the run stopped after writing a checkpoint
 * (tsr_run_result.stopped); *stopped is false on entry and read only when it returns 0. `argv`
 * is the caller's, after MPI_Init took its own arguments out. */
typedef int (*tsr_main_fn)(tsr_ctx ctx, int argc, char **argv, bool *stopped);

/* The whole main() of a program: tsr_init(name), run, tsr_finalize. Returns the process exit
 * status, not an error code, the same on every rank:
 *   0  success;
 *   1  a failure during the run (I/O, MPI, a kernel, no memory, ...);
 *   2  bad input the user can fix in the command or the files given (TSR_ERR_INPUT);
 *   3  stopped after a checkpoint (run set *stopped; TSR_EXIT_CHECKPOINTED in run.h), so a job
 *      script can tell it from success and failure and resubmit.
 * An error is printed once by rank 0 (tsr_finalize). `name` (the program's name in messages)
 * is not kept beyond the call's context. Collective over MPI_COMM_WORLD; initialises MPI unless
 * it already is, and finalises it then. */
int tsr_main(int argc, char **argv, const char *name, tsr_main_fn run);

/* Checks option values that their ranges cannot express; run on rank 0 only, it returns 0 or an
 * error recorded with TSR_CHECK (TSR_ERR_INPUT naming the option). It may also derive values on
 * rank 0 (a list parsed, a directory scanned) for the caller to broadcast afterwards. `values` is
 * what the caller handed to tsr_opts_finish. */
typedef int (*tsr_opts_check_fn)(tsr_ctx ctx, void *values);

/* The end of an option parse, after `err = tsr_opts_parse(*opts, argc, argv, &done)` and
 * whatever the program resolves on every rank from the values (defaults that depend on others):
 *   - unless err is set or done, keeps every option's value for the run report
 *     (tsr_report_keep_options);
 *   - copies the command line (tsr_opts_command_line) into `command_line`, a buffer of
 *     TSR_OPT_STRLEN chars owned by the caller (truncated to fit; NULL: not copied);
 *   - destroys *opts and sets it to NULL (the values stay in the caller's variables);
 *   - returns err when set, and 0 when done (--help or --version: the program stops there);
 *   - otherwise runs check(ctx, values) on rank 0 (check may be NULL) and agrees on its verdict:
 *     every rank returns the same code, rank 0's message kept for tsr_finalize.
 * Collective unless err is set or done (every rank holds the same err and done after
 * tsr_opts_parse). */
int tsr_opts_finish(tsr_ctx ctx, tsr_opts *opts, int err, bool done, char *command_line,
                    tsr_opts_check_fn check, void *values);

#ifdef __cplusplus
}
#endif
#endif
