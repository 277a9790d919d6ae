#!/bin/bash
# Before/after of a library change on tessera-heat: docs/PERFORMANCE.md's cases (2D 4096^2 and 3D
# 256^3 at 1x2 and 2x1, one and 16 blocks per rank), each through bench/ab.py (interleaved pairs,
# medians of the per-pair ratios).
#
#   bench/heat_ab.sh OLD_BUILD NEW_BUILD [REPS]
#
# Builds are meson build directories (the old one from `bench/build_at.sh <commit> /tmp/old`, built
# with the same options as build-bench).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bench/heat_ab.sh OLD_BUILD NEW_BUILD [REPS]" >&2
  exit 2
fi
here=$(dirname "$0")
export OMP_PROC_BIND=false OMP_WAIT_POLICY=active
cases=("1x2 4096x4096 40 1x1" "1x2 4096x4096 40 4x4" "2x1 4096x4096 40 1x2" "2x1 4096x4096 40 4x8"
       "1x2 256x256x256 20 1x1x1" "1x2 256x256x256 20 4x2x2" "2x1 256x256x256 20 1x1x2"
       "2x1 256x256x256 20 4x4x2")
for c in "${cases[@]}"; do
  read -r rt grid steps blocks <<< "$c"
  np=${rt%x*} t=${rt#*x}
  OMP_NUM_THREADS=$t "$here/ab.py" --reps "${3:-6}" --metric '^MLUP/s' \
    --label "$(printf '%s %-15s %-6s' "$rt" "$grid" "$blocks")" "$1" "$2" -- \
    mpirun -np "$np" --bind-to none '{build}/apps/heat/tessera-heat' --grid "$grid" \
    --steps "$steps" --quiet --streaming-stores off --blocks "$blocks"
done
