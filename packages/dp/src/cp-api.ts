import { type Logger, oneLine, XDS_CA_PATH, XDS_SERVER_INFO_PATH, type XdsServerInfo } from '@meshfed/shared';
import { httpsFetch } from '@meshfed/shared/https-fetch';
import { z } from 'zod';
import { Backoff, sleep } from './backoff.js';

/** A mistake waiting will not fix (not a zone, a global CP, a refused token): the agent stops. */
export class CpRefusedError extends Error {
  override name = 'CpRefusedError';

  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** The zone is not answering (yet): the agent waits and asks again. */
class CpUnavailableError extends Error {
  override name = 'CpUnavailableError';
}

export interface CpApiOptions {
  /** --cp, without a trailing slash. */
  readonly url: string;
  readonly caPem?: string;
  readonly skipVerify: boolean;
}

const RootAnswer = z.object({ product: z.string(), mode: z.string(), zone: z.string().optional() });
const XdsServerAnswer = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535), tls: z.boolean() });

export interface ZoneInfo {
  readonly mode: 'zone' | 'standalone';
  /** The zone's name: the locality every node of this agent reports. */
  readonly zone: string;
}

/**
 * The zone's REST API as the agent uses it. Each call either answers, throws CpRefusedError (said in
 * one line, the agent stops) or CpUnavailableError (retried by `untilUp`).
 */
export class CpApi {
  readonly #base: string;
  readonly #fetch: typeof fetch;

  constructor(o: CpApiOptions) {
    this.#base = o.url.replace(/\/$/, '');
    this.#fetch = o.url.startsWith('https:') && (o.caPem !== undefined || o.skipVerify) ? httpsFetch(o) : fetch;
  }

  get url(): string {
    return this.#base;
  }

  async zoneInfo(): Promise<ZoneInfo> {
    const body = RootAnswer.safeParse(await this.#json('GET', '/'));
    if (!body.success || body.data.product !== 'meshfed') throw new CpRefusedError(`--cp ${this.#base} is not a meshfed control plane (GET / did not say product "meshfed")`);
    const { mode, zone } = body.data;
    if (mode === 'global') throw new CpRefusedError(`--cp ${this.#base} is a global control plane: point --cp at the API of the zone the workload runs in`);
    if (mode !== 'zone' && mode !== 'standalone') throw new CpRefusedError(`--cp ${this.#base} answers mode "${mode}": expected a zone or standalone control plane`);
    return { mode, zone: zone ?? 'default' };
  }

  async xdsServer(): Promise<XdsServerInfo> {
    const body = XdsServerAnswer.safeParse(await this.#json('GET', XDS_SERVER_INFO_PATH));
    if (!body.success) throw new CpRefusedError(`GET ${this.#base}${XDS_SERVER_INFO_PATH} did not answer {host, port, tls}: ${body.error.issues[0]!.message}`);
    return body.data;
  }

  async xdsCa(): Promise<string> {
    const res = await this.#call('GET', XDS_CA_PATH);
    const pem = await res.text();
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CpRefusedError(`GET ${this.#base}${XDS_CA_PATH} did not answer a PEM certificate`);
    return pem;
  }

  async #json(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.#call(method, path, body);
    try {
      return await res.json();
    } catch {
      throw new CpRefusedError(`${method} ${this.#base}${path} did not answer JSON`);
    }
  }

  async #call(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await this.#fetch(`${this.#base}${path}`, {
        method,
        signal: AbortSignal.timeout(5_000),
        ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      const why = oneLine(cause ?? err);
      // A certificate the agent was not told to trust will not become trusted by waiting.
      if (/certificate|self.signed|SSL|TLS/i.test(why)) throw new CpRefusedError(`${method} ${this.#base}${path}: ${why} (give the zone API's CA with --ca-file, or --skip-verify in labs)`);
      throw new CpUnavailableError(`${method} ${this.#base}${path}: ${why}`);
    }
    if (res.ok) return res;
    const text = (await res.text().catch(() => '')).trim();
    let detail = text.split('\n')[0]!.slice(0, 300);
    try {
      const problem = JSON.parse(text) as { details?: string; detail?: string; title?: string };
      detail = problem.details ?? problem.detail ?? problem.title ?? detail;
    } catch {
      /* not JSON: the first line of the text */
    }
    const what = `${method} ${this.#base}${path}: ${res.status}${detail ? ` ${detail}` : ''}`;
    if (res.status >= 500 || res.status === 429) throw new CpUnavailableError(what);
    throw new CpRefusedError(what, res.status);
  }
}

/**
 * Calls `fn` until it answers, waiting with backoff while the zone is unavailable; CpRefusedError goes
 * straight through. A failure is logged when it differs from the previous one, not on every attempt.
 * Resolves undefined when `signal` aborts first.
 */
export async function untilUp<T>(what: string, fn: () => Promise<T>, log: Logger, signal: AbortSignal): Promise<T | undefined> {
  const backoff = new Backoff();
  let last = '';
  while (!signal.aborted) {
    try {
      const value = await fn();
      if (last !== '') log.info(`${what}: the zone answers now`);
      return value;
    } catch (err) {
      if (!(err instanceof CpUnavailableError)) throw err;
      if (err.message !== last) log.warn({ err: err.message }, `${what}: the zone is not reachable yet, retrying`);
      last = err.message;
      await sleep(backoff.next(), signal);
    }
  }
  return undefined;
}
