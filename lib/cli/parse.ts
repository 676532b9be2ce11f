import { InvalidArgumentError } from "@commander-js/extra-typings";
import { UsageError } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
  s: 512, // sectors, as in qemu-img
};

/**
 * Parses a size the way fio and qemu-img write them: `4096`, `4k`, `64M`, `1G`, `2GiB`, `8s`
 * (binary multiples). Throws commander's InvalidArgumentError so the message names the option.
 *
 * @example
 * ```ts
 * import { parseSize } from "./parse.ts";
 * parseSize("64M"); // 67108864
 * ```
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`not a size: ${text}`);
  const v = Number(m[1]) * unit;
  if (!Number.isSafeInteger(v)) {
    throw new InvalidArgumentError(`not a whole number of bytes: ${text}`);
  }
  return v;
}

/** Parses a comma-separated list of sizes: `64M,256M,1G`. */
export function parseSizeList(text: string): number[] {
  return text.split(",").filter((s) => s !== "").map(parseSize);
}

/** Parses a non-negative integer option value. */
export function parseCount(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`not a whole number: ${text}`);
  const v = Number(text);
  if (!Number.isSafeInteger(v)) throw new InvalidArgumentError(`too large: ${text}`);
  return v;
}

/** Parses a positive integer option value. */
export function parsePositive(text: string): number {
  const v = parseCount(text);
  if (v === 0) throw new InvalidArgumentError(`must be at least 1: ${text}`);
  return v;
}

/** Parses a duration: `30` (seconds), `500ms`, `10s`, `2m`. Returns milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError(`not a duration: ${text}`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]!;
  return Number(m[1]) * mult;
}

/** Formats bytes as a short binary size: `4.0KiB`, `1.5GiB`. */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(v >= 100 ? 0 : 1)}${units[i]}`;
}

/**
 * Parses an option's value inside an action (where commander no longer names the option): a bad
 * value is a UsageError `--name: reason`.
 *
 * @example
 * ```ts
 * import { parseCount, parseOption } from "./parse.ts";
 * parseOption("--top", "10", parseCount); // 10
 * ```
 */
export function parseOption<T>(name: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (e) {
    throw new UsageError(`${name}: ${(e as Error).message}`);
  }
}

/**
 * `parse` as a commander argument parser whose error names the option the way
 * {@link parseOption} does (`--name: reason`, exit 2), so the option's value has its type
 * where the action reads it.
 *
 * @example
 * ```ts
 * import { namedParser, parsePercent } from "./parse.ts";
 * // new Command().option("--check-regressions <pct>", "...", namedParser("--check-regressions", parsePercent))
 * namedParser("--check-regressions", parsePercent)("20%"); // 20
 * ```
 */
export function namedParser<T>(name: string, parse: (text: string) => T): (text: string) => T {
  return (text) => parseOption(name, text, parse);
}

/** A percentage, `20` or `20%`, not negative. */
export function parsePercent(text: string): number {
  const n = Number(text.replace(/%$/, ""));
  if (text.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`not a percentage: ${text}`);
  }
  return n;
}
