import { defineResource } from './descriptor.js';
import { SecretSpec } from './secret.js';

/**
 * A secret of the control plane itself, outside any mesh (Kuma's GlobalSecret): same body as a Secret.
 * Internal: it holds the zone-token signing key, and the REST API has no authentication of its own.
 */
export const GlobalSecretSpec = SecretSpec;
export type GlobalSecretSpec = SecretSpec;

export const GlobalSecretDescriptor = defineResource({
  kind: 'GlobalSecret', plural: 'global-secrets', singular: 'global-secret', scope: 'global', owner: 'system',
  kds: [], spec: GlobalSecretSpec, internal: true,
});
