/**
 * `pdc-filter locate` against images made by the real mkfs.ext4 / mkfs.ext3 / mkfs.xfs, with
 * debugfs, dumpe2fs and xfs_db as the oracles. Images are sparse files in a temp folder.
 */
import assert from "node:assert/strict";
import { locateJournal, locateJournalInFile } from "../../lib/pdc/locate.ts";
import { bytesReader, ImageFormatError } from "../../lib/pdc/image_reader.ts";
import { type ByteRange, normalizeRanges, pushMerged } from "../../lib/pdc/byte_range.ts";

const root = new URL("../../", import.meta.url).pathname;
const have = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};
const extTools = have("/sbin/mkfs.ext4") && have("/sbin/debugfs");
const xfsTools = have("/sbin/mkfs.xfs") && have("/sbin/xfs_db");
if (!extTools) console.log("pdc_locate: e2fsprogs missing, ext4 cases skipped");
if (!xfsTools) console.log("pdc_locate: xfsprogs missing, XFS cases skipped");

async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

async function image(dir: string, name: string, size: string): Promise<string> {
  const p = `${dir}/${name}`;
  await sh("truncate", "-s", size, p);
  return p;
}

/** The journal's data blocks as debugfs sees them, as byte ranges (indirect/index blocks out). */
async function debugfsRanges(img: string, bs: number): Promise<ByteRange[]> {
  const stat = (await sh("debugfs", "-R", "stat <8>", img)).replace(/\s+/g, " ");
  const runs: { logical: number; off: number; len: number }[] = [];
  for (const m of stat.matchAll(/\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?/g)) {
    const l0 = Number(m[1]), l1 = Number(m[2] ?? m[1]), p0 = Number(m[3]);
    runs.push({ logical: l0, off: p0 * bs, len: (l1 - l0 + 1) * bs });
  }
  runs.sort((a, b) => a.logical - b.logical);
  const out: ByteRange[] = [];
  for (const r of runs) pushMerged(out, r);
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "pdc_locate_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const extCases: { name: string; size: string; mkfs: string[]; bs: number; mapping: string }[] = [
  {
    name: "ext4 1K blocks",
    size: "64M",
    mkfs: ["mkfs.ext4", "-b", "1024"],
    bs: 1024,
    mapping: "extents",
  },
  {
    name: "ext4 4K blocks",
    size: "64M",
    mkfs: ["mkfs.ext4", "-b", "4096"],
    bs: 4096,
    mapping: "extents",
  },
  {
    name: "ext4 4K ^64bit",
    size: "48M",
    mkfs: ["mkfs.ext4", "-b", "4096", "-O", "^64bit"],
    bs: 4096,
    mapping: "extents",
  },
  {
    name: "ext4 bigalloc",
    size: "64M",
    mkfs: ["mkfs.ext4", "-b", "4096", "-O", "bigalloc", "-C", "65536"],
    bs: 4096,
    mapping: "extents",
  },
  {
    name: "ext4 meta_bg",
    size: "64M",
    mkfs: ["mkfs.ext4", "-b", "4096", "-O", "meta_bg,^resize_inode"],
    bs: 4096,
    mapping: "extents",
  },
  { name: "ext3 block map", size: "32M", mkfs: ["mkfs.ext3"], bs: 1024, mapping: "blockmap" },
  {
    name: "ext4 large journal with extent index blocks",
    size: "1G",
    mkfs: [
      "mkfs.ext4",
      "-b",
      "1024",
      "-J",
      "size=160",
      "-E",
      "lazy_journal_init=1,lazy_itable_init=1",
    ],
    bs: 1024,
    mapping: "extents",
  },
];

for (const c of extCases) {
  Deno.test({
    name: `locate: ${c.name} matches debugfs`,
    ignore: !extTools,
    fn: () =>
      withDir(async (dir) => {
        const img = await image(dir, "fs.img", c.size);
        await sh(c.mkfs[0], "-q", "-F", ...c.mkfs.slice(1), img);
        const loc = await locateJournalInFile(img);
        assert.equal(loc.fs, "ext4");
        assert.equal(loc.journal, "internal");
        assert.equal(loc.blockSize, c.bs);
        assert.equal(loc.mapping, c.mapping);
        assert.deepEqual(
          normalizeRanges(loc.ranges),
          normalizeRanges(await debugfsRanges(img, c.bs)),
        );
        // dumpe2fs agrees on the journal's length.
        const dump = await sh("dumpe2fs", "-h", img);
        const blocks = Number(/Total journal blocks:\s+(\d+)/.exec(dump)?.[1]);
        assert.equal(loc.ranges.reduce((a, r) => a + r.len, 0), blocks * c.bs);
      }),
  });
}

