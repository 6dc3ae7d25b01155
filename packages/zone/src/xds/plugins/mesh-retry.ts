import { durationToMs, ENVOY_EXTENSION_NAME, ENVOY_TYPE, toStruct } from '@meshfed/shared';
import { type Draft, lazyTyped } from '../generate/envoy-parts.js';
import type { Protocol } from '../generate/protocol.js';
import { envoyDuration, headerMatcher } from './envoy-values.js';
import type { ToConf } from '../rules/index.js';
import { destinations } from './destinations.js';
import { listenerRoutes, routeToConf, tcpToConf } from './gateway-confs.js';
import type { PolicyPlugin } from './types.js';

type Conf = ToConf<'MeshRetry'>;
type Http = NonNullable<Conf['http']>;
type Grpc = NonNullable<Conf['grpc']>;
type BackOff = NonNullable<Http['backOff']>;
type RateLimitedBackOff = NonNullable<Http['rateLimitedBackOff']>;
type Predicate = NonNullable<Http['hostSelection']>[number];

// Kuma's configurer: what Envoy retries on when the policy names no condition.
export const HTTP_RETRY_ON_DEFAULT = 'gateway-error,connect-failure,refused-stream';
export const GRPC_RETRY_ON_DEFAULT = 'cancelled,connect-failure,gateway-error,refused-stream,reset,resource-exhausted,unavailable';

/** Kuma's HttpRetryOnEnumToEnvoyValue for the conditions (methods and status codes are handled apart). */
const HTTP_RETRY_ON: Readonly<Record<string, string>> = {
  '5xx': '5xx',
  GatewayError: 'gateway-error',
  Reset: 'reset',
  Retriable4xx: 'retriable-4xx',
  ConnectFailure: 'connect-failure',
  EnvoyRatelimited: 'envoy-ratelimited',
  RefusedStream: 'refused-stream',
  Http3PostConnectFailure: 'http3-post-connect-failure',
};
const HTTP_METHOD_PREFIX = 'HttpMethod';

/**
 * Kuma's GrpcRetryOnEnumToEnvoyValue, except Canceled: Kuma maps it to `canceled`, which Envoy does
 * not know and silently ignores (its x-envoy-retry-grpc-on name is `cancelled`, as in Kuma's own
 * default list above).
 */
const GRPC_RETRY_ON: Readonly<Record<NonNullable<Grpc['retryOn']>[number], string>> = {
  Canceled: 'cancelled',
  DeadlineExceeded: 'deadline-exceeded',
  Internal: 'internal',
  ResourceExhausted: 'resource-exhausted',
  Unavailable: 'unavailable',
};

/** Envoy's back-off base when none is given (RetryPolicy docs; Kuma's DefaultBaseInterval). */
const DEFAULT_BASE_INTERVAL = '25ms';
/** Kuma's kubebuilder default for a predicate's updateFrequency; Envoy requires it above 0. */
const DEFAULT_UPDATE_FREQUENCY = 2;

/**
 * `retryOn` as Kuma's splitRetryOn divides it: status codes become retriable_status_codes, `HttpMethodX`
 * a `:method` request header that must match, the rest Envoy's retry_on names. Kuma only takes numbers
 * Go knows a status text for as codes (an unknown one such as 599 becomes an empty retry_on name);
 * meshfed takes every code the schema accepts (100-599).
 */
export function splitHttpRetryOn(retryOn: readonly string[]): { retryOn: string[]; statusCodes: number[]; methods: string[] } {
  const out = { retryOn: [] as string[], statusCodes: [] as number[], methods: [] as string[] };
  for (const item of retryOn) {
    if (/^\d+$/.test(item)) out.statusCodes.push(Number(item));
    else if (item.startsWith(HTTP_METHOD_PREFIX)) out.methods.push(item.slice(HTTP_METHOD_PREFIX.length).toUpperCase());
    else {
      const name = HTTP_RETRY_ON[item];
      if (name !== undefined) out.retryOn.push(name);
    }
  }
  return out;
}

/** Envoy's RetryBackOff: base_interval is required there, and max_interval may not be below it. */
function retryBackOff(b: BackOff, problems: string[]): Draft {
  const max = b.maxInterval;
  // Kuma fills in the default base for gRPC only (for HTTP its RetryBackOff would lack the required field).
  const base = b.baseInterval ?? (max !== undefined && durationToMs(max) < durationToMs(DEFAULT_BASE_INTERVAL) ? max : DEFAULT_BASE_INTERVAL);
  const out: Draft = { base_interval: envoyDuration(base) };
  if (max !== undefined) {
    if (durationToMs(max) >= durationToMs(base)) out['max_interval'] = envoyDuration(max);
    else problems.push(`backOff.maxInterval ${max} is below baseInterval ${base}: Envoy's default (10 times the base) is used instead`);
  }
  return out;
}

