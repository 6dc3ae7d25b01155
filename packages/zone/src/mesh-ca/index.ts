export * from './ca-secrets.js';
export * from './workload-certificate.js';
export * from './workload-certificate-cache.js';
