import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../errors/api-error.js';
import type { ResourceDescriptor } from '../descriptor.js';
import { DESCRIPTORS, findByCliName, findByPlural } from '../registry.js';
import { parseResource } from '../validate.js';
import { POLICY_DESCRIPTORS } from './index.js';

const policy = (type: string, spec: Record<string, unknown>) => ({ type, name: 'p1', mesh: 'default', spec });

function rejects(body: unknown, field: string, message?: RegExp) {
  assert.throws(
    () => parseResource(body),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError, `expected ValidationError, got ${String(e)}`);
      const cause = e.causes.find((c) => c.field === field);
      assert.ok(cause, `no cause at ${field}; causes: ${JSON.stringify(e.causes)}`);
      if (message) assert.match(cause.message, message);
      return true;
    },
  );
}

function accepts(body: unknown) {
  try {
    return parseResource(body);
  } catch (e) {
    if (e instanceof ValidationError) assert.fail(`unexpected causes: ${JSON.stringify(e.causes)}`);
    throw e;
  }
}

describe('policy descriptors', () => {
  it('have unique plurals, with Kuma\'s meshretries', () => {
    const plurals = POLICY_DESCRIPTORS.map((d) => d.plural);
    assert.equal(new Set(plurals).size, plurals.length);
    assert.equal(POLICY_DESCRIPTORS.find((d) => d.kind === 'MeshRetry')?.plural, 'meshretries');
    assert.equal(POLICY_DESCRIPTORS.find((d) => d.kind === 'MeshRetry')?.singular, 'meshretry');
    assert.equal(POLICY_DESCRIPTORS.find((d) => d.kind === 'MeshTimeout')?.plural, 'meshtimeouts');
  });

  it('call MeshLoadBalancingStrategy meshloadbalancingstrategies, as Kuma does, and still answer to the former plural', () => {
    assert.equal(findByPlural('meshloadbalancingstrategies')?.kind, 'MeshLoadBalancingStrategy');
    assert.equal(findByPlural('meshloadbalancingstrategys')?.kind, 'MeshLoadBalancingStrategy');
    assert.equal(findByCliName('meshloadbalancingstrategys')?.kind, 'MeshLoadBalancingStrategy');
    assert.equal(findByPlural('meshloadbalancingstrategys')?.plural, 'meshloadbalancingstrategies');
  });

  it('keep every plural, former ones included, distinct', () => {
    const plurals = DESCRIPTORS.map((d) => d.plural);
    const former = DESCRIPTORS.flatMap((d) => (d as ResourceDescriptor).pluralAliases ?? []);
    assert.equal(new Set([...plurals, ...former]).size, plurals.length + former.length);
  });

  it('are listed in CLI order', () => {
    assert.deepEqual(
      POLICY_DESCRIPTORS.map((d) => d.kind),
      ['MeshTrafficPermission', 'MeshTimeout', 'MeshRetry', 'MeshCircuitBreaker', 'MeshHealthCheck', 'MeshRateLimit',
        'MeshFaultInjection', 'MeshLoadBalancingStrategy', 'MeshHTTPRoute', 'MeshTCPRoute', 'MeshAccessLog'],
    );
  });
});

