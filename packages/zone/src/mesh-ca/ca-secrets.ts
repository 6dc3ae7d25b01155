/**
 * Where global stores a mesh's builtin CA, as Kuma names it: the same two functions as in
 * packages/global/src/mesh-ca/ca-secrets.ts (zone and global never import each other; the
 * integration test test/mesh-ca.test.ts checks that both agree).
 */
export function meshCaSecretNames(mesh: string, backend: string): { readonly cert: string; readonly key: string } {
  return { cert: `${mesh}.ca-builtin-cert-${backend}`, key: `${mesh}.ca-builtin-key-${backend}` };
}
