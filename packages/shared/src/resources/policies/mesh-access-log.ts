import { z } from 'zod';
import { isIpOrHostname } from '../meta.js';
import { oneOf } from './fields.js';
import { definePolicy, peerEntries, policySpec, topTargetRef } from './target-ref.js';

/**
 * Kuma's own placeholders, which its control plane replaces before Envoy sees the format (Kuma's
 * listeners_v3 InterpolateKumaValues); Envoy knows none of them and would reject the listener.
 */
export const KUMA_PLACEHOLDERS = [
  'KUMA_MESH', 'KUMA_SOURCE_SERVICE', 'KUMA_DESTINATION_SERVICE', 'KUMA_SOURCE_ADDRESS', 'KUMA_SOURCE_ADDRESS_WITHOUT_PORT',
  'KUMA_TRAFFIC_DIRECTION', 'KUMA_ZONE', 'KUMA_WORKLOAD',
] as const;
export type KumaPlaceholder = (typeof KUMA_PLACEHOLDERS)[number];

/** A format string cut the way Envoy reads it: literal text (unescaped) and `%COMMAND(ARG):LEN%` commands. */
export type AccessLogFormatPart = { readonly literal: string } | { readonly command: string; readonly text: string };

// Envoy's SubstitutionFormatParser: `%%` is a literal percent sign; any other `%` must start a command
// `%COMMAND(ARG):LENGTH%` (COMMAND of A-Z, 0-9 and _, ARG without ')'), or Envoy rejects the config.
const COMMAND = /%([A-Z0-9_]+)(?:\([^)]*\))?(?::[0-9]+)?%/y;

/** Envoy's reading of a format string, or where it stops (Envoy would NACK the listener carrying it). */
export function parseAccessLogFormat(format: string): { parts: AccessLogFormatPart[] } | { error: string } {
  const parts: AccessLogFormatPart[] = [];
  let literal = '';
  for (let pos = 0; pos < format.length; ) {
    if (format[pos] !== '%') {
      literal += format[pos++];
      continue;
    }
    if (format[pos + 1] === '%') {
      literal += '%';
      pos += 2;
      continue;
    }
    COMMAND.lastIndex = pos;
    const m = COMMAND.exec(format);
    if (!m) return { error: `is not a valid Envoy format: no command such as %START_TIME% at position ${pos} (write %% for a literal %)` };
    const command = m[1]!;
    if (command.startsWith('KUMA_') && !(KUMA_PLACEHOLDERS as readonly string[]).includes(m[0].slice(1, -1))) {
      return { error: `unknown placeholder ${m[0]}: Kuma's are ${KUMA_PLACEHOLDERS.map((p) => `%${p}%`).join(', ')}` };
    }
    if (literal !== '') parts.push({ literal });
    literal = '';
    parts.push({ command, text: m[0] });
    pos += m[0].length;
  }
  if (literal !== '') parts.push({ literal });
  return { parts };
}

function checkFormatString(value: string, path: (string | number)[], ctx: z.RefinementCtx): void {
  const parsed = parseAccessLogFormat(value);
  if ('error' in parsed) ctx.addIssue({ code: 'custom', path, message: parsed.error });
}

/**
 * `type` names the section that must be set (Kuma 2.x); documents written before Kuma had the field
 * set the section alone, so without `type` exactly one section must be set.
 */
function oneSection<T extends string>(o: Record<string, unknown>, type: T | undefined, sections: Readonly<Record<T, string>>, ctx: z.RefinementCtx): void {
  const names = Object.values(sections) as string[];
  const set = names.filter((s) => o[s] !== undefined);
  if (type === undefined) {
    if (set.length !== 1) ctx.addIssue({ code: 'custom', path: [], message: `exactly one of ${names.join(', ')} must be defined` });
    return;
  }
  const wanted = sections[type];
  if (o[wanted] === undefined) ctx.addIssue({ code: 'custom', path: [wanted], message: `is required for type ${type}` });
  for (const s of set) if (s !== wanted) ctx.addIssue({ code: 'custom', path: [s], message: `must not be defined for type ${type}` });
}

