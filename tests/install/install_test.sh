#!/bin/sh
# usage: install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR [CFLAGS]
set -eu
build=$1
src=$2
flags=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null

echo "pkg-config consumer"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" 
export PKG_CONFIG_PATH
cc -std=c11 $flags -o "$work/pc" "$src/main.c" $(pkg-config --cflags --libs tokensmith-authz) \
  -Wl,-rpath,"$work/prefix/lib"
"$work/pc" "$src/model.conf" "$src/policy.csv"

echo "find_package consumer"
cmake -S "$src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/cm" >/dev/null
"$work/cm/consumer" "$src/model.conf" "$src/policy.csv"
echo "install consumer: ok"
