import { adsCodec, type DeltaDiscoveryResponse, type DeltaItem, type DeltaWire, type XdsKind } from '@meshfed/shared';
import { XDS_WIRE } from './delta.js';
import { fieldSize, ProtoWriter, stringFieldSize } from './proto-writer.js';
import type { XdsEntry } from './snapshot.js';

/**
 * DeltaDiscoveryResponse encoded by hand into one buffer of the exact size: the resources are
 * already encoded (snapshot entries), and the generic path (protobufjs fromObject, then a writer
 * that copies every resource into growing chunks) was the largest identifiable cost of a push to
 * thousands of streams. The bytes are those protobufjs writes: fields in number order, every string
 * field present written even when empty, empty repeated fields omitted (ads-delta-encode.test.ts
 * compares the two). Anything beyond these fields goes the generic way.
 */
export function encodeDeltaResponse(r: DeltaDiscoveryResponse): Buffer {
  const resources = r.resources ?? [];
  const removed = r.removed_resources ?? [];
  // The type has no other fields (a DeltaResource: name, version, resource); a response with more came through a cast.
  if (Object.keys(r).some((k) => !KNOWN_FIELDS.has(k))) return adsCodec.encodeDeltaResponse(r);
  const resourceLengths: number[] = [];
  const anyLengths: number[] = [];
  let size = 0;
  if (r.system_version_info !== undefined) size += stringFieldSize(r.system_version_info);
  for (const x of resources) {
    let n = stringFieldSize(x.version);
    let anyLen = -1;
    if (x.resource !== undefined) {
      anyLen = stringFieldSize(x.resource.type_url) + fieldSize(x.resource.value.length);
      n += fieldSize(anyLen);
    }
    n += stringFieldSize(x.name);
    anyLengths.push(anyLen);
    resourceLengths.push(n);
    size += fieldSize(n);
  }
  size += stringFieldSize(r.type_url) + stringFieldSize(r.nonce);
  for (const k of removed) size += stringFieldSize(k);

  const w = writer.reset(allocate(size));
  if (r.system_version_info !== undefined) w.string(0x0a, r.system_version_info);
  for (let i = 0; i < resources.length; i++) {
    const x = resources[i]!;
    w.header(0x12, resourceLengths[i]!);
    w.string(0x0a, x.version);
    if (x.resource !== undefined) {
      w.header(0x12, anyLengths[i]!);
      w.string(0x0a, x.resource.type_url);
      w.bytes(0x12, x.resource.value);
    }
    w.string(0x1a, x.name);
  }
  w.string(0x22, r.type_url);
  w.string(0x2a, r.nonce);
  for (const k of removed) w.string(0x32, k);
  return release(w.end('DeltaDiscoveryResponse'));
}

/**
 * encodeDeltaResponse of { type_url, nonce, system_version_info: version, resources: each item as
 * { name: key, version, resource: { type_url: resourceTypeUrl, value: bytes } }, removed_resources },
 * written straight from the items: the same bytes (ads-delta-encode.test.ts compares), without the
 * response object and two objects per resource, for every response of a push to thousands of streams.
 */
export function encodeDeltaItems(typeUrl: string, nonce: string, version: string, resourceTypeUrl: string, items: readonly DeltaItem[], removed: readonly string[]): Buffer {
  const anyTypeField = stringFieldSize(resourceTypeUrl);
  let size = stringFieldSize(version);
  for (const x of items) {
    // A snapshot entry carries its Resource encoded already (for this type URL): copied as is.
    const w = wireOf(x, resourceTypeUrl);
    size += fieldSize(w !== undefined ? w.length : resourceSize(x, anyTypeField));
  }
  size += stringFieldSize(typeUrl) + stringFieldSize(nonce);
  for (const k of removed) size += stringFieldSize(k);

  const w = writer.reset(allocate(size));
  w.string(0x0a, version);
  for (const x of items) {
    const pre = wireOf(x, resourceTypeUrl);
    if (pre !== undefined) {
      w.header(0x12, pre.length);
      w.raw(pre);
      continue;
    }
    // The lengths again rather than kept in arrays: a few additions per resource, no allocation.
    w.header(0x12, resourceSize(x, anyTypeField));
    w.string(0x0a, x.version);
    w.header(0x12, anyTypeField + fieldSize(x.bytes.length));
    w.string(0x0a, resourceTypeUrl);
    w.bytes(0x12, x.bytes);
    w.string(0x1a, x.key);
  }
  w.string(0x22, typeUrl);
  w.string(0x2a, nonce);
  for (const k of removed) w.string(0x32, k);
  return release(w.end('DeltaDiscoveryResponse'));
}

/** A Resource message of the item (version, Any of `anyTypeField`'s type URL, name), without its own tag and length. */
function resourceSize(x: DeltaItem, anyTypeField: number): number {
  return stringFieldSize(x.version) + fieldSize(anyTypeField + fieldSize(x.bytes.length)) + stringFieldSize(x.key);
}

/** The item's encoded Resource when it is a snapshot entry of this type URL (XdsEntry.wire). */
function wireOf(x: DeltaItem, resourceTypeUrl: string): Uint8Array | undefined {
  const e = x as Partial<XdsEntry>;
  return e.wire !== undefined && e.resource?.type_url === resourceTypeUrl ? e.wire : undefined;
}

// One writer for every response (encoding is synchronous, one response at a time), not one per response;
// it lets go of the response's buffer once written.
const EMPTY: Buffer = Buffer.alloc(0);
const writer = new ProtoWriter(EMPTY);
function release(b: Buffer): Buffer {
  writer.reset(EMPTY);
  return b;
}

/**
 * Responses are carved from 64 KiB slabs: Node's own pool serves only up to 4 KiB from 8 KiB pools,
 * and one ArrayBuffer per larger response (each counted as external memory) showed as allocation
 * and GC cost in a push to thousands of streams. A response normally lives only until its write
 * (grpc-js copies it into its own framed buffer); one queued behind a slow stream pins its slab, at
 * most 64 KiB, until the write or the stream's end (the ACK timeout bounds that).
 */
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;
function allocate(size: number): Buffer {
  if (size > SLAB_BYTES / 4) return Buffer.allocUnsafeSlow(size);
  if (slabUsed + size > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + size);
  // 8-byte aligned, as Node's pool does.
  slabUsed = (slabUsed + size + 7) & ~7;
  return b;
}

const KNOWN_FIELDS = new Set(['system_version_info', 'resources', 'type_url', 'removed_resources', 'nonce']);



/** XDS_WIRE with the hand encoder. */
export const FAST_XDS_WIRE: DeltaWire<XdsKind> = { ...XDS_WIRE, encodeResponse: encodeDeltaResponse, encodeItems: encodeDeltaItems };
