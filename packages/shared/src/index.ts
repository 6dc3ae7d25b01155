export * from './errors/index.js';
export * from './events/index.js';
export * from './resources/index.js';
export * from './store/index.js';
