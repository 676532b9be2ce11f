/**
 * The NBD server against misbehaving clients: each bad input gets proto.md's error or a clean
 * disconnect, and the server keeps serving a well-behaved client on another connection.
 */
import assert from "node:assert/strict";
import { NbdServer } from "../../lib/nbd/mod.ts";
import { MemoryDevice } from "../../lib/block/memory_device.ts";
import {
  handshake,
  metaQuery,
  option,
  optionReply,
  Raw,
  request,
  simpleReply,
  structuredReply,
} from "./nbd_raw_client.ts";

const SIZE = 1 << 20;
const EPERM = 1, EINVAL = 22, ENOSPC = 28;

async function withServer(fn: (s: NbdServer, sock: string) => Promise<void>, readOnly = false) {
  const dir = await Deno.makeTempDir({ prefix: "nbd-bad-" });
  const sock = `${dir}/s.sock`;
  const logs: string[] = [];
  const s = NbdServer.start({
    exports: [{ name: "disk", device: new MemoryDevice(SIZE), readOnly }],
    listen: { socket: sock },
    log: (_l, m) => logs.push(m),
  });
  try {
    await fn(s, sock);
    // A good client still works after all that.
    const good = await Raw.unix(sock);
    try {
      await handshake(good);
      await good.send(request(1, 0, 4, { cookie: 77 }));
      await good.send(new Uint8Array([1, 2, 3, 4]));
      const rep = await simpleReply(good);
      assert.deepEqual(rep, [readOnly ? EPERM : 0, 77]);
    } finally {
      good.close();
    }
  } finally {
    await s.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
  return logs;
}

Deno.test("nbd: request errors follow proto.md and the connection keeps working", async () => {
  const logs = await withServer(async (_s, sock) => {
    const c = await Raw.unix(sock);
    try {
      await handshake(c);
      const cases: [Uint8Array, number, string][] = [
        [request(0, SIZE - 100, 4096, { cookie: 2 }), EINVAL, "read past the end"],
        [request(6, SIZE, 4096, { cookie: 3 }), ENOSPC, "zero past the end"],
        [request(0, 0, 64 << 20, { cookie: 4 }), EINVAL, "read over the maximum"],
        [request(42, 0, 0, { cookie: 5 }), EINVAL, "unknown command"],
        [request(0, 0, 512, { cookie: 6, flags: 1 << 9 }), EINVAL, "unknown flag"],
        [request(3, 0, 0, { cookie: 7, flags: 2 }), EINVAL, "NO_HOLE on FLUSH"],
      ];
      for (const [frame, errno, what] of cases) {
        await c.send(frame);
        const rep = await simpleReply(c);
        assert.deepEqual(rep, [errno, Number(new DataView(frame.buffer).getBigUint64(8))], what);
      }
      // A write past the end: its payload is consumed, ENOSPC answered.
      await c.send(request(1, SIZE - 10, 20, { cookie: 8 }));
      await c.send(new Uint8Array(20));
      assert.deepEqual(await simpleReply(c), [ENOSPC, 8]);
      // A write over the maximum: payload read and dropped, EINVAL.
      await c.send(request(1, 0, 33 << 20, { cookie: 9 }));
      await c.send(new Uint8Array(33 << 20));
      assert.deepEqual(await simpleReply(c), [EINVAL, 9]);
      // Still in sync: a normal read works.
      await c.send(request(0, 0, 8, { cookie: 10 }));
      assert.deepEqual(await simpleReply(c), [0, 10]);
      assert.ok(await c.recv(8));
    } finally {
      c.close();
    }
  });
  assert.ok(logs.some((l) => l.includes("past the end")), logs.join("\n"));
});

Deno.test("nbd: write to a read-only export is EPERM", async () => {
  await withServer(async (_s, sock) => {
    const c = await Raw.unix(sock);
    try {
      await handshake(c);
      await c.send(request(4, 0, 4096, { cookie: 3 }));
      assert.deepEqual(await simpleReply(c), [EPERM, 3]);
    } finally {
      c.close();
    }
  }, true);
});

Deno.test("nbd: broken handshakes are dropped, options get their errors", async () => {
  await withServer(async (_s, sock) => {
    // Unknown client flags: dropped.
    let c = await Raw.unix(sock);
    await c.recv(18);
    await c.send(new Uint8Array([0, 0, 0, 0x80]));
    assert.equal(await c.recv(1), null);
    c.close();
    // Bad option magic: dropped.
    c = await Raw.unix(sock);
    await c.recv(18);
    await c.send(new Uint8Array([0, 0, 0, 1]));
    await c.send(new Uint8Array(16).fill(0x41));
    assert.equal(await c.recv(1), null);
    c.close();
    // Unknown option: ERR_UNSUP; LIST with data: ERR_INVALID; GO on an unknown export:
    // ERR_UNKNOWN; ABORT: ACK.
    c = await Raw.unix(sock);
    await c.recv(18);
    await c.send(new Uint8Array([0, 0, 0, 1]));
    await c.send(option(99));
    assert.equal((await optionReply(c))![1], 0x80000001);
    await c.send(option(3, new Uint8Array(3)));
    assert.equal((await optionReply(c))![1], 0x80000003);
    const name = new TextEncoder().encode("nope");
    const go = new Uint8Array(4 + name.length + 2);
    new DataView(go.buffer).setUint32(0, name.length);
    go.set(name, 4);
    await c.send(option(7, go));
    assert.equal((await optionReply(c))![1], 0x80000006);
    await c.send(option(3));
    const srv = await optionReply(c);
    assert.equal(srv![1], 2);
    assert.equal((await optionReply(c))![1], 1);
    await c.send(option(2));
    assert.equal((await optionReply(c))![1], 1);
    c.close();
    // A client that vanishes mid-request (half a write payload).
    c = await Raw.unix(sock);
    await handshake(c);
    await c.send(request(1, 0, 4096));
    await c.send(new Uint8Array(100));
    c.close();
    // Bad request magic: dropped.
    c = await Raw.unix(sock);
    await handshake(c);
    await c.send(request(0, 0, 512, { magic: 0x12345678 }));
    assert.equal(await c.recv(1), null);
    c.close();
  });
});

Deno.test("nbd: fuzz — random and truncated frames never stop the server", async () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const logs = await withServer(async (s, sock) => {
    for (let i = 0; i < 60; i++) {
      const c = await Raw.unix(sock);
      try {
        const phase = rand(3);
        if (phase > 0) await handshake(c, rand(2) === 1);
        else await c.recv(18);
        // A valid-looking request with random fields, or plain noise, maybe cut short.
        const frame = rand(2) === 0
          ? request(rand(10), rand(2) ? rand(SIZE) : rand(1 << 30), rand(70000), {
            flags: rand(64),
            cookie: i,
          })
          : crypto.getRandomValues(new Uint8Array(1 + rand(200)));
        await c.send(frame.subarray(0, rand(3) === 0 ? rand(frame.length) : frame.length));
        if (rand(2) === 0) await c.send(crypto.getRandomValues(new Uint8Array(rand(5000))));
        await c.recv(1, 50);
      } catch {
        // the server may close on us: that is an allowed answer
      } finally {
        c.close();
      }
    }
    assert.ok(s.stats.connections >= 60);
  });
  assert.ok(logs.length > 0);
});

