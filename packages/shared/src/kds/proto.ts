import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { frameDecoder, frameEncoder } from './frame-codec.js';

// proto/ sits at the repository root, the same distance from src/kds and dist/kds.
const PROTO_DIR = fileURLToPath(new URL('../../../../proto/', import.meta.url));
// Envoy's API comes from @grpc/grpc-js-xds's bundled copy rather than a vendored one.
const require = createRequire(import.meta.url);
const XDS_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
// protobufjs carries google/protobuf/descriptor.proto, which the validate annotations import.
const PROTOBUF_DIR = dirname(require.resolve('protobufjs/package.json'));
const INCLUDE = [PROTO_DIR, ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(XDS_DEPS, d)), PROTOBUF_DIR];

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const dir of INCLUDE) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  // Field names stay as in the .proto (snake_case), like protobufjs's built-in google.protobuf.Any.
  root.loadSync('kds.proto', { keepCase: true });
  root.resolveAll();
  return root;
}

const root = loadRoot();
export const kdsRoot = root;

const T = {
  DeltaDiscoveryRequest: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
  DeltaDiscoveryResponse: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
  KdsResource: root.lookupType('meshfed.kds.v1.KdsResource'),
  KdsRejection: root.lookupType('meshfed.kds.v1.KdsRejection'),
  ZoneHealthCheckRequest: root.lookupType('meshfed.kds.v1.ZoneHealthCheckRequest'),
  ZoneHealthCheckResponse: root.lookupType('meshfed.kds.v1.ZoneHealthCheckResponse'),
};

export const KDS_RESOURCE_TYPE_URL = 'type.googleapis.com/meshfed.kds.v1.KdsResource';
export const KDS_REJECTION_TYPE_URL = 'type.googleapis.com/meshfed.kds.v1.KdsRejection';
export const SERVICE_PATH = '/meshfed.kds.v1.KDSSyncService';

export interface Any {
  type_url: string;
  value: Uint8Array;
}

export interface DeltaDiscoveryRequest {
  node?: { id?: string; metadata?: unknown };
  type_url: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string; details?: Any[] };
}

export interface DeltaResource {
  name: string;
  version: string;
  resource?: Any;
}

export interface DeltaDiscoveryResponse {
  system_version_info?: string;
  resources?: DeltaResource[];
  type_url: string;
  removed_resources?: string[];
  nonce: string;
}

export interface KdsResourceMessage {
  meta: { name: string; mesh: string; labels: Record<string, string>; version: string; modified_at_ms?: number };
  type: string;
  spec: Uint8Array;
}

export interface KdsRejectionMessage {
  resources: { name: string; version: string; error: string }[];
}

export type { Decoded } from './frame-codec.js';

const KDS_DECODE: protobuf.IConversionOptions = { longs: Number, bytes: Buffer, defaults: false, arrays: true, objects: true };
const decoder = <M>(type: protobuf.Type) => frameDecoder<M>(() => type, KDS_DECODE);
const encoder = <M>(type: protobuf.Type) => frameEncoder<M>(() => type);

export const codec = {
  encodeRequest: encoder<DeltaDiscoveryRequest>(T.DeltaDiscoveryRequest),
  decodeRequest: decoder<DeltaDiscoveryRequest>(T.DeltaDiscoveryRequest),
  encodeResponse: encoder<DeltaDiscoveryResponse>(T.DeltaDiscoveryResponse),
  decodeResponse: decoder<DeltaDiscoveryResponse>(T.DeltaDiscoveryResponse),
  encodeResource: encoder<KdsResourceMessage>(T.KdsResource),
  decodeResource: decoder<KdsResourceMessage>(T.KdsResource),
  encodeRejection: encoder<KdsRejectionMessage>(T.KdsRejection),
  decodeRejection: decoder<KdsRejectionMessage>(T.KdsRejection),
  encodeHealthRequest: encoder<{ zone: string }>(T.ZoneHealthCheckRequest),
  decodeHealthRequest: decoder<{ zone?: string }>(T.ZoneHealthCheckRequest),
  encodeHealthResponse: encoder<{ interval_ms: number }>(T.ZoneHealthCheckResponse),
  decodeHealthResponse: decoder<{ interval_ms?: number }>(T.ZoneHealthCheckResponse),
};
