import { z } from 'zod';
import { defineResource } from './descriptor.js';

export const SecretSpec = z
  .object({
    data: z.string().min(1, 'data must not be empty').base64('data must be base64'),
  })
  .strict();
export type SecretSpec = z.infer<typeof SecretSpec>;

export const SecretDescriptor = defineResource({
  kind: 'Secret', plural: 'secrets', singular: 'secret', scope: 'mesh', owner: 'global',
  kds: ['global-to-zone'], spec: SecretSpec,
});

/**
 * Where a mesh's builtin CA lives: two Secrets in the mesh, named as Kuma names them, so a Kuma user
 * finds them where they expect. Global writes them, zones read them.
 */
export function meshCaSecretNames(mesh: string, backend: string): { readonly cert: string; readonly key: string } {
  return { cert: `${mesh}.ca-builtin-cert-${backend}`, key: `${mesh}.ca-builtin-key-${backend}` };
}

/** Label on both CA Secrets; its value is the backend type. */
export const MESH_CA_LABEL = 'kuma.io/mesh-ca';
/** Label on both CA Secrets naming the mTLS backend they belong to. */
export const MESH_CA_BACKEND_LABEL = 'kuma.io/mesh-ca-backend';

/**
 * A mesh CA's private key: it travels only over KDS to authenticated zones, and the API never serves
 * it, not even to admins (whoever holds it can mint any workload's identity).
 */
export function isMeshCaKeySecret(r: { readonly type: string; readonly mesh?: string | undefined; readonly name: string; readonly labels: Readonly<Record<string, string>> }): boolean {
  if (r.type !== 'Secret' || r.mesh === undefined) return false;
  const backend = r.labels[MESH_CA_BACKEND_LABEL];
  if (backend !== undefined && r.labels[MESH_CA_LABEL] !== undefined) return r.name === meshCaSecretNames(r.mesh, backend).key;
  // Unlabelled (written by hand under the CA's name): still never served.
  return r.name.startsWith(`${r.mesh}.ca-builtin-key-`);
}
