import type { AnyDescriptor, ResourceKind } from '@meshfed/shared/resources';
import { humanizeAge } from './age.js';
import { asArray, at, scalarText, type WireResource } from './wire.js';

/** One column of `meshfed get` and `inspect` tables. */
export interface Column<R = WireResource> {
  readonly header: string;
  value(r: R, now: number): string;
}

const SERVICE_TAG = 'kuma.io/service';
/** A cell without a value. */
export const NONE = '-';

/** The widest a free-text cell gets (a problem, a conf): longer text is cut, ending in `…`. */
export const MAX_CELL = 60;
export const clipCell = (s: string): string => (s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s);

const onOff = (v: unknown) => (v === true ? 'on' : 'off');
const join = (values: readonly (string | undefined)[]) => {
  const present = [...new Set(values.filter((v): v is string => v !== undefined && v !== ''))];
  return present.length > 0 ? present.join(',') : NONE;
};
const hostPort = (host: unknown, port: unknown) => {
  const h = scalarText(host);
  const p = scalarText(port);
  if (h === undefined && p === undefined) return NONE;
  return `${h ?? ''}:${p ?? '?'}`;
};
const text = (v: unknown) => scalarText(v) ?? NONE;
const selectorServices = (r: WireResource) => join(asArray(r.selectors).map((s) => scalarText(at(s, 'match', SERVICE_TAG))));

const meshColumns: Column[] = [
  {
    header: 'MTLS',
    value: (r) => {
      const enabled = scalarText(at(r, 'mtls', 'enabledBackend'));
      if (!enabled) return 'off';
      const backend = asArray(at(r, 'mtls', 'backends')).find((b) => at(b, 'name') === enabled);
      const type = scalarText(at(backend, 'type'));
      return type ? `${type}/${enabled}` : enabled;
    },
  },
  { header: 'LOCALITY', value: (r) => onOff(at(r, 'routing', 'localityAwareLoadBalancing')) },
  { header: 'ZONE EGRESS', value: (r) => onOff(at(r, 'routing', 'zoneEgress')) },
];

const dataplaneColumns: Column[] = [
  { header: 'ADDRESS', value: (r) => text(at(r, 'networking', 'address')) },
  {
    header: 'SERVICES',
    value: (r) => {
      const gateway = at(r, 'networking', 'gateway');
      if (gateway !== undefined) {
        const type = scalarText(at(gateway, 'type')) ?? 'DELEGATED';
        return `gateway ${text(at(gateway, 'tags', SERVICE_TAG))} (${type})`;
      }
      return join(asArray(at(r, 'networking', 'inbound')).map((ib) => scalarText(at(ib, 'tags', SERVICE_TAG))));
    },
  },
];

const zoneIngressColumns: Column[] = [
  { header: 'ZONE', value: (r) => text(r.zone) },
  { header: 'ADDRESS', value: (r) => hostPort(at(r, 'networking', 'address'), at(r, 'networking', 'port')) },
  { header: 'ADVERTISED', value: (r) => hostPort(at(r, 'networking', 'advertisedAddress'), at(r, 'networking', 'advertisedPort')) },
  { header: 'SERVICES', value: (r) => String(asArray(r.availableServices).length) },
];

const zoneEgressColumns: Column[] = [
  { header: 'ZONE', value: (r) => text(r.zone) },
  { header: 'ADDRESS', value: (r) => hostPort(at(r, 'networking', 'address'), at(r, 'networking', 'port')) },
];

const externalServiceColumns: Column[] = [
  { header: 'SERVICE', value: (r) => text(at(r, 'tags', SERVICE_TAG)) },
  { header: 'ADDRESS', value: (r) => text(at(r, 'networking', 'address')) },
  { header: 'TLS', value: (r) => onOff(at(r, 'networking', 'tls', 'enabled')) },
];

const meshGatewayColumns: Column[] = [
  { header: 'SERVICE', value: selectorServices },
  {
    header: 'LISTENERS',
    value: (r) => join(asArray(at(r, 'conf', 'listeners')).map((l) => `${text(at(l, 'protocol'))}:${text(at(l, 'port'))}`)),
  },
];

const meshGatewayRouteColumns: Column[] = [
  { header: 'GATEWAY', value: selectorServices },
  { header: 'PROTOCOL', value: (r) => (at(r, 'conf', 'http') !== undefined ? 'HTTP' : at(r, 'conf', 'tcp') !== undefined ? 'TCP' : NONE) },
];

