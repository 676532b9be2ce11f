/**
 * The report command end to end: a real store seeded through lib/results, rendered by
 * bin/hvkit-report into one HTML page, opened in headless Chromium (Debian's chromium, no
 * network, a fresh profile) whose rendered DOM must hold the SVG charts with their data.
 */
import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { seedStore } from "../../lib/report/testdata/seed_store.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!haveChromium) console.log(`report_html_test: skipping the browser test: no ${CHROMIUM}`);

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) into pixels. */
function decodePng(
  bytes: Uint8Array,
): { width: number; height: number; rgb: (i: number) => number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Uint8Array[] = [];
  while (at < bytes.length) {
    const len = view.getUint32(at);
    const type = new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + len);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      assert.equal(data[8], 8, "bit depth");
      assert.equal(data[12], 0, "interlace");
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      assert.ok(channels > 0, `colour type ${data[9]}`);
    } else if (type === "IDAT") idat.push(data);
    at += 12 + len;
  }
  const raw = new Uint8Array(inflateSync(new Uint8Array(idat.flatMap((d) => [...d]))));
  const stride = width * channels;
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const cur = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
        ? a
        : Math.abs(p - b) <= Math.abs(p - c)
        ? b
        : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f];
      px[y * stride + x] = (cur + pred) & 0xff;
    }
  }
  const rgb = (i: number) =>
    (px[i * channels] << 16) | (px[i * channels + 1] << 8) | px[i * channels + 2];
  return { width, height, rgb };
}

/** How many pixels of a screenshot have exactly this colour. */
function countColour(file: string, colour: number): number {
  const png = decodePng(Deno.readFileSync(file));
  let n = 0;
  for (let i = 0; i < png.width * png.height; i++) if (png.rgb(i) === colour) n++;
  return n;
}

async function report(args: string[]) {
  const out = await new Deno.Command(`${ROOT}bin/hvkit-report`, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs headless Chromium on a file; returns its --dump-dom output and writes a screenshot. */
async function chromium(file: string, screenshot: string): Promise<string> {
  const profile = Deno.makeTempDirSync({ prefix: "hvkit-chromium-" });
  const common = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profile}`,
    "--window-size=1200,1600",
  ];
  try {
    const run = async (extra: string[]) => {
      const out = await new Deno.Command(CHROMIUM, {
        args: [...common, ...extra, `file://${file}`],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout);
    };
    const dom = await run(["--dump-dom"]);
    await run([`--screenshot=${screenshot}`]);
    return dom;
  } finally {
    Deno.removeSync(profile, { recursive: true });
  }
}

Deno.test({
  name: "report html: the page renders in headless Chromium with its SVG charts and data",
  ignore: !haveChromium,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "hvkit-report-html-" });
    try {
      const db = `${dir}/results.duckdb`;
      await seedStore(db);
      const html = `${dir}/report.html`;
      const r = await report(["--all", "--format", "html", "-o", html, "--db", db]);
      assert.equal(r.code, 0, r.stderr);
      const source = Deno.readTextFileSync(html);
      // self-contained: no script, nothing fetched
      assert.ok(!/<script|<link|src=|@import|url\(/i.test(source), "page must be self-contained");

      const dom = await chromium(html, `${dir}/full.png`);
      const svgs = dom.match(/<svg[^>]*class="chart"/g) ?? [];
      assert.ok(svgs.length >= 4, `expected charts in the rendered DOM, got ${svgs.length}`);
      const values = [...dom.matchAll(/data-value="([^"]+)"/g)].map((m) => Number(m[1]));
      assert.ok(values.length > 10 && values.every(Number.isFinite));
      // the seeded figures are on the page: the NBD peers' bars and the fio bars
      for (const peer of ["qemu-nbd", "nbdkit", "fio"]) {
        assert.match(dom, new RegExp(`data-x="${peer}"`), peer);
      }
      assert.match(dom, /<section id="bench_latest">/);

      // the same page from an empty store: every section says "no runs yet", no chart
      const emptyHtml = `${dir}/empty.html`;
      const e = await report([
        "--all",
        "--format",
        "html",
        "-o",
        emptyHtml,
        "--db",
        `${dir}/none.duckdb`,
      ]);
      assert.equal(e.code, 0, e.stderr);
      const emptyDom = await chromium(emptyHtml, `${dir}/empty.png`);
      assert.equal((emptyDom.match(/<svg/g) ?? []).length, 0);
      assert.match(emptyDom, /no runs yet/);
      // the charts paint: the first bar colour (#0072B2) covers real area with data, none without
      const bars = countColour(`${dir}/full.png`, 0x0072b2);
      assert.ok(bars > 1000, `expected painted bars, found ${bars} pixels of #0072B2`);
      assert.equal(countColour(`${dir}/empty.png`, 0x0072b2), 0);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
