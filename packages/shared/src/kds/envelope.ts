import { createHash } from 'node:crypto';
import { type ResourceKind } from '../resources/registry.js';
import type { StoredResource } from '../resources/resource.js';
import { codec, KDS_RESOURCE_TYPE_URL, type KdsResourceMessage } from './proto.js';
import { SYNC_LABELS } from './sync-labels.js';

/** Object keys sorted at every level, so equal content always serializes to equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.keys(v as Record<string, unknown>).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    }
    return v;
  });
}

function contentLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (!SYNC_LABELS.has(k)) out[k] = v;
  return out;
}

/** The KDS version of a resource: a hash of its content (spec and non-sync labels), not its name. */
export function kdsVersion(r: { spec: unknown; labels: Readonly<Record<string, string>> }): string {
  return versionOf(r.labels, canonicalJson(r.spec));
}

/** Hashes the spec's canonical JSON text as is, so a receiver checks the bytes it got without re-encoding them. */
function versionOf(labels: Readonly<Record<string, string>>, specJson: string): string {
  return createHash('sha256').update(canonicalJson(contentLabels(labels))).update('\n').update(specJson).digest('base64url').slice(0, 22);
}

/** A resource's key inside its type on the wire: `mesh/name` or `name` (names cannot hold "/"). */
export function kdsKey(r: { name: string; mesh?: string | undefined }): string {
  return r.mesh === undefined ? r.name : `${r.mesh}/${r.name}`;
}

export function parseKdsKey(key: string): { mesh?: string; name: string } {
  const i = key.indexOf('/');
  return i === -1 ? { name: key } : { mesh: key.slice(0, i), name: key.slice(i + 1) };
}

const TYPE_URL_PREFIX = 'meshfed.io/kds/';
export const typeUrlOf = (kind: ResourceKind) => `${TYPE_URL_PREFIX}${kind}`;
export function kindOfTypeUrl(url: string): string | undefined {
  return url.startsWith(TYPE_URL_PREFIX) ? url.slice(TYPE_URL_PREFIX.length) : undefined;
}

/** A resource ready to send: encoded once, shared by every stream that sends it. */
export interface Envelope {
  readonly key: string;
  readonly type: ResourceKind;
  readonly name: string;
  readonly mesh?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly version: string;
  readonly bytes: Buffer;
}

export function envelopeOf(r: StoredResource): Envelope {
  const version = kdsVersion(r);
  const msg: KdsResourceMessage = {
    meta: { name: r.name, mesh: r.mesh ?? '', labels: { ...r.labels }, version, modified_at_ms: Date.parse(r.modificationTime) || 0 },
    type: r.type,
    spec: Buffer.from(canonicalJson(r.spec)),
  };
  return { key: kdsKey(r), type: r.type, name: r.name, ...(r.mesh !== undefined ? { mesh: r.mesh } : {}), labels: r.labels, version, bytes: codec.encodeResource(msg) };
}

/** What a receiver gets out of one wire resource, or why it cannot use it. */
export type Received =
  | { ok: true; key: string; type: string; name: string; mesh?: string; labels: Record<string, string>; spec: unknown; version: string; modifiedAtMs?: number }
  | { ok: false; key: string; version: string; error: string };

export function openEnvelope(key: string, version: string, any: { type_url?: string; value?: Uint8Array } | undefined, expectedKind: string): Received {
  const fail = (error: string): Received => ({ ok: false, key, version, error });
  if (!any || any.type_url !== KDS_RESOURCE_TYPE_URL || !any.value) return fail(`resource is not a ${KDS_RESOURCE_TYPE_URL}`);
  const d = codec.decodeResource(any.value);
  if (!d.ok) return fail(d.error);
  const m = d.value;
  if (m.type !== expectedKind) return fail(`resource of type ${m.type || '(none)'} in a ${expectedKind} response`);
  const meta = m.meta ?? { name: '', mesh: '', labels: {}, version: '' };
  if (kdsKey({ name: meta.name, mesh: meta.mesh || undefined }) !== key) return fail(`resource named ${kdsKey({ name: meta.name, mesh: meta.mesh || undefined })} sent as ${key}`);
  const specJson = Buffer.from(m.spec ?? []).toString('utf8');
  let spec: unknown;
  try {
    spec = JSON.parse(specJson);
  } catch (err) {
    return fail(`spec is not JSON: ${(err as Error).message}`);
  }
  const labels = meta.labels ?? {};
  // Senders write canonical JSON; anything else, or a tampered spec, does not match its version.
  if (versionOf(labels, specJson) !== version) return fail(`version ${version} does not match the content`);
  return {
    ok: true, key, type: m.type, name: meta.name, ...(meta.mesh ? { mesh: meta.mesh } : {}), labels, spec, version,
    ...(meta.modified_at_ms ? { modifiedAtMs: Number(meta.modified_at_ms) } : {}),
  };
}