Deno.test({
  name: "locate: ext4 without a journal has no ranges",
  ignore: !extTools,
  fn: () =>
    withDir(async (dir) => {
      const img = await image(dir, "fs.img", "16M");
      await sh("mkfs.ext4", "-q", "-F", "-O", "^has_journal", img);
      const loc = await locateJournalInFile(img);
      assert.equal(loc.journal, "none");
      assert.deepEqual(loc.ranges, []);
    }),
});

Deno.test({
  name: "locate: external journal (journal_dev) on both sides",
  ignore: !extTools,
  fn: () =>
    withDir(async (dir) => {
      // The journal device itself.
      const jdev = await image(dir, "journal.img", "16M");
      await sh("mkfs.ext4", "-q", "-F", "-O", "journal_dev", "-b", "4096", jdev);
      const j = await locateJournalInFile(jdev);
      assert.equal(j.journal, "device");
      const jblocks = Number(
        /Total journal blocks:\s+(\d+)/.exec(await sh("dumpe2fs", "-h", jdev))?.[1],
      );
      assert.deepEqual(j.ranges, [{ off: 4096, len: (jblocks - 1) * 4096 }]);
      // A file system pointing at it: mke2fs wants a block device for -J device=, so set the
      // superblock fields it would set with debugfs.
      const fs = await image(dir, "fs.img", "32M");
      await sh("mkfs.ext4", "-q", "-F", "-O", "^has_journal", fs);
      const uuid = "0b1e2c3d-4e5f-4071-8293-a4b5c6d7e8f9";
      await sh("debugfs", "-w", "-R", "feature has_journal", fs);
      await sh("debugfs", "-w", "-R", `ssv journal_uuid ${uuid}`, fs);
      await sh("debugfs", "-w", "-R", "ssv journal_dev 0x0811", fs);
      const loc = await locateJournalInFile(fs);
      assert.equal(loc.journal, "external");
      assert.deepEqual(loc.ranges, []);
      assert.deepEqual(loc.external, { uuid, dev: 0x0811 });
    }),
});

async function xfsLogDaddr(img: string): Promise<{ off: number; len: number }> {
  const sb = await sh(
    "xfs_db",
    "-r",
    "-c",
    "sb 0",
    "-c",
    "print logstart logblocks blocksize",
    img,
  );
  const v = (k: string) => Number(new RegExp(`${k} = (\\d+)`).exec(sb)?.[1]);
  const conv = await sh("xfs_db", "-r", "-c", `convert fsb ${v("logstart")} daddr`, img);
  const daddr = Number(/\((\d+)\)/.exec(conv)?.[1]);
  return { off: daddr * 512, len: v("logblocks") * v("blocksize") };
}

for (
  const c of [
    { name: "XFS 4K, 7 AGs (log in a middle AG)", size: "1G", args: ["-d", "agcount=7"] },
    { name: "XFS 1K blocks", size: "512M", args: ["-b", "size=1024"] },
    { name: "XFS log in AG 3 of 5", size: "600M", args: ["-d", "agcount=5", "-l", "agnum=3"] },
  ]
) {
  Deno.test({
    name: `locate: ${c.name} matches xfs_db`,
    ignore: !xfsTools,
    fn: () =>
      withDir(async (dir) => {
        const img = await image(dir, "fs.img", c.size);
        await sh("mkfs.xfs", "-q", "-f", ...c.args, img);
        const loc = await locateJournalInFile(img);
        assert.equal(loc.fs, "xfs");
        assert.equal(loc.journal, "internal");
        assert.deepEqual(loc.ranges, [await xfsLogDaddr(img)]);
      }),
  });
}

