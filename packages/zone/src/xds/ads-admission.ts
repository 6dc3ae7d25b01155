import { type Metadata, status } from '@grpc/grpc-js';
import { adsCodec, type EnvoyNode, type StreamCredential } from '@meshfed/shared';
import type { AdsRefusalReason } from './ads-metrics.js';
import { type Authenticate, type ProxyIdentity, proxyIdentityOf, type StreamLifecycle } from './auth.js';
import type { AdsProtocol } from './proxy-insights.js';

export type Admission =
  | {
    readonly ok: true; readonly proxyId: string; readonly identity: ProxyIdentity; readonly expiresAt?: Date; readonly credential?: StreamCredential;
    readonly lifecycle?: StreamLifecycle;
  }
  | { readonly ok: false; readonly code: status; readonly reason: string; readonly why: AdsRefusalReason; readonly nodeId?: string };

/** The metric reason of an authenticator's refusal code. */
function reasonOfAuthCode(code: status): AdsRefusalReason {
  if (code === status.UNAUTHENTICATED) return 'unauthenticated';
  if (code === status.PERMISSION_DENIED) return 'permission-denied';
  return 'other';
}

/**
 * Decides from a stream's first request whether to serve it, and as which proxy: the request must
 * decode and name the proxy (node.id, node.metadata.proxyType), and `authenticate` must admit it.
 * Never throws; a refusal carries the gRPC code, a reason for the proxy, and a bounded metric reason.
 */
export async function admit(first: Buffer, protocol: AdsProtocol, metadata: Metadata, authenticate: Authenticate): Promise<Admission> {
  const decoded = protocol === 'sotw' ? adsCodec.decodeRequest(first) : adsCodec.decodeDeltaRequest(first);
  if (!decoded.ok) return { ok: false, code: status.INVALID_ARGUMENT, reason: `the first request does not decode: ${decoded.error}`, why: 'bad-first-request' };
  const node: EnvoyNode | undefined = decoded.value.node;
  const identity = proxyIdentityOf(node);
  if ('error' in identity) return { ok: false, code: status.INVALID_ARGUMENT, reason: identity.error, why: 'bad-first-request', ...(node?.id ? { nodeId: node.id } : {}) };
  try {
    const r = await authenticate(metadata, identity);
    return r.ok
      ? { ok: true, proxyId: r.proxyId, identity, ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}), ...(r.credential ? { credential: r.credential } : {}), ...(r.lifecycle ? { lifecycle: r.lifecycle } : {}) }
      : { ok: false, code: r.code, reason: r.reason, why: reasonOfAuthCode(r.code), nodeId: identity.nodeId };
  } catch (err) {
    return { ok: false, code: status.INTERNAL, reason: `authentication failed: ${(err as Error).message}`, why: 'auth-error', nodeId: identity.nodeId };
  }
}