describe('MeshTimeout', () => {
  const valid = {
    targetRef: { kind: 'MeshService', name: 'frontend' },
    to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { idleTimeout: '20s', connectionTimeout: '2s', http: { requestTimeout: '2s', streamIdleTimeout: '1h', maxStreamDuration: '0s' } } }],
    from: [{ targetRef: { kind: 'Mesh' }, default: { http: { requestHeadersTimeout: '500ms' } } }],
  };

  it('accepts a documented example and defaults targetRef to Mesh', () => {
    accepts(policy('MeshTimeout', valid));
    const r = accepts(policy('MeshTimeout', { to: valid.to }));
    assert.deepEqual((r.spec as { spec: { targetRef: unknown } }).spec.targetRef, { kind: 'Mesh' });
  });

  it('rejects malformed durations, empty sections and zero connect timeouts', () => {
    rejects(policy('MeshTimeout', { to: [{ targetRef: { kind: 'Mesh' }, default: { http: { requestTimeout: '2 seconds' } } }] }), 'spec.to[0].default.http.requestTimeout', /duration/);
    rejects(policy('MeshTimeout', { to: [{ targetRef: { kind: 'Mesh' }, default: { connectionTimeout: '0s' } }] }), 'spec.to[0].default.connectionTimeout', /greater than 0/);
    rejects(policy('MeshTimeout', { to: [{ targetRef: { kind: 'Mesh' }, default: {} }] }), 'spec.to[0].default', /at least one of/);
    rejects(policy('MeshTimeout', { to: [{ targetRef: { kind: 'Mesh' }, default: { http: { requestTimout: '1s' } } }] }), 'spec.to[0].default.http.requestTimout', /unknown field/);
  });

  it('limits peers by top-level kind', () => {
    rejects(policy('MeshTimeout', { from: [{ targetRef: { kind: 'MeshService', name: 'x' }, default: { idleTimeout: '1s' } }] }), 'spec.from[0].targetRef.kind', /Mesh/);
    rejects(policy('MeshTimeout', { targetRef: { kind: 'MeshGateway', name: 'gw' }, from: valid.from }), 'spec.from', /must not be defined/);
    rejects(
      policy('MeshTimeout', { targetRef: { kind: 'MeshHTTPRoute', name: 'r' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '1s' } }] }),
      'spec.to[0].default.idleTimeout',
      /MeshHTTPRoute/,
    );
    rejects(policy('MeshTimeout', {}), 'spec', /at least one of from, to/);
  });

  it('takes tags on a MeshGateway target: they pick the gateway\'s listeners by their tags', () => {
    accepts(policy('MeshTimeout', { targetRef: { kind: 'MeshGateway', name: 'gw', tags: { port: 'http-8080' } }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '1s' } }] }));
    rejects(policy('MeshTimeout', { targetRef: { kind: 'MeshService', name: 'gw', tags: { port: 'http-8080' } }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '1s' } }] }), 'spec.targetRef.tags', /cannot be set/);
  });
});

describe('MeshRetry', () => {
  it('accepts a documented example', () => {
    accepts(
      policy('MeshRetry', {
        targetRef: { kind: 'Mesh' },
        to: [
          {
            targetRef: { kind: 'MeshService', name: 'backend' },
            default: {
              tcp: { maxConnectAttempt: 5 },
              http: {
                numRetries: 10,
                perTryTimeout: '1s',
                backOff: { baseInterval: '15s', maxInterval: '20m' },
                retryOn: ['5xx', 'GatewayError', '503'],
                retriableResponseHeaders: [{ name: 'x-retry', type: 'Exact', value: 'true' }],
                rateLimitedBackOff: { resetHeaders: [{ name: 'retry-after', format: 'Seconds' }], maxInterval: '30s' },
                hostSelection: [{ predicate: 'OmitPreviousHosts' }, { predicate: 'OmitPreviousPriorities', updateFrequency: 2 }],
              },
              grpc: { numRetries: 5, retryOn: ['Canceled', 'Unavailable'] },
            },
          },
        ],
      }),
    );
  });

  it('rejects unknown retry conditions and from sections', () => {
    rejects(policy('MeshRetry', { to: [{ targetRef: { kind: 'Mesh' }, default: { http: { retryOn: ['5xx', '700'] } } }] }), 'spec.to[0].default.http.retryOn[1]', /100-599/);
    rejects(policy('MeshRetry', { to: [{ targetRef: { kind: 'Mesh' }, default: { grpc: { retryOn: ['Aborted'] } } }] }), 'spec.to[0].default.grpc.retryOn[0]', /must be one of/);
    rejects(policy('MeshRetry', { to: [{ targetRef: { kind: 'Mesh' }, default: { tcp: { maxConnectAttempt: 0 } } }] }), 'spec.to[0].default.tcp.maxConnectAttempt', /greater than 0/);
    rejects(policy('MeshRetry', { from: [{ targetRef: { kind: 'Mesh' }, default: {} }] }), 'spec.from', /unknown field/);
    rejects(
      policy('MeshRetry', { to: [{ targetRef: { kind: 'Mesh' }, default: { http: { hostSelection: [{ predicate: 'OmitHostsWithTags' }] } } }] }),
      'spec.to[0].default.http.hostSelection[0].tags',
      /required/,
    );
  });
});

