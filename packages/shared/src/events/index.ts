export * from './event-bus.js';
export * from './in-process-event-bus.js';
