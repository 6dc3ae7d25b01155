import { isIP } from 'node:net';
import { status } from '@grpc/grpc-js';
import { z } from 'zod';
import { MAX_DELAY_MS } from './echo.js';

/**
 * The demo app's flags, one zod object per command. Parsed here rather than with @meshfed/shared's
 * parseFlags: that one takes no repeated flag (`--header` is), reads MESHFED_* variables the lab sets for
 * its daemons, and importing @meshfed/shared costs every demo process ~30 MB the benchmark would count.
 */
export class FlagError extends Error {
  override name = 'FlagError';
}

const name = (what: string) => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/, `must be a ${what} of letters, digits, ".", "_" and "-"`);

const DURATION = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const duration = () =>
  z
    .string()
    .regex(DURATION, 'must be a duration such as 500ms, 10s, 1m')
    .transform((d) => [...d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)].reduce((ms, m) => ms + Number(m[1]) * UNIT_MS[m[2]!]!, 0))
    .pipe(z.number().positive('must be longer than 0'));

const int = (min: number, max: number) =>
  z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(min, `must be in ${min}-${max}`).max(max, `must be in ${min}-${max}`);

export const ServeFlags = z
  .object({
    host: z.string().refine((h) => isIP(h) !== 0, 'must be an IP address such as 127.0.0.1').default('127.0.0.1'),
    port: int(0, 65535),
    instance: name('name'),
    service: name('name').default('backend'),
    version: name('version').default('v1'),
    zone: name('zone name').default('zone-1'),
    failAll: z.boolean().default(false),
    noXds: z.boolean().default(false),
  })
  .strict()
  .refine((f) => f.noXds || f.port !== 0, { path: ['port'], message: 'must be non-zero with xDS: the Listener resource is named by host:port' });
export type ServeFlags = z.infer<typeof ServeFlags>;

/** Metadata keys grpc-js sends as given; `-bin` keys need bytes and `grpc-` ones are reserved. */
const HEADER = /^([0-9a-z_.-]+)=([\x20-\x7e]*)$/;

export const LoadFlags = z
  .object({
    target: z.string().min(1, 'must not be empty'),
    rate: z.coerce.number({ error: 'must be a number' }).positive('must be more than 0').max(10_000, 'must be at most 10000 calls a second'),
    duration: duration().optional(),
    header: z
      .array(
        z
          .string()
          .regex(HEADER, 'must be key=value with a lower-case key of letters, digits, "_", "." and "-" and a printable ASCII value')
          .refine((h) => !h.startsWith('grpc-') && !h.split('=')[0]!.endsWith('-bin'), 'must not be a grpc- or -bin header'),
      )
      .default([]),
    deadline: duration().default(1_000),
    concurrency: int(1, 1000).default(100),
    /** Request knobs, so the lab can show retries and timeouts at work. */
    failTimes: int(0, 1000).optional(),
    failCode: z
      .string()
      .transform((c) => (/^\d+$/.test(c) ? Number(c) : (status as unknown as Record<string, number | undefined>)[c.toUpperCase()]))
      .pipe(z.number({ error: 'must be a gRPC status name or number' }).int().min(1, 'must not be OK').max(16, 'must be a gRPC status in 1-16'))
      .optional(),
    delay: duration().pipe(z.number().max(MAX_DELAY_MS, `must be at most ${MAX_DELAY_MS / 1000}s`)).optional(),
    noXds: z.boolean().default(false),
  })
  .strict();
export type LoadFlags = z.infer<typeof LoadFlags>;

type Unwrappable = { def?: { type?: string; innerType?: z.ZodType; in?: z.ZodType } };

/** The type under default/optional/pipe wrappers: says whether a flag takes no value or repeats. */
function baseType(schema: z.ZodType): string | undefined {
  let s: z.ZodType | undefined = schema;
  for (let i = 0; i < 10 && s; i++) {
    const def: Unwrappable['def'] = (s as Unwrappable).def;
    if (def?.innerType) s = def.innerType;
    else if (def?.type === 'pipe') s = def.in;
    else return def?.type;
  }
  return undefined;
}

const kebab = (camel: string) => camel.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `--flag value` or `--flag=value`; boolean flags take no value; array flags may repeat. */
export function parseFlags<S extends z.ZodType>(schema: S & { shape: Record<string, z.ZodType> }, argv: readonly string[]): z.infer<S> {
  const byFlag = new Map(Object.keys(schema.shape).map((k) => [kebab(k), k]));
  const raw: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new FlagError(`unexpected argument "${arg}"; flags look like --port 8080`);
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const key = byFlag.get(flag);
    if (!key) throw new FlagError(`unknown flag --${flag}; run with --help to list the flags`);
    const type = baseType(schema.shape[key]!);
    if (type === 'boolean') {
      if (eq !== -1) throw new FlagError(`--${flag} takes no value`);
      raw[key] = true;
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new FlagError(`--${flag} needs a value`);
    if (type === 'array') raw[key] = [...((raw[key] as string[] | undefined) ?? []), value];
    else raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = String(issue.path[0] ?? '');
  if (!(key in raw) && key in schema.shape) throw new FlagError(`--${kebab(key)} is required`);
  const given = key in raw ? ` "${Array.isArray(raw[key]) ? (raw[key] as string[])[Number(issue.path[1] ?? 0)] : String(raw[key])}"` : '';
  throw new FlagError(`invalid --${kebab(key)}${given}: ${issue.message}`);
}

/** `k=v` strings as a metadata record. */
export const headerRecord = (headers: readonly string[]): Record<string, string> =>
  Object.fromEntries(headers.map((h) => [h.slice(0, h.indexOf('=')), h.slice(h.indexOf('=') + 1)]));