describe('MeshCircuitBreaker', () => {
  it('accepts a documented example', () => {
    accepts(
      policy('MeshCircuitBreaker', {
        targetRef: { kind: 'MeshService', name: 'web-frontend' },
        to: [
          {
            targetRef: { kind: 'MeshService', name: 'backend' },
            default: {
              connectionLimits: { maxConnections: 2, maxPendingRequests: 8, maxRetries: 2, maxRequests: 2 },
              outlierDetection: {
                disabled: false,
                interval: '5s',
                baseEjectionTime: '30s',
                maxEjectionPercent: 20,
                splitExternalAndLocalErrors: true,
                detectors: {
                  totalFailures: { consecutive: 10 },
                  gatewayFailures: { consecutive: 10 },
                  localOriginFailures: { consecutive: 10 },
                  successRate: { minimumHosts: 5, requestVolume: 10, standardDeviationFactor: '1.9' },
                  failurePercentage: { requestVolume: 10, minimumHosts: 5, threshold: 85 },
                },
              },
            },
          },
        ],
      }),
    );
  });

  it('rejects out-of-range percentages and missing detectors', () => {
    const od = (o: Record<string, unknown>) => policy('MeshCircuitBreaker', { from: [{ targetRef: { kind: 'Mesh' }, default: { outlierDetection: o } }] });
    rejects(od({ maxEjectionPercent: 120, detectors: { totalFailures: { consecutive: 1 } } }), 'spec.from[0].default.outlierDetection.maxEjectionPercent', /0 and 100/);
    rejects(od({ interval: '5s' }), 'spec.from[0].default.outlierDetection.detectors', /required/);
    rejects(
      policy('MeshCircuitBreaker', { to: [{ targetRef: { kind: 'Mesh' }, default: { connectionLimits: { maxConnections: -1 } } }] }),
      'spec.to[0].default.connectionLimits.maxConnections',
      /greater than 0/,
    );
  });
});

describe('MeshHealthCheck', () => {
  it('accepts a documented example', () => {
    accepts(
      policy('MeshHealthCheck', {
        targetRef: { kind: 'Mesh' },
        to: [
          {
            targetRef: { kind: 'MeshService', name: 'backend' },
            default: {
              interval: '10s',
              timeout: '2s',
              unhealthyThreshold: 3,
              healthyThreshold: 1,
              failTrafficOnPanic: true,
              noTrafficInterval: '1s',
              healthyPanicThreshold: 0,
              reuseConnection: true,
              tcp: { send: 'Zm9v', receive: ['YmFy', 'YmF6'] },
              http: { path: '/health', expectedStatuses: [200, 201], requestHeadersToAdd: { set: [{ name: 'content-type', value: 'application/json' }] } },
              grpc: { serviceName: 'grpc-client' },
            },
          },
        ],
      }),
    );
  });

  it('rejects bad status codes, zero thresholds and missing checks', () => {
    const hc = (d: Record<string, unknown>) => policy('MeshHealthCheck', { to: [{ targetRef: { kind: 'Mesh' }, default: d }] });
    rejects(hc({ http: { expectedStatuses: [200, 600] } }), 'spec.to[0].default.http.expectedStatuses[1]', /100-599/);
    rejects(hc({ http: {}, healthyThreshold: 0 }), 'spec.to[0].default.healthyThreshold', /greater than 0/);
    rejects(hc({ interval: '10s' }), 'spec.to[0].default', /tcp, http, grpc/);
    rejects(hc({ tcp: { send: 'not base64!' } }), 'spec.to[0].default.tcp.send', /base64/);
  });
});

