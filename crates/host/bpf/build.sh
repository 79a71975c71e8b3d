#!/bin/sh
# Rebuilds bpf/exec.bpf.o from bpf/exec.bpf.c. The object is committed so that building
# Watchpost needs no clang; run this after changing the program and commit both.
# `bpf/build.sh --check` rebuilds into a temporary file and fails when the committed
# object differs (CI runs it). Needs clang and libbpf's headers (Debian: clang libbpf-dev).
set -eu
cd "$(dirname "$0")/.."
case "$(uname -m)" in
  x86_64) multiarch=/usr/include/x86_64-linux-gnu ;;
  aarch64) multiarch=/usr/include/aarch64-linux-gnu ;;
  *) multiarch=/usr/include ;;
esac
out=bpf/exec.bpf.o
[ "${1:-}" = --check ] && out=$(mktemp)
# Relative paths and a fixed compilation directory: the object is the same in any checkout.
"${CLANG:-clang}" -O2 -g -target bpf -Wall -Werror -I"$multiarch" \
  -fdebug-compilation-dir=. -c bpf/exec.bpf.c -o "$out"
if [ "${1:-}" = --check ]; then
  if ! cmp -s "$out" bpf/exec.bpf.o; then
    echo "bpf/exec.bpf.o does not match bpf/exec.bpf.c: run crates/host/bpf/build.sh and commit" >&2
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
  echo "bpf/exec.bpf.o matches its source"
fi
