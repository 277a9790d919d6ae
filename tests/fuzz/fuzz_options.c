/* Fuzzes the options parser: bytes -> argv (split on NUL when the input holds one, else on
 * whitespace) -> tsr_opts_parse over a table with every kind of option, on one rank. A parse
 * either succeeds with every value inside its declared range or fails with TSR_ERR_INPUT and a
 * message that fits; anything else (a crash, a sanitizer report, another code) is a finding. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "tessera/options.h"

#define MAX_ARGS 64

static const char *const colours[] = {"red", "green", "blue", NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_start(argc, argv, "fuzz-options");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 3 * TSR_OPT_STRLEN)
        return 0;
    static char text[3 * TSR_OPT_STRLEN + 1];
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_ARGS + 1] = {"fuzz"};
    int argc = 1;
    if (memchr(data, '\0', size)) {
        /* NUL-separated: empty arguments are arguments too. */
        for (size_t i = 0; i < size && argc < MAX_ARGS; i += strlen(text + i) + 1)
            argv[argc++] = text + i;
    } else {
        for (char *save = NULL, *t = strtok_r(text, " \t\n\r\v\f", &save); t && argc < MAX_ARGS;
             t = strtok_r(NULL, " \t\n\r\v\f", &save))
            argv[argc++] = t;
    }
    argv[argc] = NULL;

    bool flag = false;
    int64_t small = 3, count = 0;
    double ratio = 0.25, any = 1.5;
    static char name[TSR_OPT_STRLEN];
    snprintf(name, sizeof name, "default");
    int colour = 0;
    tsr_extents grid = {.ndim = 2, .n = {16, 16, 1}};

    tsr_ctx ctx = fuzz_ctx;
    tsr_opts o = NULL;
    FUZZ_REQUIRE(tsr_opts_create(ctx, "Options fuzzing.", &o) == TSR_SUCCESS);
    FUZZ_REQUIRE(tsr_opts_add_flag(o, "flag", &flag, "a flag") == TSR_SUCCESS);
    FUZZ_REQUIRE(tsr_opts_add_int(o, "small", &small, 1, 7, "K", "bounded") == TSR_SUCCESS);
    FUZZ_REQUIRE(tsr_opts_add_int(o, "count", &count, 0, INT64_MAX, "N", "open") == TSR_SUCCESS);
    FUZZ_REQUIRE(tsr_opts_add_double(o, "ratio", &ratio, 0, 0.5, "A", "0 = auto") == TSR_SUCCESS);
    FUZZ_REQUIRE(tsr_opts_add_double(o, "any", &any, -HUGE_VAL, HUGE_VAL, "X", "free") ==
                 TSR_SUCCESS);
    FUZZ_REQUIRE(tsr_opts_add_string(o, "name", name, "FILE", "a path") == TSR_SUCCESS);
    FUZZ_REQUIRE(tsr_opts_add_choice(o, "colour", &colour, colours, "a choice") == TSR_SUCCESS);
    FUZZ_REQUIRE(tsr_opts_add_extents(o, "grid", &grid, "NxM", "sizes") == TSR_SUCCESS);

    bool done = false;
    int err = tsr_opts_parse(o, argc, argv, &done);
    FUZZ_REQUIRE(strlen(tsr_opts_command_line(o)) < 4096);
    tsr_opts_destroy(&o);
    FUZZ_REQUIRE(o == NULL);
    if (err) {
        const char *msg = tsr_ctx_error_message(ctx);
        FUZZ_REQUIRE(err == TSR_ERR_INPUT);
        FUZZ_REQUIRE(msg[0] != '\0' && strlen(msg) < 1024);
        tsr_ctx_error_clear(ctx);
        return 0;
    }
    if (done)
        return 0;
    FUZZ_REQUIRE(small >= 1 && small <= 7);
    FUZZ_REQUIRE(count >= 0);
    FUZZ_REQUIRE(ratio >= 0 && ratio <= 0.5);
    FUZZ_REQUIRE(isfinite(any));
    FUZZ_REQUIRE(name[0] != '\0' && memchr(name, '\0', sizeof name));
    FUZZ_REQUIRE(colour >= 0 && colour < 3);
    FUZZ_REQUIRE(grid.ndim >= 1 && grid.ndim <= 3);
    for (int d = 0; d < grid.ndim; d++)
        FUZZ_REQUIRE(grid.n[d] >= 1);
    return 0;
}
