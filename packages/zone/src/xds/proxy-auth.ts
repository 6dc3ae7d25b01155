import { type Metadata, status } from '@grpc/grpc-js';
import {
  DATAPLANE_TOKEN_ISSUER, type DataplaneTokenFailure, DataplaneTokenError, type DataplaneTokenVerifier, type Logger, parseDataplaneNodeId, type DataplaneSpec, type Resource,
  ZONE_TOKEN_ISSUER, type ZoneTokenFailure, ZoneTokenError, type ZoneTokenVerifier,
} from '@meshfed/shared';
import type { Authenticate, AuthResult, ProxyIdentity } from './auth.js';
import { proxyIdOf } from './proxy-id.js';

/** What checks zone tokens: global's key on a federated zone, the zone's own on a standalone one. */
export type ZoneTokenChecker = Pick<ZoneTokenVerifier, 'verify'>;

export interface TokenAuthOptions {
  /** This zone: a zone token for another zone is refused. */
  readonly zone: string;
  readonly dataplaneTokens: DataplaneTokenVerifier;
  /** Asked at each connection, as a federated zone's key arrives and changes over KDS; undefined while it has not. */
  readonly zoneTokenVerifier: () => ZoneTokenChecker | undefined | Promise<ZoneTokenChecker | undefined>;
  readonly log?: Logger;
}

export const KEY_NOT_ARRIVED = "global's zone-token public key has not arrived over KDS yet";

// A token that cannot prove anything is UNAUTHENTICATED; a good token for someone else is PERMISSION_DENIED.
const DATAPLANE_CODE: Record<DataplaneTokenFailure, status> = {
  missing: status.UNAUTHENTICATED, malformed: status.UNAUTHENTICATED, 'bad-signature': status.UNAUTHENTICATED, expired: status.UNAUTHENTICATED,
  revoked: status.UNAUTHENTICATED, 'mesh-mismatch': status.PERMISSION_DENIED, 'name-mismatch': status.PERMISSION_DENIED,
};
const ZONE_CODE: Record<ZoneTokenFailure, status> = {
  missing: status.UNAUTHENTICATED, malformed: status.UNAUTHENTICATED, 'bad-signature': status.UNAUTHENTICATED, expired: status.UNAUTHENTICATED,
  revoked: status.UNAUTHENTICATED, 'wrong-scope': status.PERMISSION_DENIED, 'zone-mismatch': status.PERMISSION_DENIED,
};

const TOKEN_OF: Record<ProxyIdentity['proxyType'], { noun: string; command: string; proxy: string }> = {
  dataplane: { noun: 'dataplane token', command: 'meshfed generate dataplane-token', proxy: 'a dataplane' },
  ingress: { noun: 'zone token', command: 'meshfed generate zone-token --scope ingress', proxy: 'a zone ingress' },
  egress: { noun: 'zone token', command: 'meshfed generate zone-token --scope egress', proxy: 'a zone egress' },
};

const refuse = (code: status, reason: string): AuthResult => ({ ok: false, code, reason });

/** The token of `authorization: Bearer <token>`, or why there is none usable. Never echoes the value. */
export function bearerToken(metadata: Metadata, proxyType: ProxyIdentity['proxyType']): { token: string } | { reason: string } {
  const { noun, command } = TOKEN_OF[proxyType];
  const values = metadata.get('authorization');
  if (values.length === 0) return { reason: `${noun} missing: the proxy sent no "authorization: Bearer <token>" gRPC metadata (get one with "${command}")` };
  if (values.length > 1) return { reason: `the proxy sent ${values.length} "authorization" gRPC metadata values; send exactly one "Bearer <token>"` };
  const value = String(values[0]).trim();
  const match = /^(\S+)(?:\s+(\S*))?$/.exec(value);
  if (!match || match[1]!.toLowerCase() !== 'bearer') {
    const scheme = value.split(/\s/)[0] ?? '';
    return { reason: `the "authorization" gRPC metadata must be "Bearer <token>", but its scheme is ${scheme === '' ? 'missing' : `"${scheme.length > 20 ? `${scheme.slice(0, 20)}…` : scheme}"`}` };
  }
  const token = match[2] ?? '';
  if (token === '') return { reason: `${noun} missing: the "authorization" gRPC metadata says "Bearer" but carries no token` };
  return { token };
}