/** How long ago; `never` when the control plane says there was no such time (null). */
export const ago = (time: unknown, now: number) => (time === null ? 'never' : humanizeAge(scalarText(time), now));

// A zone's state, from global's `/zones+insights` (`get zones` there, and `inspect zones`).
export const zoneStatusColumn: Column = {
  header: 'STATUS',
  // As kumactl: a disabled zone is offline whatever its stream says.
  value: (r) => (typeof r.online !== 'boolean' ? NONE : r.online && r.enabled !== false ? 'Online' : 'Offline'),
};
export const zoneLastConnectedColumn: Column = { header: 'LAST CONNECTED AGO', value: (r, now) => ago(r.lastConnectTime, now) };
export const zoneCpVersionColumn: Column = { header: 'ZONE-CP VERSION', value: (r) => text(r.zoneCpVersion) };
const zoneEnabledColumn: Column = { header: 'ENABLED', value: (r) => (r.enabled === false ? 'no' : 'yes') };

/** With the zones' insights (from the global CP), their state; plain Zone resources have none. */
const zoneColumns = (items: readonly WireResource[]): readonly Column[] =>
  items.some((r) => typeof r.online === 'boolean')
    ? [zoneStatusColumn, zoneEnabledColumn, zoneLastConnectedColumn, zoneCpVersionColumn]
    : [zoneEnabledColumn];

/** Type-specific columns, or what picks them from the items. Types without an entry get the generic ones (a policy's TARGETREF). */
const SPECIFIC: Partial<Record<ResourceKind, readonly Column[] | ((items: readonly WireResource[]) => readonly Column[])>> = {
  Mesh: meshColumns,
  Dataplane: dataplaneColumns,
  ZoneIngress: zoneIngressColumns,
  ZoneEgress: zoneEgressColumns,
  ExternalService: externalServiceColumns,
  MeshGateway: meshGatewayColumns,
  MeshGatewayRoute: meshGatewayRouteColumns,
  Zone: zoneColumns,
  Secret: [],
  ZoneInsight: [],
};

/** How one resource type's sync with a peer stands: a proxy's xDS, a zone's KDS. */
export const SYNC_STATES = ['acked', 'nacked', 'pending', 'not-sent'] as const;
export type SyncState = (typeof SYNC_STATES)[number];

/** `4/4 acked`, `3/4 acked`, `NACK listener,route`, or `-` when nothing was sent. */
export function syncSummary(states: readonly (readonly [type: string, state: SyncState])[]): string {
  const sent = states.filter(([, s]) => s !== 'not-sent');
  if (sent.length === 0) return NONE;
  const nacked = sent.filter(([, s]) => s === 'nacked').map(([type]) => type);
  if (nacked.length > 0) return `NACK ${nacked.join(',')}`;
  return `${sent.filter(([, s]) => s === 'acked').length}/${sent.length} acked`;
}

/** `Mesh`, `MeshService/backend`, `MeshSubset{version=v1}`: a policy's top-level targetRef in a cell. */
export function describeTargetRef(ref: unknown): string {
  const kind = scalarText(at(ref, 'kind'));
  if (!kind) return NONE;
  const name = scalarText(at(ref, 'name'));
  const tags = at(ref, 'tags');
  const tagText =
    typeof tags === 'object' && tags !== null
      ? `{${Object.entries(tags)
          .map(([k, v]) => `${k}=${scalarText(v) ?? ''}`)
          .join(',')}}`
      : '';
  return `${kind}${name ? `/${name}` : ''}${tagText}`;
}

const targetRefColumn: Column = { header: 'TARGETREF', value: (r) => describeTargetRef(at(r, 'spec', 'targetRef')) };

const meshColumn: Column = { header: 'MESH', value: (r) => text(r.mesh) };
export const nameColumn: Column = { header: 'NAME', value: (r) => r.name };
const ageColumn: Column = { header: 'AGE', value: (r, now) => humanizeAge(r.creationTime, now) };

/** MESH (mesh-scoped types), NAME, the type's own columns, AGE. */
export function columnsFor(d: AnyDescriptor, items: readonly WireResource[]): Column[] {
  const entry = SPECIFIC[d.kind];
  const specific = typeof entry === 'function' ? entry(items) : (entry ?? (items.some((r) => at(r, 'spec', 'targetRef') !== undefined) ? [targetRefColumn] : []));
  return [...(d.scope === 'mesh' ? [meshColumn] : []), nameColumn, ...specific, ageColumn];
}