Deno.test("nbd: FUA on any command, write-zeroes over the maximum, absurd write payloads", async () => {
  await withServer(async (_s, sock) => {
    const c = await Raw.unix(sock);
    try {
      await handshake(c);
      // proto.md: with NBD_FLAG_SEND_FUA the server MUST accept FUA on every command.
      await c.send(request(0, 0, 8, { cookie: 1, flags: 1 }));
      assert.deepEqual(await simpleReply(c), [0, 1]);
      assert.ok(await c.recv(8));
      await c.send(request(3, 0, 0, { cookie: 2, flags: 1 }));
      assert.deepEqual(await simpleReply(c), [0, 2]);
      // WRITE_ZEROES is bound by the maximum block size: EINVAL, not ENOSPC for the range.
      await c.send(request(6, 0, 33 << 20, { cookie: 3 }));
      assert.deepEqual(await simpleReply(c), [EINVAL, 3]);
      // A write whose payload is over 64 MiB: a hard disconnect, as proto.md allows.
      await c.send(request(1, 0, 65 << 20, { cookie: 4 }));
      assert.equal(await c.recv(1), null);
    } finally {
      c.close();
    }
  });
});

Deno.test("nbd: meta contexts and BLOCK_STATUS (base:allocation) follow proto.md", async () => {
  const ERR_INVALID = 0x80000003, ERR_UNKNOWN = 0x80000006, ACK = 1, META_CONTEXT = 4;
  const LIST = 9, SET = 10;
  await withServer(async (_s, sock) => {
    // BLOCK_STATUS without a selected context: EINVAL (an error chunk).
    let c = await Raw.unix(sock);
    await handshake(c, true);
    await c.send(request(7, 0, 4096, { cookie: 1 }));
    let rep = await structuredReply(c);
    assert.equal(rep!.type, 0x8001);
    assert.equal(new DataView(rep!.payload.buffer).getUint32(0), EINVAL);
    c.close();

    c = await Raw.unix(sock);
    try {
      await c.recv(18);
      await c.send(new Uint8Array([0, 0, 0, 3]));
      // Before structured replies: ERR_INVALID.
      await c.send(option(SET, metaQuery("", ["base:allocation"])));
      assert.equal((await optionReply(c))![1], ERR_INVALID);
      await c.send(option(8));
      assert.equal((await optionReply(c))![1], ACK);
      // LIST with no query lists base:allocation (id 0), then ACK.
      await c.send(option(LIST, metaQuery("", [])));
      let o = await optionReply(c);
      assert.equal(o![1], META_CONTEXT);
      assert.equal(new TextDecoder().decode(o![2].subarray(4)), "base:allocation");
      assert.equal((await optionReply(c))![1], ACK);
      // An unknown namespace is ignored: just ACK.
      await c.send(option(LIST, metaQuery("", ["x-foo:bar"])));
      assert.equal((await optionReply(c))![1], ACK);
      // Lengths that do not add up; a query without a namespace; an unknown export.
      const bad = metaQuery("", ["base:allocation"]);
      await c.send(option(SET, bad.subarray(0, bad.length - 2)));
      assert.equal((await optionReply(c))![1], ERR_INVALID);
      await c.send(option(SET, metaQuery("", ["allocation"])));
      assert.equal((await optionReply(c))![1], ERR_INVALID);
      await c.send(option(SET, metaQuery("nope", ["base:allocation"])));
      assert.equal((await optionReply(c))![1], ERR_UNKNOWN);
      // Selected: one META_CONTEXT with a non-zero id, then ACK.
      await c.send(option(SET, metaQuery("", ["base:allocation", "x-other:thing"])));
      o = await optionReply(c);
      assert.equal(o![1], META_CONTEXT);
      const id = new DataView(o![2].buffer).getUint32(0);
      assert.equal((await optionReply(c))![1], ACK);
      await c.send(option(7, new Uint8Array(6)));
      while ((o = await optionReply(c))![1] !== ACK) assert.equal(o![1], 3);

      // One written 64 KiB page of the sparse memory device is data, the rest hole+zero.
      await c.send(request(1, 65536 + 100, 4, { cookie: 2 }));
      await c.send(new Uint8Array(4).fill(1));
      assert.deepEqual(await simpleReply(c), [0, 2]); // no payload: a simple reply is allowed
      const status = async (off: number, len: number, flags = 0) => {
        await c.send(request(7, off, len, { cookie: 3, flags }));
        const r = await structuredReply(c);
        assert.equal(r!.type, 5, "NBD_REPLY_TYPE_BLOCK_STATUS");
        assert.equal(r!.flags & 1, 1, "DONE");
        const v = new DataView(r!.payload.buffer);
        assert.equal(v.getUint32(0), id);
        const out: [number, number][] = [];
        for (let at = 4; at < r!.payload.length; at += 8) {
          out.push([v.getUint32(at), v.getUint32(at + 4)]);
        }
        return out;
      };
      assert.deepEqual(await status(0, SIZE), [[65536, 3], [65536, 0], [SIZE - 131072, 3]]);
      assert.deepEqual(await status(1000, 70000), [[64536, 3], [5464, 0]]);
      // A READ of length 0 with structured replies: one NONE chunk (an OFFSET_DATA chunk must
      // carry at least one byte).
      await c.send(request(0, 0, 0, { cookie: 5 }));
      const none = await structuredReply(c);
      assert.deepEqual([none!.type, none!.flags, none!.cookie, none!.payload.length], [0, 1, 5, 0]);
      // REQ_ONE: exactly one descriptor, not longer than the request.
      assert.deepEqual(await status(0, 4096, 8), [[4096, 3]]);
      // Past the end: EINVAL; an unknown flag: EINVAL.
      for (const [off, len, flags] of [[SIZE - 10, 4096, 0], [0, 4096, 2]]) {
        await c.send(request(7, off, len, { cookie: 4, flags }));
        rep = await structuredReply(c);
        assert.equal(rep!.type, 0x8001);
        assert.equal(new DataView(rep!.payload.buffer).getUint32(0), EINVAL);
      }
    } finally {
      c.close();
    }
  });
});

