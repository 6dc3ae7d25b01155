export { GlobalFlags } from './flags.js';
export { startGlobal } from './global-cp.js';