describe('MeshRateLimit', () => {
  it('accepts a documented example', () => {
    accepts(
      policy('MeshRateLimit', {
        targetRef: { kind: 'MeshService', name: 'backend' },
        from: [
          {
            targetRef: { kind: 'Mesh' },
            default: {
              local: {
                http: {
                  requestRate: { num: 5, interval: '10s' },
                  onRateLimit: { status: 423, headers: { set: [{ name: 'x-kuma-rate-limited', value: 'true' }] } },
                },
                tcp: { connectionRate: { num: 5, interval: '10s' } },
              },
            },
          },
        ],
      }),
    );
    accepts(policy('MeshRateLimit', { targetRef: { kind: 'MeshGateway', name: 'edge' }, to: [{ targetRef: { kind: 'Mesh' }, default: { local: { tcp: { disabled: true } } } }] }));
  });

  it('rejects bad rates, status codes and misplaced sections', () => {
    const rl = (local: Record<string, unknown>) => policy('MeshRateLimit', { from: [{ targetRef: { kind: 'Mesh' }, default: { local } }] });
    rejects(rl({ http: { requestRate: { num: 0, interval: '10s' } } }), 'spec.from[0].default.local.http.requestRate.num', /greater than 0/);
    rejects(rl({ http: { requestRate: { num: 1, interval: '10ms' } } }), 'spec.from[0].default.local.http.requestRate.interval', /50ms/);
    rejects(rl({ http: { onRateLimit: { status: 42 } } }), 'spec.from[0].default.local.http.onRateLimit.status', /100-599/);
    rejects(rl({}), 'spec.from[0].default.local', /http, tcp/);
    rejects(
      policy('MeshRateLimit', { targetRef: { kind: 'MeshGateway', name: 'edge' }, from: [{ targetRef: { kind: 'Mesh' }, default: { local: { tcp: { disabled: true } } } }] }),
      'spec.from',
      /gateways/,
    );
    rejects(
      policy('MeshRateLimit', { targetRef: { kind: 'MeshService', name: 'b' }, to: [{ targetRef: { kind: 'Mesh' }, default: { local: { tcp: { disabled: true } } } }] }),
      'spec.to',
      /gateways/,
    );
  });
});

describe('MeshFaultInjection', () => {
  it('accepts a documented example', () => {
    accepts(
      policy('MeshFaultInjection', {
        targetRef: { kind: 'MeshService', name: 'backend' },
        from: [
          {
            targetRef: { kind: 'MeshSubset', tags: { 'kuma.io/service': 'frontend' } },
            default: {
              http: [
                { abort: { httpStatus: 500, percentage: '2.5' } },
                { delay: { value: '5s', percentage: 5 } },
                { responseBandwidth: { limit: '50Mbps', percentage: 50 } },
              ],
            },
          },
        ],
      }),
    );
  });

  it('rejects bad percentages, status codes and bandwidths', () => {
    const fi = (fault: Record<string, unknown>) => policy('MeshFaultInjection', { from: [{ targetRef: { kind: 'Mesh' }, default: { http: [fault] } }] });
    rejects(fi({ abort: { httpStatus: 500, percentage: 101 } }), 'spec.from[0].default.http[0].abort.percentage', /0 and 100/);
    rejects(fi({ abort: { httpStatus: 99, percentage: 1 } }), 'spec.from[0].default.http[0].abort.httpStatus', /100-599/);
    rejects(fi({ delay: { value: '5s', percentage: 'lots' } }), 'spec.from[0].default.http[0].delay.percentage', /decimal/);
    rejects(fi({ responseBandwidth: { limit: '50 megabits', percentage: 1 } }), 'spec.from[0].default.http[0].responseBandwidth.limit', /bandwidth/);
    rejects(
      policy('MeshFaultInjection', { to: [{ targetRef: { kind: 'Mesh' }, default: { http: [] } }] }),
      'spec.to',
      /MeshGateway/,
    );
  });
});

describe('MeshLoadBalancingStrategy', () => {
  it('accepts a documented example', () => {
    accepts(
      policy('MeshLoadBalancingStrategy', {
        targetRef: { kind: 'Mesh' },
        to: [
          {
            targetRef: { kind: 'MeshService', name: 'backend' },
            default: {
              localityAwareness: {
                localZone: { affinityTags: [{ key: 'k8s.io/node', weight: 9 }, { key: 'k8s.io/az', weight: 1 }] },
                crossZone: {
                  failover: [{ from: { zones: ['zone-1'] }, to: { type: 'Only', zones: ['zone-2'] } }, { to: { type: 'Any' } }],
                  failoverThreshold: { percentage: 70 },
                },
              },
              loadBalancer: {
                type: 'RingHash',
                ringHash: {
                  hashFunction: 'MurmurHash2',
                  minRingSize: 64,
                  maxRingSize: 1024,
                  hashPolicies: [
                    { type: 'Header', header: { name: 'x-header' } },
                    { type: 'Connection', connection: { sourceIP: true }, terminal: true },
                  ],
                },
              },
            },
          },
        ],
      }),
    );
  });

  it('rejects unknown balancer types and inconsistent settings', () => {
    const lb = (loadBalancer: Record<string, unknown>) => policy('MeshLoadBalancingStrategy', { to: [{ targetRef: { kind: 'Mesh' }, default: { loadBalancer } }] });
    rejects(lb({ type: 'WeightedRoundRobin' }), 'spec.to[0].default.loadBalancer.type', /RoundRobin, LeastRequest, RingHash, Random, Maglev/);
    rejects(lb({ type: 'RoundRobin', maglev: { tableSize: 7 } }), 'spec.to[0].default.loadBalancer.maglev', /type is RoundRobin/);
    rejects(lb({ type: 'LeastRequest', leastRequest: { choiceCount: 1 } }), 'spec.to[0].default.loadBalancer.leastRequest.choiceCount', /at least 2/);
    rejects(lb({ type: 'Maglev', maglev: { hashPolicies: [{ type: 'Cookie' }] } }), 'spec.to[0].default.loadBalancer.maglev.hashPolicies[0].cookie', /required/);
    rejects(
      policy('MeshLoadBalancingStrategy', { to: [{ targetRef: { kind: 'Mesh' }, default: { localityAwareness: { crossZone: { failover: [{ to: { type: 'Only' } }] } } } }] }),
      'spec.to[0].default.localityAwareness.crossZone.failover[0].to.zones',
      /must not be empty/,
    );
  });
});

