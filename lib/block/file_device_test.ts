import assert from "node:assert/strict";
import type { BlockError } from "./block_device.ts";
import { type FileDeviceError, openFileDevice, openFileDeviceSync } from "./file_device.ts";

const dir = new URL("../../.cache/", import.meta.url).pathname;

async function tempImage(size: number, fill: (i: number) => number): Promise<[string, Uint8Array]> {
  await Deno.mkdir(dir, { recursive: true });
  const path = await Deno.makeTempFile({ dir, prefix: "file_device_test_", suffix: ".img" });
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = fill(i);
  await Deno.writeFile(path, data);
  return [path, data];
}

/** A seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Rounds of concurrent reads, writes and zeroes at random (unaligned) places; writes in one round
 * never overlap each other, so the model is exact, but they often share aligned blocks.
 */
async function modelCheck(
  opts: {
    direct: boolean | "auto";
    queues: number;
    queueDepth: number;
    slotSize: number;
    wakeup?: "socket" | "ffi";
  },
  size: number,
  seed: number,
): Promise<void> {
  const [path, model] = await tempImage(size, (i) => (i * 31 + 7) & 0xff);
  const rand = rng(seed);
  const dev = openFileDeviceSync(path, opts);
  try {
    if (opts.direct === true) assert.equal(dev.direct, true);
    assert.equal(dev.engine.wakeup, opts.wakeup ?? "socket");
    for (let round = 0; round < 60; round++) {
      const taken: [number, number][] = [];
      const ops: Promise<void>[] = [];
      for (let k = 0; k < 24; k++) {
        const off = Math.floor(rand() * size);
        const small = rand() < 0.6;
        const len = Math.min(size - off, Math.floor(rand() * (small ? 700 : 3 * opts.slotSize)));
        const end = off + len;
        if (taken.some(([a, b]) => a < end && off < b)) continue;
        taken.push([off, end]);
        const kind = rand();
        if (kind < 0.45) {
          const d = new Uint8Array(len);
          for (let i = 0; i < len; i++) d[i] = (round * 13 + k * 7 + i) & 0xff;
          model.set(d, off);
          ops.push(dev.write(off, d, { fua: rand() < 0.1 }));
        } else if (kind < 0.55) {
          model.fill(0, off, end);
          ops.push(dev.zero(off, len, { noHole: rand() < 0.5 }));
        } else {
          const expect = model.slice(off, end);
          const buf = new Uint8Array(len);
          ops.push(
            dev.read(off, buf).then(() => {
              const at = buf.findIndex((v, i) => v !== expect[i]);
              assert.equal(at, -1, `read ${off}+${len} differs at +${at} (round ${round})`);
            }),
          );
        }
      }
      await Promise.all(ops);
    }
    await dev.flush();
  } finally {
    await dev.close();
  }
  const onDisk = await Deno.readFile(path);
  await Deno.remove(path);
  assert.equal(onDisk.length, size, "the file kept its size");
  const at = onDisk.findIndex((v, i) => v !== model[i]);
  assert.equal(at, -1, `file differs from the model at ${at}`);
}

Deno.test("file device: O_DIRECT, one queue, unaligned size, small slots", async () => {
  await modelCheck({ direct: true, queues: 1, queueDepth: 8, slotSize: 8192 }, 300_001, 1);
});

Deno.test("file device: O_DIRECT, three queues, deep queue", async () => {
  await modelCheck({ direct: true, queues: 3, queueDepth: 32, slotSize: 65536 }, 2 << 20, 2);
});

Deno.test("file device: completions woken by the FFI wait (the fallback) instead of the socket", async () => {
  await modelCheck(
    { direct: true, queues: 2, queueDepth: 16, slotSize: 16384, wakeup: "ffi" },
    1 << 20,
    4,
  );
});

Deno.test("file device: buffered", async () => {
  await modelCheck({ direct: false, queues: 2, queueDepth: 4, slotSize: 4096 }, 123_457, 3);
});

Deno.test("file device: trim keeps the size and is readable; read-only refuses writes", async () => {
  const [path] = await tempImage(1 << 20, () => 0xab);
  try {
    const dev = await openFileDevice(path, { direct: true });
    await dev.trim(4096, 65536, { fua: true });
    const buf = new Uint8Array(100);
    await dev.read(4096, buf);
    assert.ok(buf.every((v) => v === 0 || v === 0xab));
    await dev.read(0, buf);
    assert.ok(buf.every((v) => v === 0xab), "bytes before the trimmed range are kept");
    await dev.close();
    assert.equal((await Deno.stat(path)).size, 1 << 20);
    const ro = await openFileDevice(path, { readOnly: true });
    assert.equal(ro.readOnly, true);
    await assert.rejects(ro.write(0, new Uint8Array(1)), (e: BlockError) => e.code === "EPERM");
    await assert.rejects(ro.zero(0, 1), (e: BlockError) => e.code === "EPERM");
    await ro.close();
    await assert.rejects(ro.read(0, buf), (e: BlockError) => e.code === "ESHUTDOWN");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("file device: requests past the end fail with ENOSPC, bad ones with EINVAL", async () => {
  const [path] = await tempImage(10_000, () => 1);
  const dev = await openFileDevice(path);
  try {
    await assert.rejects(
      dev.read(9_999, new Uint8Array(2)),
      (e: BlockError) => e.code === "ENOSPC",
    );
    await assert.rejects(dev.write(-1, new Uint8Array(1)), (e: BlockError) => e.code === "EINVAL");
    const last = new Uint8Array(1);
    await dev.read(9_999, last);
    assert.equal(last[0], 1);
  } finally {
    await dev.close();
    await Deno.remove(path);
  }
});

Deno.test("file device: bad paths are one clear error with the errno", async () => {
  await Deno.mkdir(dir, { recursive: true });
  const missing = `${dir}no-such-image-${crypto.randomUUID()}.img`;
  assert.throws(
    () => openFileDeviceSync(missing),
    (e: FileDeviceError) => e.errno === "ENOENT" && e.message.includes(missing),
  );
  assert.throws(() => openFileDeviceSync(dir), (e: FileDeviceError) => e.errno === "EISDIR");
  const [path] = await tempImage(4096, () => 0);
  try {
    await Deno.chmod(path, 0o444);
    assert.throws(() => openFileDeviceSync(path), (e: FileDeviceError) => e.errno === "EACCES");
    const ro = openFileDeviceSync(path, { readOnly: true });
    await ro.close();
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("file device: many concurrent callers on one queue of depth 2", async () => {
  const [path] = await tempImage(1 << 20, (i) => i & 0xff);
  const dev = openFileDeviceSync(path, { direct: true, queues: 1, queueDepth: 2 });
  try {
    const reads = Array.from({ length: 500 }, (_, k) => {
      const off = (k * 2039) % ((1 << 20) - 600);
      const buf = new Uint8Array(517);
      return dev.read(off, buf).then(() => buf.every((v, i) => v === ((off + i) & 0xff)));
    });
    assert.ok((await Promise.all(reads)).every(Boolean));
  } finally {
    await dev.close();
    await Deno.remove(path);
  }
});
