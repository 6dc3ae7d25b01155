import { Writable } from 'node:stream';

/**
 * A logger destination counting the warn/error/fatal lines of a component's JSON log, keeping the
 * first few (`keep`), and passing every line on to `echo` when given.
 */
export class LogWarnings {
  count = 0;
  readonly examples: string[] = [];
  readonly destination: Writable;

  constructor(keep: number, echo?: (chunk: Buffer) => void) {
    this.destination = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        echo?.(chunk);
        for (const line of chunk.toString('utf8').split('\n')) {
          if (!line) continue;
          try {
            const m = JSON.parse(line) as { level?: string; msg?: string; problem?: string };
            if (m.level !== 'warn' && m.level !== 'error' && m.level !== 'fatal') continue;
            this.count++;
            if (this.examples.length < keep) this.examples.push(`${m.msg ?? ''}${m.problem ? `: ${m.problem}` : ''}`.slice(0, 300));
          } catch {
            // not a log line
          }
        }
        done();
      },
    });
  }
}
