import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeFault,
  decodeProperties,
  decodeReply,
  decodeRequest,
  encodeFault,
  encodeProperties,
  encodeReply,
  encodeRequest,
  type Request,
  requestSize,
} from "./codec.ts";
import { handleRequest } from "./device.ts";
import { frame, FrameError, readFrames } from "./framing.ts";
import { PvIommu } from "./iommu.ts";
import { ReqType, Status } from "./spec.ts";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const PROBE = 512;

const reqArb: fc.Arbitrary<Request> = fc.oneof(
  fc.record({
    type: fc.constant("ATTACH" as const),
    domain: u32,
    endpoint: u32,
    flags: u32,
    reserved: u32,
  }),
  fc.record({
    type: fc.constant("DETACH" as const),
    domain: u32,
    endpoint: u32,
    reserved: fc.constantFrom(0, 1),
  }),
  fc.record({
    type: fc.constant("MAP" as const),
    domain: u32,
    virtStart: u64,
    virtEnd: u64,
    physStart: u64,
    flags: u32,
  }),
  fc.record({
    type: fc.constant("UNMAP" as const),
    domain: u32,
    virtStart: u64,
    virtEnd: u64,
    reserved: u32,
  }),
  fc.record({
    type: fc.constant("PROBE" as const),
    endpoint: u32,
    reserved: fc.constantFrom(0, 1),
    probeSize: fc.constant(PROBE),
  }),
);

Deno.test("codec: every request type round-trips", () => {
  fc.assert(
    fc.property(reqArb, (req) => {
      const b = encodeRequest(req);
      assert.equal(b.length, requestSize(ReqType[req.type], PROBE));
      const d = decodeRequest(b, PROBE);
      assert.ok(d.ok);
      assert.deepEqual(d.req, { ...req });
    }),
    { numRuns: 500 },
  );
});

Deno.test("codec: truncated and oversized requests are rejected", () => {
  fc.assert(
    fc.property(reqArb, fc.integer({ min: 1, max: 64 }), (req, cut) => {
      const b = encodeRequest(req);
      const short = decodeRequest(b.subarray(0, Math.max(0, b.length - cut)), PROBE);
      assert.ok(!short.ok && short.error === "truncated");
      const long = new Uint8Array(b.length + cut);
      long.set(b);
      const over = decodeRequest(long, PROBE);
      assert.ok(!over.ok && over.error === "oversized");
      assert.equal(handleRequest(new PvIommu(), b.subarray(0, b.length - cut)).reply.length, 0);
      assert.deepEqual(
        handleRequest(new PvIommu(), long).reply,
        Uint8Array.of(Status.IOERR, 0, 0, 0),
      );
    }),
    { numRuns: 200 },
  );
  const unknown = decodeRequest(Uint8Array.of(9, 0, 0, 0, 0, 0, 0, 0), PROBE);
  assert.ok(!unknown.ok && unknown.error === "unknown-type");
});

Deno.test("codec: random bytes never crash the device, and replies have the right size", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), fc.integer({ min: 0, max: 6 }), (b, t) => {
      if (b.length > 0 && t > 0) b[0] = t;
      const iommu = new PvIommu();
      const h = handleRequest(iommu, b);
      assert.ok([0, 4, PROBE + 4].includes(h.reply.length));
    }),
    { numRuns: 500 },
  );
});

Deno.test("codec: properties, replies and fault reports round-trip", () => {
  const resv = [{ subtype: 1, start: 0xfee00000n, end: 0xfeefffffn }, {
    subtype: 0,
    start: 0n,
    end: 4095n,
  }];
  assert.deepEqual(decodeProperties(encodeProperties(resv, 64)), resv);
  const reply = encodeReply(ReqType.PROBE, Status.OK, 64, resv);
  assert.deepEqual(decodeReply(ReqType.PROBE, reply, 64), { status: 0, resv });
  assert.deepEqual(decodeReply(ReqType.MAP, encodeReply(ReqType.MAP, Status.RANGE, 64), 64), {
    status: Status.RANGE,
  });
  assert.equal(decodeReply(ReqType.MAP, new Uint8Array(0), 64), null);
  // A property with reserved bits set is skipped; an unknown type is skipped; type 0 stops.
  const props = encodeProperties(resv, 64);
  props[1] |= 0x10;
  assert.deepEqual(decodeProperties(props), [resv[1]]);
  const f = { reason: 2, flags: 0x102, endpoint: 8, address: 0x1234000n };
  assert.deepEqual(decodeFault(encodeFault(f)), f);
  const bad = encodeFault(f);
  bad[2] = 1;
  assert.equal(decodeFault(bad), null);
});

