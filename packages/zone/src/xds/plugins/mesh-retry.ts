import { durationToMs, ENVOY_EXTENSION_NAME, ENVOY_TYPE, toStruct } from '@meshfed/shared';
import { type Draft, lazyTyped } from '../generate/envoy-parts.js';
import type { Protocol } from '../generate/protocol.js';
import { envoyDuration } from './envoy-values.js';
import type { ToConf } from '../rules/index.js';
import type { PolicyPlugin } from './types.js';

type Conf = ToConf<'MeshRetry'>;
type Http = NonNullable<Conf['http']>;
type Grpc = NonNullable<Conf['grpc']>;
type BackOff = NonNullable<Http['backOff']>;
type RateLimitedBackOff = NonNullable<Http['rateLimitedBackOff']>;
type HeaderMatch = NonNullable<Http['retriableRequestHeaders']>[number];
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

/**
 * Why Envoy's RE2 would reject a regular expression, as far as it can be told here: empty, or what
 * RE2 lacks (lookaround, back-references), or not a regular expression at all. A leading RE2 flag
 * group such as `(?i)` is accepted. Patterns over Envoy's program size limit are not caught.
 */
export function regexProblem(regex: string): string | undefined {
  if (regex === '') return 'is empty';
  if (/\(\?<?[=!]/.test(regex)) return 'uses lookaround, which RE2 does not support';
  if (/\\[1-9]|\\k</.test(regex)) return 'uses a back-reference, which RE2 does not support';
  try {
    new RegExp(regex.replace(/^\(\?[imsU]+\)/, ''));
  } catch {
    return 'is not a valid regular expression';
  }
  return undefined;
}

/** Kuma's headerMatcher: Exact when no type is given; Present and Absent test the header's presence. */
function headerMatcher(h: HeaderMatch, path: string, problems: string[]): Draft | undefined {
  const value = h.value ?? '';
  switch (h.type ?? 'Exact') {
    case 'Present':
      return { name: h.name, present_match: true };
    case 'Absent':
      return { name: h.name, present_match: false };
    case 'Prefix':
      // Envoy's StringMatcher.prefix must not be empty.
      if (value === '') break;
      return { name: h.name, string_match: { prefix: value } };
    case 'RegularExpression': {
      const problem = regexProblem(value);
      if (problem) {
        problems.push(`${path}: regular expression ${JSON.stringify(value)} ${problem}`);
        return undefined;
      }
      return { name: h.name, string_match: { safe_regex: { regex: value } } };
    }
    default:
      return { name: h.name, string_match: { exact: value } };
  }
  problems.push(`${path}: a Prefix match needs a non-empty value`);
  return undefined;
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
 * turns retries off, and (with a problem) when a header matcher Envoy would reject: dropping just
 * that matcher could retry requests the policy did not mean to.
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
  const headerProblems: string[] = [];
  const requestHeaders = [
    ...split.methods.map((m) => ({ name: ':method', string_match: { exact: m } })),
    ...(http.retriableRequestHeaders ?? []).map((h, i) => headerMatcher(h, `retriableRequestHeaders[${i}]`, headerProblems)),
  ];
  const responseHeaders = (http.retriableResponseHeaders ?? []).map((h, i) => headerMatcher(h, `retriableResponseHeaders[${i}]`, headerProblems));
  if (headerProblems.length > 0) {
    problems.push(...headerProblems.map((p) => `${p}: no retry policy is configured`));
    return undefined;
  }
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
    // Outbounds of one service share a policy (and its problems, reported once).
    const built = new Map<string, Draft | undefined>();
    for (const ob of draft.outbounds) {
      const computed = rules.toByService[ob.service];
      if (!computed) continue;
      const conf = computed.conf;
      if (ob.tcpProxy) {
        if (conf.tcp) ob.tcpProxy['max_connect_attempts'] = { value: conf.tcp.maxConnectAttempt };
        continue;
      }
      if (!ob.http) continue;
      const key = `${ob.service}\u0000${ob.protocol}`;
      if (!built.has(key)) {
        const problems: string[] = [];
        built.set(key, routeRetryPolicy(conf, ob.protocol, problems));
        for (const p of problems) ctx.problems.push(`MeshRetry ${computed.origins.join(', ')} for ${ob.service}: ${p}`);
      }
      const policy = built.get(key);
      if (!policy) continue;
      for (const route of ob.http.routes) {
        const action = route['route'] as Draft | undefined;
        // Each route its own copy: later plugins change drafts in place.
        if (action) action['retry_policy'] = structuredClone(policy);
      }
    }
  },
};
