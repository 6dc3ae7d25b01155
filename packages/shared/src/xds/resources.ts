import protobuf from 'protobufjs';
import type { Any } from '../kds/proto.js';
import { ENVOY_TYPE, type EnvoyTypeName, findEnvoyType } from './envoy-proto.js';
import { EnvoyResourceError } from './errors.js';

export const ENVOY_TYPE_URL_PREFIX = 'type.googleapis.com/';

/** The type URL of an Envoy message (`type.googleapis.com/<full name>`). */
export function envoyTypeUrl<N extends string>(typeName: N): `type.googleapis.com/${N}` {
  return `${ENVOY_TYPE_URL_PREFIX}${typeName}`;
}

/**
 * The xDS resource types meshfed serves over ADS, by short name, in the order a change is pushed:
 * what is referenced before what references it (secrets, clusters, their endpoints, then listeners
 * and routes), so a new listener never reaches Envoy before the cluster it sends traffic to.
 */
export const XDS_TYPE_URL = {
  secret: envoyTypeUrl(ENVOY_TYPE.secret),
  cluster: envoyTypeUrl(ENVOY_TYPE.cluster),
  endpoint: envoyTypeUrl(ENVOY_TYPE.endpoint),
  listener: envoyTypeUrl(ENVOY_TYPE.listener),
  route: envoyTypeUrl(ENVOY_TYPE.route),
} as const;

export type XdsKind = keyof typeof XDS_TYPE_URL;
export type XdsTypeUrl = (typeof XDS_TYPE_URL)[XdsKind];
export const XDS_KINDS = Object.keys(XDS_TYPE_URL) as readonly XdsKind[];

const KIND_BY_URL = new Map<string, XdsKind>(XDS_KINDS.map((k) => [XDS_TYPE_URL[k], k]));

/** The short name of an xDS type URL, or undefined for a type meshfed does not serve. */
export function xdsKindOf(typeUrl: string): XdsKind | undefined {
  return KIND_BY_URL.get(typeUrl);
}

/** A message as a plain object: snake_case field names as in the .proto, enums by name. */
export type EnvoyObject = { readonly [field: string]: unknown };

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const ANY = '.google.protobuf.Any';

function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/**
 * Encodes a plain object as the Envoy message `typeName`, wrapped in an Any. Use it for nested
 * typed configs (`typed_config: typed(ENVOY_TYPE.tcpProxy, { stat_prefix, cluster })`) and for
 * resources. The object is checked first: an unknown field, a wrong scalar, an unknown enum name,
 * a non-array for a repeated field or two members of one oneof throw an EnvoyResourceError naming
 * the type and the field's path. Encoding is deterministic (fields by number, map keys sorted), so
 * equal objects give equal bytes and content hashes of the result are stable.
 */
export function typed(typeName: EnvoyTypeName, object: EnvoyObject): Any {
  return { type_url: envoyTypeUrl(typeName), value: encodeChecked(typeName, object) };
}

/** Like typed, by type URL: `pack(XDS_TYPE_URL.cluster, {...})`. */
export function pack(typeUrl: string, object: EnvoyObject): Any {
  return { type_url: typeUrl, value: encodeChecked(typeNameOfUrl(typeUrl), object) };
}

/**
 * Decodes an Any back to the plain form typed/pack take: enums by name, 64-bit integers as numbers,
 * bytes as Buffers, nested Anys left packed, unset fields absent. `unpack(typed(t, o))` deep-equals `o`
 * when `o` is in that form (no undefined values, no empty arrays or maps, enums by name).
 */
export function unpack(any: Any): EnvoyObject {
  const typeName = typeNameOfUrl(any.type_url);
  const type = findEnvoyType(typeName);
  if (!type) throw new EnvoyResourceError(typeName, '', `unknown type URL ${any.type_url}`);
  let message: protobuf.Message;
  try {
    message = type.decode(asBuffer(any.value));
  } catch (err) {
    throw new EnvoyResourceError(typeName, '', `cannot decode: ${(err as Error).message}`, { cause: err });
  }
  return type.toObject(message, { enums: String, longs: Number });
}

