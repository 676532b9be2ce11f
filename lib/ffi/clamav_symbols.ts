/**
 * FFI symbols of libclamav (ClamAV 1.4, Debian `libclamav12`, the library clamscan uses; see
 * /usr/include/clamav.h), opened by {@link ./clamav.ts}. Only what `virtav scan --engine clamav`
 * needs: init, engine, load, compile, limits, the virus-found callback and in-memory scans.
 *
 * @module
 */
export const clamavSymbols = {
  /** cl_error_t cl_init(unsigned int initoptions) */
  cl_init: { parameters: ["u32" /* unsigned int initoptions */], result: "i32" },
  /** const char *cl_retver(void) */
  cl_retver: { parameters: [], result: "pointer" },
  /** unsigned int cl_retflevel(void) */
  cl_retflevel: { parameters: [], result: "u32" },
  /** const char *cl_strerror(cl_error_t clerror) */
  cl_strerror: { parameters: ["i32" /* cl_error_t clerror */], result: "pointer" },
  /** struct cl_engine *cl_engine_new(void) */
  cl_engine_new: { parameters: [], result: "pointer" },
  /** cl_error_t cl_engine_free(struct cl_engine *engine) */
  cl_engine_free: { parameters: ["pointer" /* struct cl_engine *engine */], result: "i32" },
  /** cl_error_t cl_engine_set_num(struct cl_engine *engine, enum cl_engine_field field, long long num) */
  cl_engine_set_num: {
    parameters: [
      "pointer", /* struct cl_engine *engine */
      "i32", /* enum cl_engine_field field */
      "i64", /* long long num */
    ],
    result: "i32",
  },
  /** cl_error_t cl_load(const char *path, struct cl_engine *engine, unsigned int *signo, unsigned int dboptions) */
  cl_load: {
    parameters: [
      "buffer", /* const char *path */
      "pointer", /* struct cl_engine *engine */
      "buffer", /* unsigned int *signo */
      "u32", /* unsigned int dboptions */
    ],
    result: "i32",
  },
  /** cl_error_t cl_engine_compile(struct cl_engine *engine) */
  cl_engine_compile: { parameters: ["pointer" /* struct cl_engine *engine */], result: "i32" },
  /** void cl_engine_set_clcb_virus_found(struct cl_engine *engine, clcb_virus_found callback) */
  cl_engine_set_clcb_virus_found: {
    parameters: [
      "pointer", /* struct cl_engine *engine */
      "function", /* void (*)(int fd, const char *virname, void *context) */
    ],
    result: "void",
  },
  /** cl_fmap_t *cl_fmap_open_memory(const void *start, size_t len) */
  cl_fmap_open_memory: {
    parameters: ["pointer", /* const void *start */ "usize" /* size_t len */],
    result: "pointer",
  },
  /** void cl_fmap_close(cl_fmap_t *map) */
  cl_fmap_close: { parameters: ["pointer" /* cl_fmap_t *map */], result: "void" },
  /** cl_error_t cl_scanmap_callback(cl_fmap_t *map, const char *filename, const char **virname, unsigned long *scanned, const struct cl_engine *engine, struct cl_scan_options *scanoptions, void *context) */
  cl_scanmap_callback: {
    parameters: [
      "pointer", /* cl_fmap_t *map */
      "buffer", /* const char *filename */
      "buffer", /* const char **virname */
      "buffer", /* unsigned long *scanned */
      "pointer", /* const struct cl_engine *engine */
      "buffer", /* struct cl_scan_options *scanoptions */
      "pointer", /* void *context */
    ],
    result: "i32",
  },
  /** cl_error_t cl_scanfile(const char *filename, const char **virname, unsigned long *scanned, const struct cl_engine *engine, struct cl_scan_options *scanoptions) */
  cl_scanfile: {
    parameters: [
      "buffer", /* const char *filename */
      "buffer", /* const char **virname */
      "buffer", /* unsigned long *scanned */
      "pointer", /* const struct cl_engine *engine */
      "buffer", /* struct cl_scan_options *scanoptions */
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;
