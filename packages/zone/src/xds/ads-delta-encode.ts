import { adsCodec, type DeltaDiscoveryResponse, type DeltaItem, type DeltaWire, type XdsKind } from '@meshfed/shared';
import { XDS_WIRE } from './delta.js';
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
  // Lengths first (nested messages are length-prefixed), then one pass of writes.
  const resourceLengths: number[] = [];
  const anyLengths: number[] = [];
  let size = 0;
  if (r.system_version_info !== undefined) size += stringField(r.system_version_info);
  for (const x of resources) {
    let n = stringField(x.version);
    let anyLen = -1;
    if (x.resource !== undefined) {
      anyLen = stringField(x.resource.type_url) + 1 + varintSize(x.resource.value.length) + x.resource.value.length;
      n += 1 + varintSize(anyLen) + anyLen;
    }
    n += stringField(x.name);
    anyLengths.push(anyLen);
    resourceLengths.push(n);
    size += 1 + varintSize(n) + n;
  }
  size += stringField(r.type_url);
  size += stringField(r.nonce);
  for (const k of removed) size += stringField(k);

  buf = allocate(size);
  off = 0;
  if (r.system_version_info !== undefined) str(0x0a, r.system_version_info);
  for (let i = 0; i < resources.length; i++) {
    const x = resources[i]!;
    buf[off++] = 0x12;
    varint(resourceLengths[i]!);
    str(0x0a, x.version);
    if (x.resource !== undefined) {
      buf[off++] = 0x12;
      varint(anyLengths[i]!);
      str(0x0a, x.resource.type_url);
      buf[off++] = 0x12;
      varint(x.resource.value.length);
      buf.set(x.resource.value, off);
      off += x.resource.value.length;
    }
    str(0x1a, x.name);
  }
  str(0x22, r.type_url);
  str(0x2a, r.nonce);
  for (const k of removed) str(0x32, k);
  if (off !== size) throw new Error(`DeltaDiscoveryResponse encoding: wrote ${off} bytes of ${size}`);
  const out = buf;
  buf = EMPTY;
  return out;
}

/**
 * encodeDeltaResponse of { type_url, nonce, system_version_info: version, resources: each item as
 * { name: key, version, resource: { type_url: resourceTypeUrl, value: bytes } }, removed_resources },
 * written straight from the items: the same bytes (ads-delta-encode.test.ts compares), without the
 * response object and two objects per resource, for every response of a push to thousands of streams.
 */
export function encodeDeltaItems(typeUrl: string, nonce: string, version: string, resourceTypeUrl: string, items: readonly DeltaItem[], removed: readonly string[]): Buffer {
  const anyTypeField = stringField(resourceTypeUrl);
  let size = stringField(version);
  for (const x of items) {
    // A snapshot entry carries its Resource encoded already (for this type URL): copied as is.
    const w = wireOf(x, resourceTypeUrl);
    if (w !== undefined) {
      size += 1 + varintSize(w.length) + w.length;
      continue;
    }
    const anyLen = anyTypeField + 1 + varintSize(x.bytes.length) + x.bytes.length;
    const n = stringField(x.version) + 1 + varintSize(anyLen) + anyLen + stringField(x.key);
    size += 1 + varintSize(n) + n;
  }
  size += stringField(typeUrl);
  size += stringField(nonce);
  for (const k of removed) size += stringField(k);

  buf = allocate(size);
  off = 0;
  str(0x0a, version);
  for (const x of items) {
    const w = wireOf(x, resourceTypeUrl);
    if (w !== undefined) {
      buf[off++] = 0x12;
      varint(w.length);
      buf.set(w, off);
      off += w.length;
      continue;
    }
    // The lengths again rather than kept in arrays: a few additions per resource, no allocation.
    const value = x.bytes;
    const anyLen = anyTypeField + 1 + varintSize(value.length) + value.length;
    buf[off++] = 0x12;
    const n = stringField(x.version) + 1 + varintSize(anyLen) + anyLen + stringField(x.key);
    varint(n);
    str(0x0a, x.version);
    buf[off++] = 0x12;
    varint(anyLen);
    str(0x0a, resourceTypeUrl);
    buf[off++] = 0x12;
    varint(value.length);
    buf.set(value, off);
    off += value.length;
    str(0x1a, x.key);
  }
  str(0x22, typeUrl);
  str(0x2a, nonce);
  for (const k of removed) str(0x32, k);
  if (off !== size) throw new Error(`DeltaDiscoveryResponse encoding: wrote ${off} bytes of ${size}`);
  const out = buf;
  buf = EMPTY;
  return out;
}

/** The item's encoded Resource when it is a snapshot entry of this type URL (XdsEntry.wire). */
function wireOf(x: DeltaItem, resourceTypeUrl: string): Uint8Array | undefined {
  const e = x as Partial<XdsEntry>;
  return e.wire !== undefined && e.resource?.type_url === resourceTypeUrl ? e.wire : undefined;
}

// The buffer being written and the offset in it: module state, not closures made per response
// (encoding is synchronous; one response at a time).
const EMPTY: Buffer = Buffer.alloc(0);
let buf: Buffer = EMPTY;
let off = 0;

function varint(v: number): void {
  while (v > 0x7f) {
    buf[off++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[off++] = v;
}

/** A string field: tag, UTF-8 length, bytes. */
function str(tag: number, s: string): void {
  buf[off++] = tag;
  const len = Buffer.byteLength(s);
  varint(len);
  off += buf.write(s, off, len, 'utf8');
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

function varintSize(v: number): number {
  let n = 1;
  while (v > 0x7f) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Tag (one byte for fields 1-15), length, UTF-8 bytes. */
function stringField(s: string): number {
  const len = Buffer.byteLength(s);
  return 1 + varintSize(len) + len;
}

/** XDS_WIRE with the hand encoder. */
export const FAST_XDS_WIRE: DeltaWire<XdsKind> = { ...XDS_WIRE, encodeResponse: encodeDeltaResponse, encodeItems: encodeDeltaItems };
