import type { KdsFlow, Owner, ResourceDescriptor } from './descriptor.js';
import { AccessRoleBindingDescriptor, AccessRoleDescriptor } from './access-role.js';
import { DataplaneDescriptor } from './dataplane.js';
import { ExternalServiceDescriptor } from './external-service.js';
import { GlobalSecretDescriptor } from './global-secret.js';
import { MeshDescriptor } from './mesh.js';
import { MeshGatewayDescriptor } from './mesh-gateway.js';
import { MeshGatewayRouteDescriptor } from './mesh-gateway-route.js';
import { POLICY_DESCRIPTORS } from './policies/index.js';
import { SecretDescriptor } from './secret.js';
import { ZoneDescriptor } from './zone.js';
import { ZoneEgressDescriptor } from './zone-egress.js';
import { ZoneIngressDescriptor } from './zone-ingress.js';
import { ZoneInsightDescriptor } from './zone-insight.js';
import { ZoneTokenPublicKeyDescriptor } from './zone-token-public-key.js';
import { TokenRevocationListDescriptor } from './token-revocation-list.js';

/** The only list of resource types. REST routes, CLI names, store mappings and KDS flows derive from it. */
export const DESCRIPTORS = [
  MeshDescriptor,
  ZoneDescriptor,
  ZoneInsightDescriptor,
  ZoneIngressDescriptor,
  ZoneEgressDescriptor,
  DataplaneDescriptor,
  ExternalServiceDescriptor,
  MeshGatewayDescriptor,
  MeshGatewayRouteDescriptor,
  SecretDescriptor,
  GlobalSecretDescriptor,
  ZoneTokenPublicKeyDescriptor,
  TokenRevocationListDescriptor,
  AccessRoleDescriptor,
  AccessRoleBindingDescriptor,
  ...POLICY_DESCRIPTORS,
] as const;

export type AnyDescriptor = (typeof DESCRIPTORS)[number];
export type ResourceKind = AnyDescriptor['kind'];

const byKind = new Map<string, AnyDescriptor>(DESCRIPTORS.map((d) => [d.kind, d]));
const pluralAliasesOf = (d: AnyDescriptor): readonly string[] => (d as ResourceDescriptor).pluralAliases ?? [];
const byPlural = new Map<string, AnyDescriptor>(DESCRIPTORS.flatMap((d) => [d.plural, ...pluralAliasesOf(d)].map((p) => [p, d] as const)));
const byCliName = new Map<string, AnyDescriptor>();
for (const d of DESCRIPTORS) {
  const names: readonly string[] = [d.kind, d.plural, d.singular, ...((d as ResourceDescriptor).aliases ?? []), ...pluralAliasesOf(d)];
  for (const n of names) byCliName.set(n.toLowerCase(), d);
}

export function isResourceKind(kind: string): kind is ResourceKind {
  return byKind.has(kind);
}

export function descriptorOf(kind: ResourceKind): AnyDescriptor {
  const d = byKind.get(kind);
  if (!d) throw new Error(`unknown resource kind ${kind}`);
  return d;
}

export function findByKind(kind: string): AnyDescriptor | undefined {
  return byKind.get(kind);
}

/** Resolves a REST path segment: the canonical plural or a former one. */
export function findByPlural(plural: string): AnyDescriptor | undefined {
  return byPlural.get(plural);
}

/** Resolves what a CLI user types (`dp`, `meshgateway`, `MeshTimeout`, `external-services`). */
export function findByCliName(name: string): AnyDescriptor | undefined {
  return byCliName.get(name.toLowerCase());
}

export function kindsWhere(pred: (d: AnyDescriptor) => boolean): ResourceKind[] {
  return DESCRIPTORS.filter(pred).map((d) => d.kind);
}

export const kindsWithFlow = (flow: KdsFlow) => kindsWhere((d) => d.kds.includes(flow));
export const kindsOwnedBy = (owner: Owner) => kindsWhere((d) => d.owner === owner);
