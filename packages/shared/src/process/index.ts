export * from './daemon.js';
export * from './control-plane.js';
