import { z } from 'zod';

/** Kuma's longest resource name, a DNS name's. */
export const MAX_NAME_LENGTH = 253;

/** Only the length rule, for paths that look a name up: a longer one cannot exist, so asking for it is a mistake. */
export const nameLengthSchema = z.string().max(MAX_NAME_LENGTH, `name must be at most ${MAX_NAME_LENGTH} characters`);

// Kuma's universal-mode character rules: lowercase letters, digits, '-', '_' and '.'.
// A name made only of dots would break REST paths, so one alphanumeric character is required.
const NAME_CHARS = /^[0-9a-z._-]+$/;
export const resourceNameSchema = nameLengthSchema
  .min(1, 'name must not be empty')
  .regex(NAME_CHARS, "invalid characters: use lowercase letters, digits, '-', '_' and '.'")
  .refine((n) => /[0-9a-z]/.test(n), 'name must contain a letter or a digit');

// Mesh names become DNS labels (`<service>.mesh`) and prefixes of proxy ids (`<mesh>.<name>`), so
// they are stricter: no dots, at most 63 characters.
export const meshNameSchema = z
  .string()
  .min(1, 'mesh name must not be empty')
  .max(63, 'mesh name must be at most 63 characters')
  .regex(/^[0-9a-z_-]+$/, "invalid characters: use lowercase letters, digits, '-' and '_'")
  .refine((n) => /[0-9a-z]/.test(n), 'mesh name must contain a letter or a digit');

const TAG_KEY = /^[a-zA-Z0-9._:/-]+$/;
const TAG_VALUE = /^[a-zA-Z0-9._:/*-]+$/;

export const tagKeySchema = z.string().regex(TAG_KEY, "tag keys use letters, digits and '.', '_', ':', '/', '-'");
export const tagValueSchema = z
  .string()
  .min(1, 'tag value must not be empty')
  .regex(TAG_VALUE, "tag values use letters, digits and '.', '_', ':', '/', '-', '*'");

/** Tags that select or describe a proxy (`kuma.io/service: backend`). */
export const tagsSchema = z.record(tagKeySchema, tagValueSchema);

/** The tag naming the service an inbound offers or an outbound calls. */
export const SERVICE_TAG = 'kuma.io/service';
/** The tag saying which protocol a service speaks (tcp when absent): http, http2, grpc or tcp. */
export const PROTOCOL_TAG = 'kuma.io/protocol';
/** The tag naming the zone an instance runs in (a tag on instances; LABEL_ZONE is the label on resources). */
export const ZONE_TAG = 'kuma.io/zone';

/** Tags that must name a service, as inbounds, outbounds and route destinations do. */
export const serviceTagsSchema = tagsSchema.refine((t) => typeof t[SERVICE_TAG] === 'string', {
  message: `tag "${SERVICE_TAG}" is required`,
});

export const labelsSchema = z.record(
  z.string().regex(/^([a-zA-Z0-9.-]+\/)?[a-zA-Z0-9._-]{1,63}$/, 'label keys are [prefix/]name with letters, digits, ".", "_", "-"'),
  z.string().max(253, 'label values are at most 253 characters'),
);

export const portSchema = z
  .number({ error: 'must be a port number' })
  .int('must be an integer')
  .min(1, 'must be a port in 1-65535')
  .max(65535, 'must be a port in 1-65535');

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function isIpOrHostname(v: string): boolean {
  return IPV4.test(v) || HOSTNAME.test(v) || isIpv6(v);
}

function isIpv6(v: string): boolean {
  return v.includes(':') && /^[0-9a-fA-F:.]+$/.test(v) && v.split('::').length <= 2;
}

export const addressSchema = z
  .string()
  .min(1, 'address must not be empty')
  .refine(isIpOrHostname, 'must be an IP address or a hostname');

/** Durations as Kuma writes them: `10s`, `1m30s`, `500ms`, `1h`, `2d`, `10y`. */
export const durationSchema = z
  .string()
  .regex(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|y))+$/, 'must be a duration such as 500ms, 10s, 5m, 1h');

const UNIT_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, y: 365 * 86400e3,
};

export function durationToMs(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|y)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
  }
  return total;
}