Deno.test({
  name: "locate: XFS with an external log",
  ignore: !xfsTools,
  fn: () =>
    withDir(async (dir) => {
      const img = await image(dir, "fs.img", "400M");
      const log = await image(dir, "log.img", "80M");
      await sh("mkfs.xfs", "-q", "-f", "-l", `logdev=${log},size=64m`, img);
      const loc = await locateJournalInFile(img);
      assert.equal(loc.journal, "external");
      assert.deepEqual(loc.ranges, []);
    }),
});

Deno.test({
  name: "locate: truncated, corrupt and unknown images fail with a clear error",
  ignore: !extTools || !xfsTools,
  fn: () =>
    withDir(async (dir) => {
      const e4 = await image(dir, "e4.img", "64M");
      await sh("mkfs.ext4", "-q", "-F", "-b", "1024", e4);
      const jstart = (await locateJournalInFile(e4)).ranges[0].off;
      await sh("truncate", "-s", String(jstart + 4096), e4);
      await assert.rejects(() => locateJournalInFile(e4), ImageFormatError);
      await assert.rejects(() => locateJournalInFile(e4), /truncated image: journal ends/);

      const x = await image(dir, "x.img", "400M");
      await sh("mkfs.xfs", "-q", "-f", x);
      await sh("truncate", "-s", "100M", x);
      await assert.rejects(() => locateJournalInFile(x), /truncated image/);

      const junk = `${dir}/junk.img`;
      await Deno.writeFile(junk, crypto.getRandomValues(new Uint8Array(65536)));
      await assert.rejects(() => locateJournalInFile(junk), /unknown file system/);

      // Zero the journal inode's extent header: corrupt metadata, named.
      const c = await image(dir, "c.img", "16M");
      await sh("mkfs.ext4", "-q", "-F", "-b", "1024", c);
      const itable = Number(/Inode table at (\d+)/.exec(await sh("dumpe2fs", c))?.[1]);
      const isize = Number(/Inode size:\s+(\d+)/.exec(await sh("dumpe2fs", "-h", c))?.[1]);
      const f = await Deno.open(c, { write: true });
      await f.seek(itable * 1024 + 7 * isize + 0x28, Deno.SeekMode.Start);
      await f.write(new Uint8Array(12));
      f.close();
      await assert.rejects(() => locateJournalInFile(c), /bad extent header magic/);

      // The CLI: one line, exit 1, nothing on stdout.
      const out = await new Deno.Command(`${root}bin/pdc-filter`, {
        args: ["locate", "--no-db", junk],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 1);
      assert.equal(out.stdout.length, 0);
      assert.match(new TextDecoder().decode(out.stderr), /^pdc-filter: .*unknown file system.*\n$/);
    }),
});

Deno.test({
  name: "locate: CLI prints the ranges as JSON",
  ignore: !extTools,
  fn: () =>
    withDir(async (dir) => {
      const img = await image(dir, "fs.img", "32M");
      await sh("mkfs.ext4", "-q", "-F", img);
      const out = await sh(`${root}bin/pdc-filter`, "locate", "--no-db", "-q", img);
      const doc = JSON.parse(out);
      assert.deepEqual(doc.ranges, (await locateJournalInFile(img)).ranges);
      assert.ok(doc.ranges.length >= 1);
    }),
});

Deno.test({
  name: "locate: random damage to a real ext4 image never escapes as anything but ImageFormatError",
  ignore: !extTools,
  fn: () =>
    withDir(async (dir) => {
      const img = await image(dir, "fs.img", "8M");
      await sh("mkfs.ext4", "-q", "-F", "-b", "1024", img);
      const bytes = await Deno.readFile(img);
      let seed = 12345;
      const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
      for (let i = 0; i < 300; i++) {
        const b = bytes.slice(0, i % 3 === 0 ? rnd(bytes.length) : bytes.length);
        // Flip bytes in the superblock, descriptors and inode table, where the walk reads.
        for (let k = 0; k < 4; k++) {
          const at = 1024 + rnd(Math.min(b.length, 300 * 1024) - 1024);
          if (at >= 0 && at < b.length) b[at] ^= 1 + rnd(255);
        }
        try {
          const loc = await locateJournal(bytesReader(b));
          for (const r of loc.ranges) assert.ok(r.off + r.len <= b.length);
        } catch (e) {
          assert.ok(e instanceof ImageFormatError, `iteration ${i}: ${e}`);
        }
      }
    }),
});
