import { z } from 'zod';
import { NATS_SUBJECT_PREFIX } from '../events/nats-event-bus.js';
import { durationToMs } from '../resources/meta.js';

/**
 * Flags are declared once as a zod object whose keys are camelCase (`apiPort`); on the command line they
 * are `--api-port 5681` or `--api-port=5681`, and in the environment `MESHFED_API_PORT`. The command
 * line wins over the environment. Descriptions come from `.describe()` and feed `--help`.
 */
export type FlagSchema = z.ZodObject<Record<string, z.ZodType>>;

export class FlagError extends Error {
  override name = 'FlagError';
}

export const kebab = (camel: string) => camel.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (camel: string) => `MESHFED_${camel.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

function isBoolean(schema: z.ZodType): boolean {
  let s: z.ZodType = schema;
  // Unwrap default/optional wrappers to find the base type.
  for (let i = 0; i < 5; i++) {
    const def = (s as { def?: { type?: string; innerType?: z.ZodType } }).def;
    if (def?.type === 'boolean') return true;
    if (def?.innerType) s = def.innerType;
    else break;
  }
  return false;
}

export function parseFlags<S extends FlagSchema>(
  schema: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): z.infer<S> {
  const shape = schema.shape;
  const byFlag = new Map(Object.keys(shape).map((k) => [kebab(k), k]));
  const raw: Record<string, unknown> = {};
  const source: Record<string, string> = {};

  for (const key of Object.keys(shape)) {
    const v = env[envName(key)];
    if (v !== undefined && v !== '') {
      raw[key] = isBoolean(shape[key]!) ? parseBool(v, envName(key)) : v;
      source[key] = envName(key);
    }
  }

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new FlagError(`unexpected argument "${arg}"; flags look like --api-port 5681`);
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const key = byFlag.get(flag);
    if (!key) throw new FlagError(`unknown flag --${flag}; run with --help to list the flags`);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (isBoolean(shape[key]!)) {
      raw[key] = value === undefined ? true : parseBool(value, `--${flag}`);
    } else {
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new FlagError(`--${flag} needs a value`);
      }
      raw[key] = value;
    }
    source[key] = `--${flag}`;
  }

  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const where = source[key] ?? (key ? `--${kebab(key)}` : 'flags');
    const given = key in raw ? ` "${String(raw[key])}"` : '';
    throw new FlagError(`invalid ${where}${given}: ${issue.message}`);
  }
  return parsed.data;
}

function parseBool(v: string, where: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new FlagError(`invalid ${where} "${v}": must be true or false`);
}

export function flagsHelp(program: string, summary: string, schema: FlagSchema): string {
  const lines = [`Usage: ${program} [flags]`, '', summary, '', 'Flags (each also an environment variable):'];
  for (const [key, s] of Object.entries(schema.shape)) {
    const flag = `--${kebab(key)}`;
    const desc = s.description ?? '';
    lines.push(`  ${flag.padEnd(28)} ${desc}`);
    lines.push(`  ${''.padEnd(28)} env ${envName(key)}`);
  }
  return lines.join('\n');
}

/** Field builders shared by both daemons' flag schemas. */
export const flag = {
  port: (def: number, description: string) =>
    z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(0, 'must be a port in 0-65535').max(65535, 'must be a port in 0-65535').default(def).describe(description),
  store: () => z.enum(['memory', 'postgres'], { error: 'must be memory or postgres' }).default('memory').describe('where resources are kept: memory or postgres'),
  postgresUrl: () =>
    z
      .string()
      .refine((u) => /^postgres(ql)?:\/\//.test(u), 'must be a postgres:// URL')
      .optional()
      .describe('postgres://user@host:5432/db, required with --store postgres'),
  logLevel: () => z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], { error: 'must be one of trace, debug, info, warn, error, fatal' }).default('info').describe('log level'),
  address: (description: string) => z.string().min(1).default('0.0.0.0').describe(description),
  natsUrl: (replicas: string) =>
    z.string().refine((u) => /^nats:\/\//.test(u), 'must be a nats:// URL').optional().describe(`nats://host:4222, events between ${replicas}`),
  natsSubjectPrefix: () =>
    z.string().regex(NATS_SUBJECT_PREFIX, 'must be dot-separated tokens of letters, digits, _ and -').default('meshfed').describe('NATS subject prefix; replicas of one control plane share it'),
  /** A duration flag (`30s`, `500ms`, `1m`), given to the program in milliseconds. */
  duration: (def: string, description: string) =>
    z.string().regex(/^(\d+(\.\d+)?(ms|s|m|h))+$/, 'must be a duration such as 500ms, 10s, 1m').default(def).transform(durationToMs).pipe(z.number().positive('must be longer than 0')).describe(`${description} (default ${def})`),
  bytes: (def: number, description: string) =>
    z.coerce.number({ error: 'must be a number of bytes' }).int('must be a whole number of bytes').min(16 * 1024, 'must be at least 16384 bytes').max(256 * 1024 * 1024, 'must be at most 268435456 bytes (256 MiB)').default(def).describe(`${description} (default ${def})`),
};

/** `--store postgres` needs a URL; said as a flag error so the daemon stops with one line. */
export function requirePostgresUrl(flags: { store: string; postgresUrl?: string | undefined }): void {
  if (flags.store === 'postgres' && !flags.postgresUrl) throw new FlagError('--postgres-url (or MESHFED_POSTGRES_URL) is required with --store postgres');
}
