// The baseline of `npm run bench -- xds`: a bare grpc-js server on the same ADS method (delta, byte
// passthrough) that writes precomputed DeltaDiscoveryResponse frames, the ones meshfed's snapshots
// produced for the same proxies (see `plan` in the CP harness), to the same streams. No store, no
// reconciler, no snapshots, no sessions, no encoding per stream: the transport floor. It reads a
// stream's first request only for its node id and ignores the rest (ACKs, subscriptions).
import { readFileSync } from 'node:fs';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { ADS_SERVICE, adsCodec } from '@meshfed/shared';
import { fail, send, serveBench, wall } from './xds-proc.js';

type Duplex = ServerDuplexStream<Buffer, Buffer>;
type Plan = Map<string, Buffer[]>;

const streams = new Map<string, Duplex>();
/** Written to each stream as soon as its first request names its proxy. */
let initial: Plan | undefined;
/** Written to every stream of the plan on `push`. */
let next: Plan | undefined;

function readPlan(file: string): Plan {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { classes: { ids: string[]; frames: string[] }[] };
  const plan: Plan = new Map();
  for (const c of raw.classes) {
    const frames = c.frames.map((f) => Buffer.from(f, 'base64'));
    for (const id of c.ids) plan.set(id, frames);
  }
  return plan;
}

const counts = (p: Plan) => Object.fromEntries([...p].map(([id, frames]) => [id, frames.length]));

function serve(call: Duplex): void {
  let id: string | undefined;
  const drop = () => {
    if (id !== undefined && streams.get(id) === call) streams.delete(id);
  };
  call.on('data', (frame: Buffer) => {
    if (id !== undefined) return;
    const d = adsCodec.decodeDeltaRequest(frame);
    id = d.ok ? d.value.node?.id : undefined;
    if (id === undefined) return;
    streams.set(id, call);
    for (const f of initial?.get(id) ?? []) call.write(f);
  });
  call.on('end', () => {
    drop();
    call.end();
  });
  call.on('error', drop);
  call.on('cancelled', drop);
}

try {
  // The Envoy protos load on first use: not while the streams are timed.
  adsCodec.decodeDeltaRequest(adsCodec.encodeDeltaRequest({ node: { id: 'warm-up' } }));
  const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  server.addService(ADS_SERVICE, {
    StreamAggregatedResources: (call: Duplex) => call.end(),
    DeltaAggregatedResources: serve,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  serveBench({
    initial: (a: { file: string }) => {
      initial = readPlan(a.file);
      return counts(initial);
    },
    load: (a: { file: string }) => {
      next = readPlan(a.file);
      return counts(next);
    },
    push: () => {
      const plan = next ?? new Map<string, Buffer[]>();
      const at = wall();
      let missing = 0;
      for (const [id, frames] of plan) {
        const call = streams.get(id);
        if (!call) {
          missing++;
          continue;
        }
        for (const f of frames) call.write(f);
      }
      return { at, missing };
    },
    streams: () => streams.size,
  });
  send({ kind: 'ready', pid: process.pid, port });
} catch (err) {
  fail(err);
}
