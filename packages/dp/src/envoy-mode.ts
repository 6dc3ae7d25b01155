import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FlagError, NODE_METADATA } from '@meshfed/shared';
import type { AgentContext } from './agent.js';
import { untilUp } from './cp-api.js';
import { writeAtomically } from './files.js';

/** Checked before anything else: without Envoy there is nothing to run, whatever the zone says. */
export async function checkEnvoyBinary(path: string): Promise<void> {
  const ok = await stat(path).then((s) => s.isFile(), () => false) && await access(path, constants.X_OK).then(() => true, () => false);
  if (!ok) throw new FlagError(`--envoy-binary ${path}: not found (or not executable); install Envoy or run a proxyless gRPC app with --proxyless`);
}

/**
 * `run --envoy-binary`: the zone's Envoy bootstrap for this dataplane, with the Dataplane in its node
 * metadata (the zone registers it from there), written to --bootstrap-file; then Envoy runs with it.
 * Resolves with Envoy's exit code; SIGINT/SIGTERM are passed on to it.
 */
export async function runEnvoy(c: AgentContext, envoyBinary: string): Promise<number> {
  const { dataplane, flags } = c;
  const log = c.log.child({ mesh: dataplane.mesh, dataplane: dataplane.name });
  const zone = await untilUp('GET /', () => c.api.zoneInfo(), log, c.signal);
  if (!zone) return 0;
  const bootstrap = await untilUp('POST /bootstrap', () => c.api.envoyBootstrap({
    mesh: dataplane.mesh, name: dataplane.name, ...(c.token !== undefined ? { dataplaneToken: c.token } : {}),
  }), log, c.signal);
  if (!bootstrap) return 0;
  const node = (bootstrap['node'] ?? {}) as Record<string, unknown>;
  const metadata = (node['metadata'] ?? {}) as Record<string, unknown>;
  bootstrap['node'] = { ...node, metadata: { ...metadata, [NODE_METADATA.dataplaneResource]: JSON.stringify(dataplane.wire) } };
  const file = resolve(flags.bootstrapFile);
  await mkdir(dirname(file), { recursive: true });
  // It holds the token: readable by this user only.
  await writeAtomically(file, `${JSON.stringify(bootstrap, null, 2)}\n`, 0o600);
  log.info({ zone: zone.zone, bootstrapFile: file, envoyBinary }, 'Envoy bootstrap written, starting Envoy');

  const child = spawn(envoyBinary, ['-c', file], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
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
