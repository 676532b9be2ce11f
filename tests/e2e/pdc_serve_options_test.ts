/**
 * `qbic-cache serve --admit pdc` and its options, driven by qemu-io on a fresh ext4 image (not
 * mounted): `--pdc-journal` (auto, exact, heuristic), `--pdc-checkpoint` and `--pdc-demote`,
 * each named in serve's result row (`admit`). What each must do, read from the recorded stream's
 * `hit` tags: a journal block written then read back is a miss when PDC keeps the journal out
 * and a hit when it demotes (cached at the eviction end) or does not know it (the heuristic, which
 * has seen no commit); an inode-table block written then read is a miss only with
 * `--pdc-checkpoint`. And the bad combinations: one-line errors, exit 2 (usage) or 1.
 */
import assert from "node:assert/strict";
import { have, run, startServe } from "./serve_helpers.ts";
import { locateJournalInFile } from "../../lib/pdc/locate.ts";
import { locateExt4MetadataInFile } from "../../lib/pdc/ext4_metadata.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MKFS = "/sbin/mkfs.ext4";
const ready = have("qemu-io") && (() => {
  try {
    return Deno.statSync(MKFS).isFile;
  } catch {
    return false;
  }
})();
if (!ready) console.log("pdc_serve_options_test: qemu-io or mkfs.ext4 missing, skipping");

async function ext4Image(dir: string): Promise<{ img: string; journal: number; itable: number }> {
  const img = `${dir}/disk.img`;
  assert.equal((await run("truncate", ["-s", "32M", img])).code, 0);
  const mk = await run(MKFS, ["-q", "-F", "-b", "4096", img]);
  assert.equal(mk.code, 0, mk.err);
  const journal = (await locateJournalInFile(img)).ranges[0].off;
  // the last metadata range holds inode tables (after the bitmaps)
  const meta = (await locateExt4MetadataInFile(img)).ranges;
  const last = meta[meta.length - 1];
  // past the journal's first blocks (its superblock, which locate checks)
  return { img, journal: journal + 65536, itable: last.off + last.len - 4096 };
}

const CASES: [string[], string, boolean, boolean][] = [
  // serve options, admit label, journal read-back hits, inode-table read-back hits
  [["--admit", "all"], "all", true, true],
  [["--admit", "pdc"], "pdc(exact)", false, true],
  [["--admit", "pdc", "--pdc-journal", "exact"], "pdc(exact)", false, true],
  [["--admit", "pdc", "--pdc-journal", "heuristic"], "pdc(heuristic)", true, true],
  [["--admit", "pdc", "--pdc-checkpoint"], "pdc(exact,checkpoint)", false, false],
  [["--admit", "pdc", "--pdc-demote"], "pdc(exact,demote)", true, true],
  [
    ["--admit", "pdc", "--pdc-checkpoint", "--pdc-demote"],
    "pdc(exact,checkpoint,demote)",
    true,
    true,
  ],
];

Deno.test({
  name: "serve --admit pdc: --pdc-journal, --pdc-checkpoint, --pdc-demote act and are named",
  ignore: !ready,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pdc-serve-opts-" });
    try {
      const { img: template, journal, itable } = await ext4Image(dir);
      const img = `${dir}/run.img`;
      for (const [opts, label, journalHit, itableHit] of CASES) {
        await Deno.copyFile(template, img); // each case on the fresh file system
        const trace = `${dir}/t.jsonl`;
        const s = await startServe(dir, [
          ...["--cache-size", "1M", "--policy", "lru", "--output", "json", "--record", trace],
          ...opts,
          img,
        ]);
        let st;
        try {
          const r = await run("qemu-io", [
            ...["-f", "raw"],
            ...[
              `write -P 0x33 ${journal} 4k`,
              `read -P 0x33 ${journal} 4k`,
              `write -P 0x44 ${itable} 4k`,
              `read -P 0x44 ${itable} 4k`,
            ].flatMap((c) => ["-c", c]),
            s.uri,
          ]);
          assert.equal(r.code, 0, r.err + r.out);
          assert.ok(!/verification failed/i.test(r.out + r.err), r.out + r.err);
        } finally {
          st = await s.stop();
        }
        assert.equal(st.code, 0, st.stderr);
        const row = JSON.parse(st.stdout.trim().split("\n").at(-1)!);
        assert.equal(row.admit, label, opts.join(" "));
        if (label !== "all") {
          assert.match(st.stderr, new RegExp(`admission ${label.replace(/[()]/g, "\\$&")}`));
        }
        const reads = (await Deno.readTextFile(trace)).split("\n").filter((l) => l)
          .map((l) => JSON.parse(l)).filter((x) => x.op === "R");
        const at = (off: number) => reads.find((x) => x.off === off);
        assert.equal(at(journal)?.hit === true, journalHit, `${opts.join(" ")}: journal read`);
        assert.equal(at(itable)?.hit === true, itableHit, `${opts.join(" ")}: inode table read`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "serve --pdc-*: bad combinations are one-line errors",
  ignore: !ready,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "pdc-serve-bad-" });
    try {
      const zeros = `${dir}/zeros.img`;
      assert.equal((await run("truncate", ["-s", "8M", zeros])).code, 0);
      const bad: [string[], number, RegExp][] = [
        [
          ["--pdc-demote", zeros],
          2,
          /--pdc-journal, --pdc-checkpoint and --pdc-demote need --admit pdc/,
        ],
        [
          ["--admit", "pdc", "--pdc-demote", "--policy", "fifo", zeros],
          2,
          /policy fifo cannot demote/,
        ],
        [["--admit", "pdc", "--pdc-journal", "exact", "memory:8M"], 2, /needs an image file/],
        [["--admit", "pdc", "--pdc-journal", "nope", zeros], 2, /pdc-journal/],
        [["--admit", "pdc", "--pdc-journal", "exact", zeros], 1, /unknown file system/],
        [["--admit", "pdc", "--pdc-checkpoint", zeros], 1, /unknown file system/],
        [
          ["--admit", "pdc", "--pdc-journal", "heuristic", "--pdc-checkpoint", zeros],
          1,
          /not an ext2\/3\/4 file system/,
        ],
      ];
      for (const [args, code, msg] of bad) {
        const r = await run(`${ROOT}bin/qbic-cache`, [
          "serve",
          "--no-db",
          "--socket",
          `${dir}/s.sock`,
          ...args,
        ]);
        assert.equal(r.code, code, `${args.join(" ")}: ${r.err}`);
        assert.match(r.err, msg, args.join(" "));
        assert.equal(r.err.trim().split("\n").length, 1, `one line: ${r.err}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
