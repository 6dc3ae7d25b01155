export * from './batched-histogram.js';
export * from './instrumented-store.js';
export * from './logger.js';
export * from './recent-spans.js';
export * from './telemetry.js';
