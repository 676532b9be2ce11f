/* trace_decompress: streaming gzip, zstd and xz decompression for the trace readers (issue 18),
 * through the real libraries (zlib, libzstd, liblzma).
 *
 * A handle holds one decoder. tz_step(h, in, in_len, out, out_cap, io) consumes input and
 * makes output, as much as fits: io[0] = input bytes used, io[1] = output bytes made, io[2] = 1
 * once a whole stream (every frame so far) has ended cleanly. The caller calls it again with
 * the rest of the input (or none) while it fills the output. Concatenated gzip members, zstd
 * frames and xz streams are read as one (as `zcat`, `zstd -d` and `xz -d` do: `cat a.gz b.gz`
 * makes such a file). Errors are negative: -EBADMSG for
 * corrupt data (tz_error names it), -ENOMEM, -EBADF. */
#include <errno.h>
#include <lzma.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "hvkit.h"

#define TZ_MAX_HANDLES 256
/* Decoder memory (docs/limits.md): xz -9 needs 65 MiB to decode, zstd -19 8 MiB; a header
 * asking for more (a crafted dictionary or window size) is refused, not allocated. */
#define TZ_XZ_MEMLIMIT (256ull << 20)
#define TZ_ZSTD_WINDOW_LOG_MAX 27 /* 128 MiB, libzstd's default, set explicitly */

enum { TZ_ZSTD = 1, TZ_XZ = 2, TZ_GZIP = 3 };

typedef struct tz {
  int kind;
  ZSTD_DStream *zs;
  lzma_stream xs;
  z_stream gz;
  int gz_members; /* gzip members ended so far */
  int gz_between; /* 1 between two members: the next input byte starts a new one */
  int ended; /* the last frame/stream so far ended cleanly */
  char err[160];
} tz;

