/**
 * ext4_metadata against dumpe2fs (e2fsprogs, the peer): on ext2/3/4 images made by mkfs with
 * drawn options (block size, size, flex_bg, 64bit, inode size, resize_inode, journal), the
 * ranges must be exactly the blocks dumpe2fs lists for the primary superblock, the group
 * descriptors, the reserved GDT blocks and every group's bitmaps and inode table.
 */
import assert from "node:assert/strict";
import { normalizeRanges } from "./byte_range.ts";
import { locateExt4Metadata, locateExt4MetadataInFile } from "./ext4_metadata.ts";
import { bytesReader, ImageFormatError } from "./image_reader.ts";

const MKFS = "/sbin/mkfs.ext4";
const DUMPE2FS = "/sbin/dumpe2fs";
const missing = [MKFS, DUMPE2FS].filter((p) => {
  try {
    Deno.statSync(p);
    return false;
  } catch {
    return true;
  }
});

async function run(cmd: string, args: string[]): Promise<string> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!o.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(o.stderr)}`);
  return dec.decode(o.stdout);
}

/** The blocks dumpe2fs lists as fixed metadata (primary copies only), as byte ranges. */
function fromDumpe2fs(text: string, bs: number) {
  const out: { off: number; len: number }[] = [];
  const add = (a: number, b: number) => out.push({ off: a * bs, len: (b - a + 1) * bs });
  const sb = /Primary superblock at (\d+), Group descriptors at (\d+)-(\d+)/.exec(text)!;
  add(Number(sb[1]), Number(sb[1]));
  add(Number(sb[2]), Number(sb[3]));
  const group0 = text.split(/^Group 1:/m)[0];
  const rgdt = /Reserved GDT blocks at (\d+)-(\d+)/.exec(group0);
  if (rgdt) add(Number(rgdt[1]), Number(rgdt[2]));
  for (const m of text.matchAll(/(?:Block|Inode) bitmap at (\d+)/g)) {
    add(Number(m[1]), Number(m[1]));
  }
  for (const m of text.matchAll(/Inode table at (\d+)-(\d+)/g)) add(Number(m[1]), Number(m[2]));
  return normalizeRanges(out);
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

Deno.test({
  name: "ext4 metadata: the ranges dumpe2fs lists, on mkfs images with drawn options",
  ignore: missing.length > 0,
  fn: async () => {
    const seed = Number(Deno.env.get("HVKIT_SEED") ?? 20261205);
    console.log(`ext4_metadata_test seed ${seed} (HVKIT_SEED to repeat)`);
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
    const dir = await Deno.makeTempDir({ prefix: "hvkit-ext4-meta-" });
    try {
      for (let i = 0; i < 8; i++) {
        const bs = pick([1024, 2048, 4096]);
        const mib = pick([8, 24, 64, 200]);
        const feats = [
          pick(["flex_bg", "^flex_bg"]),
          pick(["64bit", "^64bit"]),
          pick(["resize_inode", "^resize_inode"]),
          pick(["has_journal", "^has_journal"]),
        ];
        const inode = pick(["128", "256"]);
        const img = `${dir}/${i}.img`;
        const args = ["-q", "-F", "-b", String(bs), "-I", inode, "-O", feats.join(","), img];
        await run("truncate", ["-s", `${mib}M`, img]);
        await run(MKFS, args);
        const want = fromDumpe2fs(await run(DUMPE2FS, [img]), bs);
        const got = await locateExt4MetadataInFile(img);
        assert.deepEqual(got.ranges, want, `seed ${seed} image ${i}: mkfs.ext4 ${args.join(" ")}`);
        assert.equal(got.blockSize, bs);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ext4 metadata: meta_bg is refused with one line",
  ignore: missing.length > 0,
  fn: async () => {
    const img = await Deno.makeTempFile();
    try {
      await run("truncate", ["-s", "32M", img]);
      await run(MKFS, ["-q", "-F", "-O", "meta_bg,^resize_inode", img]);
      await assert.rejects(() => locateExt4MetadataInFile(img), /meta_bg file systems/);
    } finally {
      await Deno.remove(img);
    }
  },
});

Deno.test("ext4 metadata: not ext4, and a descriptor past the end, are ImageFormatErrors", async () => {
  await assert.rejects(
    () => locateExt4Metadata(bytesReader(new Uint8Array(65536))),
    (e) => e instanceof ImageFormatError && /not an ext2\/3\/4/.test(e.message),
  );
  // A superblock claiming 1,000,000 4K blocks in a 64 KiB image: its descriptor table is there,
  // but the inode tables it names are past the end.
  const b = new Uint8Array(65536);
  const v = new DataView(b.buffer);
  v.setUint32(1024 + 0x00, 1000, true); // inodes
  v.setUint32(1024 + 0x04, 1_000_000, true); // blocks
  v.setUint32(1024 + 0x18, 2, true); // 4K blocks
  v.setUint32(1024 + 0x20, 32768, true);
  v.setUint32(1024 + 0x28, 1000, true);
  v.setUint16(1024 + 0x38, 0xef53, true);
  for (let g = 0; g < 31; g++) {
    v.setUint32(4096 + g * 32 + 0x00, 100 + g, true);
    v.setUint32(4096 + g * 32 + 0x04, 200 + g, true);
    v.setUint32(4096 + g * 32 + 0x08, 300 + g * 32, true);
  }
  await assert.rejects(
    () => locateExt4Metadata(bytesReader(b)),
    (e) =>
      e instanceof ImageFormatError && /truncated image: metadata ends at byte/.test(e.message),
  );
});
