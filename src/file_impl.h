/* Private parts of the file module shared with the HDF5 writers. */
#ifndef TESSERA_FILE_IMPL_H
#define TESSERA_FILE_IMPL_H

/* Removes whatever sits under a temporary name (tsr_file_tmp_name) just before the file is
 * created there: what an interrupted run left, or a symbolic link, which must never be written
 * through (open would follow it, and HDF5's create would truncate its target). A missing file is
 * not an error; any other reason surfaces when the file is created. Not collective. */
void tsr__file_tmp_clear(const char *tmp);

#endif
