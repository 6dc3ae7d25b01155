// A proxyless gRPC client for end-to-end tests, in a worker thread: grpc-js-xds reads its bootstrap once
// per process and keeps timers of its own alive after its channels close, so each caller is a worker
// with its own GRPC_XDS_BOOTSTRAP (its own mesh identity), terminated at cleanup.
import { Worker } from 'node:worker_threads';
import type { CallResult, EchoRequest } from '../../packages/dp/src/demo-app/index.js';
import { cleanups } from './cleanup.js';

export interface CallBatch {
  readonly target: string;
  readonly xds: boolean;
  readonly requests: readonly { body?: EchoRequest; headers?: Record<string, string> }[];
  readonly concurrency: number;
  readonly deadlineMs: number;
}

export interface XdsCaller {
  /** Runs the calls, at most `concurrency` in flight; every outcome, in order. */
  run(batch: CallBatch): Promise<CallResult[]>;
}

export function startXdsCaller(bootstrapFile: string): XdsCaller {
  const worker = new Worker(new URL('./xds-caller-worker.mjs', import.meta.url), { env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrapFile } });
  cleanups.push(() => worker.terminate());
  const pending = new Map<number, { resolve: (r: CallResult[]) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let dead: Error | undefined;
  worker.on('message', ({ id, results }: { id: number; results: CallResult[] }) => {
    pending.get(id)?.resolve(results);
    pending.delete(id);
  });
  const fail = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the caller worker exited with ${code}`)));
  return {
    run(batch) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        if (dead) return reject(dead);
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, batch });
      });
    },
  };
}
