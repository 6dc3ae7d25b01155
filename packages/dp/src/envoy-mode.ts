import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DEFAULT_ADMIN_PORT, dataplaneNodeId, ENVOY_TYPE, FlagError, generateBootstrap, SERVICE_TAG, toEnvoyJson, typed } from '@meshfed/shared';
import { type AgentContext, discoverZone } from './agent.js';
import { writeAtomically } from './files.js';

/** Checked before anything else: without Envoy there is nothing to run, whatever the zone says. */
export async function checkEnvoyBinary(path: string): Promise<void> {
  const ok = await stat(path).then((s) => s.isFile(), () => false) && await access(path, constants.X_OK).then(() => true, () => false);
  if (!ok) throw new FlagError(`--envoy-binary ${path}: not found (or not executable); install Envoy or run a proxyless gRPC app with --proxyless`);
}

/**
 * `run --envoy-binary`: the Envoy bootstrap for this dataplane (the zone's own generateBootstrap, from
 * GET /xds-server and the zone's xDS CA), with the Dataplane in its node metadata so the zone registers
 * it from Envoy's stream, written to --bootstrap-file; then Envoy runs with it. Resolves with Envoy's
 * exit code; SIGINT/SIGTERM are passed on to it (`onSpawn` then drops the caller's own handlers).
 */
export async function runEnvoy(c: AgentContext, envoyBinary: string, onSpawn: () => void): Promise<number> {
  const { dataplane, flags } = c;
  const log = c.log.child({ mesh: dataplane.mesh, dataplane: dataplane.name });
  const found = await discoverZone(c, log);
  if (!found) return 0;
  const { zone, xds, caPem } = found;
  const networking = dataplane.resource.spec.networking as { inbound?: { tags?: Record<string, string> }[]; gateway?: { tags?: Record<string, string> }; admin?: { port?: number } };
  const bootstrap = generateBootstrap({
    proxyType: 'dataplane',
    nodeId: dataplaneNodeId(dataplane.mesh, dataplane.name),
    cluster: networking.inbound?.[0]?.tags?.[SERVICE_TAG] ?? networking.gateway?.tags?.[SERVICE_TAG] ?? dataplane.name,
    adminPort: networking.admin?.port ?? DEFAULT_ADMIN_PORT,
    xdsHost: xds.host,
    xdsPort: xds.port,
    ...(c.token !== undefined ? { token: c.token } : {}),
    ...(caPem !== undefined ? { xdsCaPem: caPem } : {}),
    dataplane: dataplane.wire,
  });
  const file = resolve(flags.bootstrapFile);
  await mkdir(dirname(file), { recursive: true });
  // It holds the token: readable by this user only.
  await writeAtomically(file, `${JSON.stringify(toEnvoyJson(typed(ENVOY_TYPE.bootstrap, bootstrap)), null, 2)}\n`, 0o600);
  log.info({ zone: zone.zone, bootstrapFile: file, envoyBinary }, 'Envoy bootstrap written, starting Envoy');

  const child = spawn(envoyBinary, ['-c', file], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  onSpawn();
  return new Promise<number>((done) => {
    child.once('error', (err) => {
      log.error({ err: err.message }, 'cannot start Envoy');
      done(1);
    });
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      log.info({ code, signal }, 'Envoy exited');
      done(code ?? (signal === 'SIGTERM' || signal === 'SIGINT' ? 0 : 1));
    });
  });
}
