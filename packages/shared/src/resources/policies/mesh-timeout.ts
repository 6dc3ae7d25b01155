import { z } from 'zod';
import { durationSchema } from '../meta.js';
import { atLeastOne, positiveDuration } from './fields.js';
import { definePolicy, forbidSection, peerEntries, policySpec, restrictKinds, topTargetRef } from './target-ref.js';

const Http = z
  .object({
    requestTimeout: durationSchema.optional(),
    streamIdleTimeout: durationSchema.optional(),
    maxStreamDuration: durationSchema.optional(),
    maxConnectionDuration: durationSchema.optional(),
    requestHeadersTimeout: durationSchema.optional(),
  })
  .strict()
  .superRefine(atLeastOne(['requestTimeout', 'streamIdleTimeout', 'maxStreamDuration', 'maxConnectionDuration', 'requestHeadersTimeout']));

// connectionTimeout 0 would fail every connection; the others use 0 to mean "disabled".
const Conf = z
  .object({ connectionTimeout: positiveDuration.optional(), idleTimeout: durationSchema.optional(), http: Http.optional() })
  .strict()
  .superRefine(atLeastOne(['connectionTimeout', 'idleTimeout', 'http']));

export const MeshTimeoutSpec = policySpec(
  {
    targetRef: topTargetRef(['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset', 'MeshGateway', 'MeshHTTPRoute']),
    from: peerEntries(['Mesh'], Conf).optional(),
    to: peerEntries(['Mesh', 'MeshService'], Conf).optional(),
  },
  (spec, ctx) => {
    const top = spec.targetRef.kind;
    if (top !== 'MeshGateway' && top !== 'MeshHTTPRoute') return;
    const why = `when the top-level targetRef is ${top}`;
    forbidSection(ctx, spec.from, 'from', why);
    restrictKinds(ctx, spec.to, 'to', ['Mesh'], why);
    // A route has no connections of its own: connection-level timeouts belong to its service.
    if (top !== 'MeshHTTPRoute') return;
    spec.to?.forEach((e, i) => {
      const at = (...p: string[]) => ctx.addIssue({ code: 'custom', path: ['to', i, 'default', ...p], message: `cannot be set ${why}` });
      if (e.default.connectionTimeout !== undefined) at('connectionTimeout');
      if (e.default.idleTimeout !== undefined) at('idleTimeout');
      if (e.default.http?.maxStreamDuration !== undefined) at('http', 'maxStreamDuration');
      if (e.default.http?.maxConnectionDuration !== undefined) at('http', 'maxConnectionDuration');
    });
  },
);
export type MeshTimeoutSpec = z.infer<typeof MeshTimeoutSpec>;

export const MeshTimeoutDescriptor = definePolicy('MeshTimeout', MeshTimeoutSpec);
