import { isIP } from 'node:net';
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServiceDefinition,
  type ServiceError,
  type StatusObject,
  type sendUnaryData,
} from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { z } from 'zod';

/**
 * The demo service, `meshfed.demo.Echo`, spoken in JSON rather than protobuf so that tests, the lab
 * and the benchmark need no .proto file; the mesh routes it by path like any gRPC service.
 */
export const ECHO_SERVICE_NAME = 'meshfed.demo.Echo';
export const ECHO_CALL_PATH = `/${ECHO_SERVICE_NAME}/Call`;

/** The longest `delayMs` a call may ask for: a forgotten delay must not hold a server for ever. */
export const MAX_DELAY_MS = 60_000;

/** How many request ids a server remembers attempts for; the least recently seen is forgotten first. */
export const ATTEMPT_IDS_LIMIT = 10_000;

/**
 * Strict, so that a misspelt knob (`failtimes`) is refused rather than silently ignored by a test that
 * then passes for the wrong reason.
 */
export const EchoRequest = z
  .object({
    /** Names a logical call across its attempts; `failTimes` counts calls carrying the same id. */
    id: z.string().min(1).max(256).optional(),
    /** The first `failTimes` calls carrying `id` fail (needs `id`). */
    failTimes: z.number().int().min(0).max(1000).optional(),
    /** The gRPC status code those calls fail with; default UNAVAILABLE. */
    failCode: z.number().int().min(1).max(16).optional(),
    /** Wait this long before answering (or failing); cut short when the call is cancelled. */
    delayMs: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
  })
  .strict()
  .refine((r) => !r.failTimes || r.id !== undefined, { path: ['failTimes'], message: 'needs an id to count calls by' });
export type EchoRequest = z.infer<typeof EchoRequest>;

export const EchoResponse = z.object({
  service: z.string(),
  instance: z.string(),
  version: z.string(),
  zone: z.string(),
  /** Which attempt of the call carrying this id this was, from 1 (always 1 without an id or a retry). */
  attempt: z.number().int().min(1),
});
export type EchoResponse = z.infer<typeof EchoResponse>;

const toJson = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

/**
 * The server hands the handler whatever JSON arrived and validates it there, so a bad request becomes
 * INVALID_ARGUMENT with the field named rather than grpc-js's generic deserialization failure.
 */
const CALL: MethodDefinition<EchoRequest, EchoResponse> = {
  path: ECHO_CALL_PATH,
  requestStream: false,
  responseStream: false,
  originalName: 'call',
  requestSerialize: toJson,
  requestDeserialize: (bytes) => JSON.parse(bytes.toString('utf8')) as EchoRequest,
  responseSerialize: toJson,
  responseDeserialize: (bytes) => EchoResponse.parse(JSON.parse(bytes.toString('utf8'))),
};

export const ECHO_SERVICE = { Call: CALL } satisfies ServiceDefinition;

/** Set by grpc-js on every retried attempt (gRFC A6): how many attempts of this call came before. */
const PREVIOUS_ATTEMPTS_HEADER = 'grpc-previous-rpc-attempts';

/** Calls seen per request id, bounded: a Map keeps insertion order, so re-inserting makes it an LRU. */
class AttemptCounter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly limit: number) {}

  next(id: string): number {
    const n = (this.counts.get(id) ?? 0) + 1;
    this.counts.delete(id);
    this.counts.set(id, n);
    if (this.counts.size > this.limit) {
      const oldest = this.counts.keys().next();
      if (!oldest.done) this.counts.delete(oldest.value);
    }
    return n;
  }
}

export interface EchoIdentity {
  readonly instance: string;
  readonly service: string;
  readonly version: string;
  readonly zone: string;
}

export interface EchoServerOptions extends EchoIdentity {
  readonly host: string;
  /** With xds the port must be the one the Listener resource names (not 0); without, 0 picks a free one. */
  readonly port: number;
  /** Every call fails with UNAVAILABLE: a broken instance, for outlier detection to eject. */
  readonly failAll?: boolean;
  /** Serve as a proxyless mesh member (XdsServer, configured by the control plane) or as a plain server. */
  readonly xds: boolean;
  /** Each change of the xDS serving state (e.g. NOT_SERVING while the Listener is missing); xds only. */
  readonly onServingStatus?: (s: { code: string; details: string }) => void;
  /** Gives up waiting to serve (an xDS server waits for its Listener for as long as it takes). */
  readonly signal?: AbortSignal;
}

export interface EchoServer {
  readonly port: number;
  /** Lets calls in flight finish for up to `graceMs`, then cancels them. */
  stop(graceMs?: number): Promise<void>;
}

function attemptOf(call: ServerUnaryCall<unknown, unknown>, id: string | undefined, counter: AttemptCounter): number {
  const counted = id === undefined ? 1 : counter.next(id);
  // A retry that the channel sent to another instance is counted there from 1; the header says better.
  const previous = Number(call.metadata.get(PREVIOUS_ATTEMPTS_HEADER)[0] ?? 0);
  return Number.isInteger(previous) && previous >= 0 ? Math.max(counted, previous + 1) : counted;
}

