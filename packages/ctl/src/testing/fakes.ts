// Test doubles: an Io that records output and an in-memory control plane behind a fetch function.
import type { Io } from '../io.js';

export interface RecordingIo extends Io {
  readonly stdout: () => string;
  readonly stderr: () => string;
}

export function recordingIo(
  options: {
    fetch?: typeof fetch;
    files?: Record<string, string>;
    stdin?: string;
    env?: Record<string, string>;
    now?: number;
  } = {},
): RecordingIo {
  let out = '';
  let err = '';
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    readStdin: async () => options.stdin ?? '',
    readFile: async (path) => {
      const f = options.files?.[path];
      if (f === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
      return f;
    },
    env: options.env ?? {},
    now: () => options.now ?? Date.parse('2024-01-01T00:00:00Z'),
    fetch: options.fetch ?? (async () => Promise.reject(new TypeError('fetch failed'))),
    stdout: () => out,
    stderr: () => err,
  };
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

type Stored = Record<string, unknown> & { type: string; name: string; mesh?: string };

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/**
 * Enough of the REST contract for the CLI: lists with `size`/`offset`/`next`, PUT 201/200, DELETE,
 * 404s. `validate` may answer an error body for a PUT, as the real control plane's validation does.
 */
export function fakeControlPlane(
  options: {
    pageSize?: number;
    base?: string;
    validate?: (body: Stored) => { status: number; body: unknown } | undefined;
  } = {},
) {
  const base = options.base ?? 'http://cp.test:5681';
  const pageSize = options.pageSize ?? 100;
  const store = new Map<string, Stored>();
  const requests: RecordedRequest[] = [];
  const MESH_SCOPED_PLURALS = new Set(['dataplanes', 'meshgateways', 'meshgatewayroutes', 'external-services', 'meshtrafficpermissions']);
  const KIND_BY_PLURAL: Record<string, string> = {
    meshes: 'Mesh',
    dataplanes: 'Dataplane',
    meshgateways: 'MeshGateway',
    meshgatewayroutes: 'MeshGatewayRoute',
    zoneegresses: 'ZoneEgress',
    'external-services': 'ExternalService',
    meshtrafficpermissions: 'MeshTrafficPermission',
  };
  let clock = 0;

  const fetchFn: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? 'GET';
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    requests.push({ method, url: url.href, headers, ...(body !== undefined ? { body } : {}) });

    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let mesh: string | undefined;
    let plural: string | undefined;
    let name: string | undefined;
    if (parts[0] === 'meshes' && parts.length >= 3) [, mesh, plural, name] = parts;
    else [plural, name] = parts;
    const kind = plural ? KIND_BY_PLURAL[plural] : undefined;
    if (!kind || !plural) return json(404, { title: 'Not found', details: `no route ${url.pathname}`, causes: [] });
    const key = `${kind}/${mesh ?? ''}/${name ?? ''}`;

    if (name === undefined && method === 'GET') {
      const all = [...store.values()].filter((r) => r.type === kind && (mesh === undefined || r.mesh === mesh));
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const size = Number(url.searchParams.get('size') ?? pageSize);
      const items = all.slice(offset, offset + size);
      const next = offset + size < all.length ? `${base}${url.pathname}?size=${size}&offset=${offset + size}` : null;
      return json(200, { total: all.length, items, next });
    }
    if (name === undefined) return json(405, { title: 'Method not allowed', details: method, causes: [] });
    if (MESH_SCOPED_PLURALS.has(plural) && mesh === undefined) return json(404, { title: 'Not found', details: 'no route', causes: [] });
    const what = mesh ? `${kind} "${name}" in mesh "${mesh}"` : `${kind} "${name}"`;

    if (method === 'GET') {
      const r = store.get(key);
      return r ? json(200, r, { etag: '"1"' }) : json(404, { title: 'Not found', details: `${what} not found`, causes: [] });
    }
    if (method === 'DELETE') {
      if (!store.delete(key)) return json(404, { title: 'Not found', details: `${what} not found`, causes: [] });
      return json(200, {});
    }
    if (method === 'PUT') {
      const b = body as Stored;
      const rejected = options.validate?.(b);
      if (rejected) return json(rejected.status, rejected.body);
      const prev = store.get(key);
      const time = new Date(Date.parse('2024-01-01T00:00:00Z') - 7000_000 + clock++ * 1000).toISOString();
      // Keys in toWire's order: type, mesh, name, times, labels, then the spec fields.
      const { type, mesh: bodyMesh, name: bodyName, labels, creationTime: _c, modificationTime: _m, ...spec } = b;
      const stored: Stored = {
        type,
        ...(bodyMesh !== undefined ? { mesh: bodyMesh } : {}),
        name: bodyName,
        creationTime: (prev?.creationTime as string | undefined) ?? time,
        modificationTime: time,
        labels: labels ?? {},
        ...spec,
      };
      store.set(key, stored);
      return json(prev ? 200 : 201, stored, { etag: '"1"' });
    }
    return json(405, { title: 'Method not allowed', details: method, causes: [] });
  };
  return { fetch: fetchFn, store, requests, base };
}

/** A fetch that records each request (its JSON body parsed) and answers with `answer`. */
export function recordingEndpoint(answer: (req: RecordedRequest) => Response): { fetch: typeof fetch; requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const req = { method: init?.method ?? 'GET', url: String(input), headers, body: init?.body === undefined ? undefined : (JSON.parse(String(init.body)) as unknown) };
    requests.push(req);
    return answer(req);
  };
  return { fetch: fetchFn, requests };
}
