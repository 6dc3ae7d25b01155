export * from './errors.js';
export * from './signing-key.js';
export * from './zone-token.js';
export * from './dataplane-token.js';