function echoHandler(opts: EchoServerOptions) {
  const counter = new AttemptCounter(ATTEMPT_IDS_LIMIT);
  const identity: Omit<EchoResponse, 'attempt'> = { service: opts.service, instance: opts.instance, version: opts.version, zone: opts.zone };
  return (call: ServerUnaryCall<unknown, EchoResponse>, callback: sendUnaryData<EchoResponse>): void => {
    const parsed = EchoRequest.safeParse(call.request);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.length > 0 ? issue.path.join('.') : 'request';
      callback({ code: status.INVALID_ARGUMENT, details: `invalid ${field}: ${issue.message}` });
      return;
    }
    const req = parsed.data;
    const attempt = attemptOf(call, req.id, counter);
    const answer = () => {
      if (opts.failAll) {
        callback({ code: status.UNAVAILABLE, details: `instance ${opts.instance} fails every call (--fail-all)` });
      } else if (req.failTimes && attempt <= req.failTimes) {
        callback({ code: req.failCode ?? status.UNAVAILABLE, details: `attempt ${attempt} of call ${req.id} on ${opts.instance} fails as asked (failTimes ${req.failTimes})` });
      } else {
        callback(null, { ...identity, attempt });
      }
    };
    if (!req.delayMs) return answer();
    const timer = setTimeout(() => {
      call.off('cancelled', onCancelled);
      answer();
    }, req.delayMs);
    // Cancelled (or past its deadline): nobody is waiting for the answer, so stop holding the timer.
    const onCancelled = () => clearTimeout(timer);
    call.once('cancelled', onCancelled);
  };
}

let xdsRegistered = false;

/** grpc-js-xds's resolver and LB policies exist only once registered; both server and client need them. */
export function registerXds(): void {
  if (xdsRegistered) return;
  xds.register();
  xdsRegistered = true;
}

const hostPort = (host: string, port: number) => (isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);

export async function startEchoServer(opts: EchoServerOptions): Promise<EchoServer> {
  let server: Server;
  let creds: ServerCredentials;
  if (opts.xds) {
    registerXds();
    // The Listener resource is named after the exact address bound, so the port cannot be chosen later.
    if (opts.port === 0) throw new Error('port must be non-zero for an xDS server: its Listener resource is named by host:port');
    server = new xds.XdsServer();
    creds = new xds.XdsServerCredentials(ServerCredentials.createInsecure());
  } else {
    server = new Server();
    creds = ServerCredentials.createInsecure();
  }
  server.addService(ECHO_SERVICE, { Call: echoHandler(opts) });
  const address = hostPort(opts.host, opts.port);
  const onStatus = (s: StatusObject) => opts.onServingStatus?.({ code: status[s.code] ?? String(s.code), details: s.details });

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new Error('stopped before serving'));
      const onAbort = () => reject(new Error('stopped before serving'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      // An XdsServer calls back only once its Listener has arrived and the port listens; a plain one at once.
      server.bindAsync(address, creds, (err, bound) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(bound);
      });
      // Only a bound address has a serving state to listen to.
      if (server instanceof xds.XdsServer) server.addServingStateListener(address, onStatus);
    });
  } catch (err) {
    server.forceShutdown();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  return {
    port,
    stop(graceMs = 2_000) {
      stopped ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return stopped;
    },
  };
}

/**
 * A client of the Echo service. With xds the target is `xds:///<service>` and the channel is configured
 * by the control plane named in the bootstrap (GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG); it uses
 * mesh mTLS when the cluster says so, plaintext otherwise. Close it with `client.close()`.
 */
export function echoClient(target: string, { xds: useXds }: { xds: boolean }): Client {
  if (useXds) {
    registerXds();
    return new Client(target, new xds.XdsChannelCredentials(credentials.createInsecure()));
  }
  return new Client(target, credentials.createInsecure());
}

export type CallResult =
  | { readonly ok: true; readonly res: EchoResponse }
  | { readonly ok: false; readonly code: status; readonly details: string };

export interface CallOptions {
  readonly deadlineMs: number;
  /** Request headers (a plain record is added key by key). */
  readonly metadata?: Metadata | Readonly<Record<string, string>>;
}

/** One Echo call; a failure is a value, never a rejection, so loads and tests can count outcomes. */
export function call(client: Client, req: EchoRequest, { deadlineMs, metadata }: CallOptions): Promise<CallResult> {
  let md: Metadata;
  if (metadata instanceof Metadata) md = metadata;
  else {
    md = new Metadata();
    for (const [k, v] of Object.entries(metadata ?? {})) md.add(k, v);
  }
  return new Promise((resolve) => {
    client.makeUnaryRequest(CALL.path, CALL.requestSerialize, CALL.responseDeserialize, req, md, { deadline: Date.now() + deadlineMs }, (err: ServiceError | null, res?: EchoResponse) => {
      if (err) resolve({ ok: false, code: err.code, details: err.details });
      else if (res === undefined) resolve({ ok: false, code: status.INTERNAL, details: 'the call ended without a response' });
      else resolve({ ok: true, res });
    });
  });
}
