// The clients of `npm run bench -- proxyless` (c): N dataplanes over S gRPC services (svc-0 … svc-S-1,
// client i an instance of svc-(i % S)), each calling the next service, svc-((i + 1) % S). As proxyless
// apps each declares its inbound only (a proxyless app dials any service of the mesh); as the sidecar
// baseline each declares the same inbound and an outbound to every service, which is what the zone
// generates for a proxyless app too (a client listener and cluster per service of the mesh).
import { PROTOCOL_TAG, SERVICE_TAG } from '@meshfed/shared';

export const MESH = 'default';
/** The inbound tags of a gRPC service: its name, and the protocol that gives it HTTP routes (a proxyless client needs them). */
export const grpcService = (service: string) => ({ [SERVICE_TAG]: service, [PROTOCOL_TAG]: 'grpc' });

/** Inbound ports of the clients: nothing listens there, the zone only names them. */
const FIRST_INBOUND_PORT = 20_000;
/** The sidecars' outbound ports, one per service. */
const FIRST_OUTBOUND_PORT = 40_000;

export const clientName = (kind: 'proxyless' | 'sidecar', i: number) => `${kind === 'proxyless' ? 'pl' : 'sc'}-${i}`;
export const serviceOf = (k: number) => `svc-${k}`;
export const inboundPort = (i: number) => FIRST_INBOUND_PORT + i;
/** The service client i calls. */
export const dialledService = (i: number, services: number) => (i + 1) % services;

/** The service named in a cluster or endpoint set (svc-K, whatever the generator adds around it). */
export function serviceIndexOf(name: string): number | undefined {
  const m = /svc-(\d+)/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Instances of service k among n clients: every one of them is an endpoint of it at the end. */
export const expectedInstances = (k: number, n: number, services: number) => Math.floor(n / services) + (k < n % services ? 1 : 0);

/** The Dataplane a proxyless client's agent brings in its node (as its --dataplane-file). */
export function proxylessStreamsDataplane(name: string, port: number, i: number, services: number) {
  return { type: 'Dataplane', mesh: MESH, name, networking: { address: '127.0.0.1', proxyless: true, inbound: [{ port, tags: grpcService(serviceOf(i % services)) }] } };
}

/** The sidecar baseline's Dataplane, PUT on the zone's API: the same inbound, an outbound to every service. */
export function sidecarDataplane(name: string, port: number, i: number, services: number) {
  return {
    type: 'Dataplane', mesh: MESH, name,
    networking: {
      address: '127.0.0.1',
      inbound: [{ port, tags: grpcService(serviceOf(i % services)) }],
      outbound: Array.from({ length: services }, (_, k) => ({ port: FIRST_OUTBOUND_PORT + k, tags: { [SERVICE_TAG]: serviceOf(k) } })),
    },
  };
}
