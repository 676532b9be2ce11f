/**
 * `qbic-cache sim`: hit ratios of a grid of policies and cache sizes over one trace.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  formatSize,
  formatTable,
  parseSize,
  parseSizeList,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { createPolicy, POLICY_NAMES, UnknownPolicyError } from "../../lib/cache/registry.ts";
import { splitPolicyList } from "../../lib/cache/policy_params.ts";
import { binaryTraceFile, runGrid, SIM_ENGINES } from "../../lib/cache/sim_grid.ts";
import { nativeUnavailable } from "../../lib/cache/native_cache.ts";
import { createAdmission } from "../../lib/cache/admission.ts";
import { type ReadStats, readTraceChunks } from "../../lib/trace/read_trace.ts";
import { DEVICE_HELP, namingTrace, traceFormat } from "./trace_options.ts";
import { checkBlockSize, checkCacheSizes } from "./size_options.ts";

/** The tool table `sim` writes its grid into. */
export const SIM_TABLE = {
  name: "qbic_sim",
  columns: [
    ["trace", "VARCHAR"],
    ["policy", "VARCHAR"],
    ["admit", "VARCHAR"],
    ["size_bytes", "BIGINT"],
    ["block_size", "INTEGER"],
    ["accesses", "BIGINT"],
    ["hits", "BIGINT"],
    ["hit_ratio", "DOUBLE"],
    ["byte_hit_ratio", "DOUBLE"],
    ["whole_request_hit_share", "DOUBLE"],
    ["read_hit_ratio", "DOUBLE"],
    ["write_hit_ratio", "DOUBLE"],
  ],
} as const;

const ratio = (a: number, b: number) => b ? a / b : 0;

