export * from './subset.js';
export * from './policy-kinds.js';
export * from './merge.js';
export * from './ordering.js';
export * from './selection.js';
export * from './build-rules.js';
export * from './proxy-rules.js';
export * from './parse.js';