static tz *handles[TZ_MAX_HANDLES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

HV_EXPORT int32_t tz_open(uint32_t kind);
HV_EXPORT int32_t tz_step(int32_t h, const uint8_t *in, uint32_t in_len, uint8_t *out,
                          uint32_t out_cap, uint32_t *io);
HV_EXPORT int32_t tz_finish(int32_t h, uint8_t *out, uint32_t out_cap, uint32_t *io);
HV_EXPORT const char *tz_error(int32_t h);
HV_EXPORT int32_t tz_close(int32_t h);

static tz *get(int32_t h) {
  if (h < 0 || h >= TZ_MAX_HANDLES) return NULL;
  pthread_mutex_lock(&lock);
  tz *t = handles[h];
  pthread_mutex_unlock(&lock);
  return t;
}

int32_t tz_open(uint32_t kind) {
  if (kind != TZ_ZSTD && kind != TZ_XZ && kind != TZ_GZIP) return -EINVAL;
  tz *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  t->kind = (int)kind;
  if (kind == TZ_ZSTD) {
    t->zs = ZSTD_createDStream();
    if (!t->zs) {
      free(t);
      return -ENOMEM;
    }
    ZSTD_initDStream(t->zs);
    ZSTD_DCtx_setParameter(t->zs, ZSTD_d_windowLogMax, TZ_ZSTD_WINDOW_LOG_MAX);
  } else if (kind == TZ_GZIP) {
    /* 16 + MAX_WBITS: gzip wrapper only (not zlib or raw deflate). */
    if (inflateInit2(&t->gz, 16 + MAX_WBITS) != Z_OK) {
      free(t);
      return -ENOMEM;
    }
  } else {
    lzma_stream init = LZMA_STREAM_INIT;
    t->xs = init;
    if (lzma_stream_decoder(&t->xs, TZ_XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK) {
      free(t);
      return -ENOMEM;
    }
  }
  pthread_mutex_lock(&lock);
  int32_t h = -EMFILE;
  for (int32_t i = 0; i < TZ_MAX_HANDLES; i++) {
    if (!handles[i]) {
      handles[i] = t;
      h = i;
      break;
    }
  }
  pthread_mutex_unlock(&lock);
  if (h < 0) {
    if (t->zs) ZSTD_freeDStream(t->zs);
    if (kind == TZ_XZ) lzma_end(&t->xs);
    if (kind == TZ_GZIP) inflateEnd(&t->gz);
    free(t);
  }
  return h;
}

static int32_t fail(tz *t, const char *what) {
  snprintf(t->err, sizeof t->err, "%s", what);
  return -EBADMSG;
}

static int32_t xz_run(tz *t, const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                      uint32_t *io, lzma_action action) {
  t->xs.next_in = in;
  t->xs.avail_in = in_len;
  t->xs.next_out = out;
  t->xs.avail_out = out_cap;
  lzma_ret r = lzma_code(&t->xs, action);
  io[0] = in_len - (uint32_t)t->xs.avail_in;
  io[1] = out_cap - (uint32_t)t->xs.avail_out;
  if (r == LZMA_STREAM_END) {
    t->ended = 1;
  } else if (r == LZMA_OK || r == LZMA_BUF_ERROR) {
    /* LZMA_BUF_ERROR: no progress possible now (more input, or more room, needed). */
    if (action == LZMA_FINISH && r == LZMA_BUF_ERROR && io[1] == 0) t->ended = 0;
  } else {
    switch (r) {
    case LZMA_FORMAT_ERROR: return fail(t, "not xz data");
    case LZMA_DATA_ERROR: return fail(t, "corrupt xz data");
    case LZMA_MEM_ERROR: return -ENOMEM;
    case LZMA_MEMLIMIT_ERROR: return fail(t, "needs more than 256 MiB to decode (the limit)");
    case LZMA_OPTIONS_ERROR: return fail(t, "unsupported xz options");
    default: return fail(t, "xz decoder error");
    }
  }
  io[2] = (uint32_t)t->ended;
  return 0;
}

/* gzip: inflate member after member; at a member's end, input left over starts the next one
 * (after a reset), so `cat a.gz b.gz` reads as zcat reads it. Trailing bytes that are not a
 * gzip member are an error naming the member they follow. */
static int32_t gz_run(tz *t, const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                      uint32_t *io) {
  z_stream *z = &t->gz;
  z->next_in = (Bytef *)in;
  z->avail_in = in_len;
  z->next_out = out;
  z->avail_out = out_cap;
  /* With no input left, a member still under way may hold output: drain it too. */
  while (z->avail_out > 0 && (z->avail_in > 0 || !t->gz_between)) {
    if (t->gz_between) {
      if (inflateReset(z) != Z_OK) return fail(t, "gzip decoder error");
      t->gz_between = 0;
      t->ended = 0;
    }
    int r = inflate(z, Z_NO_FLUSH);
    if (r == Z_STREAM_END) {
      t->gz_members++;
      t->gz_between = 1;
      t->ended = 1;
      continue;
    }
    if (r == Z_BUF_ERROR) break; /* no progress possible now */
    if (r == Z_MEM_ERROR) return -ENOMEM;
    if (r != Z_OK) {
      char what[120];
      if (t->gz_members > 0 && z->total_out == 0) {
        snprintf(what, sizeof what, "bytes after gzip member %d are not a gzip member (%s)",
                 t->gz_members, z->msg ? z->msg : "bad header");
      } else {
        snprintf(what, sizeof what, "corrupt gzip data in member %d (%s)", t->gz_members + 1,
                 z->msg ? z->msg : "inflate error");
      }
      return fail(t, what);
    }
  }
  io[0] = in_len - (uint32_t)z->avail_in;
  io[1] = out_cap - (uint32_t)z->avail_out;
  io[2] = (uint32_t)t->ended;
  return 0;
}

int32_t tz_step(int32_t h, const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                uint32_t *io) {
  tz *t = get(h);
  if (!t) return -EBADF;
  io[0] = io[1] = io[2] = 0;
  if (t->kind == TZ_XZ) return xz_run(t, in, in_len, out, out_cap, io, LZMA_RUN);
  if (t->kind == TZ_GZIP) return gz_run(t, in, in_len, out, out_cap, io);
  ZSTD_inBuffer ib = {in, in_len, 0};
  ZSTD_outBuffer ob = {out, out_cap, 0};
  size_t r = ZSTD_decompressStream(t->zs, &ob, &ib);
  if (ZSTD_isError(r)) return fail(t, ZSTD_getErrorName(r));
  /* r == 0: a frame is complete and flushed; more input may start another frame. */
  if (ib.pos > 0 || ob.pos > 0) t->ended = r == 0;
  io[0] = (uint32_t)ib.pos;
  io[1] = (uint32_t)ob.pos;
  io[2] = (uint32_t)t->ended;
  return 0;
}

int32_t tz_finish(int32_t h, uint8_t *out, uint32_t out_cap, uint32_t *io) {
  tz *t = get(h);
  if (!t) return -EBADF;
  io[0] = io[1] = io[2] = 0;
  if (t->kind == TZ_XZ) return xz_run(t, NULL, 0, out, out_cap, io, LZMA_FINISH);
  if (t->kind == TZ_GZIP) return gz_run(t, NULL, 0, out, out_cap, io);
  return tz_step(h, NULL, 0, out, out_cap, io);
}

const char *tz_error(int32_t h) {
  tz *t = get(h);
  return t ? t->err : "bad handle";
}

int32_t tz_close(int32_t h) {
  pthread_mutex_lock(&lock);
  tz *t = (h >= 0 && h < TZ_MAX_HANDLES) ? handles[h] : NULL;
  if (t) handles[h] = NULL;
  pthread_mutex_unlock(&lock);
  if (!t) return -EBADF;
  if (t->zs) ZSTD_freeDStream(t->zs);
  if (t->kind == TZ_XZ) lzma_end(&t->xs);
  if (t->kind == TZ_GZIP) inflateEnd(&t->gz);
  free(t);
  return 0;
}
