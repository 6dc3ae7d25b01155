export * from './ca-secrets.js';
export * from './root-ca.js';
export * from './mesh-ca-manager.js';
