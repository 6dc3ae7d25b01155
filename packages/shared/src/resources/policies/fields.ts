import { z } from 'zod';
import { durationSchema, durationToMs } from '../meta.js';

/** Enum with a message that lists the accepted values, so users need not look them up. */
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });

/** The largest value Envoy's counts, limits and weights hold (uint32). */
export const UINT32_MAX = 4_294_967_295;
export const positiveInt = z.number().int('must be an integer').min(1, 'must be greater than 0').max(UINT32_MAX, `must be at most ${UINT32_MAX}`);
export const nonNegativeInt = z.number().int('must be an integer').min(0, 'must not be negative').max(UINT32_MAX, `must be at most ${UINT32_MAX}`);

// Zero disables most Envoy timeouts, but for intervals and connect timeouts it is either rejected by
// Envoy or means a busy loop. The format check runs first, so an invalid string gets one message.
export const positiveDuration = durationSchema.refine((d) => !durationSchema.safeParse(d).success || durationToMs(d) > 0, 'must be greater than 0');

export const statusCode = z.number().int('must be an integer').min(100, 'must be an HTTP status code in 100-599').max(599, 'must be an HTTP status code in 100-599');

export const intPercent = z.number().int('must be an integer').min(0, 'must be a percentage between 0 and 100').max(100, 'must be a percentage between 0 and 100');

/**
 * Kuma's percentages are int-or-string: `50` or `"12.5"`, since Kubernetes CRDs avoid floats.
 * Plain numbers are accepted too because universal YAML has no such restriction.
 */
export const percentage = z.union([z.number(), z.string()], { error: 'must be a percentage: a number or a decimal string' }).superRefine((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\d+(\.\d+)?$/.test(v) ? Number(v) : Number.NaN;
  if (Number.isNaN(n)) ctx.addIssue({ code: 'custom', message: 'must be a number or a decimal string such as "12.5"' });
  else if (n < 0 || n > 100) ctx.addIssue({ code: 'custom', message: 'must be a percentage between 0 and 100' });
});

/** Adds "at least one of" to a conf object: Kuma rejects empty sections rather than ignoring them. */
export function atLeastOne(keys: readonly string[]) {
  return (o: Record<string, unknown>, ctx: z.RefinementCtx) => {
    if (!keys.some((k) => o[k] !== undefined)) ctx.addIssue({ code: 'custom', path: [], message: `at least one of ${keys.join(', ')} must be set` });
  };
}

// Envoy compares header names in lower case; Kuma rejects upper case instead of folding it silently.
export const headerName = z
  .string()
  .min(1, 'header name must not be empty')
  .max(256, 'header name must be at most 256 characters')
  .regex(/^[a-z0-9!#$%&'*+\-.^_`|~]+$/, 'header names are lower case letters, digits and !#$%&\'*+-.^_`|~');

/**
 * Why Envoy's RE2 would refuse a regular expression, as far as it can be told here: empty, what RE2
 * lacks (lookaround, back-references), or not a regular expression at all. A leading RE2 flag group
 * such as `(?i)` is accepted. Patterns over Envoy's program size limit are not caught.
 */
export function re2Problem(regex: string): string | undefined {
  if (regex === '') return 'must not be empty';
  if (/\(\?<?[=!]/.test(regex)) return 'uses lookaround, which RE2 (Envoy) does not support';
  if (/\\[1-9]|\\k</.test(regex)) return 'uses a back-reference, which RE2 (Envoy) does not support';
  try {
    new RegExp(regex.replace(/^\(\?[imsU]+\)/, ''));
  } catch {
    return 'is not a valid regular expression';
  }
  return undefined;
}

/** A regular expression Envoy accepts (RE2). */
export const re2Regex = z.string().superRefine((v, ctx) => {
  const problem = re2Problem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const headerMatch = z
  .object({
    type: oneOf(['Exact', 'Present', 'RegularExpression', 'Absent', 'Prefix']).optional(),
    name: headerName,
    value: z.string().optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    if ((h.type === 'Present' || h.type === 'Absent') && h.value !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `cannot be set for type ${h.type}` });
    }
    // Envoy refuses an empty prefix and an empty or non-RE2 pattern.
    if (h.type === 'Prefix' && !h.value) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must not be empty for type Prefix' });
    if (h.type === 'RegularExpression') {
      const problem = re2Problem(h.value ?? '');
      if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
    }
  });

const headerKeyValue = z.object({ name: headerName, value: z.string() }).strict();

const headerList = z.array(headerKeyValue).max(16, 'at most 16 headers');

/**
 * set/add (and, for routes, remove) of headers. One action per name, since Envoy applies them in no
 * defined order.
 */
export function headerModifier(withRemove: boolean) {
  const shape = { set: headerList.optional(), add: headerList.optional(), ...(withRemove ? { remove: z.array(headerName).max(16, 'at most 16 headers').optional() } : {}) };
  return z
    .object(shape)
    .strict()
    .superRefine((mods, ctx) => {
      const m = mods as { set?: { name: string }[]; add?: { name: string }[]; remove?: string[] };
      atLeastOne(withRemove ? ['set', 'add', 'remove'] : ['set', 'add'])(m, ctx);
      const seen = new Set<string>();
      const see = (name: string, path: (string | number)[]) => {
        if (seen.has(name)) ctx.addIssue({ code: 'custom', path, message: `duplicate header name "${name}"` });
        // Envoy refuses to modify Host this way (a route rewrites it with URLRewrite's hostname).
        if (name === 'host') ctx.addIssue({ code: 'custom', path, message: 'the host header cannot be set, added or removed; use a URLRewrite filter\'s hostname' });
        seen.add(name);
      };
      m.set?.forEach((h, i) => see(h.name, ['set', i, 'name']));
      m.add?.forEach((h, i) => see(h.name, ['add', i, 'name']));
      m.remove?.forEach((n, i) => see(n, ['remove', i]));
    });
}

/**
 * A route's backendRefs must send traffic somewhere: weights all 0 (Envoy refuses a weighted cluster
 * set whose weights sum to 0) are refused. Unset weights count as 1.
 */
export function someWeight(refs: readonly { weight?: number | undefined }[] | undefined, ctx: z.RefinementCtx, path: (string | number)[]): void {
  if (refs && refs.length > 0 && refs.every((r) => r.weight === 0)) {
    ctx.addIssue({ code: 'custom', path, message: 'weights must not all be 0: the route would send its traffic nowhere' });
  }
}
