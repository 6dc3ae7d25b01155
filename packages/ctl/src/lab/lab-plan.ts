import { join } from 'node:path';
import { kdsCertFiles } from '../kds-certs.js';

/** One process of the local lab: which daemon, its flags, and the URLs it will answer on. */
export interface LabProcess {
  readonly name: string;
  readonly daemon: 'global' | 'zone';
  readonly mode: 'global' | 'zone';
  readonly args: readonly string[];
  readonly api: string;
  /** The same API over HTTPS, with a certificate from the CP's own CA (GET /api-ca.crt). */
  readonly apiTls: string;
  readonly extra: string;
  /** What it listens on, so the lab can check the ports before it starts anything. */
  readonly ports: readonly LabPort[];
}

/** One port the lab uses and what for, as a refusal names it: `zone-1 API`. */
export interface LabPort {
  readonly role: string;
  readonly port: number;
}

/**
 * Where the lab's daemons listen: every interface, as the daemons do by default, so a proxy in a
 * container can reach them too. Its ports are checked on this address before the lab starts.
 */
export const LAB_BIND_ADDRESS = '0.0.0.0';

export const LAB_ZONES = ['zone-1', 'zone-2'] as const;

export interface LabFiles {
  readonly dir: string;
  readonly kdsCert: string;
  readonly kdsKey: string;
  readonly kdsCa: string;
  token(zone: string): string;
}

export function labFiles(dir: string): LabFiles {
  const certs = kdsCertFiles(dir);
  return { dir, kdsCert: certs.cert, kdsKey: certs.key, kdsCa: certs.ca, token: (zone) => join(dir, `${zone}.token`) };
}

/**
 * The lab: one global and two zones federated to it over KDS with TLS and zone tokens, on the
 * memory store, on fixed ports so a walk-through can name them. `offset` shifts every port.
 */
export function labPlan(offset: number, files: LabFiles): LabProcess[] {
  const p = (n: number) => n + offset;
  const kds = `grpcs://127.0.0.1:${p(5685)}`;
  const zone = (name: string, api: number, apiTls: number, xds: number): LabProcess => ({
    name, daemon: 'zone', mode: 'zone',
    args: ['--zone', name, '--api-port', String(p(api)), '--api-tls-port', String(p(apiTls)), '--api-address', LAB_BIND_ADDRESS,
      '--xds-port', String(p(xds)), '--xds-address', LAB_BIND_ADDRESS,
      '--dp-auth', 'none', '--global-address', kds, '--kds-ca-file', files.kdsCa, '--zone-token-file', files.token(name)],
    api: `http://127.0.0.1:${p(api)}`, apiTls: `https://127.0.0.1:${p(apiTls)}`, extra: `xds 127.0.0.1:${p(xds)}`,
    ports: [{ role: `${name} API`, port: p(api) }, { role: `${name} HTTPS API`, port: p(apiTls) }, { role: `${name} xDS`, port: p(xds) }],
  });
  return [
    {
      name: 'global', daemon: 'global', mode: 'global',
      args: ['--api-port', String(p(5681)), '--api-tls-port', String(p(5682)), '--api-address', LAB_BIND_ADDRESS,
        '--kds-port', String(p(5685)), '--kds-address', LAB_BIND_ADDRESS, '--kds-tls-cert', files.kdsCert, '--kds-tls-key', files.kdsKey],
      api: `http://127.0.0.1:${p(5681)}`, apiTls: `https://127.0.0.1:${p(5682)}`, extra: `kds ${kds}`,
      ports: [{ role: 'global API', port: p(5681) }, { role: 'global HTTPS API', port: p(5682) }, { role: 'global KDS', port: p(5685) }],
    },
    zone(LAB_ZONES[0], 15681, 15682, 15678),
    zone(LAB_ZONES[1], 25681, 25682, 25678),
  ];
}

export function labTable(plan: readonly LabProcess[], online: ReadonlyMap<string, boolean>, logDir: string): string {
  const status = (p: LabProcess) => (p.daemon === 'global' ? 'running' : online.get(p.name) ? 'online' : 'OFFLINE');
  const rows = [['PROCESS', 'MODE', 'STATUS', 'API', 'HTTPS', 'OTHER'], ...plan.map((p) => [p.name, p.mode, status(p), p.api, p.apiTls, p.extra])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const http = plan[0]!.api;
  return [
    ...lines, '',
    `logs in ${logDir}; try: npx meshfed get zones --cp ${http}`,
    `or over HTTPS: npx meshfed get zones --cp ${plan[0]!.apiTls} --ca-file <(curl -s ${http}/api-ca.crt)`,
    'The CLI on this host is the admin (loopback, --api-localhost-is-admin); from elsewhere it needs a user token:',
    `  curl -s ${http}/global-secrets/admin-user-token | jq -r .data | base64 -d > admin.token   (on this host), then --token-file admin.token`,
    'Ctrl-C stops everything.',
  ].join('\n');
}
