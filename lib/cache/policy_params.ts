/**
 * Policy parameters with libCacheSim's names: `s3fifo(fifo-size-ratio=0.1,move-to-main-threshold=2)`,
 * `2q(Ain-size-ratio=0.25,Aout-size-ratio=0.5)`. A policy name alone takes the defaults. Each
 * result row prints the effective parameters (`label`), so a figure says which variant made it.
 *
 * Defaults and the libCacheSim version they match (libCacheSim's S3FIFO.c and TwoQ.c, read at
 * commit aa0fc40, October 2024):
 * - s3fifo: `fifo-size-ratio` 0.1 (alias `small-size-ratio`), `ghost-size-ratio` 0.9,
 *   `move-to-main-threshold` 2 — libCacheSim's defaults in every release with S3FIFO.
 *   `insert-main-when-fifo-full` 1 (hvkit's default): until the first eviction, a miss that
 *   finds the small FIFO full goes to main — the late-2024 libCacheSim variant the issue names;
 *   0 is libCacheSim at aa0fc40 and earlier (a miss always goes to the small FIFO).
 *   The small FIFO holds at least 1 block (floor(size x ratio), at least 1): in a cache of a
 *   few blocks libCacheSim's byte-sized FIFO can round to nothing and cache no new object; hvkit
 *   keeps one block there.
 * - 2q: `Ain-size-ratio` 0.25, `Aout-size-ratio` 0.5 — libCacheSim's defaults. A1in may round
 *   to 0 blocks in a cache of fewer than 4 blocks: new blocks then pass through A1in at once.
 *
 * @module
 */
import { PolicySpecError } from "./errors.ts";

export { PolicySpecError };

interface ParamSpec {
  key: string;
  aliases?: string[];
  dflt: number;
  ok: (v: number) => boolean;
  range: string;
}

const RATIO = (v: number) => v > 0 && v < 1;
/** Parameters by policy, in the order the native twin takes them. */
export const POLICY_PARAMS: Record<string, ParamSpec[]> = {
  s3fifo: [
    {
      key: "fifo-size-ratio",
      aliases: ["small-size-ratio"],
      dflt: 0.1,
      ok: RATIO,
      range: "(0, 1)",
    },
    { key: "ghost-size-ratio", dflt: 0.9, ok: (v) => v >= 0 && v <= 4, range: "[0, 4]" },
    {
      key: "move-to-main-threshold",
      dflt: 2,
      ok: (v) => Number.isInteger(v) && v >= 1 && v <= 255,
      range: "1..255",
    },
    {
      key: "insert-main-when-fifo-full",
      dflt: 1,
      ok: (v) => v === 0 || v === 1,
      range: "0 or 1",
    },
  ],
  "2q": [
    { key: "Ain-size-ratio", dflt: 0.25, ok: (v) => v >= 0 && v < 1, range: "[0, 1)" },
    { key: "Aout-size-ratio", dflt: 0.5, ok: (v) => v >= 0 && v <= 4, range: "[0, 4]" },
  ],
};

/** A parsed policy: its name, every parameter's effective value, and the label to print. */
export interface PolicySpec {
  name: string;
  /** Effective values, in POLICY_PARAMS order (empty for a policy without parameters). */
  params: number[];
  /** `name(key=value,...)` with every parameter, or the bare name. */
  label: string;
}

/** Parses `name` or `name(key=value,...)`; throws {@linkcode PolicySpecError} naming what is wrong. */
export function parsePolicySpec(spec: string): PolicySpec {
  const m = /^([A-Za-z0-9_-]+)(?:\((.*)\))?$/.exec(spec.trim());
  if (!m) throw new PolicySpecError(spec, "expected NAME or NAME(key=value,...)");
  const name = m[1].toLowerCase();
  const defs = POLICY_PARAMS[name] ?? [];
  const params = defs.map((d) => d.dflt);
  if (m[2] !== undefined && m[2].trim() !== "") {
    for (const kv of m[2].split(",")) {
      const [k, v, ...rest] = kv.split("=").map((x) => x.trim());
      const i = defs.findIndex((d) =>
        d.key.toLowerCase() === k.toLowerCase() ||
        (d.aliases ?? []).some((a) => a.toLowerCase() === k.toLowerCase())
      );
      if (i < 0) {
        const known = defs.map((d) => d.key).join(", ") || "none";
        throw new PolicySpecError(spec, `${name} has no parameter '${k}' (known: ${known})`);
      }
      const x = Number(v);
      if (v === undefined || v === "" || rest.length || !Number.isFinite(x) || !defs[i].ok(x)) {
        throw new PolicySpecError(
          spec,
          `${defs[i].key} must be in ${defs[i].range}, got '${v ?? ""}'`,
        );
      }
      params[i] = x;
    }
  }
  const label = defs.length
    ? `${name}(${defs.map((d, i) => `${d.key}=${params[i]}`).join(",")})`
    : name;
  return { name, params, label };
}

/** Splits a `--policy` list at the commas outside parentheses. */
export function splitPolicyList(list: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === "(") depth++;
    else if (list[i] === ")") depth--;
    else if (list[i] === "," && depth === 0) {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  out.push(list.slice(start));
  return out.map((s) => s.trim()).filter((s) => s !== "");
}
