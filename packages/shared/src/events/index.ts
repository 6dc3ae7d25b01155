export * from './event-bus.js';
export * from './in-process-event-bus.js';
export * from './nats-event-bus.js';
export * from './open-event-bus.js';
export * from './mesh-work-queue.js';
