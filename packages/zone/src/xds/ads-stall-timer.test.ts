import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StallTimer } from './ads-stall-timer.js';

test('StallTimer: one timer per stream, re-armed for the next unanswered response, fires once past the timeout', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  let oldest: { type: string; sentAt: number } | undefined;
  const stalls: string[] = [];
  let scheduled = 0;
  const realSetTimeout = globalThis.setTimeout;
  t.mock.method(globalThis, 'setTimeout', (fn: () => void, ms: number) => {
    scheduled++;
    return realSetTimeout(fn, ms);
  });
  const timer = new StallTimer({ timeoutMs: 100, now: () => now, oldest: () => oldest, onStall: (type, ms) => stalls.push(`${type} ${ms}`) });

  // Nothing sent, nothing armed.
  timer.sent();
  assert.equal(scheduled, 0);

  oldest = { type: 'cluster', sentAt: 0 };
  for (let i = 0; i < 50; i++) timer.sent();
  assert.equal(scheduled, 1, 'many responses, one timer');

  // Answered, and a later response is outstanding: the check re-arms for it instead of stalling.
  now = 100;
  oldest = { type: 'listener', sentAt: 60 };
  t.mock.timers.tick(100);
  assert.deepEqual(stalls, []);
  assert.equal(scheduled, 2);

  now = 160;
  t.mock.timers.tick(60);
  assert.deepEqual(stalls, ['listener 100']);
  timer.sent();
  t.mock.timers.tick(1000);
  assert.deepEqual(stalls, ['listener 100'], 'fires once; stopped after');
  assert.equal(scheduled, 2);
});

test('StallTimer: everything answered by the deadline leaves no timer; stop clears a pending one', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  let oldest: { type: string; sentAt: number } | undefined = { type: 'cluster', sentAt: 0 };
  const stalls: string[] = [];
  const timer = new StallTimer({ timeoutMs: 100, now: () => now, oldest: () => oldest, onStall: (type) => stalls.push(type) });
  timer.sent();
  oldest = undefined;
  now = 100;
  t.mock.timers.tick(100);
  assert.deepEqual(stalls, []);

  oldest = { type: 'route', sentAt: 100 };
  timer.sent();
  timer.stop();
  now = 1000;
  t.mock.timers.tick(1000);
  assert.deepEqual(stalls, []);
});
