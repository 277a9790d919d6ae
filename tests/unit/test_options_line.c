/* Unit tests of the options-file line parser (tsr__opts_parse_line): pure, no MPI. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "options_impl.h"
#include "ck_main.h"

static char name[64], value[256];
static bool has_value;
static const char *why;

static int parse(const char *line) {
    return tsr__opts_parse_line(line, name, sizeof name, value, &has_value, &why);
}

START_TEST(test_blank_and_comments) {
    ck_assert_int_eq(parse(""), 0);
    ck_assert_int_eq(parse("   \t\r\n"), 0);
    ck_assert_int_eq(parse("# a comment"), 0);
    ck_assert_int_eq(parse("   # indented comment --steps 3"), 0);
}
END_TEST

START_TEST(test_forms) {
    const char *forms[] = {"--steps 12", "--steps=12",    "steps 12",          "steps = 12",
                           "steps=12",   "  steps\t12\n", "steps 12 # twelve", "--steps '12'"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        ck_assert_msg(parse(forms[i]) == 1, "%s", forms[i]);
        ck_assert_str_eq(name, "steps");
        ck_assert(has_value);
        ck_assert_str_eq(value, "12");
    }
}
END_TEST

START_TEST(test_flag_and_empty) {
    ck_assert_int_eq(parse("--periodic"), 1);
    ck_assert_str_eq(name, "periodic");
    ck_assert(!has_value);
    ck_assert_int_eq(parse("plan   # print it"), 1);
    ck_assert(!has_value);
    /* "name =" gives an empty value, which the option itself refuses ("--output: empty value"). */
    ck_assert_int_eq(parse("output ="), 1);
    ck_assert(has_value);
    ck_assert_str_eq(value, "");
    ck_assert_int_eq(parse("--output="), 1);
    ck_assert(has_value);
    ck_assert_int_eq(parse("output \"\""), 1);
    ck_assert(has_value);
    ck_assert_str_eq(value, "");
}
END_TEST

START_TEST(test_quotes) {
    ck_assert_int_eq(parse("png \"my dir/a b.png\""), 1);
    ck_assert_str_eq(value, "my dir/a b.png");
    ck_assert_int_eq(parse("png 'x#1.png'  # hash inside quotes"), 1);
    ck_assert_str_eq(value, "x#1.png");
    ck_assert_int_eq(parse("png a#b.png"), 1); /* '#' after no blank is part of the value */
    ck_assert_str_eq(value, "a#b.png");
}
END_TEST

START_TEST(test_malformed) {
    ck_assert_int_eq(parse("png \"unterminated"), -1);
    ck_assert_str_eq(why, "unterminated quote");
    ck_assert_int_eq(parse("center 0.5 0.2"), -1);
    ck_assert_ptr_nonnull(strstr(why, "more than one value"));
    ck_assert_int_eq(parse("png \"a\" b"), -1);
    ck_assert_int_eq(parse("= 3"), -1);
    ck_assert_int_eq(parse("---steps 3"), -1);
    ck_assert_int_eq(parse("-- 3"), -1);
    char longname[100];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(parse(longname), -1);
    ck_assert_str_eq(why, "option name too long");
}
END_TEST

TSR_CK_MAIN("options_line", "line", test_blank_and_comments, test_forms, test_flag_and_empty,
            test_quotes, test_malformed)
