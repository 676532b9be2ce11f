#!/usr/bin/env bash
# The demo behind `./dev demo`: runs on embedded defaults, records into out/demo.duckdb and
# prints a short report. Each tool's part grows as its issue lands.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
export PATH="$ROOT/bin:$PATH"
mkdir -p "$ROOT/out"
export HVKIT_DB="${HVKIT_DB:-$ROOT/out/demo.duckdb}"

echo "== what this machine can do (daio doctor)"
daio doctor
for tool in qbic-cache pdc-filter pviommu virtav; do
  "$tool" doctor -q --output json >/dev/null
done

echo
echo "== runs recorded in $HVKIT_DB (hvkit-report runs)"
hvkit-report runs
