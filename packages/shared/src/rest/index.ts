export * from './api-server.js';
export * from './error-handler.js';
export * from './resource-routes.js';
export * from './zone-token-routes.js';
export * from './dataplane-token-routes.js';
