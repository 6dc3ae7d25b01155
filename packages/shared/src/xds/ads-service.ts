import { makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { frameDecoder, frameEncoder } from '../kds/frame-codec.js';
import type { Any } from '../kds/proto.js';
import { ADS_SERVICE_NAME, ENVOY_TYPE, envoyType } from './envoy-proto.js';
import type { EnvoyStruct } from './resources.js';

const bytes = (b: Buffer) => b;
const PATH = `/${ADS_SERVICE_NAME}`;

/**
 * Envoy's Aggregated Discovery Service for grpc-js with byte passthrough, like KDS_SERVICE: the stream
 * handler decodes frames with adsCodec, so a frame that does not parse is reported and survived rather
 * than failing the call inside the transport.
 */
export const ADS_SERVICE: ServiceDefinition = {
  StreamAggregatedResources: {
    path: `${PATH}/StreamAggregatedResources`, requestStream: true, responseStream: true,
    requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes,
  },
  DeltaAggregatedResources: {
    path: `${PATH}/DeltaAggregatedResources`, requestStream: true, responseStream: true,
    requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes,
  },
};

/** A client of ADS_SERVICE (tests, the lab's fake Envoy): frames are Buffers, coded with adsCodec. */
export const AdsClient = makeGenericClientConstructor(ADS_SERVICE, 'AggregatedDiscoveryService');
export type AdsClient = InstanceType<typeof AdsClient>;

// The messages' plain forms (snake_case as in the .proto). Decoding fills what the peer sent; the rest
// is absent, except repeated fields and maps, which decode to [] and {}.

export interface EnvoyNode {
  id?: string;
  cluster?: string;
  metadata?: EnvoyStruct;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  user_agent_name?: string;
  user_agent_version?: string;
}

/** google.rpc.Status, as carried by a NACK. */
export interface RpcStatus {
  code?: number;
  message?: string;
  details?: Any[];
}

export interface AdsDiscoveryRequest {
  version_info?: string;
  node?: EnvoyNode;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: RpcStatus;
}

export interface AdsDiscoveryResponse {
  version_info?: string;
  resources?: Any[];
  type_url?: string;
  nonce?: string;
  control_plane?: { identifier?: string };
}

export interface AdsDeltaDiscoveryRequest {
  node?: EnvoyNode;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: RpcStatus;
}

export interface AdsResource {
  name?: string;
  version?: string;
  resource?: Any;
  aliases?: string[];
}

export interface AdsDeltaDiscoveryResponse {
  system_version_info?: string;
  resources?: AdsResource[];
  type_url?: string;
  removed_resources?: string[];
  nonce?: string;
  control_plane?: { identifier?: string };
}

const DECODE_OPTIONS: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: false, arrays: true, objects: true };

const decoder = <M>(typeName: string) => frameDecoder<M>(() => envoyType(typeName), DECODE_OPTIONS);
const encoder = <M extends object>(typeName: string) => frameEncoder<M>(() => envoyType(typeName));

/**
 * Frames of the ADS streams. Decoding never throws: garbage is `{ ok: false, error }` for the stream to
 * report. Types load on first use (see envoyRoot).
 */
export const adsCodec = {
  encodeRequest: encoder<AdsDiscoveryRequest>(ENVOY_TYPE.discoveryRequest),
  decodeRequest: decoder<AdsDiscoveryRequest>(ENVOY_TYPE.discoveryRequest),
  encodeResponse: encoder<AdsDiscoveryResponse>(ENVOY_TYPE.discoveryResponse),
  decodeResponse: decoder<AdsDiscoveryResponse>(ENVOY_TYPE.discoveryResponse),
  encodeDeltaRequest: encoder<AdsDeltaDiscoveryRequest>(ENVOY_TYPE.deltaDiscoveryRequest),
  decodeDeltaRequest: decoder<AdsDeltaDiscoveryRequest>(ENVOY_TYPE.deltaDiscoveryRequest),
  encodeDeltaResponse: encoder<AdsDeltaDiscoveryResponse>(ENVOY_TYPE.deltaDiscoveryResponse),
  decodeDeltaResponse: decoder<AdsDeltaDiscoveryResponse>(ENVOY_TYPE.deltaDiscoveryResponse),
};
