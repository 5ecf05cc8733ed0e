#!/bin/sh
# Configure and build one configuration.
# usage: scripts/build.sh [BUILD_DIR] [extra cmake arguments...]
set -eu
dir=${1:-build}
[ $# -gt 0 ] && shift
cmake -S "$(dirname "$0")/.." -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
