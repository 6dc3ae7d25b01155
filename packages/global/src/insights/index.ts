export * from './zone-inventory.js';
export * from './zone-insights.js';
export * from './zone-overview.js';
export * from './insight-routes.js';
