import type { Logger } from 'pino';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { EventBus } from './event-bus.js';
import { InProcessEventBus } from './in-process-event-bus.js';
import { NatsEventBus } from './nats-event-bus.js';

export interface OpenEventBusOptions {
  /** nats://host:4222 shares events with the other replicas; absent, events stay in this process. */
  readonly natsUrl?: string | undefined;
  readonly subjectPrefix?: string | undefined;
  /** Unique per process, so a replica recognises its own messages. */
  readonly instanceId: string;
  readonly log?: Logger;
  readonly telemetry?: Telemetry;
}

/** The bus a control plane runs on: in-process alone, NATS when replicas share one store. */
export async function openEventBus(o: OpenEventBusOptions): Promise<EventBus> {
  if (!o.natsUrl) {
    o.log?.debug({ instanceId: o.instanceId }, 'events stay in this process (no NATS URL)');
    return new InProcessEventBus(o.log);
  }
  return NatsEventBus.connect({
    url: o.natsUrl, instanceId: o.instanceId,
    ...(o.subjectPrefix !== undefined ? { subjectPrefix: o.subjectPrefix } : {}),
    ...(o.log ? { log: o.log } : {}),
    ...(o.telemetry ? { telemetry: o.telemetry } : {}),
  });
}
