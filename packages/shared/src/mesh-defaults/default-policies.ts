import type { Resource } from '../resources/resource.js';
import { parseResource } from '../resources/validate.js';

/** `skipCreatingInitialPolicies: ["*"]` skips every default policy. */
export const SKIP_ALL_INITIAL_POLICIES = '*';

/** One default policy Kuma creates with every new mesh: its type, name prefix and spec. */
interface DefaultPolicy {
  readonly type: 'MeshTimeout' | 'MeshCircuitBreaker' | 'MeshRetry';
  /** The policy is named `<prefix>-<mesh>`. */
  readonly prefix: string;
  readonly spec: Record<string, unknown>;
}

const mesh = { kind: 'Mesh' } as const;

/**
 * Kuma 2.x's defaults (pkg/defaults/mesh/{meshtimeout,meshcircuitbreaker,meshretry}.go, unchanged from
 * 2.7 to 2.14; durations from pkg/plugins/policies/core/defaults/consts.go). The sidecar timeouts are
 * the outbound defaults on `to` and twice the connect, idle and stream-idle ones on `from`, with
 * request timeout and max stream duration off (0s) on the inbound side; gateways get their own.
 */
const DEFAULT_POLICIES: readonly DefaultPolicy[] = [
  {
    type: 'MeshTimeout',
    prefix: 'mesh-gateways-timeout-all',
    spec: {
      targetRef: { kind: 'Mesh', proxyTypes: ['Gateway'] },
      from: [{ targetRef: mesh, default: { idleTimeout: '5m', http: { streamIdleTimeout: '5s', requestHeadersTimeout: '500ms' } } }],
      to: [{ targetRef: mesh, default: { idleTimeout: '1h', http: { streamIdleTimeout: '5s' } } }],
    },
  },
  {
    type: 'MeshTimeout',
    prefix: 'mesh-timeout-all',
    spec: {
      targetRef: { kind: 'Mesh', proxyTypes: ['Sidecar'] },
      from: [{
        targetRef: mesh,
        default: { connectionTimeout: '10s', idleTimeout: '2h', http: { requestTimeout: '0s', streamIdleTimeout: '1h', maxStreamDuration: '0s' } },
      }],
      to: [{
        targetRef: mesh,
        default: { connectionTimeout: '5s', idleTimeout: '1h', http: { requestTimeout: '15s', streamIdleTimeout: '30m' } },
      }],
    },
  },
  {
    type: 'MeshCircuitBreaker',
    prefix: 'mesh-circuit-breaker-all',
    spec: {
      targetRef: mesh,
      to: [{ targetRef: mesh, default: { connectionLimits: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 } } }],
    },
  },
  {
    type: 'MeshRetry',
    prefix: 'mesh-retry-all',
    spec: {
      targetRef: mesh,
      to: [{
        targetRef: mesh,
        default: {
          tcp: { maxConnectAttempt: 5 },
          http: { numRetries: 5, perTryTimeout: '16s', backOff: { baseInterval: '25ms', maxInterval: '250ms' } },
          grpc: { numRetries: 5, perTryTimeout: '16s', backOff: { baseInterval: '25ms', maxInterval: '250ms' } },
        },
      }],
    },
  },
];

/** What Kuma would create for a new mesh, and what its skip list leaves out (by name). */
export interface MeshDefaultPolicies {
  readonly create: readonly Resource[];
  readonly skipped: readonly string[];
}

/**
 * The default policies of a new mesh named `meshName`, as the REST API would store them (validated by
 * the policy's own schema). `skip` is the mesh's `skipCreatingInitialPolicies`: `*` skips all, a type
 * name skips every default of that type (both MeshTimeouts for `MeshTimeout`), as in Kuma. No labels:
 * Kuma creates them with none on Universal, and syncing adds `kuma.io/origin` in zones as for any policy.
 */
export function defaultPoliciesFor(meshName: string, skip: readonly string[] = []): MeshDefaultPolicies {
  const all = DEFAULT_POLICIES.map((p) => ({ type: p.type, name: `${p.prefix}-${meshName}`, spec: p.spec }));
  if (skip.includes(SKIP_ALL_INITIAL_POLICIES)) return { create: [], skipped: all.map((p) => p.name) };
  const create: Resource[] = [];
  const skipped: string[] = [];
  for (const p of all) {
    if (skip.includes(p.type)) skipped.push(p.name);
    else create.push(parseResource({ type: p.type, name: p.name, mesh: meshName, labels: {}, spec: structuredClone(p.spec) }));
  }
  return { create, skipped };
}
