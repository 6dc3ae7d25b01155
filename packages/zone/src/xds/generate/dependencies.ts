/** Dependency keys. A proxy names the ones it read; the reconciler regenerates it when one's version changes. */
export const dep = {
  mesh: (mesh: string) => `mesh:${mesh}`,
  service: (mesh: string, service: string) => `svc:${mesh}:${service}`,
  certificate: (mesh: string, service: string) => `cert:${mesh}:${service}`,
  /** A mesh's CA, for proxies that trust other meshes' (cross-mesh gateways and their callers). */
  meshCa: (mesh: string) => `ca:${mesh}`,
  /** Every policy of a mesh (its version changes with any of them): what a zone egress's permissions read. */
  policies: (mesh: string) => `policies:${mesh}`,
  /** Which services have instances in a mesh, here or elsewhere (names only): a proxyless app's client listeners. */
  meshServices: (mesh: string) => `services:${mesh}`,
  /** Every MeshGateway and MeshGatewayRoute of a mesh: what its builtin gateway instances read. */
  gateways: (mesh: string) => `gateways:${mesh}`,
  /**
   * Which local services every mesh has (names only): what a zone ingress's listener routes. Each
   * service's endpoints are its own `service` dependency, so one instance moving does not rebuild it.
   */
  ingressServices: 'ingress-services',
  /** Every other zone's services and every external service: what zone egresses route. */
  egressTargets: 'egress-targets',
  /** The rules of one distinct set of what matching reads (generate/matching.ts), by its hash. */
  rules: (mesh: string, matchingKeyHash: string) => `rules:${mesh}:${matchingKeyHash}`,
} as const;
