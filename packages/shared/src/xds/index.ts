export * from './envoy-proto.js';
export * from './errors.js';
export * from './resources.js';
export * from './names.js';
export * from './ads-service.js';
export * from './proxyless.js';
export * from './envoy-bootstrap.js';
