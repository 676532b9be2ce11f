/**
 * Signature names stored for random access (the cache's names section, db_cache.ts) and read
 * lazily: a start-up decodes only the names of what it detects, not 100,000 strings.
 *
 * Layout: uint32 count n, uint32 offsets[n + 1] (into the bytes, non-decreasing, offsets[n] the
 * bytes' length), then the names' UTF-8 bytes. Little-endian; the offsets at a 4-byte boundary
 * of the section.
 *
 * @module
 */

/** The section for `names`. */
export function encodeNames(names: string[]): Uint8Array {
  const te = new TextEncoder();
  const parts = names.map((n) => te.encode(n));
  const head = 4 * (names.length + 2);
  const out = new Uint8Array(head + parts.reduce((a, p) => a + p.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, names.length, true);
  let at = 0;
  parts.forEach((p, i) => {
    dv.setUint32(4 * (i + 1), at, true);
    out.set(p, head + at);
    at += p.length;
  });
  dv.setUint32(4 * (names.length + 1), at, true);
  return out;
}

/**
 * The names of a section as an array whose elements are decoded on first access (null when the
 * section is not well formed: `count` names, offsets in order and inside it). It behaves as a
 * `string[]` of `count` names (indexing, length, iteration, array methods); enumerating its
 * keys (e.g. a deep comparison) decodes every name.
 */
export function lazyNames(section: Uint8Array, count: number): string[] | null {
  if (section.length < 4 * (count + 2) || section.byteOffset % 4 !== 0) return null;
  const dv = new DataView(section.buffer, section.byteOffset, section.byteLength);
  if (dv.getUint32(0, true) !== count) return null;
  const off = new Uint32Array(section.buffer, section.byteOffset + 4, count + 1);
  const head = 4 * (count + 2), bytes = section.length - head;
  if (off[count] !== bytes) return null;
  for (let i = 0; i < count; i++) if (off[i] > off[i + 1]) return null;
  const td = new TextDecoder();
  const target: string[] = new Array(count);
  const index = (p: string | symbol): number => {
    if (typeof p !== "string" || p === "" || p.length > 10) return -1;
    const i = Number(p);
    return Number.isInteger(i) && i >= 0 && i < count && String(i) === p ? i : -1;
  };
  const at = (i: number): string => {
    let s = target[i];
    if (s === undefined) {
      s = td.decode(section.subarray(head + off[i], head + off[i + 1]));
      target[i] = s;
    }
    return s;
  };
  const fill = () => {
    for (let i = 0; i < count; i++) at(i);
  };
  return new Proxy(target, {
    get(t, p, r) {
      const i = index(p);
      return i >= 0 ? at(i) : Reflect.get(t, p, r);
    },
    has(t, p) {
      return index(p) >= 0 || Reflect.has(t, p);
    },
    ownKeys(t) {
      fill();
      return Reflect.ownKeys(t);
    },
    getOwnPropertyDescriptor(t, p) {
      const i = index(p);
      if (i >= 0) at(i);
      return Reflect.getOwnPropertyDescriptor(t, p);
    },
  });
}
