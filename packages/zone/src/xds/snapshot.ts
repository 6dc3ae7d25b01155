import { createHash, hash as cryptoHash } from 'node:crypto';
import { fieldSize, ProtoWriter, stringFieldSize } from './proto-writer.js';
import { type Any, ENVOY_TYPE, entryHash, envoyTypeUrl, type EnvoyObject, unpack, XDS_KINDS, XDS_TYPE_URL, type XdsKind } from '@meshfed/shared';

/** One resource of a snapshot: its name, the hash of its encoded bytes, and the Any it travels in. */
export interface XdsEntry {
  /** The resource's name (the key the delta protocol uses). */
  readonly key: string;
  /** Content hash of the encoded resource: equal bytes, equal version. */
  readonly version: string;
  readonly resource: Any;
  /** The Any's value, shared with `resource` (what ProviderSession sends). */
  readonly bytes: Uint8Array;
  /**
   * The entry as the envoy.service.discovery.v3.Resource a delta response carries (version, the Any,
   * name), encoded once per entry rather than once per push: a resource shared by every proxy of a
   * shape is then one copy into each response. `bytes` and `resource.value` are views into it.
   */
  readonly wire: Uint8Array;
  /** entryHash(key, version), which the delta session needs on every push and ACK. */
  readonly hash: number;
}

/** All resources of one type: by name, plus a version over (name, version) pairs. */
export interface XdsTypeSnapshot {
  readonly version: string;
  readonly entries: ReadonlyMap<string, XdsEntry>;
}

/** What one proxy is served: every xDS type, immutable, with a version that changes iff the content does. */
export interface XdsSnapshot {
  readonly version: string;
  readonly types: Readonly<Record<XdsKind, XdsTypeSnapshot>>;
}

/**
 * A type's resources as a map shared by many proxies (see sharedResources) plus a few of the proxy's
 * own (a sidecar's inbound listeners next to its shape's outbound listeners): the shared part's
 * entries are built once, and per proxy only its own resources are hashed and merged in. An own
 * resource replaces a shared one of the same name. The result equals a plain map of the union.
 */
export class LayeredResources {
  constructor(readonly shared: ReadonlyMap<string, Any>, readonly own: ReadonlyMap<string, Any>) {}
}

/** The input of makeSnapshot: by type, resource name → resource. Absent types are empty. */
export type XdsResources = Partial<Record<XdsKind, Readonly<Record<string, Any>> | ReadonlyMap<string, Any> | LayeredResources>>;

function hash(...parts: (string | Uint8Array)[]): string {
  if (parts.every((p) => typeof p === 'string')) return hashString(`${parts.join('\0')}\0`);
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('base64url').slice(0, 22);
}

/** sha256 of one string, one-shot: several times cheaper than a Hash object, and this runs per proxy per type. */
function hashString(s: string): string {
  return cryptoHash('sha256', s, 'base64url').slice(0, 22);
}

/** The version of a set of entries (or of a subset, for SotW subscriptions to named resources). */
export function versionOfEntries(entries: Iterable<XdsEntry>): string {
  const pairs = [...entries].map((e) => `${e.key}\u0001${e.version}`).sort();
  return hash(...pairs);
}

const NUL = Buffer.from([0]);

/** Hashes by Any object: generators share one encoded resource among many proxies' snapshots. */
const resourceVersions = new WeakMap<Any, string>();
function resourceVersion(resource: Any): string {
  let v = resourceVersions.get(resource);
  if (v === undefined) resourceVersions.set(resource, (v = contentVersion(resource)));
  return v;
}

