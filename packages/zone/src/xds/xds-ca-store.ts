import { type CertificateAuthority, loadOrCreateStoredCa, type ResourceStore } from '@meshfed/shared';

/** The GlobalSecret (zone-local: GlobalSecrets never travel over KDS) holding the zone's own xDS CA. */
export const XDS_CA_SECRET = 'xds-ca';

/**
 * The zone's xDS CA from the store, created there on first use. Bootstraps embed its certificate, so
 * a CA made anew at each start would leave every running Envoy unable to reconnect after the zone CP
 * restarts; see loadOrCreateStoredCa for how replicas agree on one.
 */
export function loadOrCreateXdsCa(store: ResourceStore): Promise<{ ca: CertificateAuthority; created: boolean }> {
  return loadOrCreateStoredCa(store, { secret: XDS_CA_SECRET, commonName: 'meshfed zone xDS CA', afterRenewal: 're-bootstrap every proxy of this zone' });
}
