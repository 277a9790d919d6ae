/* Private parts of the file module shared with the HDF5 writers. */
#ifndef TESSERA_FILE_IMPL_H
#define TESSERA_FILE_IMPL_H

#include <stdbool.h>

/* Removes whatever sits under a temporary name (tsr_file_tmp_name) just before the file is
 * created there: what an interrupted run left, or a symbolic link, which must never be written
 * through (open would follow it, and HDF5's create would truncate its target). 0 when the name
 * is free, else the errno that kept it (a link in another user's sticky directory): the caller
 * must not create the file then. Not collective. */
int tsr__file_tmp_clear(const char *tmp);

/* Are two paths' directories one, as the text says or as they are or will be once made ("a.png"
 * and "./a.png", a link to the directory, "d/new/../a.png" and "d/a.png")? */
bool tsr__file_same_dir(const char *a, const char *b);

#endif
