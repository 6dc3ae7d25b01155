import { DEFAULT_CP_URL, GLOBAL_OPTIONS } from './args.js';
import type { Command } from './command.js';
import { renderError, UsageError } from './errors.js';
import type { Io } from './io.js';
import { cliVersion } from './version.js';

export type CommandTable = Readonly<Record<string, Command>>;

export function usage(commands: CommandTable): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map((n) => n.length));
  return `meshfed: the command-line client of the meshfed control plane.

Usage:
  meshfed COMMAND [ARGS] [flags]

Commands:
${names.map((n) => `  ${n.padEnd(width)}   ${commands[n]!.summary}`).join('\n')}

Global flags:
      --cp URL            control plane API (default ${DEFAULT_CP_URL}, or env MESHFED_CP);
                          https://HOST:5682 for its HTTPS port
      --ca-file FILE      https: the PEM CA to verify the API with, from GET /api-ca.crt
                          (or env MESHFED_CA_FILE)
      --skip-verify       https: do not verify the API's certificate (encrypted, not authenticated)
      --token TOKEN       user token sent as "Authorization: Bearer" (or env MESHFED_TOKEN)
      --token-file FILE   file holding the user token
  -h, --help              show help
      --version           print the version

Run "meshfed COMMAND --help" for a command's arguments and flags.
`;
}

interface Split {
  readonly command?: string;
  /** Every argument but the command name: global flags before it are kept for the command. */
  readonly rest: readonly string[];
  readonly help: boolean;
  readonly version: boolean;
}

/** Finds the command name among the leading global flags (`meshfed --cp URL get dp`). */
export function splitCommand(argv: readonly string[]): Split {
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2).split('=')[0]! : undefined;
    const global = name !== undefined && Object.hasOwn(GLOBAL_OPTIONS, name) && name !== 'help' ? GLOBAL_OPTIONS[name as keyof typeof GLOBAL_OPTIONS] : undefined;
    if (global?.type === 'string' && !a.includes('=')) {
      if (argv[i + 1] === undefined) throw new UsageError(`flag ${a} needs a value`);
      i++;
    }
    else if (global) continue;
    else if (a === '-h' || a === '--help') help = true;
    else if (a === '--version') version = true;
    else if (a === '--') return { rest: argv.slice(i + 1), help, version, ...(argv[i + 1] !== undefined ? { command: argv[i + 1] } : {}) };
    else if (a.startsWith('-')) throw new UsageError(`unknown flag "${a}" before the command`);
    else return { command: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)], help, version };
  }
  return { rest: [...argv], help, version };
}

function printError(io: Io, err: unknown, commands: CommandTable, name?: string): number {
  const rendered = renderError(err);
  const lines = [...rendered.lines];
  if (err instanceof UsageError) {
    const cmd = name !== undefined ? commands[name] : undefined;
    if (cmd) lines.push(`Usage: ${cmd.synopsis}`, `Run "meshfed ${name} --help" for more.`);
    else lines.push(`Run "meshfed --help" for usage.`);
  }
  io.err(`${lines.join('\n')}\n`);
  return rendered.exitCode;
}

/** The whole CLI: dispatches to a command of the table and turns errors into messages and exit codes. */
export async function runCli(argv: readonly string[], commands: CommandTable, io: Io): Promise<number> {
  let split: Split;
  try {
    split = splitCommand(argv);
  } catch (err) {
    return printError(io, err, commands);
  }
  const { command: name } = split;
  if (name === undefined) {
    if (split.version) {
      io.out(`meshfed ${cliVersion()}\n`);
      return 0;
    }
    if (split.help) {
      io.out(usage(commands));
      return 0;
    }
    io.err(usage(commands));
    return 2;
  }
  if (name === 'help') {
    const topic = split.rest.find((a) => !a.startsWith('-'));
    const cmd = topic !== undefined ? commands[topic] : undefined;
    if (topic !== undefined && !cmd) return printError(io, new UsageError(`unknown command "${topic}"`), commands);
    io.out(cmd ? cmd.help : usage(commands));
    return 0;
  }
  const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!cmd) {
    return printError(io, new UsageError(`unknown command "${name}"; commands: ${Object.keys(commands).join(', ')}`), commands);
  }
  // Help is answered here for every command, so no command has to check for it.
  if (split.help || split.rest.some((a) => a === '-h' || a === '--help')) {
    io.out(cmd.help);
    return 0;
  }
  try {
    return await cmd.run(split.rest, io);
  } catch (err) {
    return printError(io, err, commands, name);
  }
}
