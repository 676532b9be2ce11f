/**
 * Checked DMA against a running guest's RAM: the guest (lib/qemu, RAM in a shared memory
 * file) writes a token into its memory; the token's guest-physical page is mapped for an
 * endpoint, and a checked DMA read through the IOMMU finds the token there, on both engines.
 * An IOVA nobody mapped faults, and so does a write to the read-only mapping: refused before
 * a byte moves (the RAM file is mapped read-only here, so a write that got through would
 * crash the test).
 */
import assert from "node:assert/strict";
import { CheckedDma } from "../../lib/pviommu/checked_dma.ts";
import { openGuestRam } from "../../lib/pviommu/guest_ram.ts";
import { PvIommu } from "../../lib/pviommu/iommu.ts";
import { FaultReason, MapFlag, Status } from "../../lib/pviommu/spec.ts";
import { guestMissing, indexOfBytes, withGuest, withTempDir } from "./guest_fixture.ts";

const PAGE = 4096;
const skip = guestMissing("pviommu_live_dma_test").length > 0;

Deno.test({
  name: "pviommu e2e: checked DMA reads a running guest's token through the IOMMU; unmapped faults",
  ignore: skip,
  sanitizeResources: false,
  fn: async () => {
    const token = crypto.randomUUID().replaceAll("-", "");
    await withTempDir("pviommu-e2e-live-", async (dir) => {
      const memPath = `${dir}/guest.ram`;
      await withGuest({
        workload: "mem-marker",
        workloadArgs: { token, copies: 8, seconds: 60 },
        memMiB: 160,
        sharedMemPath: memPath,
        timeoutMs: 90_000,
      }, async (vm) => {
        const line = await vm.waitForLine((l) => l.kind === "RESULT", 85_000);
        assert.equal(line.data.token, token);
        const ram = openGuestRam(memPath, { writable: false });
        try {
          assert.equal(ram.bytes.length, 160 << 20);
          const want = new TextEncoder().encode(`HVKIT-MEM-MARK:${token}:KRAM`);
          // Below 4 GiB a q35 guest's RAM file offset is its guest-physical address.
          const gpa = indexOfBytes(ram.bytes, want);
          assert.ok(gpa >= 0, "the guest's token is in its RAM");
          const page = gpa - (gpa % PAGE);
          const iova = 0x4000_0000;
          for (const engine of ["native", "ts"] as const) {
            const iommu = new PvIommu({ guestPhysSize: ram.bytes.length });
            const dma = new CheckedDma(iommu, ram.bytes, undefined, { engine });
            assert.equal(iommu.attach(1, 0x18), Status.OK);
            assert.equal(iommu.map(1, iova, iova + PAGE - 1, page, MapFlag.READ), Status.OK);
            // the token may cross into the next page: read what this page holds of it
            const n = Math.min(want.length, PAGE - (gpa - page));
            const buf = new Uint8Array(n);
            const at = iova + (gpa - page);
            assert.equal(dma.read(0x18, at, buf), null, `${engine}: read refused`);
            assert.deepEqual(buf, want.subarray(0, n), `${engine}: the token, through the IOMMU`);
            // twice: the second read is an IOTLB hit (the native engine's own path)
            const hits = iommu.iotlb.hits;
            buf.fill(0);
            assert.equal(dma.read(0x18, at, buf), null);
            assert.deepEqual(buf, want.subarray(0, n));
            assert.equal(iommu.iotlb.hits, hits + 1);
            // an IOVA nobody mapped, another endpoint, a write to a read-only mapping
            const f1 = dma.read(0x18, iova + PAGE, new Uint8Array(16));
            assert.equal(f1?.reason, FaultReason.MAPPING, `${engine}: unmapped IOVA`);
            const f2 = dma.read(0x20, at, new Uint8Array(16));
            assert.equal(f2?.reason, FaultReason.DOMAIN, `${engine}: unattached endpoint`);
            const f3 = dma.write(0x18, at, new Uint8Array(16));
            assert.equal(f3?.reason, FaultReason.MAPPING, `${engine}: write to a read-only map`);
            assert.equal(dma.log.total, 3);
            // after UNMAP (strict) the token is out of reach
            assert.equal(iommu.unmap(1, iova, iova + PAGE - 1), Status.OK);
            assert.equal(dma.read(0x18, at, buf)?.reason, FaultReason.MAPPING);
          }
        } finally {
          ram.close();
        }
      });
    });
  },
});
