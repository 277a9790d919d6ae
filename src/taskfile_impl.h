/* Task files of tessera-farm: one shell command per line, '#' comments, blank lines and
 * #TESSERA directives (PREFIX, SUFFIX, BARRIER, REPEAT). A pure module: no MPI, no context, so
 * the unit tests can feed it any text. */
#ifndef TESSERA_TASKFILE_IMPL_H
#define TESSERA_TASKFILE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line of a task file, newline excluded. */
#define TSR__TASKFILE_MAX_LINE 65536
/* Most tasks one file (or one REPEAT) may give: ids and counts stay far from overflow. */
#define TSR__TASKFILE_MAX_TASKS (INT64_C(1) << 32)

typedef struct tsr__task_entry {
    int64_t line;   /* 1-based line of the task file it came from */
    int64_t repeat; /* TESSERA_REPEAT_INDEX (0 outside a REPEAT) */
    bool repeated;  /* from a REPEAT directive */
    int64_t epoch;  /* BARRIERs before it: a task starts when every lower epoch has ended */
    char *command;  /* PREFIX, the command and SUFFIX joined by blanks; owned by the list */
} tsr__task_entry;

typedef struct tsr__task_list {
    int64_t n, cap;
    tsr__task_entry *t;
} tsr__task_list;

/* Parses `len` bytes of task file text named `name` (for messages) into *list (zeroed first).
 * Returns 0, TSR_ERR_INPUT with "NAME:LINE: reason" (or "NAME: reason") in msg, or
 * TSR_ERR_MEMORY. *list is empty after an error. Not collective. */
int tsr__taskfile_parse(const char *text, size_t len, const char *name, tsr__task_list *list,
                        char *msg, size_t msglen);
/* Reads the file at `path` ("-": standard input) and parses it. A missing or unreadable file,
 * a directory and a file with NUL bytes are TSR_ERR_INPUT. Not collective. */
int tsr__taskfile_read(const char *path, tsr__task_list *list, char *msg, size_t msglen);
void tsr__taskfile_free(tsr__task_list *list);

#endif
