#!/usr/bin/env bash
# The native layer under AddressSanitizer and UBSan (issue 15): builds
# native/build-asan/libhvkit.so (`make -C native asan`), proves the sanitizer is live (a
# deliberate heap overflow through the library must be caught), then runs the native-facing
# unit tests and the parser fuzzers with lib/ffi pointed at that library. Exit 0 = 0 findings.
#
#   ./dev test-asan                 # the default test set below
#   ./dev test-asan lib/pviommu     # narrower
#
# Deno itself is not built with ASan, so its runtime is preloaded (LD_PRELOAD) to come first;
# leak checking is off because LeakSanitizer would report Deno's own allocations at exit.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
: "${DENO:?run through ./dev test-asan (it sets DENO)}"
TESTS=(lib/ffi lib/pviommu lib/cache lib/block lib/nbd lib/virtav lib/trace lib/pdc)
[ "$#" -gt 0 ] && TESTS=("$@")

make -s -C native asan >&2
runtime="$(${CC:-cc} -print-file-name=libasan.so)"
[ -f "$runtime" ] || { echo "test-asan: no libasan.so next to ${CC:-cc} (install gcc)" >&2; exit 1; }
export HVKIT_NATIVE_LIB="$ROOT/native/build-asan/libhvkit.so"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# 1. The sanitizer is live: an 8-byte read past a 4 KiB buffer must be reported.
live="$(mktemp)"
trap 'rm -f "$live"' EXIT
if LD_PRELOAD="$runtime" "$DENO" eval --quiet '
  import { native } from "./lib/ffi/ffi.ts";
  const ram = new Uint8Array(new ArrayBuffer(4096));
  const ptr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(ram)));
  const ctx = new BigUint64Array([0n, 0n, ptr, 4096n + 64n, 0n, 12n, 0n, 0n, 0n, 0n]);
  native().hv_pviommu_copy_read(ctx, 4096, new Uint8Array(8), 8);
' >/dev/null 2>"$live"; then
  echo "test-asan: the deliberate overflow was not caught: the sanitizer is not active" >&2
  exit 1
fi
if ! grep -q "AddressSanitizer: heap-buffer-overflow" "$live"; then
  echo "test-asan: the deliberate overflow failed without an AddressSanitizer report:" >&2
  tail -5 "$live" >&2
  exit 1
fi
echo "test-asan: sanitizer live (a deliberate overflow was caught); running ${TESTS[*]}" >&2

# 2. The tests: any ASan or UBSan finding aborts the run, which fails it.
LD_PRELOAD="$runtime" "$DENO" test -A --no-check "${TESTS[@]}"
