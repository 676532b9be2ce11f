/**
 * Where virtav's scan time goes, in process: the default engine's scan alone (CPU time of
 * `Matcher.scanBuffer`, no start-up, no database load) against the key loop alone (the prefilter
 * off) on an image like bench/virtav/main.ts's (random bytes, a zero page in every eight, 16
 * planted instances of the first 1,000 signatures per 4 MiB), for databases of the first N of one
 * generated set. A diagnostic for docs/virtav.md ("Where the time goes"): it prints, it records
 * nothing (bench/virtav/main.ts is the benchmark against clamscan).
 *
 *   deno run -A bench/virtav/scan_alone.ts --sigs 1000,20000,100000 --reps 5 [--size 64] [--keyloop]
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { generateSignatures, prng } from "../../lib/virtav/generate.ts";
import { parseNdbLine } from "../../lib/virtav/ndb.ts";
import { compileSignatures } from "../../lib/virtav/compile.ts";
import { Matcher } from "../../lib/virtav/matcher.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sigs: { type: "string", default: "1000,20000,100000" },
    reps: { type: "string", default: "5" },
    size: { type: "string", default: "64" },
    keyloop: { type: "boolean", default: false },
  },
});
const sizes = values.sigs.split(",").map(Number);
const reps = Number(values.reps), MiB = Number(values.size);
const all = generateSignatures(Math.max(...sizes), 42);
const rand = prng(99), bytes = prng(7);
const anywhere = all.slice(0, 1000).filter((s) => s.offset.kind === "any");
const img = new Uint8Array(MiB << 20);
const u32 = new Uint32Array(img.buffer);
for (let i = 0; i < u32.length; i++) u32[i] = bytes() * 2 ** 32;
for (let c = 0; c < img.length; c += 4 << 20) {
  const chunk = img.subarray(c, c + (4 << 20));
  for (let p = 0; p < chunk.length; p += 32768) chunk.fill(0, p, p + 4096);
  for (let k = 0; k < 16; k++) {
    const inst = anywhere[Math.floor(rand() * anywhere.length)].instance(rand);
    chunk.set(inst, Math.floor(rand() * (chunk.length - inst.length)));
  }
}
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const n of sizes) {
  const c = compileSignatures(all.slice(0, n).map((s) => parseNdbLine(s.line)));
  const rates: Record<string, number> = {};
  for (const engine of values.keyloop ? ["default", "keyloop"] : ["default"]) {
    const t0 = cpu();
    const m = Matcher.load(c, { prefilter: engine === "default" });
    const load = cpu() - t0, info = m.prefilterInfo();
    const secs: number[] = [];
    let found = 0;
    for (let r = 0; r < reps; r++) {
      const s0 = cpu();
      found = m.scanBuffer(img, { allMatch: true }).length;
      secs.push(cpu() - s0);
    }
    m.close();
    rates[engine] = MiB / 1024 / median(secs);
    console.log(
      `${n} signatures, ${engine}: scan ${
        rates[engine].toFixed(2)
      } GiB/s of CPU (median of ${reps}; ` +
        `min ${Math.min(...secs).toFixed(3)} s, max ${
          Math.max(...secs).toFixed(3)
        } s per ${MiB} MiB), ` +
        `${found} detections; load ${load.toFixed(1)} s CPU; ${info.literals} literals, ` +
        `prefilter ${(info.databaseBytes / 2 ** 20).toFixed(1)} MiB, ` +
        `${info.sigsPrefiltered} signatures prefiltered, ${info.sigsKeyLoop} on the key loop`,
    );
  }
  if (rates.keyloop) {
    console.log(`  default / keyloop: ${(rates.default / rates.keyloop).toFixed(1)}x`);
  }
}
