import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LIVE_REDRAW_MS, LIVE_REPRINT_MS, showLive, terminalRows } from './lab-live.js';

describe('terminalRows', () => {
  it('counts a row per line, and the rows a long line wraps onto', () => {
    assert.equal(terminalRows('\na\nbb', 80), 3);
    assert.equal(terminalRows('x'.repeat(81), 80), 2);
    assert.equal(terminalRows('x'.repeat(81), undefined), 1);
  });
});

describe('showLive', () => {
  it('redraws a terminal in place: up over the last block\'s rows, clear, draw', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const written: string[] = [];
    let n = 0;
    const stop = showLive(() => `\nblock ${++n}\n${'x'.repeat(15)}`, { out: (s) => written.push(s), tty: true, columns: () => 10 });
    t.mock.timers.tick(LIVE_REDRAW_MS);
    stop();
    t.mock.timers.tick(LIVE_REDRAW_MS * 5);
    // 4 rows: the empty line, "block 1", and 15 characters wrapped over 10 columns.
    assert.deepEqual(written, [`\nblock 1\n${'x'.repeat(15)}`, `\x1b[4F\x1b[J\nblock 2\n${'x'.repeat(15)}`]);
  });

  it('prints block after block where output cannot be rewritten, less often', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const written: string[] = [];
    let n = 0;
    const stop = showLive(() => `\nblock ${++n}`, { out: (s) => written.push(s), tty: false });
    t.mock.timers.tick(LIVE_REPRINT_MS - 1);
    assert.deepEqual(written, ['\nblock 1']);
    t.mock.timers.tick(1);
    stop();
    assert.deepEqual(written, ['\nblock 1', '\nblock 2']);
  });
});
