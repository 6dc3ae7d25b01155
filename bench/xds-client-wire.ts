// What the bench's proxies read and write on their delta ADS streams, by hand: of a
// DeltaDiscoveryResponse only what a stream keeps (type URL, nonce, each resource's name and version,
// removals), skipping the resources' Any bytes; an ACK as the two fields Envoy sends. The proxies share
// two cores with the zone CP, so a client that decoded every Any with protobufjs and digested its whole
// state after every response measured itself as much as the CP. `checkClientWire` compares both
// against protobufjs at startup, so the bench refuses to run on a codec that drifted.
import { adsCodec, entryHash } from '@meshfed/shared';

export interface LeanDeltaResponse {
  typeUrl: string;
  nonce: string;
  /** [name, version] of each resource, in order. */
  resources: [string, string][];
  removed: string[];
}

/** Reads protobuf fields by hand from [off, end) of a buffer (the proxyless bench's streams count endpoints with it too). */
export class Reader {
  off: number;
  constructor(readonly buf: Buffer, off: number, readonly end: number) {
    this.off = off;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.off >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.off++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new Error('varint too long');
  }

  /** The [start, end) of a length-delimited field's payload, moving past it. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.off;
    if (start + len > this.end) throw new Error('length past the end');
    this.off = start + len;
    return [start, start + len];
  }

  string(): string {
    const [s, e] = this.span();
    return this.buf.toString('utf8', s, e);
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.off += 8;
    else if (wire === 2) this.span();
    else if (wire === 5) this.off += 4;
    else throw new Error(`unsupported wire type ${wire}`);
    if (this.off > this.end) throw new Error('field past the end');
  }
}

function resourceOf(buf: Buffer, start: number, end: number): [string, string] {
  const r = new Reader(buf, start, end);
  let name = '';
  let version = '';
  while (r.off < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    if (field === 3 && (tag & 7) === 2) name = r.string();
    else if (field === 1 && (tag & 7) === 2) version = r.string();
    else r.skip(tag & 7);
  }
  return [name, version];
}

export function decodeLeanDeltaResponse(frame: Buffer): LeanDeltaResponse {
  const r = new Reader(frame, 0, frame.length);
  const out: LeanDeltaResponse = { typeUrl: '', nonce: '', resources: [], removed: [] };
  while (r.off < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    if ((tag & 7) !== 2) {
      r.skip(tag & 7);
      continue;
    }
    if (field === 2) {
      const [s, e] = r.span();
      out.resources.push(resourceOf(frame, s, e));
    } else if (field === 4) out.typeUrl = r.string();
    else if (field === 5) out.nonce = r.string();
    else if (field === 6) out.removed.push(r.string());
    else r.skip(2);
  }
  return out;
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A DeltaDiscoveryRequest of type_url (field 2) and response_nonce (field 6): an ACK. */
export function encodeAck(typeUrl: string, nonce: string): Buffer {
  const t = Buffer.from(typeUrl, 'utf8');
  const n = Buffer.from(nonce, 'utf8');
  return Buffer.concat([Buffer.from([0x12, ...varintBytes(t.length)]), t, Buffer.from([0x32, ...varintBytes(n.length)]), n]);
}

/**
 * The digest of what a proxy holds: an order-independent sum of one 52-bit hash per (type URL, name,
 * version), and the count, so that a stream can move it by each resource a response adds, replaces or
 * removes instead of re-hashing everything it holds. The zone CP computes it from a snapshot.
 */
export class HeldDigest {
  #sum = 0;
  #count = 0;

  static hash(typeUrl: string, name: string, version: string): number {
    return entryHash(`${typeUrl}\u0001${name}`, version);
  }

  add(h: number): void {
    this.#sum = (this.#sum + h) % 2 ** 52;
    this.#count++;
  }

  remove(h: number): void {
    this.#sum = (this.#sum - h + 2 ** 52) % 2 ** 52;
    this.#count--;
  }

  toString(): string {
    return `${this.#sum.toString(36)}/${this.#count}`;
  }
}

export function stateDigest(entries: Iterable<readonly [typeUrl: string, name: string, version: string]>): string {
  const d = new HeldDigest();
  for (const [t, n, v] of entries) d.add(HeldDigest.hash(t, n, v));
  return d.toString();
}

/** Throws unless the hand codec reads and writes what protobufjs does, on a response with every field set. */
export function checkClientWire(): void {
  const sample = adsCodec.encodeDeltaResponse({
    system_version_info: 'v1',
    type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    nonce: 'n-\u00e9-1',
    resources: [
      { name: 'a', version: '1', resource: { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', value: Buffer.alloc(300, 7) }, aliases: ['x'] },
      { name: 'b\u00fc', version: '2', resource: { type_url: 't', value: Buffer.from([1, 2, 3]) } },
    ],
    removed_resources: ['c', 'd'],
    control_plane: { identifier: 'cp' },
  });
  const lean = decodeLeanDeltaResponse(sample);
  const full = adsCodec.decodeDeltaResponse(sample);
  if (!full.ok) throw new Error(full.error);
  const want: LeanDeltaResponse = {
    typeUrl: full.value.type_url ?? '', nonce: full.value.nonce ?? '',
    resources: (full.value.resources ?? []).map((x) => [x.name ?? '', x.version ?? '']), removed: full.value.removed_resources ?? [],
  };
  if (JSON.stringify(lean) !== JSON.stringify(want)) throw new Error(`hand decoder drifted: ${JSON.stringify(lean)} != ${JSON.stringify(want)}`);
  const ack = encodeAck('type.googleapis.com/envoy.config.cluster.v3.Cluster', 'n-\u00e9-1');
  const ref = adsCodec.encodeDeltaRequest({ type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', response_nonce: 'n-\u00e9-1' });
  if (!ack.equals(ref)) throw new Error('hand ACK encoder drifted from protobufjs');
}
