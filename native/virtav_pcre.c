/* virtav: PCRE subsignatures of `.ldb` logical signatures through libpcre2 (Debian
 * libpcre2-dev), counted as clamscan 1.4.6's cli_pcre_scanbuf counts them in the window its
 * offset gives (the caller passes that window as buf/len, as clamscan passes buffer + adjbuffer
 * and adjlength, so `^` and lookbehinds see nothing before it): the pattern compiled with the
 * subsignature's flags (i s m x A E U), matched unanchored unless A or VP_ANCHOR (clamscan's
 * match-time anchoring at an offset without a shift or `r`); without `g` the first match counts,
 * with `g` the search goes on from each match's end while it lies inside the window. A match
 * starting after `maxstart` (an `n,m` offset without `e`) stops the search uncounted, as
 * clamscan's "outside of maxshift" does. clamscan's match limits (CLI_DEFAULT_PCRE_MATCH_LIMIT,
 * _RECMATCH_LIMIT) apply; an empty match at the place the last one ended stops the search
 * (clamscan would search there again until its time limit). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "virtav.h"
#include <errno.h>
#include <pcre2.h>

#define PCRE_MATCH_LIMIT 100000
#define PCRE_DEPTH_LIMIT 2000

enum { VP_I = 1, VP_S = 2, VP_M = 4, VP_X = 8, VP_A = 16, VP_E = 32, VP_U = 64, VP_G = 128, VP_ANCHOR = 256 };

int64_t vav_pcre_count(const uint8_t *pat, uint64_t pat_len, uint32_t flags, const uint8_t *buf, uint64_t len,
                       uint64_t maxstart, uint64_t *first) {
  uint32_t opts = 0;
  if (flags & VP_I) opts |= PCRE2_CASELESS;
  if (flags & VP_S) opts |= PCRE2_DOTALL;
  if (flags & VP_M) opts |= PCRE2_MULTILINE;
  if (flags & VP_X) opts |= PCRE2_EXTENDED;
  if (flags & VP_A) opts |= PCRE2_ANCHORED;
  if (flags & VP_E) opts |= PCRE2_DOLLAR_ENDONLY;
  if (flags & VP_U) opts |= PCRE2_UNGREEDY;
  int err;
  PCRE2_SIZE eoff;
  pcre2_code *re = pcre2_compile(pat, pat_len, opts, &err, &eoff, NULL);
  if (!re) return -EINVAL;
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  pcre2_match_context *mc = pcre2_match_context_create(NULL);
  if (!md || !mc) {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_code_free(re);
    return -ENOMEM;
  }
  pcre2_set_match_limit(mc, PCRE_MATCH_LIMIT);
  pcre2_set_depth_limit(mc, PCRE_DEPTH_LIMIT);
  static const uint8_t empty[1];
  const uint8_t *subject = buf ? buf : empty;
  int64_t n = 0;
  PCRE2_SIZE off = 0;
  uint32_t mopts = (flags & VP_ANCHOR) ? PCRE2_ANCHORED : 0;
  for (;;) {
    int rc = pcre2_match(re, subject, len, off, mopts, md, mc);
    if (rc <= 0) break;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    if (ov[0] > maxstart) break;
    if (n == 0 && first) *first = ov[0];
    n++;
    if (!(flags & VP_G) || ov[1] >= len) break;
    if (ov[1] <= off && ov[0] == ov[1]) break; /* no progress */
    off = ov[1];
  }
  pcre2_match_context_free(mc);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return n;
}
