# Sourced by every bin/ shim: finds the checkout and the project's deno, then runs the tool
# with exactly the permissions the shim passes. `./dev setup` installs what is missing.
HVKIT_ROOT="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
if [ -x "$HVKIT_ROOT/.tools/node_modules/.bin/deno" ]; then
  HVKIT_DENO="$HVKIT_ROOT/.tools/node_modules/.bin/deno"
elif command -v deno >/dev/null 2>&1; then
  HVKIT_DENO="$(command -v deno)"
else
  echo "$(basename "$0"): deno is not installed; run $HVKIT_ROOT/dev setup" >&2
  exit 1
fi
hvkit_run() { # main.ts, then deno permission flags, then -- and the tool's arguments
  local main="$1"; shift
  local flags=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  exec "$HVKIT_DENO" run --quiet --no-prompt --config "$HVKIT_ROOT/deno.json" "${flags[@]}" \
    "$HVKIT_ROOT/$main" "$@"
}
