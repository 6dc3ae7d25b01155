export * from './snapshot.js';
export * from './snapshot-cache.js';
export * from './delta.js';
export * from './sotw-session.js';
export * from './proxy-insights.js';
export * from './auth.js';
export * from './ads-server.js';
