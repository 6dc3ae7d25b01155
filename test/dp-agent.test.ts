import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ClientDuplexStream, credentials, status } from '@grpc/grpc-js';
import { ADS_SERVICE, AdsClient, adsCodec, type AdsDiscoveryResponse, XDS_TYPE_URL } from '@meshfed/shared';
import { cleanups, killOnExit } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp } from './support/federation.js';
import { startCp } from './support/processes.js';
import { dataplaneToken, freePort, proxylessDataplaneYaml, startAgent } from './support/proxyless.js';

const ROOT = join(import.meta.dirname, '..');
// grpc-js-xds's own bootstrap parser, the one an app runs at start: what the agent writes must pass it.
const { validateBootstrapConfig } = createRequire(import.meta.url)('@grpc/grpc-js-xds/build/src/xds-bootstrap.js') as { validateBootstrapConfig: (o: unknown) => unknown };

async function runToExit(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const a = startAgent(args);
  const timer = setTimeout(() => a.child.kill('SIGKILL'), 20_000);
  const [code] = (await once(a.child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr: a.err() };
}

async function ok(res: Promise<Response>): Promise<void> {
  const r = await res;
  assert.ok(r.ok, `${r.status} ${await r.text()}`);
}

const dataplaneYaml = (name: string, port: number) => proxylessDataplaneYaml(name, port, { 'kuma.io/service': name });

/** An app's SotW stream to the agent's local ADS server; collects responses. */
function appStream(serverUri: string, method: 'StreamAggregatedResources' | 'DeltaAggregatedResources' = 'StreamAggregatedResources') {
  const client = new AdsClient(serverUri, credentials.createInsecure());
  const call: ClientDuplexStream<Buffer, Buffer> = client.makeBidiStreamRequest<Buffer, Buffer>(ADS_SERVICE[method]!.path, (b) => b, (b) => b);
  const responses: AdsDiscoveryResponse[] = [];
  const state: { error?: { code: number; details: string } } = {};
  call.on('data', (f: Buffer) => {
    const d = adsCodec.decodeResponse(f);
    if (d.ok) responses.push(d.value);
  });
  call.on('error', (e: { code: number; details: string }) => (state.error = e));
  const close = () => {
    call.cancel();
    client.close();
  };
  cleanups.push(close);
  return { call, responses, state, close };
}

test('meshfed-dp --proxyless registers the workload, writes its certificates and a bootstrap grpc-js-xds accepts, relays the app\'s ADS, and leaves on SIGTERM', { timeout: 90_000 }, async () => {
  const dir = tmp();
  cleanups.push(dir.cleanup);
  // The builtin mesh CA is made on global (a standalone zone makes none) and reaches the zone over KDS.
  const global = await startCp('global', FAST_GLOBAL);
  const zone = await startZone(global, 'zone-1', dir.dir, ['--dp-deregistration-delay', '300ms']);
  await eventually('the default mesh in the zone', async () => (await getJson(`${zone.url}/meshes/default`)).status === 200);
  await ok(put(`${global.url}/meshes/default`, { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } }));
  const token = await dataplaneToken(zone, 'default', 'web');
  const dpFile = join(dir.dir, 'web.yaml');
  const port = await freePort();
  writeFileSync(dpFile, dataplaneYaml('web', port));
  writeFileSync(join(dir.dir, 'token'), `${token}\n`);
  const bootstrapFile = join(dir.dir, 'bootstrap.json');
  const workDir = join(dir.dir, 'work');

  const agent = startAgent(['--cp', zone.url, '--dataplane-file', dpFile, '--token-file', join(dir.dir, 'token'), '--proxyless', '--bootstrap-file', bootstrapFile, '--work-dir', workDir]);
  await eventually('the agent is ready', async () => agent.err().includes('meshfed-dp: ready'), 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\nstdout:\n${agent.out()}\nstderr:\n${agent.err()}`);
  });

  // The bootstrap: parsed by grpc-js-xds itself, naming the agent's local server and the cert files.
  const bootstrap = JSON.parse(readFileSync(bootstrapFile, 'utf8')) as { xds_servers: { server_uri: string }[] };
  const parsed = validateBootstrapConfig(bootstrap) as { node: { id: string; locality: { zone?: string } }; serverListenerResourceNameTemplate: string; certificateProviders: Record<string, { config: { certificateFile: string } }> };
  assert.equal(parsed.node.id, 'default.web');
  assert.equal(parsed.node.locality.zone, 'zone-1');
  assert.equal(parsed.serverListenerResourceNameTemplate, 'grpc/server?xds.resource.listening_address=%s');
  assert.equal(parsed.certificateProviders['meshfed-mesh']?.config.certificateFile, join(workDir, 'cert.pem'));
  const serverUri = bootstrap.xds_servers[0]!.server_uri;
  assert.match(serverUri, /^127\.0\.0\.1:\d+$/);

  // The mesh certificates, from the zone's SDS secrets on the agent's stream.
  await eventually('cert.pem, key.pem and ca.pem', async () => ['cert.pem', 'key.pem', 'ca.pem'].every((f) => existsSync(join(workDir, f))));
  const cert = new X509Certificate(readFileSync(join(workDir, 'cert.pem')));
  assert.match(cert.subjectAltName ?? '', /URI:spiffe:\/\/default\/web\b/);
  assert.ok(cert.checkIssued(new X509Certificate(readFileSync(join(workDir, 'ca.pem')))), 'ca.pem issued cert.pem');
  assert.equal(statSync(join(workDir, 'key.pem')).mode & 0o777, 0o600);
  assert.ok(!agent.out().includes(token) && !agent.err().includes(token), 'the token is never logged');
  assert.ok(!agent.out().includes('PRIVATE KEY'), 'keys are never logged');
  assert.doesNotMatch(agent.err(), /Warning|DEP0/, 'nothing stray on stderr');
  for (const line of agent.out().split('\n').filter((l) => l.includes('"ready"'))) {
    const msg = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual([msg['zone'], msg['mesh'], msg['dataplane']], ['zone-1', 'default', 'web']);
  }

  // The zone registers the Dataplane from the agent's node metadata while the stream lives.
  await eventually('the Dataplane registered by the zone', async () => (await getJson(`${zone.url}/meshes/default/dataplanes/web`)).status === 200);

  // An app's stream is relayed: its first request is answered through the agent's one stream.
  const app = appStream(serverUri);
  app.call.write(adsCodec.encodeRequest({ node: { id: 'default.web', locality: { zone: 'zone-1' } }, type_url: XDS_TYPE_URL.cluster, resource_names: [] }));
  await eventually('a cluster response relayed to the app', async () => app.responses.some((r) => r.type_url === XDS_TYPE_URL.cluster));
  assert.ok(!app.responses.some((r) => r.type_url === XDS_TYPE_URL.secret), 'secrets stay with the agent');
  // One app stream at a time; delta ADS is refused with a reason.
  const second = appStream(serverUri);
  second.call.write(adsCodec.encodeRequest({ type_url: XDS_TYPE_URL.cluster }));
  await eventually('a second app stream refused', async () => second.state.error !== undefined);
  assert.equal(second.state.error!.code, status.ALREADY_EXISTS);
  const delta = appStream(serverUri, 'DeltaAggregatedResources');
  delta.call.write(Buffer.alloc(0));
  await eventually('delta refused', async () => delta.state.error !== undefined);
  assert.equal(delta.state.error!.code, status.UNIMPLEMENTED);
  assert.match(delta.state.error!.details, /state-of-the-world/);
  // The app leaves and comes back: its new stream is answered at once.
  app.close();
  const again = appStream(serverUri);
  await eventually('the first app stream released', async () => agent.out().includes('app stream ended'));
  again.call.write(adsCodec.encodeRequest({ node: { id: 'default.web' }, type_url: XDS_TYPE_URL.cluster, resource_names: [] }));
  await eventually('the returning app is answered', async () => again.responses.some((r) => r.type_url === XDS_TYPE_URL.cluster));
  again.close();

  // A real proxyless app (grpc-js-xds XdsServer) on the inbound port, configured through the agent:
  // serving (OK) means its Listener arrived and validated. The zone's inbound carries an RBAC filter,
  // which grpc-js-xds 1.14 accepts only with GRPC_XDS_EXPERIMENTAL_RBAC=true.
  const demo = spawn(process.execPath, [join(ROOT, 'packages', 'dp', 'dist', 'demo-app', 'main.js'), 'serve', '--port', String(port), '--instance', 'web-1', '--service', 'web', '--zone', 'zone-1'], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapFile, GRPC_XDS_EXPERIMENTAL_RBAC: 'true' },
  });
  demo.once('exit', killOnExit(() => demo.kill('SIGKILL')));
  cleanups.push(() => demo.kill('SIGKILL'));
  let demoOut = '';
  demo.stdout!.on('data', (c: Buffer) => (demoOut += c.toString()));
  demo.stderr!.on('data', (c: Buffer) => (demoOut += c.toString()));
  await eventually('the XdsServer serving with the Listener relayed by the agent', async () => /"serving-status","code":"OK"/.test(demoOut), 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${demoOut}\nagent:\n${agent.out()}`);
  });
  demo.kill('SIGTERM');
  await once(demo, 'exit');

  // SIGTERM: out within 2 s, exit 0, and the zone deregisters the workload.
  const { code, ms } = await agent.stop();
  assert.equal(code, 0, agent.err());
  assert.ok(ms < 2_000, `stopped in ${ms} ms`);
  await eventually('the Dataplane deregistered', async () => (await getJson(`${zone.url}/meshes/default/dataplanes/web`)).status === 404);
});

