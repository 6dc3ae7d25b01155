import { meshHttpRoutePlugin } from './mesh-http-route.js';
import { meshTcpRoutePlugin } from './mesh-tcp-route.js';
import { meshCircuitBreakerPlugin } from './mesh-circuit-breaker.js';
import { meshRetryPlugin } from './mesh-retry.js';
import { meshTimeoutPlugin } from './mesh-timeout.js';
import { meshTrafficPermissionPlugin } from './mesh-traffic-permission.js';
import { meshHealthCheckPlugin } from './mesh-health-check.js';
import { meshLoadBalancingStrategyPlugin } from './mesh-load-balancing-strategy.js';
import { meshAccessLogPlugin } from './mesh-access-log.js';
import { meshRateLimitPlugin } from './mesh-rate-limit.js';
import { meshFaultInjectionPlugin } from './mesh-fault-injection.js';
import type { PolicyKind } from '../rules/index.js';
import type { PolicyPlugin } from './types.js';

export type {
  Backends, GatewayChainDraft, GatewayClusterDraft, GatewayDraft, GatewayHttpDraft, GatewayListenerDraft, GatewayProtocol, GatewayRouteDraft, GatewayVirtualHostDraft, InboundDraft, OutboundDraft, PluginContext, PolicyPlugin, SidecarDraft,
} from './types.js';

/**
 * Every policy plugin, in the order they apply (Kuma applies its plugins in a fixed order too): each
 * one changes only its own fields of the drafts, so the order matters only between filters inserted
 * into the same chain (traffic permission comes before any other filter of an inbound), and for the
 * routes: the route plugins run first (the HTTP route's after the TCP route's, so it wins on HTTP), so
 * that the policies on routes and clusters shape every route and every split cluster.
 */
export type AnyPolicyPlugin = { [K in PolicyKind]: PolicyPlugin<K> }[PolicyKind];

export const PLUGINS: readonly AnyPolicyPlugin[] = [meshTrafficPermissionPlugin, meshTcpRoutePlugin, meshHttpRoutePlugin, meshTimeoutPlugin, meshRetryPlugin, meshCircuitBreakerPlugin, meshHealthCheckPlugin, meshLoadBalancingStrategyPlugin, meshAccessLogPlugin, meshRateLimitPlugin, meshFaultInjectionPlugin];