/** A view of the same bytes as a Buffer: protobufjs then decodes bytes fields as Buffers too. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function encodeChecked(typeName: string, object: EnvoyObject): Buffer {
  const type = findEnvoyType(typeName);
  if (!type) throw new EnvoyResourceError(typeName, '', 'unknown Envoy type (not in ENVOY_TYPE or not loaded)');
  const normalized = normalizeMessage(typeName, type, object, '');
  // protobufjs's own check, as a last line behind the walk above (which gives better paths).
  const problem = type.verify(normalized);
  if (problem !== null) {
    const colon = problem.indexOf(': ');
    throw colon > 0
      ? new EnvoyResourceError(typeName, problem.slice(0, colon), problem.slice(colon + 2))
      : new EnvoyResourceError(typeName, '', problem);
  }
  return asBuffer(type.encode(normalized).finish());
}

// ---- checking a plain object against a message type ------------------------------------------

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'bytes';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

const at = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

// protobufjs computes fullName by walking parents on every read: remember it per reflection object.
const fullNames = new WeakMap<protobuf.ReflectionObject, string>();
function fullNameOf(r: protobuf.ReflectionObject): string {
  let name = fullNames.get(r);
  if (name === undefined) {
    name = r.fullName;
    fullNames.set(r, name);
  }
  return name;
}
const shortName = (r: protobuf.ReflectionObject) => fullNameOf(r).slice(1);
const squash = (s: string) => s.replace(/_/g, '').toLowerCase();

function unknownField(type: protobuf.Type, key: string): string {
  const near = type.fieldsArray.find((f) => squash(f.name) === squash(key));
  return `unknown field "${key}" in ${shortName(type)}${near ? ` (did you mean "${near.name}"?)` : ''}`;
}

function normalizeMessage(root: string, type: protobuf.Type, value: unknown, path: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw new EnvoyResourceError(root, path, `expected an object (${shortName(type)}), got ${describe(value)}`);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (v === undefined || v === null) continue;
    const field = type.fields[key];
    const p = at(path, key);
    if (!field) throw new EnvoyResourceError(root, p, unknownField(type, key));
    field.resolve();
    if (field.map) {
      if (!isPlainObject(v)) throw new EnvoyResourceError(root, p, `expected an object (map), got ${describe(v)}`);
      const map: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) map[k] = normalizeValue(root, field, v[k], `${p}[${JSON.stringify(k)}]`);
      out[key] = map;
    } else if (field.repeated) {
      if (!Array.isArray(v)) throw new EnvoyResourceError(root, p, `expected an array (repeated), got ${describe(v)}`);
      out[key] = v.map((x: unknown, i) => normalizeValue(root, field, x, `${p}[${i}]`));
    } else {
      out[key] = normalizeValue(root, field, v, p);
    }
  }
  for (const oneof of type.oneofsArray) {
    let count = 0;
    for (const name of oneof.oneof) if (out[name] !== undefined) count++;
    if (count > 1) {
      const set = oneof.oneof.filter((name) => out[name] !== undefined);
      throw new EnvoyResourceError(root, at(path, set[1] ?? ''), `only one of ${oneof.name} may be set, got ${set.join(' and ')}`);
    }
  }
  return out;
}

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const UINT32 = { min: 0, max: 2 ** 32 - 1 };
const INT64 = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
const UINT64 = { min: 0, max: Number.MAX_SAFE_INTEGER };
const INTEGER_RANGE: Record<string, { min: number; max: number }> = {
  int32: INT32, sint32: INT32, sfixed32: INT32,
  uint32: UINT32, fixed32: UINT32,
  int64: INT64, sint64: INT64, sfixed64: INT64,
  uint64: UINT64, fixed64: UINT64,
};

function normalizeValue(root: string, field: protobuf.Field, v: unknown, path: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'string') {
      const n = rt.values[v];
      if (n === undefined) throw new EnvoyResourceError(root, path, `unknown ${shortName(rt)} value "${v}" (one of ${Object.keys(rt.values).join(', ')})`);
      return n;
    }
    if (typeof v === 'number' && rt.valuesById[v] !== undefined) return v;
    throw new EnvoyResourceError(root, path, `expected a ${shortName(rt)} name, got ${describe(v)}`);
  }
  if (rt instanceof protobuf.Type) {
    if (fullNameOf(rt) !== ANY) return normalizeMessage(root, rt, v, path);
    if (!isPlainObject(v)) throw new EnvoyResourceError(root, path, `expected an Any ({ type_url, value }, see typed()), got ${describe(v)}`);
    const extra = Object.keys(v).filter((k) => k !== 'type_url' && k !== 'value');
    if (extra.length > 0) throw new EnvoyResourceError(root, at(path, extra[0] ?? ''), 'an Any has only type_url and value: build it with typed()');
    if (typeof v.type_url !== 'string' || v.type_url === '') throw new EnvoyResourceError(root, at(path, 'type_url'), 'expected a type URL');
    if (!(v.value instanceof Uint8Array)) throw new EnvoyResourceError(root, at(path, 'value'), `expected bytes, got ${describe(v.value)}`);
    return v;
  }
  const range = INTEGER_RANGE[field.type];
  if (range) {
    if (typeof v === 'number' && Number.isInteger(v) && v >= range.min && v <= range.max) return v;
    throw new EnvoyResourceError(root, path, `expected a ${field.type} integer, got ${describe(v)}`);
  }
  switch (field.type) {
    case 'string':
      if (typeof v === 'string') return v;
      break;
    case 'bool':
      if (typeof v === 'boolean') return v;
      break;
    case 'double':
    case 'float':
      if (typeof v === 'number') return v;
      break;
    case 'bytes':
      if (v instanceof Uint8Array) return v;
      if (typeof v === 'string') return Buffer.from(v, 'base64');
      break;
  }
  throw new EnvoyResourceError(root, path, `expected a ${field.type}, got ${describe(v)}`);
}

// ---- proto3 JSON, as Envoy's admin config dump prints it ----------------------------------------

/**
 * An Any as proto3 JSON with `@type`, every nested Any expanded the same way: what Envoy's admin
 * `/config_dump` prints (snake_case names — Envoy preserves proto field names — defaults omitted,
 * 64-bit integers as strings, Durations as "1.5s", Struct as plain JSON). Fields Envoy marks
 * sensitive (private keys, passwords) are redacted as Envoy does. Never throws: an Any of a type
 * that is not loaded, or whose bytes do not decode, shows as `{ "@type", "value": <base64> }`.
 */
