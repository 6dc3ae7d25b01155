import { z } from 'zod';
import { defineResource } from '../descriptor.js';
import { portSchema, tagsSchema } from '../meta.js';

export const TARGET_REF_KINDS = ['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway', 'MeshHTTPRoute'] as const;
export type TargetRefKind = (typeof TARGET_REF_KINDS)[number];

const refShape = {
  kind: z.enum(TARGET_REF_KINDS, { error: `kind must be one of ${TARGET_REF_KINDS.join(', ')}` }),
  name: z.string().min(1).optional(),
  mesh: z.string().min(1).optional(),
  tags: tagsSchema.optional(),
  proxyTypes: z.array(z.enum(['Sidecar', 'Gateway'])).optional(),
};

function checkRef(allowed: readonly TargetRefKind[]) {
  return (t: { kind: TargetRefKind; name?: string | undefined; tags?: Record<string, string> | undefined }, ctx: z.RefinementCtx) => {
    if (!allowed.includes(t.kind)) {
      ctx.addIssue({ code: 'custom', path: ['kind'], message: `value is not supported here: use one of ${allowed.join(', ')}` });
      return;
    }
    const named = t.kind === 'MeshService' || t.kind === 'MeshServiceSubset' || t.kind === 'MeshGateway' || t.kind === 'MeshHTTPRoute';
    if (named && !t.name) ctx.addIssue({ code: 'custom', path: ['name'], message: `name is required for kind ${t.kind}` });
    if (!named && t.name) ctx.addIssue({ code: 'custom', path: ['name'], message: `name cannot be set for kind ${t.kind}` });
    // MeshGateway: tags pick the gateway's listeners by their tags (Kuma's listener tags).
    const tagged = t.kind === 'MeshSubset' || t.kind === 'MeshServiceSubset' || t.kind === 'MeshGateway';
    if (!tagged && t.tags) ctx.addIssue({ code: 'custom', path: ['tags'], message: `tags cannot be set for kind ${t.kind}` });
  };
}

/** Kuma's targetRef: which proxies (top level) or which peers (`from`/`to`) a policy applies to. */
export function targetRefSchema(allowed: readonly TargetRefKind[]) {
  return z.object(refShape).strict().superRefine(checkRef(allowed));
}
export type TargetRef = z.infer<ReturnType<typeof targetRefSchema>>;

/** Where a route sends traffic: a targetRef inlined with its share of traffic and, optionally, a port. */
export function backendRefSchema(allowed: readonly TargetRefKind[]) {
  return z
    .object({
      ...refShape,
      // Envoy's weights are uint32, and a route's weights must add up within one.
      weight: z.number().int('weight must be an integer').min(0, 'weight must not be negative').max(1_000_000, 'weight must be at most 1000000').optional(),
      port: portSchema.optional(),
    })
    .strict()
    .superRefine(checkRef(allowed));
}

/** Top-level targetRef defaults to the whole mesh, as in Kuma. */
export const topTargetRef = (allowed: readonly TargetRefKind[]) => targetRefSchema(allowed).default({ kind: 'Mesh' });

/** A `from` or `to` entry: a peer targetRef and the configuration applied for it. */
export function peerEntries<D extends z.ZodType>(allowed: readonly TargetRefKind[], conf: D) {
  return z.array(z.object({ targetRef: targetRefSchema(allowed), default: conf }).strict());
}

/**
 * A targetRef policy's body is `{ spec: { targetRef, from?, to?, rules? } }`; at least one of
 * `from`, `to` or `rules` must be present, since a policy with none configures nothing.
 * `check` holds rules that span sections (what the top-level kind allows in `from`/`to`); it runs
 * only once every field is well-formed, and its paths are relative to `spec`.
 */
export function policySpec<S extends z.ZodRawShape>(shape: S, check?: (spec: z.output<z.ZodObject<S>>, ctx: z.RefinementCtx) => void) {
  return z
    .object({
      spec: z
        .object(shape)
        .strict()
        .superRefine((s, ctx) => {
          const rec = s as Record<string, unknown>;
          const lists = ['from', 'to', 'rules'].filter((k) => k in shape);
          if (!lists.some((k) => Array.isArray(rec[k]) && (rec[k] as unknown[]).length > 0)) {
            ctx.addIssue({ code: 'custom', path: [], message: `at least one of ${lists.join(', ')} must be defined` });
          }
          check?.(s as z.output<z.ZodObject<S>>, ctx);
        }),
    })
    .strict();
}

/** Reports a section the top-level targetRef rules out, e.g. `from` on a MeshGateway policy. */
export function forbidSection(ctx: z.RefinementCtx, entries: readonly unknown[] | undefined, section: string, why: string) {
  if (entries && entries.length > 0) ctx.addIssue({ code: 'custom', path: [section], message: `must not be defined ${why}` });
}

/** Narrows the peer kinds of a section when the top-level targetRef allows fewer than the schema. */
export function restrictKinds(
  ctx: z.RefinementCtx,
  entries: readonly { targetRef: { kind: TargetRefKind } }[] | undefined,
  section: string,
  allowed: readonly TargetRefKind[],
  why: string,
) {
  entries?.forEach((e, i) => {
    if (!allowed.includes(e.targetRef.kind)) {
      ctx.addIssue({ code: 'custom', path: [section, i, 'targetRef', 'kind'], message: `value is not supported ${why}: use one of ${allowed.join(', ')}` });
    }
  });
}

/**
 * `plural` is for kinds whose REST name is not `<lowercase kind>s` (Kuma's `meshretries`);
 * `pluralAliases` keeps a plural meshfed once served answering.
 */
export function definePolicy<const K extends string, S extends z.ZodType<Record<string, unknown>>>(kind: K, spec: S, plural?: string, pluralAliases?: readonly string[]) {
  return defineResource({
    kind,
    plural: plural ?? `${kind.toLowerCase()}s`,
    singular: kind.toLowerCase(),
    scope: 'mesh',
    owner: 'global',
    kds: ['global-to-zone'],
    spec,
    ...(pluralAliases ? { pluralAliases } : {}),
  });
}
