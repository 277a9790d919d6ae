/* The option table's API at any rank count: a failed registration is remembered and reported by
 * the parse (the adders need no checks), and the arguments after "--" reach a program that
 * allows them. Prints "ok" on rank 0; exits non-zero on any mismatch. */
#include <stdio.h>
#include <string.h>

#include <tessera.h>

static int fail(tsr_ctx ctx, const char *what) {
    fprintf(stderr, "rank %d: %s\n", tsr_ctx_rank(ctx), what);
    return 1;
}

/* A name declared twice: every later adder still works, and the parse reports the first
 * failure with its message, on every rank. */
static int registration(tsr_ctx ctx) {
    tsr_opts o = NULL;
    int64_t steps = 1, again = 2, seed = 3;
    bool plan = false;
    if (tsr_opts_create(ctx, "registration test", &o))
        return fail(ctx, "create");
    tsr_opts_add_int(o, "steps", &steps, 0, 100, "N", "steps");
    int first = tsr_opts_add_int(o, "steps", &again, 0, 100, "N", "steps again");
    tsr_opts_add_flag(o, "help", &plan, "a reserved name: a second failure, not the one told");
    tsr_opts_add_int(o, "seed", &seed, 0, 100, "S", "seed");
    int err = tsr_opts_error(o);
    char *argv[] = {"test", "--seed", "5", NULL};
    bool done = false;
    int parsed = tsr_opts_parse(o, 3, argv, &done);
    const char *msg = tsr_ctx_error_message(ctx);
    tsr_opts_destroy(&o);
    if (first != TSR_ERR_ARG || err != TSR_ERR_ARG || parsed != TSR_ERR_ARG)
        return fail(ctx, "a duplicate registration is not reported by the parse");
    if (!msg || !strstr(msg, "option --steps declared twice"))
        return fail(ctx, "the parse does not tell the first failed registration");
    return 0;
}

/* "--" hands the rest to a program that allows it; options before it are read. */
static int rest(tsr_ctx ctx) {
    tsr_opts o = NULL;
    int64_t steps = 1;
    if (tsr_opts_create(ctx, "rest test", &o))
        return fail(ctx, "create");
    tsr_opts_add_int(o, "steps", &steps, 0, 100, "N", "steps");
    tsr_opts_allow_rest(o, "FILE...");
    char *argv[] = {"test", "--steps", "7", "--", "a", "--steps", NULL};
    bool done = false;
    int err = tsr_opts_parse(o, 6, argv, &done);
    int n = -1;
    char **args = NULL;
    if (!err)
        err = tsr_opts_rest(o, &n, &args);
    tsr_opts_destroy(&o);
    if (err || done || steps != 7 || n != 2 || strcmp(args[0], "a") || strcmp(args[1], "--steps"))
        return fail(ctx, "the arguments after -- are not the rest");
    return 0;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_opts_api", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    int bad = registration(ctx) + rest(ctx);
    if (!bad && tsr_ctx_rank(ctx) == 0)
        printf("ok\n");
    tsr_finalize(&ctx, 0);
    return bad ? 1 : 0;
}