describe('MeshHTTPRoute', () => {
  it('accepts a documented example', () => {
    accepts(
      policy('MeshHTTPRoute', {
        targetRef: { kind: 'MeshService', name: 'frontend' },
        to: [
          {
            targetRef: { kind: 'MeshService', name: 'backend' },
            rules: [
              {
                matches: [{ path: { type: 'PathPrefix', value: '/v1' }, method: 'GET', headers: [{ type: 'Exact', name: 'version', value: 'v1' }], queryParams: [{ type: 'Exact', name: 'debug', value: '1' }] }],
                default: {
                  filters: [
                    { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-custom', value: 'xyz' }], remove: ['x-old'] } },
                    { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
                    { type: 'RequestMirror', requestMirror: { percentage: '10', backendRef: { kind: 'MeshService', name: 'shadow' } } },
                  ],
                  backendRefs: [
                    { kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v1' }, weight: 90 },
                    { kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v2' }, weight: 10 },
                  ],
                },
              },
              { matches: [{ path: { type: 'Exact', value: '/health' } }], default: { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } }] } },
            ],
          },
        ],
      }),
    );
  });

  it('rejects relative paths, bad match types, negative weights and misplaced hostnames', () => {
    const route = (rule: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      policy('MeshHTTPRoute', { to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, rules: [rule], ...extra }] });
    rejects(route({ matches: [{ path: { type: 'Exact', value: 'health' } }], default: {} }), 'spec.to[0].rules[0].matches[0].path.value', /absolute path/);
    rejects(route({ matches: [{ path: { type: 'PathPrefix', value: 'v1' } }], default: {} }), 'spec.to[0].rules[0].matches[0].path.value', /"\/"/);
    rejects(route({ matches: [{ path: { type: 'Prefix', value: '/v1' } }], default: {} }), 'spec.to[0].rules[0].matches[0].path.type', /Exact, PathPrefix, RegularExpression/);
    rejects(
      route({ matches: [{ path: { type: 'PathPrefix', value: '/' } }], default: { backendRefs: [{ kind: 'MeshService', name: 'backend', weight: -1 }] } }),
      'spec.to[0].rules[0].default.backendRefs[0].weight',
      /negative/,
    );
    rejects(route({ matches: [], default: {} }), 'spec.to[0].rules[0].matches', /at least one match/);
    rejects(route({ matches: [{ path: { type: 'Exact', value: '/a' } }], default: {} }, { hostnames: ['example.com'] }), 'spec.to[0].hostnames', /MeshGateway/);
    rejects(
      route({ matches: [{ path: { type: 'Exact', value: '/a' } }], default: { filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }] } }),
      'spec.to[0].rules[0].default.filters[0].urlRewrite.path.type',
      /PathPrefix/,
    );
    rejects(
      policy('MeshHTTPRoute', { to: [{ targetRef: { kind: 'Mesh' }, rules: [{ matches: [{ method: 'GET' }], default: {} }] }] }),
      'spec.to[0].targetRef.kind',
      /MeshService/,
    );
  });

  it('rejects backendRefs whose weights are all 0, and two rules with the same matches', () => {
    const to = (rules: unknown[]) => policy('MeshHTTPRoute', { to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, rules }] });
    const api = [{ path: { type: 'PathPrefix', value: '/api' } }];
    rejects(
      to([{ matches: api, default: { backendRefs: [{ kind: 'MeshService', name: 'backend', weight: 0 }] } }]),
      'spec.to[0].rules[0].default.backendRefs',
      /must not all be 0/,
    );
    rejects(
      to([{ matches: api, default: {} }, { matches: [{ path: { type: 'Exact', value: '/' } }], default: {} }, { matches: api, default: {} }]),
      'spec.to[0].rules[2].matches',
      /same as rules\[0\]\.matches/,
    );
    accepts(to([{ matches: api, default: {} }, { matches: [...api, { method: 'GET' }], default: {} }]));
  });

  it('refuses what Envoy would refuse: regexes RE2 cannot run, an empty prefix, paths with ? or #, the host header, two filters of a type, a redirect with a rewrite', () => {
    const rule = (r: Record<string, unknown>) => policy('MeshHTTPRoute', { to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, rules: [r] }] });
    const at = 'spec.to[0].rules[0]';
    rejects(rule({ matches: [{ path: { type: 'RegularExpression', value: '/a(?=b)' } }], default: {} }), `${at}.matches[0].path.value`, /lookaround/);
    rejects(rule({ matches: [{ headers: [{ type: 'RegularExpression', name: 'x', value: '(a)\\1' }] }], default: {} }), `${at}.matches[0].headers[0].value`, /back-reference/);
    rejects(rule({ matches: [{ headers: [{ type: 'Prefix', name: 'x' }] }], default: {} }), `${at}.matches[0].headers[0].value`, /must not be empty/);
    rejects(rule({ matches: [{ queryParams: [{ type: 'RegularExpression', name: 'q', value: '[' }] }], default: {} }), `${at}.matches[0].queryParams[0].value`, /not a valid regular expression/);
    rejects(rule({ matches: [{ path: { type: 'PathPrefix', value: '/a?b' } }], default: {} }), `${at}.matches[0].path.value`, /without "\?" or "#"/);
    const api = [{ path: { type: 'PathPrefix', value: '/api' } }];
    rejects(rule({ matches: api, default: { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'host', value: 'x' }] } }] } }), `${at}.default.filters[0].requestHeaderModifier.set[0].name`, /host header/);
    const rewrite = { type: 'URLRewrite', urlRewrite: { hostname: 'a.example' } };
    rejects(rule({ matches: api, default: { filters: [rewrite, rewrite] } }), `${at}.default.filters[1].type`, /already filters\[0\]/);
    rejects(
      rule({ matches: api, default: { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }, rewrite] } }),
      `${at}.default.filters[1].type`,
      /cannot be combined/,
    );
    const mirror = { type: 'RequestMirror', requestMirror: { backendRef: { kind: 'MeshService', name: 'shadow' } } };
    accepts(rule({ matches: api, default: { filters: [mirror, mirror] } }));
  });
});

