import { MAX_NAME_LENGTH } from '@meshfed/shared';

/**
 * Where a mesh's builtin CA lives: two Secrets in the mesh, named as Kuma names them, so a Kuma user
 * finds them where they expect. Zones read them under the same names (packages/zone/src/mesh-ca keeps
 * its own copy of these two functions, since zone and global never import each other; the
 * integration test test/mesh-ca.test.ts checks that both agree).
 */
export function meshCaSecretNames(mesh: string, backend: string): { readonly cert: string; readonly key: string } {
  return { cert: `${mesh}.ca-builtin-cert-${backend}`, key: `${mesh}.ca-builtin-key-${backend}` };
}

/** Label on both CA Secrets; its value is the backend type. */
export const MESH_CA_LABEL = 'kuma.io/mesh-ca';
/** Label on both CA Secrets naming the mTLS backend they belong to. */
export const MESH_CA_BACKEND_LABEL = 'kuma.io/mesh-ca-backend';

/** Longest resource name the store accepts. */
export const MAX_SECRET_NAME = MAX_NAME_LENGTH;
