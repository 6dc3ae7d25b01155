import { MeshAccessLogDescriptor } from './mesh-access-log.js';
import { MeshCircuitBreakerDescriptor } from './mesh-circuit-breaker.js';
import { MeshFaultInjectionDescriptor } from './mesh-fault-injection.js';
import { MeshHealthCheckDescriptor } from './mesh-health-check.js';
import { MeshHTTPRouteDescriptor } from './mesh-http-route.js';
import { MeshLoadBalancingStrategyDescriptor } from './mesh-load-balancing-strategy.js';
import { MeshRateLimitDescriptor } from './mesh-rate-limit.js';
import { MeshRetryDescriptor } from './mesh-retry.js';
import { MeshTCPRouteDescriptor } from './mesh-tcp-route.js';
import { MeshTimeoutDescriptor } from './mesh-timeout.js';
import { MeshTrafficPermissionDescriptor } from './mesh-traffic-permission.js';

export * from './mesh-access-log.js';
export * from './mesh-circuit-breaker.js';
export * from './mesh-fault-injection.js';
export * from './mesh-health-check.js';
export * from './mesh-http-route.js';
export * from './mesh-load-balancing-strategy.js';
export * from './mesh-rate-limit.js';
export * from './mesh-retry.js';
export * from './mesh-tcp-route.js';
export * from './mesh-timeout.js';
export * from './mesh-traffic-permission.js';
export * from './target-ref.js';
export { UINT32_MAX } from './fields.js';

/** Every targetRef policy type, in the order the CLI lists them. */
export const POLICY_DESCRIPTORS = [
  MeshTrafficPermissionDescriptor,
  MeshTimeoutDescriptor,
  MeshRetryDescriptor,
  MeshCircuitBreakerDescriptor,
  MeshHealthCheckDescriptor,
  MeshRateLimitDescriptor,
  MeshFaultInjectionDescriptor,
  MeshLoadBalancingStrategyDescriptor,
  MeshHTTPRouteDescriptor,
  MeshTCPRouteDescriptor,
  MeshAccessLogDescriptor,
] as const;
