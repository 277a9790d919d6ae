/* tessera: blocks, rank-0 mapping, halo exchange and OpenMP sweeps on MPI; task farms and
 * pipelines on the same runtime. */
#ifndef TESSERA_H
#define TESSERA_H

#include "tessera/error.h"
#include "tessera/context.h"
#include "tessera/grid.h"
#include "tessera/options.h"
#include "tessera/decomp.h"
#include "tessera/map.h"
#include "tessera/field.h"
#include "tessera/bc.h"
#include "tessera/halo.h"
#include "tessera/remap.h"
#include "tessera/sweep.h"
#include "tessera/cpu.h"
#include "tessera/balance.h"
#include "tessera/reduce.h"
#include "tessera/accum.h"
#include "tessera/image.h"
#include "tessera/report.h"
#include "tessera/domain.h"
#include "tessera/file.h"
#include "tessera/io.h"
#include "tessera/run.h"
#include "tessera/farm.h"
#include "tessera/cmdfarm.h"
#include "tessera/pipeline.h"
#include "tessera/particles.h"
#include "tessera/particles_run.h"
#include "tessera/app.h"

#endif
