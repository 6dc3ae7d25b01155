import { PROTOCOL_TAG } from '@meshfed/shared';

/** The protocols a sidecar configures differently (`kuma.io/protocol`); anything else is carried as TCP. */
export type Protocol = 'tcp' | 'http' | 'http2' | 'grpc';

/**
 * What each protocol is carried over, most specific first (Kuma's protocol stacks): two sides that
 * disagree meet at the first protocol both stacks have, so http and http2 meet only at tcp.
 */
const STACKS: Readonly<Record<Protocol, readonly Protocol[]>> = {
  grpc: ['grpc', 'http2', 'tcp'],
  http2: ['http2', 'tcp'],
  http: ['http', 'tcp'],
  tcp: ['tcp'],
};

/** The protocol a set of tags declares; absent or unknown (kafka, a typo) is tcp, which carries anything. */
export function protocolOf(tags: Readonly<Record<string, string>>): Protocol {
  const p = tags[PROTOCOL_TAG];
  return p !== undefined && Object.hasOwn(STACKS, p) ? (p as Protocol) : 'tcp';
}

/** The protocol both sides can speak (Kuma's GetCommonProtocol). */
export function commonProtocol(a: Protocol, b: Protocol): Protocol {
  if (a === b) return a;
  const other = STACKS[b];
  return STACKS[a].find((p) => other.includes(p)) ?? 'tcp';
}

/** Whether a protocol gets an HTTP connection manager (and so HTTP policies) rather than a TCP proxy. */
export const isHttp = (p: Protocol): boolean => p !== 'tcp';

/** Whether the upstream connection must be HTTP/2 (gRPC is HTTP/2). */
export const isHttp2 = (p: Protocol): boolean => p === 'http2' || p === 'grpc';
