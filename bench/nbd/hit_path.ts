/**
 * bench/nbd/hit_path.ts: the user-space CPU cost of one cache-hit READ in qbic-cache serve,
 * without sockets, split by stage. The real classes run against an in-memory connection: the
 * reader hands out batches of 32 pipelined 4K READ requests (fio's QD32) and the writer's
 * socket accepts every write at once. Stages are timed as tight loops of the same work:
 *   parse  — ConnReader + request decoding (Transmission's loop, on a device that does nothing)
 *   cache  — the cache stack serve builds (tools/qbic-cache/cache_stack.ts) reading a resident
 *            block: statistics and block-status layers, policy access, the 4 KiB copy
 *   reply  — header, ReplyWriter batching and the gather copy into the write buffer
 *   total  — the whole Transmission over that stack, request to reply bytes
 * What the server spends beyond `total` per request (bench/nbd/profile.ts measures it) is the
 * kernel and the event loop: socket syscalls, epoll, wake-ups. Not a test; prints ns/request.
 *
 *   deno run -A bench/nbd/hit_path.ts [--requests N] [--json]
 *
 * @module
 */
import { ConnReader } from "../../lib/nbd/conn_reader.ts";
import { ReplyWriter } from "../../lib/nbd/reply_writer.ts";
import { Transmission } from "../../lib/nbd/transmission.ts";
import type { Negotiated } from "../../lib/nbd/handshake.ts";
import { MemoryDevice } from "../../lib/block/memory_device.ts";
import { stackCache } from "../../tools/qbic-cache/cache_stack.ts";
import type { BlockDevice } from "../../lib/block/block_device.ts";
import { DONE } from "../../lib/block/sync_done.ts";
import { createPolicy } from "../../lib/cache/registry.ts";

const args = Deno.args;
const nIdx = args.indexOf("--requests");
const N = nIdx >= 0 ? Number(args[nIdx + 1]) : 400_000;
const json = args.includes("--json");
const WS = 32 << 20;
const BS = 4096;
const QD = 32;

/** N requests of 4K READs at pseudo-random block offsets inside the working set. */
function requests(n: number): Uint8Array {
  const b = new Uint8Array(n * 28);
  const v = new DataView(b.buffer);
  let s = 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const off = (s % (WS / BS)) * BS;
    v.setUint32(i * 28, 0x25609513);
    v.setUint16(i * 28 + 6, 0);
    v.setBigUint64(i * 28 + 8, BigInt(i));
    v.setBigUint64(i * 28 + 16, BigInt(off));
    v.setUint32(i * 28 + 24, BS);
  }
  return b;
}

/** A connection that serves `input` QD requests per read and swallows writes. */
function fakeConn(input: Uint8Array) {
  let at = 0;
  let written = 0;
  return {
    get written() {
      return written;
    },
    read(p: Uint8Array): Promise<number | null> {
      if (at >= input.length) return Promise.resolve(null);
      const n = Math.min(p.length, QD * 28, input.length - at);
      p.set(input.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
    write(p: Uint8Array): Promise<number> {
      written += p.length;
      return Promise.resolve(p.length);
    },
  };
}

async function warmCache(): Promise<BlockDevice> {
  const mem = new MemoryDevice(WS);
  await mem.write(0, new Uint8Array(WS).fill(7));
  const cache = stackCache(mem, { policy: createPolicy("lru", 2 * WS / BS), blockSize: BS });
  const buf = new Uint8Array(1 << 20);
  for (let o = 0; o < WS; o += buf.length) await cache.read(o, buf);
  return cache;
}

async function transmit(dev: BlockDevice, input: Uint8Array): Promise<number> {
  const conn = fakeConn(input);
  const reader = new ConnReader(conn);
  const writer = new ReplyWriter(conn);
  const neg: Negotiated = {
    export: { name: "", device: dev },
    structured: false,
    readOnly: false,
    flags: 0,
    meta: null,
  };
  const tx = new Transmission(reader, writer, neg, {
    stats: { connections: 0, activeConnections: 0, requests: 0, errors: 0, dropped: 0, refused: 0 },
    isShuttingDown: () => false,
    log: () => {},
  });
  const t0 = performance.now();
  await tx.run();
  await tx.settle();
  await writer.drain();
  const ns = (performance.now() - t0) * 1e6 / (input.length / 28);
  if (conn.written !== (input.length / 28) * (16 + BS)) throw new Error("replies missing");
  return ns;
}

/** A device whose reads complete at once and copy nothing: isolates parse + reply. */
const nullDevice: BlockDevice = {
  name: "null",
  size: WS,
  readOnly: false,
  blockSizes: { minimum: 1, preferred: BS, maximum: 32 << 20 },
  read: () => DONE,
  write: () => DONE,
  flush: () => DONE,
  trim: () => DONE,
  zero: () => DONE,
  close: () => DONE,
};

const input = requests(N);
const cache = await warmCache();
const offs = new Float64Array(N);
for (let i = 0; i < N; i++) offs[i] = new DataView(input.buffer).getUint32(i * 28 + 20);

const results: Record<string, number[]> = { parse_reply: [], cache: [], reply: [], total: [] };
for (let round = 0; round < 5; round++) {
  results.parse_reply.push(await transmit(nullDevice, input));
  // cache: the cache stack's read of a resident 4K block into a reply-sized frame.
  const frame = new Uint8Array(16 + BS);
  const dst = frame.subarray(16);
  let t0 = performance.now();
  for (let i = 0; i < N; i++) cache.read(offs[i], dst);
  results.cache.push((performance.now() - t0) * 1e6 / N);
  // reply: header + ReplyWriter batching + gather copy of one 4K frame per request.
  const conn = fakeConn(new Uint8Array(0));
  const w = new ReplyWriter(conn);
  t0 = performance.now();
  for (let i = 0; i < N; i += QD) {
    for (let k = 0; k < QD; k++) w.send(w.acquire(16 + BS), true);
    await w.drain();
  }
  results.reply.push((performance.now() - t0) * 1e6 / N);
  results.total.push(await transmit(cache, input));
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const out = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
if (json) console.log(JSON.stringify(out));
else {
  console.log(`hit path, ${N} 4K READs in batches of ${QD}, median of 5 (ns/request):`);
  console.log(`  parse+reply (null device)  ${out.parse_reply.toFixed(0).padStart(6)}`);
  console.log(`  of which reply             ${out.reply.toFixed(0).padStart(6)}`);
  console.log(`  cache read (hit, 4K copy)  ${out.cache.toFixed(0).padStart(6)}`);
  console.log(`  total (server over cache)  ${out.total.toFixed(0).padStart(6)}`);
}