/** The issuer the token claims, unverified: only to say that a proxy brought the wrong kind of token. */
function claimedIssuer(token: string): unknown {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return payload && typeof payload === 'object' ? (payload as { iss?: unknown }).iss : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Admits a proxy on its token (DESIGN, xDS): a dataplane (`node.id` `<mesh>.<name>`) with a dataplane
 * token for exactly that mesh and name; a zone ingress or egress (`node.id` `<name>`) with a zone token
 * for this zone carrying the `ingress` or `egress` scope. The proxy id is the node id. Every refusal is
 * one sentence, sent to the proxy as the gRPC status message.
 */
export function tokenAuthenticate(o: TokenAuthOptions): Authenticate {
  return async (metadata, node) => {
    const found = bearerToken(metadata, node.proxyType);
    if ('reason' in found) return refuse(status.UNAUTHENTICATED, found.reason);
    const { token } = found;
    const wanted = TOKEN_OF[node.proxyType];
    const issuer = claimedIssuer(token);
    const wrongKind = node.proxyType === 'dataplane' ? issuer === ZONE_TOKEN_ISSUER : issuer === DATAPLANE_TOKEN_ISSUER;
    if (wrongKind) {
      const presented = node.proxyType === 'dataplane' ? 'zone token' : 'dataplane token';
      return refuse(status.UNAUTHENTICATED, `${wanted.proxy} needs a ${wanted.noun} (from "${wanted.command}"), but it presented a ${presented}`);
    }
    try {
      if (node.proxyType === 'dataplane') {
        const id = parseDataplaneNodeId(node.nodeId);
        if (!id) return refuse(status.INVALID_ARGUMENT, `dataplane node id ${JSON.stringify(node.nodeId)} is not <mesh>.<name>`);
        const v = await o.dataplaneTokens.verify(token, id);
        // A proxy that registers its own Dataplane (meshfed-dp) may declare only the tags its token allows.
        const tagsRefused = node.dataplane ? tokenTagsRefusal(v.tags, node.dataplane) : undefined;
        if (tagsRefused) return refuse(status.PERMISSION_DENIED, tagsRefused);
        o.log?.debug({ proxyId: node.nodeId, proxyType: node.proxyType, tokenId: v.id }, 'xDS: proxy authenticated');
        return { ok: true, proxyId: proxyIdOf(node.proxyType, node.nodeId), expiresAt: v.expiresAt, credential: { kind: 'dataplane', id: v.id, kid: v.kid } };
      }
      const verifier = await o.zoneTokenVerifier();
      if (!verifier) return refuse(status.UNAVAILABLE, KEY_NOT_ARRIVED);
      const v = await verifier.verify(token, { zone: o.zone, scope: node.proxyType });
      o.log?.debug({ proxyId: node.nodeId, proxyType: node.proxyType, tokenId: v.id }, 'xDS: proxy authenticated');
      return { ok: true, proxyId: proxyIdOf(node.proxyType, node.nodeId), expiresAt: v.expiresAt, credential: { kind: 'zone', id: v.id, kid: v.kid } };
    } catch (err) {
      if (err instanceof DataplaneTokenError) return refuse(DATAPLANE_CODE[err.reason], err.message);
      if (err instanceof ZoneTokenError) return refuse(ZONE_CODE[err.reason], err.message);
      o.log?.error({ err, proxyId: node.nodeId, proxyType: node.proxyType }, 'xDS: could not check a proxy token');
      return refuse(status.INTERNAL, `the control plane could not check the ${wanted.noun}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/**
 * Kuma's rule for a dataplane token with tags: for each tag, the values the Dataplane declares for it
 * (over its inbounds, or its gateway) must be exactly the token's value. A refusal sentence, or undefined.
 */
export function tokenTagsRefusal(tokenTags: Readonly<Record<string, string>>, dataplane: Resource): string | undefined {
  // Parsed by dataplaneOfNode with the Dataplane schema before any token is looked at.
  const networking = (dataplane.spec as DataplaneSpec).networking;
  const tagSets = [...(networking?.inbound ?? []).map((i) => i.tags ?? {}), ...(networking?.gateway ? [networking.gateway.tags ?? {}] : [])];
  for (const [key, value] of Object.entries(tokenTags)) {
    const declared = [...new Set(tagSets.map((t) => t[key]).filter((v): v is string => v !== undefined))].sort();
    if (declared.length === 1 && declared[0] === value) continue;
    const has = declared.length === 0 ? `no ${key} tag` : `${key} ${declared.map((v) => JSON.stringify(v)).join(', ')}`;
    return `the dataplane token allows tag ${key} ${JSON.stringify(value)} only, but the Dataplane's ${networking?.gateway ? 'gateway declares' : 'inbounds declare'} ${has}`;
  }
  return undefined;
}
