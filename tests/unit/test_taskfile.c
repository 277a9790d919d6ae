/* Unit tests of the task-file parser of tessera-farm (tsr__taskfile_parse): pure, no MPI. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taskfile_impl.h"
#include "tessera/error.h"
#include "ck_main.h"

static tsr__task_list list;
static char msg[1024];

static int parse(const char *text) {
    tsr__taskfile_free(&list);
    return tsr__taskfile_parse(text, strlen(text), "t.txt", &list, msg, sizeof msg);
}

START_TEST(test_plain) {
    ck_assert_int_eq(parse("# comment\n\necho a\n  echo b  \r\n\t# indented\necho c"), 0);
    ck_assert_int_eq(list.n, 3);
    ck_assert_str_eq(list.t[0].command, "echo a");
    ck_assert_int_eq(list.t[0].line, 3);
    ck_assert_str_eq(list.t[1].command, "echo b  ");
    ck_assert_int_eq(list.t[1].line, 4);
    ck_assert_str_eq(list.t[2].command, "echo c");
    ck_assert_int_eq(list.t[2].line, 6);
    ck_assert(!list.t[2].repeated);
    ck_assert_int_eq(list.t[2].epoch, 0);
}
END_TEST

START_TEST(test_prefix_suffix_barrier) {
    ck_assert_int_eq(parse("#TESSERA PREFIX cd /tmp &&\na\n#TESSERA SUFFIX > out\nb\n"
                           "#TESSERA BARRIER\n#TESSERA PREFIX\nc\n#TESSERA SUFFIX\nd\n"),
                     0);
    ck_assert_int_eq(list.n, 4);
    ck_assert_str_eq(list.t[0].command, "cd /tmp && a");
    ck_assert_str_eq(list.t[1].command, "cd /tmp && b > out");
    ck_assert_str_eq(list.t[2].command, "c > out");
    ck_assert_str_eq(list.t[3].command, "d");
    ck_assert_int_eq(list.t[1].epoch, 0);
    ck_assert_int_eq(list.t[2].epoch, 1);
    ck_assert_int_eq(list.t[3].epoch, 1);
}
END_TEST

START_TEST(test_repeat) {
    ck_assert_int_eq(parse("#TESSERA REPEAT 3 start 5 step -2 echo $TESSERA_REPEAT_INDEX\n"
                           "#TESSERA REPEAT 2\n#TESSERA PREFIX run\n#TESSERA REPEAT 2 step 10\n"
                           "#TESSERA REPEAT 0 x\n"),
                     TSR_ERR_INPUT);
    ck_assert_str_eq(msg, "t.txt:2: REPEAT: no command (give one, or a PREFIX or SUFFIX before)");
    ck_assert_int_eq(list.n, 0);
    ck_assert_int_eq(parse("#TESSERA REPEAT 3 start 5 step -2 echo $TESSERA_REPEAT_INDEX\n"
                           "#TESSERA PREFIX run\n#TESSERA REPEAT 2 step 10\n#TESSERA REPEAT 0 x\n"),
                     0);
    ck_assert_int_eq(list.n, 5);
    ck_assert_str_eq(list.t[0].command, "echo $TESSERA_REPEAT_INDEX");
    ck_assert_int_eq(list.t[0].repeat, 5);
    ck_assert_int_eq(list.t[1].repeat, 3);
    ck_assert_int_eq(list.t[2].repeat, 1);
    ck_assert(list.t[2].repeated);
    ck_assert_str_eq(list.t[3].command, "run");
    ck_assert_int_eq(list.t[3].repeat, 0);
    ck_assert_int_eq(list.t[4].repeat, 10);
    ck_assert_int_eq(list.t[4].line, 3);
}
END_TEST

START_TEST(test_errors) {
    const struct {
        const char *text, *msg;
    } cases[] = {
        {"", "t.txt: no tasks in the file"},
        {"# only\n\n#TESSERA BARRIER\n", "t.txt: no tasks in the file"},
        {"a\n#TESSERA FOO x\n", "t.txt:2: unknown directive '#TESSERA FOO' (PREFIX, SUFFIX, "
                                "BARRIER, REPEAT)"},
        {"#TESSERA\n", "t.txt:1: '#TESSERA' without a directive (PREFIX, SUFFIX, BARRIER, "
                       "REPEAT)"},
        {"a\n#TESSERA BARRIER now\n", "t.txt:2: BARRIER takes nothing after it"},
        {"#TESSERA REPEAT x a\n", "t.txt:1: REPEAT: expected a count N >= 0, got 'x'"},
        {"#TESSERA REPEAT -1 a\n", "t.txt:1: REPEAT: expected a count N >= 0, got '-1'"},
        {"#TESSERA REPEAT 2 start\n", "t.txt:1: REPEAT: 'start' needs an integer, got ''"},
        {"#TESSERA REPEAT 2 step 1.5 a\n", "t.txt:1: REPEAT: 'step' needs an integer, got '1.5'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_int_eq(parse(cases[i].text), TSR_ERR_INPUT);
        ck_assert_str_eq(msg, cases[i].msg);
        ck_assert_int_eq(list.n, 0);
    }
    ck_assert_int_eq(tsr__taskfile_parse("a\nb\0c\n", 6, "t.txt", &list, msg, sizeof msg),
                     TSR_ERR_INPUT);
    ck_assert_str_eq(msg, "t.txt:2: a NUL byte: not a text file");
    size_t n = TSR__TASKFILE_MAX_LINE + 1;
    static char big[TSR__TASKFILE_MAX_LINE + 16];
    memcpy(big, "a\n", 2);
    memset(big + 2, 'x', n);
    strcpy(big + 2 + n, "\n");
    ck_assert_int_eq(parse(big), TSR_ERR_INPUT);
    ck_assert_str_eq(msg, "t.txt:2: line longer than 65536 characters");
    big[2 + n - 1] = '\n'; /* exactly the limit is fine */
    ck_assert_int_eq(parse(big), 0);
    /* A line within the limit that PREFIX makes longer than it. */
    static char pre[TSR__TASKFILE_MAX_LINE + 64];
    strcpy(pre, "#TESSERA PREFIX echo\n");
    strcat(pre, big + 2);
    ck_assert_int_eq(parse(pre), TSR_ERR_INPUT);
    ck_assert_str_eq(msg, "t.txt:2: with PREFIX and SUFFIX the command is longer than 65536 "
                          "characters");
    tsr__taskfile_free(&list);
}
END_TEST

START_TEST(test_files) {
    ck_assert_int_eq(tsr__taskfile_read("/nonexistent/t", &list, msg, sizeof msg), TSR_ERR_INPUT);
    ck_assert_str_eq(msg, "/nonexistent/t: cannot open the task file: No such file or directory");
    ck_assert_int_eq(tsr__taskfile_read("/", &list, msg, sizeof msg), TSR_ERR_INPUT);
    ck_assert_str_eq(msg, "/: is a directory, not a task file");
    char path[] = "/tmp/test_taskfile_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "x\ny\n", 4), 4);
    close(fd);
    ck_assert_int_eq(tsr__taskfile_read(path, &list, msg, sizeof msg), 0);
    ck_assert_int_eq(list.n, 2);
    unlink(path);
    tsr__taskfile_free(&list);
}
END_TEST

TSR_CK_MAIN("taskfile", "parse", test_plain, test_prefix_suffix_barrier, test_repeat, test_errors,
            test_files)