Deno.test("nbd: fuzz — random and truncated meta context options get an answer", async () => {
  let seed = 99;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  await withServer(async (_s, sock) => {
    const c = await Raw.unix(sock);
    try {
      await c.recv(18);
      await c.send(new Uint8Array([0, 0, 0, 3]));
      await c.send(option(8));
      await optionReply(c);
      for (let i = 0; i < 80; i++) {
        const good = metaQuery(rand(2) ? "" : "disk", ["base:allocation", "x-a:b"]);
        const data = rand(2)
          ? good.subarray(0, rand(good.length + 1))
          : crypto.getRandomValues(new Uint8Array(rand(64)));
        await c.send(option(9 + rand(2), data));
        // Every option gets replies ending in ACK or an error; the connection stays up.
        let o;
        do o = await optionReply(c); while (o && o[1] === 4);
        assert.ok(o, `option ${i} got no final reply`);
        assert.ok(o[1] === 1 || (o[1] & 0x80000000) !== 0);
      }
    } finally {
      c.close();
    }
  });
});

Deno.test("nbd: a handshake cut short is dropped, never parsed from stale bytes", async () => {
  const logs = await withServer(async (_s, sock) => {
    /** Sends `bytes` after the greeting, closes the write side, returns every reply type sent. */
    const cut = async (bytes: Uint8Array): Promise<number[]> => {
      const c = await Raw.unix(sock);
      try {
        await c.recv(18);
        await c.send(bytes);
        await (c.conn as Deno.UnixConn).closeWrite();
        const types: number[] = [];
        for (;;) {
          const rep = await optionReply(c);
          if (!rep) return types;
          types.push(rep[1]);
        }
      } finally {
        c.close();
      }
    };
    const flags = new Uint8Array([0, 0, 0, 3]);
    const cat = (...parts: Uint8Array[]) => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) out.set(p, at), at += p.length;
      return out;
    };
    // NBD_OPT_GO whose 6 bytes of data never come: 6 zero bytes would be a valid GO for the
    // default export, and the old reader parsed its fresh (zeroed) buffer as those bytes.
    const goHeader = option(7, new Uint8Array(6)).subarray(0, 16);
    assert.deepEqual(await cut(cat(flags, goHeader)), []);
    // The same after an option that filled the buffer with bytes worth parsing.
    const list = option(3);
    assert.deepEqual(await cut(cat(flags, list, goHeader)), [2, 1]);
    // Cut inside the data, inside the option header, inside the client flags.
    assert.deepEqual(await cut(cat(flags, option(7, new Uint8Array(6)).subarray(0, 19))), []);
    assert.deepEqual(await cut(cat(flags, option(3).subarray(0, 10))), []);
    assert.deepEqual(await cut(flags.subarray(0, 2)), []);
    // Garbage in place of an option: dropped without a reply.
    assert.deepEqual(await cut(cat(flags, crypto.getRandomValues(new Uint8Array(40)))), []);
  });
  assert.ok(logs.some((m) => /closed inside option 7 \(0 of 6 bytes/.test(m)), logs.join("\n"));
  assert.ok(logs.some((m) => /closed inside a frame/.test(m)), logs.join("\n"));
});