test('meshfed-dp mistakes are one line naming the flag or field, exit 2', { timeout: 60_000 }, async () => {
  const dir = tmp();
  cleanups.push(dir.cleanup);
  const dpFile = join(dir.dir, 'web.yaml');
  writeFileSync(dpFile, dataplaneYaml('web', 18080));
  const missing = join(dir.dir, 'no-envoy');
  const envoy = await runToExit(['--cp', 'http://127.0.0.1:1', '--dataplane-file', dpFile, '--bootstrap-file', join(dir.dir, 'b.json'), '--envoy-binary', missing]);
  assert.equal(envoy.code, 2);
  assert.equal(envoy.stderr, `meshfed-dp: --envoy-binary ${missing}: not found (or not executable); install Envoy or run a proxyless gRPC app with --proxyless\n`);

  const noMode = await runToExit(['--cp', 'http://127.0.0.1:1', '--dataplane-file', dpFile, '--bootstrap-file', join(dir.dir, 'b.json')]);
  assert.equal(noMode.code, 2);
  assert.match(noMode.stderr, /^meshfed-dp: --envoy-binary is required without --proxyless.*\n$/);

  const badFile = join(dir.dir, 'bad.yaml');
  writeFileSync(badFile, dataplaneYaml('web', 70000));
  const bad = await runToExit(['--cp', 'http://127.0.0.1:1', '--dataplane-file', badFile, '--bootstrap-file', join(dir.dir, 'b.json'), '--proxyless']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^meshfed-dp: --dataplane-file .*bad\.yaml: Dataplane is invalid: networking\.inbound\[0\]\.port: .*\n$/);

  const both = await runToExit(['--cp', 'https://127.0.0.1:1', '--dataplane-file', dpFile, '--bootstrap-file', join(dir.dir, 'b.json'), '--proxyless', '--ca-file', 'x', '--skip-verify']);
  assert.equal(both.code, 2);
  assert.equal(both.stderr, 'meshfed-dp: --ca-file and --skip-verify contradict each other: choose one\n');
});

