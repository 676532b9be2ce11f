/**
 * fast-check fuzzers of the NBD wire parsing: the handshake (negotiate) and the transmission
 * request loop, each fed a generated client byte stream (well-formed frames with random fields,
 * garbage, cut anywhere) in random read sizes. Bounded case counts; the seed is printed and
 * HVKIT_SEED repeats a run.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ConnReader, TruncatedError } from "./conn_reader.ts";
import { negotiate, ProtocolError } from "./handshake.ts";
import { ReplyWriter } from "./reply_writer.ts";
import { Transmission } from "./transmission.ts";
import { MemoryDevice } from "../block/memory_device.ts";
import type { NbdExport } from "./types.ts";
import { DEFAULT_LIMITS, ServerBudget } from "./budget.ts";

const seed = Number(Deno.env.get("HVKIT_SEED") ?? Date.now() % 2 ** 31);
console.log(`wire fuzz seed ${seed} (HVKIT_SEED=${seed} repeats it)`);

const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE = 0x67446698;
const STRUCTURED = 0x668e33ef;

/** A connection that hands out `data` in the given read sizes, then end of stream. */
class ScriptedConn {
  #at = 0;
  #turn = 0;
  out: number[] = [];
  constructor(readonly data: Uint8Array, readonly sizes: number[]) {}
  read(p: Uint8Array): Promise<number | null> {
    if (this.#at >= this.data.length) return Promise.resolve(null);
    const want = this.sizes.length ? this.sizes[this.#turn++ % this.sizes.length] : p.length;
    const n = Math.min(p.length, Math.max(1, want), this.data.length - this.#at);
    p.set(this.data.subarray(this.#at, this.#at + n));
    this.#at += n;
    return Promise.resolve(n);
  }
  write(p: Uint8Array): Promise<number> {
    for (const b of p) this.out.push(b);
    return Promise.resolve(p.length);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const enc = new TextEncoder();
const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
};
const u16 = (v: number) => new Uint8Array([(v >>> 8) & 0xff, v & 0xff]);

/** An option's data: shaped for its type (with random lengths) or random bytes. */
const optionData = (opt: number) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.record({
      name: fc.constantFrom("", "disk", "nope", "\u00e9"),
      reqs: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
      queries: fc.array(fc.constantFrom("base:allocation", "base:", "x:y", "bad"), {
        maxLength: 3,
      }),
      skew: fc.integer({ min: -3, max: 3 }),
    }).map(({ name, reqs, queries, skew }) => {
      const n = enc.encode(name);
      let d: Uint8Array;
      if (opt === 6 || opt === 7) {
        d = concat([u32(n.length + skew), n, u16(reqs.length), ...reqs.map(u16)]);
      } else if (opt === 9 || opt === 10) {
        const qs = queries.map((q) => enc.encode(q));
        d = concat([
          u32(n.length),
          n,
          u32(qs.length + skew),
          ...qs.flatMap((q) => [u32(q.length), q]),
        ]);
      } else d = n;
      return d;
    }),
  );

/** One option frame: a known or unknown type, its data, maybe a lying length or a bad magic. */
const optionFrame = fc.integer({ min: 1, max: 12 }).chain((opt) =>
  fc.tuple(
    fc.constant(opt),
    optionData(opt),
    fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, {
      weight: 1,
      arbitrary: fc.integer({ min: -8, max: 8 }),
    }),
    fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, {
      weight: 1,
      arbitrary: fc.constant(true),
    }),
  ).map(([o, data, lie, badMagic]) => {
    const h = new Uint8Array(16);
    const v = new DataView(h.buffer);
    v.setBigUint64(0, badMagic ? 0x4142434445464748n : IHAVEOPT);
    v.setUint32(8, o);
    v.setUint32(12, Math.max(0, data.length + lie));
    return { opt: o, bytes: concat([h, data]), badMagic, declared: Math.max(0, data.length + lie) };
  })
);

const exportsOf = (): NbdExport[] => [
  { name: "disk", device: new MemoryDevice(1 << 20) },
  { name: "ro", device: new MemoryDevice(1 << 16), readOnly: true },
];

Deno.test("nbd wire fuzz: the handshake answers each whole option once and nothing else", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof({ weight: 6, arbitrary: fc.constant(3) }, { weight: 1, arbitrary: fc.nat() }),
      fc.array(optionFrame, { maxLength: 8 }),
      fc.nat(),
      fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 6 }),
      async (cflags, opts, cutAt, sizes) => {
        const whole = concat([u32(cflags), ...opts.map((o) => o.bytes)]);
        const stream = whole.subarray(0, cutAt % (whole.length + 1));
        const conn = new ScriptedConn(stream, sizes);
        const reader = new ConnReader(conn, 256 * 1024);
        let outcome: unknown = null;
        try {
          outcome = await negotiate(
            conn as unknown as Deno.Conn,
            reader,
            exportsOf(),
            () => false,
            () => {},
          );
        } catch (e) {
          assert.ok(
            e instanceof ProtocolError || e instanceof TruncatedError,
            `unexpected ${(e as Error)?.name}: ${(e as Error)?.message}`,
          );
        }
        // Which options reached the server whole (the stream as the client framed it, with the
        // lengths it declared), up to the first bad magic.
        let at = 4;
        let whole_ = 0;
        if (stream.length >= 4) {
          for (;;) {
            if (at + 16 > stream.length) break;
            const v = new DataView(stream.buffer, stream.byteOffset + at);
            if (v.getBigUint64(0) !== IHAVEOPT) break;
            const len = v.getUint32(12);
            if (at + 16 + Math.min(len, 65536 + 1) > stream.length) break;
            at += 16 + len;
            whole_++;
          }
        }
        // Every byte the server wrote: the 18-byte greeting, then option replies (or an
        // EXPORT_NAME answer, which ends the handshake).
        const out = new Uint8Array(conn.out);
        assert.ok(out.length >= 18);
        let p = 18;
        let finals = 0;
        while (p + 20 <= out.length) {
          const v = new DataView(out.buffer, p);
          if (v.getBigUint64(0) !== OPT_REPLY_MAGIC) break; // the EXPORT_NAME answer
          const type = v.getUint32(12);
          const len = v.getUint32(16);
          assert.ok(p + 20 + len <= out.length, "reply shorter than its length");
          if (type === 1 || type >= 0x80000000) finals++;
          p += 20 + len;
        }
        // One final reply (ACK or error) per whole option at most, never one for a cut option.
        assert.ok(finals <= whole_, `${finals} final replies for ${whole_} whole options`);
        if (outcome !== null) assert.ok(whole_ >= 1);
      },
    ),
    { seed, numRuns: 400 },
  );
});

