#!/bin/sh
# Builds bench/c/xskref, the C reference AF_XDP program (needs libxdp-dev and
# libbpf-dev). OUT is the binary to write, relative to the caller's directory
# (default: bin/xskref at the repository root).
set -e
dir=$(dirname "$0")
OUT=${OUT:-$dir/../../bin/xskref}
mkdir -p "$(dirname "$OUT")"
libs=$(pkg-config --libs libxdp libbpf 2>/dev/null || echo "-lxdp -lbpf")
exec ${CC:-cc} -O2 -Wall -Wextra -o "$OUT" "$dir/xskref.c" $libs
