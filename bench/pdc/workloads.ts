/**
 * The guest workloads bench/pdc runs (fixtures/guest/workloads/*.sh), their parameters at
 * each size, and each one's working set: the bytes its operations touch on the disk, which the
 * host cache sizes are multiples of.
 *
 * @module
 */

/** One workload as the bench runs it. */
export interface GuestWorkload {
  /** The script's name in fixtures/guest/workloads. */
  name: string;
  /** Its parameters (`hvkit_args`). */
  args: Record<string, string | number>;
  /** Bytes its files occupy before the first operation (the hot set the cache is sized by). */
  workingSetBytes: number;
  /** What it stands for, one line. */
  about: string;
}

/** The four workloads at full size (the defaults of the scripts, more operations). */
export function guestWorkloads(): GuestWorkload[] {
  const varmail = { files: 64, size: 8192, ops: 80, drop: 4 };
  const fileserver = { files: 64, size: 16384, ops: 60, drop: 4 };
  const oltp = { blocks: 512, ops: 60, reads: 4, hot: 20 };
  const webserver = { files: 64, size: 16384, ops: 40, reads: 5, hot: 20, drop: 1 };
  return [
    {
      name: "varmail",
      args: varmail,
      workingSetBytes: varmail.files * varmail.size,
      about: "mail server: delete, create+fsync, append+fsync, read two (filebench varmail)",
    },
    {
      name: "fileserver",
      args: fileserver,
      workingSetBytes: fileserver.files * fileserver.size,
      about: "file server: create, append, read whole, delete, stat; no fsync",
    },
    {
      name: "oltp",
      args: oltp,
      workingSetBytes: oltp.blocks * 4096,
      about: "database: 4 O_DIRECT page reads, WAL append + fsync, page update + fsync",
    },
    {
      name: "webserver",
      args: webserver,
      workingSetBytes: webserver.files * webserver.size,
      about: "web server: 5 whole-file reads (80% from 20% of files), one log append",
    },
  ];
}

/** Renders `{a: 1, b: 2}` as `a=1,b=2` (for printing). */
export function argsText(args: Record<string, string | number>): string {
  return Object.entries(args).map(([k, v]) => `${k}=${v}`).join(",");
}
