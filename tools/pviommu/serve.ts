/**
 * `pviommu serve`: answers virtio-iommu requests on a byte stream (stdin/stdout or a Unix
 * socket), framed as u32 length + bytes; `pviommu request`: builds one request, sends it to
 * a socket (or writes the frame to stdout) and prints the reply.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  describeFsError,
  parseCount,
  parseOption,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { decodeReply, encodeRequest, type Request } from "../../lib/pviommu/codec.ts";
import { handleRequest } from "../../lib/pviommu/device.ts";
import { frame, readFrames } from "../../lib/pviommu/framing.ts";
import { type IommuConfig, PvIommu, type ResvRegion } from "../../lib/pviommu/iommu.ts";
import { FAULTS_TABLE } from "../../lib/pviommu/fault_log.ts";
import { toJson64 } from "../../lib/pviommu/json64.ts";
import { ReqType, statusName } from "../../lib/pviommu/spec.ts";

function parseResv(text: string): ResvRegion {
  const m = /^(0x[0-9a-f]+|\d+)-(0x[0-9a-f]+|\d+)(?::(msi|reserved))?$/i.exec(text);
  if (!m) throw new UsageError(`--resv: expected START-END[:msi|reserved], got ${text}`);
  return {
    start: BigInt(m[1]),
    end: BigInt(m[2]),
    subtype: m[3]?.toLowerCase() === "reserved" ? 0 : 1,
  };
}

async function writeAll(w: { write(b: Uint8Array): Promise<number> }, b: Uint8Array) {
  let o = 0;
  while (o < b.length) o += await w.write(b.subarray(o));
}

/** Adds `serve` and `request`. */
export function addServeCommands(program: Command): void {
  const serve = withCommonOptions(
    program.command("serve")
      .description("answer framed virtio-iommu requests on stdin/stdout or a Unix socket")
      .option("--socket <path>", "listen on this Unix socket instead of stdin/stdout")
      .option("--probe-size <n>", "probe_size (bytes of PROBE properties)", parseCount, 512)
      .option("--page-size <n>", "page granularity", parseCount, 4096)
      .option("--endpoints <list>", "endpoint IDs that exist (default: any)")
      .option(
        "--resv <range>",
        "RESV_MEM region of every endpoint, START-END[:msi|reserved] (repeatable)",
        (v: string, acc: ResvRegion[]) => [...acc, parseResv(v)],
        [] as ResvRegion[],
      )
      .option("--bypass", "unattached endpoints bypass (config bypass=1)", false)
      .addOption(
        new Option("--reply-format <f>", "replies as frames or JSON lines").choices(
          ["binary", "json"] as const,
        ).default("binary" as const),
      ),
  );
  addExamples(serve, [
    "(pviommu request attach --domain 1 --endpoint 8; pviommu request map --domain 1 --virt 0x1000 --len 4096 --phys 0x200000 --flags read) | pviommu serve --reply-format json --no-db",
    "pviommu serve --socket /tmp/viommu.sock &  pviommu request --socket /tmp/viommu.sock probe --endpoint 8",
  ]);
  serve.action(async (opts) => {
    const cfg: IommuConfig = {
      probeSize: opts.probeSize,
      pageSize: opts.pageSize,
      bypass: opts.bypass,
      ...(opts.resv.length ? { defaultResv: opts.resv } : {}),
      ...(opts.endpoints
        ? {
          endpoints: opts.endpoints.split(",").map((s) => ({
            id: parseOption("--endpoints", s, parseCount),
            resv: opts.resv,
          })),
        }
        : {}),
    };
    const iommu = new PvIommu(cfg);
    await withRun(opts, { tool: "pviommu", command: "serve", args: opts }, async (run) => {
      const counts: Record<string, number> = {};
      const serveStream = async (
        input: ReadableStream<Uint8Array>,
        out: { write(b: Uint8Array): Promise<number> },
      ) => {
        for await (const f of readFrames(input)) {
          const h = handleRequest(iommu, f);
          const key = `${h.req?.type ?? "invalid"}:${
            h.status === null ? "unwritten" : statusName(h.status)
          }`;
          counts[key] = (counts[key] ?? 0) + 1;
          if (opts.replyFormat === "json") {
            const type = h.req ? ReqType[h.req.type] : f[0];
            const reply = h.reply.length ? decodeReply(type, h.reply, iommu.probeSize) : null;
            const o = {
              type: h.req?.type ?? null,
              status: h.status === null ? null : statusName(h.status),
              used: h.reply.length,
              ...(reply?.resv ? { resv: reply.resv } : {}),
              ...(h.error ? { error: h.error } : {}),
            };
            await writeAll(out, new TextEncoder().encode(toJson64(o) + "\n"));
          } else await writeAll(out, frame(h.reply));
        }
      };
      if (opts.socket) {
        let listener: Deno.UnixListener;
        try {
          listener = Deno.listen({ transport: "unix", path: opts.socket });
        } catch (e) {
          const why = !(e instanceof Deno.errors.AddrInUse)
            ? describeFsError(e)
            : Deno.lstatSync(opts.socket).isSocket
            ? "in use (another server, or a stale socket to remove)"
            : "exists and is not a socket";
          throw new ToolError(`--socket ${opts.socket}: ${why}`);
        }
        const stop = () => listener.close();
        Deno.addSignalListener("SIGTERM", stop);
        if (!opts.quiet) console.error(`pviommu: serving on ${opts.socket}`);
        try {
          for await (const conn of listener) {
            // One bad client does not stop the others: its error ends only its connection.
            serveStream(conn.readable, conn).catch((e) =>
              run.event("client-error", { message: String(e) })
            )
              .finally(() => {
                try {
                  conn.close();
                } catch { /* already closed */ }
              });
          }
        } catch (e) {
          if (!(e instanceof Deno.errors.BadResource)) throw e;
        } finally {
          Deno.removeSignalListener("SIGTERM", stop);
          await Deno.remove(opts.socket).catch(() => {});
        }
      } else {
        try {
          await serveStream(Deno.stdin.readable, Deno.stdout);
        } catch (e) {
          throw new ToolError(`stdin: ${(e as Error).message}`);
        }
      }
      for (const [k, n] of Object.entries(counts)) run.metric(`requests.${k}`, n);
      run.rows(FAULTS_TABLE, []);
    });
  });

  const req = program.command("request")
    .description(
      "build one virtio-iommu request; send it to --socket and print the status, or write the frame to stdout",
    )
    .argument("<type>", "attach, detach, map, unmap or probe")
    .option("--socket <path>", "a `pviommu serve --socket` to send it to")
    .option("--domain <n>", "domain ID", parseCount, 0)
    .option("--endpoint <n>", "endpoint ID", parseCount, 0)
    .option("--virt <addr>", "IOVA start (map, unmap)", "0")
    .option("--len <bytes>", "length (map, unmap)", "4096")
    .option("--phys <addr>", "guest-physical start (map)", "0")
    .option("--flags <list>", "map: read,write,mmio; attach: bypass", "")
    .option("--probe-size <n>", "probe_size the server uses", parseCount, 512);
  addExamples(req, [
    "pviommu request --socket /tmp/viommu.sock map --domain 1 --virt 0x1000 --len 8192 --phys 0x40000 --flags read,write",
  ]);
  req.action(async (type, o) => {
    const big = (s: string, what: string) => {
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(s)) throw new UsageError(`--${what}: not an address: ${s}`);
      return BigInt(s);
    };
    const flags = o.flags.split(",").filter(Boolean);
    const bad = flags.find((f) => !["read", "write", "mmio", "bypass"].includes(f));
    if (bad) throw new UsageError(`--flags: unknown flag ${bad}`);
    const virt = big(o.virt, "virt");
    const len = big(o.len, "len");
    if (len === 0n && (type === "map" || type === "unmap")) {
      throw new UsageError("--len: must be at least 1");
    }
    let r: Request;
    switch (type) {
      case "attach":
        r = {
          type: "ATTACH",
          domain: o.domain,
          endpoint: o.endpoint,
          flags: flags.includes("bypass") ? 1 : 0,
          reserved: 0,
        };
        break;
      case "detach":
        r = { type: "DETACH", domain: o.domain, endpoint: o.endpoint, reserved: 0 };
        break;
      case "map":
        r = {
          type: "MAP",
          domain: o.domain,
          virtStart: virt,
          virtEnd: virt + len - 1n,
          physStart: big(o.phys, "phys"),
          flags: (flags.includes("read") ? 1 : 0) | (flags.includes("write") ? 2 : 0) |
            (flags.includes("mmio") ? 4 : 0),
        };
        break;
      case "unmap":
        r = {
          type: "UNMAP",
          domain: o.domain,
          virtStart: virt,
          virtEnd: virt + len - 1n,
          reserved: 0,
        };
        break;
      case "probe":
        r = { type: "PROBE", endpoint: o.endpoint, reserved: 0, probeSize: o.probeSize };
        break;
      default:
        throw new UsageError(`unknown request type ${type} (attach, detach, map, unmap, probe)`);
    }
    const bytes = frame(encodeRequest(r));
    if (!o.socket) {
      await writeAll(Deno.stdout, bytes);
      return;
    }
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({ transport: "unix", path: o.socket });
    } catch (e) {
      throw new ToolError(`--socket ${o.socket}: cannot connect: ${describeFsError(e)}`);
    }
    try {
      await writeAll(conn, bytes);
      await conn.closeWrite();
      for await (const f of readFrames(conn.readable)) {
        const rep = decodeReply(ReqType[r.type], f, o.probeSize);
        if (rep === null) throw new ToolError("the device did not write the reply (used length 0)");
        console.log(statusName(rep.status) + (rep.resv ? " " + toJson64(rep.resv) : ""));
        if (rep.status !== 0) throw new ToolError(`the device answered ${statusName(rep.status)}`);
        return;
      }
      throw new ToolError("no reply");
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  });
}
