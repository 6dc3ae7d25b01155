import { durationToMs } from '@meshfed/shared';

/** A policy's duration (`10s`, `1m30s`) as Envoy's google.protobuf.Duration. */
export function envoyDuration(d: string): { seconds: number; nanos?: number } {
  const ms = durationToMs(d);
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos === 0 ? { seconds } : { seconds, nanos };
}
