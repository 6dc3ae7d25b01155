export * from './default-policies.js';
export * from './mesh-defaults-manager.js';
