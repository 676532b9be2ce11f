/**
 * `pviommu record` end to end: the real test guest behind QEMU's intel-iommu (TCG here), its
 * virtio-blk disk behind the IOMMU, the guest kernel's own DMA maps and unmaps recorded,
 * imported and audited clean. And `--iommu virtio` says exactly why it cannot work when the
 * guest kernel has no virtio-iommu driver.
 */
import assert from "node:assert/strict";
import { parseAuditLine } from "../../lib/pviommu/audit_event.ts";
import { bootKernels, guestMissing, withTempDir } from "./guest_fixture.ts";

const BIN = new URL("../../bin/pviommu", import.meta.url).pathname;
const missing = guestMissing("pviommu_record_test", ["/sbin/mkfs.ext4"]);

async function run(args: string[]) {
  const o = await new Deno.Command(BIN, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

Deno.test({
  name: "pviommu e2e: record sees the guest's own DMA maps and unmaps, and audits them clean",
  ignore: missing.length > 0,
  fn: async () => {
    await withTempDir("pviommu-e2e-record-", async (dir) => {
      const events = `${dir}/events.jsonl`;
      const trace = `${dir}/qemu.log`;
      const r = await run([
        "record",
        "--no-db",
        "--output",
        "json",
        "--args",
        "files=10",
        "--timeout",
        "55s",
        "--trace",
        trace,
        "-o",
        events,
      ]);
      assert.equal(r.code, 0, r.err);
      const s = JSON.parse(r.out);
      assert.equal(s.results[0].workload, "fsync-small");
      assert.equal(s.results[0].ok, true);
      assert.ok(s.audit.ops.attach >= 1, "the disk attached to a domain");
      assert.ok(s.audit.ops.map > 0, "maps seen");
      assert.ok(s.audit.ops.unmap > 0, "unmaps seen");
      assert.ok(s.audit.ops.dma > 0, "translations seen");
      assert.equal(s.audit.violations, 0, JSON.stringify(s.audit.byKind));
      // the events file holds exactly the audited events, each one well-formed
      const lines = (await Deno.readTextFile(events)).trim().split("\n");
      assert.equal(lines.length, s.events);
      const ops = new Map<string, number>();
      lines.forEach((l, i) => {
        const ev = parseAuditLine(l, i + 1);
        ops.set(ev.op, (ops.get(ev.op) ?? 0) + 1);
      });
      assert.equal(ops.get("map"), s.audit.ops.map);
      // the raw trace was kept and holds the intel-iommu events it came from
      const raw = await Deno.readTextFile(trace);
      assert.match(raw, /vtd_iotlb_page_update/);
      assert.match(raw, /vtd_inv_desc_iotlb_pages/);
    });
  },
});

Deno.test({
  name: "pviommu e2e: record --iommu virtio names why the guest cannot drive a virtio-iommu",
  ignore: missing.length > 0,
  fn: async () => {
    const version = bootKernels().map((k) => k.slice("vmlinuz-".length)).sort().at(-1)!;
    const config = await Deno.readTextFile(`/boot/config-${version}`).catch(() => "");
    const r = await run(["record", "--no-db", "--iommu", "virtio", "-o", "/dev/null"]);
    assert.equal(r.code, 1);
    assert.equal(r.err.trim().split("\n").length, 1, r.err);
    if (/^CONFIG_VIRTIO_IOMMU=[ym]$/m.test(config)) {
      assert.match(r.err, /not implemented yet/);
    } else {
      assert.match(r.err, /CONFIG_VIRTIO_IOMMU is not set/);
    }
  },
});