function rateLimitedRetryBackOff(r: RateLimitedBackOff): Draft {
  return {
    reset_headers: r.resetHeaders.map((h) => ({ name: h.name, format: h.format === 'Seconds' ? 'SECONDS' : 'UNIX_TIMESTAMP' })),
    ...(r.maxInterval !== undefined ? { max_interval: envoyDuration(r.maxInterval) } : {}),
  };
}

/** Kuma's configureHostSelectionPredicates: host predicates in order; OmitPreviousPriorities is the retry priority. */
function hostSelection(predicates: readonly Predicate[], policy: Draft, problems: string[]): void {
  const hostPredicates: Draft[] = [];
  for (const [i, p] of predicates.entries()) {
    if (p.predicate === 'OmitPreviousHosts') {
      hostPredicates.push({ name: ENVOY_EXTENSION_NAME.previousHostsPredicate, typed_config: lazyTyped(ENVOY_TYPE.previousHostsPredicate, {}) });
    } else if (p.predicate === 'OmitHostsWithTags') {
      // Kuma's LbMetadata: the tags under the endpoints' `envoy.lb` filter metadata, where Kuma puts
      // every endpoint's tags. meshfed's endpoints carry none yet: configured as Kuma does, and said.
      problems.push(`hostSelection[${i}]: OmitHostsWithTags omits no host: endpoints carry no tag metadata in meshfed`);
      hostPredicates.push({
        name: ENVOY_EXTENSION_NAME.omitHostMetadata,
        typed_config: lazyTyped(ENVOY_TYPE.omitHostMetadata, { metadata_match: { filter_metadata: { 'envoy.lb': toStruct({ ...p.tags }) } } }),
      });
    } else {
      policy['retry_priority'] = {
        name: ENVOY_EXTENSION_NAME.previousPriorities,
        typed_config: lazyTyped(ENVOY_TYPE.previousPriorities, { update_frequency: p.updateFrequency ?? DEFAULT_UPDATE_FREQUENCY }),
      };
    }
  }
  if (hostPredicates.length > 0) policy['retry_host_predicate'] = hostPredicates;
}

/** What both sections share: per-try timeout, number of retries (0: no retry policy at all, as Kuma), back-offs. */
function commonPolicy(c: Http | Grpc, retryOnDefault: string, problems: string[]): Draft | undefined {
  if (c.numRetries === 0) return undefined;
  const policy: Draft = { retry_on: retryOnDefault };
  if (c.numRetries !== undefined) policy['num_retries'] = { value: c.numRetries };
  if (c.perTryTimeout !== undefined) policy['per_try_timeout'] = envoyDuration(c.perTryTimeout);
  if (c.backOff) policy['retry_back_off'] = retryBackOff(c.backOff, problems);
  if (c.rateLimitedBackOff) policy['rate_limited_retry_back_off'] = rateLimitedRetryBackOff(c.rateLimitedBackOff);
  return policy;
}

/**
 * Kuma's genHttpRetryPolicy. One addition: response headers only trigger a retry when retry_on has
 * `retriable-headers` (Envoy ignores retriable_headers otherwise), which the policy cannot name, so
 * it is added as Kuma adds `retriable-status-codes` for status codes. Undefined when the policy
 * turns retries off.
 */
