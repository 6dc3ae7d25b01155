// The zone `npm run bench -- xds` configures: one mesh with builtin mTLS, N dataplanes over 500 local
// services (N/500 instances each), each calling 5 other services, some of which only another zone
// offers (through its ZoneIngress, synced from global), and this zone's own ZoneIngress.
import { LABEL_ORIGIN, LABEL_ZONE, type Resource } from '@meshfed/shared';

export const MESH = 'default';
export const ZONE = 'zone-1';
export const CA_BACKEND = 'ca-1';
/** Local services: dataplane i is an instance of service i % SERVICES. */
export const SERVICES = 500;
/** Services only zone-2 offers (svc-500 … svc-549), and local services it offers too (svc-0 … svc-49). */
export const REMOTE_ONLY = 50;
export const REMOTE_SHARED = 50;
export const OUTBOUNDS = 5;
export const LOCAL_INGRESS = 'zone-1-ingress';
export const REMOTE_INGRESS = 'zone-2-ingress';

const GLOBAL = { [LABEL_ORIGIN]: 'global' };
export const service = (s: number) => `svc-${s}`;
export const dpName = (i: number) => `dp-${i}`;
export const dpProxyId = (i: number) => `${MESH}.${dpName(i)}`;

/** The services dataplanes of service `s` call: 5 others spread over the local and remote-only ones. */
export function outboundServices(s: number): number[] {
  return Array.from({ length: OUTBOUNDS }, (_, k) => (s + 37 * (k + 1)) % (SERVICES + REMOTE_ONLY));
}

/** Dataplane i's address; `generation` moves it (a restarted pod with a new IP). */
export function dpAddress(i: number, generation = 0): string {
  return `10.${generation % 250}.${(i >> 8) & 255}.${i & 255}`;
}

export function dataplane(i: number, generation = 0): Resource {
  const s = i % SERVICES;
  return {
    type: 'Dataplane', mesh: MESH, name: dpName(i), labels: { app: service(s) },
    spec: {
      networking: {
        address: dpAddress(i, generation),
        inbound: [{ port: 8080, servicePort: 80, tags: { 'kuma.io/service': service(s), 'kuma.io/protocol': 'tcp' } }],
        outbound: outboundServices(s).map((t) => ({ port: 10_000 + t, tags: { 'kuma.io/service': service(t) } })),
      },
    },
  };
}

export function meshSpec(mtls: boolean): Record<string, unknown> {
  return { mtls: { ...(mtls ? { enabledBackend: CA_BACKEND } : {}), backends: [{ name: CA_BACKEND, type: 'builtin' }] } };
}

export function mesh(mtls: boolean): Resource {
  return { type: 'Mesh', name: MESH, labels: GLOBAL, spec: meshSpec(mtls) };
}

/** zone-2's ingress as global sends it down: its services, with instance counts. */
export function remoteIngress(): Resource {
  const offered = [
    ...Array.from({ length: REMOTE_SHARED }, (_, s) => ({ s, instances: 2 })),
    ...Array.from({ length: REMOTE_ONLY }, (_, k) => ({ s: SERVICES + k, instances: 3 })),
  ];
  return {
    type: 'ZoneIngress', name: REMOTE_INGRESS, labels: { ...GLOBAL, [LABEL_ZONE]: 'zone-2' },
    spec: {
      zone: 'zone-2',
      networking: { address: '10.250.0.1', port: 10001, advertisedAddress: '203.0.113.10', advertisedPort: 10001 },
      availableServices: offered.map(({ s, instances }) => ({ mesh: MESH, tags: { 'kuma.io/service': service(s) }, instances })),
    },
  };
}

/** This zone's own ingress (other zones reach its services through it); it is one more ADS stream. */
export function localIngress(): Resource {
  return {
    type: 'ZoneIngress', name: LOCAL_INGRESS, labels: {},
    spec: { zone: ZONE, networking: { address: '10.251.0.1', port: 10001, advertisedAddress: '198.51.100.10', advertisedPort: 10001 } },
  };
}

/** Every proxy of the zone that opens an ADS stream. */
export function proxies(n: number, withLocalIngress: boolean): { id: string; type: 'dataplane' | 'ingress' }[] {
  const out: { id: string; type: 'dataplane' | 'ingress' }[] = Array.from({ length: n }, (_, i) => ({ id: dpProxyId(i), type: 'dataplane' as const }));
  if (withLocalIngress) out.push({ id: LOCAL_INGRESS, type: 'ingress' });
  return out;
}