export function toConfigDumpJson(any: Any): JsonObject {
  return anyJson(any.type_url, any.value, false);
}

/** The same JSON without the outer `@type`: the form Envoy reads as a file (e.g. a bootstrap). */
export function toEnvoyJson(any: Any): JsonObject {
  const { ['@type']: _omitted, ...rest } = toConfigDumpJson(any);
  return rest;
}

// Well-known types whose JSON is not an object of fields; inside an Any they go under "value".
const SPECIAL_JSON = new Set([
  '.google.protobuf.Duration', '.google.protobuf.Timestamp', '.google.protobuf.FieldMask',
  '.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue',
  '.google.protobuf.DoubleValue', '.google.protobuf.FloatValue', '.google.protobuf.Int64Value',
  '.google.protobuf.UInt64Value', '.google.protobuf.Int32Value', '.google.protobuf.UInt32Value',
  '.google.protobuf.BoolValue', '.google.protobuf.StringValue', '.google.protobuf.BytesValue',
]);

const REDACTED = '[redacted]';
const SENSITIVE = '(udpa.annotations.sensitive)';

function anyJson(typeUrl: string, value: Uint8Array, sensitive: boolean): JsonObject {
  const type = findEnvoyType(typeNameOfUrl(typeUrl));
  if (type) {
    try {
      const inner = messageJson(type, type.decode(value), sensitive);
      if (SPECIAL_JSON.has(fullNameOf(type)) || !isJsonObject(inner)) return { '@type': typeUrl, value: inner };
      return { '@type': typeUrl, ...inner };
    } catch {
      // fall through to the opaque form
    }
  }
  return { '@type': typeUrl, value: Buffer.from(value).toString('base64') };
}

function isJsonObject(v: JsonValue): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type Fields = Record<string, unknown>;
const own = (m: object, name: string) => Object.prototype.hasOwnProperty.call(m, name);

