import { MeshTrafficPermissionDescriptor } from './mesh-traffic-permission.js';

export * from './mesh-traffic-permission.js';
export * from './target-ref.js';

/** Every targetRef policy type, in the order the CLI lists them. */
export const POLICY_DESCRIPTORS = [MeshTrafficPermissionDescriptor] as const;