describe('MeshTCPRoute', () => {
  it('accepts a documented example', () => {
    accepts(
      policy('MeshTCPRoute', {
        targetRef: { kind: 'MeshService', name: 'frontend' },
        to: [
          {
            targetRef: { kind: 'MeshService', name: 'backend' },
            rules: [
              {
                default: {
                  backendRefs: [
                    { kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v0' }, weight: 90 },
                    { kind: 'MeshService', name: 'other-backend', weight: 10 },
                  ],
                },
              },
            ],
          },
        ],
      }),
    );
  });

  it('rejects extra rules, empty or negative backends and matches', () => {
    const to = (rules: unknown[]) => policy('MeshTCPRoute', { to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, rules }] });
    const backend = { kind: 'MeshService', name: 'backend' };
    rejects(to([{ default: { backendRefs: [backend] } }, { default: { backendRefs: [backend] } }]), 'spec.to[0].rules', /exactly one/);
    rejects(to([{ default: { backendRefs: [] } }]), 'spec.to[0].rules[0].default.backendRefs', /at least one/);
    rejects(to([{ default: { backendRefs: [{ ...backend, weight: -5 }] } }]), 'spec.to[0].rules[0].default.backendRefs[0].weight', /negative/);
    rejects(to([{ matches: [], default: { backendRefs: [backend] } }]), 'spec.to[0].rules[0].matches', /unknown field/);
    rejects(to([{ default: { backendRefs: [{ kind: 'Mesh' }] } }]), 'spec.to[0].rules[0].default.backendRefs[0].kind', /MeshService/);
    rejects(to([{ default: { backendRefs: [{ ...backend, weight: 0 }, { ...backend, name: 'b2', weight: 0 }] } }]), 'spec.to[0].rules[0].default.backendRefs', /must not all be 0/);
    accepts(to([{ default: { backendRefs: [{ ...backend, weight: 0 }, { ...backend, name: 'b2' }] } }]));
    // Envoy's weights and limits are uint32: what cannot be encoded is refused when written.
    rejects(to([{ default: { backendRefs: [{ ...backend, weight: 1_000_001 }] } }]), 'spec.to[0].rules[0].default.backendRefs[0].weight', /at most 1000000/);
    rejects(
      policy('MeshCircuitBreaker', { to: [{ targetRef: { kind: 'Mesh' }, default: { connectionLimits: { maxConnections: 4_294_967_296 } } }] }),
      'spec.to[0].default.connectionLimits.maxConnections',
      /at most 4294967295/,
    );
  });
});

