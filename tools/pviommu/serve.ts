/**
 * `pviommu serve`: answers virtio-iommu requests on a byte stream (stdin/stdout or a Unix
 * socket), framed as u32 length + bytes; `pviommu request`: builds one request, sends it to
 * a socket (or writes the frame to stdout) and prints the reply.
 *
 * @module
 */
import { Argument, type Command, Option } from "@commander-js/extra-typings";
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
import { type Handled, handleRequest } from "../../lib/pviommu/device.ts";
import { frame, readFrames } from "../../lib/pviommu/framing.ts";
import { PvIommu, type ResvRegion } from "../../lib/pviommu/iommu.ts";
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

async function writeAll(w: Writer, b: Uint8Array) {
  let o = 0;
  while (o < b.length) o += await w.write(b.subarray(o));
}

type Writer = { write(b: Uint8Array): Promise<number> };

/** `--virt`, `--len`, `--phys`: a decimal or 0x address, as a bigint. */
function addressParser(option: string): (text: string) => bigint {
  return (text) => {
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) {
      throw new UsageError(`${option}: not an address: ${text}`);
    }
    return BigInt(text);
  };
}

/** An address option with a bigint default (shown in --help as a number: JSON has no bigint). */
function addressOption<F extends string>(flags: F, description: string, fallback: bigint) {
  const name = flags.split(" ")[0];
  return new Option(flags, description).argParser(addressParser(name)).default(
    fallback,
    String(fallback),
  );
}

const REQUEST_FLAGS = ["read", "write", "mmio", "bypass"] as const;
type RequestFlag = typeof REQUEST_FLAGS[number];

/** `--flags read,write,...`: each a known flag. */
function parseFlags(text: string): RequestFlag[] {
  const flags = text.split(",").filter(Boolean);
  const bad = flags.find((f) => !(REQUEST_FLAGS as readonly string[]).includes(f));
  if (bad) throw new UsageError(`--flags: unknown flag ${bad}`);
  return flags as RequestFlag[];
}

/** `--endpoints 1,2,8`: endpoint IDs. */
function parseEndpoints(text: string): number[] {
  return text.split(",").map((s) => parseOption("--endpoints", s, parseCount));
}

/** Adds `serve` and `request`. */
export function addServeCommands(program: Command): void {
  addServeCommand(program);
  addRequestCommand(program);
}

function addServeCommand(program: Command): void {
  const serve = withCommonOptions(
    program.command("serve")
      .description("answer framed virtio-iommu requests on stdin/stdout or a Unix socket")
      .option("--socket <path>", "listen on this Unix socket instead of stdin/stdout")
      .option("--probe-size <n>", "probe_size (bytes of PROBE properties)", parseCount, 512)
      .option("--page-size <n>", "page granularity", parseCount, 4096)
      .option("--endpoints <list>", "endpoint IDs that exist (default: any)", parseEndpoints)
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
    const iommu = new PvIommu({
      probeSize: opts.probeSize,
      pageSize: opts.pageSize,
      bypass: opts.bypass,
      ...(opts.resv.length ? { defaultResv: opts.resv } : {}),
      ...(opts.endpoints
        ? { endpoints: opts.endpoints.map((id) => ({ id, resv: opts.resv })) }
        : {}),
    });
    await withRun(opts, { tool: "pviommu", command: "serve", args: opts }, async (run) => {
      const counts: Record<string, number> = {};
      const answer = (input: ReadableStream<Uint8Array>, out: Writer) =>
        answerFrames(iommu, input, out, opts.replyFormat, counts);
      if (opts.socket) {
        await serveSocket(opts.socket, answer, run, opts.quiet);
      } else {
        try {
          await answer(Deno.stdin.readable, Deno.stdout);
        } catch (e) {
          throw new ToolError(`stdin: ${(e as Error).message}`);
        }
      }
      for (const [k, n] of Object.entries(counts)) run.metric(`requests.${k}`, n);
      run.rows(FAULTS_TABLE, []);
    });
  });
}

/** Answers every frame of `input` on `out`, counting requests by type and status. */
async function answerFrames(
  iommu: PvIommu,
  input: ReadableStream<Uint8Array>,
  out: Writer,
  replyFormat: "binary" | "json",
  counts: Record<string, number>,
): Promise<void> {
  for await (const f of readFrames(input)) {
    const h = handleRequest(iommu, f);
    const key = `${h.req?.type ?? "invalid"}:${
      h.status === null ? "unwritten" : statusName(h.status)
    }`;
    counts[key] = (counts[key] ?? 0) + 1;
    if (replyFormat === "json") {
      const line = toJson64(jsonReply(iommu, f, h)) + "\n";
      await writeAll(out, new TextEncoder().encode(line));
    } else await writeAll(out, frame(h.reply));
  }
}

