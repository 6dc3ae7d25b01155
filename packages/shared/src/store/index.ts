export * from './resource-store.js';
export * from './memory-store.js';
export * from './store-ops.js';
export * from './postgres/postgres-store.js';
export * from './serial-refresh.js';
