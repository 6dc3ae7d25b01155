import type { AnyDescriptor, ResourceKind } from '@meshfed/shared/resources';
import { humanizeAge } from './age.js';
import { asArray, at, scalarText, type WireResource } from './wire.js';

/** One column of `meshfed get` tables. */
export interface Column {
  readonly header: string;
  value(r: WireResource, now: number): string;
}

const SERVICE_TAG = 'kuma.io/service';
const NONE = '-';

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

const zoneColumns: Column[] = [{ header: 'ENABLED', value: (r) => (r.enabled === false ? 'no' : 'yes') }];

/** Type-specific columns. Types without an entry get the generic ones (a policy's TARGETREF). */
const SPECIFIC: Partial<Record<ResourceKind, readonly Column[]>> = {
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
const nameColumn: Column = { header: 'NAME', value: (r) => r.name };
const ageColumn: Column = { header: 'AGE', value: (r, now) => humanizeAge(r.creationTime, now) };

/** MESH (mesh-scoped types), NAME, the type's own columns, AGE. */
export function columnsFor(d: AnyDescriptor, items: readonly WireResource[]): Column[] {
  const specific = SPECIFIC[d.kind] ?? (items.some((r) => at(r, 'spec', 'targetRef') !== undefined) ? [targetRefColumn] : []);
  return [...(d.scope === 'mesh' ? [meshColumn] : []), nameColumn, ...specific, ageColumn];
}
