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

/* The two halves of tsr__checkpoint_write around the writing itself, for other writers
 * (particles): the path of meta->step's checkpoint in dir into final (len chars) and whether an
 * existing file there may be replaced (agreed; another run's is refused with TSR_ERR_IO unless
 * force); then, after the write, rank 0 deletes this run's checkpoints but the newest keep. */
int tsr__checkpoint_target(tsr_ctx ctx, const char *dir, const tsr_io_meta *meta, bool force,
                           char *final, size_t len, bool *replace);
void tsr__checkpoint_prune(tsr_ctx ctx, const char *dir, int64_t keep, const tsr_io_meta *meta);

/* Rank 0: the steps of the complete checkpoints (ckpt_<step>.h5) in dir, newest first, at most
 * max of them; returns how many there are in all (-1 if dir cannot be read). */
int64_t tsr__checkpoint_scan(const char *dir, int64_t *steps, int64_t max);

/* Is a file name (no directory) a checkpoint's, ckpt_<step>.h5? Sets *step when it is. */
bool tsr__checkpoint_name(const char *name, int64_t *step);

/* The path of the checkpoint of `step` in dir. */
void tsr__checkpoint_path(const char *dir, int64_t step, char *path, size_t len);

#endif