test('meshfed-dp waits for a zone that is not up yet, saying so once, and SIGTERM still ends it at once', { timeout: 30_000 }, async () => {
  const dir = tmp();
  cleanups.push(dir.cleanup);
  const dpFile = join(dir.dir, 'web.yaml');
  writeFileSync(dpFile, dataplaneYaml('web', 18080));
  const agent = startAgent(['--cp', `http://127.0.0.1:${await freePort()}`, '--dataplane-file', dpFile, '--bootstrap-file', join(dir.dir, 'b.json'), '--proxyless']);
  await eventually('the agent says the zone is not reachable', async () => agent.out().includes('not reachable yet'));
  await new Promise((r) => setTimeout(r, 1_500));
  assert.equal(agent.out().split('\n').filter((l) => l.includes('not reachable yet')).length, 1, 'one line per state, not per attempt');
  const { code, ms } = await agent.stop();
  assert.equal(code, 0);
  assert.ok(ms < 2_000, `stopped in ${ms} ms`);
  assert.equal(existsSync(join(dir.dir, 'b.json')), false);
});

test('meshfed-dp with --envoy-binary writes the zone\'s Envoy bootstrap, with the Dataplane in its node metadata, runs the binary and exits with its code', { timeout: 60_000 }, async () => {
  const dir = tmp();
  cleanups.push(dir.cleanup);
  const zone = await startCp('zone', ['--zone', 'zone-1']);
  await eventually('the default mesh in the zone', async () => (await getJson(`${zone.url}/meshes/default`)).status === 200);
  const token = await dataplaneToken(zone, 'default', 'web');
  writeFileSync(join(dir.dir, 'token'), `${token}\n`);
  const dpFile = join(dir.dir, 'web.yaml');
  writeFileSync(dpFile, `type: Dataplane
mesh: default
name: web
networking:
  address: 127.0.0.1
  admin: { port: 19901 }
  inbound:
    - port: 18080
      servicePort: 18081
      tags: { kuma.io/service: web }
`);
  // Envoy is not installed here: a stand-in that keeps what it was started with and exits 3.
  const seen = join(dir.dir, 'seen.json');
  const envoy = join(dir.dir, 'envoy');
  writeFileSync(envoy, `#!/bin/sh\n[ "$1" = "-c" ] && cp "$2" "${seen}"\nexit 3\n`, { mode: 0o755 });
  const bootstrapFile = join(dir.dir, 'envoy.json');
  const { code, stderr } = await runToExit(['--cp', zone.url, '--dataplane-file', dpFile, '--token-file', join(dir.dir, 'token'), '--bootstrap-file', bootstrapFile, '--envoy-binary', envoy]);
  assert.equal(code, 3, stderr);
  assert.equal(statSync(bootstrapFile).mode & 0o777, 0o600, 'the bootstrap holds the token');
  const b = JSON.parse(readFileSync(seen, 'utf8')) as {
    node: { id: string; cluster: string; metadata: Record<string, string> };
    admin: { address: { socket_address: { port_value: number } } };
    dynamic_resources: { ads_config: { api_type: string; grpc_services: { initial_metadata: { key: string; value: string }[] }[] } };
    static_resources: { clusters: { load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] }; transport_socket?: unknown }[] };
  };
  const xdsServer = (await getJson(`${zone.url}/xds-server`)).body as { host: string; port: number; tls: boolean };
  assert.equal(b.node.id, 'default.web');
  assert.equal(b.node.cluster, 'web');
  assert.equal(b.node.metadata['proxyType'], 'dataplane');
  assert.deepEqual(JSON.parse(b.node.metadata['dataplane.resource']!).networking.inbound[0].port, 18080);
  assert.equal(b.admin.address.socket_address.port_value, 19901);
  assert.equal(b.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
  assert.deepEqual(b.dynamic_resources.ads_config.grpc_services[0]!.initial_metadata, [{ key: 'authorization', value: `Bearer ${token}` }]);
  const ads = b.static_resources.clusters[0]!;
  assert.deepEqual(ads.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address, { address: xdsServer.host, port_value: xdsServer.port });
  assert.equal(ads.transport_socket !== undefined, xdsServer.tls, 'TLS to the ADS server when the zone serves it');
  assert.ok(!stderr.includes(token), 'the token is never printed');
});

