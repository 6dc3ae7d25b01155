import { mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import {
  type AdsDiscoveryResponse, clientCredentials, dataplaneNodeId, FlagError, identityCertSecretName, type JsonObject, type Logger, MESHFED_VERSION, meshCaSecretName,
  NODE_METADATA, type Stop, toStruct, type XdsServerInfo,
} from '@meshfed/shared';
import { AdsRelay } from './ads-relay.js';
import { DEFAULT_XDS_LISTEN, isLoopbackUrl, type RunFlags } from './args.js';
import { CpApi, CpRefusedError, untilUp, type ZoneInfo } from './cp-api.js';
import type { DataplaneDoc } from './dataplane-file.js';
import { writeAtomically } from './files.js';
import { grpcBootstrap } from './grpc-bootstrap.js';
import { LocalAdsServer } from './local-ads-server.js';
import { certFilesIn, decodeMeshSecrets, writeMeshSecrets } from './secrets.js';
import { Upstream } from './upstream.js';

export interface AgentContext {
  readonly flags: RunFlags;
  readonly dataplane: DataplaneDoc;
  readonly token?: string;
  readonly api: CpApi;
  /** Aborted by SIGINT/SIGTERM while the agent is still starting. */
  readonly signal: AbortSignal;
  /** The root logger; the agent adds zone, mesh and dataplane to every line. */
  readonly log: Logger;
}

export async function readToken(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new FlagError(`cannot read --token-file ${file}: ${e.code ?? e.message}`);
  });
  const token = text.trim();
  if (!/^[\x21-\x7e]+$/.test(token)) throw new FlagError(`--token-file ${file} does not hold a token (one line of visible ASCII)`);
  return token;
}

/** The zone's name and where its ADS server is, waiting (bounded backoff) while the zone is not up. */
export async function discoverZone(c: Pick<AgentContext, 'api' | 'signal'>, log: Logger): Promise<{ zone: ZoneInfo; xds: XdsServerInfo; caPem?: string } | undefined> {
  const zone = await untilUp('GET /', () => c.api.zoneInfo(), log, c.signal);
  if (!zone) return undefined;
  const xds = await untilUp('GET /xds-server', () => c.api.xdsServer(), log, c.signal).catch((err: unknown) => {
    if (err instanceof CpRefusedError && err.status === 404) {
      throw new CpRefusedError(`${c.api.url} does not serve GET /xds-server: the zone control plane is older than this meshfed-dp`);
    }
    throw err;
  });
  if (!xds) return undefined;
  if (!xds.tls) {
    // A lab zone run with --xds-insecure: fine on this host, never across the network (the token, the keys).
    if (!isLoopbackUrl(`http://${xds.host.includes(':') ? `[${xds.host}]` : xds.host}`)) {
      throw new CpRefusedError(`the zone serves xDS without TLS at ${xds.host}:${xds.port}: the dataplane token and the workload's keys would cross the network in clear text; run the zone without --xds-insecure`);
    }
    return { zone, xds };
  }
  const caPem = await untilUp('GET /xds-ca.crt', () => c.api.xdsCa(), log, c.signal);
  return caPem === undefined ? undefined : { zone, xds, caPem };
}

/**
 * `run --proxyless`: one ADS stream to the zone (the workload is registered while it lives), the
 * mesh certificates on disk, a local ADS server for the app, and its gRPC bootstrap. Resolves once the
 * bootstrap is written, with how to stop; undefined when a signal came first.
 */
