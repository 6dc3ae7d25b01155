export { ZoneFlags } from './flags.js';
export { startZone } from './zone-cp.js';