/** The same digest as hash(type_url, value), one-shot: a Hash object per proxy's own resources cost more than the copy. */
function contentVersion(resource: Any): string {
  return cryptoHash('sha256', Buffer.concat([Buffer.from(`${resource.type_url}\0`), resource.value, NUL]), 'base64url').slice(0, 22);
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/**
 * Entries by Any object: a resource shared by many proxies' snapshots (always under the same name)
 * shares one frozen entry too, instead of one per snapshot.
 */
const sharedEntries = new WeakMap<Any, XdsEntry>();
function entryOf(name: string, resource: Any): XdsEntry {
  const cached = sharedEntries.get(resource);
  if (cached?.key === name) return cached;
  const e = newEntry(name, resourceVersion(resource), resource);
  if (!cached) sharedEntries.set(resource, e);
  return e;
}

/** An entry of one proxy's own resource: not looked up or kept by Any (it is in one snapshot only). */
function ownEntry(name: string, resource: Any): XdsEntry {
  return newEntry(name, contentVersion(resource), resource);
}

function newEntry(key: string, version: string, resource: Any): XdsEntry {
  const { wire, valueAt } = encodeResource(key, version, resource);
  const value = wire.subarray(valueAt, valueAt + resource.value.length);
  return Object.freeze({ key, version, resource: Object.freeze({ type_url: resource.type_url, value }), bytes: value, wire, hash: entryHash(key, version) });
}

/**
 * envoy.service.discovery.v3.Resource { version = 1; resource = 2 (Any { type_url = 1; value = 2 }); name = 3 }
 * with the bytes protobufjs writes (string fields written even when empty), and where the Any's value starts.
 */
export function encodeResource(name: string, version: string, resource: Any): { wire: Buffer; valueAt: number } {
  const anyLen = stringFieldSize(resource.type_url) + fieldSize(resource.value.length);
  const w = new ProtoWriter(Buffer.allocUnsafe(stringFieldSize(version) + fieldSize(anyLen) + stringFieldSize(name)));
  w.string(0x0a, version);
  w.header(0x12, anyLen);
  w.string(0x0a, resource.type_url);
  const valueAt = w.bytes(0x12, resource.value);
  w.string(0x1a, name);
  return { wire: w.end('Resource'), valueAt };
}

/** The version of a type with no resources: a constant, not a hash per snapshot. */
const EMPTY_TYPE_VERSION = hash('');
/** Every empty type, shared (never mutated). */
const EMPTY_TYPE: XdsTypeSnapshot = Object.freeze({ version: EMPTY_TYPE_VERSION, entries: new Map<string, XdsEntry>() });

/**
 * Maps of resources promised never to change again, shared by many proxies' inputs (the resources of
 * one service's instances): makeSnapshot builds the type's entries and version once per such map.
 */
const sharedInputs = new WeakSet<ReadonlyMap<string, Any>>();
const sharedTypes = new WeakMap<ReadonlyMap<string, Any>, XdsTypeSnapshot>();

/** Marks `map` as immutable from now on (the caller's promise) and returns it; see makeSnapshot. */
export function sharedResources<M extends ReadonlyMap<string, Any>>(map: M): M {
  sharedInputs.add(map);
  return map;
}

function typeSnapshot(input: Readonly<Record<string, Any>> | ReadonlyMap<string, Any> | LayeredResources | undefined): XdsTypeSnapshot {
  if (input === undefined) return EMPTY_TYPE;
  if (input instanceof LayeredResources) return layeredType(input);
  const shared = input instanceof Map && sharedInputs.has(input);
  if (shared) {
    const cached = sharedTypes.get(input);
    if (cached) return cached;
  }
  const map = input instanceof Map ? input : new Map(Object.entries(input));
  if (map.size === 0) return EMPTY_TYPE;
  const entries = new Map<string, XdsEntry>();
  let pairs = '';
  for (const name of [...map.keys()].sort(byName)) {
    const e = entryOf(name, map.get(name)!);
    entries.set(name, e);
    pairs += `${name}\u0001${e.version}\u0000`;
  }
  const t: XdsTypeSnapshot = Object.freeze({ version: hashString(pairs), entries });
  if (shared) sharedTypes.set(input, t);
  return t;
}

/** typeSnapshot of the union: the shared part's sorted entries merged with the own ones, sorted. */
function layeredType(input: LayeredResources): XdsTypeSnapshot {
  const base = typeSnapshot(input.shared);
  if (input.own.size === 0) return base;
  const own = [...input.own.keys()].sort(byName);
  const entries = new Map<string, XdsEntry>();
  let pairs = '';
  const add = (e: XdsEntry) => {
    entries.set(e.key, e);
    pairs += `${e.key}\u0001${e.version}\u0000`;
  };
  let i = 0;
  const addOwnBefore = (name: string | undefined) => {
    for (; i < own.length && (name === undefined || byName(own[i]!, name) <= 0); i++) add(ownEntry(own[i]!, input.own.get(own[i]!)!));
  };
  // base.entries is in name order (typeSnapshot inserts sorted); an own name equal to a shared one replaces it.
  for (const [name, e] of base.entries) {
    const replaced = i < own.length && own[i] === name;
    addOwnBefore(name);
    if (!replaced) add(e);
  }
  addOwnBefore(undefined);
  return Object.freeze({ version: hashString(pairs), entries });
}

/**
 * Builds an immutable snapshot, hashing each resource's encoded bytes (once per shared resource). A
 * type's version is one hash over its (name, version) pairs in name order: the entries are sorted
 * once here, and the whole string is hashed in one call (this runs for every proxy of a mesh-wide
 * change). A type given as a sharedResources map is built once and its XdsTypeSnapshot shared by
 * every snapshot given the same map.
 */
export function makeSnapshot(resources: XdsResources): XdsSnapshot {
  const types = {} as Record<XdsKind, XdsTypeSnapshot>;
  let all = '';
  for (const kind of XDS_KINDS) {
    const t = typeSnapshot(resources[kind]);
    types[kind] = t;
    all += `${kind}:${t.version}\u0000`;
  }
  return Object.freeze({ version: hashString(all), types: Object.freeze(types) });
}

export const EMPTY_SNAPSHOT: XdsSnapshot = makeSnapshot({});

export type SnapshotProblem =
  | { readonly kind: 'wrong-type'; readonly type: XdsKind; readonly name: string; readonly detail: string }
  | { readonly kind: 'undecodable'; readonly type: XdsKind; readonly name: string; readonly detail: string }
  | { readonly kind: 'name-mismatch'; readonly type: XdsKind; readonly name: string; readonly detail: string }
  | { readonly kind: 'missing-endpoints'; readonly type: 'cluster'; readonly name: string; readonly detail: string }
  | { readonly kind: 'missing-route'; readonly type: 'listener'; readonly name: string; readonly detail: string };

const HCM_TYPE_URL = envoyTypeUrl(ENVOY_TYPE.httpConnectionManager);

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function objects(v: unknown): EnvoyObject[] {
  return Array.isArray(v) ? v.filter((x): x is EnvoyObject => typeof x === 'object' && x !== null) : [];
}

function obj(v: unknown): EnvoyObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as EnvoyObject) : undefined;
}

