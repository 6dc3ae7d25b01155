import { z } from 'zod';
import { defineResource } from '../descriptor.js';
import { tagsSchema } from '../meta.js';

export const TARGET_REF_KINDS = ['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway', 'MeshHTTPRoute'] as const;
export type TargetRefKind = (typeof TARGET_REF_KINDS)[number];

/** Kuma's targetRef: which proxies (top level) or which peers (`from`/`to`) a policy applies to. */
export function targetRefSchema(allowed: readonly TargetRefKind[]) {
  return z
    .object({
      kind: z.enum(TARGET_REF_KINDS, { error: `kind must be one of ${TARGET_REF_KINDS.join(', ')}` }),
      name: z.string().min(1).optional(),
      mesh: z.string().min(1).optional(),
      tags: tagsSchema.optional(),
      proxyTypes: z.array(z.enum(['Sidecar', 'Gateway'])).optional(),
    })
    .strict()
    .superRefine((t, ctx) => {
      if (!allowed.includes(t.kind)) {
        ctx.addIssue({ code: 'custom', path: ['kind'], message: `value is not supported here: use one of ${allowed.join(', ')}` });
        return;
      }
      const named = t.kind === 'MeshService' || t.kind === 'MeshServiceSubset' || t.kind === 'MeshGateway' || t.kind === 'MeshHTTPRoute';
      if (named && !t.name) ctx.addIssue({ code: 'custom', path: ['name'], message: `name is required for kind ${t.kind}` });
      if (!named && t.name) ctx.addIssue({ code: 'custom', path: ['name'], message: `name cannot be set for kind ${t.kind}` });
      const tagged = t.kind === 'MeshSubset' || t.kind === 'MeshServiceSubset';
      if (!tagged && t.tags) ctx.addIssue({ code: 'custom', path: ['tags'], message: `tags cannot be set for kind ${t.kind}` });
    });
}
export type TargetRef = z.infer<ReturnType<typeof targetRefSchema>>;

/** Top-level targetRef defaults to the whole mesh, as in Kuma. */
export const topTargetRef = (allowed: readonly TargetRefKind[]) => targetRefSchema(allowed).default({ kind: 'Mesh' });

/** A `from` or `to` entry: a peer targetRef and the configuration applied for it. */
export function peerEntries<D extends z.ZodType>(allowed: readonly TargetRefKind[], conf: D) {
  return z.array(z.object({ targetRef: targetRefSchema(allowed), default: conf }).strict());
}

/**
 * A targetRef policy's body is `{ spec: { targetRef, from?, to?, rules? } }`; at least one of
 * `from`, `to` or `rules` must be present, since a policy with none configures nothing.
 */
export function policySpec<S extends z.ZodRawShape>(shape: S) {
  return z
    .object({
      spec: z
        .object(shape)
        .strict()
        .superRefine((s: Record<string, unknown>, ctx) => {
          const lists = ['from', 'to', 'rules'].filter((k) => k in shape);
          if (!lists.some((k) => Array.isArray(s[k]) && (s[k] as unknown[]).length > 0)) {
            ctx.addIssue({ code: 'custom', path: [], message: `at least one of ${lists.join(', ')} must be defined` });
          }
        }),
    })
    .strict();
}

export function definePolicy<const K extends string, S extends z.ZodType<Record<string, unknown>>>(kind: K, spec: S) {
  return defineResource({
    kind,
    plural: `${kind.toLowerCase()}s`,
    singular: kind.toLowerCase(),
    scope: 'mesh',
    owner: 'global',
    kds: ['global-to-zone'],
    spec,
  });
}