Deno.test("codec: layouts match Linux's <linux/virtio_iommu.h> compiled by cc", async () => {
  const src = `#include <linux/virtio_iommu.h>
#include <stdio.h>
#include <string.h>
static void dump(const void *p, size_t n) { const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]); printf("\\n"); }
int main(void) {
  struct virtio_iommu_req_attach a; memset(&a, 0, sizeof a);
  a.head.type = VIRTIO_IOMMU_T_ATTACH; a.domain = 0x11223344; a.endpoint = 0x55667788;
  a.flags = VIRTIO_IOMMU_ATTACH_F_BYPASS; dump(&a, sizeof a);
  struct virtio_iommu_req_detach d; memset(&d, 0, sizeof d);
  d.head.type = VIRTIO_IOMMU_T_DETACH; d.domain = 7; d.endpoint = 9; dump(&d, sizeof d);
  struct virtio_iommu_req_map m; memset(&m, 0, sizeof m);
  m.head.type = VIRTIO_IOMMU_T_MAP; m.domain = 3; m.virt_start = 0x123456789000ULL;
  m.virt_end = 0x123456789fffULL; m.phys_start = 0xfedcba000ULL;
  m.flags = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE; dump(&m, sizeof m);
  struct virtio_iommu_req_unmap u; memset(&u, 0, sizeof u);
  u.head.type = VIRTIO_IOMMU_T_UNMAP; u.domain = 3; u.virt_start = 0x1000; u.virt_end = 0x1fff;
  dump(&u, sizeof u);
  printf("%zu %zu\\n", sizeof(struct virtio_iommu_req_probe), sizeof(struct virtio_iommu_fault));
  struct virtio_iommu_fault f; memset(&f, 0, sizeof f);
  f.reason = VIRTIO_IOMMU_FAULT_R_MAPPING; f.flags = VIRTIO_IOMMU_FAULT_F_WRITE | VIRTIO_IOMMU_FAULT_F_ADDRESS;
  f.endpoint = 8; f.address = 0xabc000; dump(&f, sizeof f);
  return 0; }`;
  const dir = await Deno.makeTempDir({ prefix: "pviommu-codec-" });
  try {
    await Deno.writeTextFile(`${dir}/l.c`, src);
    const cc = await new Deno.Command("cc", { args: [`${dir}/l.c`, "-o", `${dir}/l`] }).output();
    assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
    const out = await new Deno.Command(`${dir}/l`).output();
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    const ours = [
      encodeRequest({
        type: "ATTACH",
        domain: 0x11223344,
        endpoint: 0x55667788,
        flags: 1,
        reserved: 0,
      }),
      encodeRequest({ type: "DETACH", domain: 7, endpoint: 9, reserved: 0 }),
      encodeRequest({
        type: "MAP",
        domain: 3,
        virtStart: 0x123456789000n,
        virtEnd: 0x123456789fffn,
        physStart: 0xfedcba000n,
        flags: 3,
      }),
      encodeRequest({
        type: "UNMAP",
        domain: 3,
        virtStart: 0x1000n,
        virtEnd: 0x1fffn,
        reserved: 0,
      }),
    ];
    for (let i = 0; i < ours.length; i++) assert.equal(hex(ours[i]), lines[i]);
    assert.equal(lines[4], "72 24", "probe readable part (head+endpoint+reserved) and fault sizes");
    assert.equal(
      hex(encodeFault({ reason: 2, flags: 0x102, endpoint: 8, address: 0xabc000n })),
      lines[5],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("framing: frames split across chunks, and bad streams are one clear error", async () => {
  const frames = [Uint8Array.of(1, 2, 3), new Uint8Array(0), new Uint8Array(300).fill(7)];
  const all = new Uint8Array(frames.reduce((n, f) => n + 4 + f.length, 0));
  let o = 0;
  for (const f of frames) all.set(frame(f), o), o += 4 + f.length;
  async function* chunks(b: Uint8Array, step: number) {
    for (let i = 0; i < b.length; i += step) yield b.slice(i, i + step);
  }
  for (const step of [1, 3, 5, 1000]) {
    const got: Uint8Array[] = [];
    for await (const f of readFrames(chunks(all, step))) got.push(f);
    assert.deepEqual(got, frames);
  }
  await assert.rejects(async () => {
    for await (const _ of readFrames(chunks(all.subarray(0, all.length - 1), 7))) { /* */ }
  }, FrameError);
  await assert.rejects(async () => {
    for await (const _ of readFrames(chunks(Uint8Array.of(0xff, 0xff, 0xff, 0x7f), 7))) { /* */ }
  }, /limit/);
});