export function httpRetryPolicy(http: Http, problems: string[]): Draft | undefined {
  const policy = commonPolicy(http, HTTP_RETRY_ON_DEFAULT, problems);
  if (!policy) return undefined;
  const split = splitHttpRetryOn(http.retryOn ?? []);
  const retryOn = split.retryOn.length > 0 ? split.retryOn : HTTP_RETRY_ON_DEFAULT.split(',');
  if (split.statusCodes.length > 0) {
    policy['retriable_status_codes'] = split.statusCodes;
    if (!retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
  }
  const requestHeaders = [...split.methods.map((m) => ({ name: ':method', string_match: { exact: m } })), ...(http.retriableRequestHeaders ?? []).map(headerMatcher)];
  const responseHeaders = (http.retriableResponseHeaders ?? []).map(headerMatcher);
  if (requestHeaders.length > 0) policy['retriable_request_headers'] = requestHeaders;
  if (responseHeaders.length > 0) {
    policy['retriable_headers'] = responseHeaders;
    if (!retryOn.includes('retriable-headers')) retryOn.push('retriable-headers');
  }
  policy['retry_on'] = retryOn.join(',');
  if (http.hostSelection) hostSelection(http.hostSelection, policy, problems);
  if (http.hostSelectionMaxAttempts !== undefined) policy['host_selection_retry_max_attempts'] = http.hostSelectionMaxAttempts;
  return policy;
}

/** Kuma's genGrpcRetryPolicy: the gRPC status names replace the default list when given. */
export function grpcRetryPolicy(grpc: Grpc, problems: string[]): Draft | undefined {
  const policy = commonPolicy(grpc, GRPC_RETRY_ON_DEFAULT, problems);
  if (!policy) return undefined;
  if (grpc.retryOn && grpc.retryOn.length > 0) policy['retry_on'] = grpc.retryOn.map((r) => GRPC_RETRY_ON[r]).join(',');
  return policy;
}

/** The retry policy for a destination's routes: its protocol picks the section (http2 is HTTP too). */
function routeRetryPolicy(conf: Conf, protocol: Protocol, problems: string[]): Draft | undefined {
  if (protocol === 'grpc') return conf.grpc ? grpcRetryPolicy(conf.grpc, problems) : undefined;
  if (protocol === 'http' || protocol === 'http2') return conf.http ? httpRetryPolicy(conf.http, problems) : undefined;
  return undefined;
}

/**
 * MeshRetry (Kuma's meshretry plugin), outbound only: by the conf computed for the destination
 * service, a TCP outbound's tcp_proxy gets `max_connect_attempts`; an HTTP one (http, http2: the
 * `http` section; grpc: the `grpc` section) gets the retry policy on every route that forwards.
 * Kuma leaves http2 destinations without retries (its configurer only knows http and grpc); meshfed
 * gives them the `http` section, which is what they speak.
 */
export const meshRetryPlugin: PolicyPlugin<'MeshRetry'> = {
  kind: 'MeshRetry',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    for (const d of destinations(draft)) {
      const computed = rules.toByService[d.service];
      if (!computed) continue;
      const conf = computed.conf;
      // One policy (and its problems, reported once) for the outbounds of a service.
      const problems: string[] = [];
      const policy = routeRetryPolicy(conf, d.protocol, problems);
      for (const p of problems) ctx.problems.push(`MeshRetry ${computed.origins.join(', ')} for ${d.service}: ${p}`);
      for (const ob of d.outbounds) {
        if (ob.tcpProxy && conf.tcp) ob.tcpProxy['max_connect_attempts'] = { value: conf.tcp.maxConnectAttempt };
        if (!ob.http || !policy) continue;
        for (const route of ob.http.routes) {
          const action = route['route'] as Draft | undefined;
          // Each route its own copy: later plugins change drafts in place.
          if (action) action['retry_policy'] = structuredClone(policy);
        }
      }
    }
  },
  /**
   * A builtin gateway (Kuma's applyToGateway): an HTTP listener's routes take the `http` section of
   * their `to` conf (Kuma treats HTTP and HTTPS listeners as http whatever the backends speak), a TCP
   * listener's proxy `max_connect_attempts` from the `tcp` section. Kuma gives every route of a
   * listener its Mesh conf; here a route of one service takes that service's (gateway-confs).
   */
  applyGateway(draft, rules, ctx) {
    if (!rules) return;
    for (const l of draft.listeners) {
      for (const { vh, route } of listenerRoutes(l)) {
        const computed = routeToConf(rules, l, vh, route, ctx.problems);
        const action = route.route['route'] as Draft | undefined;
        if (!computed?.conf.http || !action) continue;
        const problems: string[] = [];
        const policy = httpRetryPolicy(computed.conf.http, problems);
        // Said once however many routes share the conf.
        for (const p of problems.map((p) => `MeshRetry ${computed.origins.join(', ')} on ${l.name}: ${p}`)) if (!ctx.problems.includes(p)) ctx.problems.push(p);
        if (policy) action['retry_policy'] = policy;
      }
      const tcp = tcpToConf(rules, draft, l, ctx.problems);
      if (l.tcpProxy && tcp?.conf.tcp) l.tcpProxy['max_connect_attempts'] = { value: tcp.conf.tcp.maxConnectAttempt };
    }
  },
};
