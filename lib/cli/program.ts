import {
  Command,
  CommanderError,
  type CommandUnknownOpts,
  InvalidArgumentError,
  Option,
} from "@commander-js/extra-typings";
import { describeError, EXIT } from "./errors.ts";
import { removeUnfinishedOutputs } from "./stream_io.ts";

/**
 * Creates a tool's top-level command with hvkit's conventions: one-line errors prefixed with
 * the tool's name, exit code 2 for usage errors, `--version`, and help that ends in examples.
 *
 * @example
 * ```ts
 * import { makeTool, runTool } from "./program.ts";
 * const program = makeTool("daio", "direct io_uring I/O engine", ["daio doctor"]);
 * await runTool(program, ["doctor"]);
 * ```
 */
export function makeTool(name: string, description: string, examples: string[]) {
  const program = new Command(name).description(description).version("0.1.0");
  program.showHelpAfterError(false);
  addExamples(program, examples);
  return program;
}

/** Adds an "Examples:" block to a command's help. */
export function addExamples(cmd: CommandUnknownOpts, examples: string[]): void {
  if (examples.length === 0) return;
  cmd.addHelpText("after", "\nExamples:\n" + examples.map((e) => `  $ ${e}`).join("\n"));
}

/** The options every subcommand that records or prints results takes. */
export function withCommonOptions<
  A extends unknown[],
  O extends Record<string, unknown>,
  G extends Record<string, unknown>,
>(cmd: Command<A, O, G>) {
  return cmd
    .option("--db <file>", "results store (default: $HVKIT_DB or ./results.duckdb)")
    .option("--no-db", "do not record this run in the results store")
    .addOption(
      new Option("--output <format>", "output format").choices(["text", "json"] as const).default(
        "text" as const,
      ),
    )
    .option("-q, --quiet", "no progress or summary on stderr", false);
}

function configure(cmd: CommandUnknownOpts, tool: string): void {
  cmd.exitOverride();
  cmd.configureOutput({
    outputError: (str, write) => write(`${tool}: ${str.replace(/^error: /, "").trimEnd()}\n`),
  });
  for (const sub of cmd.commands) configure(sub, tool);
}

/**
 * Parses the arguments and runs the tool; never returns a stack trace for a user mistake.
 * Exits the process with 0, 1 (failure), 2 (usage) or 130 (interrupted).
 */
export async function runTool(cmd: CommandUnknownOpts, argv = Deno.args): Promise<never> {
  configure(cmd, cmd.name());
  try {
    await cmd.parseAsync(argv, { from: "user" });
    Deno.exit(EXIT.ok);
  } catch (e) {
    removeUnfinishedOutputs();
    if (e instanceof InvalidArgumentError) {
      // Thrown by a parse helper inside an action (commander turns the ones from its own
      // option parsing into a CommanderError it has already printed): not printed yet.
      console.error(`${cmd.name()}: ${e.message.split("\n")[0]}`);
      Deno.exit(EXIT.usage);
    }
    if (e instanceof CommanderError) {
      // help and version end with code 0; commander already printed the message.
      Deno.exit(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
    }
    const { line, code } = describeError(cmd.name(), e);
    console.error(line);
    Deno.exit(code);
  }
}
