/**
 * Reads journal ranges saved by `pdc-filter locate -o FILE`: a JSON object with
 * `"ranges": [{"off": bytes, "len": bytes}, ...]` (other fields ignored).
 *
 * @module
 */
import type { ByteRange } from "./byte_range.ts";

/**
 * Parses the JSON text of a ranges file; throws an Error naming what was wrong.
 *
 * @example
 * ```ts
 * import { parseRangesJson } from "./ranges_file.ts";
 * parseRangesJson('{"ranges":[{"off":0,"len":4096}]}'); // [{ off: 0, len: 4096 }]
 * ```
 */
export function parseRangesJson(text: string, name = "ranges"): ByteRange[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${name}: not JSON`);
  }
  const list = (v as { ranges?: unknown })?.ranges;
  if (!Array.isArray(list)) throw new Error(`${name}: no "ranges" array`);
  return list.map((r, i) => {
    const { off, len } = (r ?? {}) as Record<string, unknown>;
    if (
      typeof off !== "number" || typeof len !== "number" || !Number.isSafeInteger(off) ||
      !Number.isSafeInteger(len) || off < 0 || len < 0
    ) {
      throw new Error(`${name}: ranges[${i}] needs integer "off" and "len" >= 0`);
    }
    return { off, len };
  });
}
