export * from './certificates.js';
export * from './credentials.js';