function messageJson(type: protobuf.Type, message: object, sensitive: boolean): JsonValue {
  const m = message as Fields;
  const typeName = fullNameOf(type);
  switch (typeName) {
    case ANY:
      return anyJson(String(m.type_url ?? ''), m.value instanceof Uint8Array ? m.value : new Uint8Array(), sensitive);
    case '.google.protobuf.Duration':
      return `${signed(m.seconds, m.nanos)}s`;
    case '.google.protobuf.Timestamp':
      return timestamp(m.seconds, m.nanos);
    case '.google.protobuf.FieldMask':
      return (Array.isArray(m.paths) ? m.paths : []).map((p) => String(p).replace(/_([a-z])/g, (_s, c: string) => c.toUpperCase())).join(',');
    case '.google.protobuf.Struct':
      return structJson(m);
    case '.google.protobuf.ListValue':
      return (Array.isArray(m.values) ? m.values : []).map((v: object) => valueJson(v));
    case '.google.protobuf.Value':
      return valueJson(m);
  }
  if (SPECIAL_JSON.has(typeName)) {
    // wrappers: the bare value, defaulted when unset
    const field = type.fields.value;
    return field ? scalarJson(field, own(m, 'value') ? m.value : field.defaultValue, sensitive) : null;
  }
  const out: JsonObject = {};
  for (const field of type.fieldsArray) {
    if (!own(m, field.name)) continue;
    const v = m[field.name];
    if (v === null || v === undefined) continue;
    field.resolve();
    const hidden = sensitive || field.options?.[SENSITIVE] === true;
    if (field.map) {
      const entries = Object.entries(v as Fields);
      if (entries.length === 0) continue;
      const map: JsonObject = {};
      for (const [k, x] of entries) map[k] = fieldValueJson(field, x, hidden);
      out[field.name] = map;
    } else if (field.repeated) {
      const list = v as unknown[];
      if (list.length === 0) continue;
      out[field.name] = list.map((x) => fieldValueJson(field, x, hidden));
    } else {
      // proto3 implicit presence: a scalar at its default is not printed (oneof members always are)
      if (!field.partOf && !(field.resolvedType instanceof protobuf.Type) && isDefault(v)) continue;
      out[field.name] = fieldValueJson(field, v, hidden);
    }
  }
  return out;
}

function fieldValueJson(field: protobuf.Field, v: unknown, sensitive: boolean): JsonValue {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageJson(rt, v as object, sensitive);
  if (rt instanceof protobuf.Enum) {
    if (fullNameOf(rt) === '.google.protobuf.NullValue') return null;
    return rt.valuesById[v as number] ?? (v as number);
  }
  return scalarJson(field, v, sensitive);
}

function scalarJson(field: protobuf.Field, v: unknown, sensitive: boolean): JsonValue {
  switch (field.type) {
    case 'string':
      return sensitive ? REDACTED : String(v);
    case 'bytes':
      return Buffer.from(sensitive ? Buffer.from(REDACTED) : (v as Uint8Array)).toString('base64');
    case 'bool':
      return Boolean(v);
    case 'int64': case 'uint64': case 'sint64': case 'fixed64': case 'sfixed64':
      return String(v);
    case 'double':
    case 'float': {
      const n = Number(v);
      if (Number.isNaN(n)) return 'NaN';
      if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
      return field.type === 'float' ? shortestFloat32(n) : n;
    }
    default:
      return Number(v);
  }
}

function isDefault(v: unknown): boolean {
  if (v === 0 || v === '' || v === false) return true;
  if (v instanceof Uint8Array) return v.length === 0;
  if (typeof v === 'object' && v !== null && 'isZero' in v && typeof v.isZero === 'function') return v.isZero() === true; // Long
  return false;
}

/** A float32 read back as a double (0.10000000149011612) printed as its shortest form (0.1). */
function shortestFloat32(n: number): number {
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(n.toPrecision(p));
    if (Math.fround(candidate) === n) return candidate;
  }
  return n;
}

function nanosFraction(nanos: number): string {
  if (nanos === 0) return '';
  const digits = String(nanos).padStart(9, '0');
  if (nanos % 1_000_000 === 0) return `.${digits.slice(0, 3)}`;
  if (nanos % 1_000 === 0) return `.${digits.slice(0, 6)}`;
  return `.${digits}`;
}

function signed(seconds: unknown, nanos: unknown): string {
  const s = Number(seconds ?? 0);
  const n = Number(nanos ?? 0);
  const negative = s < 0 || n < 0;
  return `${negative ? '-' : ''}${Math.abs(s)}${nanosFraction(Math.abs(n))}`;
}

function timestamp(seconds: unknown, nanos: unknown): string {
  const iso = new Date(Number(seconds ?? 0) * 1000).toISOString().slice(0, 19);
  return `${iso}${nanosFraction(Number(nanos ?? 0))}Z`;
}