export async function runProxyless(c: AgentContext): Promise<Stop | undefined> {
  const { flags, dataplane } = c;
  let log = c.log.child({ mesh: dataplane.mesh, dataplane: dataplane.name });
  const found = await discoverZone(c, log);
  if (!found) return undefined;
  const { zone, xds, caPem } = found;
  log = c.log.child({ zone: zone.zone, mesh: dataplane.mesh, dataplane: dataplane.name });
  log.info({ cp: c.api.url, xds: `${xds.host}:${xds.port}`, tls: xds.tls }, 'zone found');

  const bootstrapFile = resolve(flags.bootstrapFile);
  const workDir = resolve(flags.workDir ?? dirname(bootstrapFile));
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  await mkdir(dirname(bootstrapFile), { recursive: true });
  const certFiles = certFilesIn(workDir);

  const nodeId = dataplaneNodeId(dataplane.mesh, dataplane.name);
  const metadata: JsonObject = {
    [NODE_METADATA.proxyType]: 'dataplane',
    [NODE_METADATA.dataplaneResource]: JSON.stringify(dataplane.wire),
  };
  const relay = new AdsRelay({
    node: { id: nodeId, locality: { zone: zone.zone }, metadata: toStruct(metadata), user_agent_name: 'meshfed-dp', user_agent_version: MESHFED_VERSION },
    secretNames: [identityCertSecretName(dataplane.mesh), meshCaSecretName(dataplane.mesh)],
  });

  // Secret responses are written in order: a newer one never lands before an older one.
  let secretWrites = Promise.resolve();
  const onSecrets = (res: AdsDiscoveryResponse) => {
    secretWrites = secretWrites.then(async () => {
      const decoded = decodeMeshSecrets(dataplane.mesh, res.resources ?? []);
      let error = decoded.ok ? undefined : decoded.error;
      if (decoded.ok) {
        try {
          await writeMeshSecrets(certFiles, decoded.secrets);
          const written = Object.keys(decoded.secrets);
          if (written.length > 0) log.info({ version: res.version_info, workDir, parts: written.map((k) => k.replace(/Pem$/, '')) }, 'mesh certificates written');
        } catch (err) {
          error = `cannot write the certificates into ${workDir}: ${(err as Error).message}`;
        }
      }
      if (error !== undefined) log.warn({ version: res.version_info, err: error }, 'secrets refused (NACK)');
      upstream.send(relay.secretHandled(res, error));
    }).catch((err: unknown) => {
      // Keep the chain alive for the next response: the zone resends what was not ACKed.
      log.error({ version: res.version_info, err: (err as Error).message }, 'could not handle a secrets response');
    });
  };

  const upstream = new Upstream({
    address: `${xds.host.includes(':') ? `[${xds.host}]` : xds.host}:${xds.port}`,
    // The zone's xDS certificate names the address it serves (certificateNames), so the host
    // dialled is checked as is; only that CA is trusted.
    credentials: caPem !== undefined ? clientCredentials({ caPem }) : credentials.createInsecure(),
    ...(c.token !== undefined ? { token: c.token } : {}),
    log,
    opened: () => relay.upstreamOpened(),
    closed: () => relay.upstreamClosed(),
    response: (res, frame) => {
      const r = relay.upstreamResponse(res, frame);
      if (r.kind === 'secret') onSecrets(res);
      else if (r.kind === 'ack') upstream.send(r.request);
    },
  });
  const local = new LocalAdsServer({ listen: flags.xdsListen ?? DEFAULT_XDS_LISTEN, relay, upstream: (req) => upstream.send(req), log });
  upstream.start();
  let serverUri: string;
  try {
    serverUri = await local.start();
  } catch (err) {
    await upstream.stop();
    throw new FlagError((err as Error).message);
  }

  const bootstrap = grpcBootstrap({ serverUri, nodeId, zone: zone.zone, certFiles });
  await writeAtomically(bootstrapFile, `${JSON.stringify(bootstrap, null, 2)}\n`);
  log.info({ bootstrapFile, serverUri, workDir }, 'ready');
  process.stderr.write(`meshfed-dp: ready: GRPC_XDS_BOOTSTRAP=${bootstrapFile} (app's ADS server ${serverUri})\n`);

  return async () => {
    // The zone deregisters the workload when its stream ends: end it first, cleanly.
    await Promise.all([upstream.stop(), local.stop()]);
    await secretWrites;
    log.info('stopped');
  };
}
