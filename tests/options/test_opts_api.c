/* The option table's API at any rank count: a failed registration is remembered and reported by
 * the parse (the adders need no checks), the arguments after "--" reach a program that
 * allows them, and an option's value may be left out. Prints "ok" on rank 0; exits non-zero on any
 * mismatch. */
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

/* One parse of argv (NULL-terminated) with an optional-value --periodic and a flag --quiet;
 * *periodic receives the value ("" when not given). */
static int parse_optional(tsr_ctx ctx, char **argv, char *periodic, bool *quiet) {
    tsr_opts o = NULL;
    int argc = 0;
    while (argv[argc])
        argc++;
    periodic[0] = '\0';
    *quiet = false;
    if (tsr_opts_create(ctx, "optional test", &o))
        return fail(ctx, "create");
    tsr_opts_add_optional(o, "periodic", periodic, "all", "DIMS", "dimensions that wrap");
    tsr_opts_add_flag(o, "quiet", quiet, "quiet");
    bool done = false;
    int err = tsr_opts_parse(o, argc, argv, &done);
    tsr_opts_destroy(&o);
    return err;
}

/* An optional value: alone (last, or before another option) the implicit value; else the next
 * argument or "=value"; an empty value refused. The same on every rank. */
static int optional(tsr_ctx ctx) {
    static char periodic[TSR_OPT_STRLEN];
    bool quiet = false;
    struct {
        char *argv[4];
        int err;
        const char *value;
        bool quiet;
    } cases[] = {
        {{"test", NULL}, 0, "", false},
        {{"test", "--periodic", NULL}, 0, "all", false},
        {{"test", "--periodic", "--quiet", NULL}, 0, "all", true},
        {{"test", "--periodic", "x,z", NULL}, 0, "x,z", false},
        {{"test", "--periodic=y", "--quiet", NULL}, 0, "y", true},
        {{"test", "--periodic=", NULL}, TSR_ERR_INPUT, NULL, false},
        {{"test", "--quiet", "--periodic", NULL}, 0, "all", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int err = parse_optional(ctx, cases[i].argv, periodic, &quiet);
        if (err != cases[i].err)
            return fail(ctx, "an optional value: wrong verdict");
        if (err) {
            if (!strstr(tsr_ctx_error_message(ctx), "--periodic: empty value"))
                return fail(ctx, "an empty optional value: wrong message");
            tsr_ctx_error_clear(ctx);
            continue;
        }
        if (strcmp(periodic, cases[i].value) || quiet != cases[i].quiet)
            return fail(ctx, "an optional value: wrong value");
    }
    return 0;
}

int main(int argc, char **argv) {
    tsr_ctx ctx = NULL;
    int err = tsr_init(&argc, &argv, "test_opts_api", &ctx);
    if (err)
        return tsr_finalize(&ctx, err);
    int bad = registration(ctx) + rest(ctx) + optional(ctx);
    if (!bad && tsr_ctx_rank(ctx) == 0)
        printf("ok\n");
    tsr_finalize(&ctx, 0);
    return bad ? 1 : 0;
}