function structJson(m: Fields): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries((m.fields ?? {}) as Record<string, object>)) out[k] = valueJson(v);
  return out;
}

function valueJson(v: object): JsonValue {
  const m = v as Fields;
  if (own(m, 'number_value')) return Number(m.number_value);
  if (own(m, 'string_value')) return String(m.string_value);
  if (own(m, 'bool_value')) return Boolean(m.bool_value);
  if (own(m, 'struct_value') && m.struct_value) return structJson(m.struct_value as Fields);
  if (own(m, 'list_value') && m.list_value) {
    const values = (m.list_value as Fields).values;
    return (Array.isArray(values) ? values : []).map((x: object) => valueJson(x));
  }
  return null;
}

// ---- google.protobuf.Struct <-> JSON, for node metadata ------------------------------------------

/** google.protobuf.Struct in plain form; toStruct/fromStruct convert it to and from JSON. */
export interface EnvoyStruct {
  fields?: Record<string, EnvoyStructValue>;
}

export interface EnvoyStructValue {
  null_value?: 'NULL_VALUE' | 0;
  number_value?: number;
  string_value?: string;
  bool_value?: boolean;
  struct_value?: EnvoyStruct;
  list_value?: { values?: EnvoyStructValue[] };
}

/** JSON as the plain form of a google.protobuf.Struct (what typed/pack and the ADS codec take). */
export function toStruct(json: JsonObject): EnvoyStruct {
  const fields: Record<string, EnvoyStructValue> = {};
  for (const [k, v] of Object.entries(json)) fields[k] = toStructValue(v);
  return { fields };
}

function toStructValue(v: JsonValue): EnvoyStructValue {
  if (v === null) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(toStructValue) } };
  return { struct_value: toStruct(v) };
}

/** A decoded google.protobuf.Struct (plain form) as JSON; anything malformed reads as empty. */
export function fromStruct(struct: EnvoyStruct | undefined): JsonObject {
  return isPlainObject(struct) ? structJson(struct) : {};
}

// ---- the admin config dump ---------------------------------------------------------------------

export interface ConfigDumpResource {
  readonly name: string;
  readonly resource: Any;
  /** This resource's version; the section's when absent. */
  readonly version?: string;
}

export interface ConfigDumpSection {
  readonly version: string;
  readonly resources: readonly ConfigDumpResource[];
}

export type ConfigDumpInput = Partial<Record<XdsKind, ConfigDumpSection>>;

/**
 * An envoy.admin.v3.ConfigDump of what a proxy is served, one dynamic section per xDS type in
 * Envoy's order (clusters, endpoints, listeners, routes, secrets). `toEnvoyJson(configDump(x))` is
 * what `GET …/xds` answers; every nested Any in it carries `@type`.
 */
export function configDump(input: ConfigDumpInput): Any {
  const configs: Any[] = [];
  const v = (r: ConfigDumpResource, s: ConfigDumpSection) => r.version ?? s.version;
  const { cluster, endpoint, listener, route, secret } = input;
  if (cluster) {
    configs.push(typed(ENVOY_TYPE.clustersConfigDump, {
      version_info: cluster.version,
      dynamic_active_clusters: cluster.resources.map((r) => ({ version_info: v(r, cluster), cluster: r.resource })),
    }));
  }
  if (endpoint) {
    configs.push(typed(ENVOY_TYPE.endpointsConfigDump, {
      dynamic_endpoint_configs: endpoint.resources.map((r) => ({ version_info: v(r, endpoint), endpoint_config: r.resource })),
    }));
  }
  if (listener) {
    configs.push(typed(ENVOY_TYPE.listenersConfigDump, {
      version_info: listener.version,
      dynamic_listeners: listener.resources.map((r) => ({
        name: r.name,
        active_state: { version_info: v(r, listener), listener: r.resource },
      })),
    }));
  }
  if (route) {
    configs.push(typed(ENVOY_TYPE.routesConfigDump, {
      dynamic_route_configs: route.resources.map((r) => ({ version_info: v(r, route), route_config: r.resource })),
    }));
  }
  if (secret) {
    configs.push(typed(ENVOY_TYPE.secretsConfigDump, {
      dynamic_active_secrets: secret.resources.map((r) => ({ name: r.name, version_info: v(r, secret), secret: r.resource })),
    }));
  }
  return typed(ENVOY_TYPE.configDump, { configs });
}
