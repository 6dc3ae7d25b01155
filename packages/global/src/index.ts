export { GlobalFlags } from './flags.js';
export { startGlobal } from './global-cp.js';
export * from './insights/index.js';
