/* Fuzzes HDF5 input and checkpoint validation: bytes -> a file -> tsr_io_read into a small 2D
 * field and tsr_checkpoint_read, on one rank. Rank 0 checks a file before any collective open, so
 * every malformed file must come back as an error with a message: a crash, a sanitizer report or
 * a hang (libFuzzer's -timeout) is a finding. HDF5 keeps global state, so every handle the
 * library opens must be closed again: the harness checks that no HDF5 object stays open. */
#include <stdint.h>
#include <string.h>

#include <hdf5.h>

#include "fuzz_common.h"
#include "tessera/decomp.h"
#include "tessera/field.h"
#include "tessera/grid.h"
#include "tessera/io.h"
#include "tessera/map.h"

/* The grid the seeds were written on (h5_seeds.c): 6 x 5 cells, 2 blocks. */
#define NX 6
#define NY 5

static tsr_grid grid;
static tsr_decomp decomp;
static tsr_map map;
static tsr_field field;
static char dir[4096], path[4200];

static void cleanup(void) {
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_start(argc, argv, "fuzz-hdf5");
    tsr_extents size = {.ndim = 2, .n = {NX, NY, 1}};
    tsr_decomp_opts dopts = {.blocks = {.ndim = 2, .n = {2, 1, 1}}};
    if (tsr_grid_create(fuzz_ctx, &size, NULL, &grid) || tsr_decomp_create(grid, &dopts, &decomp) ||
        tsr_map_create(decomp, TSR_MAP_CONTIGUOUS, NULL, &map) ||
        tsr_field_create(map, 1, "u", &field)) {
        fprintf(stderr, "fuzz-hdf5: cannot set up the field: %s\n",
                tsr_ctx_error_message(fuzz_ctx));
        exit(1);
    }
    /* Under $TESSERA_FUZZ_TMP (scripts/fuzz: inside the build directory), as a crash leaves it. */
    const char *tmp = getenv("TESSERA_FUZZ_TMP");
    snprintf(dir, sizeof dir, "%s/tessera-fuzz-hdf5-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz-hdf5: mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof path, "%s/input.h5", dir);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tsr_ctx ctx = fuzz_ctx;
    FILE *fp = fopen(path, "wb");
    FUZZ_REQUIRE(fp);
    FUZZ_REQUIRE(fwrite(data, 1, size, fp) == size);
    FUZZ_REQUIRE(fclose(fp) == 0);

    int err = tsr_io_read(field, path, "/fields/u");
    if (err) {
        FUZZ_REQUIRE(err == TSR_ERR_IO || err == TSR_ERR_INPUT);
        FUZZ_REQUIRE(tsr_ctx_error_message(ctx)[0] != '\0');
        tsr_ctx_error_clear(ctx);
    }
    int64_t step = -1;
    double time = 0;
    char run_options[256], run_id[32];
    err = tsr_checkpoint_read(path, "fuzz-hdf5", &field, 1, &step, &time, run_options,
                              (int)sizeof run_options, run_id, (int)sizeof run_id);
    if (err) {
        FUZZ_REQUIRE(err == TSR_ERR_IO || err == TSR_ERR_INPUT);
        FUZZ_REQUIRE(tsr_ctx_error_message(ctx)[0] != '\0');
        tsr_ctx_error_clear(ctx);
    } else {
        FUZZ_REQUIRE(memchr(run_options, '\0', sizeof run_options));
    }
    /* Every file, dataset, dataspace, type and attribute the readers opened is closed again. */
    FUZZ_REQUIRE(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
    unlink(path);
    return 0;
}
