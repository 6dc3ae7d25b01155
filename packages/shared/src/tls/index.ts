export * from './certificates.js';
export * from './credentials.js';
// server-tls.ts and stored-ca.ts are exported from the package root only: they bring flags and the
// store, which the CLI's lazy import of this entry point (certificates for the lab) does not need.
