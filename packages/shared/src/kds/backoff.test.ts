import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from './backoff.js';

test('backoff grows exponentially within [base/2, cap], with jitter, and resets', () => {
  const lows = new Backoff(1000, 30_000, () => 0);
  const highs = new Backoff(1000, 30_000, () => 1);
  assert.deepEqual(Array.from({ length: 7 }, () => highs.next()), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  assert.deepEqual(Array.from({ length: 3 }, () => lows.next()), [500, 500, 500], 'full jitter down to half the base');
  highs.reset();
  assert.equal(highs.next(), 1000);
  const real = new Backoff(1000, 30_000);
  for (let i = 0; i < 50; i++) {
    const w = real.next();
    assert.ok(w >= 500 && w <= 30_000, String(w));
  }
});
