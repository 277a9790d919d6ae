/* Private side of the boundary conditions, for the halo plan that applies them. */
#ifndef TESSERA_BC_IMPL_H
#define TESSERA_BC_IMPL_H

#include "tessera/bc.h"

/* Whether bc belongs to map's grid: TSR_ERR_ARG with a message otherwise. Not collective. */
int tsr__bc_check_map(tsr_bc bc, tsr_map map);
/* tsr_bc_apply without the argument checks the halo plan made already; NULL bc: nothing. */
int tsr__bc_apply(tsr_bc bc, tsr_field *fields, int nfields);

/* Whether the ghosts outside the domain depend only on the cells inside (none, constant Dirichlet,
 * Neumann, periodic): no Dirichlet function of time. NULL bc: true. */
bool tsr__bc_timeless(tsr_bc bc);

#endif
