export * from './zone-index.js';
export * from './context.js';
export * from './envoy-parts.js';
export * from './sidecar.js';
export * from './zone-proxies.js';