function isAny(v: unknown): v is Any {
  const o = obj(v);
  return o !== undefined && typeof o['type_url'] === 'string' && o['value'] instanceof Uint8Array;
}

/** The RDS route configuration names a listener's HTTP connection managers reference. */
function rdsNamesOf(listener: EnvoyObject): string[] {
  const chains = [...objects(listener['filter_chains'])];
  const dflt = obj(listener['default_filter_chain']);
  if (dflt) chains.push(dflt);
  const names: string[] = [];
  for (const chain of chains) {
    for (const filter of objects(chain['filters'])) {
      const tc = filter['typed_config'];
      if (!isAny(tc) || tc.type_url !== HCM_TYPE_URL) continue;
      const name = str(obj(unpack(tc)['rds'])?.['route_config_name']);
      if (name) names.push(name);
    }
  }
  return names;
}

/**
 * Whether a snapshot can be served as is: every resource is of its type and named as keyed, every EDS
 * cluster has its ClusterLoadAssignment, and every RDS name a listener references exists. Problems are
 * returned, never thrown; an empty list means consistent.
 */
export function checkSnapshot(snapshot: XdsSnapshot): SnapshotProblem[] {
  const problems: SnapshotProblem[] = [];
  const decoded = new Map<string, EnvoyObject>();
  for (const kind of XDS_KINDS) {
    for (const [name, e] of snapshot.types[kind].entries) {
      if (e.resource.type_url !== XDS_TYPE_URL[kind]) {
        problems.push({ kind: 'wrong-type', type: kind, name, detail: `a ${e.resource.type_url} among ${kind} resources` });
        continue;
      }
      let o: EnvoyObject;
      try {
        o = unpack(e.resource);
      } catch (err) {
        problems.push({ kind: 'undecodable', type: kind, name, detail: (err as Error).message });
        continue;
      }
      const own = kind === 'endpoint' ? str(o['cluster_name']) : str(o['name']);
      if (own !== name) problems.push({ kind: 'name-mismatch', type: kind, name, detail: `the resource calls itself ${JSON.stringify(own ?? '')}` });
      decoded.set(`${kind}/${name}`, o);
    }
  }
  const endpoints = snapshot.types.endpoint.entries;
  for (const name of snapshot.types.cluster.entries.keys()) {
    const c = decoded.get(`cluster/${name}`);
    if (!c || c['type'] !== 'EDS') continue;
    const service = str(obj(c['eds_cluster_config'])?.['service_name']) ?? name;
    if (!endpoints.has(service)) problems.push({ kind: 'missing-endpoints', type: 'cluster', name, detail: `EDS cluster ${name} has no ClusterLoadAssignment ${service}` });
  }
  const routes = snapshot.types.route.entries;
  for (const name of snapshot.types.listener.entries.keys()) {
    const l = decoded.get(`listener/${name}`);
    if (!l) continue;
    let refs: string[];
    try {
      refs = rdsNamesOf(l);
    } catch (err) {
      problems.push({ kind: 'undecodable', type: 'listener', name, detail: (err as Error).message });
      continue;
    }
    for (const r of refs) if (!routes.has(r)) problems.push({ kind: 'missing-route', type: 'listener', name, detail: `listener ${name} references route configuration ${r}, which does not exist` });
  }
  return problems;
}