/** Adds `sim` to the program. */
export function addSimCommand(program: Command) {
  const cmd = withCommonOptions(
    new Command("sim")
      .description("simulate cache policies over a trace: hit ratio by blocks, bytes and requests")
      .requiredOption("--trace <file>", "trace to replay ('-' = stdin)")
      .option(
        "--policy <list>",
        `policies, comma-separated (${POLICY_NAMES.join(", ")}); parameters with ` +
          "libCacheSim's names: 's3fifo(fifo-size-ratio=0.1,move-to-main-threshold=2)', " +
          "'2q(Ain-size-ratio=0.25,Aout-size-ratio=0.5)'",
        "lru",
      )
      .option("--size <list>", "cache sizes, comma-separated (e.g. 64M,256M,1G)", parseSizeList, [
        64 << 20,
      ])
      .option("--block-size <size>", "cache block size", parseSize, 4096)
      .option("--format <name>", "trace format (default: detected)")
      .option("--skip-bad", "count and skip malformed lines instead of failing", false)
      .option("--device <id>", DEVICE_HELP)
      .addOption(
        new Option("--admit <name>", "admission filter in front of every policy").choices(
          ["all", "pdc"] as const,
        ).default("all" as const),
      )
      .option("--admit-image <file>", "pdc: raw image to locate the journal in (exact mode)")
      .addOption(
        new Option(
          "--engine <name>",
          "native: policies with a C twin run in C (same decisions); ts: all in TypeScript",
        ).choices(SIM_ENGINES).default("native" as const),
      )
      .addOption(
        new Option("--table <format>", "text table style").choices(
          ["text", "csv", "markdown"] as const,
        ).default("text" as const),
      ),
  ).action(async (opts) => {
    const policies = splitPolicyList(opts.policy);
    if (policies.length === 0) throw new UsageError("--policy: give at least one policy");
    for (const p of policies) {
      try {
        createPolicy(p, 0); // unknown names fail here, listing the known
      } catch (e) {
        if (e instanceof UnknownPolicyError) throw new UsageError(`--policy: ${e.message}`);
        throw e;
      }
    }
    const bs = checkBlockSize(opts.blockSize as number);
    const sizes = checkCacheSizes("--size", opts.size as number[], bs);
    const format = traceFormat(opts.format);
    if (opts.engine === "native") {
      const why = nativeUnavailable();
      if (why) throw new ToolError(`--engine native: ${why}; or use --engine ts`);
    }
    const args = { ...opts, policy: policies, size: sizes };
    const info = { tool: "qbic-cache", command: "sim", args };
    await withRun(opts, info, async (run, interrupt) => {
      const admission = await createAdmission(opts.admit, { image: opts.admitImage });
      const stats: ReadStats = { bad: 0 };
      const t0 = performance.now();
      const binaryFile = opts.engine === "native"
        ? await binaryTraceFile(opts.trace, format)
        : undefined;
      const grid = await namingTrace(
        opts.trace,
        () =>
          runGrid(
            readTraceChunks(
              opts.trace,
              { format, skipBad: opts.skipBad, device: opts.device },
              stats,
            ),
            policies,
            sizes,
            bs,
            admission,
            { engine: opts.engine, binaryFile, signal: interrupt },
          ),
      );
      // SIGINT/SIGTERM: the figures cover a prefix of the trace; every output says so.
      const partial = grid.interrupted;
      if (partial) {
        run.event("partial", { reason: "interrupted", requests: grid.requests });
        run.metric("partial", 1, "flag");
      }
      // Native cells replaying the mapped file leave the chunk reader unread.
      if (binaryFile && stats.format === undefined) stats.format = "bin";
      const wallMs = performance.now() - t0;
      const rows = grid.cells.map(({ policy, label, sizeBytes, result: r, engine }) => ({
        policy,
        policy_params: label,
        engine,
        size: sizeBytes,
        size_blocks: r.capacityBlocks,
        accesses: r.accesses,
        hits: r.hits,
        hit_ratio: r.hitRatio,
        byte_hit_ratio: r.byteHitRatio,
        whole_request_hit_share: r.wholeRequestHitShare,
        read_hit_ratio: ratio(r.reads.hits, r.reads.blocks),
        write_hit_ratio: ratio(r.writes.hits, r.writes.blocks),
        bypassed_requests: r.bypassedRequests,
      }));
      run.rows(
        SIM_TABLE,
        rows.map((x) => [
          opts.trace,
          x.policy,
          opts.admit,
          x.size,
          bs,
          x.accesses,
          x.hits,
          x.hit_ratio,
          x.byte_hit_ratio,
          x.whole_request_hit_share,
          x.read_hit_ratio,
          x.write_hit_ratio,
        ]),
      );
      for (const x of rows) {
        const labels = {
          policy: x.policy,
          params: x.policy_params,
          size: x.size,
          block_size: bs,
          admit: opts.admit,
          engine: x.engine,
        };
        run.metric("hit_ratio", x.hit_ratio, "ratio", labels);
        run.metric("byte_hit_ratio", x.byte_hit_ratio, "ratio", labels);
      }
      run.metric("requests", grid.requests, "requests");
      run.metric("bad_lines", stats.bad, "lines");
      run.metric("sim_rate", ratio(grid.requests * grid.cells.length, grid.simMs / 1000), "req/s");
      if (opts.output === "json") {
        console.log(JSON.stringify({
          trace: opts.trace,
          format: stats.format ?? null,
          block_size: bs,
          admit: opts.admit,
          engine: opts.engine,
          requests: grid.requests,
          bad_lines: stats.bad,
          partial,
          results: rows,
        }));
        return;
      }
      const f = (v: number) => v.toFixed(4);
      console.log(formatTable(
        [
          "policy",
          "size",
          "blocks",
          "accesses",
          "hit_ratio",
          "byte_hit",
          "whole_req",
          "read_hit",
          "write_hit",
        ],
        rows.map((x) => [
          x.policy_params,
          formatSize(x.size),
          x.size_blocks,
          x.accesses,
          f(x.hit_ratio),
          f(x.byte_hit_ratio),
          f(x.whole_request_hit_share),
          f(x.read_hit_ratio),
          f(x.write_hit_ratio),
        ]),
        opts.table,
      ));
      if (partial) console.log(`partial: interrupted after ${grid.requests} requests`);
      if (!opts.quiet) {
        const bad = stats.bad ? `, ${stats.bad} bad lines skipped (first: ${stats.firstBad})` : "";
        const engines = [...new Set(grid.cells.map((c) => c.engine))].join("+");
        console.error(
          `qbic-cache sim: ${grid.requests} requests (${stats.format ?? "empty"}), ` +
            `${grid.cells.length} simulations in ${
              (wallMs / 1000).toFixed(2)
            }s (${engines})${bad}` +
            (partial ? " — interrupted, partial results" : ""),
        );
      }
    }, { interruptible: true });
  });
  addExamples(cmd, [
    "qbic-cache sim --trace vm.bin --policy lru,arc,s3fifo,qbic,belady --size 64M,256M,1G",
    "pdc-filter classify trace.jsonl | qbic-cache sim --trace - --policy lru --admit pdc",
  ]);
  program.addCommand(cmd);
}
