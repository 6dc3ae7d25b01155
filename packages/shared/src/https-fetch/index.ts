import { Agent, request } from 'node:https';

// A subpath of its own (@meshfed/shared/https-fetch), loaded only for https:// with a CA or
// --skip-verify: node:https (and TLS) would cost every other start of the CLI time.

export interface HttpsFetchOptions {
  /** PEM CA(s) to verify the server with instead of the system's. */
  readonly caPem?: string;
  /** No verification at all (labs only). */
  readonly skipVerify?: boolean;
}

/**
 * A fetch over node:https that verifies with `caPem` (or not at all), which the global fetch cannot be
 * told per call. Only what the CLI and meshfed-dp use: a string body, the whole answer read at once. A
 * network failure rejects as fetch does: `fetch failed` with the socket's error as `cause`.
 */
export function httpsFetch(o: HttpsFetchOptions): typeof fetch {
  // Keep-alive: a listing's pages share one connection; idle sockets do not hold the process open.
  const agent = new Agent({ keepAlive: true, rejectUnauthorized: !o.skipVerify, ...(o.caPem !== undefined ? { ca: o.caPem } : {}) });
  const f = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : input);
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const req = request(url, { method: init.method ?? 'GET', headers, agent, ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const answerHeaders = new Headers();
          for (const [k, v] of Object.entries(res.headers)) for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) answerHeaders.append(k, one);
          const status = res.statusCode ?? 502;
          const empty = status === 204 || status === 205 || status === 304;
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: answerHeaders }));
        });
      });
      req.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
      req.end(typeof init.body === 'string' ? init.body : undefined);
    });
  return f as typeof fetch;
}
