/**
 * CPU time of the calling thread, for benchmarks that compare rates of CPU work: on a shared
 * machine wall time counts the time other processes held the core, CPU time does not.
 *
 * @module
 */

/**
 * Seconds of CPU the calling thread (the JavaScript main thread when called from Deno) has used:
 * the first field of /proc/thread-self/schedstat (ns), else utime + stime of
 * /proc/thread-self/stat (clock ticks, assumed 100 per second: 10 ms resolution). NaN when
 * neither can be read (not Linux).
 */
export function threadCpuSeconds(): number {
  try {
    const ns = Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);
    if (Number.isFinite(ns) && ns > 0) return ns / 1e9;
  } catch {
    // fall through to stat
  }
  try {
    const stat = Deno.readTextFileSync("/proc/thread-self/stat");
    // Fields after the command name "(...)": state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
