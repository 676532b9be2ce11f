#!/usr/bin/env bash
# Builds libCacheSim's `cachesim` (bench/sim's peer) from its sources, which Debian does not
# package: scripts/build_libcachesim.sh SRC_DIR [BUILD_DIR]. SRC_DIR is a checkout of
# https://github.com/1a1a11a/libCacheSim (checked here at aa0fc40, October 2024). Installs its
# build dependencies from Debian (cmake, libglib2.0-dev, libzstd-dev), builds Release (-O3) and
# prints the binary's path: run bench/sim with `--cachesim PATH` or HVKIT_CACHESIM=PATH.
set -euo pipefail
src="${1:?usage: $0 SRC_DIR [BUILD_DIR]}"
build="${2:-$src/_build}"
[ -f "$src/CMakeLists.txt" ] || { echo "$0: $src has no CMakeLists.txt (a libCacheSim checkout?)" >&2; exit 2; }
missing=()
for p in cmake libglib2.0-dev libzstd-dev; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
mkdir -p "$build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
make -C "$build" -j"$(nproc)" cachesim >/dev/null
bin="$(find "$build" -name cachesim -type f -perm -u+x | head -1)"
[ -n "$bin" ] || { echo "$0: the build made no cachesim" >&2; exit 1; }
echo "$bin"
