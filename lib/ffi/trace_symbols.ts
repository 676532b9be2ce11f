/**
 * FFI symbols of native/trace_decompress.c: streaming zstd and xz decoders for the trace
 * readers (lib/trace/decompress.ts). Handles are small non-negative integers.
 */
export const traceSymbols = {
  /** int32_t tz_open(uint32_t kind): 1 zstd, 2 xz; a handle or -errno */
  tz_open: { parameters: ["u32" /* uint32_t kind */], result: "i32" },
  /**
   * int32_t tz_step(int32_t h, const uint8_t *in, uint32_t in_len, uint8_t *out,
   * uint32_t out_cap, uint32_t *io): io = [input used, output made, stream ended]
   */
  tz_step: {
    parameters: [
      "i32", /* int32_t h */
      "buffer", /* const uint8_t *in */
      "u32", /* uint32_t in_len */
      "buffer", /* uint8_t *out */
      "u32", /* uint32_t out_cap */
      "buffer", /* uint32_t *io (3) */
    ],
    result: "i32",
  },
  /** tz_step off the JS thread: the parser runs while the next piece is decompressed. */
  tz_step_async: {
    name: "tz_step",
    parameters: ["i32", "buffer", "u32", "buffer", "u32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  /** int32_t tz_finish(int32_t h, uint8_t *out, uint32_t out_cap, uint32_t *io): at the end */
  tz_finish: {
    parameters: [
      "i32", /* int32_t h */
      "buffer", /* uint8_t *out */
      "u32", /* uint32_t out_cap */
      "buffer", /* uint32_t *io (3) */
    ],
    result: "i32",
  },
  /** const char *tz_error(int32_t h): what was wrong after -EBADMSG */
  tz_error: { parameters: ["i32" /* int32_t h */], result: "pointer" },
  /** int32_t tz_close(int32_t h) */
  tz_close: { parameters: ["i32" /* int32_t h */], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
