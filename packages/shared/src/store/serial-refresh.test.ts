// SerialRefresher on its own: coalesced refreshes, serialized with run() tasks, retried after a failure,
// stopped by close(), waited for by idle().
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createLogger } from '../telemetry/logger.js';
import { REFRESH_RETRY_MS, SerialRefresher } from './serial-refresh.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every pending promise callback run (setImmediate is not mocked). */
const settle = () => new Promise<void>((r) => setImmediate(r));

function capturingLog() {
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  const log = createLogger({
    component: 'test', level: 'debug',
    destination: new Writable({
      write: (c, _e, cb) => {
        buffered += String(c);
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>);
          buffered = buffered.slice(nl + 1);
        }
        cb();
      },
    }),
  });
  return { log, lines };
}

/** A refresh that records what it saw and can be held open. */
function gatedRefresh(read: () => number = () => 0) {
  const seen: number[] = [];
  let gate: ReturnType<typeof deferred> | undefined;
  let running = 0;
  return {
    seen,
    running: () => running,
    hold: () => (gate = deferred()),
    release: () => gate?.resolve(),
    refresh: async () => {
      running++;
      try {
        seen.push(read());
        if (gate) await gate.promise;
      } finally {
        running--;
      }
    },
  };
}

const failure = { message: 'could not read the things; keeping the ones in use' };

test('schedules during a running refresh cause exactly one more, which sees every change made before it runs', async () => {
  let stored = 0;
  const r = gatedRefresh(() => stored);
  const s = new SerialRefresher({ refresh: r.refresh, failure });
  const gate = r.hold();
  s.schedule();
  for (let i = 0; i < 5; i++) s.schedule();
  await settle();
  assert.deepEqual(r.seen, [0], 'schedules while one waits to run add nothing');
  for (let i = 1; i <= 10; i++) {
    stored = i;
    s.schedule();
  }
  await settle();
  assert.deepEqual(r.seen, [0], 'the next refresh waits for the running one');
  gate.resolve();
  await s.idle();
  assert.deepEqual(r.seen, [0, 10], 'one more refresh, reading the last change');
  s.schedule();
  await s.idle();
  assert.deepEqual(r.seen, [0, 10, 10], 'and the next schedule refreshes again');
  s.close();
});

test('run() tasks and refreshes never interleave, and a task answers its own outcome', async () => {
  const order: string[] = [];
  const r = gatedRefresh();
  const s = new SerialRefresher({
    refresh: async () => {
      order.push('refresh start');
      await r.refresh();
      order.push('refresh end');
    },
    failure,
  });
  const taskGate = deferred();
  const first = s.run(async () => {
    order.push('task start');
    await taskGate.promise;
    order.push('task end');
    return 'written';
  });
  s.schedule();
  await settle();
  assert.deepEqual(order, ['task start'], 'a refresh waits for the task before it');
  const refreshGate = r.hold();
  taskGate.resolve();
  assert.equal(await first, 'written');
  await settle();
  assert.deepEqual(order, ['task start', 'task end', 'refresh start']);
  const failed = s.run(async () => {
    order.push('failing task');
    throw new Error('conflict');
  });
  const after = s.run(async () => 42);
  await settle();
  assert.equal(order.at(-1), 'refresh start', 'a task waits for the running refresh');
  refreshGate.resolve();
  await assert.rejects(failed, /conflict/);
  assert.equal(await after, 42, 'a failed task does not stop the chain');
  await s.idle();
  assert.deepEqual(order, ['task start', 'task end', 'refresh start', 'refresh end', 'failing task']);
  s.close();
});

/** Mocked setTimeout, recording whether each timer it arms is unref'd, and which are cleared. */
function mockTimers(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const mocked = globalThis.setTimeout;
  const mockedClear = globalThis.clearTimeout;
  const armed: { ms: number | undefined; unrefd: boolean }[] = [];
  const handles: NodeJS.Timeout[] = [];
  const cleared = new Set<number>();
  t.mock.method(globalThis, 'setTimeout', (fn: () => void, ms?: number) => {
    const handle = mocked(fn, ms);
    const entry = { ms, unrefd: false };
    armed.push(entry);
    handles.push(handle);
    const unref = handle.unref.bind(handle);
    handle.unref = () => ((entry.unrefd = true), unref());
    return handle;
  });
  t.mock.method(globalThis, 'clearTimeout', (handle?: NodeJS.Timeout) => {
    const i = handle === undefined ? -1 : handles.indexOf(handle);
    if (i >= 0) cleared.add(i);
    mockedClear(handle);
  });
  return { armed, cleared };
}

