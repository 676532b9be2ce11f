import assert from "node:assert/strict";
import { detectVfio, VfioBackend, VfioContainer, VfioIommuType } from "./vfio.ts";
import { NativeError } from "../ffi/errno.ts";
import { PvIommu } from "./iommu.ts";
import { MapFlag, Status } from "./spec.ts";
import { openGuestRam } from "./guest_ram.ts";

const support = detectVfio();
const group = Deno.env.get("HVKIT_VFIO_GROUP");
if (!support.vfio) console.log(`pviommu VFIO tests skipped: no VFIO here (${support.vfioDetail})`);
else if (!group) console.log("pviommu VFIO map test skipped: set HVKIT_VFIO_GROUP=<group number>");

Deno.test("vfio: detection reports VFIO, iommufd and IOMMU groups", () => {
  assert.equal(typeof support.vfio, "boolean");
  assert.ok(support.iommuGroups >= -1);
  if (!support.vfio) {
    assert.throws(() => VfioContainer.open(), (e: Error) => e instanceof NativeError);
  }
});

Deno.test({
  name: "vfio: type1 container answers extensions",
  ignore: !support.vfio,
  fn() {
    const c = VfioContainer.open();
    try {
      assert.equal(typeof c.hasExtension(VfioIommuType.TYPE1v2), "boolean");
    } finally {
      c.close();
    }
  },
});

Deno.test({
  name: "vfio: model mappings reach the host IOMMU through MAP_DMA/UNMAP_DMA",
  ignore: !support.vfio || !group,
  async fn() {
    const file = await Deno.makeTempFile({ prefix: "pviommu-ram-" });
    const c = VfioContainer.open();
    try {
      await Deno.truncate(file, 1 << 20);
      const ram = openGuestRam(file, { writable: true });
      c.addGroup(Number(group));
      c.setIommu(VfioIommuType.TYPE1v2);
      const iommu = new PvIommu({ backend: new VfioBackend(c, ram.hostAddress!) });
      assert.equal(iommu.attach(1, 1), Status.OK);
      assert.equal(iommu.map(1, 0x100000, 0x10ffff, 0, MapFlag.READ | MapFlag.WRITE), Status.OK);
      assert.equal(iommu.unmap(1, 0x100000, 0x10ffff), Status.OK);
      ram.close();
    } finally {
      c.close();
      await Deno.remove(file);
    }
  },
});