describe('MeshAccessLog', () => {
  const fromMesh = (backends: unknown[]) => policy('MeshAccessLog', { from: [{ targetRef: { kind: 'Mesh' }, default: { backends } }] });
  const toMesh = (backends: unknown[]) => policy('MeshAccessLog', { to: [{ targetRef: { kind: 'Mesh' }, default: { backends } }] });
  const exactly = (message: string) => new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

  it('accepts the documented backends, with and without type, and is served as meshaccesslogs', () => {
    accepts(
      policy('MeshAccessLog', {
        targetRef: { kind: 'MeshService', name: 'backend' },
        from: [{ targetRef: { kind: 'Mesh' }, default: { backends: [{ type: 'File', file: { path: '/dev/stdout' } }] } }],
        to: [
          {
            targetRef: { kind: 'MeshService', name: 'db' },
            default: {
              backends: [
                { type: 'Tcp', tcp: { address: '127.0.0.1:5000', format: { type: 'Json', json: [{ key: 'start_time', value: '%START_TIME%' }] } } },
                { type: 'File', file: { path: '/tmp/access.log', format: { type: 'Plain', plain: '[%START_TIME%] %KUMA_MESH% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% 100%%', omitEmptyValues: true } } },
                {
                  type: 'OpenTelemetry',
                  openTelemetry: {
                    endpoint: 'otel-collector:4317',
                    body: { kvlistValue: { values: [{ key: 'mesh', value: { stringValue: '%KUMA_MESH%' } }] } },
                    attributes: [{ key: 'start_time', value: '%START_TIME%' }],
                  },
                },
                { file: { path: '/var/log/db.log', format: { json: [{ key: 'mesh', value: '%KUMA_MESH%' }] } } },
                { tcp: { address: 'logstash.logging:5000' } },
              ],
            },
          },
        ],
      }),
    );
    accepts(toMesh([]));
    assert.equal(findByPlural('meshaccesslogs')?.kind, 'MeshAccessLog');
    assert.equal(findByCliName('meshaccesslog')?.kind, 'MeshAccessLog');
  });

  it('rejects what Kuma\'s validator rejects, at its paths', () => {
    rejects(policy('MeshAccessLog', { to: [{ targetRef: { kind: 'Mesh' }, default: {} }] }), 'spec.to[0].default.backends', exactly('is required'));
    rejects(fromMesh([{ type: 'File', file: { path: 'logs/access.log' } }]), 'spec.from[0].default.backends[0].file.path', exactly('file backend requires a valid path: an absolute path to a file, such as /dev/stdout'));
    rejects(toMesh([{ file: { path: '/var/log/' } }]), 'spec.to[0].default.backends[0].file.path', /file backend requires a valid path/);
    rejects(toMesh([{ type: 'Tcp', tcp: { address: 'logstash' } }]), 'spec.to[0].default.backends[0].tcp.address', exactly('tcp backend requires valid address: host:port, such as 127.0.0.1:5000'));
    rejects(toMesh([{ tcp: { address: '127.0.0.1:70000' } }]), 'spec.to[0].default.backends[0].tcp.address', /tcp backend requires valid address/);
    rejects(toMesh([{ type: 'File' }]), 'spec.to[0].default.backends[0].file', exactly('is required for type File'));
    rejects(toMesh([{ type: 'OpenTelemetry', openTelemetry: { endpoint: '' } }]), 'spec.to[0].default.backends[0].openTelemetry.endpoint', exactly('must not be empty'));
    rejects(toMesh([{ type: 'File', file: { path: '/dev/stdout' }, tcp: { address: '127.0.0.1:5000' } }]), 'spec.to[0].default.backends[0].tcp', exactly('must not be defined for type File'));
    rejects(toMesh([{ file: { path: '/dev/stdout' }, tcp: { address: '127.0.0.1:5000' } }]), 'spec.to[0].default.backends[0]', exactly('exactly one of tcp, file, openTelemetry must be defined'));
    rejects(toMesh([{}]), 'spec.to[0].default.backends[0]', exactly('exactly one of tcp, file, openTelemetry must be defined'));
    rejects(toMesh([{ type: 'Syslog', file: { path: '/dev/stdout' } }]), 'spec.to[0].default.backends[0].type', exactly('must be one of Tcp, File, OpenTelemetry'));
  });

  it('rejects formats Kuma rejects, and those Envoy would refuse', () => {
    const file = (format: unknown) => toMesh([{ file: { path: '/dev/stdout', format } }]);
    const at = 'spec.to[0].default.backends[0].file.format';
    rejects(file({ type: 'Plain', plain: '' }), `${at}.plain`, exactly('must not be empty'));
    rejects(file({ type: 'Plain' }), `${at}.plain`, exactly('is required for type Plain'));
    rejects(file({ type: 'Json', json: [] }), `${at}.json`, exactly('must not be empty'));
    rejects(file({ type: 'Json', json: [{ key: '', value: '%START_TIME%' }] }), `${at}.json[0].key`, exactly('key cannot be empty'));
    rejects(file({ type: 'Json', json: [{ key: 'k', value: '' }] }), `${at}.json[0].value`, exactly('value cannot be empty'));
    rejects(file({ type: 'Json', json: [{ key: 'say "hi"', value: '%START_TIME%' }] }), `${at}.json[0]`, exactly('is not a valid JSON object'));
    rejects(file({ type: 'Plain', plain: 'x', json: [{ key: 'k', value: 'v' }] }), `${at}.json`, exactly('must not be defined for type Plain'));
    rejects(file({ plain: 'x', json: [{ key: 'k', value: 'v' }] }), at, exactly('exactly one of plain, json must be defined'));
    rejects(file({ type: 'Plain', plain: '100% done' }), `${at}.plain`, exactly('is not a valid Envoy format: no command such as %START_TIME% at position 3 (write %% for a literal %)'));
    rejects(file({ type: 'Plain', plain: '[%START_TIME%] %KUMA_CLUSTER%' }), `${at}.plain`, exactly(
      'unknown placeholder %KUMA_CLUSTER%: Kuma\'s are %KUMA_MESH%, %KUMA_SOURCE_SERVICE%, %KUMA_DESTINATION_SERVICE%, %KUMA_SOURCE_ADDRESS%, %KUMA_SOURCE_ADDRESS_WITHOUT_PORT%, %KUMA_TRAFFIC_DIRECTION%, %KUMA_ZONE%, %KUMA_WORKLOAD%',
    ));
    rejects(file({ type: 'Json', json: [{ key: 'k', value: '%START_TIME' }] }), `${at}.json[0].value`, /not a valid Envoy format/);
  });

  it('limits peers as Kuma does: from Mesh, to Mesh or MeshService', () => {
    const backends = [{ file: { path: '/dev/stdout' } }];
    rejects(policy('MeshAccessLog', { from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { backends } }] }), 'spec.from[0].targetRef.kind', exactly('value is not supported here: use one of Mesh'));
    rejects(policy('MeshAccessLog', { to: [{ targetRef: { kind: 'MeshSubset', tags: { a: 'b' } }, default: { backends } }] }), 'spec.to[0].targetRef.kind', /Mesh, MeshService/);
    rejects(policy('MeshAccessLog', { targetRef: { kind: 'MeshHTTPRoute', name: 'r' }, to: [{ targetRef: { kind: 'Mesh' }, default: { backends } }] }), 'spec.targetRef.kind', /MeshGateway/);
    rejects(policy('MeshAccessLog', {}), 'spec', exactly('at least one of from, to must be defined'));
  });
});
