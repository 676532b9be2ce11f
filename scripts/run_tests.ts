/**
 * The test command behind `./dev test`: `deno fmt --check`, `deno lint`, `deno check`, then
 * every test (`deno test -A`; unit tests beside the code, end-to-end tests in tests/e2e/).
 * The sanitizer run is separate: `./dev test-asan` (scripts/test_asan.sh), its own CI job.
 * Ends with one line `N passed, N failed, N skipped` counting the tests and the three static
 * checks. Arguments narrow the test run to those paths (static checks still run).
 *
 * @module
 */
const root = new URL("../", import.meta.url).pathname;
const deno = Deno.execPath();
const exists = (d: string) => {
  try {
    Deno.statSync(root + d);
    return true;
  } catch {
    return false;
  }
};
const CHECK_DIRS = ["lib", "tools", "bench", "tests", "scripts"].filter(exists);

// A hung test must not eat CI's 90 minutes: the test step is killed after this many seconds.
const TIMEOUT_S = Number(Deno.env.get("HVKIT_TEST_TIMEOUT") ?? "1500");

async function step(name: string, args: string[]): Promise<boolean> {
  console.log(`== ${name}: deno ${args.join(" ")}`);
  const child = new Deno.Command(deno, { args, cwd: root, stdout: "inherit", stderr: "inherit" })
    .spawn();
  const timer = setTimeout(() => {
    console.log(`== ${name}: still running after ${TIMEOUT_S}s; killing it`);
    child.kill("SIGKILL");
  }, TIMEOUT_S * 1000);
  const { code } = await child.status;
  clearTimeout(timer);
  console.log(`== ${name}: ${code === 0 ? "ok" : "FAILED"}`);
  return code === 0;
}

function junitCounts(xml: string): { tests: number; failures: number; skipped: number } {
  const attr = (name: string) => {
    const m = new RegExp(`<testsuites[^>]*\\s${name}="(\\d+)"`).exec(xml);
    return m ? Number(m[1]) : 0;
  };
  return {
    tests: attr("tests"),
    failures: attr("failures") + attr("errors"),
    // Deno marks ignored tests with <skipped/> elements, not a summary attribute.
    skipped: (xml.match(/<skipped\b/g) ?? []).length,
  };
}

let passed = 0;
let failed = 0;
for (
  const [name, args] of [
    ["fmt", ["fmt", "--check"]],
    ["lint", ["lint"]],
    ["check", ["check", ...CHECK_DIRS]],
  ] as const
) {
  if (await step(name, [...args])) passed++;
  else failed++;
}

Deno.mkdirSync(root + "out", { recursive: true });
const junit = root + "out/junit.xml";
try {
  Deno.removeSync(junit);
} catch { /* none yet */ }
const targets = Deno.args.length > 0 ? Deno.args : CHECK_DIRS;
await step("test", ["test", "-A", "--no-check", `--junit-path=${junit}`, ...targets]);
let skipped = 0;
try {
  const c = junitCounts(Deno.readTextFileSync(junit));
  passed += c.tests - c.failures - c.skipped;
  failed += c.failures;
  skipped = c.skipped;
} catch {
  console.log("== test: no JUnit report was written (the test run itself failed)");
  failed++;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
Deno.exit(failed === 0 ? 0 : 1);
