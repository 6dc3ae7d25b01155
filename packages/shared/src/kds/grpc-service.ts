import { makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { SERVICE_PATH } from './proto.js';

const bytes = (b: Buffer) => b;

/**
 * The KDS service for grpc-js with byte passthrough: frames are decoded by the sessions, so a frame
 * that does not parse is counted and survived instead of failing the whole call in the transport.
 */
export const KDS_SERVICE: ServiceDefinition = {
  GlobalToZoneSync: {
    path: `${SERVICE_PATH}/GlobalToZoneSync`, requestStream: true, responseStream: true,
    requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes,
  },
  ZoneToGlobalSync: {
    path: `${SERVICE_PATH}/ZoneToGlobalSync`, requestStream: true, responseStream: true,
    requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes,
  },
  HealthCheck: {
    path: `${SERVICE_PATH}/HealthCheck`, requestStream: false, responseStream: false,
    requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes,
  },
};

export const KdsClient = makeGenericClientConstructor(KDS_SERVICE, 'KDSSyncService');
export type KdsClient = InstanceType<typeof KdsClient>;

/** Metadata a zone sends on every KDS call. */
export const KDS_METADATA = { authorization: 'authorization', zone: 'x-meshfed-zone', version: 'x-meshfed-version' } as const;

/** Channel options both ends use: bounded message sizes and keepalive so a dead peer is noticed. */
export function kdsChannelOptions(maxMessageBytes: number): Record<string, number> {
  return {
    // Headroom over the sessions' own bound: they split responses, the transport must not refuse them.
    'grpc.max_receive_message_length': maxMessageBytes + 64 * 1024,
    'grpc.max_send_message_length': maxMessageBytes + 64 * 1024,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  };
}
