#!/bin/bash
# A build of another commit for before/after pairs (bench/heat_ab.sh OLD NEW, or any bench
# program run from both): a git worktree of COMMIT at DIR, configured like the native bench
# build (release, -march=native, no tests) into DIR/bb.
#
#   bench/build_at.sh COMMIT DIR      e.g. bench/build_at.sh HEAD~1 /tmp/old
#   bench/build_at.sh --remove DIR    the worktree and its build go
#
# Prints the build directory. DIR must not exist (an old one: --remove it first).
set -euo pipefail
usage() { echo "usage: bench/build_at.sh COMMIT DIR | --remove DIR" >&2; exit 2; }
[ $# = 2 ] || usage
cd "$(dirname "$0")/.."
if [ "$1" = --remove ]; then
  git worktree remove --force "$2"
  git worktree prune
  exit 0
fi
commit=$(git rev-parse --verify --quiet "$1^{commit}") || { echo "bench/build_at.sh: no commit '$1'" >&2; exit 2; }
[ ! -e "$2" ] || { echo "bench/build_at.sh: $2 exists (bench/build_at.sh --remove $2)" >&2; exit 2; }
git worktree add --detach "$2" "$commit" >/dev/null
meson setup "$2/bb" "$2" --buildtype=release -Dc_args=-march=native -Dtests=disabled >/dev/null
ninja -C "$2/bb" >/dev/null
echo "$2/bb"
