/** FFI symbols of native/virtav_prefilter.c, the Hyperscan prefilter (see native/virtav.h). */
export const virtavPrefilterSymbols = {
  /** int32_t vav_db_load_pf(const uint8_t *blob, uint64_t len, const uint8_t *pf, uint64_t pf_len, uint32_t pf_flags, char *msg, uint32_t msg_cap): database handle or -errno */
  vav_db_load_pf: {
    parameters: [
      "buffer", /* const uint8_t *blob */
      "u64", /* uint64_t len */
      "buffer", /* const uint8_t *pf (NULL: compile) */
      "u64", /* uint64_t pf_len */
      "u32", /* uint32_t pf_flags (VAV_PF_ON) */
      "buffer", /* char *msg */
      "u32", /* uint32_t msg_cap */
    ],
    result: "i32",
  },
  /** int64_t vav_pf_serialize(int32_t db, uint8_t *out, uint64_t cap): the serialised size (written when it fits), 0 without a prefilter */
  vav_pf_serialize: {
    parameters: ["i32", /* int32_t db */ "buffer", /* uint8_t *out */ "u64" /* uint64_t cap */],
    result: "i64",
  },
  /** int64_t vav_pf_info(int32_t db, uint64_t *info): info[8] = state, programs prefiltered / on the key loop, signatures prefiltered / on the key loop, literals, database bytes, scratch bytes */
  vav_pf_info: {
    parameters: ["i32", /* int32_t db */ "buffer" /* uint64_t *info */],
    result: "i64",
  },
  /** int32_t vav_pf_window(uint64_t bytes): tests only, key positions per Hyperscan call (0: default) */
  vav_pf_window: { parameters: ["u64" /* uint64_t bytes */], result: "i32" },
  /** int32_t vav_pf_sampler(int32_t always): tests only, the sampler of long literals at any literal count (0: past PF_SAMPLE_OVER) */
  vav_pf_sampler: { parameters: ["i32" /* int32_t always */], result: "i32" },
} as const;
