#!/bin/bash
# Before/after of a library change: tessera-heat from two builds, run in interleaved pairs whose
# order alternates (the first of a pair tends to run faster), medians of the per-pair ratios.
#
#   bench/heat_ab.sh OLD_BUILD NEW_BUILD [REPS]
#
# Builds are meson build directories (the old one from `bench/build_at.sh <commit> /tmp/old`, built
# with the same options as build-bench). The cases are docs/PERFORMANCE.md's: 2D 4096^2 and 3D 256^3 at
# 1x2 and 2x1, one and 16 blocks per rank.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bench/heat_ab.sh OLD_BUILD NEW_BUILD [REPS]" >&2
  exit 2
fi
old=$1/apps/heat/tessera-heat new=$2/apps/heat/tessera-heat reps=${3:-6}
for b in "$old" "$new"; do
  [ -x "$b" ] || { echo "bench/heat_ab.sh: no $b" >&2; exit 2; }
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_PROC_BIND=false
export OMP_WAIT_POLICY=active
cases=("1x2 4096x4096 40 1x1" "1x2 4096x4096 40 4x4" "2x1 4096x4096 40 1x2" "2x1 4096x4096 40 4x8"
       "1x2 256x256x256 20 1x1x1" "1x2 256x256x256 20 4x2x2" "2x1 256x256x256 20 1x1x2"
       "2x1 256x256x256 20 4x4x2")
mlups() { # binary ranks threads grid steps blocks
  OMP_NUM_THREADS=$3 mpirun -np "$2" --bind-to none "$1" --grid "$4" --steps "$5" --quiet \
    --streaming-stores off --blocks "$6" | awk '/^MLUP/ {print $2}'
}
for c in "${cases[@]}"; do
  read -r rt grid steps blocks <<< "$c"
  np=${rt%x*} t=${rt#*x}
  o=() n=()
  for r in $(seq "$reps"); do
    if [ $((r % 2)) = 1 ]; then
      o+=("$(mlups "$old" "$np" "$t" "$grid" "$steps" "$blocks")")
      n+=("$(mlups "$new" "$np" "$t" "$grid" "$steps" "$blocks")")
    else
      n+=("$(mlups "$new" "$np" "$t" "$grid" "$steps" "$blocks")")
      o+=("$(mlups "$old" "$np" "$t" "$grid" "$steps" "$blocks")")
    fi
  done
  python3 - "$rt" "$grid" "$blocks" "${o[*]}" "${n[*]}" <<'PY'
import statistics as st, sys
rt, grid, blocks, o, n = sys.argv[1:]
o, n = [float(x) for x in o.split()], [float(x) for x in n.split()]
r = [b / a for a, b in zip(o, n)]
print("%s %-15s %-6s before %6.0f after %6.0f after/before %.3f (pairs %s)"
      % (rt, grid, blocks, st.median(o), st.median(n), st.median(r), " ".join("%.2f" % x for x in r)))
PY
done