// Kuma's validateFormat: each entry must make the JSON object `{"key": "value"}` as written, so a
// key or value with an unescaped quote is refused, and the values are Envoy format strings.
const Format = z
  .object({
    type: oneOf(['Plain', 'Json']).optional(),
    plain: z.string().optional(),
    json: z.array(z.object({ key: z.string(), value: z.string() }).strict()).optional(),
    omitEmptyValues: z.boolean().optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    oneSection(f, f.type, { Plain: 'plain', Json: 'json' }, ctx);
    if (f.plain !== undefined) {
      if (f.plain === '') ctx.addIssue({ code: 'custom', path: ['plain'], message: 'must not be empty' });
      else checkFormatString(f.plain, ['plain'], ctx);
    }
    if (f.json === undefined) return;
    if (f.json.length === 0) ctx.addIssue({ code: 'custom', path: ['json'], message: 'must not be empty' });
    f.json.forEach((kv, i) => {
      if (kv.key === '') ctx.addIssue({ code: 'custom', path: ['json', i, 'key'], message: 'key cannot be empty' });
      if (kv.value === '') ctx.addIssue({ code: 'custom', path: ['json', i, 'value'], message: 'value cannot be empty' });
      try {
        JSON.parse(`{"${kv.key}": "${kv.value}"}`);
      } catch {
        ctx.addIssue({ code: 'custom', path: ['json', i], message: 'is not a valid JSON object' });
        return;
      }
      if (kv.value !== '') checkFormatString(kv.value, ['json', i, 'value'], ctx);
    });
  });

// Envoy opens the path itself: a relative one would depend on its working directory, a directory
// cannot be opened at all.
const FileBackend = z
  .object({
    path: z.string().refine((p) => /^\/[^\0]*$/.test(p) && !p.endsWith('/'), 'file backend requires a valid path: an absolute path to a file, such as /dev/stdout'),
    format: Format.optional(),
  })
  .strict();

function isHostPort(v: string): boolean {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  if (!m) return false;
  const port = Number(m[3]);
  return port >= 1 && port <= 65535 && isIpOrHostname(m[1] ?? m[2]!);
}

const TcpBackend = z
  .object({
    address: z.string().refine(isHostPort, 'tcp backend requires valid address: host:port, such as 127.0.0.1:5000'),
    format: Format.optional(),
  })
  .strict();

// As Kuma 2.x's schema has it: the collector's endpoint, the log record's attributes and its body
// (an OTLP AnyValue, or a plain string).
const OtelBackend = z
  .object({
    endpoint: z.string().min(1, 'must not be empty'),
    attributes: z.array(z.object({ key: z.string().min(1, 'key cannot be empty'), value: z.string() }).strict()).optional(),
    body: z.unknown().optional(),
  })
  .strict();

const Backend = z
  .object({
    type: oneOf(['Tcp', 'File', 'OpenTelemetry']).optional(),
    tcp: TcpBackend.optional(),
    file: FileBackend.optional(),
    openTelemetry: OtelBackend.optional(),
  })
  .strict()
  .superRefine((b, ctx) => oneSection(b, b.type, { Tcp: 'tcp', File: 'file', OpenTelemetry: 'openTelemetry' }, ctx));

// An empty list is allowed: lists are replaced by the more specific policy, so `backends: []` turns
// logging off for a narrower target.
const Conf = z
  .object({ backends: z.array(Backend) })
  .strict();

export const MeshAccessLogSpec = policySpec({
  targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway']),
  from: peerEntries(['Mesh'], Conf).optional(),
  to: peerEntries(['Mesh', 'MeshService'], Conf).optional(),
});
export type MeshAccessLogSpec = z.infer<typeof MeshAccessLogSpec>;

export const MeshAccessLogDescriptor = definePolicy('MeshAccessLog', MeshAccessLogSpec);
