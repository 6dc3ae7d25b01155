import { readFile } from 'node:fs/promises';

/** Everything a command touches outside itself, so tests can run commands without a terminal. */
export interface Io {
  /** Writes to standard output, as is. */
  out(text: string): void;
  /** Writes to standard error, as is. */
  err(text: string): void;
  readStdin(): Promise<string>;
  readFile(path: string): Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch. */
  now(): number;
  readonly fetch: typeof fetch;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export function processIo(): Io {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    readStdin: () => readAll(process.stdin),
    readFile: (path) => readFile(path, 'utf8'),
    env: process.env,
    now: () => Date.now(),
    fetch: globalThis.fetch,
  };
}