/** A reply as `--reply-format json` prints it. */
function jsonReply(iommu: PvIommu, request: Uint8Array, h: Handled) {
  const type = h.req ? ReqType[h.req.type] : request[0];
  const reply = h.reply.length ? decodeReply(type, h.reply, iommu.probeSize) : null;
  return {
    type: h.req?.type ?? null,
    status: h.status === null ? null : statusName(h.status),
    used: h.reply.length,
    ...(reply?.resv ? { resv: reply.resv } : {}),
    ...(h.error ? { error: h.error } : {}),
  };
}

/**
 * Listens on a Unix socket until SIGTERM, each connection answered on its own: one bad
 * client's error ends only its connection (recorded as an event).
 */
async function serveSocket(
  path: string,
  answer: (input: ReadableStream<Uint8Array>, out: Writer) => Promise<void>,
  run: { event(kind: string, payload: Record<string, unknown>): void },
  quiet: boolean,
): Promise<void> {
  let listener: Deno.UnixListener;
  try {
    listener = Deno.listen({ transport: "unix", path });
  } catch (e) {
    const why = !(e instanceof Deno.errors.AddrInUse)
      ? describeFsError(e)
      : Deno.lstatSync(path).isSocket
      ? "in use (another server, or a stale socket to remove)"
      : "exists and is not a socket";
    throw new ToolError(`--socket ${path}: ${why}`);
  }
  const stop = () => listener.close();
  Deno.addSignalListener("SIGTERM", stop);
  if (!quiet) console.error(`pviommu: serving on ${path}`);
  try {
    for await (const conn of listener) {
      answer(conn.readable, conn)
        .catch((e) => run.event("client-error", { message: String(e) }))
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
    await Deno.remove(path).catch(() => {});
  }
}

function addRequestCommand(program: Command): void {
  const req = program.command("request")
    .description(
      "build one virtio-iommu request; send it to --socket and print the status, or write the frame to stdout",
    )
    .addArgument(
      new Argument("<type>", "attach, detach, map, unmap or probe").choices(
        ["attach", "detach", "map", "unmap", "probe"] as const,
      ),
    )
    .option("--socket <path>", "a `pviommu serve --socket` to send it to")
    .option("--domain <n>", "domain ID", parseCount, 0)
    .option("--endpoint <n>", "endpoint ID", parseCount, 0)
    .addOption(addressOption("--virt <addr>", "IOVA start (map, unmap)", 0n))
    .addOption(addressOption("--len <bytes>", "length (map, unmap)", 4096n))
    .addOption(addressOption("--phys <addr>", "guest-physical start (map)", 0n))
    .addOption(
      new Option("--flags <list>", "map: read,write,mmio; attach: bypass").argParser(parseFlags)
        .default([] as RequestFlag[], "none"),
    )
    .option("--probe-size <n>", "probe_size the server uses", parseCount, 512);
  addExamples(req, [
    "pviommu request --socket /tmp/viommu.sock map --domain 1 --virt 0x1000 --len 8192 --phys 0x40000 --flags read,write",
  ]);
  req.action(async (type, o) => {
    if (o.len === 0n && (type === "map" || type === "unmap")) {
      throw new UsageError("--len: must be at least 1");
    }
    const r = buildRequest(type, o);
    const bytes = frame(encodeRequest(r));
    if (!o.socket) await writeAll(Deno.stdout, bytes);
    else await sendRequest(o.socket, bytes, r, o.probeSize);
  });
}

/** The request `pviommu request TYPE` describes. */
function buildRequest(
  type: "attach" | "detach" | "map" | "unmap" | "probe",
  o: {
    domain: number;
    endpoint: number;
    virt: bigint;
    len: bigint;
    phys: bigint;
    flags: RequestFlag[];
    probeSize: number;
  },
): Request {
  const has = (f: RequestFlag) => o.flags.includes(f);
  const range = { domain: o.domain, virtStart: o.virt, virtEnd: o.virt + o.len - 1n };
  switch (type) {
    case "attach":
      return {
        type: "ATTACH",
        domain: o.domain,
        endpoint: o.endpoint,
        flags: has("bypass") ? 1 : 0,
        reserved: 0,
      };
    case "detach":
      return { type: "DETACH", domain: o.domain, endpoint: o.endpoint, reserved: 0 };
    case "map":
      return {
        type: "MAP",
        ...range,
        physStart: o.phys,
        flags: (has("read") ? 1 : 0) | (has("write") ? 2 : 0) | (has("mmio") ? 4 : 0),
      };
    case "unmap":
      return { type: "UNMAP", ...range, reserved: 0 };
    case "probe":
      return { type: "PROBE", endpoint: o.endpoint, reserved: 0, probeSize: o.probeSize };
  }
}

/** Sends one framed request to a `serve --socket` and prints its status; non-OK is an error. */
async function sendRequest(
  socket: string,
  bytes: Uint8Array,
  r: Request,
  probeSize: number,
): Promise<void> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socket });
  } catch (e) {
    throw new ToolError(`--socket ${socket}: cannot connect: ${describeFsError(e)}`);
  }
  try {
    await writeAll(conn, bytes);
    await conn.closeWrite();
    for await (const f of readFrames(conn.readable)) {
      const rep = decodeReply(ReqType[r.type], f, probeSize);
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
}
