import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCp, startCp } from './processes.js';

/** Short intervals so failures show within seconds; the defaults are for production. */
export const FAST_GLOBAL = ['--kds-insecure', '--kds-health-check-interval', '300ms', '--kds-reconcile-interval', '30s'];
export const FAST_ZONE = ['--kds-backoff-base', '100ms', '--kds-backoff-max', '1s'];

export const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-kds-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
};

/** The KDS port a global CP printed in its log. */
export function kdsPortOf(cp: RunningCp): number {
  const line = cp.logs().split('\n').find((l) => l.includes('"KDS listening"'));
  if (!line) throw new Error(`global did not log "KDS listening":\n${cp.logs()}`);
  return (JSON.parse(line) as { kdsPort: number }).kdsPort;
}

export async function zoneToken(global: RunningCp, zone: string, scope: string[] = ['zone'], validFor = '1h'): Promise<string> {
  const res = await fetch(`${global.url}/tokens/zone`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ zone, scope, validFor }) });
  if (!res.ok) throw new Error(`token for ${zone}: ${res.status} ${await res.text()}`);
  return (await res.text()).trim();
}

/** Starts a zone federated to `global` over plaintext KDS with a fresh token. */
export async function startZone(global: RunningCp, zone: string, dir: string, extra: string[] = [], token?: string): Promise<RunningCp> {
  const file = join(dir, `${zone}-${Math.random().toString(16).slice(2)}.token`);
  writeFileSync(file, token ?? (await zoneToken(global, zone)));
  return startCp('zone', ['--zone', zone, '--global-address', `grpc://127.0.0.1:${kdsPortOf(global)}`, '--zone-token-file', file, ...FAST_ZONE, ...extra]);
}

/**
 * The stage of the xDS end-to-end tests: a global and two zones (zone-1, zone-2) serving ADS on
 * loopback to proxies without tokens, each holding the default mesh; everything is stopped and removed
 * through `cleanup`.
 */
export async function startXdsFederation(cleanup: (f: () => unknown) => void): Promise<{ dir: string; global: RunningCp; z1: RunningCp; z2: RunningCp }> {
  const { dir, cleanup: removeDir } = tmp();
  cleanup(removeDir);
  const global = await startCp('global', FAST_GLOBAL);
  const [z1, z2] = await Promise.all(['zone-1', 'zone-2'].map((z) => startZone(global, z, dir, ['--xds-port', '0', '--xds-address', '127.0.0.1', '--dp-auth', 'none'])));
  for (const z of [z1!, z2!]) await eventually('the default mesh in the zone', async () => (await getJson(`${z.url}/meshes/default`)).status === 200);
  return { dir, global, z1: z1!, z2: z2! };
}

/** Polls until `check` returns a value (tests may poll; the product may not). Bounded. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

// Answers of the REST API, whose shape each test asserts field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
}

export async function put(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Sum of one Prometheus counter over all its label sets, optionally filtered by a label substring. */
export async function metricSum(cp: RunningCp, name: string, labelFilter = ''): Promise<number> {
  const text = await (await fetch(`${cp.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    sum += Number(line.split(' ').pop());
  }
  return sum;
}

export const timeout = (name: string) => ({
  type: 'MeshTimeout', mesh: 'default', name,
  spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '10s' } }] },
});
