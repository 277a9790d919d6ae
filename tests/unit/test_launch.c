/* Which MCA settings choose Open MPI's transport themselves, so that tessera leaves its start
 * alone (src/launch.c). */
#include <check.h>

#include "ck_main.h"
#include "context_impl.h"

START_TEST(exclusions_of_others_choose_nothing) {
    /* Debian's own file. */
    ck_assert(!tsr__launch_mca_chooses("pml", "^ucx"));
    ck_assert(!tsr__launch_mca_chooses("btl", "^uct,openib,ofi"));
    ck_assert(!tsr__launch_mca_chooses("mtl", "^ofi"));
    ck_assert(!tsr__launch_mca_chooses("osc", "ucx"));
}
END_TEST

START_TEST(choices_are_respected) {
    ck_assert(tsr__launch_mca_chooses("pml", "ucx"));
    ck_assert(tsr__launch_mca_chooses("pml", "ob1"));
    ck_assert(tsr__launch_mca_chooses("pml", "^ob1,ucx"));
    ck_assert(tsr__launch_mca_chooses("mtl", "psm2"));
    ck_assert(tsr__launch_mca_chooses("btl", "self,tcp"));
    ck_assert(tsr__launch_mca_chooses("btl", "^vader"));
    ck_assert(!tsr__launch_mca_chooses("btl", "self,vader,tcp"));
}
END_TEST

TSR_CK_MAIN("launch", "mca", exclusions_of_others_choose_nothing, choices_are_respected)
