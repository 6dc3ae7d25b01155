import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  codec, ConsumerSession, createLogger, envelopeOf, KDS_METADATA, KDS_REJECTION_TYPE_URL, KDS_RESOURCE_TYPE_URL, KdsClient, parseFlags,
  type RunningControlPlane, type StoredResource, typeUrlOf, ZoneTokens,
} from '@meshfed/shared';
import { GlobalFlags } from '../flags.js';
import { startGlobal } from '../global-cp.js';

type Call = ReturnType<KdsClient['makeBidiStreamRequest']>;
const quiet = createLogger({ component: 'test', level: 'error', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

/** A hand-driven zone: raw frames in and out, so tests can misbehave on purpose. */
class RawZone {
  readonly frames: Buffer[] = [];
  readonly call: Call;
  ended: ServiceError | undefined;
  #waiters: (() => void)[] = [];

  constructor(client: KdsClient, method: 'GlobalToZoneSync' | 'ZoneToGlobalSync', md: Metadata) {
    this.call = client.makeBidiStreamRequest(`/meshfed.kds.v1.KDSSyncService/${method}`, (b: Buffer) => b, (b: Buffer) => b, md);
    this.call.on('data', (f: Buffer) => {
      this.frames.push(f);
      this.#wake();
    });
    this.call.on('error', (e: ServiceError) => {
      this.ended = e;
      this.#wake();
    });
  }

  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }

  async next(timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.ended) throw new Error(`stream ended: ${this.ended.details}`);
      if (Date.now() > deadline) throw new Error('no frame in time');
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.frames.shift()!;
  }

  async ended$(timeoutMs: number): Promise<ServiceError> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!this.ended) throw new Error('stream did not end');
    return this.ended;
  }
}

describe('KDS faults against a real global', () => {
  let cp: RunningControlPlane & { kdsPort: number };
  let client: KdsClient;
  let md: Metadata;

  before(async () => {
    cp = await startGlobal(parseFlags(GlobalFlags, ['--api-port', '0', '--api-tls-port', '0', '--api-address', '127.0.0.1', '--kds-port', '0', '--kds-address', '127.0.0.1', '--kds-insecure', '--kds-ack-timeout', '800ms'], {}), quiet);
    const tokens = await ZoneTokens.open(cp.store);
    md = new Metadata();
    md.set(KDS_METADATA.authorization, `Bearer ${await tokens.issue({ zone: 'raw', scopes: ['zone'], validForMs: 60_000 })}`);
    md.set(KDS_METADATA.zone, 'raw');
    md.set('x-meshfed-connection', `c${Date.now()}`);
    client = new KdsClient(`127.0.0.1:${cp.kdsPort}`, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await cp?.stop();
  });

  const metric = async (name: string, filter: string) => {
    const text = await (await fetch(`${cp.url}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(name) && l.includes(filter)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  };

  test('garbage, unknown types and stale nonces are counted; the stream carries on', async () => {
    const zone = new RawZone(client, 'GlobalToZoneSync', md);
    zone.call.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    zone.call.write(codec.encodeRequest({ type_url: 'meshfed.io/kds/Nope' }));
    zone.call.write(codec.encodeRequest({ type_url: typeUrlOf('Mesh'), response_nonce: 'not-a-nonce' }));
    zone.call.write(codec.encodeRequest({ type_url: typeUrlOf('Mesh'), initial_resource_versions: {} }));
    const frame = await zone.next();
    const resp = codec.decodeResponse(frame);
    assert.ok(resp.ok);
    assert.equal(resp.ok && resp.value.type_url, typeUrlOf('Mesh'));
    assert.deepEqual(resp.ok && resp.value.resources?.map((r) => r.name), ['default']);
    for (const kind of ['garbage', 'unknown-type', 'stale-nonce']) assert.ok((await metric('meshfed_kds_protocol_errors_total', `kind="${kind}"`)) >= 1, kind);
    zone.call.cancel();
  });

  test('an invalid resource from a zone is NACKed alone; the rest of its response is stored', async () => {
    const up = new RawZone(client, 'ZoneToGlobalSync', md);
    // Global subscribes first: read its requests and find the Dataplane one.
    let sub;
    for (let i = 0; i < 10 && !sub; i++) {
      const r = codec.decodeRequest(await up.next());
      if (r.ok && r.value.type_url === typeUrlOf('Dataplane')) sub = r.value;
    }
    assert.ok(sub, 'global subscribed to Dataplanes');
    const dp = (name: string, port: number): StoredResource => ({
      type: 'Dataplane', mesh: 'default', name, labels: {}, version: '1', creationTime: '', modificationTime: new Date().toISOString(),
      spec: { networking: { address: '10.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': 'web' } }] } },
    });
    const good = envelopeOf(dp('good', 8080));
    const bad = envelopeOf(dp('bad', 70000));
    up.call.write(codec.encodeResponse({
      type_url: typeUrlOf('Dataplane'), nonce: 'n1',
      resources: [good, bad].map((e) => ({ name: e.key, version: e.version, resource: { type_url: KDS_RESOURCE_TYPE_URL, value: e.bytes } })),
    }));
    let answer;
    for (let i = 0; i < 10 && !answer; i++) {
      const r = codec.decodeRequest(await up.next());
      if (r.ok && r.value.response_nonce === 'n1') answer = r.value;
    }
    assert.ok(answer?.error_detail, 'a NACK');
    assert.match(answer.error_detail.message ?? '', /default\/bad: networking\.inbound\[0\]\.port: must be a port in 1-65535/);
    const detail = answer.error_detail.details?.find((d) => d.type_url === KDS_REJECTION_TYPE_URL);
    const rejection = detail && codec.decodeRejection(detail.value);
    assert.deepEqual(rejection?.ok && rejection.value.resources.map((r) => r.name), ['default/bad']);
    const list = (await (await fetch(`${cp.url}/meshes/default/dataplanes`)).json()) as { items: { labels: Record<string, string> }[] };
    assert.deepEqual(list.items.map((i) => i.labels['kuma.io/display-name']), ['good']);
    up.call.cancel();
  });

  test('a zone that never ACKs is a stalled stream: reported, counted and restarted', async () => {
    const zone = new RawZone(client, 'GlobalToZoneSync', md);
    const session = new ConsumerSession(['Mesh']);
    zone.call.write(session.subscribe('Mesh', new Map()));
    await zone.next();
    const err = await zone.ended$(5000);
    assert.match(err.details, /stalled: Mesh response un-ACKed/);
    assert.ok((await metric('meshfed_kds_stalls_total', 'reason="ack-timeout"')) >= 1);
    const insight = await (await fetch(`${cp.url}/zones+insights/raw`)).text();
    assert.match(insight, /un-ACKed/);
  });

  test('a token for one zone cannot speak for another', async () => {
    const other = new Metadata();
    other.set(KDS_METADATA.authorization, md.get(KDS_METADATA.authorization)[0] as string);
    other.set(KDS_METADATA.zone, 'someone-else');
    const zone = new RawZone(client, 'GlobalToZoneSync', other);
    const err = await zone.ended$(5000);
    assert.equal(err.code, 16); // UNAUTHENTICATED
    assert.match(err.details, /"raw".*"someone-else"/);
  });
});
