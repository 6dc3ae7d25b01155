// The baseline of `npm run bench -- kds`: the same path without meshfed's logic. Role "server": a bare
// node http server whose PUT forwards the body over one grpc-js bidi stream per zone (Buffer
// passthrough serializers, a raw service definition). Role "zone": dials it, keeps each body in a Map
// (pre-loaded with as many entries as meshfed's zones hold) and reports arrivals over IPC like the
// meshfed zone harness.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, credentials, Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { type BaselineHarnessConfig, isFromBench, meshTimeout, send, usage, wall } from './kds-proc.js';

const pass = (b: Buffer): Buffer => b;
const PATH = '/meshfed.bench.Baseline/Sync';
const SERVICE: ServiceDefinition = {
  Sync: { path: PATH, requestStream: true, responseStream: true, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass },
};
const HELLO = Buffer.from('hello');

const cfg = JSON.parse(process.env.BENCH_KDS_BASELINE ?? '{}') as BaselineHarnessConfig;

process.on('message', (raw) => {
  if (isFromBench(raw) && raw.cmd === 'usage') send({ kind: 'reply', id: raw.id, ...usage() });
});
process.on('disconnect', () => process.exit(0));

try {
  if (cfg.role === 'server') await serve();
  else if (cfg.role === 'zone') await zone(cfg.grpcPort, cfg.preload);
  else send({ kind: 'ready', pid: process.pid }); // idle: the floor every harness process starts from
} catch (err) {
  send({ kind: 'failed', error: (err as Error).stack ?? String(err) });
  process.exit(1);
}

async function serve(): Promise<void> {
  const streams = new Set<ServerDuplexStream<Buffer, Buffer>>();
  const grpc = new Server();
  grpc.addService(SERVICE, {
    Sync: (call: ServerDuplexStream<Buffer, Buffer>) => {
      streams.add(call);
      const drop = () => streams.delete(call);
      call.on('data', (b: Buffer) => {
        if (b.equals(HELLO)) call.write(HELLO);
      });
      call.on('end', drop);
      call.on('error', drop);
      call.on('cancelled', drop);
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const name = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      const frame = Buffer.concat([Buffer.from(`${name}\n`), body]);
      for (const s of streams) s.write(frame);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  send({ kind: 'ready', pid: process.pid, httpPort: (http.address() as AddressInfo).port, grpcPort });
}

async function zone(grpcPort: number, preload: number): Promise<void> {
  const store = new Map<string, Buffer>();
  for (let i = 0; i < preload; i++) store.set(`bench-${i}`, Buffer.from(JSON.stringify(meshTimeout(`bench-${i}`))));
  const client = new Client(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(PATH, pass, pass);
  call.on('error', (err: Error) => {
    send({ kind: 'failed', error: `baseline stream: ${err.message}` });
    process.exit(1);
  });
  call.on('data', (frame: Buffer) => {
    if (frame.equals(HELLO)) {
      send({ kind: 'ready', pid: process.pid });
      return;
    }
    const nl = frame.indexOf(10);
    const name = frame.subarray(0, nl).toString('utf8');
    store.set(name, frame.subarray(nl + 1));
    send({ kind: 'arrived', name, at: wall() });
  });
  call.write(HELLO);
}
