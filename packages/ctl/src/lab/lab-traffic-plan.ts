import type { DemoResource } from './lab-demo.js';
import { LAB_ZONES, type LabPort } from './lab-plan.js';

/**
 * The lab's live traffic: in each zone a proxyless gRPC caller and two versions of a server, each
 * a real process beside its own meshfed-dp agent. Their services are named apart from the HTTP
 * demo's `web` and `backend`, whose dataplanes have no application behind them: calls balanced onto
 * those would only fail.
 */
export const ECHO_SERVICE = 'echo';
export const ECHO_CALLER = 'echo-web';
export const ECHO_VERSIONS = ['v1', 'v2'] as const;
/** What the caller dials: its zone's `echo` instances, as the zone's xDS describes them. */
export const ECHO_TARGET = `xds:///${ECHO_SERVICE}`;
/**
 * Calls per second each zone's caller starts: enough that a 90/10 split shows within a second
 * (45/5), little enough for a two-core laptop running three control planes beside it.
 */
export const ECHO_RATE = 50;

/**
 * The repository's example that shifts the live traffic (a MeshHTTPRoute splitting echo-web's calls
 * 90/10 between v1 and v2), as the lab tells the user to apply it from the repository's root.
 */
export const EXAMPLE_ROUTE_FILE = 'examples/policy-grpc-route.yaml';
export const EXAMPLE_ROUTE_NAME = 'echo-split';

export type LabZone = (typeof LAB_ZONES)[number];

export interface TrafficMember {
  readonly zone: LabZone;
  /** The Dataplane's name, and the instance name the server answers with. */
  readonly name: string;
  readonly role: 'caller' | 'server';
  readonly service: string;
  /** A server's version tag; the caller has none. */
  readonly version?: string;
  /** The Dataplane's inbound: where a server serves (a proxyless Listener is named by it). */
  readonly port: number;
}

/** Where each zone's members' inbounds start, beside the HTTP demo's (zone-1 11xxx, zone-2 21xxx). */
const ZONE_BASE_PORT: Readonly<Record<LabZone, number>> = { 'zone-1': 11201, 'zone-2': 21201 };

/** Every member of the traffic demo, zone by zone, caller first; ports shift with the lab's offset. */
export function trafficPlan(offset: number): TrafficMember[] {
  return LAB_ZONES.flatMap((zone) => {
    const base = ZONE_BASE_PORT[zone] + offset;
    return [
      { zone, name: ECHO_CALLER, role: 'caller', service: ECHO_CALLER, port: base },
      ...ECHO_VERSIONS.map((version, i): TrafficMember => ({ zone, name: `${ECHO_SERVICE}-${version}`, role: 'server', service: ECHO_SERVICE, version, port: base + 10 * (i + 1) })),
    ];
  });
}

/** The members' inbound ports, named as a port refusal names them: `zone-1 echo-v1 inbound`. */
export function trafficPorts(members: readonly TrafficMember[]): LabPort[] {
  return members.map((m) => ({ role: `${m.zone} ${m.name} inbound`, port: m.port }));
}

/** The member's Dataplane as its agent registers it: proxyless, on loopback, one gRPC inbound. */
export function trafficDataplane(m: TrafficMember): Record<string, unknown> {
  const tags = { 'kuma.io/service': m.service, 'kuma.io/protocol': 'grpc', ...(m.version !== undefined ? { version: m.version } : {}) };
  return { type: 'Dataplane', mesh: 'default', name: m.name, networking: { address: '127.0.0.1', proxyless: true, inbound: [{ port: m.port, tags }] } };
}

/**
 * What the traffic demo needs on global: with mesh mTLS nothing may call `echo` until a
 * MeshTrafficPermission allows it. Applied with the rest of the demo even when no app runs, so
 * starting the apps later (or by hand) needs nothing more.
 */
export function trafficResources(): DemoResource[] {
  const name = `${ECHO_SERVICE}-from-${ECHO_CALLER}`;
  return [{
    where: 'global', path: `/meshes/default/meshtrafficpermissions/${name}`,
    body: {
      type: 'MeshTrafficPermission', mesh: 'default', name,
      spec: { targetRef: { kind: 'MeshService', name: ECHO_SERVICE }, from: [{ targetRef: { kind: 'MeshService', name: ECHO_CALLER }, default: { action: 'Allow' } }] },
    },
  }];
}
