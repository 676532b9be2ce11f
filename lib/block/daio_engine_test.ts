import assert from "node:assert/strict";
import { DaioEngine, DaioFd, DaioOp } from "./daio_engine.ts";
import { openFileDeviceSync } from "./file_device.ts";
import { BlockError } from "./block_device.ts";

const dir = new URL("../../.cache/", import.meta.url).pathname;
const SIZE = 8 << 20;
const EINVAL = -22;

/** The word every 4-byte-aligned file offset holds, per generation (0: as made, 1: rewritten). */
function word(off: number, gen: number): number {
  return (Math.imul(off >>> 2, 2654435761) ^ (gen * 0x5bd1e995)) >>> 0;
}

function fillPattern(buf: Uint8Array, fileOff: number, gen: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  for (let i = 0; i < buf.length; i += 4) v.setUint32(i, word(fileOff + i, gen), true);
}

/** The first offset in `buf` (file offset `fileOff`) whose word is not generation `gen`'s, or -1. */
function mismatch(buf: Uint8Array, fileOff: number, gen: number): number {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  for (let i = 0; i < buf.length; i += 4) {
    if (v.getUint32(i, true) !== word(fileOff + i, gen)) return i;
  }
  return -1;
}

async function patternFile(): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = await Deno.makeTempFile({ dir, prefix: "daio_engine_", suffix: ".img" });
  const all = new Uint8Array(SIZE);
  fillPattern(all, 0, 0);
  await Deno.writeFile(path, all);
  return path;
}

/** A small seeded generator (mulberry32), so a failing run can be repeated. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const wakeup of ["socket", "ffi"] as const) {
  Deno.test(`daio engine (${wakeup}): refused requests and partial submits never complete another request`, async () => {
    const seed = Number(Deno.env.get("HVKIT_SEED") ?? Date.now() % 1e9);
    console.log(`seed ${seed} (HVKIT_SEED=${seed} repeats this run)`);
    const rand = rng(seed);
    const path = await patternFile();
    const slotSize = 64 * 1024;
    const eng = DaioEngine.open(path, {
      readOnly: false,
      direct: "auto",
      queues: 2,
      queueDepth: 8,
      slotSize,
      wakeup,
    });
    const counts = { ok: 0, refused: 0 };
    try {
      eng.injectFaults(7, 5);
      // Phase 1: writes of generation 1 over random blocks, more callers than tags (a backlog).
      const written = new Map<number, boolean>(); // 4 KiB block -> write reported success
      const blocks = SIZE / 4096;
      const one = async (write: boolean) => {
        const len = 4096 * (1 + Math.floor(rand() * (slotSize / 4096)));
        const off = 4096 * Math.floor(rand() * (blocks - len / 4096));
        if (write) {
          for (let b = off; b < off + len; b += 4096) if (written.has(b)) return; // no overlap
          for (let b = off; b < off + len; b += 4096) written.set(b, false);
        }
        const slot = await eng.acquireSlot();
        try {
          const at = eng.slotOffset(slot);
          const view = eng.pool.subarray(at, at + len);
          if (write) fillPattern(view, off, 1);
          else view.fill(0xee);
          const op = write ? DaioOp.write : DaioOp.read;
          const rc = await eng.submit(op, off, len, at, 0, DaioFd.main);
          if (rc === EINVAL) {
            counts.refused++;
            return;
          }
          // Anything else must be the whole transfer: never a 0-byte or short "success".
          assert.equal(rc, len, `${write ? "write" : "read"} ${off}+${len} returned ${rc}`);
          counts.ok++;
          if (write) {
            for (let b = off; b < off + len; b += 4096) written.set(b, true);
          } else {
            // Reads run after every write settled: each block is generation 0 or 1 as recorded.
            for (let b = 0; b < len; b += 4096) {
              const gen = written.get(off + b) ? 1 : 0;
              const bad = mismatch(view.subarray(b, b + 4096), off + b, gen);
              assert.equal(bad, -1, `read ${off}+${len}: wrong byte at ${off + b + bad}`);
            }
          }
        } finally {
          eng.releaseSlot(slot);
        }
      };
      await Promise.all(Array.from({ length: 400 }, () => one(true)));
      // Phase 2: reads of everything, many at once, faults still injected.
      await Promise.all(Array.from({ length: 1500 }, () => one(false)));
      await eng.idle();
      console.log(
        `${counts.ok} whole transfers, ${counts.refused} refused (EINVAL), ` +
          `${eng.faults.requeued} requeued (ring full), ${eng.faults.kicked} submits left queued`,
      );
      assert.ok(counts.refused > 0, "injection refused nothing");
      assert.ok(eng.faults.requeued > 0, "injection never filled a ring");
      assert.ok(counts.ok > 1000);
    } finally {
      await eng.close();
    }
    // Without injection, the file holds exactly what the successful writes put there.
    const data = await Deno.readFile(path);
    await Deno.remove(path);
    // A refused write left its blocks at generation 0; a successful one at 1.
    for (let b = 0; b < SIZE; b += 4096) {
      const g0 = mismatch(data.subarray(b, b + 4096), b, 0) === -1;
      const g1 = mismatch(data.subarray(b, b + 4096), b, 1) === -1;
      assert.ok(g0 || g1, `block at ${b} is neither generation`);
    }
  });
}

Deno.test("daio file device: injected refusals surface as errors, never as zeroes", async () => {
  const path = await patternFile();
  const dev = openFileDeviceSync(path, { direct: "auto", queues: 1, queueDepth: 4 });
  dev.engine.injectFaults(3, 4);
  let errors = 0;
  try {
    await Promise.all(Array.from({ length: 300 }, async (_, i) => {
      const off = (i * 12_289) % (SIZE - 20_000); // unaligned offsets and lengths too
      const len = 1 + ((i * 7919) % 20_000);
      const buf = new Uint8Array(len + (off & 3) + 4);
      try {
        await dev.read(off - (off & 3), buf.subarray(0, len + (off & 3)));
      } catch (e) {
        assert.ok(e instanceof BlockError, String(e));
        errors++;
        return;
      }
      const whole = buf.subarray(0, (len + (off & 3)) & ~3);
      assert.equal(mismatch(whole, off - (off & 3), 0), -1, `read ${off}+${len}`);
    }));
  } finally {
    await dev.close();
    await Deno.remove(path);
  }
  assert.ok(errors > 0, "injection refused nothing");
});
