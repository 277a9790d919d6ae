/* Files a run reads and writes, kept safe: paths checked before any computation, outputs written
 * under a temporary name and published only when complete, nothing replaced without `force`,
 * and locks that keep two runs out of each other's files. */
#ifndef TESSERA_FILE_H
#define TESSERA_FILE_H

#include <stdbool.h>
#include <stdio.h>

#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest path tessera handles, including the terminating NUL. */
#define TSR_PATH_MAX 4096
/* What tessera appends to a path for the file it writes before the final name: a name of
 * tessera's own, so that a user's "out.h5.tmp" is never taken for it (and replaced). */
#define TSR_FILE_TMP_SUFFIX ".tessera.tmp"
/* Room for a path and that suffix. */
#define TSR_FILE_TMP_MAX (TSR_PATH_MAX + 16)
/* What a run's lock file is named after: "<output prefix>" TSR_FILE_LOCK_SUFFIX, and
 * "<checkpoint directory>/" TSR_FILE_LOCK_SUFFIX (a hidden file there). */
#define TSR_FILE_LOCK_SUFFIX ".tessera.lock"

/* Checks a file given as input before anyone opens it: a non-empty path naming an existing,
 * readable regular file (a FIFO or a device would block open() forever). `what` names the input
 * in the message (e.g. "--input"). Returns TSR_ERR_INPUT. Not collective (call it on the rank
 * that will open the file, then agree). */
int tsr_file_check_input(tsr_ctx ctx, const char *what, const char *path);

/* Makes a directory and its missing parents (like mkdir -p) and checks that files can be
 * created in it. TSR_ERR_INPUT when it cannot be made or written. Not collective. */
int tsr_dir_prepare(tsr_ctx ctx, const char *what, const char *dir);

/* Checks that a file tessera will write can have its name where it goes: the last part of path
 * with TSR_FILE_TMP_SUFFIX (the name it is written under first) within the file system's limit
 * on a name (pathconf of its directory, which must exist; 255 when unknown). TSR_ERR_INPUT
 * naming both lengths. Not collective. */
int tsr_file_check_name(tsr_ctx ctx, const char *what, const char *path);

/* Checks a file the run will write, before the run computes anything: a non-empty path whose
 * directory exists (made if missing) and is writable, and no file there unless `force` (with
 * force, only a regular file may be replaced), and its name fits (tsr_file_check_name).
 * TSR_ERR_INPUT. Not collective. */
int tsr_file_check_output(tsr_ctx ctx, const char *what, const char *path, bool force);

/* Collective form of tsr_file_check_output for n paths (empty ones skipped): rank 0 checks, every
 * rank gets the verdict. Two paths naming one file (the same name in the same directory) are
 * TSR_ERR_INPUT, with force too. Collective. */
int tsr_file_check_outputs(tsr_ctx ctx, int n, const char *const *whats, const char *const *paths,
                           bool force);

/* The temporary name of a file being written: "<path>" TSR_FILE_TMP_SUFFIX. len >=
 * TSR_FILE_TMP_MAX. */
void tsr_file_tmp_name(const char *path, char *tmp, size_t len);

/* Publishes a complete temporary file under its final name: syncs it to disk, then renames it.
 * Without `force` an existing file is never replaced, even one that appeared while this one was
 * being written (the rename itself refuses). The temporary name is fixed, so two writers of the
 * same path must not run at once (runs lock their outputs for that). On failure the temporary file
 * is removed and TSR_ERR_IO names the file and the system's reason. Not collective. */
int tsr_file_publish(tsr_ctx ctx, const char *tmp, const char *path, bool force);

/* A file written by one process (PNG, JSON, XDMF): fp writes to the temporary name. */
typedef struct tsr_file_out {
    FILE *fp;
    bool force;
    char path[TSR_PATH_MAX];
    char tmp[TSR_FILE_TMP_MAX];
} tsr_file_out;

/* Opens the temporary name of path for writing (binary), replacing what tessera left there.
 * TSR_ERR_IO naming the file and the reason. Not collective. */
int tsr_file_open(tsr_ctx ctx, const char *path, bool force, tsr_file_out *out);
/* Checks that every write reached the file (a full disk is reported here), closes it and
 * publishes it (tsr_file_publish). The temporary file is gone afterwards, whatever happened.
 * Not collective. */
int tsr_file_commit(tsr_ctx ctx, tsr_file_out *out);
/* Closes and removes the temporary file, after a failure. Safe to call twice. Not collective. */
void tsr_file_abandon(tsr_file_out *out);

/* An exclusive lock on a path, held for as long as the process lives or until released: a
 * second holder fails at once (no waiting). Rank 0 takes the locks of a run. */
typedef struct tsr_lock {
    int fd; /* -1: not held */
    char path[TSR_PATH_MAX];
} tsr_lock;

/* Takes the lock file `path` (created if missing; it records the holder's host and pid). When
 * another process holds it, TSR_ERR_INPUT: "<what> is in use by another run (<holder>)". Not
 * collective. */
int tsr_lock_acquire(tsr_ctx ctx, const char *what, const char *path, tsr_lock *lock);
/* Releases and removes the lock file; a lock not held is ignored. Not collective. */
void tsr_lock_release(tsr_lock *lock);

/* Fills id (17 chars) with a new random run identity: 16 lowercase hex digits. Not collective. */
void tsr_run_id_new(char id[17]);

#ifdef __cplusplus
}
#endif
#endif
