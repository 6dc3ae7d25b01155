export * from './gateway-overview-access.js';
export * from './gateway-overview-store.js';
