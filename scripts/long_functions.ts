/**
 * Lists the functions longer than a limit (80 lines by default) in the given files and folders:
 * declarations, methods, constructors, accessors, function expressions and arrow functions,
 * whether named by a declaration (`const f = () => …`, `{ f: () => … }`) or passed as a callback
 * (`.action(async () => …)`). Reads the source with the TypeScript compiler's parser, so a string
 * or comment that looks like code does not count. Test files (`*_test.ts`) are left out unless
 * `--tests` is given. Prints `path:line name N lines`, longest first; exits 0 (1 with `--fail`
 * when anything is listed), 2 on bad arguments.
 *
 *     deno run -R -E scripts/long_functions.ts [--max 80] [--tests] [--fail] [PATH...]
 *
 * @module
 */
import ts from "typescript";

/** One function over the limit. */
export interface LongFunction {
  /** The path it was read from, as given. */
  file: string;
  /** 1-based line of its first line. */
  line: number;
  /** Its name, qualified by what encloses it (`addScanCommand > action callback`). */
  name: string;
  /** Lines from its first to its last, both counted. */
  lines: number;
}

/** The name a function node goes by: its own, the binding it is assigned to, or the call it is passed to. */
function nameOf(node: ts.SignatureDeclaration, sf: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const own = (node as { name?: ts.Node }).name;
  if (own && (ts.isIdentifier(own) || ts.isPrivateIdentifier(own) || ts.isStringLiteral(own))) {
    return ts.isGetAccessor(node)
      ? `get ${own.text}`
      : ts.isSetAccessor(node)
      ? `set ${own.text}`
      : own.text;
  }
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText(sf);
  }
  if (ts.isBinaryExpression(parent) && parent.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
    return parent.left.getText(sf);
  }
  if (ts.isCallExpression(parent) || ts.isNewExpression(parent)) {
    const callee = parent.expression;
    const called = ts.isPropertyAccessExpression(callee) ? callee.name.text : callee.getText(sf);
    return `${called} callback`;
  }
  return "(anonymous)";
}

function isFunctionNode(node: ts.Node): node is ts.SignatureDeclaration {
  return ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node) ||
    ts.isFunctionExpression(node) || ts.isArrowFunction(node);
}

/** The functions of one source text longer than `max` lines, in source order. */
export function longFunctions(file: string, text: string, max: number): LongFunction[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node, outer: string[]) => {
    let names = outer;
    if (isFunctionNode(node) && (node as { body?: ts.Node }).body) {
      const name = nameOf(node, sf);
      names = [...outer, name];
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > max) found.push({ file, line: first + 1, name: names.join(" > "), lines });
    }
    ts.forEachChild(node, (child) => visit(child, names));
  };
  visit(sf, []);
  return found;
}

async function* sourceFiles(path: string, tests: boolean): AsyncGenerator<string> {
  const info = await Deno.stat(path);
  if (info.isFile) {
    yield path;
    return;
  }
  const entries = [];
  for await (const e of Deno.readDir(path)) entries.push(e);
  entries.sort((a, b) => a.name < b.name ? -1 : 1);
  for (const e of entries) {
    const full = `${path.replace(/\/$/, "")}/${e.name}`;
    if (e.isDirectory && e.name !== "node_modules" && !e.name.startsWith(".")) {
      yield* sourceFiles(full, tests);
    } else if (e.isFile && /\.(ts|tsx|mts)$/.test(e.name) && !e.name.endsWith(".d.ts")) {
      if (tests || !/_test\.tsx?$/.test(e.name)) yield full;
    }
  }
}

interface Args {
  max: number;
  tests: boolean;
  fail: boolean;
  paths: string[];
}

function parseArgs(argv: string[]): Args | string {
  const args: Args = { max: 80, tests: false, fail: false, paths: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--tests") args.tests = true;
    else if (a === "--fail") args.fail = true;
    else if (a === "--max") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) return `--max takes a whole number >= 1, not '${argv[i]}'`;
      args.max = n;
    } else if (a.startsWith("-")) return `unknown option '${a}'`;
    else args.paths.push(a);
  }
  if (args.paths.length === 0) args.paths = ["lib", "tools", "bench"];
  return args;
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === "string") {
    console.error(`long_functions: ${args}`);
    console.error("usage: long_functions.ts [--max N] [--tests] [--fail] [PATH...]");
    return 2;
  }
  const all: LongFunction[] = [];
  for (const path of args.paths) {
    for await (const file of sourceFiles(path, args.tests)) {
      all.push(...longFunctions(file, await Deno.readTextFile(file), args.max));
    }
  }
  all.sort((a, b) =>
    b.lines - a.lines || (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line)
  );
  for (const f of all) console.log(`${f.file}:${f.line} ${f.name} ${f.lines} lines`);
  console.log(`${all.length} functions over ${args.max} lines`);
  return args.fail && all.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