test('a throwing refresh is warned of with its fields, retried after the delay on an unref\'d timer, and the chain goes on', async (t) => {
  const { armed } = mockTimers(t);
  const { log, lines } = capturingLog();
  let failing = 2;
  let refreshes = 0;
  const s = new SerialRefresher({
    refresh: async () => {
      refreshes++;
      if (failing-- > 0) throw new Error('store down');
    },
    log,
    failure: { fields: { tokenKind: 'zone' }, message: 'could not read the zone token revocation list; keeping the one in use' },
    retryMs: 250,
  });
  s.schedule();
  await s.idle();
  assert.equal(refreshes, 1);
  const warn = lines.find((l) => l.msg === 'could not read the zone token revocation list; keeping the one in use');
  assert.ok(warn, JSON.stringify(lines));
  assert.equal(warn.level, 'warn');
  assert.equal(warn.tokenKind, 'zone');
  assert.equal(warn.retryInMs, 250);
  assert.match(JSON.stringify(warn.err), /store down/);
  assert.deepEqual(Object.keys(warn).filter((k) => ['err', 'tokenKind', 'retryInMs'].includes(k)), ['err', 'tokenKind', 'retryInMs'], 'fields in their order');
  assert.deepEqual(armed, [{ ms: 250, unrefd: true }], 'one retry, not keeping the process alive');

  assert.equal(await s.run(async () => 'still serving'), 'still serving');
  t.mock.timers.tick(249);
  await s.idle();
  assert.equal(refreshes, 1, 'not before the delay');
  t.mock.timers.tick(1);
  await s.idle();
  assert.equal(refreshes, 2, 'retried after it');
  assert.equal(armed.length, 2, 'failed again, armed again');
  t.mock.timers.tick(250);
  await s.idle();
  assert.equal(refreshes, 3);
  t.mock.timers.tick(10_000);
  await s.idle();
  assert.equal(refreshes, 3, 'no retry once a refresh succeeds');
  assert.equal(armed.length, 2);
  s.close();
});

test('the retry delay is REFRESH_RETRY_MS unless told', async (t) => {
  const { armed } = mockTimers(t);
  const s = new SerialRefresher({ refresh: () => Promise.reject(new Error('down')), failure });
  s.schedule();
  await s.idle();
  assert.deepEqual(armed, [{ ms: REFRESH_RETRY_MS, unrefd: true }]);
  assert.equal(REFRESH_RETRY_MS, 1000);
  s.close();
});

test('close() stops a pending retry, a waiting refresh, later schedules, and the retry of a refresh it interrupted', async (t) => {
  const { armed, cleared } = mockTimers(t);
  let refreshes = 0;
  let gate: ReturnType<typeof deferred> | undefined;
  const s = new SerialRefresher({
    refresh: async () => {
      refreshes++;
      if (gate) await gate.promise;
      throw new Error('down');
    },
    failure,
    retryMs: 100,
  });
  s.schedule();
  await s.idle();
  assert.equal(refreshes, 1);
  assert.equal(armed.length, 1);
  s.close();
  assert.equal(s.closed, true);
  assert.ok(cleared.has(0), 'the pending retry is cleared');
  t.mock.timers.tick(1000);
  s.schedule();
  await s.idle();
  assert.equal(refreshes, 1, 'neither the retry nor a new schedule refreshes');
  assert.equal(await s.run(async () => 'written'), 'written', 'run() tasks still run');

  // A refresh already queued when close() comes does not run.
  const queued = new SerialRefresher({ refresh: async () => void refreshes++, failure });
  const hold = deferred();
  void queued.run(() => hold.promise);
  queued.schedule();
  queued.close();
  hold.resolve();
  await queued.idle();
  assert.equal(refreshes, 1);

  // One that fails after close() arms no retry.
  const interrupted = new SerialRefresher({
    refresh: async () => {
      refreshes++;
      await gate!.promise;
      throw new Error('down');
    },
    failure,
    retryMs: 100,
  });
  gate = deferred();
  interrupted.schedule();
  await settle();
  assert.equal(refreshes, 2);
  interrupted.close();
  gate.resolve();
  await interrupted.idle();
  assert.equal(armed.length, 1, 'no retry armed after close');
  t.mock.timers.tick(1000);
  await interrupted.idle();
  assert.equal(refreshes, 2);
});

test('idle() waits for work put on the chain while it waits', async () => {
  const r = gatedRefresh();
  const s = new SerialRefresher({ refresh: r.refresh, failure });
  const first = r.hold();
  s.schedule();
  let idle = false;
  const waiting = s.idle().then(() => (idle = true));
  await settle();
  assert.equal(r.running(), 1);
  // Queued while idle() waits for the first refresh: idle() waits for it too.
  s.schedule();
  const second = r.hold();
  first.resolve();
  await settle();
  assert.equal(r.seen.length, 2, 'the second refresh is running');
  assert.equal(idle, false, 'idle() has not resolved under it');
  let taskDone = false;
  void s.run(async () => void (taskDone = true));
  second.resolve();
  await waiting;
  assert.equal(taskDone, true, 'nor before a task queued after it');
  assert.equal(r.running(), 0);
  s.close();
});