test('meshfed-dp reaches a zone API over HTTPS with --ca-file, and says in one line when the certificate is not from that CA', { timeout: 60_000 }, async () => {
  const dir = tmp();
  cleanups.push(dir.cleanup);
  const zone = await startCp('zone', ['--zone', 'zone-1']);
  assert.ok(zone.tlsUrl);
  const caFile = join(dir.dir, 'api-ca.crt');
  writeFileSync(caFile, await (await fetch(`${zone.url}/api-ca.crt`)).text());
  const dpFile = join(dir.dir, 'web.yaml');
  writeFileSync(dpFile, dataplaneYaml('web', await freePort()));
  writeFileSync(join(dir.dir, 'token'), `${await dataplaneToken(zone, 'default', 'web')}\n`);
  const args = ['--cp', zone.tlsUrl, '--dataplane-file', dpFile, '--token-file', join(dir.dir, 'token'), '--proxyless', '--bootstrap-file', join(dir.dir, 'b.json')];
  const agent = startAgent([...args, '--ca-file', caFile]);
  await eventually('the agent is ready over HTTPS', async () => agent.err().includes('meshfed-dp: ready'), 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${agent.out()}\n${agent.err()}`);
  });
  assert.equal((await agent.stop()).code, 0);

  // Another CA (the zone's xDS CA): the API's certificate does not chain to it.
  const wrongCa = join(dir.dir, 'other-ca.crt');
  writeFileSync(wrongCa, await (await fetch(`${zone.url}/xds-ca.crt`)).text());
  const wrong = await runToExit([...args, '--ca-file', wrongCa]);
  assert.notEqual(wrong.code, 0);
  assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
  assert.match(wrong.stderr, /certificate/i);
});
