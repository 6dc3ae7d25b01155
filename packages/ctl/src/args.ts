import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** A string flag that may be given more than once (`--scope zone --scope ingress`): its values in order. */
  readonly multiple?: boolean;
}
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'string' ? (S['multiple'] extends true ? string[] : string) : boolean;
export type OptionValues<O extends OptionSpecs> = { [K in keyof O]?: ValueOf<O[K]> };

/** Flags every command accepts, before or after the command name. */
export const GLOBAL_OPTIONS = {
  cp: { type: 'string' },
  'ca-file': { type: 'string' },
  'skip-verify': { type: 'boolean' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpecs;

/** How to reach the control plane beyond its URL: TLS trust and the bearer token, as given on the command line. */
export interface ConnectionFlags {
  readonly caFile?: string;
  readonly skipVerify: boolean;
  readonly token?: string;
  readonly tokenFile?: string;
}

export const DEFAULT_CP_URL = 'http://127.0.0.1:5681';

export interface ParsedArgs<O extends OptionSpecs> {
  readonly values: OptionValues<O>;
  readonly positionals: readonly string[];
  /** `--cp`, when given. */
  readonly cp: string | undefined;
  readonly connection: ConnectionFlags;
  readonly help: boolean;
}

function flagName(name: string, spec: OptionSpec): string {
  return spec.short ? `-${spec.short}/--${name}` : `--${name}`;
}

/**
 * Parses a command's arguments with node's parseArgs, plus the global flags. Mistakes become
 * UsageErrors worded for people (`unknown flag "--foo"`, `flag -o/--output needs a value`).
 */
export function parseCommandArgs<O extends OptionSpecs>(argv: readonly string[], options: O): ParsedArgs<O> {
  const specs: Record<string, OptionSpec> = { ...options, ...GLOBAL_OPTIONS };
  const { tokens } = parseArgs({ args: [...argv], options: specs, allowPositionals: true, strict: false, tokens: true });
  const values: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind === 'option-terminator') continue;
    const spec = specs[t.name];
    if (!spec) throw new UsageError(`unknown flag "${t.rawName}"`);
    if (spec.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`flag ${flagName(t.name, spec)} takes no value`);
      values[t.name] = true;
      continue;
    }
    if (t.value === undefined) throw new UsageError(`flag ${flagName(t.name, spec)} needs a value`);
    if (!t.inlineValue && t.value.startsWith('-') && t.value !== '-') {
      throw new UsageError(`flag ${flagName(t.name, spec)} needs a value (got the flag "${t.value}"; write --${t.name}=${t.value} if you mean it)`);
    }
    if (spec.multiple) {
      const seen = values[t.name];
      values[t.name] = [...(Array.isArray(seen) ? seen : []), t.value];
    } else values[t.name] = t.value;
  }
  const { cp, help, 'ca-file': caFile, 'skip-verify': skipVerify, token, 'token-file': tokenFile, ...rest } = values;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const connection: ConnectionFlags = {
    skipVerify: skipVerify === true,
    ...(text(caFile) !== undefined ? { caFile: text(caFile)! } : {}),
    ...(text(token) !== undefined ? { token: text(token)! } : {}),
    ...(text(tokenFile) !== undefined ? { tokenFile: text(tokenFile)! } : {}),
  };
  return {
    values: rest as OptionValues<O>,
    positionals,
    cp: typeof cp === 'string' ? cp : undefined,
    connection,
    help: help === true,
  };
}

/** Where the control plane is: `--cp`, else `MESHFED_CP`, else the local default. */
export function resolveCpUrl(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const fromEnv = env.MESHFED_CP !== undefined && env.MESHFED_CP !== '' ? env.MESHFED_CP : undefined;
  const raw = flag ?? fromEnv ?? DEFAULT_CP_URL;
  const origin = flag !== undefined ? '--cp' : fromEnv !== undefined ? 'MESHFED_CP' : 'the default';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${origin} must be an http:// or https:// URL such as ${DEFAULT_CP_URL}, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${origin} must be an http:// or https:// URL such as ${DEFAULT_CP_URL}, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

/** Exactly the positionals a command wants: `names` are required, `optional` may follow. */
export function expectPositionals(
  positionals: readonly string[],
  required: readonly string[],
  optional: readonly string[] = [],
): string[] {
  if (positionals.length < required.length) {
    throw new UsageError(`missing ${required.slice(positionals.length).join(' and ')}`);
  }
  const max = required.length + optional.length;
  if (positionals.length > max) {
    throw new UsageError(`too many arguments: unexpected ${positionals.slice(max).map((p) => `"${p}"`).join(' ')}`);
  }
  return [...positionals];
}
