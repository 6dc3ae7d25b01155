import { type Metadata, status } from '@grpc/grpc-js';
import { type EnvoyNode, fromStruct, meshNameSchema, NODE_METADATA, parseDataplaneNodeId, type Resource, resourceNameSchema, type StreamCredential } from '@meshfed/shared';
import { dataplaneOfNode } from './dataplane-lifecycle.js';
import { proxyIdOf, type ProxyType } from './proxy-id.js';

export { parseProxyId, proxyIdOf, type ProxyType } from './proxy-id.js';

/** Who connects, as read from the first request's node. */
export interface ProxyIdentity {
  readonly nodeId: string;
  readonly proxyType: ProxyType;
  /** The Dataplane a dataplane proxy brought in `node.metadata["dataplane.resource"]`, validated and bound to its node id. */
  readonly dataplane?: Resource;
}

/** What the ADS server calls for one admitted stream: once it is set up, and once it has closed. */
export interface StreamLifecycle {
  opened(): void;
  closed(): void;
}

export type AuthResult =
  /**
   * `expiresAt`: when the credential that admitted the stream expires; the stream ends then.
   * `credential`: the token that admitted it, so that revoking it (or its signing key) ends the stream.
   */
  | {
    readonly ok: true; readonly proxyId: string; readonly expiresAt?: Date; readonly credential?: StreamCredential;
    /** Per-stream work the admission set up (registering the proxy's Dataplane), run by the ADS server. */
    readonly lifecycle?: StreamLifecycle;
  }
  | { readonly ok: false; readonly code: status; readonly reason: string };

/** Decides whether a proxy may stream its configuration, and under which proxy id. */
export type Authenticate = (metadata: Metadata, node: ProxyIdentity) => AuthResult | Promise<AuthResult>;

/**
 * Reads `node.id`, `node.metadata.proxyType` (dataplane when absent) and, for a dataplane, the
 * Dataplane it may bring in `node.metadata["dataplane.resource"]`; a reason when unusable.
 */
export function proxyIdentityOf(node: EnvoyNode | undefined): ProxyIdentity | { error: string } {
  const nodeId = node?.id ?? '';
  if (nodeId === '') return { error: 'the first request carries no node.id' };
  const metadata = fromStruct(node?.metadata);
  const raw = metadata[NODE_METADATA.proxyType] ?? 'dataplane';
  if (raw !== 'dataplane' && raw !== 'ingress' && raw !== 'egress') {
    return { error: `node.metadata.proxyType ${JSON.stringify(raw)} is not one of dataplane, ingress, egress` };
  }
  if (raw === 'dataplane') {
    const parts = parseDataplaneNodeId(nodeId);
    if (!parts || !meshNameSchema.safeParse(parts.mesh).success || !resourceNameSchema.safeParse(parts.name).success) {
      return { error: `dataplane node id ${JSON.stringify(nodeId)} is not <mesh>.<name> with a valid mesh and dataplane name` };
    }
    const brought = dataplaneOfNode(nodeId, metadata);
    if ('error' in brought) return brought;
    if (brought.dataplane) return { nodeId, proxyType: raw, dataplane: brought.dataplane };
  } else if (!resourceNameSchema.safeParse(nodeId).success) {
    return { error: `${raw} node id ${JSON.stringify(nodeId)} is not a valid Zone${raw === 'ingress' ? 'Ingress' : 'Egress'} name` };
  }
  return { nodeId, proxyType: raw };
}

/** `--dp-auth none` (labs): every proxy is who its node id says. */
export const allowAll: Authenticate = (_metadata, node) => ({ ok: true, proxyId: proxyIdOf(node.proxyType, node.nodeId) });

/** The default until dataplane and zone tokens exist: refuse, saying why. */
export const refuseUntilTokens: Authenticate = () => ({
  ok: false, code: status.UNAUTHENTICATED,
  reason: 'proxy tokens are not implemented yet: start the zone control plane with --dp-auth none',
});
