/* Private parts of the io module shared with checkpoints and the run loop. */
#ifndef TESSERA_IO_IMPL_H
#define TESSERA_IO_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/io.h"

/* tsr_io_write with a hook run on every rank after the data is on disk and before the file gets
 * its final name (a test pause). Collective. */
int tsr__io_write_file(tsr_field *fields, int nfields, const char *path, const tsr_io_meta *meta,
                       bool overwrite, void (*before_publish)(void));

/* Fails with `code` (on every rank, one message) when f holds a non-finite owned cell: "<what>
 * holds a non-finite value (nan) in cell (x, y) of field 'u'". where (len chars, may be NULL)
 * receives "(x, y)". Collective. */
int tsr__io_check_finite(tsr_field f, int code, const char *what, char *where, size_t len);

/* tsr_checkpoint_write that, with force, also replaces another run's checkpoint at the same step
 * (atomically: the old file stays until the new one is complete). Collective. */
int tsr__checkpoint_write(const char *dir, int64_t keep, tsr_field *fields, int nfields,
                          const tsr_io_meta *meta, bool force, char *path, int len);

/* Rank 0: the steps of the complete checkpoints (ckpt_<step>.h5) in dir, newest first, at most
 * max of them; returns how many there are in all (-1 if dir cannot be read). */
int64_t tsr__checkpoint_scan(const char *dir, int64_t *steps, int64_t max);

/* The path of the checkpoint of `step` in dir. */
void tsr__checkpoint_path(const char *dir, int64_t step, char *path, size_t len);

#endif
