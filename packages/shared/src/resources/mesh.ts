import { z } from 'zod';
import { defineResource } from './descriptor.js';
import { durationSchema, resourceNameSchema } from './meta.js';

/**
 * How sidecars' inbounds take traffic while the backend is enabled (Kuma's CertificateAuthorityBackend
 * `mode`): STRICT (the default) accepts mesh mTLS only; PERMISSIVE accepts mesh mTLS and, side by side,
 * plaintext (and TLS that is not the mesh's), the step between mTLS off and STRICT. Outbounds speak mesh
 * mTLS in both.
 */
export const MTLS_MODES = ['STRICT', 'PERMISSIVE'] as const;
export type MtlsMode = (typeof MTLS_MODES)[number];

const BuiltinBackend = z
  .object({
    name: resourceNameSchema,
    type: z.literal('builtin', { error: 'only the "builtin" CA backend is supported' }),
    mode: z.enum(MTLS_MODES, { error: 'must be STRICT or PERMISSIVE' }).optional(),
    dpCert: z
      .object({ rotation: z.object({ expiration: durationSchema }).strict().optional() })
      .strict()
      .optional(),
    conf: z
      .object({
        caCert: z
          .object({
            RSAbits: z.number().int().min(2048, 'RSAbits must be at least 2048').max(8192).optional(),
            expiration: durationSchema.optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const Mtls = z
  .object({
    enabledBackend: z.string().optional(),
    skipValidation: z.boolean().optional(),
    backends: z.array(BuiltinBackend).default([]),
  })
  .strict()
  .superRefine((m, ctx) => {
    const names = new Set<string>();
    m.backends.forEach((b, i) => {
      if (names.has(b.name)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'name'], message: `duplicate backend name "${b.name}"` });
      names.add(b.name);
    });
    if (m.enabledBackend !== undefined && m.enabledBackend !== '' && !names.has(m.enabledBackend)) {
      ctx.addIssue({ code: 'custom', path: ['enabledBackend'], message: `has to be set to one of the backends in the mesh (got "${m.enabledBackend}")` });
    }
  });

export const MeshSpec = z
  .object({
    mtls: Mtls.optional(),
    routing: z
      .object({
        zoneEgress: z.boolean().optional(),
        localityAwareLoadBalancing: z.boolean().optional(),
      })
      .strict()
      .optional(),
    networking: z
      .object({ outbound: z.object({ passthrough: z.boolean().optional() }).strict().optional() })
      .strict()
      .optional(),
    /**
     * Kuma's `repeated string skipCreatingInitialPolicies`: default policies not to create when the
     * mesh is created, by type (`MeshTimeout`, `MeshRetry`, …), or `*` for all of them. Read once, at
     * creation; Kuma accepts any type name here (also ones it never creates, such as TrafficPermission).
     */
    skipCreatingInitialPolicies: z
      .array(z.string({ error: 'must be a policy type such as MeshRetry, or "*"' }).min(1, 'must not be empty: a policy type such as MeshRetry, or "*"'), {
        error: 'must be a list of policy types, e.g. ["MeshRetry"], or ["*"]',
      })
      .optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    // ZoneEgress routes by SNI, which only exists on mTLS traffic (zone-egress documents).
    if (m.routing?.zoneEgress && !m.mtls?.enabledBackend) {
      ctx.addIssue({ code: 'custom', path: ['routing', 'zoneEgress'], message: 'requires mTLS: set mtls.enabledBackend to a builtin backend' });
    }
  });
export type MeshSpec = z.infer<typeof MeshSpec>;

export const MeshDescriptor = defineResource({
  kind: 'Mesh', plural: 'meshes', singular: 'mesh', scope: 'global', owner: 'global',
  kds: ['global-to-zone'], spec: MeshSpec,
});

/** The enabled CA backend of a mesh, or undefined when mTLS is off. */
export function enabledMtlsBackend(mesh: MeshSpec) {
  const name = mesh.mtls?.enabledBackend;
  return name ? mesh.mtls?.backends.find((b) => b.name === name) : undefined;
}

/** The mode of a mesh's mTLS: its enabled backend's (STRICT unless set), or undefined when mTLS is off. */
export function mtlsModeOf(mesh: MeshSpec): MtlsMode | undefined {
  const backend = enabledMtlsBackend(mesh);
  return backend ? (backend.mode ?? 'STRICT') : undefined;
}
