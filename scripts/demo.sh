#!/usr/bin/env bash
# The demo behind `./dev demo`, end to end on a real Linux guest: make an ext4 image, serve it
# with `qbic-cache serve` (recording every request), boot the test guest (lib/qemu) on it and
# run fsync-small then read-hot, shut down; check the image with e2fsck; then pdc-filter and
# qbic-cache sim over the recorded trace. Everything is recorded in out/demo.duckdb and a
# short report is printed. Leaves nothing running: the server and QEMU run under a guard
# (lib/qemu/guarded_process.ts) that kills them if this script dies.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
export PATH="$ROOT/bin:$PATH"
DENO="${DENO:-$ROOT/.tools/node_modules/.bin/deno}"
mkdir -p "$ROOT/out"
export HVKIT_DB="${HVKIT_DB:-$ROOT/out/demo.duckdb}"
WORK="$ROOT/out/demo"
rm -rf "$WORK"
mkdir -p "$WORK"
START=$(date +%s)
has_sub() { "$1" --help 2>/dev/null | grep -qE "^  $2 "; }

echo "== what this machine can do (daio doctor)"
daio doctor
for tool in qbic-cache pdc-filter pviommu virtav; do
  "$tool" doctor -q --output json >/dev/null
done

echo
echo "== an ext4 image (128 MiB, mkfs.ext4)"
truncate -s 128M "$WORK/disk.img"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/disk.img"
echo "$WORK/disk.img"

echo
echo "== boot the guest on it through qbic-cache serve --record; fsync-small then read-hot"
"$DENO" run --quiet -A "$ROOT/lib/qemu/run_guest.ts" \
  --image "$WORK/disk.img" --server qbic-cache --record "$WORK/trace.jsonl" \
  --workload fsync-small+read-hot --args files=200 --timeout 90 | tee "$WORK/results.jsonl"
echo "trace: $(wc -l <"$WORK/trace.jsonl") requests in $WORK/trace.jsonl"

echo
echo "== the image after the guest shut down (e2fsck -fn)"
e2fsck -fn "$WORK/disk.img" | tail -1

if has_sub pdc-filter locate && has_sub pdc-filter classify; then
  echo
  echo "== the journal in the image, and the trace classified against it (pdc-filter)"
  pdc-filter locate -o "$WORK/journal.json" "$WORK/disk.img"
  cat "$WORK/journal.json"
  echo
  pdc-filter classify --ranges "$WORK/journal.json" -o "$WORK/classified.jsonl" "$WORK/trace.jsonl"
  echo "requests by class:"
  grep -o '"class":"[a-z]*"' "$WORK/classified.jsonl" | sort | uniq -c
  if has_sub pdc-filter eval; then
    echo "the online heuristic against the exact ranges (pdc-filter eval):"
    pdc-filter eval --ranges "$WORK/journal.json" "$WORK/trace.jsonl"
  fi
fi

if has_sub qbic-cache sim; then
  echo
  echo "== cache policies over the recorded trace (qbic-cache sim, 4 MiB and 16 MiB)"
  qbic-cache sim --trace "$WORK/trace.jsonl" --policy lru,arc,s3fifo,qbic --size 4M,16M
  if [ -f "$WORK/classified.jsonl" ]; then
    echo "-- the same with journal writes kept out (--admit pdc)"
    qbic-cache sim --trace "$WORK/classified.jsonl" --policy lru,qbic --size 4M,16M --admit pdc
  fi
fi

echo
echo "== runs recorded in $HVKIT_DB (hvkit-report runs)"
hvkit-report runs
echo
echo "demo finished in $(($(date +%s) - START)) s; files in $WORK"
