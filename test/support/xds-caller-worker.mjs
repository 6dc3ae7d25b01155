// The worker behind XdsCaller (xds-caller.ts): a grpc-js(-xds) of its own, with its own bootstrap (env),
// whose channels end at once when the worker is terminated. Plain JS on the built demo app: a worker
// does not get the test's TypeScript loader.
import { parentPort } from 'node:worker_threads';
import { call, echoClient } from '../../packages/dp/dist/demo-app/index.js';

const clients = new Map();

parentPort.on('message', async ({ id, batch }) => {
  const key = `${batch.xds ? 'xds' : 'plain'} ${batch.target}`;
  let client = clients.get(key);
  if (!client) clients.set(key, (client = echoClient(batch.target, { xds: batch.xds })));
  const results = new Array(batch.requests.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(batch.concurrency, batch.requests.length) }, async () => {
    while (next < batch.requests.length) {
      const i = next++;
      const r = batch.requests[i];
      results[i] = await call(client, r.body ?? {}, { deadlineMs: batch.deadlineMs, ...(r.headers ? { metadata: r.headers } : {}) });
    }
  }));
  parentPort.postMessage({ id, results });
});
