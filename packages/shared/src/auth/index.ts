export * from './errors.js';
export * from './signing-key.js';
export * from './zone-token.js';