/** A request frame with random fields, maybe a bad magic. */
const requestFrame = fc.record({
  type: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 7 }) }, {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 65535 }),
  }),
  flags: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 65535 }),
  }),
  offset: fc.oneof(fc.integer({ min: 0, max: (1 << 20) + 4096 }), fc.maxSafeNat()),
  length: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
  badMagic: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, {
    weight: 1,
    arbitrary: fc.constant(true),
  }),
}).map((r) => {
  if (r.type === 2 && r.length > 0) r.type = 0; // keep DISC rare and whole
  const h = new Uint8Array(28);
  const v = new DataView(h.buffer);
  v.setUint32(0, r.badMagic ? 0x11223344 : REQUEST_MAGIC);
  v.setUint16(4, r.flags);
  v.setUint16(6, r.type);
  v.setBigUint64(16, BigInt(r.offset));
  v.setUint32(24, r.length >>> 0);
  // A write's payload follows (short writes' payloads only: the fuzzer keeps streams small).
  const payload = r.type === 1 && !r.badMagic ? new Uint8Array(Math.min(r.length, 70000)) : null;
  return { ...r, header: h, payload };
});

Deno.test("nbd wire fuzz: each whole request gets exactly one reply with its cookie", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(requestFrame, { maxLength: 10 }),
      fc.boolean(),
      fc.nat(),
      fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 5 }),
      async (reqs, structured, cutAt, sizes) => {
        const frames = reqs.map((r, i) => {
          new DataView(r.header.buffer).setBigUint64(8, BigInt(i + 1)); // cookie = index + 1
          return r.payload ? concat([r.header, r.payload]) : r.header;
        });
        const whole = concat(frames);
        const stream = whole.subarray(0, cutAt % (whole.length + 1));
        const conn = new ScriptedConn(stream, sizes);
        const reader = new ConnReader(conn);
        const budget = new ServerBudget(DEFAULT_LIMITS).connection();
        const writer = new ReplyWriter(conn, (n) => budget.release(n));
        const exp = exportsOf()[0];
        const tx = new Transmission(reader, writer, {
          export: exp,
          structured,
          readOnly: false,
          flags: 0,
          meta: structured ? 1 : null,
        }, {
          stats: {
            connections: 0,
            activeConnections: 0,
            requests: 0,
            errors: 0,
            dropped: 0,
            refused: 0,
          },
          isShuttingDown: () => false,
          log: () => {},
          budget,
        });
        try {
          await tx.run();
        } catch (e) {
          assert.ok(
            e instanceof ProtocolError || e instanceof TruncatedError,
            `unexpected ${(e as Error)?.name}: ${(e as Error)?.message}`,
          );
        } finally {
          await tx.settle();
          await writer.drain();
        }
        // Requests that reached the server whole, before a bad magic, a DISC or an over-long
        // write (whose payload ends the connection).
        const expected = new Set<number>();
        let at = 0;
        for (let i = 0; i < reqs.length; i++) {
          const r = reqs[i];
          if (at + 28 > stream.length || r.badMagic) break;
          if (r.type === 2) break;
          if (r.type === 1 && r.length > 64 << 20) break;
          const need = 28 + (r.payload?.length ?? 0);
          if (r.type === 1 && r.length !== (r.payload?.length ?? 0)) break; // payload shorter than declared
          if (at + need > stream.length) break;
          at += need;
          expected.add(i + 1);
        }
        const out = new Uint8Array(conn.out);
        const done = new Map<number, number>();
        let p = 0;
        while (p < out.length) {
          assert.ok(p + 16 <= out.length, "a reply cut short");
          const v = new DataView(out.buffer, p);
          const magic = v.getUint32(0);
          const cookie = Number(v.getBigUint64(8));
          if (magic === SIMPLE) {
            const r = reqs[cookie - 1];
            const data = r && r.type === 0 && v.getUint32(4) === 0 ? r.length : 0;
            p += 16 + data;
            done.set(cookie, (done.get(cookie) ?? 0) + 1);
          } else {
            assert.equal(magic, STRUCTURED, `bad reply magic at ${p}`);
            const len = v.getUint32(16);
            if (v.getUint16(4) & 1) done.set(cookie, (done.get(cookie) ?? 0) + 1);
            p += 20 + len;
          }
          assert.ok(p <= out.length, "a reply longer than what was written");
        }
        for (const [cookie, n] of done) {
          assert.equal(n, 1, `cookie ${cookie} answered ${n} times`);
          assert.ok(expected.has(cookie), `cookie ${cookie} answered but never sent whole`);
        }
        for (const c of expected) assert.ok(done.has(c), `cookie ${c} never answered`);
        // Every byte charged came back once its reply was written.
        assert.equal(budget.used, 0, `${budget.used} bytes still charged`);
      },
    ),
    { seed, numRuns: 300 },
  );
});
